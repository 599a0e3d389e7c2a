"""Crop: cut a box out of a plate (pixels outside the source become black)."""

from __future__ import annotations

import numpy as np

from facewarp.graph import Image, Input, Node, NodeSchema, Output, Param


class Crop(Node):
    schema = NodeSchema(
        type="Crop",
        category="transform",
        doc="Cut the box [x, x+width) x [y, y+height) (top-left origin, pixels) out of the plate; "
            "parts of the box outside the plate are filled with zeros.",
        inputs=(Input("image", "Image", "plate"),),
        outputs=(Output("image", "Image", "cropped plate"),),
        params=(
            Param("x", "int", 0, "left edge"),
            Param("y", "int", 0, "top edge"),
            Param("width", "int", 256, "box width", min=1, max=65536),
            Param("height", "int", 256, "box height", min=1, max=65536),
        ),
    )

    def compute(self, ctx, inputs):
        image: Image = inputs["image"]
        p = self.param_values(ctx)
        x, y, w, h = p["x"], p["y"], p["width"], p["height"]
        out = np.zeros((h, w, image.pixels.shape[2]), np.float32)
        sx0, sy0 = max(x, 0), max(y, 0)
        sx1, sy1 = min(x + w, image.width), min(y + h, image.height)
        if sx1 > sx0 and sy1 > sy0:
            out[sy0 - y:sy1 - y, sx0 - x:sx1 - x] = image.pixels[sy0:sy1, sx0:sx1]
        md = dict(image.metadata)
        md["facewarp:crop"] = [x, y, w, h]
        return {"image": Image(out, image.channels, image.colorspace, md)}
