"""Inference and ONNX export for WgGAN / HrhGAN generators.

A loaded model takes N x C x H x W float32 in [0, 1] (display-referred) and returns
N x 3 x H x W:
  * wggan:  C = 5: warped face with the inner mouth zeroed (3) + normalised displacement (2);
  * hrhgan: C = 4: face (3) + hole mask (1); the output is already composited
    (known pixels kept, the hole filled: Iizuka et al.'s ``x (1 - M) + C(x, M) M``).
Both backends (torch from a safetensors / weights-only checkpoint, onnxruntime from .onnx)
implement exactly this contract, so the nodes do not care which one they got.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from facewarp.core import memory
from facewarp.core.color import linear_to_srgb, srgb_to_linear
from facewarp.core.files import atomic_output
from facewarp.networks.checkpoint import CheckpointError, load_checkpoint, sub_state
from facewarp.networks.hrhgan import HrhGenerator, complete
from facewarp.networks.weights import weights_identity
from facewarp.networks.wggan import WgGenerator

IN_CHANNELS = {"wggan": 5, "hrhgan": 4}


class HrhInference(nn.Module):
    """(N, 4, H, W) = RGB + hole mask -> completed RGB (for export and the torch backend)."""

    def __init__(self, gen: HrhGenerator, fill: float = 0.5):
        super().__init__()
        self.gen = gen
        self.fill = fill

    def forward(self, x):
        return complete(self.gen, x[:, :3], x[:, 3:4], self.fill)


def build_inference_module(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> nn.Module:
    kind = meta.get("kind")
    cfg = dict(meta.get("nets", {}).get("G", {}))
    if kind == "wggan":
        net: nn.Module = WgGenerator(**cfg)
    elif kind == "hrhgan":
        net = HrhGenerator(width=cfg.get("width", 64), grown=bool(cfg.get("grown", False)))
    else:
        raise CheckpointError(f"checkpoint has no facewarp WgGAN/HrhGAN metadata (kind={kind!r})")
    state = sub_state(tensors, "model.G")
    if not state:
        raise CheckpointError("checkpoint holds no generator weights (model.G.*)")
    try:
        net.load_state_dict(state)
    except RuntimeError as exc:
        raise CheckpointError(f"generator weights do not match the recorded architecture: {str(exc).splitlines()[0]}") from None
    net.eval()
    return HrhInference(net) if kind == "hrhgan" else net


@dataclass
class GanModel:
    kind: str
    backend: str  # torch | onnxruntime
    size: int | None  # training crop size (ONNX: the only size accepted)
    runner: Any
    device: str = "cpu"

    @property
    def in_channels(self) -> int:
        return IN_CHANNELS[self.kind]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x, np.float32)
        if self.backend == "onnxruntime":
            return self.runner.run(None, {"input": x})[0]
        with torch.no_grad():
            return self.runner(torch.from_numpy(x).to(self.device)).cpu().numpy()


def _ort_providers(device: str) -> list[str]:
    import onnxruntime as ort

    avail = ort.get_available_providers()
    if device in ("auto", "cuda") and "CUDAExecutionProvider" in avail:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


def load_model(path: str | os.PathLike, device: str = "auto") -> GanModel:
    """Load a generator from .onnx (onnxruntime) or a checkpoint (torch). Raises
    CheckpointError / FileNotFoundError with a one-line reason."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"weights file not found: {p}")
    if p.suffix.lower() == ".onnx":
        import onnxruntime as ort

        try:
            sess = ort.InferenceSession(str(p), providers=_ort_providers(device))
        except Exception as exc:  # noqa: BLE001
            raise CheckpointError(f"{p.name} is not a loadable ONNX model ({type(exc).__name__})") from None
        props = sess.get_modelmeta().custom_metadata_map
        kind = props.get("facewarp_kind")
        if kind not in IN_CHANNELS:
            raise CheckpointError(f"{p.name} has no facewarp_kind metadata (export it with facewarp export-onnx)")
        size = int(props["facewarp_size"]) if "facewarp_size" in props else None
        return GanModel(kind, "onnxruntime", size, sess, "cpu")
    tensors, meta = load_checkpoint(p)
    module = build_inference_module(tensors, meta)
    dev = "cuda" if device in ("auto", "cuda") and torch.cuda.is_available() else "cpu"
    if device == "cuda" and dev != "cuda":
        raise RuntimeError("device cuda requested but torch sees no CUDA device")
    module.to(dev)
    return GanModel(meta["kind"], "torch", meta.get("size"), module, dev)


# -- ONNX export --------------------------------------------------------------------------------
def export_onnx(checkpoint: str | os.PathLike, out_path: str | os.PathLike, *, opset: int = 17, size: int | None = None,
                overwrite: bool = False, check: bool = True, tolerance: float = 1e-4) -> dict[str, Any]:
    """Write the generator of ``checkpoint`` as ONNX with a dynamic batch axis (input
    ``input`` N x C x S x S, output ``output`` N x 3 x S x S) and, when ``check``, verify that
    onnxruntime (CPU) agrees with torch to ``tolerance`` on a random batch of 3.
    Returns {"path", "kind", "size", "max_abs_diff"}. Written atomically; refuses to
    overwrite unless asked."""
    import onnx

    out = Path(out_path)
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out} exists (pass overwrite=True / --overwrite)")
    tensors, meta = load_checkpoint(checkpoint)
    module = build_inference_module(tensors, meta).cpu().eval()
    kind = meta["kind"]
    s = int(size or meta.get("size") or 256)
    cin = IN_CHANNELS[kind]
    dummy = torch.rand(1, cin, s, s, generator=torch.Generator().manual_seed(0))
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(out, overwrite) as tmp:  # a failed export or parity check leaves nothing
        # the legacy TorchScript exporter: the dynamo exporter of torch 2.x needs onnxscript
        torch.onnx.export(module, (dummy,), tmp, input_names=["input"], output_names=["output"],
                          dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}}, opset_version=opset,
                          dynamo=False)
        model = onnx.load(tmp)
        for key, value in {"facewarp_kind": kind, "facewarp_size": str(s),
                           "facewarp_config": json.dumps(meta.get("nets", {}).get("G", {}))}.items():
            prop = model.metadata_props.add()
            prop.key, prop.value = key, value
        onnx.checker.check_model(model)
        onnx.save(model, tmp)
        diff = None
        if check:
            import onnxruntime as ort

            sess = ort.InferenceSession(tmp, providers=["CPUExecutionProvider"])
            x = torch.rand(3, cin, s, s, generator=torch.Generator().manual_seed(1))
            if kind == "hrhgan":
                x[:, 3:] = (x[:, 3:] > 0.7).float()
            with torch.no_grad():
                ref = module(x).numpy()
            got = sess.run(None, {"input": x.numpy()})[0]
            diff = float(np.abs(ref - got).max())
            if not diff <= tolerance:
                raise RuntimeError(f"ONNX parity check failed: max |torch - onnxruntime| = {diff:.3g} > {tolerance:g}")
    return {"path": str(out), "kind": kind, "size": s, "max_abs_diff": diff}


# Loaded generators, a few at a time (a 4K shot uses one or two): facewarp.core.memory owns them.
_MODELS = memory.BoundedCache("network models", max_items=4)


def cached_model(path: str, device: str = "auto"):
    """``load_model(path, device)``, kept in the shared model cache until the file changes."""
    return _MODELS.get_or_load((weights_identity(path), device), lambda: load_model(path, device))


def to_net(rgb: np.ndarray, colorspace: str) -> np.ndarray:
    """H x W x 3 graph pixels -> 3 x H x W network values in [0, 1] (display-referred, as the
    paper's training data; ``colorspace`` is the one the network was trained in)."""
    x = linear_to_srgb(rgb) if colorspace == "srgb" else np.clip(rgb, 0.0, 1.0)
    return x.transpose(2, 0, 1).astype(np.float32)


def from_net(y: np.ndarray, colorspace: str) -> np.ndarray:
    """3 x H x W network values -> H x W x 3 graph pixels."""
    y = y.transpose(1, 2, 0)
    return srgb_to_linear(y) if colorspace == "srgb" else y.astype(np.float32)
