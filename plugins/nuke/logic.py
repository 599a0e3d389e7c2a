"""What the Nuke plugin decides, as plain functions (importable without Nuke, tested directly):
preset variables -> knob descriptions, output sequences and Nuke file patterns, frame ranges, the
command line the Render button launches, and its progress lines.

Untested in a real Nuke (see README, "Nuke")."""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from importlib import resources
from typing import Any

from facewarp.core.frames import has_token
from facewarp.graph.context import Context
from facewarp.graph.preset import Preset, load_preset
from facewarp.graph.schema import Param

# preset variable kind -> Nuke knob class
KNOB_CLASSES = {
    "int": "Int_Knob",
    "float": "Double_Knob",
    "bool": "Boolean_Knob",
    "enum": "Enumeration_Knob",
    "string": "String_Knob",
    "path": "File_Knob",
    "vec2": "XY_Knob",
    "vec3": "XYZ_Knob",
}
# Knobs the plugin adds to the Group besides the preset's variables (prefixed so they never clash).
PRESET_KNOB, OUTPUT_ROOT_KNOB, FRAMES_KNOB, RENDER_KNOB, STATUS_KNOB = (
    "fw_preset", "fw_output_root", "fw_frames", "fw_render", "fw_status")
PLUGIN_KNOBS = (PRESET_KNOB, OUTPUT_ROOT_KNOB, FRAMES_KNOB, RENDER_KNOB, STATUS_KNOB)
# Nuke's STMap node: input 0 is 'src' (the image to distort), input 1 is 'stmap' (the UV image).
# From Nuke's documentation and public scripts; not checked in a real Nuke here.
STMAP_INPUTS = {"src": 0, "stmap": 1}
# Copy node: input 0 is 'B' (the stream passed on), input 1 is 'A' (where channels are copied from).
COPY_INPUTS = {"B": 0, "A": 1}
_PROGRESS = re.compile(r"^frame (-?\d+) done in ([0-9.]+)s\s*$")
_TOKEN = re.compile(r"%0?(\d*)d|#+|@+")


@dataclass(frozen=True)
class KnobSpec:
    """One Group knob for one preset variable."""

    name: str
    knob_class: str
    default: Any
    range: tuple[float | None, float | None] | None  # the variable's (min, max), None when it has neither
    tooltip: str
    choices: tuple[str, ...] = ()
    kind: str = ""


@dataclass(frozen=True)
class OutputSequence:
    """A file sequence a preset writes: the writer node, its absolute path pattern, Nuke's pattern,
    and what it holds ('image', 'stmap' or 'idistort') with the UV channels' layer for the last two."""

    node: str
    path: str
    nuke_path: str
    kind: str = "image"
    layer: str = "rgba"
    matte: str | None = None  # the face-region matte's Nuke channel ("matte.alpha") when the writer has one


# -- presets ------------------------------------------------------------------------------
def bundled_presets() -> dict[str, str]:
    """Name -> file of the presets shipped in facewarp.presets."""
    # TODO: use facewarp.api.preset_path once facewarp.api lands (another change adds it).
    folder = resources.files("facewarp.presets")
    return {p.name[:-5]: str(p) for p in sorted(folder.iterdir(), key=lambda p: p.name) if p.name.endswith(".yaml")}


def resolve_preset(preset: str) -> str:
    """A preset file path, or the name of a bundled preset ('grade_exr'), -> an absolute file path."""
    bundled = bundled_presets()
    if preset in bundled:
        return bundled[preset]
    return os.path.abspath(os.path.expanduser(preset))


def preset_name(path: str) -> str:
    base = os.path.basename(path)
    return base[:-5] if base.endswith(".yaml") else os.path.splitext(base)[0]


def knob_specs(preset: str | Preset) -> list[KnobSpec]:
    """The knobs for a preset's variables, in the preset's order."""
    loaded = preset if isinstance(preset, Preset) else load_preset(resolve_preset(preset))
    return [knob_spec(p) for p in loaded.variables.values()]


def knob_spec(param: Param) -> KnobSpec:
    bounds = None if param.min is None and param.max is None else (param.min, param.max)
    tooltip = param.doc or param.name
    if bounds is not None:
        tooltip += f" (range {'' if param.min is None else param.min}..{'' if param.max is None else param.max})"
    default = param.default
    if param.kind in ("vec2", "vec3") and default is not None:
        default = tuple(float(v) for v in default)
    return KnobSpec(param.name, KNOB_CLASSES[param.kind], default, bounds, tooltip, tuple(param.choices), param.kind)


def slider_range(spec: KnobSpec) -> tuple[float, float] | None:
    """The slider range to give a numeric knob: the variable's bounds, an open side filled in."""
    if spec.range is None or spec.knob_class not in ("Int_Knob", "Double_Knob"):
        return None
    lo, hi = spec.range
    if lo is None:
        lo = min(0.0, hi - 1.0) if not isinstance(spec.default, (int, float)) else min(float(spec.default), hi - 1.0)
    if hi is None:
        hi = max(lo + 1.0, 2.0 * float(spec.default)) if isinstance(spec.default, (int, float)) else lo + 1.0
    return (lo, hi)


def set_value(spec: KnobSpec, value: Any) -> str:
    """A knob's value as the text of ``--set name=value``."""
    if spec.kind == "bool":
        return "true" if value else "false"
    if spec.kind == "int":
        return str(int(value))
    if spec.kind == "float":
        return repr(float(value))
    if spec.kind in ("vec2", "vec3"):
        return ",".join(repr(float(v)) for v in value)
    return str(value)


# -- frames -------------------------------------------------------------------------------
def frame_spec(first: int, last: int) -> str:
    """'A-B' for --frames, from a Read's first/last knobs."""
    first, last = int(first), int(last)
    if last < first:
        raise ValueError(f"frame range {first}-{last} ends before it starts")
    return f"{first}-{last}"


# -- outputs ------------------------------------------------------------------------------
def nuke_pattern(path: str) -> str:
    """A facewarp frame pattern (``####``, ``%04d``, ``@@@@``) in Nuke's ``####`` form."""

    def sub(m):
        token = m.group(0)
        width = (int(m.group(1)) if m.group(1) else 1) if token.startswith("%") else len(token)
        return "#" * max(width, 1)

    return _TOKEN.sub(sub, path)


def default_output_root(script_path: str | None = None) -> str:
    """Where outputs go unless the node says: $FACEWARP_OUTPUT_ROOT, else the Nuke script's folder,
    else the current directory."""
    env = os.environ.get("FACEWARP_OUTPUT_ROOT")
    if env:
        return os.path.abspath(env)
    if script_path and script_path not in ("Root",):
        return os.path.dirname(os.path.abspath(script_path))
    return os.getcwd()


def output_sequences(preset: str | Preset, values: dict[str, Any], output_root: str) -> list[OutputSequence]:
    """The sequences a run of ``preset`` with ``values`` writes, as absolute paths (relative paths
    resolve against ``output_root``, the folder the Render button runs in)."""
    loaded = preset if isinstance(preset, Preset) else load_preset(resolve_preset(preset))
    variables = dict(loaded.values)
    for name, value in values.items():
        if name in loaded.variables:
            variables[name] = loaded.variables[name].coerce(value)
    if loaded.path:
        variables.setdefault("PRESET_DIR", os.path.dirname(os.path.abspath(loaded.path)))
    ctx = Context(variables=variables, fps=loaded.fps)
    graph = loaded.graph
    out = []
    for name in graph.outputs:
        node = graph.nodes[name]
        raw = node.params.get("path")
        if not isinstance(raw, str):
            continue
        path = ctx.substitute(raw, frames=False)
        path = os.path.normpath(os.path.join(output_root, os.path.expanduser(path)))
        kind, layer = "image", "rgba"
        src = graph.inputs_of(name).get("image")
        if src is not None and graph.nodes[src[0]].schema.type == "STMapExport":
            exporter = graph.nodes[src[0]]
            kind = str(ctx.substitute(exporter.params.get("mode", "stmap"), frames=False))
            layer = "forward" if ctx.substitute(exporter.params.get("channels", "forward"), frames=False) == "forward" else "rgba"
        # PlateWrite's matte input lands in the EXR as channel matte.A: Nuke's layer 'matte', channel alpha
        matte = "matte.alpha" if "matte" in graph.inputs_of(name) else None
        out.append(OutputSequence(name, path, nuke_pattern(path) if has_token(path) else path, kind, layer, matte))
    return out


def uv_layer(channels: list[str]) -> str:
    """The layer holding UV (STMap) or offsets (IDistort) in an image with these channels."""
    return "forward" if "forward.u" in channels and "forward.v" in channels else "rgba"


def uv_channels(layer: str) -> tuple[str, str]:
    return ("forward.u", "forward.v") if layer == "forward" else ("rgba.red", "rgba.green")


# -- the command line ---------------------------------------------------------------------
def python_executable() -> str:
    """The Python that runs facewarp: $FACEWARP_PYTHON, else this interpreter. Inside Nuke,
    ``sys.executable`` is Nuke itself, so set FACEWARP_PYTHON to the environment facewarp is installed in."""
    return os.environ.get("FACEWARP_PYTHON") or sys.executable


def command_line(preset: str, *, frames: str | None = None, sets: dict[str, str] | None = None,
                 output_root: str | None = None, mode: str = "overwrite", stats: str | None = None,
                 report: str | None = None, quiet: bool = False, python: str | None = None) -> list[str]:
    """``[python, -m, facewarp, run, PRESET, --frames A-B, --set k=v ..., --output-root ROOT, --overwrite]``.

    ``mode``: 'overwrite' (--overwrite), 'skip' (--skip-existing) or 'error' (neither: existing
    outputs stop the run). Progress lines ("frame N done in …s") come on stderr unless ``quiet``."""
    if mode not in ("overwrite", "skip", "error"):
        raise ValueError(f"mode must be overwrite, skip or error, got {mode!r}")
    cmd = [python or python_executable(), "-m", "facewarp", "run", resolve_preset(preset)]
    if frames:
        cmd += ["--frames", str(frames)]
    for name, value in (sets or {}).items():
        cmd += ["--set", f"{name}={value}"]
    if output_root:
        cmd += ["--output-root", os.path.abspath(output_root)]
    if stats:
        cmd += ["--stats", stats]
    if report:
        cmd += ["--report", report]
    if quiet:
        cmd.append("--quiet")
    if mode == "overwrite":
        cmd.append("--overwrite")
    elif mode == "skip":
        cmd.append("--skip-existing")
    return cmd


def progress_frame(line: str) -> int | None:
    """The frame a progress line of ``facewarp run`` reports done, else None."""
    m = _PROGRESS.match(line.strip())
    return int(m.group(1)) if m else None


def split_sequence(text: str) -> tuple[str, int | None, int | None]:
    """Nuke's file browser gives a sequence as 'path.####.exr 1001-1010': -> (path, first, last)."""
    m = re.match(r"^(.*\S)\s+(-?\d+)-(-?\d+)\s*$", text or "")
    if m:
        return m.group(1), int(m.group(2)), int(m.group(3))
    return (text or "").strip(), None, None
