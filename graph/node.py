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
A node that reads its inputs at other frames than its own says so in ``input_context``.

Files a node reads and writes are declared, so that problems are found before rendering:
``planned_outputs`` (writers: the files a frame writes), ``planned_inputs`` (the files a frame
reads; by default the node's ``path`` parameters that are not its outputs) and ``problems``
(node-level validation beyond each parameter's kind and range; by default, missing input files).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import replace
from typing import Any, ClassVar

from facewarp.core.errors import FacewarpError, InputError, ValidationError

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
            raise KeyError(f"{self.schema.type} has no parameter '{name}'")
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

    def input_context(self, ctx: Context) -> Context:
        """The context this node's inputs are pulled and hashed at when it is evaluated at
        ``ctx`` (not when bypassed). Default: ``ctx``. A node that reads its inputs elsewhere
        says so here - FrameHold: one frame, as if the range were that frame alone, so that
        sequence nodes upstream compute once, over that frame."""
        return ctx

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

    def planned_inputs(self, ctx: Context) -> list[str]:
        """The files this frame reads. Default: the value of every ``path`` parameter, as
        substituted for this frame, that is set and is not one of the node's own outputs. A node
        that reads other files (or not all of its paths) overrides this. The pre-flight uses it:
        no output of a run may be one of its inputs, and a missing input is a validation problem."""
        outputs = set(self.planned_outputs(ctx)) if self.schema.is_writer else set()
        files = []
        for spec in self.schema.params:
            if spec.kind == "path":
                value = self.param(ctx, spec.name)
                if value and value not in outputs:
                    files.append(value)
        return files

    def problems(self, ctx: Context) -> list[FacewarpError]:
        """Node-level validation beyond each parameter's kind and range, for the frames of
        ``ctx.frames`` (or ``ctx.frame``): every problem knowable before rendering, each a
        one-line error. ``Graph.problems`` calls it for nodes that are not bypassed, after their
        parameters validated. Overrides add their own checks to ``super().problems(ctx)``.
        Default: :meth:`missing_inputs`."""
        return self.missing_inputs(ctx)

    def tolerates_missing_inputs(self, ctx: Context) -> bool:
        """Whether a missing frame of an input sequence is handled rather than an error. The
        convention: an enum parameter ``missing`` whose value is not "error" (PlateRead: hold the
        nearest frame, or black); it still needs some frame of the sequence on disk."""
        spec = self.schema.param("missing")
        if spec is None or spec.kind != "enum":
            return False
        try:
            return self.param(ctx, "missing") != "error"
        except FacewarpError:
            return False

    def inputs_over(self, ctx: Context, frames: tuple[int, ...]) -> list[tuple[int, list[str]]]:
        """``(frame, planned_inputs)`` for the frames. With the default ``planned_inputs``, files
        that are the same at two consecutive frames are the same at every frame (only ``${frame}``
        and frame tokens vary): then the first frame stands for all of them."""
        if not frames:
            return []
        first = self.planned_inputs(ctx.at(frames[0]))
        if type(self).planned_inputs is Node.planned_inputs and first == self.planned_inputs(ctx.at(frames[0] + 1)):
            return [(frames[0], first)]
        return [(frames[0], first)] + [(f, self.planned_inputs(ctx.at(f))) for f in frames[1:]]

    def missing_inputs(self, ctx: Context) -> list[FacewarpError]:
        """Input files (``planned_inputs``) that do not exist for some frame of the range. A frame
        the node reports on disk (``frames_available``, which knows its offsets and frame lists)
        counts as present, and so does every frame when the node tolerates missing ones."""
        frames = ctx.frames or ((ctx.frame,) if ctx.frame is not None else ())
        try:
            per_frame = self.inputs_over(ctx, frames)
        except FacewarpError:
            return []  # a parameter problem: reported on its own
        if not any(files for _, files in per_frame):
            return []
        try:
            available = set(self.frames_available(replace(ctx, frame=None)))
        except FacewarpError:
            available = set()
        tolerant = bool(available) and self.tolerates_missing_inputs(ctx)
        exists: dict[str, bool] = {}
        missing: list[tuple[int, str]] = []
        for frame, files in per_frame:
            for path in files:
                if tolerant or frame in available:
                    continue
                if path not in exists:
                    exists[path] = os.path.exists(path)
                if not exists[path]:
                    missing.append((frame, path))
        if not missing:
            return []
        try:  # files that do not change with the frame (a still, a model) are named once
            stills = set(self.planned_inputs(ctx.at(frames[0]))) & set(self.planned_inputs(ctx.at(frames[0] + 1)))
        except FacewarpError:
            stills = set()
        out: list[FacewarpError] = []
        named: set[str] = set()
        for frame, path in missing:
            if path in stills and path not in named:
                named.add(path)
                out.append(self.error(InputError, "input file does not exist", file=path,
                                      param=self.path_param_of(ctx.at(frame), path)))
        sequence = [(f, p) for f, p in missing if p not in stills]
        if sequence:  # worded as when rendering meets it
            frame, path = sequence[0]
            more = f" ({len(sequence)} frames of the range are missing)" if len(sequence) > 1 else ""
            out.append(self.error(InputError, f"missing frame of the sequence{more}", file=path, frame=frame))
        return out

    def path_param_of(self, ctx: Context, path: str) -> str | None:
        """The ``path`` parameter whose value at this frame is ``path`` (for messages)."""
        for spec in self.schema.params:
            if spec.kind == "path":
                try:
                    if self.param(ctx, spec.name) == path:
                        return spec.name
                except FacewarpError:
                    continue
        return None

    # -- errors -----------------------------------------------------------------------
    def error(self, cls=FacewarpError, message: str = "", **fields) -> FacewarpError:
        return cls(message, node=self.name, node_type=self.schema.type, **fields)

    def __repr__(self) -> str:
        return f"<{self.schema.type} '{self.name}'>"
