"""Declarative node schemas: one object per node type lists its inputs, outputs and
parameters. Validation, ``facewarp nodes`` help text and the JSON schema that host UIs
(Nuke, Blender) build panels from are all generated from it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from facewarp.core.errors import ValidationError, brief
from facewarp.core.types import PORT_TYPES

PARAM_KINDS = ("int", "float", "bool", "enum", "string", "path", "vec2", "vec3")
# A port type that is none of PORT_TYPES: an ``Any`` input takes any output, and a node's ``Any``
# outputs carry the type of what feeds its first ``Any`` input (FrameHold: what it holds), which
# is what validation checks downstream connections against (``Graph.output_type``).
ANY = "Any"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class Param:
    """A scalar parameter with its kind, default, documentation and constraints."""

    name: str
    kind: str
    default: Any = None
    doc: str = ""
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] = ()
    required: bool = False  # no usable default: the preset must set it

    def __post_init__(self):
        if self.kind not in PARAM_KINDS:
            raise ValueError(f"param {self.name}: unknown kind {self.kind!r}")
        if self.kind == "enum" and not self.choices:
            raise ValueError(f"param {self.name}: enum needs choices")

    def coerce(self, value: Any) -> Any:
        """Check and convert ``value``; raise ValidationError (param set by caller)."""
        kind = self.kind
        if kind == "bool":
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
                return value.strip().lower() in _TRUE
            if isinstance(value, int) and value in (0, 1):
                return bool(value)
            raise self._bad(value, "a boolean (true/false)")
        if kind == "int":
            if isinstance(value, bool):
                raise self._bad(value, "an integer")
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            if isinstance(value, str):
                try:
                    value = int(value.strip())
                except ValueError:
                    raise self._bad(value, "an integer") from None
            if not isinstance(value, int):
                raise self._bad(value, "an integer")
            return self._range(value)
        if kind == "float":
            if isinstance(value, bool):
                raise self._bad(value, "a number")
            if isinstance(value, str):
                try:
                    value = float(value.strip())
                except ValueError:
                    raise self._bad(value, "a number") from None
            if not isinstance(value, (int, float)) or not math.isfinite(value):
                raise self._bad(value, "a finite number")
            return self._range(float(value))
        if kind == "enum":
            if not isinstance(value, str) or value not in self.choices:
                raise self._bad(value, "one of " + "|".join(self.choices))
            return value
        if kind in ("string", "path"):
            if isinstance(value, bool) or not isinstance(value, (str, int, float)):
                raise self._bad(value, "a string" if kind == "string" else "a file path")
            value = str(value)
            if kind == "path" and self.required and not value:
                raise self._bad(value, "a non-empty file path")
            return value
        # vec2 / vec3
        n = 2 if kind == "vec2" else 3
        if isinstance(value, str):
            parts = [p for p in value.replace(",", " ").split() if p]
            value = parts
        if not isinstance(value, (list, tuple)) or len(value) != n:
            raise self._bad(value, f"a list of {n} numbers")
        out = []
        for v in value:
            try:
                if isinstance(v, bool):
                    raise ValueError
                f = float(v)
            except (TypeError, ValueError):
                raise self._bad(value, f"a list of {n} numbers") from None
            if not math.isfinite(f):
                raise self._bad(value, f"a list of {n} finite numbers")
            out.append(self._range(f))
        return tuple(out)

    def _range(self, value):
        if self.min is not None and value < self.min:
            raise self._bad(value, f"a value >= {self.min}")
        if self.max is not None and value > self.max:
            raise self._bad(value, f"a value <= {self.max}")
        return value

    def _bad(self, value, expected: str) -> ValidationError:
        return ValidationError(f"expected {expected}, got {brief(value, 60)}", param=self.name)

    def to_json(self) -> dict:
        out = {"name": self.name, "kind": self.kind, "default": _jsonable(self.default), "doc": self.doc}
        if self.min is not None:
            out["min"] = self.min
        if self.max is not None:
            out["max"] = self.max
        if self.choices:
            out["choices"] = list(self.choices)
        if self.required:
            out["required"] = True
        return out

    def describe(self) -> str:
        bits = [self.kind]
        if self.choices:
            bits.append("|".join(self.choices))
        if self.min is not None or self.max is not None:
            lo = "-inf" if self.min is None else f"{self.min:g}"
            hi = "inf" if self.max is None else f"{self.max:g}"
            bits.append(f"[{lo}, {hi}]")
        default = "required" if self.required else f"default {self.default!r}"
        return f"{self.name} ({', '.join(bits)}; {default}): {self.doc}"


@dataclass(frozen=True)
class Input:
    name: str
    type: str  # a PORT_TYPES key, or ANY
    doc: str = ""
    optional: bool = False

    def __post_init__(self):
        if self.type not in PORT_TYPES and self.type != ANY:
            raise ValueError(f"input {self.name}: unknown port type {self.type!r}")

    def to_json(self) -> dict:
        return {"name": self.name, "type": self.type, "doc": self.doc, "optional": self.optional}


@dataclass(frozen=True)
class Output:
    name: str
    type: str
    doc: str = ""

    def __post_init__(self):
        if self.type not in PORT_TYPES and self.type != ANY:
            raise ValueError(f"output {self.name}: unknown port type {self.type!r}")

    def to_json(self) -> dict:
        return {"name": self.name, "type": self.type, "doc": self.doc}


@dataclass(frozen=True)
class NodeSchema:
    """Everything a host or the validator needs to know about a node type."""

    type: str
    doc: str
    inputs: tuple[Input, ...] = ()
    outputs: tuple[Output, ...] = ()
    params: tuple[Param, ...] = ()
    category: str = "general"
    # The computation reads the current frame (not only through its inputs/params).
    time_dependent: bool = False
    # Evaluated once over the whole requested range (temporal smoothing, per-shot identity).
    requires_sequence: bool = False
    # Writes files: the CLI checks overwrite policy before rendering and pulls it per frame.
    is_writer: bool = False

    def __post_init__(self):
        for group in (self.inputs, self.outputs, self.params):
            names = [x.name for x in group]
            if len(set(names)) != len(names):
                raise ValueError(f"{self.type}: duplicate names in {names}")
        if any(o.type == ANY for o in self.outputs) and not any(i.type == ANY for i in self.inputs):
            raise ValueError(f"{self.type}: an {ANY} output takes its type from an {ANY} input; there is none")

    def input(self, name: str) -> Input | None:
        return next((i for i in self.inputs if i.name == name), None)

    def output(self, name: str) -> Output | None:
        return next((o for o in self.outputs if o.name == name), None)

    def param(self, name: str) -> Param | None:
        return next((p for p in self.params if p.name == name), None)

    def to_json(self) -> dict:
        return {
            "type": self.type,
            "category": self.category,
            "doc": self.doc,
            "inputs": [i.to_json() for i in self.inputs],
            "outputs": [o.to_json() for o in self.outputs],
            "params": [p.to_json() for p in self.params],
            "time_dependent": self.time_dependent,
            "requires_sequence": self.requires_sequence,
            "is_writer": self.is_writer,
        }

    def help_text(self) -> str:
        lines = [f"{self.type} [{self.category}]", f"  {self.doc}"]
        if self.requires_sequence:
            lines.append("  (evaluated once over the whole frame range)")
        lines.append("  inputs:")
        lines += [f"    {i.name}: {i.type}{' (optional)' if i.optional else ''} - {i.doc}" for i in self.inputs] or ["    (none)"]
        lines.append("  outputs:")
        lines += [f"    {o.name}: {o.type} - {o.doc}" for o in self.outputs] or ["    (none)"]
        lines.append("  params:")
        lines += [f"    {p.describe()}" for p in self.params] or ["    (none)"]
        return "\n".join(lines)


def _jsonable(value):
    if isinstance(value, tuple):
        return list(value)
    return value
