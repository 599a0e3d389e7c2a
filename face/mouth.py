"""A mouth interior where the edit opens the mouth wider than the plate's: no per-shot training.

With a driving performance the driving frame's own inner mouth is carried onto the target: its
inner-lip contour is mapped onto the requested one (piecewise affine over a fan of triangles from
the contour's centroid) and its colour matched to the target in CIE Lab, the training-free approach
that Geng et al. compare against (Averbuch-Elor et al. 2017, "Bringing portraits to life").
Deviation: instead of their ratio image of the mouth region we match colour through the eyes' sclera
(a near-white on the same face and light in both pictures: per-channel gains in linear light that
take the driving sclera to the target's), so that dark and light skin, or lipstick, do not tint
the teeth.

Without one (keyframed jaw_open/smile) the interior is procedural: a dark cavity shaded from the lips,
and upper (and, when wide open, lower) teeth whose colour comes from the same sclera reference;
procedural rather than a shipped exemplar, so there is no licence to carry and it scales to any
resolution. Both get grain matched to the plate's noise and a one-pixel feather at the inner lips.
The fill fades in as the requested opening exceeds the plate's by 2-6 % of the inter-ocular distance,
so it does not flicker at a threshold.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from facewarp.core import buffers
from facewarp.core.color import lab_to_linear, linear_to_lab
from facewarp.face.landmarks import EYE, INNER_LIPS, LIPS_LOWER, LIPS_UPPER, LOWER_LIP_INNER, UPPER_LIP_INNER
from facewarp.face.tracking import inter_ocular

OUTER_LIPS_478 = LIPS_UPPER[:11] + LIPS_LOWER[:9][::-1]  # 61 ... 291, then 375 ... 146: one closed contour
INNER_LIPS_68, OUTER_LIPS_68 = tuple(range(60, 68)), tuple(range(48, 60))
FADE = (0.02, 0.06)  # requested minus plate opening (IOD) where the fill starts and is complete


@dataclass
class MouthFill:
    pixels: np.ndarray  # the image with the interior filled
    alpha: np.ndarray  # H x W coverage of the fill (0 where the image is unchanged)
    source: str  # "driving", "procedural" or "none"


def contours(points: np.ndarray):
    """(inner-lip contour, outer-lip contour, scheme) of 478 or 68 points."""
    pts = np.asarray(points, np.float64)
    if len(pts) == 68:
        return pts[list(INNER_LIPS_68)], pts[list(OUTER_LIPS_68)], "ibug68"
    return pts[list(INNER_LIPS)], pts[list(OUTER_LIPS_478)], "mediapipe478"


def opening(points: np.ndarray) -> float:
    """Inner-lip gap (upper to lower midpoint) in inter-ocular distances."""
    pts = np.asarray(points, np.float64)
    scheme = "ibug68" if len(pts) == 68 else "mediapipe478"
    up, lo = (62, 66) if scheme == "ibug68" else (UPPER_LIP_INNER, LOWER_LIP_INNER)
    return float(np.linalg.norm(pts[up] - pts[lo]) / max(inter_ocular(pts, scheme), 1e-9))


def box_around(poly: np.ndarray, width: int, height: int, pad: int = 3):
    x0, y0 = np.floor(poly.min(axis=0)).astype(int) - pad
    x1, y1 = np.ceil(poly.max(axis=0)).astype(int) + pad
    return max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)


def polygon_coverage(poly: np.ndarray, box, supersample: int = 8) -> np.ndarray:
    """Anti-aliased coverage of ``poly`` (continuous pixel coordinates) over the pixels of ``box``
    (OpenCV fills the outline too: about 1/(2 supersample) px too wide all round)."""
    x0, y0, x1, y1 = box
    ss = supersample
    canvas = np.zeros(((y1 - y0) * ss, (x1 - x0) * ss), np.uint8)
    pts = np.round(((poly - [x0, y0]) * ss - 0.5) * 16).astype(np.int32)
    cv2.fillPoly(canvas, [pts], 255, lineType=cv2.LINE_8, shift=4)
    return canvas.reshape(y1 - y0, ss, x1 - x0, ss).mean(axis=(1, 3)).astype(np.float32) / 255.0


def fan_map(dst: np.ndarray, src: np.ndarray, box) -> tuple[np.ndarray, np.ndarray]:
    """For every pixel centre of ``box``: where the piecewise-affine map that takes contour ``dst``
    onto contour ``src`` (same point order; triangles fanned from each contour's centroid) sends it.
    Pixels outside the fan take the nearest triangle's affine map."""
    x0, y0, x1, y1 = box
    cd, cs = dst.mean(axis=0), src.mean(axis=0)
    n = len(dst)
    ys, xs = np.mgrid[y0:y1, x0:x1] + 0.5
    p = np.stack([xs.ravel(), ys.ravel()], 1)
    best = np.full(len(p), -np.inf)
    out = np.zeros_like(p)
    for k in range(n):
        a, b = dst[k], dst[(k + 1) % n]
        m = np.array([[a[0] - cd[0], b[0] - cd[0]], [a[1] - cd[1], b[1] - cd[1]]])
        if abs(np.linalg.det(m)) < 1e-9:
            continue
        uv = (p - cd) @ np.linalg.inv(m).T
        bary_min = np.minimum(np.minimum(uv[:, 0], uv[:, 1]), 1 - uv[:, 0] - uv[:, 1])
        take = bary_min > best
        sa, sb = src[k], src[(k + 1) % n]
        q = cs + uv[:, :1] * (sa - cs) + uv[:, 1:] * (sb - cs)
        out[take] = q[take]
        best[take] = bary_min[take]
    return out[:, 0].reshape(ys.shape), out[:, 1].reshape(ys.shape)


def sclera_lab(pixels: np.ndarray, points: np.ndarray) -> np.ndarray | None:
    """Median L*a*b* of the brighter half of both eyes' whites (eyelid polygon minus the iris), or
    None when the eyes are too small or closed to tell."""
    if len(points) != 478:
        return None
    h, w = pixels.shape[:2]
    samples = []
    for side in ("r", "l"):
        eye = EYE[side]
        poly = np.concatenate([points[list(eye["upper"])], points[list(eye["lower"])][::-1]])
        box = box_around(poly, w, h, pad=1)
        if box[2] - box[0] < 4 or box[3] - box[1] < 2:
            continue
        cov = polygon_coverage(poly, box) > 0.9
        iris = points[list(eye["iris"])]
        radius = 1.1 * np.linalg.norm(iris[1:] - iris[0], axis=1).mean()
        ys, xs = np.mgrid[box[1]:box[3], box[0]:box[2]] + 0.5
        cov &= np.hypot(xs - iris[0, 0], ys - iris[0, 1]) > radius
        if cov.sum() >= 4:
            samples.append(pixels[box[1]:box[3], box[0]:box[2]][cov])
    if not samples:
        return None
    lab = linear_to_lab(np.concatenate(samples)[:, :3])
    bright = lab[lab[:, 0] >= np.median(lab[:, 0])]
    return np.median(bright, axis=0) if len(bright) >= 4 else None


def lips_ring(inner: np.ndarray, outer: np.ndarray, box) -> np.ndarray:
    """The pixels of ``box`` that lie on the lips: inside the outer contour, outside the inner one."""
    return (polygon_coverage(outer, box) > 0.9) & (polygon_coverage(inner, box) < 0.1)


def ring_lab(pixels: np.ndarray, inner: np.ndarray, outer: np.ndarray) -> np.ndarray:
    """Median L*a*b* of the lips (between the outer and inner lip contours)."""
    h, w = pixels.shape[:2]
    box = box_around(outer, w, h)
    ring = lips_ring(inner, outer, box)
    sub = pixels[box[1]:box[3], box[0]:box[2]]
    vals = sub[ring][:, :3] if ring.sum() >= 4 else sub.reshape(-1, sub.shape[-1])[:, :3]
    return np.median(linear_to_lab(vals), axis=0)


def noise_sigma(pixels: np.ndarray, box) -> float:
    """Robust per-channel noise estimate of ``pixels`` in ``box`` (MAD of a Laplacian), linear units."""
    x0, y0, x1, y1 = box
    sub = np.ascontiguousarray(pixels[y0:y1, x0:x1, :3], np.float32)
    if sub.shape[0] < 5 or sub.shape[1] < 5:
        return 0.0
    lap = cv2.Laplacian(sub, cv2.CV_32F, ksize=3)
    return float(1.4826 * np.median(np.abs(lap - np.median(lap))) / np.sqrt(20.0))


def _driving_interior(driving, driving_pts, inner_t, box, sclera_t, lips_t):
    inner_d, outer_d, _ = contours(driving_pts)
    mx, my = fan_map(inner_t, inner_d, box)
    src = np.ascontiguousarray(driving[..., :3], np.float32)
    fill = cv2.remap(src, (mx - 0.5).astype(np.float32), (my - 0.5).astype(np.float32), cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)
    ref_t, ref_d = sclera_t, sclera_lab(driving, np.asarray(driving_pts, np.float64))
    if ref_t is None or ref_d is None:  # no eyes to read: the lips are the reference
        ref_t, ref_d = lips_t, ring_lab(driving, inner_d, outer_d)
    # von Kries: per-channel gains in linear light, so the darks keep their hue as the light changes
    gain = np.clip(lab_to_linear(ref_t) / np.maximum(lab_to_linear(ref_d), 1e-4), 0.25, 4.0)
    return np.maximum(fill, 0) * gain


def _procedural_interior(inner, box, sclera_t, lips_t):
    """Cavity shaded from the lips, upper teeth under the upper lip, lower teeth when wide open."""
    x0, y0, x1, y1 = box
    n = len(inner)
    half = n // 2  # contour: left corner, upper lip to the right corner, lower lip back
    upper = inner[: half + 1]
    lower = np.concatenate([inner[half:], inner[:1]])[::-1]  # left to right
    ys, xs = np.mgrid[y0:y1, x0:x1] + 0.5
    xu = np.interp(xs, np.sort(upper[:, 0]), upper[np.argsort(upper[:, 0]), 1])
    xl = np.interp(xs, np.sort(lower[:, 0]), lower[np.argsort(lower[:, 0]), 1])
    width = max(inner[:, 0].max() - inner[:, 0].min(), 1.0)
    gap = np.maximum(xl - xu, 1e-3)
    v = np.clip((ys - xu) / gap, 0, 1)  # 0 at the upper inner lip, 1 at the lower
    u = np.clip((xs - inner[:, 0].min()) / width, 0, 1)  # 0 left corner, 1 right corner
    lab = np.empty(xs.shape + (3,))
    depth = np.sin(np.pi * v) * np.sin(np.pi * u)  # darkest in the middle of the opening
    lab[..., 0] = lips_t[0] * (0.30 - 0.22 * depth)
    lab[..., 1] = lips_t[1] * 0.7
    lab[..., 2] = lips_t[2] * 0.5
    side = np.cos(np.pi * (u - 0.5))  # 1 at the centre, 0 at the corners
    wide_open = float(np.max(gap)) > 0.25 * width
    if wide_open:  # the tongue: a lip-coloured mound at the bottom, in shadow
        tongue = np.clip((v - (0.78 - 0.25 * side)) / 0.12, 0, 1) * side
        tongue_lab = np.stack([lips_t[0] * (0.45 + 0.15 * side), np.full_like(u, lips_t[1] * 0.9),
                               np.full_like(u, lips_t[2] * 0.8)], -1)
        lab = lab * (1 - tongue[..., None]) + tongue_lab * tongue[..., None]
    # teeth catch more light than the sclera, which the lids and brows shade
    white = np.array(sclera_t if sclera_t is not None else [max(lips_t[0] * 1.25, 60.0), 1.0, 6.0], np.float64)
    white[0] = min(white[0] * 1.15, 95.0)
    for lower_teeth, height in ((False, 0.15 * width), (True, 0.08 * width)):
        if lower_teeth and not wide_open:
            continue
        t = height * (0.35 + 0.65 * side ** 0.5) / gap  # teeth turn away and shorten towards the corners
        d = (1 - v) if lower_teeth else v  # 0 at the lip the teeth hang from
        edge = np.clip((t - d) * gap / max(0.03 * width, 0.7), 0, 1)
        # shading: occluded under the lip, brightest at mid-height, a faint line between the teeth
        along = np.clip(d / np.maximum(t, 1e-6), 0, 1)
        lit = (0.62 + 0.38 * side ** 0.8) * (0.8 + 0.2 * np.sin(np.pi * np.clip(along * 1.2, 0, 1)))
        seams = 1.0 - 0.06 * np.exp(-((np.abs(((u - 0.5) * 7.0 + 0.5) % 1.0 - 0.5) / 0.06) ** 2)) * side
        teeth = np.stack([white[0] * 0.97 * lit * seams, np.full_like(u, white[1] + 1.0),
                          np.full_like(u, white[2] + 5.0)], -1)
        k = (edge * (0.35 + 0.65 * side ** 0.3))[..., None]
        lab = lab * (1 - k) + teeth * k
    return lab_to_linear(lab)


def fill_mouth(pixels: np.ndarray, requested: np.ndarray, plate_points: np.ndarray,
               driving: np.ndarray | None = None, driving_points: np.ndarray | None = None,
               seed: int = 0) -> MouthFill:
    """Fill the inner mouth of ``pixels`` (the warped picture, H x W x C linear) inside the
    ``requested`` inner-lip contour where it opens wider than ``plate_points``' (the unwarped
    plate's landmarks). ``driving``/``driving_points``: the driving frame and its tracked landmarks
    (478), or None for the procedural interior. Deterministic for a given ``seed``."""
    h, w = pixels.shape[:2]
    req = np.asarray(requested, np.float64)
    extra = opening(req) - opening(plate_points)
    weight = float(np.clip((extra - FADE[0]) / (FADE[1] - FADE[0]), 0.0, 1.0))
    none = MouthFill(pixels, np.zeros((h, w), np.float32), "none")
    inner, outer, _ = contours(req)
    if weight == 0.0 or not np.isfinite(inner).all():
        return none
    box = box_around(inner, w, h)
    if box[2] - box[0] < 3 or box[3] - box[1] < 2:
        return none
    cov = polygon_coverage(inner, box)
    # a one-pixel feather that never leaves the inner lips
    alpha = np.minimum(cv2.GaussianBlur(cv2.erode(cov, np.ones((2, 2), np.uint8)), (0, 0), 0.7), cov) * weight
    sclera_t = sclera_lab(pixels, req) if len(req) == 478 else None
    lips_t = ring_lab(pixels, inner, outer)
    if driving is not None and driving_points is not None and len(driving_points) == len(req):
        fill, source = _driving_interior(driving, driving_points, inner, box, sclera_t, lips_t), "driving"
    else:
        fill, source = _procedural_interior(inner, box, sclera_t, lips_t), "procedural"
    face_box = box_around(outer, w, h, pad=int(0.5 * (box[2] - box[0])))
    sigma = noise_sigma(pixels, face_box)
    if sigma > 0:
        # grain as the plate's: mostly luminance, and (shot noise) growing with the square root of the signal
        level = float(np.median(pixels[face_box[1]:face_box[3], face_box[0]:face_box[2], :3])) + 1e-6
        rng = np.random.default_rng(seed)
        grain = rng.normal(0.0, 1.0, fill.shape[:2])[..., None] + 0.3 * rng.normal(0.0, 1.0, fill.shape)
        fill = fill + sigma / np.sqrt(1.09) * grain * np.sqrt(np.maximum(fill, 0) / level)
    out = buffers.copy(pixels)
    x0, y0, x1, y1 = box
    a = alpha[..., None]
    out[y0:y1, x0:x1, :3] = (out[y0:y1, x0:x1, :3] * (1 - a) + np.maximum(fill, 0) * a).astype(out.dtype)
    full = np.zeros((h, w), np.float32)
    full[y0:y1, x0:x1] = alpha
    return MouthFill(out, full, source)


# -- lip motion the face model cannot express ----------------------------------------------------
# The fitted model closes its lips only so far and under-follows fast lip shapes; what it misses
# is the tracked-minus-fitted residual of the lip points. FLAMEFit stores it per frame, Retarget
# adds its change since the neutral frame, rotated and scaled from the driving face to the target.
# Not in the papers (they retarget through the model only); without it the GRID clip's openings
# reach the target at about half their size.
def lip_indices(scheme: str) -> tuple[int, ...]:
    return tuple(range(48, 68)) if scheme == "ibug68" else tuple(sorted(set(LIPS_UPPER) | set(LIPS_LOWER)))


def lip_residual(tracked: np.ndarray, fitted: np.ndarray, scheme: str) -> list:
    """Tracked minus fitted lip points (pixels), as nested lists (JSON-able, for FlameParams.info)."""
    idx = list(lip_indices(scheme))
    return (np.asarray(tracked, np.float64)[idx] - np.asarray(fitted, np.float64)[idx]).round(4).tolist()


def eye_axis(points: np.ndarray, scheme: str) -> list:
    """The vector from the image-left to the image-right outer eye corner (pixels)."""
    pts = np.asarray(points, np.float64)
    a, b = (36, 45) if scheme == "ibug68" else (EYE["r"]["corners"][0], EYE["l"]["corners"][0])
    return (pts[b] - pts[a]).round(4).tolist()


def carry_lip_residual(points: np.ndarray, scheme: str, residual: list, neutral_residual: list,
                       driving_axis: list, target_axis: np.ndarray, weight: float = 1.0) -> np.ndarray:
    """``points`` (the target's retargeted landmarks) with the driving's lip residual change since
    its neutral frame added, mapped by the similarity that takes the driving eye axis to the target's."""
    delta = np.asarray(residual, np.float64) - np.asarray(neutral_residual, np.float64)
    d, t = np.asarray(driving_axis, np.float64), np.asarray(target_axis, np.float64)
    nd = np.linalg.norm(d)
    if nd < 1e-9 or not np.isfinite(delta).all():
        return points
    k = np.linalg.norm(t) / nd
    ang = np.arctan2(t[1], t[0]) - np.arctan2(d[1], d[0])
    rot = k * np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
    out = np.array(points, np.float64, copy=True)
    out[list(lip_indices(scheme))] += weight * delta @ rot.T
    return out.astype(np.asarray(points).dtype)
