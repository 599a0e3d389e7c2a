"""LandmarkSpread: per-landmark standard deviation of the displacement over the shot, the
normaliser of TriangleWarp's WgGAN displacement map (Geng et al. 2018)."""

from __future__ import annotations

import numpy as np

from facewarp.graph import Input, InputError, Landmarks, Node, NodeSchema, Output, Param
from facewarp.warping.landmark import MIN_STD, normalising_std


class LandmarkSpread(Node):
    schema = NodeSchema(
        type="LandmarkSpread",
        category="warp",
        doc="Over the whole frame range: for each landmark, the standard deviation (pixels, isotropic: "
            "sqrt of the mean of the x and y variances) of its displacement target - source. Feed it to "
            "TriangleWarp's 'spread' input to get the paper's normalised displacement map. Frames where "
            "either set was not found are skipped. Output: Landmarks whose points hold (std, std).",
        inputs=(Input("source", "Landmarks", "rest-pose landmarks (the photo being animated)"),
                Input("target", "Landmarks", "driven landmarks, per frame")),
        outputs=(Output("spread", "Landmarks", "per-landmark std in both columns, same for every frame"),),
        params=(Param("min_std", "float", MIN_STD, "floor on the std (pixels), so still landmarks are not "
                      "amplified without bound", min=1e-6, max=1e6),),
        requires_sequence=True,
    )

    def compute_sequence(self, ctx, frames, fetch):
        p = self.param_values(ctx)
        disp, n = [], None
        for f in frames:
            ins = fetch(f)
            s, t = ins["source"], ins["target"]
            if len(s.points) != len(t.points):
                raise self.error(InputError, f"source has {len(s.points)} landmarks, target {len(t.points)}",
                                 port="target", frame=f)
            n = len(s.points)
            if s.found and t.found:
                disp.append(t.points - s.points)
        std = normalising_std(disp, p["min_std"]) if disp else np.full(n or 0, p["min_std"], np.float32)
        lm = Landmarks(np.stack([std, std], axis=1), scheme="spread", found=bool(disp))
        return {f: {"spread": lm} for f in frames}
