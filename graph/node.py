"""The node base class.

A node type subclasses :class:`Node`, sets ``schema`` (a :class:`NodeSchema`) and
implements ``compute``. Following Gaffer, ``hash()`` is kept apart from ``compute()``: the
engine asks for the hash first and only computes on a cache miss. The default hash covers
exactly what a node reads: its type and version, its parameters *as substituted for this
context* (a path with ``####`` therefore changes per frame, a constant one does not) and
the hashes of its connected inputs. A node whose computation reads the frame in another
way sets ``schema.time_dependent``; one that reads files adds their identity in
``hash_extra``.

Sequence nodes (``schema.requires_sequence``) implement ``compute_sequence`` instead: the
engine calls it once for the whole requested range with a ``fetch(frame)`` function that
pulls the node's inputs for any frame of the range, and serves per-frame results from it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any, ClassVar

from facewarp.core.errors import FacewarpError, ValidationError

from .context import Context
from .schema import NodeSchema


class Node:
    schema: ClassVar[NodeSchema]
    version: ClassVar[int] = 1  # bump when a change makes old cached results wrong

    def __init__(self, name: str, params: dict[str, Any] | None = None, *, bypass: bool = False):
        self.name = name
        self.bypass = bool(bypass)
        self.params: dict[str, Any] = {p.name: p.default for p in self.schema.params}
        for key, value in (params or {}).items():
            self.set_param(key, value)

    # -- parameters -------------------------------------------------------------------
    def set_param(self, key: str, value: Any) -> None:
        if self.schema.param(key) is None:
            known = ", ".join(p.name for p in self.schema.params) or "none"
            raise self.error(ValidationError, f"unknown parameter (known: {known})", param=key)
        self.params[key] = value

    def param(self, ctx: Context, name: str) -> Any:
        """The parameter's value for this context: variables and frame tokens expanded,
        checked and converted to its kind."""
        spec = self.schema.param(name)
        if spec is None:
            raise KeyError(f"{self.schema.type} has no parameter {name!r}")
        raw = self.params[name]
        try:
            value = ctx.substitute(raw, frames=spec.kind == "path") if isinstance(raw, str) else raw
            if value is None and not spec.required:
                return None
            return spec.coerce(value)
        except FacewarpError as exc:
            exc.located(node=self.name, node_type=self.schema.type, param=name, frame=ctx.frame)
            raise

    def param_values(self, ctx: Context) -> dict[str, Any]:
        return {p.name: self.param(ctx, p.name) for p in self.schema.params}

    # -- hashing ----------------------------------------------------------------------
    def hash(self, ctx: Context, upstream: dict[str, str]) -> str:
        """Hash of everything ``compute`` reads. ``upstream`` maps input port -> hash."""
        h = hashlib.blake2b(digest_size=16)
        h.update(f"{self.schema.type}/v{self.version}/bypass={self.bypass}".encode())
        for key, value in sorted(self.param_values(ctx).items()):
            h.update(f"|{key}={value!r}".encode())
        for port in sorted(upstream):
            h.update(f"|<{port}={upstream[port]}".encode())
        if self.schema.time_dependent:
            h.update(f"|frame={ctx.frame}".encode())
        self.hash_extra(ctx, h)
        return h.hexdigest()

    def hash_extra(self, ctx: Context, h) -> None:
        """Add anything else the computation reads (file identity, device...)."""

    # -- computation ------------------------------------------------------------------
    def compute(self, ctx: Context, inputs: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError(f"{type(self).__name__}.compute")

    def compute_sequence(self, ctx: Context, frames: tuple[int, ...],
                         fetch: Callable[[int], dict[str, Any]]) -> dict[int, dict[str, Any]]:
        """For ``requires_sequence`` nodes: results for every frame of ``frames``."""
        raise NotImplementedError(f"{type(self).__name__}.compute_sequence")

    def bypass_outputs(self, inputs: dict[str, Any]) -> dict[str, Any]:
        """Outputs when bypassed: each output takes the first input of the same type."""
        out = {}
        for o in self.schema.outputs:
            src = next((i.name for i in self.schema.inputs if i.type == o.type and i.name in inputs), None)
            if src is None:
                raise self.error(ValidationError, f"cannot be bypassed: no connected {o.type} input feeds output '{o.name}'", port=o.name)
            out[o.name] = inputs[src]
        return out

    # -- sources and writers ----------------------------------------------------------
    def frames_available(self, ctx: Context) -> tuple[int, ...]:
        """Sources: the frames that exist on disk (evaluated frame numbers), for a default
        range when none is given. ``ctx`` has no frame. Empty: no opinion."""
        return ()

    def planned_outputs(self, ctx: Context) -> list[str]:
        """Writers: the files this frame would write (render() checks them before computing)."""
        return []

    # -- errors -----------------------------------------------------------------------
    def error(self, cls=FacewarpError, message: str = "", **fields) -> FacewarpError:
        return cls(message, node=self.name, node_type=self.schema.type, **fields)

    def __repr__(self) -> str:
        return f"<{self.schema.type} '{self.name}'>"
