"""LandmarkTracker: MediaPipe face mesh over a whole shot, smoothed, with a missing-face policy."""

from __future__ import annotations

import numpy as np

from facewarp.graph import InputError, Input, Landmarks, Node, NodeSchema, Output, Param

from . import _facemesh as fm

TRACK_PARAMS = (
    Param("select", "enum", "largest", "which face when several: largest box, closest to the previous frame's "
          "face (first frame: largest), or by index (faces ordered left to right)", choices=("largest", "closest", "index")),
    Param("face_index", "int", 0, "face number for select=index (0 = leftmost)", min=0, max=64),
    Param("scheme", "enum", "mediapipe478", "output points: all 478 MediaPipe points, or the 68 iBUG points "
          "(see docs/faces.md for the mapping)", choices=("mediapipe478", "ibug68")),
    Param("detect_size", "int", 640, "longer side of the down-scaled copy the face detector sees", min=64, max=4096),
    Param("mesh_size", "int", 384, "side of the full-resolution crop given to the face mesh", min=128, max=2048),
)


def _is_linear(image) -> bool:
    return str(image.colorspace).lower().startswith("lin")


def track_image(image, p, previous_center=None) -> fm.FaceResult:
    return fm.track_frame(image.pixels, select=p["select"], index=p["face_index"], previous_center=previous_center,
                          detect_size=p["detect_size"], mesh_size=p["mesh_size"], linear=_is_linear(image))


def to_landmarks(points, score, scheme, size, found, info) -> Landmarks:
    pts = np.asarray(points, np.float32)
    if scheme == "ibug68":
        pts = fm.to_ibug68(pts)
    return Landmarks(pts, np.full(len(pts), score, np.float32), scheme, size, found, info)


def smooth_track(filled, status, p, fps: float) -> np.ndarray:
    """T x N x 2 track from the gap-filled per-frame points (``fm.fill_missing``): the
    temporal filter of ``p["smoothing"]`` (One-Euro, speeds in face widths per second).
    ``p``: this node's parameter values (``tracker_defaults()`` for the defaults)."""
    track = np.stack(filled)
    if p["smoothing"] != "none" and len(filled) > 1:
        width = float(np.median([fm.face_width(x) for x, s in zip(filled, status) if s == "found"]))
        fn = fm.one_euro_zero_phase if p["smoothing"] == "one_euro_zero_phase" else fm.one_euro
        track = fn(track, fps, min_cutoff=p["min_cutoff"], beta=p["beta"], d_cutoff=p["d_cutoff"],
                   scale=max(width, 1e-6))
    return track


def tracker_defaults() -> dict:
    """LandmarkTracker's parameter defaults (for code that tracks outside a graph)."""
    return {q.name: q.default for q in LandmarkTracker.schema.params}


class LandmarkTracker(Node):
    schema = NodeSchema(
        type="LandmarkTracker",
        category="face",
        doc="478 MediaPipe face-mesh landmarks (with irises) per frame in plate pixels: the face is found on a "
            "down-scaled copy, then meshed on a full-resolution crop. Evaluated over the whole range: frames with "
            "no face follow `missing` (interpolate/hold/error) and the track is smoothed with a One-Euro filter "
            "(zero-phase: run forwards and backwards, averaged). Each frame's Landmarks.info reports status "
            "(found/interpolated/held), detector score and raw points.",
        inputs=(Input("image", "Image", "plate"),),
        outputs=(Output("landmarks", "Landmarks", "smoothed landmarks; confidence = face detector score"),),
        params=TRACK_PARAMS + (
            Param("missing", "enum", "interpolate", "frames where no face is found: interpolate between the nearest "
                  "found frames (hold at the ends), hold the last found frame, or error", choices=("interpolate", "hold", "error")),
            Param("smoothing", "enum", "one_euro_zero_phase", "temporal filter", choices=("one_euro_zero_phase", "one_euro", "none")),
            Param("min_cutoff", "float", 1.0, "One-Euro cut-off at rest, Hz (lower = steadier, more lag)", min=0.01, max=100.0),
            Param("beta", "float", 1.0, "One-Euro speed coefficient per face-width/second (higher = follows fast "
                  "motion better)", min=0.0, max=100.0),
            Param("d_cutoff", "float", 1.0, "cut-off of the speed estimate, Hz", min=0.01, max=100.0),
        ),
        requires_sequence=True,
    )

    def compute_sequence(self, ctx, frames, fetch):
        p = self.param_values(ctx)
        raw, scores, sizes, infos = [], [], [], []
        prev = None
        for f in frames:
            image = fetch(f)["image"]
            r = track_image(image, p, prev)
            if r.points is not None:
                prev = r.points[:468].mean(0)
            raw.append(r.points)
            scores.append(r.score)
            sizes.append(image.size)
            infos.append({"faces": r.n_faces, "box": r.box})
        filled, status = fm.fill_missing(raw, p["missing"])
        missing = [f for f, s in zip(frames, status) if s == "missing"]
        if missing and (p["missing"] == "error" or len(missing) == len(frames)):
            raise self.error(InputError, f"no face found on {len(missing)} frame(s) (first: {missing[0]}); "
                             "set missing=interpolate or hold to fill them" if p["missing"] == "error"
                             else "no face found on any frame of the range", frame=missing[0])
        track = smooth_track(filled, status, p, float(ctx.fps))
        out = {}
        for i, f in enumerate(frames):
            info = dict(infos[i], status=status[i], score=scores[i], raw=None if raw[i] is None else raw[i].astype(np.float32))
            out[f] = {"landmarks": to_landmarks(track[i], scores[i] if status[i] == "found" else 0.0, p["scheme"],
                                                sizes[i], status[i] == "found", info)}
        return out
