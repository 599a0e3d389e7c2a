"""MemoryInput: data a host hands over in memory (an image, landmarks, a displacement field).

The host owns the data and sets it on the node (``facewarp.api.set_input``, or
:meth:`MemoryInput.set_data`): one frame-independent value, or one value per frame. The
output's type is the ``kind`` parameter (port ``image``, ``landmarks`` or ``displacement``).
The node's hash includes a blake2b digest of the data it gives at the frame, taken when the
data is set (a copy is kept), so a result computed from old data is never served for new data.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import replace
from typing import Any

import numpy as np

from facewarp.graph import Displacement, Image, InputError, Landmarks, Node, NodeSchema, Output, Param, ValidationError

KINDS = {"Image": ("image", Image), "Landmarks": ("landmarks", Landmarks), "Displacement": ("displacement", Displacement)}


def _digest(value: Any) -> str:
    """Identity of the data: a blake2b digest of every array's dtype, shape and bytes (and the rest's repr)."""
    h = hashlib.blake2b(digest_size=16)
    h.update(type(value).__name__.encode())
    fields = ([getattr(value, f.name) for f in dataclasses.fields(value)] if dataclasses.is_dataclass(value)
              else [value])
    for item in fields:
        if isinstance(item, np.ndarray):
            h.update(f"|{item.dtype.str}{item.shape}".encode())
            h.update(np.ascontiguousarray(item).data)
        else:
            h.update(f"|{item!r}".encode())
    return h.hexdigest()


def _frozen(value: Any) -> Any:
    """A private read-only copy: the host may reuse its buffers after handing them over."""
    if isinstance(value, np.ndarray):
        out = np.array(value, copy=True)
        out.flags.writeable = False
        return out
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {f.name: np.array(getattr(value, f.name), copy=True) for f in dataclasses.fields(value)
                   if isinstance(getattr(value, f.name), np.ndarray)}
        return replace(value, **changes)
    raise TypeError(f"MemoryInput takes a numpy array, an Image, Landmarks or a Displacement, got {type(value).__name__}")


class MemoryInput(Node):
    schema = NodeSchema(
        type="MemoryInput",
        category="source",
        doc="Data a host sets in memory (facewarp.api.set_input): an Image (H x W x C float32 pixels, "
            "R, G, B[, A]), Landmarks (N x 2 pixels) or a Displacement (H x W x 2 backward field), for "
            "every frame or per frame. The output port is named after kind: image, landmarks or displacement.",
        outputs=(Output("image", "Image", "the data set by the host (kind Image)"),),
        params=(Param("kind", "enum", "Image", "type of the data and of the output port",
                      choices=tuple(KINDS)),),
    )

    def __init__(self, name, params=None, *, bypass=False):
        self._data: dict[int | None, tuple[Any, str]] = {}  # frame (None: every frame) -> (value, digest)
        super().__init__(name, params, bypass=bypass)

    # The output type follows ``kind``: each node carries its own schema.
    def set_param(self, key, value):
        super().set_param(key, value)
        if key == "kind" and value in KINDS:
            port, cls = KINDS[value]
            self.schema = replace(type(self).schema, outputs=(Output(port, cls.type_name, f"the data set by the host "
                                                                                          f"(kind {value})"),))

    # -- the host's data ----------------------------------------------------------------
    def set_data(self, value: Any, frame: int | None = None) -> None:
        """Give ``value`` (numpy array or port object) at ``frame``; ``frame=None`` gives it at every
        frame and drops per-frame data; ``value=None`` removes the data of ``frame`` (or all)."""
        if value is None:
            if frame is None:
                self._data.clear()
            else:
                self._data.pop(int(frame), None)
            return
        value = _frozen(value)
        entry = (value, _digest(value))
        if frame is None:
            self._data = {None: entry}
        else:
            self._data[int(frame)] = entry

    def _entry(self, frame: int | None) -> tuple[Any, str] | None:
        return self._data.get(frame) if frame in self._data else self._data.get(None)

    def hash_extra(self, ctx, h) -> None:
        entry = self._entry(ctx.frame)
        h.update(f"|data={entry[1] if entry else None}".encode())

    def problems(self, ctx):
        frames = ctx.frames or ((ctx.frame,) if ctx.frame is not None else ())
        missing = [f for f in frames if self._entry(f) is None]
        if missing or not self._data:
            where = f" for frame {missing[0]}" + (f" ({len(missing)} frames)" if len(missing) > 1 else "") if missing else ""
            return [self.error(ValidationError, f"no data set{where}: a host sets it with facewarp.api.set_input")]
        return []

    def compute(self, ctx, inputs):
        kind = self.param(ctx, "kind")
        port, cls = KINDS[kind]
        entry = self._entry(ctx.frame)
        if entry is None:
            raise self.error(InputError, "no data set for this frame: a host sets it with facewarp.api.set_input",
                             frame=ctx.frame)
        value = entry[0]
        if isinstance(value, np.ndarray):
            try:
                if kind == "Image":
                    channels = {1: ("Y",), 3: ("R", "G", "B"), 4: ("R", "G", "B", "A")}
                    n = value.shape[2] if value.ndim == 3 else 1
                    value = Image(value, channels.get(n, tuple(f"c{i}" for i in range(n))))
                elif kind == "Landmarks":
                    value = Landmarks(value)
                else:
                    value = Displacement(value)
            except ValueError as exc:
                raise self.error(InputError, f"the data set is not a usable {kind}: {exc}", frame=ctx.frame) from None
        if not isinstance(value, cls):
            raise self.error(InputError, f"the data set is a {type(value).__name__}, kind is {kind}", frame=ctx.frame)
        return {port: value}
