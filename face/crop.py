"""Face crop / paste-back helpers (plain functions, no graph): similarity alignment from
landmarks, crop, inverse paste with a feathered matte, inner-mouth and face masks.

All matrices are 2 x 3 affine maps in the CONTINUOUS pixel coordinates of
:mod:`facewarp.core.conventions` (pixel centres at +0.5), from plate to crop, as carried by
``Transform2D``. OpenCV is only called through ``affine_to_cv2``.
"""

from __future__ import annotations

import cv2
import numpy as np

from facewarp.core.conventions import affine_to_cv2, invert_affine
from facewarp.face.landmarks import INNER_LIPS, LEFT_EYE_CORNERS, MOUTH_CORNERS, N_MESH_POINTS, RIGHT_EYE_CORNERS
from facewarp.kernels.distance import distance_to_zero


def face_box(points: np.ndarray, scale: float = 1.0, scheme: str = "mediapipe478") -> tuple[np.ndarray, float, np.ndarray]:
    """``(centre, half, x_axis)`` of the crop square on the plate (plate pixels): its centre,
    half its side and the unit vector of the crop's x axis. MediaPipe schemes use the
    FFHQ-style rule (eyes and mouth: upright, centred slightly below the eyes, side =
    max(2 x eye distance, 1.8 x eye-mouth distance) x 2 x scale); other schemes an upright
    square around the points' bounding box."""
    pts = np.asarray(points, np.float64)
    if scheme.startswith("mediapipe") and len(pts) >= N_MESH_POINTS:
        eye_r = pts[list(RIGHT_EYE_CORNERS)].mean(0)
        eye_l = pts[list(LEFT_EYE_CORNERS)].mean(0)
        mouth = pts[list(MOUTH_CORNERS)].mean(0)
        eye_avg = 0.5 * (eye_r + eye_l)
        e2e = eye_l - eye_r
        e2m = mouth - eye_avg
        x = e2e - np.array([-e2m[1], e2m[0]])
        x /= max(np.linalg.norm(x), 1e-9)
        half = max(np.linalg.norm(e2e) * 2.0, np.linalg.norm(e2m) * 1.8) * float(scale)
        centre = eye_avg + e2m * 0.1
    else:
        lo, hi = pts.min(0), pts.max(0)
        centre = 0.5 * (lo + hi)
        half = 0.5 * max(hi - lo) * 1.25 * float(scale)
        x = np.array([1.0, 0.0])
    return centre, max(float(half), 1e-6), x


def native_crop_size(points: np.ndarray, scale: float = 1.0, scheme: str = "mediapipe478", min_size: int = 0) -> int:
    """The side of a crop at the plate's own resolution: the face box of :func:`face_box` in
    plate pixels, rounded (the crop then has ~1 crop pixel per plate pixel), at least
    ``min_size`` (a smaller face is up-sampled to it) and at least 1."""
    _, half, _ = face_box(points, scale, scheme)
    return max(int(round(2.0 * half)), int(min_size), 1)


def alignment_matrix(points: np.ndarray, size: int = 256, scale: float = 1.0,
                     scheme: str = "mediapipe478") -> np.ndarray:
    """Similarity (rotation + uniform scale + translation) plate -> crop of ``size`` x ``size``
    framing the square of :func:`face_box` (the same framing whatever ``size``)."""
    centre, half, x = face_box(points, scale, scheme)
    y = np.array([-x[1], x[0]])
    k = size / (2.0 * half)
    a = k * np.stack([x, y])  # rows: crop x axis, crop y axis
    t = np.array([size / 2.0, size / 2.0]) - a @ centre
    return np.concatenate([a, t[:, None]], axis=1)


def transform_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    m = np.asarray(matrix, np.float64)
    p = np.asarray(points, np.float64)
    return (p @ m[:, :2].T + m[:, 2]).astype(np.float32)


def warp_to_crop(pixels: np.ndarray, matrix: np.ndarray, size: int | tuple[int, int],
                 border: int = cv2.BORDER_REPLICATE) -> np.ndarray:
    """Resample the plate into the crop (bilinear; outside the plate: nearest edge)."""
    w, h = (size, size) if isinstance(size, int) else size
    src = np.ascontiguousarray(pixels)
    out = cv2.warpAffine(src, affine_to_cv2(matrix), (int(w), int(h)), flags=cv2.INTER_LINEAR, borderMode=border)
    if out.ndim == 2 and src.ndim == 3:
        out = out[..., None]
    return out


def _fill_polygon(poly: np.ndarray, size: tuple[int, int], supersample: int = 4) -> np.ndarray:
    """Anti-aliased coverage (0..1 float32) of a polygon in continuous coordinates."""
    w, h = size
    ss = supersample
    canvas = np.zeros((h * ss, w * ss), np.uint8)
    pts = np.round((np.asarray(poly, np.float64) * ss - 0.5) * 16).astype(np.int32)
    cv2.fillPoly(canvas, [pts], 255, lineType=cv2.LINE_8, shift=4)
    cov = canvas.reshape(h, ss, w, ss).mean(axis=(1, 3)) / 255.0
    return cov.astype(np.float32)


def inner_mouth_mask(points: np.ndarray, size: tuple[int, int], dilate: float = 0.0, feather: float = 0.0) -> np.ndarray:
    """H x W matte of the mouth opening (inside the inner-lip contour of MediaPipe points).

    ``dilate`` grows it by that many pixels (so lip edges are included), ``feather`` blurs it.
    """
    m = _fill_polygon(np.asarray(points)[list(INNER_LIPS)], size)
    return _grow_and_feather(m, dilate, feather)


def face_mask(points: np.ndarray, size: tuple[int, int], erode: float = 0.0, feather: float = 0.0) -> np.ndarray:
    """Matte of the face (convex hull of the landmarks), shrunk by ``erode`` and feathered
    INWARDS by ``feather`` pixels: it is exactly 0 outside the hull."""
    hull = cv2.convexHull(np.asarray(points, np.float32)).reshape(-1, 2)
    m = _fill_polygon(hull, size)
    return _shrink_and_feather(m, erode, feather)


def rect_mask(size: tuple[int, int], erode: float = 0.0, feather: float = 0.0) -> np.ndarray:
    w, h = size
    return _shrink_and_feather(np.ones((h, w), np.float32), erode, feather, pad_zero=True)


def _grow_and_feather(m: np.ndarray, dilate: float, feather: float) -> np.ndarray:
    if dilate > 0:
        r = int(np.ceil(dilate))
        m = cv2.dilate(m, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
    if feather > 0:
        m = cv2.GaussianBlur(m, (0, 0), feather / 2.0)
    return np.clip(m, 0.0, 1.0).astype(np.float32)


def _shrink_and_feather(m: np.ndarray, erode: float, feather: float, pad_zero: bool = False) -> np.ndarray:
    """Soft matte from the distance to the shape's edge: 0 within ``erode + 1`` pixels of the
    edge (the extra pixel absorbs the bilinear resampling of paste-back) and outside, rising
    with a smoothstep over ``feather`` pixels to 1 inside. Exactly 0 outside the shape."""
    inside = (m > 0.5).astype(np.uint8)
    if pad_zero:
        inside[0, :] = inside[-1, :] = 0
        inside[:, 0] = inside[:, -1] = 0
    # distance of each inside pixel to the nearest outside pixel (the picture border counts as outside)
    padded = np.pad(inside, 1)
    dist = distance_to_zero(padded)[1:-1, 1:-1]
    t = (dist - (erode + 1.0)) / max(feather, 1e-6)
    t = np.clip(t, 0.0, 1.0)
    out = (t * t * (3.0 - 2.0 * t)).astype(np.float32)
    out[inside == 0] = 0.0
    return out


def paste(plate: np.ndarray, face: np.ndarray, alpha: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Composite ``face`` (crop space, H x W x C) into ``plate`` through the inverse of
    ``matrix`` (plate -> crop) with the crop-space matte ``alpha``.

    Only plate pixels where the resampled matte is > 0 are written; every other pixel is the
    plate's own value, bit for bit. Work is limited to the crop's bounding box on the plate.
    """
    plate = np.asarray(plate, np.float32)
    ph, pw = plate.shape[:2]
    fh, fw = face.shape[:2]
    out = plate.copy()
    corners = np.array([[0, 0], [fw, 0], [fw, fh], [0, fh]], np.float64)
    pc = transform_points(corners, invert_affine(matrix)).astype(np.float64)
    x0 = max(int(np.floor(pc[:, 0].min())) - 1, 0)
    y0 = max(int(np.floor(pc[:, 1].min())) - 1, 0)
    x1 = min(int(np.ceil(pc[:, 0].max())) + 1, pw)
    y1 = min(int(np.ceil(pc[:, 1].max())) + 1, ph)
    if x1 <= x0 or y1 <= y0:
        return out
    m = affine_to_cv2(matrix)
    m[:, 2] += m[:, :2] @ np.array([x0, y0], np.float64)  # ROI pixel -> crop pixel (cv coords)
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    a = cv2.warpAffine(np.ascontiguousarray(alpha, np.float32), m, (x1 - x0, y1 - y0), flags=flags,
                       borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    f = cv2.warpAffine(np.ascontiguousarray(face, np.float32), m, (x1 - x0, y1 - y0), flags=flags,
                       borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    if f.ndim == 2:
        f = f[..., None]
    a = np.clip(a, 0.0, 1.0)
    sel = a > 0.0
    roi = out[y0:y1, x0:x1]
    nc = min(f.shape[2], roi.shape[2])
    av = a[sel][:, None]
    roi_sel = roi[sel]
    roi_sel[:, :nc] = roi_sel[:, :nc] * (1.0 - av) + f[sel][:, :nc] * av
    roi[sel] = roi_sel
    return out


def rotate_vectors_to_crop(vectors: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Rotate a cropped H x W x 2 vector field (e.g. TriangleWarp's normalised displacement
    map, already resampled by ``warp_to_crop``) from plate axes into the crop's axes with the
    rotation part of the similarity ``m`` (2 x 3, plate -> crop). Unit-free vectors only: the
    crop's scale is left out (the normalised map is a ratio, so it cancels)."""
    rot = (m[:, :2] / np.sqrt(abs(np.linalg.det(m[:, :2])))).astype(np.float32)
    return vectors @ rot.T


def displacement_to_crop(field: np.ndarray, valid: np.ndarray | None, m: np.ndarray,
                         size: int | tuple[int, int]) -> tuple[np.ndarray, np.ndarray | None]:
    """A backward displacement field on the plate (H x W x 2, plate pixels) as the field of the
    crop of ``m`` (2 x 3, plate -> crop): ``D_c(q) = A D(m^-1 q)``, ``A`` the linear part of
    ``m``, so that warping the crop with ``D_c`` is the crop of the plate warped with ``D``
    (exact for the continuous images; both are bilinear resamplings). ``valid`` (H x W, or
    None) goes through the same crop, 0 outside the plate."""
    f = warp_to_crop(np.ascontiguousarray(field, np.float32), m, size)
    a = np.asarray(m, np.float64)[:, :2].astype(np.float32)
    f = np.ascontiguousarray(f @ a.T, np.float32)
    v = None
    if valid is not None:
        v = warp_to_crop(np.ascontiguousarray(valid, np.float32), m, size, border=cv2.BORDER_CONSTANT)
        v = np.ascontiguousarray(v.reshape(f.shape[:2]), np.float32)
    return f, v
