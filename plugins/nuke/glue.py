"""Nuke glue: the facewarp Group node, its Render button, and the STMap / IDistort setups.

Everything decided here comes from ``logic`` (plain functions, tested without Nuke); this module only
speaks Nuke's API. Untested in a real Nuke: the tests run it against a fake ``nuke`` module.
"""

from __future__ import annotations

import os
import subprocess
import threading
from dataclasses import dataclass, field

import nuke

from . import logic

_RENDER_COMMAND = "import facewarp.plugins.nuke.glue as _fw; _fw.render(nuke.thisNode())"
JOBS: dict = {}  # Group name -> its latest RenderJob


# -- the facewarp node --------------------------------------------------------------------
def _make_knob(spec: logic.KnobSpec):
    cls = getattr(nuke, spec.knob_class)
    if spec.knob_class == "Enumeration_Knob":
        knob = cls(spec.name, spec.name, list(spec.choices))
    else:
        knob = cls(spec.name, spec.name)
    default = spec.default
    if spec.knob_class in ("XY_Knob", "XYZ_Knob"):
        for i, v in enumerate(default or ()):
            knob.setValue(float(v), i)
    elif default is not None:
        knob.setValue(default)
    bounds = logic.slider_range(spec)
    if bounds is not None:
        knob.setRange(*bounds)
    knob.setTooltip(spec.tooltip)
    return knob


def _selected_read():
    try:
        node = nuke.selectedNode()
    except ValueError:  # nothing selected
        return None
    return node if node.Class() == "Read" else None


def create_facewarp_node(preset: str, read=None):
    """A Group 'facewarp_<preset>' with one knob per preset variable, the preset file, the output
    root, a frame range override and a Render button. ``read`` (default: the selected Read) becomes
    its input and, when the preset has a ``plate`` variable, the plate."""
    path = logic.resolve_preset(preset)
    specs = logic.knob_specs(path)
    read = read if read is not None else _selected_read()
    group = nuke.nodes.Group(name=f"facewarp_{logic.preset_name(path)}")
    group.begin()
    try:
        inp = nuke.nodes.Input(name="plate")
        nuke.nodes.Output(inputs=[inp])  # the Group passes its input through; results come back as Reads
    finally:
        group.end()
    group.addKnob(nuke.Tab_Knob("facewarp", "facewarp"))
    for spec in specs:
        group.addKnob(_make_knob(spec))
    group.addKnob(nuke.Text_Knob("fw_divider", ""))
    knob = nuke.File_Knob(logic.PRESET_KNOB, "preset")
    knob.setValue(path)
    group.addKnob(knob)
    knob = nuke.File_Knob(logic.OUTPUT_ROOT_KNOB, "output folder")
    knob.setValue(logic.default_output_root(nuke.root().name()))
    knob.setTooltip("outputs may only be written under this folder; relative output paths resolve here")
    group.addKnob(knob)
    knob = nuke.String_Knob(logic.FRAMES_KNOB, "frames")
    knob.setTooltip("empty: the upstream Read's first-last, else the preset's frames")
    group.addKnob(knob)
    group.addKnob(nuke.PyScript_Knob(logic.RENDER_KNOB, "Render", _RENDER_COMMAND))
    group.addKnob(nuke.Text_Knob(logic.STATUS_KNOB, "status", ""))
    if read is not None:
        group.setInput(0, read)
        if "plate" in group.knobs() and read["file"].value():
            group["plate"].setValue(read["file"].value())
    return group


def _knob_values(group) -> dict[str, str]:
    """--set values from the Group's knobs, for the preset's variables."""
    specs = logic.knob_specs(group[logic.PRESET_KNOB].value())
    return {s.name: logic.set_value(s, group[s.name].value()) for s in specs}


def upstream_read(node):
    """The first Read above ``node`` along input 0, or None."""
    seen = set()
    node = node.input(0)
    while node is not None and id(node) not in seen:
        if node.Class() == "Read":
            return node
        seen.add(id(node))
        node = node.input(0)
    return None


def frames_of(group) -> str | None:
    text = group[logic.FRAMES_KNOB].value().strip()
    if text:
        return text
    read = upstream_read(group)
    if read is not None:
        return logic.frame_spec(read["first"].value(), read["last"].value())
    return None


# -- Render -------------------------------------------------------------------------------
@dataclass
class RenderJob:
    """A running ``facewarp run``: the process, the thread watching it, what it reported."""

    group: object
    command: list[str]
    process: subprocess.Popen
    outputs: list
    frames: str | None
    done: list[int] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    returncode: int | None = None
    reads: list = field(default_factory=list)
    mattes: list = field(default_factory=list)  # Copy nodes: each render's face-region matte into its alpha
    thread: threading.Thread | None = None

    def wait(self, timeout: float | None = None) -> int | None:
        if self.thread is not None:
            self.thread.join(timeout)
        return self.returncode


def render(group, mode: str = "overwrite") -> RenderJob:
    """Launch ``facewarp run`` for the Group in a background process; a thread follows its progress
    (nuke.ProgressTask; Cancel terminates it) and, in Nuke's main thread, brings the results back as
    Read nodes. Returns at once: the UI stays live. While a render of the Group runs, Render
    returns that one instead of starting another."""
    running = JOBS.get(group.name())
    if running is not None and running.returncode is None and running.process.poll() is None:
        return running
    preset = group[logic.PRESET_KNOB].value()
    root = group[logic.OUTPUT_ROOT_KNOB].value() or logic.default_output_root(nuke.root().name())
    values = _knob_values(group)
    frames = frames_of(group)
    outputs = logic.output_sequences(preset, values, root)
    command = logic.command_line(preset, frames=frames, sets=values, output_root=root, mode=mode)
    os.makedirs(root, exist_ok=True)
    process = subprocess.Popen(command, cwd=root, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True, bufsize=1)
    job = RenderJob(group, command, process, outputs, frames)
    JOBS[group.name()] = job
    _status(group, f"rendering {frames or 'the preset frames'}…")
    job.thread = threading.Thread(target=_watch, args=(job,), name=f"facewarp {group.name()}", daemon=True)
    job.thread.start()
    return job


def _total_frames(frames: str | None) -> int | None:
    if not frames:
        return None
    from facewarp.graph.context import parse_frames

    return len(parse_frames(frames))


def _watch(job: RenderJob) -> None:
    task = nuke.ProgressTask(f"facewarp {job.group.name()}")
    total = _total_frames(job.frames)
    try:
        for line in job.process.stderr:
            if task.isCancelled():
                job.process.terminate()  # SIGTERM: facewarp removes its temp files, keeps finished frames
                break
            frame = logic.progress_frame(line)
            if frame is None:
                job.messages.append(line.rstrip("\n"))
                continue
            job.done.append(frame)
            task.setMessage(f"frame {frame}")
            if total:
                task.setProgress(min(100, int(100 * len(job.done) / total)))
        job.returncode = job.process.wait()
    finally:
        del task  # closes Nuke's progress bar
    first, last = _done_range(job)
    nuke.executeInMainThread(_finish, args=(job, first, last))


def _done_range(job: RenderJob) -> tuple[int | None, int | None]:
    if job.done:
        return min(job.done), max(job.done)
    if job.frames:
        from facewarp.graph.context import parse_frames

        frames = parse_frames(job.frames)
        return frames[0], frames[-1]
    return None, None


def _finish(job: RenderJob, first, last) -> None:
    if job.returncode != 0:
        why = job.messages[-1] if job.messages else f"exit code {job.returncode}"
        _status(job.group, f"failed: {why}")
        return
    job.reads = [read_output(seq, first, last, job.group) for seq in job.outputs]
    job.mattes = [matte_to_alpha(read, seq.matte) for read, seq in zip(job.reads, job.outputs) if seq.matte]
    _status(job.group, f"rendered {len(job.done)} frame(s)")


def _status(group, text: str) -> None:
    knob = group.knobs().get(logic.STATUS_KNOB)
    if knob is not None:
        knob.setValue(text)


def read_output(seq: logic.OutputSequence, first, last, beside=None):
    """A Read of one output sequence (reused when the node already made it); STMaps and offset
    maps are read raw (data, no colour transform)."""
    name = f"{beside.name()}_{seq.node}" if beside is not None else f"facewarp_{seq.node}"
    read = nuke.toNode(name)
    if read is None or read.Class() != "Read":
        read = nuke.nodes.Read(name=name)
        if beside is not None:
            read.setXYpos(beside.xpos(), beside.ypos() + 60 * (1 + len(nuke.allNodes("Read"))))
    read["file"].setValue(seq.nuke_path)
    if first is not None:
        for knob, value in (("first", first), ("last", last), ("origfirst", first), ("origlast", last)):
            read[knob].setValue(int(value))
    read["raw"].setValue(seq.kind in ("stmap", "idistort"))
    read["reload"].execute()
    return read


def matte_to_alpha(read, channel: str):
    """A Copy below ``read`` that puts the face-region matte (``channel``, e.g. matte.alpha) into
    rgba.alpha, for a compositor to use as the edit's matte (reused when it exists)."""
    name = f"{read.name()}_matte"
    node = nuke.toNode(name)
    if node is None or node.Class() != "Copy":
        node = nuke.nodes.Copy(name=name, inputs=[read, read])
        node.setXYpos(read.xpos() + 110, read.ypos())
    node["from0"].setValue(channel)
    node["to0"].setValue("rgba.alpha")
    return node


# -- STMap / IDistort setups --------------------------------------------------------------
def _map_read(path: str | None, first=None, last=None):
    read = nuke.nodes.Read(name="facewarp_map")
    if path:
        read["file"].setValue(logic.nuke_pattern(path))
    if first is not None:
        read["first"].setValue(int(first))
        read["last"].setValue(int(last))
    read["raw"].setValue(True)  # UV / offsets are data
    return read


def stmap_setup(stmap_file: str | None = None, src=None, first=None, last=None):
    """Read(STMap EXR) -> STMap's 'stmap' input, ``src`` (default: the selected node) -> its 'src'
    input; ``uv`` is the layer the file holds (forward.u/forward.v, else rgba). Returns (read, stmap)."""
    src = src if src is not None else _selected()
    read = _map_read(stmap_file, first, last)
    layer = logic.uv_layer(list(read.channels())) if stmap_file else "forward"
    stmap = nuke.nodes.STMap()
    stmap["uv"].setValue(layer)
    stmap.setInput(logic.STMAP_INPUTS["stmap"], read)
    if src is not None:
        stmap.setInput(logic.STMAP_INPUTS["src"], src)
    return read, stmap


def idistort_setup(offset_file: str | None = None, src=None, first=None, last=None):
    """IDistort reads offsets from channels of its own input: Read(offset EXR) is copied into the
    'forward' layer of ``src`` (Copy: B = src, A = offsets), then IDistort(uv=forward, uv_scale=1).
    Returns (read, copy, idistort)."""
    src = src if src is not None else _selected()
    read = _map_read(offset_file, first, last)
    layer = logic.uv_layer(list(read.channels())) if offset_file else "forward"
    copy = nuke.nodes.Copy()
    for i, (a, b) in enumerate(zip(logic.uv_channels(layer), logic.uv_channels("forward"))):
        copy[f"from{i}"].setValue(a)
        copy[f"to{i}"].setValue(b)
    copy.setInput(logic.COPY_INPUTS["A"], read)
    if src is not None:
        copy.setInput(logic.COPY_INPUTS["B"], src)
    idistort = nuke.nodes.IDistort(inputs=[copy])
    idistort["uv"].setValue("forward")
    idistort["uv_scale"].setValue(1.0)  # facewarp's offsets are pixels (dx, -dy; y up)
    return read, copy, idistort


def _selected():
    try:
        return nuke.selectedNode()
    except ValueError:
        return None


def stmap_setup_dialog():
    """Menu command: ask for an STMap file, then stmap_setup."""
    path, first, last = logic.split_sequence(nuke.getFilename("STMap (EXR)", "*.exr") or "")
    if path:
        stmap_setup(path, first=first, last=last)


def idistort_setup_dialog():
    path, first, last = logic.split_sequence(nuke.getFilename("IDistort offsets (EXR)", "*.exr") or "")
    if path:
        idistort_setup(path, first=first, last=last)
