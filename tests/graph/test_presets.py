"""Presets: round-trip, variables, line numbers in errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from facewarp.graph import InputError, PresetError, UsageError, ValidationError
from facewarp.graph.preset import load_preset, loads_preset
from facewarp.graph.render_loop import frames_available

PRESETS = Path(__file__).resolve().parents[2] / "presets"


def test_every_shipped_preset_loads_validates_and_round_trips(tmp_path):
    files = sorted(PRESETS.glob("*.yaml"))
    assert files, "presets/ must ship at least the minimal preset"
    plates = tmp_path / "plates"
    plates.mkdir()
    for f in range(1001, 1006):  # validation checks that the input frames exist
        (plates / f"plate.{f}.exr").write_bytes(b"")
    for path in files:
        preset = load_preset(str(path))
        problems = preset.graph.problems(preset.context())
        if "plate" in preset.variables:
            assert [type(p) for p in problems] == [InputError], (path.name, problems)  # the default plates are absent
            preset.apply_sets([f"plate={plates}/plate.####.exr"])
            problems = preset.graph.problems(preset.context())
        else:  # reenact: its defaults ship beside it; no frames: the driving movie's
            problems = preset.graph.problems(preset.context(frames_available(preset.graph, preset.context())))
        assert problems == [], (path.name, problems)
        again = loads_preset(preset.dumps())
        assert again.to_dict() == preset.to_dict()
        saved = tmp_path / path.name
        preset.save(str(saved))
        assert load_preset(str(saved)).to_dict() == preset.to_dict()
        with pytest.raises(Exception, match="exists"):
            preset.save(str(saved))  # never overwrites unasked


def test_set_overrides_typed_variables():
    preset = load_preset(str(PRESETS / "grade_exr.yaml"))
    preset.apply_sets(["gain=2.5", "out=/tmp/x.####.exr"])
    ctx = preset.context()
    assert preset.graph.nodes["grade"].param(ctx, "gain") == 2.5
    assert preset.graph.nodes["write"].param(ctx.at(1003), "path") == "/tmp/x.1003.exr"
    assert preset.to_dict()["vars"]["gain"]["default"] == 2.5
    with pytest.raises(UsageError, match="has no variable 'gian'"):
        preset.apply_sets(["gian=1"])
    with pytest.raises(UsageError, match="--set gain: expected a number, got 'loud'"):
        preset.apply_sets(["gain=loud"])
    with pytest.raises(UsageError, match="--set gain: expected a value >= 0"):
        preset.apply_sets(["gain=-1"])
    with pytest.raises(UsageError, match="name=value"):
        preset.apply_sets(["gain"])


BASE = """\
facewarp: 1
vars:
  gain: {type: float, default: 1.0, min: 0}
nodes:
  c:
    type: Constant
    params: {width: 8, height: 4}
  g:
    type: Grade
    params:
      gain: ${gain}
    inputs:
      image: c.image
"""


def _error(text):
    preset = loads_preset(text, "shot.yaml")
    problems = preset.graph.problems(preset.context())
    assert problems, "expected a validation problem"
    return str(problems[0])


def test_valid_base():
    preset = loads_preset(BASE, "shot.yaml")
    assert preset.graph.problems(preset.context()) == []


@pytest.mark.parametrize("old, new, message", [
    ("      image: c.image", "      image: c.img", "shot.yaml:13, node 'g' (Grade), port 'image': 'c' has no output 'img' (known: image)"),
    ("      image: c.image", "      picture: c.image", "shot.yaml:13, node 'g' (Grade), port 'picture': unknown input port (known: image)"),
    ("      image: c.image", "      image: zz.image", "shot.yaml:13, node 'g' (Grade), port 'image': input connected to unknown node 'zz'"),
    ("    params: {width: 8, height: 4}", "    params: {width: -8, height: 4}", "shot.yaml:7, node 'c' (Constant), param 'width': expected a value >= 1, got -8"),
    ("      gain: ${gain}", "      gain: ${gian}", "shot.yaml:11, node 'g' (Grade), param 'gain': unknown variable ${gian} (known: PRESET_DIR, device, fps, frame, gain)"),
])
def test_validation_errors_name_the_yaml_line(old, new, message):
    text = BASE.replace(old, new)
    assert text != BASE
    assert _error(text) == message


@pytest.mark.parametrize("text, message", [
    ("facewarp: 1\nnodes: {a: {type: Grade}\n", "shot.yaml:3"),
    ("facewarp: 2\nnodes: {a: {type: Grade}}\n", "shot.yaml:1: unsupported preset version 2"),
    ("nodes: {a: {type: Grade}}\n", "missing 'facewarp: 1' version key"),
    ("facewarp: 1\nnodes: {}\n", "nodes must be a non-empty mapping"),
    ("facewarp: 1\nnode: {a: {type: Grade}}\n", "shot.yaml:2: unknown top-level key 'node'"),
    ("facewarp: 1\nnodes:\n  a:\n    type: Grade\n    param: {gain: 1}\n", "shot.yaml:5, node 'a': unknown key 'param'"),
    ("facewarp: 1\nnodes:\n  a:\n    type: Gradee\n", "shot.yaml:4, node 'a': unknown node type 'Gradee'"),
    ("facewarp: 1\nnodes:\n  a:\n    type: Grade\n    inputs: {image: nodot}\n", "shot.yaml:5, node 'a', port 'image': input 'image' must be 'node.output'"),
    ("facewarp: 1\nvars:\n  x: {type: colour, default: 1}\nnodes: {a: {type: Grade}}\n", "shot.yaml:3: variable 'x': type must be one of"),
    ("facewarp: 1\nvars:\n  x: {type: int, default: 1.5}\nnodes: {a: {type: Grade}}\n", "shot.yaml:3: variable 'x' default: expected an integer"),
    ("facewarp: 1\nframes: 10-1\nnodes: {a: {type: Grade}}\n", "shot.yaml:2: frame range '10-1' ends before it starts"),
    ("- a\n- b\n", "a preset must be a YAML mapping"),
    ("facewarp: 1\nnodes:\n  a:\n    type: Grade\n    params: {gain: !!python/object:os.system {}}\n", "shot.yaml"),
])
def test_malformed_presets_fail_with_located_one_line_errors(text, message):
    with pytest.raises((PresetError, ValidationError)) as info:
        loads_preset(text, "shot.yaml")
    assert message in str(info.value)
    assert "\n" not in str(info.value)
    assert info.value.exit_code == 2


def test_cycle_in_preset():
    text = """\
facewarp: 1
nodes:
  a: {type: Grade, inputs: {image: b.image}}
  b: {type: Grade, inputs: {image: a.image}}
"""
    assert "cycle: a -> b -> a" in _error(text) or "cycle: b -> a -> b" in _error(text)


def test_type_mismatch_in_preset():
    from facewarp.graph import Input, Node, NodeSchema, Output, register

    @register
    class TestMeshSink(Node):
        schema = NodeSchema(type="TestMeshSink", doc="takes a mesh", inputs=(Input("mesh", "Mesh"),),
                            outputs=(Output("mesh", "Mesh"),))

    text = "facewarp: 1\nnodes:\n  c: {type: Constant}\n  m:\n    type: TestMeshSink\n    inputs:\n      mesh: c.image\n"
    assert _error(text) == "shot.yaml:7, node 'm' (TestMeshSink), port 'mesh': type mismatch: expected Mesh, got Image from 'c.image'"
