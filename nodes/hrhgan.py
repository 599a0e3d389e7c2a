"""HrhGAN: hidden-region (mouth interior) hallucination of Geng et al. 2018 on the aligned crop."""

from __future__ import annotations

import numpy as np

from facewarp.graph import Image, Input, InputError, Node, NodeSchema, Output, Param
from facewarp.nodes.wggan import check_size, get_model, hash_weights, rgb_index, weights_problems


class HrhGAN(Node):
    schema = NodeSchema(
        type="HrhGAN",
        category="face",
        doc="Fills the inner-mouth region (teeth, tongue) of the face crop with an Iizuka-style completion network; "
            "pixels outside the mask are kept. Weights: a .safetensors checkpoint from 'facewarp train hrhgan' or an "
            ".onnx. Bypassed, the face passes through unchanged.",
        inputs=(Input("face", "Image", "face crop (FaceCrop size)"),
                Input("mouth", "Mask", "inner-mouth matte in the crop (the region to fill)")),
        outputs=(Output("face", "Image", "face crop with the mouth filled"),),
        params=(
            Param("weights", "path", "", "checkpoint (.safetensors / weights-only .pt) or .onnx"),
            Param("colorspace", "enum", "srgb", "values the network was trained on (see WgGAN)",
                  choices=("srgb", "linear")),
            Param("threshold", "float", 0.05, "matte values above this are part of the hole", min=0.0, max=1.0),
        ),
    )

    def problems(self, ctx):
        return super().problems(ctx) + weights_problems(self, ctx, "HrhGAN")

    def hash_extra(self, ctx, h):
        hash_weights(self, ctx, h)

    def compute(self, ctx, inputs):
        p = self.param_values(ctx)
        face: Image = inputs["face"]
        from facewarp.networks.inference import from_net, to_net  # torch: only when the node runs

        model = get_model(self, p["weights"], ctx.device, "HrhGAN")
        alpha = inputs["mouth"].alpha
        if alpha.shape != face.pixels.shape[:2]:
            raise self.error(InputError, f"mouth matte is {alpha.shape[1]}x{alpha.shape[0]}, face is "
                             f"{face.width}x{face.height}", port="mouth")
        check_size(self, model, face.height, face.width, "face")
        idx = rgb_index(self, face, "face")
        hole = (alpha > p["threshold"]).astype(np.float32)
        x = to_net(face.pixels[..., idx], p["colorspace"])
        y = from_net(model(np.concatenate([x, hole[None]], 0)[None])[0], p["colorspace"])
        out = face.pixels.copy()
        sel = hole > 0
        sub = out[..., idx]
        sub[sel] = y[sel]  # outside the hole: the input, bit for bit
        out[..., idx] = sub
        return {"face": face.with_pixels(out)}
