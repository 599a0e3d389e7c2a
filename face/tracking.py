"""MediaPipe face mesh on plates of any size, in the project's pixel convention.

Pipeline per frame (see docs/faces.md):

1. *Find*: the plate is down-scaled so its longer side is at most ``detect_size`` pixels
   and MediaPipe's full-range face detector (BlazeFace, ``model_selection=1``) returns face
   boxes and scores.
2. *Select*: one face is chosen by index (faces ordered left to right by box centre),
   ``largest`` (box area) or ``closest`` (box centre closest to the previous frame's face;
   the largest when there is no previous frame).
3. *Mesh*: a square crop of ``crop_scale`` x the box is cut from the FULL-RESOLUTION plate,
   resampled to ``mesh_size`` pixels (area filter when shrinking) and MediaPipe's face
   mesh (``refine_landmarks=True``: 468 points + 10 iris points = 478) runs on it. A second
   pass re-centres the crop on the first pass's landmarks (MediaPipe's own tracking ROI
   rule: landmark box x 1.5) so that the mesh sees a well-framed face.

Given ``around`` (landmarks where the face should be: FaceCheck's requested ones), steps 1-2 are
skipped and step 3 starts from the crop around those landmarks; detection runs only when the mesh
finds no face there. Only the down-scaled copy and the crops are converted to 8-bit sRGB (by a
table that gives the same codes as ``linear_to_srgb``), never the whole plate.

MediaPipe returns coordinates normalised by the input width/height with (0, 0) at the top
left corner of the picture: ``x * W`` is therefore a continuous coordinate in the sense of
:mod:`facewarp.core.conventions` (pixel centres at +0.5). A crop resampled by ``cv2.resize``
(which aligns pixel centres) maps continuous coordinates by a pure scale, so plate coordinates
are ``x0 + x_crop * (crop_side / mesh_size)``.

The legacy ``mediapipe.solutions`` API bundles its models in the 0.10.21 wheel and runs
offline; it is imported lazily so that the rest of the project works without mediapipe.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np

from facewarp.core import memory
from facewarp.core.color import linear_to_srgb
from facewarp.core.quiet import quiet_native
from facewarp.core.types import Landmarks
from facewarp.face.landmarks import (
    FACE_LEFT,
    FACE_RIGHT,
    LEFT_EYE_OUTER,
    N_MESH_POINTS,
    RIGHT_EYE_OUTER,
    to_ibug68,
)


def inter_ocular(points: np.ndarray, scheme: str = "mediapipe478") -> float:
    """Outer-eye-corner distance (the 300-W normalisation) in the points' units."""
    p = np.asarray(points, np.float64)
    if scheme == "ibug68":
        return float(np.linalg.norm(p[36] - p[45]))
    return float(np.linalg.norm(p[RIGHT_EYE_OUTER] - p[LEFT_EYE_OUTER]))


def face_width(points: np.ndarray) -> float:
    p = np.asarray(points, np.float64)
    return float(np.linalg.norm(p[FACE_LEFT] - p[FACE_RIGHT]))


@dataclass
class FaceResult:
    points: np.ndarray | None  # 478 x 2 plate pixels (continuous), None when no face
    score: float = 0.0  # detector score of the selected face (0 when none)
    box: tuple[float, float, float, float] | None = None  # x0, y0, x1, y1 plate pixels
    n_faces: int = 0
    z: np.ndarray | None = None  # 478 relative depths in plate pixels (MediaPipe's z * crop width)
    info: dict = field(default_factory=dict)


_lock = threading.Lock()
_solutions: dict = {}


def _close_solutions() -> None:
    with _lock:
        for sol in _solutions.values():
            sol.close()
        _solutions.clear()


memory.register("MediaPipe solutions", _close_solutions)


def _solutions_module():
    from facewarp.face.mediapipe_import import import_solutions  # lazy: optional for the rest of the project

    return import_solutions()


# MediaPipe's C++ side (TFLite, absl, glog) logs straight to fd 2 from its graph threads while a
# solution is built and runs: every call into it goes through quiet_native() (facewarp --verbose
# or FACEWARP_VERBOSE=1 shows those lines).
def _detector():
    if "det" not in _solutions:
        sol = _solutions_module()
        with quiet_native():
            det = sol.face_detection.FaceDetection(model_selection=1, min_detection_confidence=0.4)
            _opened(det)
            _solutions["det"] = det
    return _solutions["det"]


def _mesher():
    if "mesh" not in _solutions:
        sol = _solutions_module()
        with quiet_native():
            mesh = sol.face_mesh.FaceMesh(
                static_image_mode=True, refine_landmarks=True, max_num_faces=1, min_detection_confidence=0.3)
            _opened(mesh)
            _solutions["mesh"] = mesh
    return _solutions["mesh"]


def _opened(solution) -> None:
    """One blank frame through a new solution, inside the caller's quiet_native(). The graph opens
    its calculators on its own threads after the constructor returns, and TFLite prints "Created
    TensorFlow Lite XNNPACK delegate" as it opens: that line escaped the quiet block now and then
    (a test caught it once in three CI runs). A frame's results come back only once every
    calculator is open, so the line is printed before this returns."""
    solution.process(np.zeros((32, 32, 3), np.uint8))


def to_uint8_rgb(pixels: np.ndarray, linear: bool = True) -> np.ndarray:
    """H x W x C float (scene-linear Rec.709 when ``linear``) -> H x W x 3 uint8 sRGB for the networks."""
    px = np.asarray(pixels)
    if px.dtype == np.uint8:
        rgb = px[..., :3]
        if rgb.shape[2] == 1:
            rgb = np.repeat(rgb, 3, axis=2)
        return np.ascontiguousarray(rgb)
    rgb = px[..., :3].astype(np.float32)
    if rgb.shape[2] == 1:
        rgb = np.repeat(rgb, 3, axis=2)
    if linear:
        return np.ascontiguousarray(_srgb_codes(rgb))
    return np.ascontiguousarray((np.clip(rgb, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8))


def _srgb_codes_direct(x: np.ndarray) -> np.ndarray:
    """float32 linear -> uint8 sRGB codes the plain way (the reference ``_srgb_codes`` reproduces)."""
    return (linear_to_srgb(x) * 255.0 + 0.5).astype(np.uint8)


_SRGB_TABLES: tuple[np.ndarray, np.ndarray] | None = None
_ONE_BUCKET = 0x3F80  # float32 bits >> 16 of 1.0: buckets 0.._ONE_BUCKET hold [0, 1]; one more for NaN


def _srgb_tables() -> tuple[np.ndarray, np.ndarray]:
    """Per bucket of float32 values (bits >> 16, 65536 consecutive floats in [0, 1]): the code of
    its first value and the first value with the next code. Within a bucket (a relative width of
    2**-7) the code rises by at most one, so ``code = lo[b] + (x >= thr[b])``; the boundary is
    found by bisection on ``_srgb_codes_direct`` itself (the code is non-decreasing in x: checked
    over every float32 in [0, 1] when this was written), so the result is the same, bit for bit."""
    global _SRGB_TABLES
    if _SRGB_TABLES is None:
        n = _ONE_BUCKET + 1
        start = (np.arange(n, dtype=np.uint32) << 16)
        last = np.minimum(start + 0xFFFF, 0x3F800000).astype(np.uint32)
        lo = _srgb_codes_direct(start.view(np.float32))
        hi = _srgb_codes_direct(last.view(np.float32))
        if np.any(hi.astype(np.int16) - lo > 1) or np.any(hi < lo):
            raise RuntimeError("sRGB code table: a bucket spans more than one code step")
        # bisection for the first value whose code exceeds lo (buckets where it stays: threshold +inf)
        a, b = start.astype(np.int64), last.astype(np.int64)  # code(a) == lo; code(b) > lo where it rises
        rises = hi > lo
        for _ in range(17):
            mid = (a + b) // 2
            up = _srgb_codes_direct(mid.astype(np.uint32).view(np.float32)) > lo
            a, b = np.where(up, a, mid), np.where(up, mid, b)
        thr = np.where(rises, b.astype(np.uint32).view(np.float32), np.float32(np.inf)).astype(np.float32)
        with np.errstate(invalid="ignore"):
            nan_code = _srgb_codes_direct(np.array([np.nan], np.float32))[0]
        lo = np.append(lo, np.uint8(nan_code))
        thr = np.append(thr, np.float32(np.inf))
        _SRGB_TABLES = (lo, thr)
    return _SRGB_TABLES


def _srgb_codes(x: np.ndarray) -> np.ndarray:
    """``_srgb_codes_direct`` by table look-up: the same codes, ~8x faster (no float32 power)."""
    lo, thr = _srgb_tables()
    v = np.clip(x, 0.0, 1.0)
    v += np.float32(0.0)  # -0.0 -> +0.0 (its bits would index past the table)
    bucket = np.minimum(v.view(np.uint32) >> 16, _ONE_BUCKET + 1)  # NaN -> the last entry
    code = lo[bucket]
    code += v >= thr[bucket]
    return code


def detect_faces(rgb: np.ndarray, detect_size: int = 640, convert=None) -> list[tuple[np.ndarray, float]]:
    """Face boxes (x0, y0, x1, y1 in plate pixels) and scores on a down-scaled copy. ``convert``
    turns the (down-scaled) pixels into uint8 sRGB (only the small copy is converted)."""
    import cv2

    h, w = rgb.shape[:2]
    scale = min(1.0, detect_size / max(h, w))
    small = rgb if scale >= 1.0 else cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))),
                                                interpolation=cv2.INTER_AREA)
    if convert is not None:
        small = convert(small)
    with _lock:
        detector = _detector()
        with quiet_native():
            res = detector.process(np.ascontiguousarray(small))
    out = []
    for d in res.detections or []:
        bb = d.location_data.relative_bounding_box
        x0, y0 = bb.xmin * w, bb.ymin * h
        out.append((np.array([x0, y0, x0 + bb.width * w, y0 + bb.height * h], np.float64), float(d.score[0])))
    return out


def _crop_square(rgb: np.ndarray, cx: float, cy: float, side: float, out_size: int, convert=None):
    """Square crop centred on (cx, cy) of ``side`` plate pixels, resampled to out_size.
    Returns the crop and (x0, y0, scale) with plate = (x0, y0) + crop_coord * scale."""
    import cv2

    h, w = rgb.shape[:2]
    side = max(8.0, side)
    x0, y0 = cx - side / 2, cy - side / 2
    ix0, iy0 = int(np.floor(x0)), int(np.floor(y0))
    iside = int(np.ceil(side + (x0 - ix0)))
    iside = max(iside, int(np.ceil(side + (y0 - iy0))))
    if ix0 >= 0 and iy0 >= 0 and ix0 + iside <= w and iy0 + iside <= h:
        canvas = rgb[iy0:iy0 + iside, ix0:ix0 + iside]  # inside the plate: resample a view, no copy
    else:
        canvas = np.zeros((iside, iside, 3), rgb.dtype)
        sx0, sy0 = max(ix0, 0), max(iy0, 0)
        sx1, sy1 = min(ix0 + iside, w), min(iy0 + iside, h)
        if sx1 > sx0 and sy1 > sy0:
            canvas[sy0 - iy0:sy1 - iy0, sx0 - ix0:sx1 - ix0] = rgb[sy0:sy1, sx0:sx1]
    interp = cv2.INTER_AREA if iside > out_size else cv2.INTER_CUBIC
    crop = cv2.resize(canvas, (out_size, out_size), interpolation=interp) if iside != out_size else canvas
    if convert is not None:
        crop = convert(crop)
    return np.ascontiguousarray(crop), (float(ix0), float(iy0), iside / out_size)


def _mesh_on_crop(rgb, cx, cy, side, mesh_size, convert=None):
    crop, (x0, y0, s) = _crop_square(rgb, cx, cy, side, mesh_size, convert)
    with _lock:
        mesher = _mesher()
        with quiet_native():
            res = mesher.process(crop)
    if not res.multi_face_landmarks:
        return None, None
    lm = res.multi_face_landmarks[0].landmark
    arr = np.array([(p.x, p.y, p.z) for p in lm], np.float64)
    pts = np.empty((len(arr), 2))
    pts[:, 0] = x0 + arr[:, 0] * mesh_size * s
    pts[:, 1] = y0 + arr[:, 1] * mesh_size * s
    z = arr[:, 2] * mesh_size * s
    return pts, z


def select_face(boxes: list[tuple[np.ndarray, float]], select: str = "largest", index: int = 0,
                previous_center: np.ndarray | None = None) -> int | None:
    """Index into ``boxes`` of the chosen face (None when there is none).

    ``index``: faces ordered left to right by box centre, ``index`` counts from 0 (clamped
    to none when out of range). ``largest``: biggest box. ``closest``: box centre nearest
    ``previous_center`` (the largest when there is none).
    """
    if not boxes:
        return None
    centers = np.array([[(b[0] + b[2]) / 2, (b[1] + b[3]) / 2] for b, _ in boxes])
    areas = np.array([(b[2] - b[0]) * (b[3] - b[1]) for b, _ in boxes])
    if select == "index":
        order = np.argsort(centers[:, 0], kind="stable")
        return int(order[index]) if 0 <= index < len(order) else None
    if select == "closest" and previous_center is not None:
        return int(np.argmin(np.linalg.norm(centers - previous_center[None], axis=1)))
    return int(np.argmax(areas))


def _roi(points: np.ndarray) -> tuple[float, float, float]:
    """MediaPipe's tracking ROI around landmarks: the centre of their box and 1.5 x its longer side."""
    lo, hi = points.min(0), points.max(0)
    c = (lo + hi) / 2
    return float(c[0]), float(c[1]), 1.5 * float(max(hi - lo))


def _track_around(rgb, around, mesh_size, refine, convert) -> FaceResult | None:
    """The mesh on the crop around ``around`` (then the usual re-centred pass), no detector; None when
    the mesh finds no face there."""
    pts_in = np.asarray(around, np.float64)
    pts_in = pts_in[:N_MESH_POINTS] if len(pts_in) > N_MESH_POINTS else pts_in
    if pts_in.ndim != 2 or len(pts_in) < 3 or not np.isfinite(pts_in).all():
        return None
    pts, z = _mesh_on_crop(rgb, *_roi(pts_in), mesh_size, convert)
    if pts is None:
        return None
    if refine:
        pts2, z2 = _mesh_on_crop(rgb, *_roi(pts[:N_MESH_POINTS]), mesh_size, convert)
        if pts2 is not None:
            pts, z = pts2, z2
    return FaceResult(pts.astype(np.float64), 0.0, None, 1, z, info={"located": "around"})


def track_frame(pixels: np.ndarray, *, select: str = "largest", index: int = 0,
                previous_center: np.ndarray | None = None, detect_size: int = 640, mesh_size: int = 384,
                crop_scale: float = 1.9, refine: bool = True, linear: bool = True,
                around: np.ndarray | None = None) -> FaceResult:
    """Landmarks of one face on one plate (any size). See the module docstring.

    ``around``: landmarks (plate pixels, mediapipe478 or any N x 2) where the face is expected: the
    detector is skipped and the mesh runs on the crop around them (MediaPipe's own tracking ROI),
    falling back to detection when it finds no face there. ``score`` is then 0 and ``box`` None."""
    # Work on the plate's own pixels and convert only what the networks see (the down-scaled copy
    # and the crops) to 8-bit sRGB: converting a whole 4K float plate would cost more than tracking.
    rgb = np.asarray(pixels)
    if rgb.ndim == 2:
        rgb = rgb[..., None]
    rgb = rgb[..., :3] if rgb.shape[2] >= 3 else np.repeat(rgb[..., :1], 3, axis=2)
    if rgb.dtype not in (np.uint8, np.float32):
        rgb = rgb.astype(np.float32)
    convert = (lambda a: to_uint8_rgb(a, linear=linear)) if rgb.dtype != np.uint8 else None  # noqa: E731
    if around is not None:
        found = _track_around(rgb, around, mesh_size, refine, convert)
        if found is not None:
            return found
    boxes = detect_faces(rgb, detect_size, convert)
    k = select_face(boxes, select, index, previous_center)
    if k is None:
        return FaceResult(None, 0.0, None, len(boxes))
    box, score = boxes[k]
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    # BlazeFace boxes cover brows..chin; shift down a little and enlarge to hold the whole mesh.
    side = crop_scale * max(box[2] - box[0], box[3] - box[1])
    pts, z = _mesh_on_crop(rgb, cx, cy, side, mesh_size, convert)
    if pts is None:
        return FaceResult(None, 0.0, tuple(box), len(boxes), info={"reason": "mesh found no face in the crop"})
    if refine:
        pts2, z2 = _mesh_on_crop(rgb, *_roi(pts[:N_MESH_POINTS]), mesh_size, convert)
        if pts2 is not None:
            pts, z = pts2, z2
    return FaceResult(pts.astype(np.float64), score, tuple(float(v) for v in box), len(boxes), z)


# ------------------------------------------------------------------------------------------
# Temporal smoothing
# ------------------------------------------------------------------------------------------

def one_euro(x: np.ndarray, fps: float, min_cutoff: float = 1.0, beta: float = 0.3, d_cutoff: float = 1.0,
             scale: float = 1.0) -> np.ndarray:
    """One-Euro filter (Casiez et al. 2012) along axis 0 of ``x`` (T x ...), causal.

    ``min_cutoff`` (Hz) is the cut-off at rest (lower = smoother, more lag when slow),
    ``beta`` raises the cut-off with speed (higher = less lag on fast motion); speeds are
    measured in ``scale`` units per second (we pass the face width so that ``beta`` does not
    depend on the plate resolution), ``d_cutoff`` (Hz) smooths the speed estimate.
    """
    x = np.asarray(x, np.float64)
    out = np.empty_like(x)
    te = 1.0 / fps

    def alpha(cutoff):
        tau = 1.0 / (2 * np.pi * cutoff)
        return 1.0 / (1.0 + tau / te)

    out[0] = x[0]
    dx_prev = np.zeros_like(x[0])
    a_d = alpha(d_cutoff)
    for t in range(1, len(x)):
        dx = (x[t] - out[t - 1]) / te / scale
        dx_hat = a_d * dx + (1 - a_d) * dx_prev
        cutoff = min_cutoff + beta * np.abs(dx_hat)
        a = alpha(cutoff)
        out[t] = a * x[t] + (1 - a) * out[t - 1]
        dx_prev = dx_hat
    return out


def one_euro_zero_phase(x: np.ndarray, fps: float, **kw) -> np.ndarray:
    """Forward and backward One-Euro passes averaged: no lag, for whole-shot (offline) use."""
    fwd = one_euro(x, fps, **kw)
    bwd = one_euro(np.asarray(x)[::-1], fps, **kw)[::-1]
    return 0.5 * (fwd + bwd)


# -- tracking status ---------------------------------------------------------------------------
# Every frame of a track has a status, in ``info["status"]`` of the Landmarks the tracker gives and
# of everything made from them (FLAMEFit's parameters, mesh and landmarks; ExpressionEdit's;
# Retarget's): FOUND (a face was detected), INTERPOLATED (between the nearest found frames),
# HELD (a found frame repeated: the ends of the shot, or missing=hold) or MISSING (nothing to fill
# from; LandmarkDetect's empty frames). ``Landmarks.found`` only says whether the points are usable:
# interpolated and held points are, so a guessed frame still warps; the warp nodes decide from the
# status what to do with guessed frames. A value made from several tracks takes the worst status.
FOUND, INTERPOLATED, HELD, MISSING = "found", "interpolated", "held", "missing"
STATUSES = (FOUND, INTERPOLATED, HELD, MISSING)  # best to worst
GUESSED = (INTERPOLATED, HELD)  # usable points that no detection backs


def worse_status(*statuses: str | None) -> str:
    """The worst of ``statuses`` in the order of ``STATUSES`` (None, or an unknown name, counts
    as FOUND: a value from a host or an older cache carries no status)."""
    rank = max((STATUSES.index(s) for s in statuses if s in STATUSES), default=0)
    return STATUSES[rank]


def status_of(value) -> str:
    """The tracking status a Landmarks/Mesh/FlameParams carries in ``info["status"]``; without
    one, FOUND when its points are usable (``found``, True for types without it), else MISSING."""
    status = (getattr(value, "info", None) or {}).get("status")
    if status in STATUSES:
        return status
    return FOUND if getattr(value, "found", True) else MISSING


def stamp_status(status: str, *values) -> None:
    """Put ``status`` into each value's ``info`` (values a node has just made, not its inputs)."""
    for value in values:
        value.info["status"] = status


def fill_missing(points: list[np.ndarray | None], policy: str) -> tuple[list[np.ndarray | None], list[str]]:
    """Apply the missing-face policy. Returns filled points and a per-frame status
    (``found``, ``interpolated``, ``held``, ``missing``). ``interpolate`` is linear between
    the nearest found frames and holds at the ends; ``hold`` repeats the last found frame
    (the first found one before it); ``error`` leaves them missing (the caller raises)."""
    n = len(points)
    found = [i for i, p in enumerate(points) if p is not None]
    status = [FOUND if p is not None else MISSING for p in points]
    if not found or policy == "error":
        return list(points), status
    out = list(points)
    for i in range(n):
        if points[i] is not None:
            continue
        prev = max((j for j in found if j < i), default=None)
        nxt = min((j for j in found if j > i), default=None)
        if policy == "interpolate" and prev is not None and nxt is not None:
            t = (i - prev) / (nxt - prev)
            out[i] = (1 - t) * points[prev] + t * points[nxt]
            status[i] = INTERPOLATED
        else:
            src = prev if prev is not None else nxt
            out[i] = points[src].copy()
            status[i] = HELD
    return out, status


# The tracker's settings and their defaults, owned here: the LandmarkTracker node declares its
# parameters from them and the training-pair builder tracks with them.
TRACKER_DEFAULTS = {"select": "largest", "face_index": 0, "scheme": "mediapipe478", "detect_size": 640,
                    "mesh_size": 384, "missing": "interpolate", "smoothing": "one_euro_zero_phase",
                    "min_cutoff": 1.0, "beta": 1.0, "d_cutoff": 1.0}


def smooth_track(filled, status, p, fps: float) -> np.ndarray:
    """T x N x 2 track from the gap-filled per-frame points (``fill_missing``): the
    temporal filter of ``p["smoothing"]`` (One-Euro, speeds in face widths per second).
    ``p``: the tracker settings (``TRACKER_DEFAULTS`` and the LandmarkTracker node's parameters)."""
    track = np.stack(filled)
    if p["smoothing"] != "none" and len(filled) > 1:
        width = float(np.median([face_width(x) for x, s in zip(filled, status) if s == FOUND]))
        fn = one_euro_zero_phase if p["smoothing"] == "one_euro_zero_phase" else one_euro
        track = fn(track, fps, min_cutoff=p["min_cutoff"], beta=p["beta"], d_cutoff=p["d_cutoff"],
                   scale=max(width, 1e-6))
    return track


# -- the tracker's per-image call and its output, as the LandmarkTracker/LandmarkDetect nodes use them
def _is_linear(image) -> bool:
    return str(image.colorspace).lower().startswith("lin")


def track_image(image, p, previous_center=None, around=None) -> FaceResult:
    """``track_frame`` on a core ``Image`` with the tracker settings ``p`` (TRACKER_DEFAULTS' keys)."""
    return track_frame(image.pixels, select=p["select"], index=p["face_index"], previous_center=previous_center,
                       detect_size=p["detect_size"], mesh_size=p["mesh_size"], linear=_is_linear(image),
                       around=around)


def to_landmarks(points, score, scheme, size, found, info) -> Landmarks:
    """478 tracked points as ``Landmarks`` in ``scheme`` (mediapipe478 or ibug68)."""
    pts = np.asarray(points, np.float32)
    if scheme == "ibug68":
        pts = to_ibug68(pts)
    return Landmarks(pts, np.full(len(pts), score, np.float32), scheme, size, found, info)
