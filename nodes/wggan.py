"""WgGAN: the face refinement network of Geng et al. 2018 on the aligned crop."""

from __future__ import annotations

import numpy as np

from facewarp.graph import Image, Input, InputError, Node, NodeSchema, Output, Param
from facewarp.networks.inference import from_net, to_net
from facewarp.nodes._glue import check_size, get_model, hash_weights, rgb_index, weights_problems


class WgGAN(Node):
    schema = NodeSchema(
        type="WgGAN",
        category="face",
        doc="Adds the fine detail a 2D warp cannot (wrinkles, creases, shading) to the warped face crop, guided by "
            "the normalised displacement map. The inner mouth (mask) is removed from the input and left to HrhGAN. "
            "Weights: a .safetensors checkpoint from 'facewarp train wggan' or an .onnx from 'facewarp export-onnx'. "
            "Bypassed, the face passes through unchanged.",
        inputs=(Input("face", "Image", "warped face crop (FaceCrop size)"),
                Input("dispmap", "Image", "normalised displacement map, 2 channels, same size as the crop"),
                Input("mouth", "Mask", "inner-mouth matte in the crop (left out)", optional=True)),
        outputs=(Output("face", "Image", "refined face crop"),),
        params=(
            Param("weights", "path", "", "checkpoint (.safetensors / weights-only .pt) or .onnx"),
            Param("colorspace", "enum", "srgb", "values the network was trained on: srgb = the crop is encoded "
                  "to sRGB for the network and decoded after (8-bit training frames); linear = as is",
                  choices=("srgb", "linear")),
            Param("mix", "float", 1.0, "blend between input (0) and network output (1)", min=0.0, max=1.0),
        ),
    )

    def problems(self, ctx):
        return super().problems(ctx) + weights_problems(self, ctx, "WgGAN")

    def hash_extra(self, ctx, h):
        hash_weights(self, ctx, h)

    def compute(self, ctx, inputs):
        p = self.param_values(ctx)
        face: Image = inputs["face"]
        model = get_model(self, p["weights"], ctx.device, "WgGAN")
        disp: Image = inputs["dispmap"]
        if disp.pixels.shape[:2] != face.pixels.shape[:2] or disp.pixels.shape[2] < 2:
            raise self.error(InputError, f"dispmap must be {face.width}x{face.height} with 2 channels, got "
                             f"{disp.width}x{disp.height}x{disp.pixels.shape[2]}", port="dispmap")
        check_size(self, model, face.height, face.width, "face")
        idx = rgb_index(self, face, "face")
        x = to_net(face.pixels[..., idx], p["colorspace"])
        keep = np.ones(face.pixels.shape[:2], np.float32)
        if "mouth" in inputs:
            keep = 1.0 - np.clip(inputs["mouth"].alpha, 0.0, 1.0)
        net_in = np.concatenate([x * keep[None], disp.pixels[..., :2].transpose(2, 0, 1)], 0)[None]
        y = from_net(model(net_in)[0], p["colorspace"])
        out = face.pixels.copy()
        out[..., idx] = (1.0 - p["mix"]) * face.pixels[..., idx] + p["mix"] * y
        return {"face": face.with_pixels(out.astype(np.float32))}
