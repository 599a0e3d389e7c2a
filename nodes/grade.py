"""Grade: a simple linear-light grade (gain, lift, gamma, saturation) on the colour channels."""

from __future__ import annotations

import numpy as np

from facewarp.graph import Image, Input, Node, NodeSchema, Output, Param

_COLOUR = ("R", "G", "B")
_LUMA = np.array([0.2126, 0.7152, 0.0722], np.float32)  # Rec.709 luminance weights (linear light)


class Grade(Node):
    schema = NodeSchema(
        type="Grade",
        category="colour",
        doc="out = (in * gain + lift) ** (1/gamma) on R, G, B (alpha and other channels untouched); "
            "saturation mixes with Rec.709 luminance.",
        inputs=(Input("image", "Image", "plate to grade"),),
        outputs=(Output("image", "Image", "graded plate"),),
        params=(
            Param("gain", "float", 1.0, "multiplier", min=0.0, max=1000.0),
            Param("lift", "float", 0.0, "added after gain", min=-10.0, max=10.0),
            Param("gamma", "float", 1.0, "applied to positive values only", min=0.01, max=100.0),
            Param("saturation", "float", 1.0, "0 = luminance only", min=0.0, max=10.0),
        ),
    )

    def compute(self, ctx, inputs):
        image: Image = inputs["image"]
        p = self.param_values(ctx)
        idx = [image.channels.index(c) for c in _COLOUR if c in image.channels]
        out = image.pixels.copy()
        rgb = out[..., idx] * np.float32(p["gain"]) + np.float32(p["lift"])
        if p["gamma"] != 1.0:
            rgb = np.where(rgb > 0, np.power(np.maximum(rgb, 0), np.float32(1.0 / p["gamma"])), rgb)
        if p["saturation"] != 1.0 and len(idx) == 3:
            luma = rgb @ _LUMA
            rgb = luma[..., None] + np.float32(p["saturation"]) * (rgb - luma[..., None])
        out[..., idx] = rgb
        return {"image": image.with_pixels(out.astype(np.float32, copy=False))}
