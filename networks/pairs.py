"""Per-shot training data for WgGAN / HrhGAN (Geng et al. 2018, sec. "Refining warped face").

Pairs are built as the paper does: the first frame of a sequence is the rest expression; for
every N-th frame the rest frame is warped with a landmark-driven triangle warp to that frame's
landmarks; input = warped crop (inner mouth removed) + normalised displacement map, target =
the real frame.

The pieces are the project's own, so that training sees what the graph computes at inference:
  * landmarks: the LandmarkTracker path (``face.tracking.track_frame``: face detector + 478-point
    mesh on a full-resolution crop, gaps filled, One-Euro smoothing over the whole shot at the
    shot's frame rate; ``face.tracking.smooth_track``), run on EVERY frame of the shot so
    that the smoothing is the node's even when only every N-th frame becomes a pair;
  * warp + normalised displacement map: ``warping.landmark.landmark_warp`` (what the TriangleWarp
    node calls: Delaunay of the target landmarks + plate-border anchors, backward map,
    per-landmark displacement / its std over the shot from ``warping.landmark.normalising_std``,
    i.e. LandmarkSpread, interpolated through the same triangulation), on the whole plate,
    followed by the FaceCrop resampling (``face.crop.warp_to_crop``).
Defaults (tracker settings, border anchors, the std floor) are the libraries' own constants, the
same ones the nodes' schemas declare, so a changed node default changes training with it.
The paper uses the confidence-aware warp of Averbuch-Elor et al.; TriangleWarp's docstring says
why the project uses the plain piecewise-affine warp.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from facewarp.core.color import linear_to_srgb
from facewarp.face import tracking as fm
from facewarp.face.crop import (
    alignment_matrix,
    inner_mouth_mask,
    rotate_vectors_to_crop,
    transform_points,
    warp_to_crop,
)
from facewarp.face.landmarks import N_MESH_POINTS
from facewarp.warping.landmark import BORDER_POINTS, MIN_STD, landmark_warp, normalising_std

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".exr")
VIDEO_EXTS = (".mpg", ".mpeg", ".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v")

LandmarkFn = Callable[[np.ndarray], "np.ndarray | None"]
DEFAULT_FPS = 24.0  # image sequences carry no frame rate


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


def sequence_fps(path: str | os.PathLike) -> float:
    """Frame rate of a video file (OpenCV's reading of its header), DEFAULT_FPS otherwise."""
    p = Path(path)
    if p.is_file():
        cap = cv2.VideoCapture(str(p))
        try:
            fps = float(cap.get(cv2.CAP_PROP_FPS)) if cap.isOpened() else 0.0
        finally:
            cap.release()
        if np.isfinite(fps) and 1.0 <= fps <= 1000.0:
            return fps
    return DEFAULT_FPS


def _read_image(f: Path) -> np.ndarray:
    img = cv2.imread(str(f), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise OSError(f"cannot read image {f}")
    if img.dtype == np.uint16:  # 16-bit display-referred (TIFF/PNG)
        img = (img.astype(np.float32) / 65535.0 * 255.0 + 0.5).astype(np.uint8)
    elif img.dtype != np.uint8:  # float plates (EXR) are scene-linear: sRGB-encode like 8-bit frames
        img = (linear_to_srgb(img.astype(np.float32)) * 255.0 + 0.5).astype(np.uint8)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    return cv2.cvtColor(img[..., :3], cv2.COLOR_BGR2RGB)


def iter_frames(path: str | os.PathLike, limit: int | None = None):
    """(index, RGB uint8 frame) for every frame of a video / image-sequence folder, in order,
    frames ``0 .. limit - 1`` when ``limit`` is given."""
    p = Path(path)
    if p.is_file():
        cap = cv2.VideoCapture(str(p))
        if not cap.isOpened():
            raise OSError(f"cannot open video {p}")
        i = 0
        try:
            while limit is None or i < limit:
                ok, bgr = cap.read()
                if not ok:
                    break
                yield i, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
                i += 1
        finally:
            cap.release()
    else:
        files = sorted(q for q in p.iterdir() if q.suffix.lower() in IMAGE_EXTS)
        for i, f in enumerate(files[:limit]):
            yield i, _read_image(f)


def _limit(every: int, max_frames: int | None) -> int | None:
    return None if max_frames is None else (max_frames - 1) * every + 1


def track_sequence(frames, fps: float = DEFAULT_FPS, keep: Callable[[int], bool] = lambda i: True,
                   landmark_fn: LandmarkFn | None = None, params: dict | None = None):
    """Track a shot the way the LandmarkTracker node does, frame by frame over ALL of
    ``frames`` (an iterable of (index, RGB uint8)): ``face.tracking.track_frame`` (or
    ``landmark_fn``), gaps filled by the node's ``missing`` policy, then its temporal filter
    at ``fps``. Returns ``(kept frames, their landmarks)``, where a frame is kept when
    ``keep(index)``; the landmarks of frames where no face was detected are None (no pair is
    built from a filled-in guess)."""
    p = dict(fm.TRACKER_DEFAULTS, **(params or {}))
    raw, kept, kept_pos, prev = [], [], [], None
    for i, rgb in frames:
        if landmark_fn is not None:
            pts = landmark_fn(rgb)
        else:
            pts = fm.track_frame(rgb, select=p["select"], index=p["face_index"], previous_center=prev,
                                 detect_size=p["detect_size"], mesh_size=p["mesh_size"], linear=False).points
        if pts is not None:
            pts = np.asarray(pts, np.float64)
            prev = pts[:N_MESH_POINTS].mean(0)
        raw.append(pts)
        if keep(i):
            kept.append((i, rgb))
            kept_pos.append(len(raw) - 1)
    if not raw:
        return [], []
    filled, status = fm.fill_missing(raw, "hold" if p["missing"] == "error" else p["missing"])
    if all(s == "missing" for s in status):
        return kept, [None] * len(kept)
    track = fm.smooth_track(filled, status, p, float(fps))
    return kept, [track[k] if status[k] == "found" else None for k in kept_pos]


# -- pair building -----------------------------------------------------------------------------
@dataclass
class PairSet:
    """Training pairs as float32 arrays in [0, 1] (display-referred), N x C x S x S."""

    warped: np.ndarray  # N x 3 x S x S, warped rest frame (inner mouth NOT removed yet)
    disp: np.ndarray  # N x 2 x S x S, normalised displacement map
    target: np.ndarray  # N x 3 x S x S, real frame
    mouth: np.ndarray  # N x 1 x S x S, inner-mouth matte of the target frame
    frame_ids: np.ndarray  # N, source frame index

    def subset(self, idx) -> PairSet:
        return PairSet(self.warped[idx], self.disp[idx], self.target[idx], self.mouth[idx], self.frame_ids[idx])

    @staticmethod
    def concat(sets: Sequence[PairSet]) -> PairSet:
        return PairSet(*(np.concatenate([getattr(s, f) for s in sets]) for f in
                         ("warped", "disp", "target", "mouth", "frame_ids")))


def build_pairs(frames: list[tuple[int, np.ndarray]], landmarks: list, size: int,
                mouth_dilate: float = 2.0, scale: float = 1.0, device: str = "auto") -> PairSet:
    """Pairs from one sequence: frames[0] is the rest expression; ``landmarks[k]`` are frame
    k's points (plate pixels, continuous coordinates) or None (no pair).

    Exactly the graph's path: TriangleWarp (``landmark_warp``) of the whole rest frame from its
    landmarks to the target's, with LandmarkSpread's per-landmark std over these frames as the
    normaliser, then FaceCrop of the warped frame, of the normalised map and of the target
    frame with the TARGET's alignment (the paper rectifies faces before the network). The
    map's vectors are rotated into crop axes (the crop is upright: a linear map of the
    per-landmark values, so it commutes with the barycentric interpolation; a ratio, so the
    crop scale cancels).
    """
    rest_idx, rest = frames[0]
    rest_pts = landmarks[0]
    if rest_pts is None:
        raise ValueError(f"no face found on the rest frame (frame {rest_idx})")
    rest_pts = np.asarray(rest_pts, np.float64)
    valid = [(i, f, np.asarray(p, np.float64)) for (i, f), p in zip(frames, landmarks) if p is not None]
    std = normalising_std([p - rest_pts for _, _, p in valid], MIN_STD)
    out = {k: [] for k in ("warped", "disp", "target", "mouth", "ids")}
    rest_f = rest.astype(np.float32) / 255.0
    for i, frame, pts in valid:
        res = landmark_warp(rest_f, rest_pts, pts, std, BORDER_POINTS, border="clamp", device=device)
        m = alignment_matrix(pts, size, scale)
        warped = warp_to_crop(res.image, m, size)
        dmap = rotate_vectors_to_crop(warp_to_crop(res.normalized, m, size), m)  # as FaceCrop(vectors=true)
        target = warp_to_crop(frame.astype(np.float32) / 255.0, m, size)
        mouth = inner_mouth_mask(transform_points(pts, m), (size, size), dilate=mouth_dilate * size / 256.0)
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
    """All pairs from a video / image sequence / folder of sequences. Every frame is tracked
    (``track_sequence``: the LandmarkTracker path, smoothing at the sequence's frame rate);
    frame 0 and every ``every``-th frame become pairs (at most ``max_frames`` per sequence).
    ``landmark_fn`` replaces the per-frame detector (tests, other trackers)."""
    sets = []
    for seq in list_sequences(source):
        frames, lms = track_sequence(iter_frames(seq, _limit(every, max_frames)), sequence_fps(seq),
                                     keep=lambda i: i % every == 0, landmark_fn=landmark_fn)
        if not frames:
            raise OSError(f"no frames in {seq}")
        sets.append(build_pairs(frames, lms, size, scale=scale))
    return PairSet.concat(sets)


def synthetic_pairs(image: np.ndarray, size: int, count: int, seed: int = 0, grid: int = 9) -> PairSet:
    """Pairs without a video (the astronaut fallback of the tests).

    Targets are the image under SMOOTH random deformations (compressions along x and y) with
    deformation-dependent shading (darker where the skin is compressed: the 'crease' a 2D
    warp cannot make) and a synthetic mouth interior (dark cavity with a teeth band whose
    opening follows the vertical stretch); landmarks are a grid moved by the same
    deformation; inputs are TriangleWarp (``landmark_warp``) of the rest image to those landmarks.
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
    std = normalising_std(disps, MIN_STD)
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
        res = landmark_warp(rest, pts, pts + d, std, BORDER_POINTS, border="clamp", device="cpu")
        out["warped"].append(np.clip(res.image, 0, 1).transpose(2, 0, 1))
        out["disp"].append(res.normalized.transpose(2, 0, 1))
        out["target"].append(tgt.transpose(2, 0, 1))
        out["mouth"].append(m[None])
    return PairSet(*(np.stack(out[k]).astype(np.float32) for k in ("warped", "disp", "target", "mouth")),
                   np.arange(count, dtype=np.int64))
