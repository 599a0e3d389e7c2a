"""What a weights file is, read from its header alone (no torch, no network built): for the
checks before a render and the model cache."""

from __future__ import annotations

import json
import os
import struct


def looks_like_safetensors(path: str | os.PathLike) -> bool:
    """The file starts like safetensors: an 8-byte header length, then a JSON object."""
    with open(path, "rb") as f:
        head = f.read(9)
    if len(head) < 9:
        return False
    (n,) = struct.unpack("<Q", head[:8])
    return 0 < n < 100_000_000 and head[8:9] == b"{"


def weights_kind(path: str | os.PathLike) -> str | None:
    """The facewarp network kind ("wggan", "hrhgan") a weights file declares: from an ONNX
    model's ``facewarp_kind`` metadata or a safetensors header's facewarp metadata; "" when the
    file declares none, None when it is neither ONNX nor safetensors."""
    path = os.fspath(path)
    if path.lower().endswith(".onnx"):
        import onnx

        proto = onnx.load(path, load_external_data=False)
        return {p.key: p.value for p in proto.metadata_props}.get("facewarp_kind", "")
    if not looks_like_safetensors(path):
        return None
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
    meta = header.get("__metadata__") or {}
    return str(json.loads(meta.get("facewarp", "{}")).get("kind", ""))


def weights_identity(path: str) -> str:
    """What a weights file is, for caches and node hashes: its absolute path, mtime and size."""
    try:
        st = os.stat(path)
        return f"{os.path.abspath(path)}|{st.st_mtime_ns}|{st.st_size}"
    except OSError:
        return f"{path}|missing"
