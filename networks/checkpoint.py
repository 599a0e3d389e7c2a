"""Checkpoints for WgGAN / HrhGAN: safetensors only for writing (never pickle).

A checkpoint is one ``.safetensors`` file holding every tensor needed to continue training
bit-for-bit (model weights ``model.<net>.*``, optimizer state ``optim.<net>.<param>.<key>``,
RNG states ``rng.*``, the discriminator's history buffer ``buffer.*``) and, in the
safetensors metadata under ``facewarp``, a JSON document with the kind, configuration, step
and the non-tensor optimizer state. Reading also accepts a ``weights_only`` torch state dict
(``torch.load(..., weights_only=True)``: tensors, dicts, lists, numbers, strings only); any
other pickle payload is refused before it can run.
"""

from __future__ import annotations

import json
import os
import re
import warnings
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from facewarp.core.files import atomic_output
from facewarp.networks.weights import looks_like_safetensors

FORMAT = "facewarp-gan/1"


class CheckpointError(ValueError):
    """The file is not a checkpoint we can read safely."""


def save_checkpoint(path: str | os.PathLike, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> Path:
    """Write atomically (temp file in the same folder + os.replace)."""
    path = Path(path)
    meta = dict(meta)
    meta.setdefault("format", FORMAT)
    path.parent.mkdir(parents=True, exist_ok=True)
    clean = {k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}
    with atomic_output(path, overwrite=True) as tmp:  # a run rewrites its own checkpoint
        save_file(clean, tmp, metadata={"facewarp": json.dumps(meta, sort_keys=True)})
    return path


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path, overwrite=True) as tmp, open(tmp, "wb") as f:
        f.write(data)
    return path


_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")


def _refusal_reason(exc: Exception) -> str:
    """Why ``torch.load(weights_only=True)`` refused, in one short clause: torch's own text is
    several paragraphs with advice to load unsafely and terminal colour codes."""
    text = _ANSI.sub("", str(exc))
    found = re.search(r"GLOBAL ([\w.]+)", text)
    if found:
        return f"a pickle that would import and run {found.group(1)}"
    found = re.search(r"WeightsUnpickler error:\s*([^\n]+)", text)
    if found:
        return f"a pickle a weights-only load rejects ({found.group(1).strip().rstrip('.')})"
    if "weights only load failed" in text.lower():
        return "a pickle a weights-only load rejects"
    words = " ".join(text.split())
    first = re.split(r"(?<=\.)\s", words, maxsplit=1)[0].rstrip(".") if words else ""
    return f"neither safetensors nor a torch file ({type(exc).__name__}{': ' + first if first else ''})"


def load_checkpoint(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(tensors, meta). Raises CheckpointError for anything that is not a safetensors file or
    a weights-only torch state dict of the expected layout (pickled code is refused)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    if looks_like_safetensors(path):
        try:
            tensors = load_file(str(path), device="cpu")
            with safe_open(str(path), framework="pt") as f:
                md = f.metadata() or {}
            meta = json.loads(md.get("facewarp", "{}"))
        except Exception as exc:  # noqa: BLE001 - any parse failure is a refusal
            raise CheckpointError(f"{path.name} is not a valid safetensors checkpoint ({type(exc).__name__}: {exc})") from None
        return tensors, meta
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols with a source line
            warnings.simplefilter("ignore")
            obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - UnpicklingError for anything but plain data
        raise CheckpointError(f"{path.name} refused, not a safe checkpoint format: {_refusal_reason(exc)}; use a "
                              ".safetensors checkpoint, an ONNX export or a weights-only torch state dict of "
                              "tensors") from None
    if isinstance(obj, dict) and isinstance(obj.get("tensors"), dict):
        tensors, meta = obj["tensors"], obj.get("meta", {})
        if isinstance(meta, str):
            meta = json.loads(meta)
    elif isinstance(obj, dict) and all(isinstance(v, torch.Tensor) for v in obj.values()):
        tensors, meta = obj, {}
    else:
        raise CheckpointError(f"{path.name}: torch file is not a state dict of tensors")
    if not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in tensors.items()):
        raise CheckpointError(f"{path.name}: state dict holds non-tensor values")
    return tensors, dict(meta)


def sub_state(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    p = prefix if prefix.endswith(".") else prefix + "."
    return {k[len(p):]: v for k, v in tensors.items() if k.startswith(p)}


# -- optimizer state without pickle ------------------------------------------------------------
def optimizer_to_tensors(opt: torch.optim.Optimizer, prefix: str) -> tuple[dict[str, torch.Tensor], dict]:
    sd = opt.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict] = {}
    for pid, st in sd["state"].items():
        for key, val in st.items():
            if isinstance(val, torch.Tensor):
                tensors[f"{prefix}.{pid}.{key}"] = val
            else:
                scalars.setdefault(str(pid), {})[key] = val
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def optimizer_from_tensors(opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], meta: dict, prefix: str) -> None:
    state: dict[int, dict] = {}
    p = prefix + "."
    for k, v in tensors.items():
        if k.startswith(p):
            pid, key = k[len(p):].split(".", 1)
            state.setdefault(int(pid), {})[key] = v
    for pid, st in meta.get("scalars", {}).items():
        state.setdefault(int(pid), {}).update(st)
    groups = meta["param_groups"]
    for g in groups:
        if "betas" in g and isinstance(g["betas"], list):
            g["betas"] = tuple(g["betas"])
    opt.load_state_dict({"state": state, "param_groups": groups})
