"""Figures of a face edit's quality, on arrays: how far the landmarks re-detected on the output lie from
the ones the warp was asked to reach (percent of the inter-ocular distance, all points and the lips
apart), and the largest change outside the face region. ``facewarp run --report`` shows them per frame
(the FaceCheck node); the tests hold the presets to them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from facewarp.core.color import linear_to_lab
from facewarp.core.types import Image, Landmarks
from facewarp.face.landmarks import to_ibug68
from facewarp.face.mouth import box_around, contours, lip_indices, lips_ring, polygon_coverage
from facewarp.face.tracking import TRACKER_DEFAULTS, inter_ocular, track_image
from facewarp.kernels._dispatch import parallel_tasks


@dataclass
class TransferError:
    all_pct: float  # mean point distance, % of the requested face's inter-ocular distance
    lips_pct: float  # the same over the lip points
    found: np.ndarray | None = None  # the re-detected points (the requested scheme, image pixels)


def landmark_error(found: np.ndarray, requested: np.ndarray, scheme: str = "mediapipe478") -> TransferError:
    """Distances between ``found`` and ``requested`` (same scheme, same pixels), in % IOD of ``requested``."""
    found = np.asarray(found, np.float64)
    requested = np.asarray(requested, np.float64)
    if found.shape != requested.shape:
        raise ValueError(f"found {found.shape} and requested {requested.shape} landmarks differ in shape")
    iod = inter_ocular(requested, scheme)
    d = np.linalg.norm(found - requested, axis=1) / max(iod, 1e-9) * 100.0
    return TransferError(float(d.mean()), float(d[list(lip_indices(scheme))].mean()))


def transfer_error(image: Image, requested: Landmarks, settings: dict | None = None,
                   detect: bool = True) -> TransferError | None:
    """Re-detect the face on ``image`` and compare it with ``requested`` (mediapipe478 or ibug68,
    in ``image``'s pixels); None when no face is found on the output. ``detect`` off: skip the
    full-frame face detector and run the mesh on the crop around ``requested`` (detection only when
    the mesh finds no face there)."""
    req = requested.in_pixels(*image.size)
    found = track_image(image, dict(TRACKER_DEFAULTS, **(settings or {})), around=None if detect else req)
    if found.points is None:
        return None
    pts = np.asarray(found.points, np.float64)
    scheme = "ibug68" if len(req) == 68 else "mediapipe478"
    if scheme == "ibug68":
        pts = to_ibug68(pts)
    elif len(req) != len(pts):
        raise ValueError(f"requested landmarks have {len(req)} points; the tracker gives {len(pts)} or 68")
    err = landmark_error(pts, req, scheme)
    err.found = pts
    return err


@njit(cache=True, nogil=True)
def _outside_max_abs_tasks(t0, t1, out, ref, matte, row_max, row_any, row_nan):  # pragma: no cover - compiled
    h, w, c = out.shape
    for i in range(t0, t1):  # a task is a row
        m = 0.0
        seen = False
        nan = False
        for j in range(w):
            if matte[i, j] == 0:
                seen = True
                for k in range(c):
                    d = abs(np.float64(out[i, j, k]) - np.float64(ref[i, j, k]))
                    if d > m:
                        m = d
                    elif d != d:
                        nan = True
        row_max[i] = m
        row_any[i] = seen
        row_nan[i] = nan


def _outside_max_abs(out, ref, matte):
    """Per row of H x W x C float32 ``out``/``ref``: the largest |out - ref| in float64 where the
    H x W ``matte`` is 0, whether the row has such a pixel and whether a difference there is NaN."""
    h = out.shape[0]
    row_max = np.zeros(h)
    row_any = np.zeros(h, np.bool_)
    row_nan = np.zeros(h, np.bool_)
    parallel_tasks(_outside_max_abs_tasks, h, out, ref, matte, row_max, row_any, row_nan)
    return row_max, row_any, row_nan


def outside_change(output: np.ndarray, plate: np.ndarray, matte: np.ndarray) -> float:
    """The largest absolute change where the matte is exactly 0 (0.0 when there is no such pixel).

    Float32 images and a float32 matte of the same size (what FaceCheck gets) go through one compiled
    pass over the rows: the same float64 differences and maximum as the numpy expression below (NaN
    included), without its 4K float64 temporaries (~0.9 s a frame)."""
    out, ref, alpha = np.asarray(output), np.asarray(plate), np.asarray(matte)
    if out.ndim == 2:
        out, ref = out[..., None], ref[..., None]
    if (out.dtype == ref.dtype == alpha.dtype == np.float32 and out.ndim == 3 and out.shape == ref.shape
            and alpha.shape == out.shape[:2]):
        row_max, row_any, row_nan = _outside_max_abs(out, ref, alpha)
        if not row_any.any():
            return 0.0
        return float("nan") if row_nan[row_any].any() else float(row_max[row_any].max())
    outside = alpha == 0
    if not outside.any():
        return 0.0
    return float(np.abs(np.asarray(output, np.float64) - plate)[outside].max())


def mouth_contrast_share(pixels: np.ndarray, points: np.ndarray, delta_e: float = 20.0) -> float | None:
    """The share of the inner-mouth pixels (inside the inner-lip contour of ``points``) whose colour
    lies farther than ``delta_e`` (CIE76 in L*a*b*) from the lips' mean: near 0 for a mouth filled
    with stretched lip texture, larger with teeth and a dark cavity. None when the mouth is closed."""
    inner, outer, _ = contours(points)
    h, w = pixels.shape[:2]
    box = box_around(outer, w, h)
    inside = polygon_coverage(inner, box) > 0.5
    if inside.sum() < 4:
        return None
    ring = lips_ring(inner, outer, box)
    # Cut the box out before the float64 conversion (converting the whole plate cost ~0.1 s at 4K).
    sub = linear_to_lab(np.asarray(pixels)[box[1]:box[3], box[0]:box[2], :3].astype(np.float64))
    lips = sub[ring].mean(axis=0)
    return float((np.linalg.norm(sub[inside] - lips, axis=1) > delta_e).mean())
