"""Constant: a flat colour image (a frame-independent source for tests and slap comps)."""

from __future__ import annotations

import numpy as np

from facewarp.graph import Image, Node, NodeSchema, Output, Param


class Constant(Node):
    schema = NodeSchema(
        type="Constant",
        category="source",
        doc="A width x height RGB image filled with one linear colour. Does not depend on the frame.",
        outputs=(Output("image", "Image", "flat image"),),
        params=(
            Param("width", "int", 1920, "width in pixels", min=1, max=65536),
            Param("height", "int", 1080, "height in pixels", min=1, max=65536),
            Param("color", "vec3", (0.18, 0.18, 0.18), "linear RGB"),
        ),
    )

    def compute(self, ctx, inputs):
        p = self.param_values(ctx)
        px = np.empty((p["height"], p["width"], 3), np.float32)
        px[...] = np.asarray(p["color"], np.float32)
        return {"image": Image(px, ("R", "G", "B"))}
