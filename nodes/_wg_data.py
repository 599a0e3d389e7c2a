"""Per-shot training data for WgGAN / HrhGAN (Geng et al. 2018, sec. "Refining warped face").

Pairs are built as the paper does: the first frame of a sequence is the rest expression; for
every N-th frame the rest frame is warped with a landmark-driven triangle warp to that frame's
landmarks; input = warped crop (inner mouth removed) + normalised displacement map, target =
the real frame.

Pluggable pieces (issues 3 and 4 are built in parallel):
  * ``landmark_fn``: any callable RGB uint8 frame -> (N, 2) continuous pixel coordinates or
    None. Default: MediaPipe FaceMesh (478 points, refine_landmarks). Replace with
    LandmarkTracker once merged.
  * ``piecewise_affine``: a small private backward piecewise-affine warp (Delaunay of the rest
    landmarks + crop-border anchors). TriangleWarp from ``facewarp.kernels`` should replace it
    once merged; the paper uses the confidence-aware warp of Averbuch-Elor et al., which is
    TriangleWarp's job, not this module's.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import cv2
import numpy as np
from scipy.spatial import Delaunay

from ._face_crop import alignment_matrix, inner_mouth_mask, transform_points, warp_to_crop

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".exr")
VIDEO_EXTS = (".mpg", ".mpeg", ".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v")

LandmarkFn = Callable[[np.ndarray], "np.ndarray | None"]


# -- reading sequences -------------------------------------------------------------------------
def is_sequence_dir(path: Path) -> bool:
    return path.is_dir() and any(p.suffix.lower() in IMAGE_EXTS for p in path.iterdir())


def list_sequences(source: str | os.PathLike) -> list[Path]:
    """A video file or an image-sequence folder is one sequence; a folder holding videos
    and/or image-sequence folders is a dataset (the paper's layout: one clip per expression,
    each starting at rest)."""
    p = Path(source)
    if p.is_file():
        return [p]
    if not p.is_dir():
        raise FileNotFoundError(f"no such file or folder: {p}")
    if is_sequence_dir(p):
        return [p]
    out = [q for q in sorted(p.iterdir()) if (q.is_file() and q.suffix.lower() in VIDEO_EXTS) or is_sequence_dir(q)]
    if not out:
        raise FileNotFoundError(f"{p} holds no video files or image-sequence folders")
    return out


def read_frames(path: str | os.PathLike, every: int = 1, max_frames: int | None = None) -> list[tuple[int, np.ndarray]]:
    """(index, RGB uint8 frame) for frame 0 and every ``every``-th frame after it."""
    p = Path(path)
    frames: list[tuple[int, np.ndarray]] = []
    if p.is_file():
        cap = cv2.VideoCapture(str(p))
        if not cap.isOpened():
            raise OSError(f"cannot open video {p}")
        i = 0
        try:
            while max_frames is None or len(frames) < max_frames:
                ok, bgr = cap.read()
                if not ok:
                    break
                if i % every == 0:
                    frames.append((i, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)))
                i += 1
        finally:
            cap.release()
    else:
        files = sorted(q for q in p.iterdir() if q.suffix.lower() in IMAGE_EXTS)
        for i, f in enumerate(files):
            if i % every:
                continue
            if max_frames is not None and len(frames) >= max_frames:
                break
            img = cv2.imread(str(f), cv2.IMREAD_UNCHANGED)
            if img is None:
                raise OSError(f"cannot read image {f}")
            if img.dtype == np.uint16:  # 16-bit display-referred (TIFF/PNG)
                img = (img.astype(np.float32) / 65535.0 * 255.0 + 0.5).astype(np.uint8)
            elif img.dtype != np.uint8:  # float plates (EXR) are scene-linear: sRGB-encode like 8-bit frames
                from ._face_crop import linear_to_srgb

                img = (linear_to_srgb(img.astype(np.float32)) * 255.0 + 0.5).astype(np.uint8)
            if img.ndim == 2:
                img = np.repeat(img[..., None], 3, axis=2)
            frames.append((i, cv2.cvtColor(img[..., :3], cv2.COLOR_BGR2RGB)))
    if not frames:
        raise OSError(f"no frames in {p}")
    return frames


class MediaPipeLandmarks:
    """RGB uint8 frame -> (478, 2) continuous pixel coordinates (x*W, y*H), or None."""

    def __init__(self):
        import mediapipe as mp

        self._fm = mp.solutions.face_mesh.FaceMesh(static_image_mode=True, refine_landmarks=True, max_num_faces=1)

    def __call__(self, rgb: np.ndarray):
        res = self._fm.process(np.ascontiguousarray(rgb))
        if not res.multi_face_landmarks:
            return None
        h, w = rgb.shape[:2]
        lm = res.multi_face_landmarks[0].landmark
        return np.array([[p.x * w, p.y * h] for p in lm], np.float32)

    def close(self):
        self._fm.close()


# -- piecewise-affine warp + displacement map (replace with kernels' TriangleWarp) ----------------
def border_anchors(size: int, n: int = 4) -> np.ndarray:
    """Fixed points just outside the crop border so the triangulation covers every pixel."""
    e = np.linspace(-1.0, size + 1.0, n + 1)
    lo, hi = -1.0, size + 1.0
    pts = [(x, lo) for x in e] + [(x, hi) for x in e] + [(lo, y) for y in e[1:-1]] + [(hi, y) for y in e[1:-1]]
    return np.array(pts, np.float64)


@dataclass
class TriangleRaster:
    """For every pixel of the destination: its triangle and barycentric coordinates."""

    label: np.ndarray  # H x W int32 (-1: none)
    bary: np.ndarray  # H x W x 3 float64


def rasterize(dst: np.ndarray, tris: np.ndarray, size: tuple[int, int]) -> TriangleRaster:
    """Assign every pixel CENTRE to the triangle containing it (exact barycentric test over
    each triangle's bounding box; where folded triangles overlap, the later one wins)."""
    w, h = size
    label = np.full((h, w), -1, np.int32)
    bary = np.zeros((h, w, 3), np.float64)
    tri_pts = dst[tris]  # T x 3 x 2
    lo = np.floor(tri_pts.min(1) - 0.5).astype(int)
    hi = np.ceil(tri_pts.max(1) - 0.5).astype(int)
    for k in range(len(tris)):
        x0, y0 = max(lo[k, 0], 0), max(lo[k, 1], 0)
        x1, y1 = min(hi[k, 0], w - 1), min(hi[k, 1], h - 1)
        if x1 < x0 or y1 < y0:
            continue
        a, b, c = tri_pts[k]
        e1, e2 = b - a, c - a
        det = e1[0] * e2[1] - e1[1] * e2[0]
        if abs(det) < 1e-12:
            continue
        px = np.arange(x0, x1 + 1) + 0.5 - a[0]
        py = np.arange(y0, y1 + 1)[:, None] + 0.5 - a[1]
        l1 = (px * e2[1] - py * e2[0]) / det
        l2 = (e1[0] * py - e1[1] * px) / det
        l0 = 1.0 - l1 - l2
        inside = (l0 >= -1e-9) & (l1 >= -1e-9) & (l2 >= -1e-9)
        if not inside.any():
            continue
        sub_lab = label[y0:y1 + 1, x0:x1 + 1]
        sub_bary = bary[y0:y1 + 1, x0:x1 + 1]
        sub_lab[inside] = k
        sub_bary[inside] = np.stack([l0[inside], l1[inside], l2[inside]], -1)
    return TriangleRaster(label, bary)


def interpolate(raster: TriangleRaster, tris: np.ndarray, values: np.ndarray, fill: float = 0.0) -> np.ndarray:
    """Barycentric interpolation of per-vertex ``values`` (V x K) over the raster."""
    lab = np.maximum(raster.label, 0)
    v = values[tris[lab]]  # H x W x 3 x K
    out = np.einsum("hwj,hwjk->hwk", raster.bary, v)
    out[raster.label < 0] = fill
    return out


def piecewise_affine(src_img: np.ndarray, src_pts: np.ndarray, dst_pts: np.ndarray, size: int,
                     extra_values: np.ndarray | None = None):
    """Warp ``src_img`` (size x size crop) so that ``src_pts`` land on ``dst_pts``.

    Returns (warped image, per-pixel interpolation of ``extra_values`` over the destination
    triangulation or None). Triangulation: Delaunay of the source points + border anchors
    (anchors stay fixed, so the crop border is not moved).
    """
    anchors = border_anchors(size)
    src = np.concatenate([np.asarray(src_pts, np.float64), anchors])
    dst = np.concatenate([np.asarray(dst_pts, np.float64), anchors])
    tris = Delaunay(src).simplices.astype(np.int64)
    raster = rasterize(dst, tris, (size, size))
    pos = interpolate(raster, tris, src, fill=np.nan)
    ident = np.isnan(pos[..., 0])
    ys, xs = np.mgrid[0:size, 0:size]
    pos[ident, 0] = xs[ident] + 0.5
    pos[ident, 1] = ys[ident] + 0.5
    map_x = (pos[..., 0] - 0.5).astype(np.float32)
    map_y = (pos[..., 1] - 0.5).astype(np.float32)
    warped = cv2.remap(np.ascontiguousarray(src_img), map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    if warped.ndim == 2 and src_img.ndim == 3:
        warped = warped[..., None]
    extra = None
    if extra_values is not None:
        ev = np.concatenate([np.asarray(extra_values, np.float64), np.zeros((len(anchors), extra_values.shape[1]))])
        extra = interpolate(raster, tris, ev).astype(np.float32)
    return warped, extra


def displacement_sigma(disps: np.ndarray, floor: float = 0.5) -> np.ndarray:
    """Per-landmark std of the displacement over the sequence (T x N x 2 -> N): the paper
    divides each landmark's displacement by it so that all landmarks have unit std (small
    eyebrow motions are not drowned by the mouth). Scalar per landmark (RMS of both axes
    about the mean), floored at ``floor`` pixels so static points do not blow up."""
    d = np.asarray(disps, np.float64)
    var = ((d - d.mean(0, keepdims=True)) ** 2).sum(-1).mean(0) / 2.0
    return np.maximum(np.sqrt(var), floor)


# -- pair building -----------------------------------------------------------------------------
@dataclass
class PairSet:
    """Training pairs as float32 arrays in [0, 1] (display-referred), N x C x S x S."""

    warped: np.ndarray  # N x 3 x S x S, warped rest frame (inner mouth NOT removed yet)
    disp: np.ndarray  # N x 2 x S x S, normalised displacement map
    target: np.ndarray  # N x 3 x S x S, real frame
    mouth: np.ndarray  # N x 1 x S x S, inner-mouth matte of the target frame
    frame_ids: np.ndarray  # N, source frame index

    def subset(self, idx) -> "PairSet":
        return PairSet(self.warped[idx], self.disp[idx], self.target[idx], self.mouth[idx], self.frame_ids[idx])

    @staticmethod
    def concat(sets: Sequence["PairSet"]) -> "PairSet":
        return PairSet(*(np.concatenate([getattr(s, f) for s in sets]) for f in
                         ("warped", "disp", "target", "mouth", "frame_ids")))


def build_pairs(frames: list[tuple[int, np.ndarray]], landmarks: list, size: int,
                mouth_dilate: float = 2.0, scale: float = 1.0) -> PairSet:
    """Pairs from one sequence: frames[0] is the rest expression.

    Each target frame is cropped with its own similarity alignment (the paper rectifies faces
    before the network); the rest frame is cropped with the SAME matrix, then warped in crop
    space from its landmarks to the target's. Displacements are rotated into crop axes and
    normalised by the per-landmark sequence std (a ratio, so the crop scale cancels).
    """
    rest_idx, rest = frames[0]
    rest_pts = landmarks[0]
    if rest_pts is None:
        raise ValueError(f"no face found on the rest frame (frame {rest_idx})")
    valid = [(i, f, p) for (i, f), p in zip(frames, landmarks) if p is not None]
    disps = np.stack([p - rest_pts for _, _, p in valid])
    sigma = displacement_sigma(disps)
    out = {k: [] for k in ("warped", "disp", "target", "mouth", "ids")}
    rest_f = rest.astype(np.float32) / 255.0
    for i, frame, pts in valid:
        m = alignment_matrix(pts, size, scale)
        rot = m[:, :2] / np.sqrt(abs(np.linalg.det(m[:, :2])))
        src = transform_points(rest_pts, m)
        dst = transform_points(pts, m)
        nd = ((pts - rest_pts) @ rot.T) / sigma[:, None]
        rest_c = warp_to_crop(rest_f, m, size)
        warped, dmap = piecewise_affine(rest_c, src, dst, size, extra_values=nd)
        target = warp_to_crop(frame.astype(np.float32) / 255.0, m, size)
        mouth = inner_mouth_mask(dst, (size, size), dilate=mouth_dilate * size / 256.0)
        out["warped"].append(np.clip(warped, 0, 1).transpose(2, 0, 1))
        out["disp"].append(dmap.transpose(2, 0, 1))
        out["target"].append(target.transpose(2, 0, 1))
        out["mouth"].append(mouth[None])
        out["ids"].append(i)
    return PairSet(np.stack(out["warped"]).astype(np.float32), np.stack(out["disp"]).astype(np.float32),
                   np.stack(out["target"]).astype(np.float32), np.stack(out["mouth"]).astype(np.float32),
                   np.array(out["ids"], np.int64))


def pairs_from_source(source, size: int, every: int = 10, max_frames: int | None = None,
                      landmark_fn: LandmarkFn | None = None, scale: float = 1.0) -> PairSet:
    """All pairs from a video / image sequence / folder of sequences."""
    own = landmark_fn is None
    fn = MediaPipeLandmarks() if own else landmark_fn
    sets = []
    try:
        for seq in list_sequences(source):
            frames = read_frames(seq, every=every, max_frames=max_frames)
            lms = [fn(f) for _, f in frames]
            sets.append(build_pairs(frames, lms, size, scale=scale))
    finally:
        if own:
            fn.close()
    return PairSet.concat(sets)


def synthetic_pairs(image: np.ndarray, size: int, count: int, seed: int = 0, grid: int = 9) -> PairSet:
    """Pairs without a video (the astronaut fallback of the tests).

    Targets are the image under SMOOTH random deformations (compressions along x and y) with
    deformation-dependent shading (darker where the skin is compressed: the 'crease' a 2D
    warp cannot make) and a synthetic mouth interior (dark cavity with a teeth band whose
    opening follows the vertical stretch); landmarks are a grid moved by the same
    deformation; inputs are the piecewise-affine warp of the rest image to those landmarks.
    So input != target, and what separates them is a function of the displacement map."""
    rng = np.random.default_rng(seed)
    rest = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    g = (np.arange(grid) + 0.5) / grid * size
    pts = np.stack(np.meshgrid(g, g), -1).reshape(-1, 2)
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64) + 0.5
    fields = []
    for _ in range(count):
        ax, ay, fx, fy, ph1, ph2 = rng.uniform([-1, -1, 0.5, 0.5, 0, 0], [1, 1, 1.5, 1.5, 6.3, 6.3])
        amp = 0.04 * size
        dx = amp * ax * np.sin(2 * np.pi * fx * xs / size + ph1)
        dy = amp * ay * np.sin(2 * np.pi * fy * ys / size + ph2)
        fields.append((dx, dy, ay))
    disps = []
    for dx, dy, _ in fields:  # forward motion of the grid points (approx.: minus the backward field)
        ij = np.clip(pts.astype(int), 0, size - 1)
        disps.append(-np.stack([dx[ij[:, 1], ij[:, 0]], dy[ij[:, 1], ij[:, 0]]], -1))
    sigma = displacement_sigma(np.stack(disps))
    out = {k: [] for k in ("warped", "disp", "target", "mouth")}
    for (dx, dy, ay), d in zip(fields, disps):
        tgt = cv2.remap(rest, (xs + dx - 0.5).astype(np.float32), (ys + dy - 0.5).astype(np.float32),
                        cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        div = np.gradient(dx, axis=1) + np.gradient(dy, axis=0)  # > 0: backward map spreads = compression
        tgt = np.clip(tgt * (1.0 - 1.5 * div)[..., None], 0, 1)
        c = (size / 2.0, size * 0.72)
        half_h = size * (0.045 + 0.025 * ay)
        m = np.zeros((size, size), np.float32)
        cv2.ellipse(m, (int(c[0]), int(c[1])), (int(size * 0.12), max(int(half_h), 1)), 0, 0, 360, 1.0, -1)
        cav = np.empty_like(tgt)
        cav[...] = (0.25, 0.06, 0.06)
        cav[(ys < c[1] - half_h * 0.3)] = (0.85, 0.85, 0.8)  # upper teeth band
        tgt = tgt * (1 - m[..., None]) + cav * m[..., None]
        warped, dmap = piecewise_affine(rest, pts, pts + d, size, extra_values=d / sigma[:, None])
        out["warped"].append(warped.transpose(2, 0, 1))
        out["disp"].append(dmap.transpose(2, 0, 1))
        out["target"].append(tgt.transpose(2, 0, 1))
        out["mouth"].append(m[None])
    return PairSet(*(np.stack(out[k]).astype(np.float32) for k in ("warped", "disp", "target", "mouth")),
                   np.arange(count, dtype=np.int64))
