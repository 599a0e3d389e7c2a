"""LandmarkDetect: MediaPipe face mesh on one frame (no temporal smoothing)."""

from __future__ import annotations

import numpy as np

from facewarp.face.tracking import to_landmarks, track_image
from facewarp.graph import Input, InputError, Node, NodeSchema, Output, Param
from facewarp.nodes.landmark_tracker import TRACK_PARAMS


class LandmarkDetect(Node):
    schema = NodeSchema(
        type="LandmarkDetect",
        category="face",
        doc="Per-frame version of LandmarkTracker: 478 MediaPipe landmarks in plate pixels, no smoothing and no "
            "history (select=closest behaves like largest). A frame with no face gives found=false and zero "
            "points, or an error with missing=error.",
        inputs=(Input("image", "Image", "plate"),),
        outputs=(Output("landmarks", "Landmarks", "landmarks; confidence = face detector score"),),
        params=TRACK_PARAMS + (
            Param("missing", "enum", "empty", "no face on the frame: output found=false, or error", choices=("empty", "error")),
        ),
    )

    def compute(self, ctx, inputs):
        p = self.param_values(ctx)
        image = inputs["image"]
        r = track_image(image, p)
        info = {"faces": r.n_faces, "box": r.box, "score": r.score}
        if r.points is None:
            if p["missing"] == "error":
                raise self.error(InputError, "no face found", port="image", frame=ctx.frame)
            n = 68 if p["scheme"] == "ibug68" else 478
            pts = np.zeros((478, 2))
            lm = to_landmarks(pts, 0.0, p["scheme"], image.size, False, dict(info, status="missing"))
            assert len(lm.points) == n
            return {"landmarks": lm}
        return {"landmarks": to_landmarks(r.points, r.score, p["scheme"], image.size, True, dict(info, status="found"))}
