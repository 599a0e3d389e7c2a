"""Shared machinery of the WgGAN / HrhGAN inference nodes (model cache, colour, errors)."""

from __future__ import annotations

import os
from collections import OrderedDict

import numpy as np

from facewarp.graph import Image, InputError, RenderError

from ._face_crop import linear_to_srgb, srgb_to_linear

_CACHE: "OrderedDict[tuple, object]" = OrderedDict()
_CACHE_MAX = 4


def weights_identity(path: str) -> str:
    try:
        st = os.stat(path)
        return f"{os.path.abspath(path)}|{st.st_mtime_ns}|{st.st_size}"
    except OSError:
        return f"{path}|missing"


def get_model(node, path: str, device: str, kind: str):
    """The cached model for ``path``; clear one-line errors naming the node and param."""
    from ._gan_ckpt import CheckpointError
    from ._gan_infer import load_model

    if not path:
        raise node.error(InputError, f"no weights: set 'weights' to a {kind} .safetensors checkpoint or .onnx file "
                         f"(facewarp train {kind.lower()}), or set bypass: true to pass the face through", param="weights")
    if not os.path.isfile(path):
        raise node.error(InputError, "weights file not found", param="weights", file=path)
    key = (weights_identity(path), device)
    model = _CACHE.get(key)
    if model is None:
        try:
            model = load_model(path, device)
        except CheckpointError as exc:
            raise node.error(InputError, str(exc), param="weights", file=path) from None
        except RuntimeError as exc:
            raise node.error(RenderError, str(exc), param="weights", file=path) from None
        if model.kind != kind.lower():
            raise node.error(InputError, f"weights are a {model.kind} model, this node needs {kind.lower()}",
                             param="weights", file=path)
        _CACHE[key] = model
        while len(_CACHE) > _CACHE_MAX:
            _CACHE.popitem(last=False)
    else:
        _CACHE.move_to_end(key)
    return model


def rgb_index(node, image: Image, port: str) -> list[int]:
    try:
        return [image.channels.index(c) for c in ("R", "G", "B")]
    except ValueError:
        raise node.error(InputError, f"needs R, G, B channels, got {image.channels}", port=port) from None


def to_net(rgb: np.ndarray, colorspace: str) -> np.ndarray:
    """H x W x 3 graph pixels -> 3 x H x W network values in [0, 1]."""
    x = linear_to_srgb(rgb) if colorspace == "srgb" else np.clip(rgb, 0.0, 1.0)
    return x.transpose(2, 0, 1).astype(np.float32)


def from_net(y: np.ndarray, colorspace: str) -> np.ndarray:
    y = y.transpose(1, 2, 0)
    return srgb_to_linear(y) if colorspace == "srgb" else y.astype(np.float32)


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
    h.update(weights_identity(str(node.param(ctx, "weights") or "")).encode())
    h.update(f"|device={ctx.device}".encode())
