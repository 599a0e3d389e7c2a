"""The extension's operators and panel (``bpy``).

``facewarp.run_preset`` renders any preset (bundled name or .yaml file; variables as JSON) over a
frame range in Blender's own process through ``facewarp.api.render`` (the engine, not the CLI),
then loads what it wrote as image sequences and, if asked, wires them into the compositor.
``facewarp.run_<preset>`` does the same for one bundled preset with its variables as typed
properties. ``facewarp.add_stmap_group`` adds the Map UV group to the scene compositor.

Headless (``bpy.app.background``) and from scripts the render runs in ``execute`` and the results
are loaded when the call returns; in the GUI, ``invoke`` shows the properties in a dialog and then
renders in a worker thread behind a modal operator (progress in the status bar, Esc cancels,
finished frames are kept). The dialog, the modal path and the panel need a GUI and are not tested
here."""

from __future__ import annotations

import os
import sys

import bpy
from bpy.props import BoolProperty, EnumProperty, FloatProperty, FloatVectorProperty, IntProperty, StringProperty

from facewarp import api
from facewarp.core.errors import FacewarpError, UsageError

from . import compositor, logic

_MODES = [("overwrite", "Overwrite", "replace existing frames"),
          ("skip", "Skip", "keep existing frames, render the missing ones"),
          ("error", "Error", "stop if an output frame exists")]
_DEVICES = [("auto", "Auto", "CUDA when available, else CPU"), ("cpu", "CPU", "CPU kernels"),
            ("cuda", "CUDA", "CUDA kernels (CuPy)")]


def _common_properties() -> dict:
    return {
        "plate": StringProperty(name="Plate", subtype="FILE_PATH",
                                description="plate image sequence (any frame of it, or a ####-pattern) or movie "
                                            "file (frame 1 at the scene's start); empty: the Image / Movie Clip "
                                            "below, else the preset's own"),
        "image": StringProperty(name="Image / Clip", description="an Image or Movie Clip datablock whose image "
                                                                 "sequence is the plate"),
        "use_scene_range": BoolProperty(name="Scene Range", default=True,
                                        description="render the scene's frame range (else Start-End below)"),
        "frame_start": IntProperty(name="Start", default=1001),
        "frame_end": IntProperty(name="End", default=1005),
        "output_root": StringProperty(name="Output Folder", subtype="DIR_PATH",
                                      description="where the preset's relative outputs go and the only place it may "
                                                  "write (empty: $FACEWARP_OUTPUT_ROOT, else the .blend's folder)"),
        "mode": EnumProperty(name="Existing Frames", items=_MODES, default="overwrite"),
        "device": EnumProperty(name="Device", items=_DEVICES, default="auto"),
        "load": BoolProperty(name="Load Results", default=True,
                             description="load the sequences the preset writes as Image datablocks"),
        "setup_compositor": BoolProperty(name="Set Up Compositor", default=False,
                                         description="add the results (and the STMap group on the plate) to the "
                                                     "scene compositor"),
        # set by invoke() (the GUI): render in a worker thread behind a modal operator; scripts and
        # blender -b leave it off and get the results when the call returns
        "in_thread": BoolProperty(default=False, options={"HIDDEN", "SKIP_SAVE"}),
    }


def _plate_from_datablock(name: str, frames, root: str) -> str:
    """The plate pattern of an Image or Movie Clip datablock: its image sequence, or for a movie
    file the frames to render decoded into ``ROOT/facewarp_plates/<movie>.####.exr``."""
    block = bpy.data.images.get(name) or bpy.data.movieclips.get(name)
    if block is None:
        raise UsageError(f"no Image or Movie Clip named '{name[:80]}' in this file")
    path = bpy.path.abspath(block.filepath, library=block.library)
    if getattr(block, "source", "") == "MOVIE" or logic.is_movie(path):
        first = int(getattr(block, "frame_start", 1)) - int(getattr(block, "frame_offset", 0))
        return logic.movie_to_plates(path, frames, first, os.path.join(root, "facewarp_plates"))
    return logic.sequence_pattern(path)


class _RunPreset:
    """What the run operators share; ``_preset()`` and ``_values()`` differ."""

    bl_options = {"REGISTER"}
    _job = None
    _timer = None

    # -- inputs ---------------------------------------------------------------------------
    def _preset(self) -> str:
        raise NotImplementedError

    def _values(self) -> dict:
        raise NotImplementedError

    def _frames(self, context) -> tuple[int, ...]:
        first, last = ((context.scene.frame_start, context.scene.frame_end) if self.use_scene_range
                       else (self.frame_start, self.frame_end))
        if last < first:
            raise UsageError(f"frame range {first}-{last} ends before it starts")
        return tuple(range(int(first), int(last) + 1))

    def _output_root(self) -> str:
        if self.output_root:
            return os.path.abspath(bpy.path.abspath(self.output_root))
        return logic.default_output_root(bpy.data.filepath or None)

    def _prepare(self, context):
        frames = self._frames(context)
        root = self._output_root()
        os.makedirs(root, exist_ok=True)
        plate = None
        if self.plate:
            plate = bpy.path.abspath(self.plate)
            plate = (logic.movie_to_plates(plate, frames, context.scene.frame_start, os.path.join(root, "facewarp_plates"))
                     if logic.is_movie(plate) else logic.sequence_pattern(plate))
        elif self.image:
            plate = _plate_from_datablock(self.image, frames, root)
        preset = logic.prepare(self._preset(), self._values(), plate, root)
        return preset, frames, root, plate

    # -- results --------------------------------------------------------------------------
    def _finish(self, context, job) -> set[str]:
        if job.error:
            self.report({"ERROR"}, job.error)
            return {"CANCELLED"}
        if job.result is not None:
            frames = tuple(sorted(job.result.frames + job.result.skipped))
        else:  # cancelled: the frames finished before (the render loop goes in order)
            frames = job.frames[: job.done]
        if self.load and frames:
            images = [compositor.load_sequence(seq, frames) for seq in logic.output_sequences(job.preset, job.output_root)
                      if os.path.exists(seq.path(frames[0]))]
            if self.setup_compositor:
                plate = compositor.load_plate(self._plate, frames) if self._plate else None
                compositor.setup_compositor(context.scene, images, plate)
        if job.cancelled:
            self.report({"WARNING"}, f"facewarp: cancelled after {job.done} of {job.total} frames (finished frames kept)")
            return {"CANCELLED"}
        self.report({"INFO"}, f"facewarp: rendered {len(job.result.frames)} frame(s) into {job.output_root}")
        return {"FINISHED"}

    # -- synchronous (headless, scripts) ----------------------------------------------------
    def execute(self, context):
        try:
            preset, frames, root, self._plate = self._prepare(context)
        except FacewarpError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        job = logic.RenderJob(preset, frames, root, self.mode, self.device)
        if self.in_thread and not bpy.app.background and context.window is not None:
            return self._start_modal(context, job)
        wm = context.window_manager
        progress = job._progress

        def report(done, total, frame, seconds):
            progress(done, total, frame, seconds)
            if wm is not None and total:
                wm.progress_update(done)

        job._progress = report
        if wm is not None:
            wm.progress_begin(0, len(frames))
        try:
            job.run()
        finally:
            if wm is not None:
                wm.progress_end()
        return self._finish(context, job)

    # -- the GUI: a dialog, then a worker thread and a modal timer (not tested: needs a window) --
    def invoke(self, context, event):
        if bpy.app.background or context.window is None:
            return self.execute(context)
        self.in_thread = True  # OK in the dialog calls execute(), which then renders in a thread
        return context.window_manager.invoke_props_dialog(self, width=480)

    def _start_modal(self, context, job):
        self._job = job.start()
        wm = context.window_manager
        self._timer = wm.event_timer_add(0.25, window=context.window)
        wm.progress_begin(0, len(job.frames))
        wm.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        job = self._job
        if event.type == "ESC":
            job.cancel()
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        context.window_manager.progress_update(job.done)
        if context.workspace is not None:
            context.workspace.status_text_set(f"facewarp: {job.done}/{job.total} frames (Esc cancels)")
        if job.running:
            return {"RUNNING_MODAL"}
        context.window_manager.event_timer_remove(self._timer)
        context.window_manager.progress_end()
        if context.workspace is not None:
            context.workspace.status_text_set(None)
        return self._finish(context, job)


class FACEWARP_OT_run_preset(_RunPreset, bpy.types.Operator):
    """Render a facewarp preset over a frame range and load its outputs as image sequences"""

    bl_idname = "facewarp.run_preset"
    bl_label = "Run facewarp Preset"
    __annotations__ = {
        "preset": StringProperty(name="Preset", default="reanimate",
                                 description="a bundled preset's name (facewarp presets) or a preset .yaml file"),
        "variables": StringProperty(name="Variables", default="",
                                    description='preset variables as a JSON object, e.g. {"gain": 1.5}'),
        **_common_properties(),
    }

    def _preset(self) -> str:
        text = self.preset.strip()
        return bpy.path.abspath(text) if text.startswith("//") else text

    def _values(self) -> dict:
        return logic.parse_variables(self.variables)


def _prop(spec: logic.PropertySpec):
    kw = {"name": spec.name.replace("_", " ").title(), "description": spec.description[:400], "default": spec.default}
    if spec.kind in ("int", "float"):
        cast = int if spec.kind == "int" else float
        if spec.min is not None:
            kw["min"] = cast(spec.min)
        if spec.max is not None:
            kw["max"] = cast(spec.max)
    if spec.kind == "int":
        return IntProperty(**kw)
    if spec.kind == "float":
        return FloatProperty(**kw)
    if spec.kind == "bool":
        return BoolProperty(**kw)
    if spec.kind == "enum":
        return EnumProperty(items=[(c, c, "") for c in spec.choices], **kw)
    if spec.size:
        return FloatVectorProperty(size=spec.size, **kw)
    if spec.subtype:
        return StringProperty(subtype=spec.subtype, **kw)
    return StringProperty(**kw)


def preset_operator(name: str, path: str):
    """An operator class ``facewarp.run_<name>`` for one bundled preset, its variables as typed
    properties (logic.property_specs)."""
    preset = api.load_preset(path)
    specs = logic.property_specs(preset)
    description = preset.description
    suffix = logic.operator_suffix(name)

    def _values(self) -> dict:
        out = {}
        for s in specs:
            value = getattr(self, s.name)
            if s.size:
                value = tuple(value)
            elif s.kind == "path" and value.startswith("//"):
                value = bpy.path.abspath(value)  # relative to the .blend
            out[s.name] = value
        return out

    return type(f"FACEWARP_OT_run_{suffix}", (_RunPreset, bpy.types.Operator), {
        "bl_idname": f"facewarp.run_{suffix}",
        "bl_label": f"facewarp: {name}",
        "bl_description": (description or f"Run the bundled facewarp preset '{name}'")[:400],
        "__annotations__": {**{s.name: _prop(s) for s in specs}, **_common_properties()},
        "_preset": lambda self: path,
        "_values": _values,
        "facewarp_preset": name,
        "facewarp_variables": tuple(s.name for s in specs),
    })


class FACEWARP_OT_add_stmap_group(bpy.types.Operator):
    """Add the facewarp STMap group (Map UV) to the scene compositor"""

    bl_idname = "facewarp.add_stmap_group"
    bl_label = "Add facewarp STMap Group"
    bl_options = {"REGISTER", "UNDO"}

    border: EnumProperty(name="Border", items=[(k, k.title(), f"facewarp border '{k}' (Map UV {v})")
                                               for k, v in logic.EXTENSIONS.items()], default="clamp")

    def execute(self, context):
        tree = compositor.compositor_tree(context.scene)
        node = tree.nodes.new("CompositorNodeGroup")
        node.node_tree = compositor.stmap_group(self.border)
        node.label = node.node_tree.name
        return {"FINISHED"}


class FACEWARP_PT_panel(bpy.types.Panel):
    """The compositor sidebar's facewarp tab (GUI only; not tested here)."""

    bl_label = "facewarp"
    bl_space_type = "NODE_EDITOR"
    bl_region_type = "UI"
    bl_category = "facewarp"

    @classmethod
    def poll(cls, context):
        return getattr(context.space_data, "tree_type", "") == "CompositorNodeTree"

    def draw(self, context):
        col = self.layout.column(align=True)
        for cls in _preset_classes:
            col.operator(cls.bl_idname, text=cls.facewarp_preset)
        col.separator()
        col.operator(FACEWARP_OT_run_preset.bl_idname, text="Preset File…")
        col.operator(FACEWARP_OT_add_stmap_group.bl_idname)


_preset_classes: list = []
_classes = (FACEWARP_OT_run_preset, FACEWARP_OT_add_stmap_group, FACEWARP_PT_panel)


def register() -> None:
    for cls in _classes:
        bpy.utils.register_class(cls)
    for name, path in logic.bundled_presets().items():
        try:
            cls = preset_operator(name, path)
        except FacewarpError as exc:  # one broken preset must not take the extension down
            print(f"facewarp: no operator for the bundled preset '{name}': {exc}", file=sys.stderr)
            continue
        bpy.utils.register_class(cls)
        _preset_classes.append(cls)


def unregister() -> None:
    for cls in reversed(_preset_classes):
        bpy.utils.unregister_class(cls)
    _preset_classes.clear()
    for cls in reversed(_classes):
        bpy.utils.unregister_class(cls)


__all__ = ["FACEWARP_OT_add_stmap_group", "FACEWARP_OT_run_preset", "preset_operator", "register", "unregister"]
