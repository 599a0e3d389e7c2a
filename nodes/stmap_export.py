"""STMapExport: turn a Displacement into images Nuke applies natively (STMap or IDistort)."""

from __future__ import annotations

import numpy as np

from facewarp.core import buffers
from facewarp.graph import Image, Input, Node, NodeSchema, Output, Param
from facewarp.kernels.stmap import idistort_into, stmap_into


class STMapExport(Node):
    schema = NodeSchema(
        type="STMapExport",
        category="warp",
        doc="Nuke hand-off: 'stmap' gives absolute UV (u = x_src / W, v = 1 - y_src / H, origin bottom-left) "
            "for Nuke's STMap node; 'idistort' gives pixel offsets (dx, -dy; y up) for IDistort. Channels "
            "forward.u, forward.v (or R, G) plus alpha = the field's validity. Write it as a float EXR.",
        inputs=(Input("displacement", "Displacement", "backward field"),),
        outputs=(Output("image", "Image", "UV or offset image (colorspace 'data')"),),
        params=(
            Param("mode", "enum", "stmap", "stmap (absolute UV) or idistort (pixel offsets)", choices=("stmap", "idistort")),
            Param("channels", "enum", "forward", "channel names: forward.u/forward.v/A or R/G/A",
                  choices=("forward", "rgb")),
        ),
    )

    def compute(self, ctx, inputs):
        disp = inputs["displacement"]
        # float32 throughout, written straight into the 3-channel output (no concatenation)
        px = buffers.empty((*disp.field.shape[:2], 3), np.float32)
        if self.param(ctx, "mode") == "stmap":
            stmap_into(disp.field, disp.valid, px)  # conventions.displacement_to_stmap, in one pass
        else:
            idistort_into(disp.field, disp.valid, px)
        names = ("forward.u", "forward.v", "A") if self.param(ctx, "channels") == "forward" else ("R", "G", "A")
        return {"image": Image(px, names, "data", {"facewarp:stmap_mode": self.param(ctx, "mode")})}
