"""What the Blender extension decides, as plain functions (no ``bpy`` import, tested directly):
preset variables -> operator property descriptions, Blender file names -> facewarp frame patterns,
relative paths anchored in the output folder, the sequences a run writes, and a render job that
runs ``facewarp.api.render`` in a worker thread with progress and cancel (for the GUI's modal
operator)."""

from __future__ import annotations

import json
import os
import re
import threading
from dataclasses import dataclass, field
from typing import Any

from facewarp import api
from facewarp.core.errors import FacewarpError, RenderCancelled, UsageError
from facewarp.core.frames import has_token
from facewarp.graph.preset import Preset

# preset variable kind -> bpy.props function name (ops.py builds the properties)
PROPERTY_KINDS = {
    "int": "IntProperty",
    "float": "FloatProperty",
    "bool": "BoolProperty",
    "enum": "EnumProperty",
    "string": "StringProperty",
    "path": "StringProperty",
    "vec2": "FloatVectorProperty",
    "vec3": "FloatVectorProperty",
}
# The variable a preset reads its plate from (the shipped presets' convention).
PLATE_VAR = "plate"
# Colour spaces of Blender's default OCIO config (checked in bpy 5.0.1): facewarp's working space
# (scene-linear Rec.709) and raw data (STMaps, offsets).
LINEAR_COLORSPACE = "Linear Rec.709"
DATA_COLORSPACE = "Non-Color"
# facewarp border mode -> Map UV's "Extension" (Blender 5.0 menu socket: Clip, Extend, Repeat).
# facewarp's "reflect" has no Map UV equivalent.
EXTENSIONS = {"clamp": "Extend", "zero": "Clip"}
# Blender/operator property names the extension itself uses: a preset variable must not take them.
RESERVED = frozenset({"preset", "variables", "plate", "image", "use_scene_range", "frame_start", "frame_end",
                      "output_root", "mode", "device", "load", "setup_compositor", "in_thread"})

_DIGITS = re.compile(r"(\d+)(?!.*\d)")  # the last run of digits in a file name


@dataclass(frozen=True)
class PropertySpec:
    """One operator property for one preset variable."""

    name: str
    function: str  # bpy.props function name
    kind: str
    default: Any
    description: str
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] = ()
    size: int = 0  # vectors
    subtype: str = ""  # FILE_PATH for paths


@dataclass(frozen=True)
class OutputSequence:
    """A sequence a preset writes: the writer node, its absolute pattern (facewarp frame tokens),
    what it holds ('image', 'stmap' or 'idistort') and, for the last two, the channels
    ('forward': forward.u/forward.v/A, read by Blender as a multilayer EXR; 'rgb': R/G/A)."""

    node: str
    pattern: str
    kind: str = "image"
    channels: str = "rgb"

    def path(self, frame: int) -> str:
        from facewarp.core.frames import frame_path

        return frame_path(self.pattern, frame) if has_token(self.pattern) else self.pattern


# -- presets -> properties ----------------------------------------------------------------
def property_specs(preset: Preset) -> list[PropertySpec]:
    """The operator properties for a preset's variables, in the preset's order. A variable whose
    name the extension uses itself (``plate``, ``preset``, ...) is skipped: ``plate`` is the
    operator's own input, the others go through ``variables`` (JSON)."""
    out = []
    for name, spec in preset.variables.items():
        if name in RESERVED or not name.isidentifier():
            continue
        default = preset.values.get(name, spec.default)
        size = 2 if spec.kind == "vec2" else 3 if spec.kind == "vec3" else 0
        if size:
            default = tuple(float(v) for v in default)
        elif spec.kind == "float":
            default = float(default)
        elif spec.kind == "int":
            default = int(default)
        elif spec.kind == "bool":
            default = bool(default)
        else:
            default = "" if default is None else str(default)
        out.append(PropertySpec(name, PROPERTY_KINDS[spec.kind], spec.kind, default, spec.doc or name,
                                spec.min, spec.max, tuple(spec.choices), size,
                                "FILE_PATH" if spec.kind == "path" else ""))
    return out


def bundled_presets() -> dict[str, str]:
    """Name -> file of the presets shipped in ``facewarp.presets`` (listed without loading them, so
    one broken preset cannot hide the others)."""
    from importlib import resources

    folder = resources.files("facewarp.presets")
    return {os.path.splitext(f.name)[0]: os.fspath(f) for f in sorted(folder.iterdir(), key=lambda f: f.name)
            if f.name.endswith((".yaml", ".yml")) and f.is_file()}


def operator_suffix(preset_name: str) -> str:
    """A bundled preset name as the lower-case identifier part of an operator id."""
    return re.sub(r"[^a-z0-9_]", "_", preset_name.lower()).strip("_") or "preset"


def parse_variables(text: str) -> dict[str, Any]:
    """The operator's ``variables`` property: a JSON object ``{"name": value}`` (JSON because
    preset values hold ``;``, ``=`` and ``,``, e.g. ExpressionEdit keys). Empty: no variables."""
    if not text or not text.strip():
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"variables must be a JSON object like {{\"gain\": 1.5}}: {exc.msg} at column {exc.colno}") from None
    if not isinstance(value, dict):
        raise UsageError(f"variables must be a JSON object like {{\"gain\": 1.5}}, got {type(value).__name__}")
    return value


# -- file names ---------------------------------------------------------------------------
def sequence_pattern(filepath: str) -> str:
    """A Blender image-sequence file (any frame of it, e.g. ``plate.1001.exr``) as facewarp's
    pattern (``plate.####.exr``): the last run of digits in the file name becomes ``#`` of the same
    width. A name that already holds a frame token, or holds no digits, is returned as it is."""
    folder, name = os.path.split(filepath)
    if has_token(name):
        return filepath
    m = _DIGITS.search(name)
    if m is None:
        return filepath
    return os.path.join(folder, name[: m.start()] + "#" * len(m.group(1)) + name[m.end():])


def default_output_root(blend_path: str | None = None) -> str:
    """Where runs write unless told: $FACEWARP_OUTPUT_ROOT, else the .blend file's folder, else the
    current directory."""
    env = os.environ.get("FACEWARP_OUTPUT_ROOT")
    if env:
        return os.path.abspath(env)
    if blend_path:
        return os.path.dirname(os.path.abspath(blend_path))
    return os.getcwd()


def anchor_paths(preset: Preset, output_root: str) -> None:
    """Make the preset's relative paths absolute under ``output_root``, as the CLI and the Nuke
    plugin get them by running in that folder (a host must not change its working directory):
    path variables first, then node ``path`` parameters that are still relative once expanded."""
    root = os.path.abspath(output_root)
    for name, spec in preset.variables.items():
        value = preset.values.get(name, spec.default)
        if spec.kind == "path" and isinstance(value, str) and value and not os.path.isabs(os.path.expanduser(value)):
            api.set_var(preset, name, os.path.join(root, value))
    ctx = preset.context(())
    for node in preset.graph.nodes.values():
        for param in node.schema.params:
            raw = node.params.get(param.name)
            if param.kind != "path" or not isinstance(raw, str) or not raw:
                continue
            value = ctx.substitute(raw, frames=False)
            if isinstance(value, str) and value and not os.path.isabs(os.path.expanduser(value)):
                node.set_param(param.name, os.path.join(root, raw))


def output_sequences(preset: Preset, output_root: str | None = None) -> list[OutputSequence]:
    """The sequences a run of ``preset`` writes (its output nodes with a ``path``), as absolute
    patterns; relative ones resolve against ``output_root`` (default: the current directory)."""
    root = os.path.abspath(output_root or os.getcwd())
    ctx = preset.context(())
    graph = preset.graph
    out = []
    for name in graph.outputs:
        node = graph.nodes[name]
        raw = node.params.get("path")
        if not isinstance(raw, str) or not raw:
            continue
        path = os.path.normpath(os.path.join(root, os.path.expanduser(str(ctx.substitute(raw, frames=False)))))
        kind, channels = "image", "rgb"
        src = graph.inputs_of(name).get("image")
        if src is not None and graph.nodes[src[0]].schema.type == "STMapExport":
            exporter = graph.nodes[src[0]]
            kind = str(ctx.substitute(exporter.params.get("mode", "stmap"), frames=False))
            channels = str(ctx.substitute(exporter.params.get("channels", "forward"), frames=False))
        out.append(OutputSequence(name, path, kind, channels))
    return out


MOVIE_SUFFIXES = (".mov", ".mp4", ".m4v", ".mkv", ".avi", ".webm", ".mxf")


def is_movie(path: str) -> bool:
    return os.path.splitext(path)[1].lower() in MOVIE_SUFFIXES


def movie_to_plates(movie: str, frames, first_frame: int, folder: str) -> str:
    """Decode the frames of a movie file that ``frames`` name (movie frame 0 is scene frame
    ``first_frame``) into a half-float EXR sequence ``folder/<movie name>.####.exr``, scene-linear
    (a movie is display-referred: decoded through the sRGB curve, as PNG/JPEG plates are); returns
    its pattern. facewarp reads image sequences only, so this is how a Movie Clip becomes a plate.
    Decoded with PyAV (its wheel bundles FFmpeg), streaming: one frame in memory at a time."""
    import av
    import numpy as np

    from facewarp.core.color import to_linear
    from facewarp.core.frames import frame_path
    from facewarp.core.types import Image
    from facewarp.imaging.plates import write_plate

    wanted = {int(f) - int(first_frame): int(f) for f in frames}
    pattern = os.path.join(os.path.abspath(folder), os.path.splitext(os.path.basename(movie))[0] + ".####.exr")
    if not os.path.isfile(movie):
        raise UsageError(f"no movie file '{movie[-200:]}'")
    done = set()
    try:
        with av.open(movie) as container:
            for index, frame in enumerate(container.decode(video=0)):
                if index in wanted:
                    rgb = to_linear(frame.to_ndarray(format="rgb24").astype(np.float32) / 255.0, "srgb")
                    write_plate(frame_path(pattern, wanted[index]), Image(rgb, ("R", "G", "B")), pixel_type="half",
                                overwrite=True)  # a cache of the movie
                    done.add(index)
                if index >= max(wanted):
                    break
    except av.FFmpegError as exc:
        raise UsageError(f"cannot decode the movie '{movie[-200:]}': {exc}") from None
    missing = sorted(wanted[i] for i in set(wanted) - done)
    if missing:
        raise UsageError(f"the movie '{os.path.basename(movie)}' has no frame for scene frame(s) "
                         f"{', '.join(map(str, missing[:10]))} (it starts at scene frame {first_frame})")
    return pattern


def prepare(preset_name_or_path: str, values: dict[str, Any], plate: str | None, output_root: str) -> Preset:
    """Load a preset, set its variables (and the plate, when the preset has a ``plate`` variable),
    and anchor its relative paths in ``output_root``: what the operator renders."""
    preset = api.load_preset(preset_name_or_path)
    for name, value in values.items():
        if isinstance(value, list):
            value = tuple(value)
        api.set_var(preset, name, value)
    if plate:
        if PLATE_VAR not in preset.variables:
            raise UsageError(f"the preset has no '{PLATE_VAR}' variable to take the plate "
                             f"(variables: {', '.join(preset.variables) or 'none'})", source=preset.path)
        api.set_var(preset, PLATE_VAR, sequence_pattern(plate))
    anchor_paths(preset, output_root)
    return preset


# -- a render in a worker thread (the GUI's modal operator) ---------------------------------
@dataclass
class RenderJob:
    """``api.render`` in a worker thread: ``done``/``total`` and the last frame for a progress
    bar, ``cancel()`` stops it before the next frame (finished frames are kept), ``error`` holds
    the one-line message of a failure. The thread calls no ``bpy``: the operator reads this
    object from Blender's main thread (a timer) and loads the results there."""

    preset: Preset
    frames: tuple[int, ...]
    output_root: str
    mode: str = "error"
    device: str = "auto"
    done: int = 0
    total: int = 0
    frame: int | None = None
    error: str | None = None
    cancelled: bool = False
    result: Any = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> RenderJob:
        self._thread = threading.Thread(target=self._run, name="facewarp-render", daemon=True)
        self._thread.start()
        return self

    def run(self) -> RenderJob:
        """Run in the calling thread (the synchronous ``execute`` path)."""
        self._run()
        return self

    def _progress(self, done: int, total: int, frame: int | None, seconds: float) -> None:
        self.done, self.total, self.frame = done, total, frame

    def _run(self) -> None:
        try:
            self.result = api.render(self.preset, frames=self.frames, output_root=self.output_root, mode=self.mode,
                                     progress=self._progress, cancel=self._stop.is_set, device=self.device)
        except RenderCancelled:
            self.cancelled = True
        except FacewarpError as exc:
            self.error = str(exc)
        except Exception as exc:  # a bug, not a user error: still one line for Blender's report
            self.error = f"{type(exc).__name__}: {exc}"

    def cancel(self) -> None:
        self._stop.set()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def wait(self, timeout: float | None = None) -> bool:
        if self._thread is not None:
            self._thread.join(timeout)
        return not self.running
