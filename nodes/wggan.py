"""WgGAN: the face refinement network of Geng et al. 2018 on the aligned crop."""

from __future__ import annotations

import os

import numpy as np

from facewarp.graph import (
    FacewarpError,
    Image,
    Input,
    InputError,
    Node,
    NodeSchema,
    Output,
    Param,
    RenderError,
    ValidationError,
)
from facewarp.networks.weights import weights_kind


# -- what WgGAN and HrhGAN nodes share (HrhGAN imports these) ---------------------------------
def get_model(node, path: str, device: str, kind: str):
    """The cached model for ``path``; clear one-line errors naming the node and param."""
    from facewarp.networks.checkpoint import CheckpointError
    from facewarp.networks.inference import cached_model

    if not path:
        raise node.error(InputError, f"no weights: set 'weights' to a {kind} .safetensors checkpoint or .onnx file "
                         f"(facewarp train {kind.lower()}), or set bypass: true to pass the face through", param="weights")
    if not os.path.isfile(path):
        raise node.error(InputError, "weights file not found", param="weights", file=path)
    try:
        model = cached_model(path, device)
    except CheckpointError as exc:
        raise node.error(InputError, str(exc), param="weights", file=path) from None
    except RuntimeError as exc:
        raise node.error(RenderError, str(exc), param="weights", file=path) from None
    if model.kind != kind.lower():
        raise node.error(InputError, f"weights are a {model.kind} model, this node needs {kind.lower()}",
                         param="weights", file=path)
    return model


def weights_problems(node, ctx, kind: str) -> list[FacewarpError]:
    """What ``get_model`` would refuse, found before rendering without loading the network: no
    weights set, a file that is not a safetensors checkpoint, a weights-only torch file or an
    ONNX model (a pickle with code is refused by the checkpoint reader), or the other network's
    weights. A missing file is reported by the generic input check."""
    path = node.param(ctx, "weights")
    if not path:
        return [node.error(ValidationError, f"no weights: set 'weights' to a {kind} .safetensors checkpoint or .onnx "
                           f"file (facewarp train {kind.lower()}), or set bypass: true to pass the face through",
                           param="weights")]
    if not os.path.isfile(path):
        return []
    want = kind.lower()
    try:
        found = weights_kind(path)
        if path.lower().endswith(".onnx") and not found:
            return [node.error(InputError, "ONNX model has no facewarp_kind metadata (export it with facewarp "
                               "export-onnx)", param="weights", file=path)]
        if found is None:  # not safetensors: the checkpoint reader decides (weights-only torch, never pickle)
            from facewarp.networks.checkpoint import CheckpointError, load_checkpoint

            try:
                found = str(load_checkpoint(path)[1].get("kind", ""))
            except CheckpointError as exc:
                return [node.error(InputError, str(exc), param="weights", file=path)]
    except Exception as exc:  # noqa: BLE001 - any unreadable file is a refusal, in one line
        return [node.error(InputError, f"weights file cannot be read ({type(exc).__name__})", param="weights",
                           file=path)]
    if found != want:
        what = f"a {found} model" if found else "not a facewarp WgGAN/HrhGAN model"
        return [node.error(InputError, f"weights are {what}, this node needs {want}", param="weights", file=path)]
    return []


def rgb_index(node, image: Image, port: str) -> list[int]:
    try:
        return [image.channels.index(c) for c in ("R", "G", "B")]
    except ValueError:
        raise node.error(InputError, f"needs R, G, B channels, got {image.channels}", port=port) from None


def check_size(node, model, h: int, w: int, port: str) -> None:
    if model.backend == "onnxruntime" and model.size is not None and (h, w) != (model.size, model.size):
        raise node.error(InputError, f"crop is {w}x{h} but the ONNX model takes {model.size}x{model.size} "
                         f"(set FaceCrop size to {model.size})", port=port)
    f = 8
    if h % f or w % f:
        raise node.error(InputError, f"crop size {w}x{h} must be a multiple of {f}", port=port)


def hash_weights(node, ctx, h) -> None:
    """A network node reads its weights file: hash that file's identity (the path as
    substituted for this context, so ``${ckpt}`` variables resolve) and the device."""
    from facewarp.networks.weights import weights_identity

    h.update(weights_identity(str(node.param(ctx, "weights") or "")).encode())
    h.update(f"|device={ctx.device}".encode())


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
        from facewarp.networks.inference import from_net, to_net  # torch: only when the node runs

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
