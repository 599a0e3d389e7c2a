"""The face region: where a face edit may change the plate, and nowhere else.

The region is the convex hull of the face points (source and target landmarks, or the projected
source and driving meshes) grown by a margin. A warp's backward displacement is multiplied by the
region's matte, which is 1 on and inside the hull and falls with a smoothstep to exactly 0 at the
margin's outer edge, so the warp is the identity outside the region; the warp nodes then copy the
plate's own pixels wherever the confined displacement is exactly zero (``keep_still_pixels``), so
the plate is bit-identical there whatever the sampler does.

Margin: ``grow`` x the face width (the shorter side of the hull's minimum-area rectangle, so head
roll does not change it), but never less than twice the largest displacement. The smoothstep's
steepest slope is 1.5 / margin, so the fade adds at most 0.75 to the warp's Jacobian and cannot fold
the picture over.

Not in the papers: Geng et al. and Zhong et al. warp the whole frame (border anchors, or a fill
that falls off over the frame); a compositor needs the background and wardrobe untouched.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from numba import njit

from facewarp.kernels._dispatch import cpu_threads, parallel_row_tasks, task_rows
from facewarp.kernels.distance import distance_to_zero
from facewarp.kernels.sampling import warp_bilinear

GROW = 0.3  # default margin, fraction of the face width (the issue caps the default at 0.5)
FEATHER = 1.0  # default fraction of the margin over which the edit fades out (the rest is full strength)


@dataclass
class FaceRegion:
    """The region's matte over the whole frame and the box outside which it is zero."""

    matte: np.ndarray  # H x W float32 in [0, 1]
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 (pixel indices, end exclusive); empty when x0 == x1
    margin: float  # pixels
    face_width: float  # pixels

    def info(self) -> dict:
        """What the warp nodes put in their image metadata."""
        return {"box": list(self.box), "margin_px": round(self.margin, 2), "face_width_px": round(self.face_width, 2)}


def whole_frame(width: int, height: int) -> FaceRegion:
    """The region of an unconfined edit: every pixel."""
    return FaceRegion(np.ones((height, width), np.float32), (0, 0, width, height), float("inf"), 0.0)


def face_width(points: np.ndarray) -> float:
    """The shorter side of the minimum-area rectangle around ``points`` (pixels)."""
    pts = np.asarray(points, np.float32).reshape(-1, 2)
    if len(pts) < 3:
        return 0.0
    (_, _), (a, b), _ = cv2.minAreaRect(pts)
    return float(min(a, b))


def face_region(points: np.ndarray, width: int, height: int, *, grow: float = GROW, feather: float = FEATHER,
                max_displacement: float = 0.0) -> FaceRegion:
    """The region of ``points`` (N x 2 continuous pixel coordinates, every face point the edit
    uses: source and target together) in a ``width`` x ``height`` frame."""
    pts = np.asarray(points, np.float64).reshape(-1, 2)
    pts = pts[np.isfinite(pts).all(axis=1)]
    matte = np.zeros((height, width), np.float32)
    fw = face_width(pts)
    margin = max(grow * fw, 2.0 * float(max_displacement), 1.0)
    if len(pts) < 3:
        return FaceRegion(matte, (0, 0, 0, 0), margin, fw)
    lo = np.floor(pts.min(axis=0) - margin - 1).astype(int)
    hi = np.ceil(pts.max(axis=0) + margin + 1).astype(int)
    x0, y0 = max(int(lo[0]), 0), max(int(lo[1]), 0)
    x1, y1 = min(int(hi[0]), width), min(int(hi[1]), height)
    if x0 >= x1 or y0 >= y1:
        return FaceRegion(matte, (0, 0, 0, 0), margin, fw)
    # distance of each pixel centre to the hull, in the box only (the hull drawn with 1/16 px
    # precision; OpenCV puts pixel centres on integers, our convention at +0.5)
    hull = cv2.convexHull(np.asarray(pts - [x0 + 0.5, y0 + 0.5], np.float32)).reshape(-1, 2)
    outside = np.full((y1 - y0, x1 - x0), 255, np.uint8)
    cv2.fillConvexPoly(outside, np.round(hull * 16).astype(np.int32), 0, lineType=cv2.LINE_8, shift=4)
    dist = distance_to_zero(outside)
    fade = max(feather, 1e-6) * margin
    nz = _smoothstep_into(dist, np.float32(margin), np.float32(fade), matte[y0:y1, x0:x1])
    if nz[0] > nz[1]:
        return FaceRegion(matte, (0, 0, 0, 0), margin, fw)
    return FaceRegion(matte, (x0 + int(nz[2]), y0 + int(nz[0]), x0 + int(nz[3]) + 1, y0 + int(nz[1]) + 1), margin, fw)


def _smoothstep_into(dist, margin, fade, out):
    """``out = t * t * (3 - 2 t)``, ``t = clip((margin - dist) / fade, 0, 1)`` in float32 (the
    operations numpy does for that expression, in one pass, rows on the task pool), and the first
    and last rows and columns where it is > 0: ``(r0, r1, c0, c1)``, r0 > r1 when it is 0 everywhere."""
    h = dist.shape[0]
    first = np.empty(h, np.int64)  # per row: first and last column > 0, or -1
    last = np.empty(h, np.int64)
    with cpu_threads(dist.size):
        parallel_row_tasks(_smoothstep_tasks, h, dist, margin, fade, out, first, last)
    rows = np.flatnonzero(last >= 0)
    if not len(rows):
        return h, -1, dist.shape[1], -1
    return int(rows[0]), int(rows[-1]), int(first[rows].min()), int(last[rows].max())


@njit(cache=True, nogil=True)
def _smoothstep_tasks(t0, t1, dist, margin, fade, out, first, last):
    h, w = dist.shape
    zero, one, two, three = np.float32(0.0), np.float32(1.0), np.float32(2.0), np.float32(3.0)
    for t in range(t0, t1):
        for i in task_rows(t, h):
            c0, c1 = -1, -1
            for j in range(w):
                u = (margin - dist[i, j]) / fade
                u = min(max(u, zero), one)
                v = u * u * (three - two * u)
                out[i, j] = v
                if v > 0:
                    if c0 < 0:
                        c0 = j
                    c1 = j
            first[i] = c0
            last[i] = c1


def confine(field: np.ndarray, region: FaceRegion) -> np.ndarray:
    """``field`` (H x W x 2) times the region's matte: exactly zero outside the region."""
    out = np.zeros_like(field)
    x0, y0, x1, y1 = region.box
    if x1 > x0:
        out[y0:y1, x0:x1] = field[y0:y1, x0:x1] * region.matte[y0:y1, x0:x1, None]
    return out


def _still(field: np.ndarray, ndim: int) -> np.ndarray:
    """Where ``field`` is exactly (0, 0), shaped to broadcast over an image of ``ndim`` dims."""
    still = (field[..., 0] == 0) & (field[..., 1] == 0)
    return still.reshape(still.shape + (1,) * (ndim - 2))


def keep_still_pixels(warped: np.ndarray, image: np.ndarray, field: np.ndarray) -> np.ndarray:
    """``warped`` with the input pixels put back, bit for bit, wherever ``field`` is exactly
    (0, 0): a zero displacement means "this pixel does not move", whatever the sampler's rounding."""
    still = _still(field, np.ndim(warped))
    if not still.any():
        return warped
    out = np.array(warped, copy=True)
    np.copyto(out, image, where=still)
    return out


def warp_in_region(pixels: np.ndarray, field: np.ndarray, region: FaceRegion, border: str = "clamp",
                   device: str = "auto") -> np.ndarray:
    """``pixels`` warped through ``field`` (already confined) inside the region's box only; every
    other pixel, and every pixel whose displacement is exactly zero, is the input's own."""
    out = np.array(pixels, copy=True)  # the one full-frame copy: the plate outside the box
    x0, y0, x1, y1 = region.box
    if x1 > x0:
        # the sampler puts the box's pixel (0, 0) at the frame origin: shift the field by the box corner
        sub = field[y0:y1, x0:x1] + np.array([x0, y0], np.float32)
        warped = warp_bilinear(pixels, sub, border, device=device)
        # the still pixels keep the copy's (the plate's own) values: write only the moving ones
        np.copyto(out[y0:y1, x0:x1], warped.astype(out.dtype, copy=False),
                  where=~_still(field[y0:y1, x0:x1], out.ndim))
    return out
