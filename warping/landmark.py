"""The landmark-driven piecewise-affine warp (Geng et al. 2018, wg-GAN global stage) and the
per-landmark spread that normalises its displacement map.

Deviation from the paper, on purpose: the paper uses the confidence-aware warp of Averbuch-Elor
et al.; this is the plain piecewise-affine map (exact on the landmarks), confidences are left to
the tracker. Kernels live in ``facewarp.kernels.triwarp``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from facewarp.core.partial_import import import_submodules
from facewarp.kernels.triwarp import flipped_triangles, triangle_warp, triangle_warp_confined
from facewarp.warping.region import FEATHER, GROW, FaceRegion, face_region, whole_frame


def _qhull_delaunay():
    """Qhull's Delaunay without the rest of scipy.spatial (k-d trees, distances, rotations: 0.06 s a
    task); ``scipy.spatial._qhull`` is private, so a scipy without it gets the public import."""
    try:
        return import_submodules(("scipy.spatial",), ("scipy.spatial._qhull",))[0].Delaunay
    except ImportError:
        from scipy.spatial import Delaunay

        return Delaunay


Delaunay = _qhull_delaunay()

BORDER_POINTS = 8  # default anchors per frame side (TriangleWarp's border_points)
MIN_STD = 0.5  # default floor of the per-landmark std, pixels (LandmarkSpread's min_std)


def border_anchors(width: int, height: int, per_side: int) -> np.ndarray:
    """Points on the frame border (continuous coordinates, corners included): with them the
    triangulation covers the whole picture [0, W] x [0, H]."""
    n = max(1, per_side)
    t = np.linspace(0.0, 1.0, n + 1)[:-1]
    top = np.stack([t * width, np.zeros_like(t)], 1)
    right = np.stack([np.full_like(t, width), t * height], 1)
    bottom = np.stack([width - t * width, np.full_like(t, height)], 1)
    left = np.stack([np.zeros_like(t), height - t * height], 1)
    return np.concatenate([top, right, bottom, left]).astype(np.float64)


def triangulate(target: np.ndarray, width: int, height: int, per_side: int = BORDER_POINTS):
    """Delaunay triangulation of target landmarks + border anchors.
    Returns (points, faces, n_landmarks, dropped) - ``dropped`` lists landmarks that coincide
    with another point and are therefore not vertices of the triangulation."""
    anchors = border_anchors(width, height, per_side)
    pts = np.concatenate([np.asarray(target, np.float64), anchors])
    tri = Delaunay(pts)
    dropped = sorted({int(c[0]) for c in tri.coplanar if c[0] < len(target)}) if len(tri.coplanar) else []
    return pts, tri.simplices.astype(np.int64), len(target), dropped


@dataclass
class LandmarkWarpResult:
    image: np.ndarray  # H x W x C warped picture
    field: np.ndarray  # H x W x 2 backward map (pixels)
    normalized: np.ndarray  # H x W x 2 normalised displacement map
    tri_id: np.ndarray | None  # H x W triangle per pixel (only when some triangle folds over)
    flipped: np.ndarray  # per triangle: folds over
    faces: np.ndarray  # F x 3 triangulation (landmarks first, then border anchors)
    dropped: list  # landmarks that are not vertices (coincide with another point)
    region: FaceRegion  # where the warp may change pixels (the whole frame when not confined)


def landmark_warp(pixels: np.ndarray, src: np.ndarray, dst: np.ndarray, std: np.ndarray, per_side: int = BORDER_POINTS,
                  border: str = "clamp", device: str = "auto",
                  on_foldover: Callable[[np.ndarray], None] | None = None,
                  region: tuple[float, float] | None = (GROW, FEATHER)) -> LandmarkWarpResult:
    """The TriangleWarp node as a plain function (training-pair builders call this too):
    Delaunay of the ``dst`` landmarks + frame-border anchors (which stay put), backward map
    dst -> src, and the normalised displacement ``(dst - src) / std`` per landmark (0 on the
    anchors) interpolated through the same triangulation. ``src``/``dst``: N x 2 continuous
    pixel coordinates of ``pixels``; ``std``: N positive values (LandmarkSpread).
    ``on_foldover(flipped)`` is called before the warp when some triangle folds over (it may
    raise, so that a refused frame costs no full-resolution warp). ``region`` = (grow, feather)
    confines the warp to the face region of ``src`` and ``dst`` (``warping.region``: the
    picture is bit-identical outside it); None warps the whole frame, as the paper does."""
    h, w = np.asarray(pixels).shape[:2]
    dst = np.asarray(dst, np.float64)
    pts, faces, n, dropped = triangulate(dst, w, h, per_side)
    src_all = np.concatenate([np.asarray(src, np.float64), pts[n:]])
    disp = np.zeros_like(pts)
    disp[:n] = (dst - src_all[:n]) / np.asarray(std, np.float64)[:, None]
    flipped = flipped_triangles(pts, src_all, faces)
    if on_foldover is not None and flipped.any():
        on_foldover(flipped)
    want_ids = bool(flipped.any())
    if region is None:
        warped, field, norm, tri_id = triangle_warp(pixels, pts, src_all, faces, attrs=disp, border=border,
                                                    device=device, want_ids=want_ids)
        return LandmarkWarpResult(warped, field, norm, tri_id, flipped, faces, dropped, whole_frame(w, h))
    # the region depends on the points only: find it first, then compute the field in its box
    # only (no full-frame warp: the picture is sampled once, inside the box, through the
    # confined field); outside the box the field and the normalised map are 0 and tri_id -1
    moved = float(np.linalg.norm(dst - src_all[:n], axis=1).max(initial=0.0))
    reg = face_region(np.concatenate([src_all[:n], dst]), w, h, grow=region[0], feather=region[1],
                      max_displacement=moved)
    x0, y0, x1, y1 = reg.box
    warped, field, norm, tri_id = triangle_warp_confined(pixels, pts, src_all, faces, reg.box,
                                                         reg.matte[y0:y1, x0:x1], attrs=disp, border=border,
                                                         device=device, want_ids=want_ids)
    return LandmarkWarpResult(warped, field, norm, tri_id, flipped, faces, dropped, reg)


def landmark_spread(displacements: list[np.ndarray]) -> np.ndarray:
    """N per-landmark isotropic standard deviations ``sqrt((var_x + var_y) / 2)`` of a list of
    N x 2 displacement arrays (NaN with fewer than two frames)."""
    if len(displacements) < 2:
        n = displacements[0].shape[0] if displacements else 0
        return np.full(n, np.nan, np.float32)
    d = np.stack(displacements).astype(np.float64)
    return np.sqrt(0.5 * (d[..., 0].var(axis=0) + d[..., 1].var(axis=0))).astype(np.float32)


def normalising_std(displacements: list[np.ndarray], min_std: float = MIN_STD) -> np.ndarray:
    """What LandmarkSpread outputs: ``landmark_spread`` floored at ``min_std`` (also where it
    is undefined), float32. ``displacements``: a non-empty list of N x 2 arrays."""
    std = landmark_spread(displacements)
    return np.where(np.isfinite(std), np.maximum(std, min_std), min_std).astype(np.float32)


