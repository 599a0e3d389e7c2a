"""The Nuke plugin (plugins/nuke), against a FAKE nuke module (tests/plugins/fake_nuke.py): no Nuke
runs here, so these tests prove the plugin's logic and the calls it makes, not Nuke's behaviour.

The render test is real: the command line the plugin builds runs ``facewarp run`` in a subprocess on
a tiny generated shot."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import os
import runpy
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import facewarp
from facewarp.graph.preset import load_preset

ROOT = Path(facewarp.__file__).resolve().parent
PLUGIN = ROOT / "plugins" / "nuke"
PRESETS = sorted((ROOT / "presets").glob("*.yaml"))


def _load_fake():
    spec = importlib.util.spec_from_file_location("fake_nuke", Path(__file__).with_name("fake_nuke.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules["fake_nuke"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def nuke(monkeypatch):
    fake = sys.modules.get("fake_nuke") or _load_fake()
    fake.reset()
    monkeypatch.setitem(sys.modules, "nuke", fake)
    monkeypatch.delitem(sys.modules, "facewarp.plugins.nuke.glue", raising=False)
    monkeypatch.delitem(sys.modules, "facewarp.plugins.nuke.menu", raising=False)
    monkeypatch.setattr(sys, "path", list(sys.path))
    yield fake
    fake.reset()


@pytest.fixture
def glue(nuke):
    return importlib.import_module("facewarp.plugins.nuke.glue")


def _pyside_modules():
    return {m for m in sys.modules if m.startswith(("PySide", "PyQt", "shiboken"))}


# -- init.py / menu.py ----------------------------------------------------------------------
def test_init_creates_no_ui_and_imports_no_pyside(nuke):
    before = _pyside_modules()
    runpy.run_path(str(PLUGIN / "init.py"), run_name="init")
    assert _pyside_modules() == before
    ui = [c for c in nuke.CALLS if c[0] in ("menu", "addMenu", "addCommand", "createNode", "node", "addKnob")]
    assert ui == [] and nuke._MENUS == {} and nuke._NODES == []
    tree = ast.parse((PLUGIN / "init.py").read_text())
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert imported == {"os", "site", "sys", "nuke"}  # no PySide, no facewarp UI module


def test_init_puts_an_installed_facewarp_on_the_path(nuke, tmp_path, monkeypatch):
    # an installed layout: SITE/facewarp/plugins/nuke/init.py; Nuke may exec it without __file__
    site = tmp_path / "site"
    shutil.copytree(PLUGIN, site / "facewarp" / "plugins" / "nuke")
    folder = site / "facewarp" / "plugins" / "nuke"
    extra = tmp_path / "venv_site"
    extra.mkdir()
    monkeypatch.setenv("FACEWARP_SITE", str(extra))
    nuke.pluginAddPath(str(folder))
    code = compile((folder / "init.py").read_text(), str(folder / "init.py"), "exec")
    exec(code, {"__name__": "__main__"})  # no __file__: found through nuke.pluginPath()
    assert str(site) in sys.path and str(extra) in sys.path
    assert not [c for c in nuke.CALLS if c[0] in ("menu", "addMenu", "addCommand", "node")]


def test_menu_adds_the_facewarp_menu_and_its_commands(nuke, glue):
    runpy.run_path(str(PLUGIN / "menu.py"), run_name="menu")
    top = nuke._MENUS["Nuke"]
    fw = top.items["facewarp"]
    names = {p.stem for p in PRESETS}
    assert set(fw.items) == {"Create"} | {"STMap setup", "IDistort setup"}
    assert set(fw.items["Create"].items) == names
    # each command runs: it creates that preset's node
    exec(fw.items["Create"].items["grade_exr"], {"nuke": nuke})
    assert nuke.toNode("facewarp_grade_exr") is not None
    nuke.GET_FILENAME[0] = "/maps/sh010_stmap.####.exr 1001-1003"
    exec(fw.items["STMap setup"], {"nuke": nuke})
    assert [n.Class() for n in nuke._NODES][-2:] == ["Read", "STMap"]
    assert nuke._NODES[-2]["file"].value() == "/maps/sh010_stmap.####.exr"
    assert (nuke._NODES[-2]["first"].value(), nuke._NODES[-2]["last"].value()) == (1001, 1003)
    exec(fw.items["IDistort setup"], {"nuke": nuke})
    assert [n.Class() for n in nuke._NODES][-3:] == ["Read", "Copy", "IDistort"]


# -- the Group's knobs ----------------------------------------------------------------------
EXPECTED_CLASS = {"int": "Int_Knob", "float": "Double_Knob", "bool": "Boolean_Knob", "enum": "Enumeration_Knob",
                  "string": "String_Knob", "path": "File_Knob", "vec2": "XY_Knob", "vec3": "XYZ_Knob"}


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.stem)
def test_group_knobs_are_the_preset_vars(nuke, glue, preset):
    from facewarp.plugins.nuke import logic

    group = glue.create_facewarp_node(str(preset))
    assert group.Class() == "Group" and group.name() == f"facewarp_{preset.stem}"
    variables = load_preset(str(preset)).variables
    added = [c[2] for c in nuke.CALLS if c[0] == "addKnob" and c[1] == group.name()]
    var_knobs = [k for k in added if k not in logic.PLUGIN_KNOBS and k not in ("facewarp", "fw_divider")]
    assert var_knobs == list(variables)  # same names, same order
    for name, param in variables.items():
        knob = group[name]
        assert knob.Class() == EXPECTED_CLASS[param.kind], name
        default = list(param.default) if param.kind in ("vec2", "vec3") else param.default
        assert knob.value() == default, name
        if param.kind == "enum":
            assert knob.values() == list(param.choices)
        if param.min is not None or param.max is not None:
            lo, hi = knob.range()
            assert param.min is None or lo == param.min
            assert param.max is None or hi == param.max
        else:
            assert knob.range() is None
        assert param.doc in knob.tooltip()
    assert group[logic.PRESET_KNOB].value() == str(preset)
    assert group[logic.RENDER_KNOB].Class() == "PyScript_Knob"
    # the Group passes its input through
    assert [c.Class() for c in group.children] == ["Input", "Output"]


def test_knob_specs_cover_every_kind():
    from facewarp.graph.preset import loads_preset
    from facewarp.plugins.nuke import logic

    preset = loads_preset("""
facewarp: 1
vars:
  n: {type: int, default: 3, min: 1, max: 9, doc: count}
  g: {type: float, default: 0.5, min: 0}
  b: {type: bool, default: true}
  e: {type: enum, default: b, choices: [a, b]}
  s: {type: string, default: hi}
  p: {type: path, default: x.####.exr}
  c: {type: vec2, default: [1, 2]}
  t: {type: vec3, default: [1, 2, 3], max: 5}
nodes:
  k: {type: Constant}
""")
    specs = {s.name: s for s in logic.knob_specs(preset)}
    assert {n: s.knob_class for n, s in specs.items()} == {
        "n": "Int_Knob", "g": "Double_Knob", "b": "Boolean_Knob", "e": "Enumeration_Knob", "s": "String_Knob",
        "p": "File_Knob", "c": "XY_Knob", "t": "XYZ_Knob"}
    assert specs["n"].range == (1, 9) and logic.slider_range(specs["n"]) == (1, 9)
    assert specs["g"].range == (0, None) and logic.slider_range(specs["g"])[0] == 0
    assert specs["e"].choices == ("a", "b") and specs["c"].default == (1.0, 2.0)
    assert [logic.set_value(specs[k], v) for k, v in (("b", False), ("c", [1, 2.5]), ("g", 2), ("n", 4.0))] == [
        "false", "1.0,2.5", "2.0", "4"]
    for name, spec in specs.items():  # every --set text is accepted by the preset's own check
        preset.set_var(name, logic.set_value(spec, spec.default))


def test_patterns_frames_and_progress_lines():
    from facewarp.plugins.nuke import logic

    assert logic.nuke_pattern("/a/b.%04d.exr") == "/a/b.####.exr"
    assert logic.nuke_pattern("/a/b.@@@.exr") == "/a/b.###.exr"
    assert logic.nuke_pattern("/a/b.####.exr") == "/a/b.####.exr"
    assert logic.frame_spec(1001, 1010) == "1001-1010"
    with pytest.raises(ValueError):
        logic.frame_spec(5, 1)
    assert logic.progress_frame("frame 1002 done in 0.31s\n") == 1002
    assert logic.progress_frame("rendered 3 frame(s)") is None
    assert logic.split_sequence("/x/y.####.exr 1-3") == ("/x/y.####.exr", 1, 3)
    assert logic.split_sequence("/x/y.exr") == ("/x/y.exr", None, None)


def test_reanimate_outputs_include_the_stmap(tmp_path):
    from facewarp.plugins.nuke import logic

    seqs = {s.node: s for s in logic.output_sequences("reanimate", {}, str(tmp_path))}
    kinds = {s.kind for s in seqs.values()}
    assert "stmap" in kinds and "image" in kinds
    stmap = next(s for s in seqs.values() if s.kind == "stmap")
    assert stmap.path == str(tmp_path / "out/stmap/reanimate_stmap.####.exr") and stmap.layer == "forward"


def test_command_line_options():
    from facewarp.plugins.nuke import logic

    cmd = logic.command_line("grade_exr", frames="1001-1002", sets={"gain": "2.0"}, output_root="/r",
                             mode="skip", stats="s.json", report="r.json", quiet=True, python="py")
    assert cmd == ["py", "-m", "facewarp", "run", logic.bundled_presets()["grade_exr"], "--frames", "1001-1002",
                   "--set", "gain=2.0", "--output-root", os.path.abspath("/r"), "--stats", "s.json",
                   "--report", "r.json", "--quiet", "--skip-existing"]
    assert logic.command_line("grade_exr", mode="error", python="py")[-1].endswith("grade_exr.yaml")
    # every option the plugin uses is one `facewarp run` knows
    helptext = subprocess.run([sys.executable, "-m", "facewarp", "run", "--help"], capture_output=True, text=True).stdout
    for option in ("--frames", "--set", "--output-root", "--overwrite", "--skip-existing", "--stats", "--report",
                   "--quiet"):
        assert option in helptext


# -- STMap / IDistort setups ------------------------------------------------------------------
def test_stmap_setup(nuke, glue):
    plate = nuke.nodes.Read(file="/p/plate.####.exr")

    m_read, stmap = glue.stmap_setup("/maps/st.%04d.exr", src=plate, first=1001, last=1005)
    assert m_read.Class() == "Read" and stmap.Class() == "STMap"
    assert m_read["file"].value() == "/maps/st.####.exr" and m_read["raw"].value() is True
    assert (m_read["first"].value(), m_read["last"].value()) == (1001, 1005)
    # Nuke's STMap: input 0 'src', input 1 'stmap'
    assert stmap.input(0) is plate and stmap.input(1) is m_read
    assert stmap["uv"].value() == "rgba"  # the fake Read reports no forward.* channels


def test_stmap_setup_picks_the_forward_layer(nuke, glue, monkeypatch):
    real_new = nuke._new

    def new(cls, **kw):
        node = real_new(cls, **kw)
        if cls == "Read":
            node.channel_names = ["forward.u", "forward.v", "rgba.alpha"]
        return node

    monkeypatch.setattr(nuke, "_new", new)
    _, stmap = glue.stmap_setup("/maps/st.####.exr")
    assert stmap["uv"].value() == "forward"
    read, copy, idistort = glue.idistort_setup("/maps/off.####.exr")
    assert [copy["from0"].value(), copy["to0"].value(), copy["from1"].value(), copy["to1"].value()] == [
        "forward.u", "forward.u", "forward.v", "forward.v"]


def test_idistort_setup(nuke, glue):
    plate = nuke.nodes.Read(file="/p/plate.####.exr")
    read, copy, idistort = glue.idistort_setup("/maps/off.####.exr", src=plate)
    assert [n.Class() for n in (read, copy, idistort)] == ["Read", "Copy", "IDistort"]
    assert read["raw"].value() is True
    # IDistort takes offsets from its own input: Copy puts them in the 'forward' layer of the plate
    assert copy.input(0) is plate and copy.input(1) is read
    assert [copy["from0"].value(), copy["to0"].value(), copy["from1"].value(), copy["to1"].value()] == [
        "rgba.red", "forward.u", "rgba.green", "forward.v"]
    assert idistort.input(0) is copy
    assert idistort["uv"].value() == "forward" and idistort["uv_scale"].value() == 1.0


# -- Render, for real -----------------------------------------------------------------------
def _write_plates(folder: Path, frames):
    from facewarp.core.types import Image
    from facewarp.imaging.plates import write_plate

    folder.mkdir(parents=True)
    for i, frame in enumerate(frames):
        px = np.full((8, 12, 3), 0.1 * (i + 1), np.float32)
        write_plate(str(folder / f"plate.{frame:04d}.exr"), Image(px))


def test_render_runs_the_command_on_a_tiny_shot_and_reads_the_result(nuke, glue, tmp_path):
    from facewarp.plugins.nuke import logic

    _write_plates(tmp_path / "plates", (1001, 1002, 1003))
    # the upstream Read names 1001-1002 of the three frames on disk
    plate = nuke.nodes.Read(file=str(tmp_path / "plates" / "plate.####.exr"), first=1001, last=1002)
    nuke.select(plate)
    group = glue.create_facewarp_node(str(ROOT / "presets" / "grade_exr.yaml"))
    assert group.input(0) is plate and group["plate"].value() == plate["file"].value()
    group["out"].setValue("comp/graded.####.exr")  # relative: under the output root
    group["gain"].setValue(2.0)
    group[logic.OUTPUT_ROOT_KNOB].setValue(str(tmp_path))

    job = glue.render(group)
    assert job.command[:5] == [sys.executable, "-m", "facewarp", "run", str(ROOT / "presets" / "grade_exr.yaml")]
    i = job.command.index("--frames")
    assert job.command[i + 1] == "1001-1002"
    assert "gain=2.0" in job.command and "--overwrite" in job.command
    assert job.command[job.command.index("--output-root") + 1] == str(tmp_path)
    assert job.wait(timeout=300) == 0, job.messages

    written = sorted(p.name for p in (tmp_path / "comp").iterdir())
    assert written == ["graded.1001.exr", "graded.1002.exr"]  # exactly the frames it named
    assert sorted(job.done) == [1001, 1002]
    task = nuke.ProgressTask.instances[-1]
    assert task.progress[-1] == 100 and task.messages == ["frame 1001", "frame 1002"]
    assert ("executeInMainThread", "_finish") in nuke.CALLS

    (read,) = job.reads
    assert read.Class() == "Read" and read.name() == "facewarp_grade_exr_write"
    assert read["file"].value() == str(tmp_path / "comp" / "graded.####.exr")
    assert (read["first"].value(), read["last"].value()) == (1001, 1002)
    assert read["raw"].value() is False
    assert group[logic.STATUS_KNOB].value() == "rendered 2 frame(s)"

    # the Render button does the same; the Read is reused, not duplicated
    group[logic.RENDER_KNOB].execute()
    job2 = glue.JOBS[group.name()]
    assert job2 is not job and job2.wait(timeout=300) == 0, job2.messages
    assert sorted(job2.done) == [1001, 1002] and job2.reads[0] is read
    assert [n.name() for n in nuke.allNodes("Read")].count("facewarp_grade_exr_write") == 1


def test_a_failed_render_says_why(nuke, glue, tmp_path):
    from facewarp.plugins.nuke import logic

    group = glue.create_facewarp_node("grade_exr")
    group["plate"].setValue(str(tmp_path / "missing" / "plate.####.exr"))
    group[logic.OUTPUT_ROOT_KNOB].setValue(str(tmp_path))
    group[logic.FRAMES_KNOB].setValue("1-2")
    job = glue.render(group)
    assert job.wait(timeout=300) == 2
    assert job.reads == []
    assert group[logic.STATUS_KNOB].value().startswith("failed: facewarp: error:")


def test_face_presets_bring_their_matte_back_as_alpha(nuke, glue, tmp_path):
    """The render EXR of a face preset holds the face region as matte.A: the plugin knows which
    outputs have it and puts it into the alpha of a Copy below the render's Read."""
    from facewarp.plugins.nuke import logic

    seqs = {s.node: s for s in logic.output_sequences("reanimate", {}, str(tmp_path))}
    assert seqs["write"].matte == "matte.alpha" and seqs["write_stmap"].matte is None
    assert all(s.matte is None for s in logic.output_sequences("grade_exr", {}, str(tmp_path)))
    read = glue.read_output(seqs["write"], 1001, 1005)
    copy = glue.matte_to_alpha(read, seqs["write"].matte)
    assert copy.Class() == "Copy" and copy.input(0) is read and copy.input(1) is read
    assert (copy["from0"].value(), copy["to0"].value()) == ("matte.alpha", "rgba.alpha")
    assert glue.matte_to_alpha(read, "matte.alpha") is copy  # reused, not duplicated
