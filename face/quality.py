"""Figures of a face edit's quality, on arrays: how far the landmarks re-detected on the output lie from
the ones the warp was asked to reach (percent of the inter-ocular distance, all points and the lips
apart), and the largest change outside the face region. ``facewarp run --report`` shows them per frame
(the FaceCheck node); the tests hold the presets to them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facewarp.core.color import linear_to_lab
from facewarp.core.types import Image, Landmarks
from facewarp.face.landmarks import to_ibug68
from facewarp.face.mouth import box_around, contours, lip_indices, lips_ring, polygon_coverage
from facewarp.face.tracking import TRACKER_DEFAULTS, inter_ocular, track_image


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


def transfer_error(image: Image, requested: Landmarks, settings: dict | None = None) -> TransferError | None:
    """Re-detect the face on ``image`` and compare it with ``requested`` (mediapipe478 or ibug68,
    in ``image``'s pixels); None when no face is found on the output."""
    found = track_image(image, dict(TRACKER_DEFAULTS, **(settings or {})))
    if found.points is None:
        return None
    pts = np.asarray(found.points, np.float64)
    req = requested.in_pixels(*image.size)
    scheme = "ibug68" if len(req) == 68 else "mediapipe478"
    if scheme == "ibug68":
        pts = to_ibug68(pts)
    elif len(req) != len(pts):
        raise ValueError(f"requested landmarks have {len(req)} points; the tracker gives {len(pts)} or 68")
    err = landmark_error(pts, req, scheme)
    err.found = pts
    return err


def outside_change(output: np.ndarray, plate: np.ndarray, matte: np.ndarray) -> float:
    """The largest absolute change where the matte is exactly 0 (0.0 when there is no such pixel)."""
    outside = np.asarray(matte) == 0
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
    sub = linear_to_lab(np.asarray(pixels, np.float64)[box[1]:box[3], box[0]:box[2], :3])
    lips = sub[ring].mean(axis=0)
    return float((np.linalg.norm(sub[inside] - lips, axis=1) > delta_e).mean())
