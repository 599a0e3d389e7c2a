"""YAML presets: load (with line numbers for errors), validate, save (round-trips).

Format (version 1)::

    facewarp: 1                       # format version (required)
    description: grade a plate        # optional
    frames: 1001-1010                 # optional default range (CLI --frames wins)
    fps: 24                           # optional
    vars:                             # typed, documented, overridable with --set name=value
      plate: {type: path, default: plates/sh010.####.exr, doc: input plate sequence}
      gain: {type: float, default: 1.0, min: 0, doc: exposure multiplier}
    nodes:
      read:  {type: PlateRead, params: {path: "${plate}"}}
      grade: {type: Grade, params: {gain: "${gain}"}, inputs: {image: read.image}}
      write: {type: PlateWrite, params: {path: "${out}"}, inputs: {image: grade.image}}
    outputs: [write]                  # nodes rendered per frame

Only safe YAML is read (``yaml.SafeLoader``'s constructors: no Python objects): presets come
from strangers on a farm. Limits, each refused with one line before any large amount of work:
a preset file is at most ``MAX_PRESET_BYTES`` (only that much is ever read), its YAML holds at
most ``MAX_YAML_NODES`` values counting every use of an alias as a full copy of what it names
(an "alias bomb" of a few hundred bytes would otherwise expand to billions), nests at most
``MAX_YAML_DEPTH`` levels, and an alias may not refer to a node that contains it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import yaml

from facewarp.core.errors import FacewarpError, PresetError, UsageError, ValidationError, brief, cut
from facewarp.core.files import atomic_output

from .context import Context, parse_frames
from .graph import Graph, split_ref
from .schema import PARAM_KINDS, Param

FORMAT_VERSION = 1
_TOP_KEYS = ("facewarp", "description", "frames", "fps", "vars", "nodes", "outputs")
_NODE_KEYS = ("type", "params", "inputs", "bypass", "doc")
_VAR_KEYS = ("type", "default", "doc", "min", "max", "choices")
MAX_PRESET_BYTES = 1 << 20  # 1 MiB; shipped presets are 1-3 kB
MAX_YAML_NODES = 50_000  # YAML values, an alias counting as a copy of what it names
MAX_YAML_DEPTH = 64  # nesting levels


class _LineDict(dict):
    """A mapping that remembers the line (1-based) of each key."""

    lines: dict


try:
    from yaml.cyaml import CParser as _CParser
except ImportError:  # pragma: no cover - PyYAML without libyaml
    _CParser = None

if _CParser is not None:
    class _SafeBase(_CParser, yaml.composer.Composer, yaml.constructor.SafeConstructor, yaml.resolver.Resolver):
        """libyaml scans and parses; composing stays in Python so the limits below apply while
        the document is read (libyaml's own composer would build it all first)."""

        def __init__(self, stream):
            _CParser.__init__(self, stream)
            yaml.composer.Composer.__init__(self)
            yaml.constructor.SafeConstructor.__init__(self)
            yaml.resolver.Resolver.__init__(self)

        check_node = yaml.composer.Composer.check_node
        get_node = yaml.composer.Composer.get_node
        get_single_node = yaml.composer.Composer.get_single_node
else:  # pragma: no cover
    _SafeBase = yaml.SafeLoader


class _SafeLineLoader(_SafeBase):
    """Safe constructors only (no Python object construction); mappings remember key lines; the
    document is refused past MAX_YAML_NODES values (aliases counted expanded) or MAX_YAML_DEPTH."""

    source = "<preset>"

    def __init__(self, stream):
        super().__init__(stream)
        self._total = 0  # values composed so far, each alias use counting the size of its target
        self._depth = 0
        self._sizes: dict[int, int] = {}  # id(node) -> expanded size, once the node is complete

    def _refuse(self, message: str, mark) -> PresetError:
        return PresetError(message, line=mark.line + 1 if mark is not None else None, source=self.source)

    def _grow(self, n: int, mark) -> None:
        self._total += n
        if self._total > MAX_YAML_NODES:
            raise self._refuse(f"the preset holds more than {MAX_YAML_NODES} YAML values (each use of an alias "
                               "counts as a copy of what it names); refused", mark)

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            target = self.anchors.get(event.anchor)
            if target is not None:
                size = self._sizes.get(id(target))
                if size is None:  # still being composed: the alias is inside what it names
                    raise self._refuse(f"alias *{cut(event.anchor, 40)} refers to a node that contains it "
                                       "(recursive YAML is not allowed)", event.start_mark)
                self._grow(size, event.start_mark)
            return super().compose_node(parent, index)
        mark = self.peek_event().start_mark
        self._depth += 1
        if self._depth > MAX_YAML_DEPTH:
            raise self._refuse(f"YAML nested more than {MAX_YAML_DEPTH} levels deep", mark)
        start = self._total
        self._grow(1, mark)
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        self._sizes[id(node)] = self._total - start
        return node


def _construct_line_mapping(loader, node):
    loader.flatten_mapping(node)  # YAML merge keys (<<)
    mapping = _LineDict()
    mapping.lines = {"__self__": node.start_mark.line + 1}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:
            raise yaml.constructor.ConstructorError(None, None, "found an unhashable key", key_node.start_mark) from None
        mapping[key] = loader.construct_object(value_node, deep=True)
        mapping.lines[key] = key_node.start_mark.line + 1
    return mapping


_SafeLineLoader.add_constructor("tag:yaml.org,2002:map", _construct_line_mapping)


def _safe_load_with_lines(text: str, source: str):
    loader = None
    try:
        loader = _SafeLineLoader(text)  # the reader already rejects control characters here
        loader.source = source
        return loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise PresetError(f"YAML syntax: {cut(exc.problem or exc.context, 200)}", line=line, source=source) from None
    except yaml.YAMLError as exc:
        raise PresetError(f"YAML: {cut(str(exc), 200)}", source=source) from None
    except (TypeError, ValueError, RecursionError) as exc:  # unhashable keys, bad timestamps, deep nesting
        raise PresetError(f"YAML structure: {cut(str(exc), 200)}", source=source) from None
    finally:
        if loader is not None:
            loader.dispose()


def _line(mapping, key) -> int | None:
    lines = getattr(mapping, "lines", None)
    return lines.get(key) if lines else None


@dataclass
class Preset:
    graph: Graph
    variables: dict[str, Param] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)
    frames: str | None = None
    fps: float = 24.0
    description: str = ""
    path: str | None = None
    node_docs: dict[str, str] = field(default_factory=dict)

    # -- variables --------------------------------------------------------------------
    def set_var(self, name: str, value: Any, *, origin: str = "--set") -> None:
        """Set a variable, checked against its type and range; errors start with ``origin``
        (the CLI's ``--set``, a host's own word)."""
        spec = self.variables.get(name)
        if spec is None:
            known = ", ".join(self.variables) or "none"
            raise UsageError(f"{origin} {cut(name)}: the preset has no variable '{cut(name)}' (known: {cut(known, 400)})",
                             source=self.path)
        try:
            self.values[name] = spec.coerce(value)
        except FacewarpError as exc:
            raise UsageError(f"{origin} {name}: {exc.message}", source=self.path) from None

    def apply_sets(self, assignments: list[str]) -> None:
        for item in assignments:
            if "=" not in item:
                raise UsageError(f"--set expects name=value, got '{cut(item)}'")
            name, value = item.split("=", 1)
            self.set_var(name.strip(), value)

    def context(self, frames: tuple[int, ...] | None = None, device: str = "auto", write_mode: str = "error") -> Context:
        if frames is None:
            frames = parse_frames(self.frames) if self.frames else ()
        variables = dict(self.values)
        if self.path:
            variables.setdefault("PRESET_DIR", os.path.dirname(os.path.abspath(self.path)))
        return Context(frame=frames[0] if frames else None, frames=tuple(frames), fps=self.fps, device=device,
                       write_mode=write_mode, variables=variables)

    # -- saving -----------------------------------------------------------------------
    def to_dict(self) -> dict:
        out: dict[str, Any] = {"facewarp": FORMAT_VERSION}
        if self.description:
            out["description"] = self.description
        if self.frames:
            out["frames"] = self.frames
        out["fps"] = self.fps
        if self.variables:
            out["vars"] = {}
            for name, spec in self.variables.items():
                entry: dict[str, Any] = {"type": spec.kind, "default": _plain(self.values.get(name, spec.default))}
                if spec.doc:
                    entry["doc"] = spec.doc
                if spec.min is not None:
                    entry["min"] = spec.min
                if spec.max is not None:
                    entry["max"] = spec.max
                if spec.choices:
                    entry["choices"] = list(spec.choices)
                out["vars"][name] = entry
        nodes: dict[str, Any] = {}
        for name, node in self.graph.nodes.items():
            entry = {"type": node.schema.type}
            params = {k: _plain(v) for k, v in node.params.items() if v != node.schema.param(k).default}
            if params:
                entry["params"] = params
            inputs = {port: f"{src}.{src_port}" for port, (src, src_port) in self.graph.inputs_of(name).items()}
            if inputs:
                entry["inputs"] = inputs
            if node.bypass:
                entry["bypass"] = True
            if self.node_docs.get(name):
                entry["doc"] = self.node_docs[name]
            nodes[name] = entry
        out["nodes"] = nodes
        out["outputs"] = list(self.graph.outputs)
        return out

    def dumps(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=False)

    def save(self, path: str, overwrite: bool = False) -> None:
        with atomic_output(path, overwrite) as tmp, open(tmp, "w", encoding="utf-8") as fh:
            fh.write(self.dumps())


def _plain(value):
    return list(value) if isinstance(value, tuple) else value


def _too_large(size: str) -> str:
    return f"preset is larger than {MAX_PRESET_BYTES // 1024} KiB ({size}); refused without reading it"


def load_preset(path: str) -> Preset:
    """Read and check a preset file (at most MAX_PRESET_BYTES are read)."""
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size > MAX_PRESET_BYTES:
                raise PresetError(_too_large(f"{size} bytes"), file=path)
            data = fh.read(MAX_PRESET_BYTES + 1)  # a pipe or device reports no size: read one byte more, no more
        if len(data) > MAX_PRESET_BYTES:
            raise PresetError(_too_large("more"), file=path)
        text = data.decode("utf-8")
    except FileNotFoundError:
        raise PresetError("preset file does not exist", file=path) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PresetError(f"cannot read preset: {cut(str(exc), 200)}", file=path) from None
    return loads_preset(text, source=path)


def loads_preset(text: str, source: str = "<preset>") -> Preset:
    if not isinstance(text, str):
        raise PresetError(f"a preset is YAML text, got {type(text).__name__}", source=source)
    if len(text) > MAX_PRESET_BYTES:  # characters: a lower bound of the bytes
        raise PresetError(_too_large(f"{len(text)} characters"), source=source)
    data = _safe_load_with_lines(text, source)
    path = source if source != "<preset>" else None

    def err(message, key=None, mapping=None, **fields):
        return PresetError(message, line=_line(mapping if mapping is not None else data, key) if key is not None else None,
                           source=source, **fields)

    if not isinstance(data, dict):
        raise PresetError(f"a preset must be a YAML mapping, got {type(data).__name__}", source=source)
    for key in data:
        if key not in _TOP_KEYS:
            raise err(f"unknown top-level key {brief(key)} (expected {', '.join(_TOP_KEYS)})", key)
    if "facewarp" not in data:
        raise err("missing 'facewarp: 1' version key")
    version = data["facewarp"]
    if version != FORMAT_VERSION or isinstance(version, bool):
        raise err(f"unsupported preset version {brief(version)} (this facewarp reads version {FORMAT_VERSION})", "facewarp")
    description = data.get("description") or ""
    if not isinstance(description, str):
        raise err("description must be a string", "description")
    frames = data.get("frames")
    if frames is not None:
        if isinstance(frames, bool) or not isinstance(frames, (str, int)):
            raise err(f"frames must be a range like '1001-1100', got {brief(frames)}", "frames")
        frames = str(frames)
        try:
            parse_frames(frames)
        except FacewarpError as exc:
            raise err(exc.message, "frames") from None
    fps = data.get("fps", 24.0)
    if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not (0 < fps < 10000):
        raise err(f"fps must be a positive number, got {brief(fps)}", "fps")

    preset = Preset(graph=Graph(source=source), frames=frames, fps=float(fps), description=description, path=path)

    raw_vars = data.get("vars") or {}
    if not isinstance(raw_vars, dict):
        raise err("vars must be a mapping of name -> {type, default, doc}", "vars")
    for name, spec in raw_vars.items():
        line = _line(raw_vars, name)
        if not isinstance(name, str) or not name.isidentifier():
            raise PresetError(f"variable names must be identifiers, got {brief(name)}", line=line, source=source)
        preset.variables[name] = _parse_var(name, spec, line, source)
        preset.values[name] = preset.variables[name].default

    raw_nodes = data.get("nodes")
    if not isinstance(raw_nodes, dict) or not raw_nodes:
        raise err("nodes must be a non-empty mapping of name -> {type, params, inputs}", "nodes" if "nodes" in data else None)
    graph = preset.graph
    for name, entry in raw_nodes.items():
        line = _line(raw_nodes, name)
        if not isinstance(name, str) or not name or "." in name:
            raise PresetError(f"node names must be non-empty strings without '.', got {brief(name)}", line=line, source=source)
        if not isinstance(entry, dict):
            raise PresetError("a node must be a mapping with 'type'", node=name, line=line, source=source)
        for key in entry:
            if key not in _NODE_KEYS:
                raise PresetError(f"unknown key {brief(key)} (expected {', '.join(_NODE_KEYS)})", node=name,
                                  line=_line(entry, key) or line, source=source)
        type_name = entry.get("type")
        if not isinstance(type_name, str):
            raise PresetError(f"node 'type' must be a node type name, got {brief(type_name)}", node=name,
                              line=_line(entry, "type") or line, source=source)
        params = entry.get("params") or {}
        if not isinstance(params, dict) or not all(isinstance(k, str) for k in params):
            raise PresetError("params must be a mapping of name -> value", node=name,
                              line=_line(entry, "params") or line, source=source)
        bypass = entry.get("bypass", False)
        if not isinstance(bypass, bool):
            raise PresetError(f"bypass must be true or false, got {brief(bypass)}", node=name,
                              line=_line(entry, "bypass") or line, source=source)
        doc = entry.get("doc", "")
        if not isinstance(doc, str):
            raise PresetError("doc must be a string", node=name, line=_line(entry, "doc") or line, source=source)
        graph.lines[(name,)] = line
        graph.lines[(name, "type")] = _line(entry, "type") or line
        for key in params:
            graph.lines[(name, "param", key)] = _line(params, key) or line
        for key, value in params.items():
            if value is not None and not isinstance(value, (str, int, float, bool, list)):
                raise PresetError(f"value must be a scalar or a list, got {type(value).__name__}", node=name,
                                  param=key, line=graph.lines[(name, "param", key)], source=source)
        graph.add(type_name, name, params, bypass=bypass)
        if doc:
            preset.node_docs[name] = doc
        inputs = entry.get("inputs") or {}
        if not isinstance(inputs, dict):
            raise PresetError("inputs must be a mapping of port -> node.output", node=name,
                              line=_line(entry, "inputs") or line, source=source)
        for port, ref in inputs.items():
            pline = _line(inputs, port) or line
            if not isinstance(port, str):
                raise PresetError(f"input port names must be strings, got {brief(port)}", node=name, line=pline, source=source)
            graph.lines[(name, "input", port)] = pline
            try:
                src, src_port = split_ref(ref, f"input '{port}'")
            except ValidationError as exc:
                raise PresetError(exc.message, node=name, port=port, line=pline, source=source) from None
            graph.connect(f"{src}.{src_port}", f"{name}.{port}")

    outputs = data.get("outputs")
    if outputs is None:
        outputs = [n for n, node in graph.nodes.items() if node.schema.is_writer]
    if isinstance(outputs, str):
        outputs = [outputs]
    if not isinstance(outputs, list) or not all(isinstance(o, str) for o in outputs):
        raise err("outputs must be a list of node names", "outputs")
    graph.outputs = list(outputs)
    graph.lines[("outputs",)] = _line(data, "outputs")
    return preset


def _parse_var(name: str, spec: Any, line: int | None, source: str) -> Param:
    if not isinstance(spec, dict):  # shorthand: `gain: 1.0`
        if isinstance(spec, bool):
            kind = "bool"
        elif isinstance(spec, int):
            kind = "int"
        elif isinstance(spec, float):
            kind = "float"
        elif isinstance(spec, str) or spec is None:
            kind, spec = "string", spec or ""
        else:
            raise PresetError(f"variable '{name}': give {{type, default, doc}} or a scalar default", line=line, source=source)
        return Param(name, kind, spec)
    for key in spec:
        if key not in _VAR_KEYS:
            raise PresetError(f"variable '{name}': unknown key {brief(key)} (expected {', '.join(_VAR_KEYS)})",
                              line=_line(spec, key) or line, source=source)
    kind = spec.get("type", "string")
    if kind not in PARAM_KINDS:
        raise PresetError(f"variable '{name}': type must be one of {', '.join(PARAM_KINDS)}, got {brief(kind)}",
                          line=_line(spec, "type") or line, source=source)
    doc = spec.get("doc", "")
    lo, hi = spec.get("min"), spec.get("max")
    for label, bound in (("min", lo), ("max", hi)):
        if bound is not None and (isinstance(bound, bool) or not isinstance(bound, (int, float))):
            raise PresetError(f"variable '{name}': {label} must be a number", line=_line(spec, label) or line, source=source)
    choices = spec.get("choices") or ()
    if not isinstance(choices, (list, tuple)) or not all(isinstance(c, str) for c in choices):
        raise PresetError(f"variable '{name}': choices must be a list of strings", line=_line(spec, "choices") or line,
                          source=source)
    if kind == "enum" and not choices:
        raise PresetError(f"variable '{name}': enum needs choices", line=line, source=source)
    if not isinstance(doc, str):
        raise PresetError(f"variable '{name}': doc must be a string", line=_line(spec, "doc") or line, source=source)
    param = Param(name, kind, None, doc, min=lo, max=hi, choices=tuple(choices))
    default = spec.get("default")
    if default is None:
        default = {"string": "", "path": ""}.get(kind)
        if default is None:
            raise PresetError(f"variable '{name}': needs a default", line=line, source=source)
    try:
        default = param.coerce(default)
    except FacewarpError as exc:
        raise PresetError(f"variable '{name}' default: {exc.message}", line=_line(spec, "default") or line,
                          source=source) from None
    return Param(name, kind, default, doc, min=lo, max=hi, choices=tuple(choices))
