"""facewarp.api: the host API (schemas, presets by name, vars as JSON Schema, edits, in-memory
evaluation, render with progress and cancel, free_memory)."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from facewarp import api
from facewarp.core.errors import FacewarpError, RenderCancelled, UsageError, ValidationError
from facewarp.core.frames import frame_path
from facewarp.graph import Graph, Landmarks, registry
from facewarp.graph.preset import loads_preset
from facewarp.imaging.plates import read_plate

BUNDLED = {"grade_exr", "reanimate", "reanimate_gan", "reanimate_mesh", "reenact", "reenact_networks"}


def _grade_graph(gain=2.0):
    g = Graph()
    g.add("MemoryInput", "src", {"kind": "Image"})
    g.add("Grade", "grade", {"gain": gain})
    g.connect("src.image", "grade.image")
    return g


# -- schemas -------------------------------------------------------------------------------
def test_node_types_lists_every_registered_type_as_json():
    types = api.node_types()
    assert [t["type"] for t in types] == list(registry.node_types())
    assert {"MemoryInput", "Grade", "PlateRead", "PlateWrite"} <= {t["type"] for t in types}
    assert json.loads(json.dumps(types)) == types  # JSON-able, nothing lost
    grade = api.node_schema("Grade")
    assert {p["name"] for p in grade["params"]} == {"gain", "lift", "gamma", "saturation"}
    with pytest.raises(ValidationError, match="unknown node type 'Nope'"):
        api.node_schema("Nope")


# -- presets -------------------------------------------------------------------------------
def test_bundled_presets_by_name_and_path(tmp_path, monkeypatch):
    listed = api.presets()
    assert {p["name"] for p in listed} == BUNDLED
    assert all(p["description"] and os.path.isfile(p["path"]) for p in listed)
    preset = api.load_preset("reanimate")
    assert preset.path.endswith("reanimate.yaml") and "ExpressionEdit" in {n.schema.type for n in preset.graph.nodes.values()}
    assert api.preset_path("grade_exr.yaml").endswith(os.path.join("presets", "grade_exr.yaml"))
    # a file that exists wins over a bundled name
    monkeypatch.chdir(tmp_path)
    (tmp_path / "grade_exr").write_text("facewarp: 1\ndescription: mine\nnodes: {c: {type: Constant}}\n")
    assert api.preset_path("grade_exr") == "grade_exr"
    assert api.load_preset("grade_exr").description == "mine"
    with pytest.raises(UsageError, match=r"no preset file or bundled preset named 'nope' \(bundled: grade_exr, reanimate"):
        api.preset_path("nope")
    with pytest.raises(FacewarpError, match="preset file does not exist"):
        api.load_preset("missing/shot.yaml")


def test_vars_as_json_schema_validates_the_defaults():
    preset = loads_preset("""
facewarp: 1
vars:
  n: {type: int, default: 3, min: 1, max: 9, doc: count}
  g: {type: float, default: 1.5, min: 0}
  flag: {type: bool, default: true}
  mode: {type: enum, default: b, choices: [a, b]}
  s: {type: string, default: hi}
  p: {type: path, default: x.exr}
  v2: {type: vec2, default: [1, 2]}
  v3: {type: vec3, default: [0, 0.5, 1], min: 0, max: 1}
nodes: {c: {type: Constant}}
""")
    schema = api.preset_vars_schema(preset)
    props = schema["properties"]
    assert schema["type"] == "object" and "2020-12" in schema["$schema"]
    assert props["n"] == {"type": "integer", "default": 3, "minimum": 1, "maximum": 9, "description": "count"}
    assert props["g"]["type"] == "number" and props["g"]["minimum"] == 0 and "maximum" not in props["g"]
    assert props["flag"] == {"type": "boolean", "default": True}
    assert props["mode"]["enum"] == ["a", "b"] and props["mode"]["default"] == "b"
    assert props["s"]["type"] == props["p"]["type"] == "string"
    assert props["v2"] == {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2, "default": [1.0, 2.0]}
    assert props["v3"]["items"] == {"type": "number", "minimum": 0, "maximum": 1} and props["v3"]["maxItems"] == 3
    json.dumps(schema)
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft202012Validator(schema)
    validator.validate({k: v["default"] for k, v in props.items()})
    assert not validator.is_valid({"n": 10}) and not validator.is_valid({"mode": "c"})
    assert not validator.is_valid({"v2": [1, 2, 3]}) and not validator.is_valid({"nope": 1})
    # every bundled preset's vars make a valid schema whose defaults validate
    for name in BUNDLED:
        s = api.preset_vars_schema(api.load_preset(name))
        jsonschema.Draft202012Validator.check_schema(s)
        jsonschema.validate({k: v["default"] for k, v in s["properties"].items()}, s)


def test_set_var_and_set_param_are_validated():
    preset = api.load_preset("grade_exr")
    api.set_var(preset, "gain", "2.5")
    assert preset.values["gain"] == 2.5
    with pytest.raises(UsageError, match="variable gain: expected a value >= 0") as exc:
        api.set_var(preset, "gain", -1)
    assert "\n" not in str(exc.value) and preset.values["gain"] == 2.5
    with pytest.raises(UsageError, match=r"no variable 'nope' \(known: plate, out, gain, saturation\)"):
        api.set_var(preset, "nope", 1)
    api.set_param(preset, "grade", "lift", 0.25)
    assert preset.graph.nodes["grade"].params["lift"] == 0.25
    with pytest.raises(ValidationError, match="node 'grade' \\(Grade\\), param 'gamma': expected a value >= 0.01"):
        api.set_param(preset, "grade", "gamma", 0)
    with pytest.raises(ValidationError, match="param 'nope': unknown parameter"):
        api.set_param(preset, "grade", "nope", 1)
    with pytest.raises(ValidationError, match="no node 'x'"):
        api.set_param(preset, "x", "gain", 1)
    api.set_param(preset, "grade", "gain", "${gain}")  # variables are checked when evaluated
    assert preset.graph.nodes["grade"].params["gain"] == "${gain}"


# -- in-memory evaluation --------------------------------------------------------------------
def test_evaluate_in_memory_follows_new_data_and_params():
    g = _grade_graph()
    rng = np.random.default_rng(0)
    a = rng.uniform(0, 1, (8, 6, 3)).astype(np.float32)
    out = api.evaluate(g, "grade.image", 1001, inputs={"src": a})
    assert isinstance(out, np.ndarray) and out.dtype == np.float32
    assert np.array_equal(out, a * np.float32(2))
    # new data (same shape, same buffer reused by the host): never a stale result
    a[...] = rng.uniform(0, 1, a.shape)
    api.set_input(g, "src", a)
    assert np.array_equal(api.evaluate(g, "grade.image", 1001), a * np.float32(2))
    # the store keeps a copy: changing the host's buffer after set_input changes nothing
    kept = a.copy()
    a[...] = 0
    assert np.array_equal(api.evaluate(g, "grade.image", 1001), kept * np.float32(2))
    # a parameter change is followed
    api.set_param(g, "grade", "gain", 3.0)
    assert np.array_equal(api.evaluate(g, "grade.image", 1001), kept * np.float32(3))
    # mutating what evaluate returned does not touch the cache
    got = api.evaluate(g, "grade.image", 1001)
    got[...] = -1
    assert np.array_equal(api.evaluate(g, "grade.image", 1001), kept * np.float32(3))


def test_memory_input_per_frame_data_and_other_kinds():
    g = _grade_graph(gain=1.0)
    one, two = np.full((2, 2, 3), 1, np.float32), np.full((2, 2, 3), 2, np.float32)
    api.set_input(g, "src", one, frame=1)
    api.set_input(g, "src", two, frame=2)
    assert api.evaluate(g, "grade.image", 2, frames=(1, 2))[0, 0, 0] == 2
    assert api.evaluate(g, "grade.image", 1, frames=(1, 2))[0, 0, 0] == 1
    with pytest.raises(ValidationError, match="node 'src' \\(MemoryInput\\): no data set for frame 3"):
        api.evaluate(g, "grade.image", 3)
    # Landmarks: the output port and type follow kind
    g2 = Graph()
    g2.add("MemoryInput", "lm", {"kind": "Landmarks"})
    pts = np.array([[1.0, 2.0], [3.0, 4.0]], np.float32)
    got = api.evaluate(g2, "lm.landmarks", 1, inputs={"lm": pts})
    assert isinstance(got, Landmarks) and np.array_equal(got.points, pts)
    with pytest.raises(ValidationError, match="has no output 'image'"):
        api.evaluate(g2, "lm.image", 1)
    # a Landmarks output cannot feed an Image input: the graph says so before computing
    g2.add("Grade", "grade")
    g2.connect("lm.landmarks", "grade.image")
    with pytest.raises(ValidationError, match="type mismatch: expected Image, got Landmarks"):
        api.evaluate(g2, "grade.image", 1)
    with pytest.raises(ValidationError, match="not a MemoryInput"):
        api.set_input(g2, "grade", pts)


def test_free_memory_clears_the_api_evaluators():
    g = _grade_graph()
    api.evaluate(g, "grade.image", 1, inputs={"src": np.ones((2, 2, 3), np.float32)})
    ev = api._evaluator(g)
    assert len(ev.cache) > 0
    api.free_memory()
    assert len(ev.cache) == 0
    assert np.array_equal(api.evaluate(g, "grade.image", 1), np.full((2, 2, 3), 2, np.float32))


# -- render ---------------------------------------------------------------------------------
_RENDER_PRESET = """
facewarp: 1
frames: 1-5
nodes:
  src: {type: MemoryInput}
  write: {type: PlateWrite, params: {path: out/f.####.exr, exr_pixel_type: float}, inputs: {image: src.image}}
outputs: [write]
"""


def test_render_with_progress_then_cancel_after_two_frames(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the preset's relative outputs land here
    preset = loads_preset(_RENDER_PRESET)
    px = np.full((4, 4, 3), 0.5, np.float32)
    api.set_input(preset, "src", px)
    seen = []
    result = api.render(preset, frames=[1, 2, 3], output_root=tmp_path, mode="error",
                        progress=lambda done, total, frame, s: seen.append((done, total, frame)))
    assert result.frames == (1, 2, 3) and seen == [(0, 3, None), (1, 3, 1), (2, 3, 2), (3, 3, 3)]
    assert np.array_equal(read_plate(frame_path(str(tmp_path / "out/f.####.exr"), 2)).pixels, px)

    out2 = tmp_path / "second"
    asked = []

    def cancel():
        asked.append(1)
        return len(asked) > 2  # cancel after 2 frames

    preset2 = loads_preset(_RENDER_PRESET.replace("out/f.", str(out2 / "f.")))
    api.set_input(preset2, "src", px)
    with pytest.raises(RenderCancelled) as exc:
        api.render(preset2, output_root=out2, cancel=cancel)
    assert exc.value.render_result.frames == (1, 2)
    assert sorted(os.listdir(out2)) == ["f.0001.exr", "f.0002.exr"]
    # outputs outside the root are refused before computing
    with pytest.raises(ValidationError, match="outside the output root"):
        api.render(preset2, frames=[1], output_root=tmp_path / "elsewhere", mode="overwrite")
