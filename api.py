"""A small, stable Python API for plugin hosts (Nuke, Blender, a farm wrapper, a notebook).

Everything a host needs without knowing the engine's modules: node schemas as JSON-able dicts,
bundled presets by name, their variables as JSON Schema, validated edits, in-process evaluation
of one frame with numpy arrays in and out, rendering with progress and cancel, and freeing memory.
Every user problem is a one-line :class:`facewarp.core.errors.FacewarpError`.

Example::

    import numpy as np
    from facewarp import api
    from facewarp.graph import Graph

    g = Graph()
    g.add("MemoryInput", "src", {"kind": "Image"})
    g.add("Grade", "grade", {"gain": 2.0})
    g.connect("src.image", "grade.image")
    out = api.evaluate(g, "grade.image", 1001, inputs={"src": np.ones((4, 4, 3), np.float32)})

    preset = api.load_preset("grade_exr")              # a bundled preset, or a file path
    api.set_var(preset, "gain", 1.5)
    api.render(preset, frames=range(1001, 1006), output_root="/shots/sh010/comp",
               progress=lambda done, total, frame, s: print(done, total), cancel=lambda: False)
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Callable, Iterable
from importlib import resources
from typing import Any

from facewarp.core.errors import FacewarpError, UsageError, ValidationError, brief, cut
from facewarp.core.memory import free_memory as _free_library_memory
from facewarp.core.types import Image
from facewarp.graph import Context, Evaluator, Graph, RenderResult, registry
from facewarp.graph import render as _render
from facewarp.graph.preset import Preset
from facewarp.graph.preset import load_preset as _load_preset_file

__all__ = ["evaluate", "free_memory", "load_preset", "node_schema", "node_types", "preset_path", "preset_vars_schema",
           "presets", "render", "set_input", "set_param", "set_var"]

_PRESET_SUFFIXES = (".yaml", ".yml")


# -- node schemas --------------------------------------------------------------------------
def node_types() -> list[dict]:
    """Every registered node type's schema (``NodeSchema.to_json()``), sorted by type name."""
    return [cls.schema.to_json() for cls in registry.node_types().values()]


def node_schema(type_name: str) -> dict:
    """One node type's schema; an unknown type is a ValidationError listing the known ones."""
    return registry.get(type_name).schema.to_json()


# -- presets -------------------------------------------------------------------------------
def _bundled() -> dict[str, Any]:
    """Bundled preset name -> resource (the YAML files of the ``facewarp.presets`` package)."""
    folder = resources.files("facewarp.presets")
    return {os.path.splitext(f.name)[0]: f for f in sorted(folder.iterdir(), key=lambda f: f.name)
            if f.name.endswith(_PRESET_SUFFIXES) and f.is_file()}


def preset_path(name_or_path: str | os.PathLike) -> str:
    """The file of a preset given by path or bundled name. A file that exists wins; then a
    bundled name (``"reanimate"``, or ``"reanimate.yaml"``); a path-like string (a folder separator
    or a .yaml/.yml suffix) is returned as it is, for the loader to report; any other unknown name
    is a UsageError listing the bundled names."""
    text = os.fspath(name_or_path)
    if os.path.exists(text):
        return text
    bundled = _bundled()
    stem = text[: -len(suffix)] if (suffix := next((s for s in _PRESET_SUFFIXES if text.endswith(s)), "")) else text
    if stem in bundled and os.sep not in text and "/" not in text:
        return os.fspath(bundled[stem])
    if suffix or os.sep in text or "/" in text:
        return text
    raise UsageError(f"no preset file or bundled preset named '{cut(text)}' (bundled: {', '.join(bundled) or 'none'})")


def presets() -> list[dict]:
    """The bundled presets: ``{"name", "description", "path"}`` each, sorted by name."""
    out = []
    for name, res in _bundled().items():
        path = os.fspath(res)
        out.append({"name": name, "description": _load_preset_file(path).description, "path": path})
    return out


def load_preset(name_or_path: str | os.PathLike) -> Preset:
    """A preset by bundled name or file path (see :func:`preset_path`), read and checked."""
    return _load_preset_file(preset_path(name_or_path))


_JSON_TYPES = {"int": "integer", "float": "number", "bool": "boolean", "enum": "string", "string": "string",
               "path": "string"}


def preset_vars_schema(preset: Preset) -> dict:
    """The preset's variables as a JSON Schema (draft 2020-12) of the object ``{name: value}``:
    type, default, minimum/maximum, enum choices and description per variable."""
    props: dict[str, dict] = {}
    for name, spec in preset.variables.items():
        default = preset.values.get(name, spec.default)
        if spec.kind in ("vec2", "vec3"):
            n = 2 if spec.kind == "vec2" else 3
            items: dict[str, Any] = {"type": "number"}
            if spec.min is not None:
                items["minimum"] = spec.min
            if spec.max is not None:
                items["maximum"] = spec.max
            prop: dict[str, Any] = {"type": "array", "items": items, "minItems": n, "maxItems": n,
                                    "default": list(default)}
        else:
            prop = {"type": _JSON_TYPES[spec.kind], "default": default}
            if spec.kind == "enum":
                prop["enum"] = list(spec.choices)
            if spec.kind == "path":
                prop["format"] = "path"
            if spec.kind in ("int", "float"):
                if spec.min is not None:
                    prop["minimum"] = spec.min
                if spec.max is not None:
                    prop["maximum"] = spec.max
        if spec.doc:
            prop["description"] = spec.doc
        props[name] = prop
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": preset.description or "preset vars",
            "type": "object", "properties": props, "additionalProperties": False}


# -- edits ---------------------------------------------------------------------------------
def set_var(preset: Preset, name: str, value: Any) -> None:
    """Set a preset variable, checked against its type and range (a UsageError, exit 2, otherwise)."""
    preset.set_var(name, value, origin="variable")


def _graph(graph_or_preset: Graph | Preset) -> Graph:
    graph = graph_or_preset.graph if isinstance(graph_or_preset, Preset) else graph_or_preset
    if not isinstance(graph, Graph):
        raise UsageError(f"expected a Graph or a Preset, got {type(graph_or_preset).__name__}")
    return graph


def _node(graph: Graph, node: str):
    if node not in graph.nodes:
        raise ValidationError(f"the graph has no node '{cut(node)}' (known: {cut(', '.join(graph.nodes) or 'none', 400)})")
    return graph.nodes[node]


def set_param(graph_or_preset: Graph | Preset, node: str, param: str, value: Any) -> None:
    """Set a node parameter. The value is checked against the parameter's kind and range now
    (a string holding ``${var}`` is checked when evaluated); a bad one is a ValidationError."""
    n = _node(_graph(graph_or_preset), node)
    spec = n.schema.param(param)
    if spec is None:
        known = ", ".join(p.name for p in n.schema.params) or "none"
        raise n.error(ValidationError, f"unknown parameter (known: {known})", param=param)
    if not (isinstance(value, str) and "$" in value):
        try:
            value = spec.coerce(value)
        except FacewarpError as exc:
            raise exc.located(node=node, node_type=n.schema.type, param=param) from None
    n.set_param(param, value)


def set_input(graph_or_preset: Graph | Preset, node: str, data: Any, frame: int | None = None) -> None:
    """Hand data to a ``MemoryInput`` node: a numpy array (or an Image, Landmarks, Displacement)
    given at every frame (``frame=None``, which drops per-frame data) or at one frame; ``None``
    removes it. A copy is kept, and the next evaluation sees exactly this data."""
    n = _node(_graph(graph_or_preset), node)
    if not hasattr(n, "set_data"):
        raise n.error(ValidationError, f"is a {n.schema.type}, not a MemoryInput: it takes no data from the host")
    try:
        n.set_data(data, frame)
    except TypeError as exc:
        raise n.error(ValidationError, str(exc)) from None


# -- evaluation ----------------------------------------------------------------------------
_ATTR = "_facewarp_api_evaluator"  # the evaluator this API keeps on each graph it evaluated
_live: weakref.WeakSet[Evaluator] = weakref.WeakSet()  # those evaluators, for free_memory()


def _evaluator(graph: Graph) -> Evaluator:
    ev = graph.__dict__.get(_ATTR)
    if ev is None:
        ev = Evaluator(graph)
        graph.__dict__[_ATTR] = ev  # lives and dies with the graph
        _live.add(ev)
    return ev


def evaluate(graph_or_preset: Graph | Preset, output_ref: str, frame: int, *, inputs: dict[str, Any] | None = None,
             frames: Iterable[int] | None = None, device: str = "cpu") -> Any:
    """Evaluate one output (``"node.port"``) at ``frame`` in this process. ``inputs`` maps
    MemoryInput node names to their data (as :func:`set_input` at every frame); ``frames`` is the
    range sequence nodes see (default: the preset's, else just ``frame``). The graph is validated
    first. An Image comes back as its pixels (a float32 H x W x C numpy copy); other port types as
    their objects. Results are cached per graph until :func:`free_memory`."""
    graph = _graph(graph_or_preset)
    for name, data in (inputs or {}).items():
        set_input(graph, name, data)
    frame = int(frame)
    if isinstance(graph_or_preset, Preset):
        ctx = graph_or_preset.context(tuple(frames) if frames is not None else None, device=device)
        if not ctx.frames:
            ctx = Context(frame=frame, frames=(frame,), fps=ctx.fps, device=device, variables=ctx.variables)
    else:
        ctx = Context(frame=frame, frames=tuple(frames) if frames is not None else (frame,), device=device)
    if frame not in ctx.frames:
        raise UsageError(f"frame {frame} is outside the range {min(ctx.frames)}-{max(ctx.frames)}", source=graph.source)
    ctx = ctx.at(frame)
    if not isinstance(output_ref, str) or output_ref.count(".") < 1:
        raise UsageError(f"an output is 'node.port', got {brief(output_ref)}")
    name, port = output_ref.rsplit(".", 1)
    n = _node(graph, name)
    if n.schema.output(port) is None:
        known = ", ".join(o.name for o in n.schema.outputs) or "none"
        raise n.error(ValidationError, f"has no output '{cut(port)}' (known: {known})", port=port)
    graph.validate(ctx)
    value = _evaluator(graph).output(output_ref, ctx)
    return value.pixels.copy() if isinstance(value, Image) else value


def render(preset: Preset, *, frames: Iterable[int] | None = None, output_root: str | os.PathLike | None = None,
           mode: str = "error", progress: Callable[[int, int, int | None, float], None] | None = None,
           cancel: Callable[[], bool] | None = None, device: str = "auto") -> RenderResult:
    """Render the preset's outputs over ``frames`` (default: the preset's range) as the CLI does,
    through :func:`facewarp.graph.render`: the same checks before anything is computed, writes
    only under ``output_root``. ``progress(done, total, frame, seconds)`` is called before the first
    frame and after each; ``cancel()`` before each frame, True raising RenderCancelled."""
    ctx = preset.context(tuple(int(f) for f in frames) if frames is not None else None, device=device,
                         write_mode=mode)
    return _render(preset.graph, ctx, mode=mode, progress=progress, cancel=cancel, output_root=output_root,
                   inputs=[preset.path] if preset.path else ())


def free_memory() -> list[str]:
    """Give memory back: the evaluators this API keeps per graph, and every library cache
    (loaded models, scratch buffers; :func:`facewarp.core.memory.free_memory`). Returns the
    names of the caches emptied."""
    for ev in list(_live):
        ev.clear()
    return _free_library_memory()
