"""LandmarkTracker: MediaPipe face mesh over a whole shot, smoothed, with a missing-face policy."""

from __future__ import annotations

import math

import numpy as np

from facewarp.core.conventions import FPS_KEY
from facewarp.face import tracking as fm
from facewarp.face.landmarks import N_MESH_POINTS
from facewarp.graph import Input, InputError, Node, NodeSchema, Output, Param, events

GUESSED_FRAMES = events.label("guessed_frames", "guessed (interpolated/held) frame(s)")

# The detector/mesh settings LandmarkDetect shares (it tracks one image at a time).
TRACK_PARAMS = (
    Param("select", "enum", fm.TRACKER_DEFAULTS["select"], "which face when several: largest box, closest to the previous frame's "
          "face (first frame: largest), or by index (faces ordered left to right)", choices=("largest", "closest", "index")),
    Param("face_index", "int", fm.TRACKER_DEFAULTS["face_index"], "face number for select=index (0 = leftmost)", min=0, max=64),
    Param("scheme", "enum", fm.TRACKER_DEFAULTS["scheme"], "output points: all 478 MediaPipe points, or the 68 iBUG points "
          "(see docs/faces.md for the mapping)", choices=("mediapipe478", "ibug68")),
    Param("detect_size", "int", fm.TRACKER_DEFAULTS["detect_size"], "longer side of the down-scaled copy the face detector sees", min=64, max=4096),
    Param("mesh_size", "int", fm.TRACKER_DEFAULTS["mesh_size"], "side of the full-resolution crop given to the face mesh", min=128, max=2048),
)


class LandmarkTracker(Node):
    version = 2  # v2: guessed frames are found=True, smoothing at the plate's fps: v1 results differ
    schema = NodeSchema(
        type="LandmarkTracker",
        category="face",
        doc="478 MediaPipe face-mesh landmarks (with irises) per frame in plate pixels: the face is found on a "
            "down-scaled copy, then meshed on a full-resolution crop. Evaluated over the whole range: frames with "
            "no face follow `missing` (interpolate/hold/error) and the track is smoothed with a One-Euro filter "
            "(zero-phase: run forwards and backwards, averaged; cut-offs in Hz of the plate's own frame rate when "
            "the reader knows it, else the preset's fps). Each frame's Landmarks.info reports status "
            "(found/interpolated/held; interpolated and held points are usable, found=true), detector score and "
            "raw points; guessed frames are counted in the run's summary and the status is a figure of --report.",
        inputs=(Input("image", "Image", "plate"),),
        outputs=(Output("landmarks", "Landmarks", "smoothed landmarks; confidence = face detector score"),),
        params=TRACK_PARAMS + (
            Param("missing", "enum", fm.TRACKER_DEFAULTS["missing"], "frames where no face is found: interpolate between the nearest "
                  "found frames (hold at the ends), hold the last found frame, or error", choices=("interpolate", "hold", "error")),
            Param("smoothing", "enum", fm.TRACKER_DEFAULTS["smoothing"], "temporal filter", choices=("one_euro_zero_phase", "one_euro", "none")),
            Param("min_cutoff", "float", fm.TRACKER_DEFAULTS["min_cutoff"], "One-Euro cut-off at rest, Hz (lower = steadier, more lag)", min=0.01, max=100.0),
            Param("beta", "float", fm.TRACKER_DEFAULTS["beta"], "One-Euro speed coefficient per face-width/second (higher = follows fast "
                  "motion better)", min=0.0, max=100.0),
            Param("d_cutoff", "float", fm.TRACKER_DEFAULTS["d_cutoff"], "cut-off of the speed estimate, Hz", min=0.01, max=100.0),
        ),
        requires_sequence=True,
    )

    def hash_extra(self, ctx, h):
        h.update(f"|fps={ctx.fps}".encode())  # the smoothing reads it (unless the plate has its own)

    def compute_sequence(self, ctx, frames, fetch):
        p = self.param_values(ctx)
        raw, scores, sizes, infos = [], [], [], []
        prev = None
        fps = float(ctx.fps)
        for f in frames:
            image = fetch(f)["image"]
            if f == frames[0]:
                fps = shot_fps(image, fps)
            r = fm.track_image(image, p, prev)
            if r.points is not None:
                prev = r.points[:N_MESH_POINTS].mean(0)
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
        track = fm.smooth_track(filled, status, p, fps)
        out = {}
        for i, f in enumerate(frames):
            info = dict(infos[i], status=status[i], score=scores[i], raw=None if raw[i] is None else raw[i].astype(np.float32))
            found = status[i] == fm.FOUND
            # found=True for guessed frames too: their points are usable; the status tells them apart.
            out[f] = {"landmarks": fm.to_landmarks(track[i], scores[i] if found else 0.0, p["scheme"], sizes[i],
                                                status[i] != fm.MISSING, info)}
            events.figure("tracking_status", status[i], frame=f)
            if status[i] in fm.GUESSED:
                events.count(GUESSED_FRAMES, 1, frame=f)
        return out


def shot_fps(image, default: float) -> float:
    """The frame rate the reader found in the plate (``FPS_KEY`` in its metadata), else ``default``."""
    try:
        fps = float(image.metadata.get(FPS_KEY, default))
    except (TypeError, ValueError):
        return default
    return fps if math.isfinite(fps) and fps > 0 else default
