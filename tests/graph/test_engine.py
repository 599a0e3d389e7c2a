"""Engine: caching, hashing, sequence nodes, validation errors, substitution."""

from __future__ import annotations

import _nodes  # noqa: F401  (registers the test node types)
import numpy as np
import pytest
from _nodes import CALLS, HASHES

from facewarp.core.errors import UsageError
from facewarp.graph import Context, Evaluator, Graph, RenderError, ValidationError
from facewarp.graph.cache import LRUCache
from facewarp.graph.context import parse_frames

FRAMES = (1, 2, 3, 4)


@pytest.fixture(autouse=True)
def _reset_counts():
    CALLS.clear()
    HASHES.clear()


def ctx(frame=1, **variables):
    return Context(frame=frame, frames=FRAMES, variables=variables)


def chain():
    g = Graph()
    g.add("Constant", "const", {"width": 5, "height": 4, "color": [0.5, 0.25, 0.125]})
    g.add("TestFrameSource", "src")
    g.add("TestAdd", "add_const", {})
    g.add("TestAdd", "add_both", {})
    g.connect("const.image", "add_const.a")
    g.connect("src.image", "add_both.a")
    g.connect("add_const.image", "add_both.b")
    g.validate(ctx())
    return g


def test_cache_hits_do_not_recompute():
    g = chain()
    ev = Evaluator(g)
    first = ev.pull("add_both", ctx(1))["image"].pixels.copy()
    again = ev.pull("add_both", ctx(1))["image"].pixels
    assert np.array_equal(first, again)
    assert ev.stats["add_both"].computes == 1 and CALLS["add_both"] == 1
    assert np.allclose(first[..., 0], 1 + 0.5)  # frame 1 + the constant red


def test_frame_independent_branch_computes_once_per_range():
    g = chain()
    ev = Evaluator(g)
    for f in FRAMES:
        out = ev.pull("add_both", ctx(f))["image"].pixels
        assert np.allclose(out[..., 1], f + 0.25)  # frame + the constant green
    # The constant branch does not read the frame, so its hash is the same on every frame.
    assert ev.stats["const"].computes == 1
    assert CALLS["add_const"] == 1
    # The frame-dependent branch is computed for every frame.
    assert CALLS["src"] == len(FRAMES) and CALLS["add_both"] == len(FRAMES)


def test_hash_covers_frame_only_when_read():
    g = chain()
    ev = Evaluator(g)
    assert ev.hash("const", ctx(1)) == ev.hash("const", ctx(2))
    assert ev.hash("src", ctx(1)) != ev.hash("src", ctx(2))
    assert ev.hash("add_both", ctx(1)) != ev.hash("add_both", ctx(2))


def test_hash_follows_parameters_and_variables():
    g = Graph()
    g.add("Constant", "c", {"width": 2, "height": 2})
    g.add("Grade", "grade", {"gain": "${gain}"})
    g.connect("c.image", "grade.image")
    ev = Evaluator(g)
    h1 = ev.hash("grade", ctx(1, gain=1.0))
    ev.forget_hashes()
    h2 = ev.hash("grade", ctx(1, gain=2.0))
    assert h1 != h2
    out = ev.pull("grade", ctx(1, gain=2.0))["image"].pixels
    assert np.allclose(out, 0.36)


def test_path_with_frame_token_changes_hash_per_frame(tmp_path):
    g = Graph()
    g.add("PlateRead", "read", {"path": str(tmp_path / "p.####.exr"), "missing": "black"})
    g.add("PlateRead", "still", {"path": str(tmp_path / "still.exr")})
    ev = Evaluator(g)
    assert ev.hash("read", ctx(1)) != ev.hash("read", ctx(2))
    assert ev.hash("still", ctx(1)) == ev.hash("still", ctx(2))


def test_sequence_node_computes_once_for_the_range():
    g = Graph()
    g.add("TestFrameSource", "src")
    g.add("TestSequenceMean", "mean")
    g.add("TestAdd", "after")
    g.connect("src.image", "mean.image")
    g.connect("mean.image", "after.a")
    ev = Evaluator(g)
    for f in FRAMES:
        out = ev.pull("after", ctx(f))["image"].pixels
        assert np.allclose(out, np.mean(FRAMES))
    assert CALLS["mean"] == 1 and ev.stats["mean"].computes == 1
    assert CALLS["src"] == len(FRAMES)  # each input frame fetched once
    # Downstream of a sequence node, per-frame results are cached per frame.
    ev.pull("after", ctx(2))
    assert CALLS["after"] == len(FRAMES)


# -- a host edits the graph between pulls: results follow, nothing else recomputes ------------

def _grade_graph(gain=1.0):
    g = Graph()
    g.add("Constant", "c", {"width": 5, "height": 4, "color": [0.5, 0.25, 0.125]})
    g.add("Grade", "grade", {"gain": gain})
    g.connect("c.image", "grade.image")
    return g


def test_host_parameter_edits_show_without_forgetting_hashes():
    g = _grade_graph()
    ev = Evaluator(g)
    first = ev.output("grade.image", ctx()).pixels.copy()
    assert np.allclose(first[0, 0], [0.5, 0.25, 0.125])
    g.nodes["grade"].set_param("gain", 5)
    assert np.allclose(ev.output("grade.image", ctx()).pixels, 5 * first)
    g.nodes["grade"].set_param("gain", 9)
    assert np.allclose(ev.output("grade.image", ctx()).pixels, 9 * first)
    g.nodes["c"].set_param("color", [1, 1, 1])
    assert np.allclose(ev.output("grade.image", ctx()).pixels, 9)
    g.nodes["grade"].set_param("gain", 1)  # back to a value seen before: from the cache
    g.nodes["c"].set_param("color", [0.5, 0.25, 0.125])
    computes = ev.stats["grade"].computes
    assert np.array_equal(ev.output("grade.image", ctx()).pixels, first)
    assert ev.stats["grade"].computes == computes


def test_host_variable_and_frame_range_changes_show():
    g = _grade_graph("${gain}")
    ev = Evaluator(g)
    assert np.allclose(ev.output("grade.image", ctx(1, gain=2.0)).pixels[0, 0], [1.0, 0.5, 0.25])
    assert np.allclose(ev.output("grade.image", ctx(1, gain=4.0)).pixels[0, 0], [2.0, 1.0, 0.5])

    g = Graph()
    g.add("TestFrameSource", "src")
    g.add("TestSequenceMean", "mean")
    g.connect("src.image", "mean.image")
    ev = Evaluator(g)
    assert np.allclose(ev.output("mean.image", Context(frame=1, frames=(1, 2, 3, 4))).pixels, 2.5)
    assert np.allclose(ev.output("mean.image", Context(frame=1, frames=(1, 2))).pixels, 1.5)


def test_host_device_change_rehashes():
    g = Graph()
    g.add("Constant", "c", {"width": 2, "height": 2, "color": [0, 0, 0]})
    g.add("TestDeviceTag", "tag")
    g.connect("c.image", "tag.image")
    ev = Evaluator(g)
    cpu, cuda = Context(frame=1, device="cpu"), Context(frame=1, device="cuda")
    assert ev.hash("tag", cpu) != ev.hash("tag", cuda)
    assert np.allclose(ev.output("tag.image", cpu).pixels, 1)
    assert np.allclose(ev.output("tag.image", cuda).pixels, 2)
    assert np.allclose(ev.output("tag.image", cpu).pixels, 1)  # cached, not stale
    assert CALLS["tag"] == 2 and ev.stats["c"].computes == 1
    with ev.batch():  # hashes shared within a batch are still per context
        assert np.allclose(ev.output("tag.image", cuda).pixels, 2)
        assert np.allclose(ev.output("tag.image", cpu).pixels, 1)


def test_host_rewiring_shows():
    g = _grade_graph()
    g.add("Constant", "white", {"width": 5, "height": 4, "color": [1, 1, 1]})
    ev = Evaluator(g)
    assert np.allclose(ev.output("grade.image", ctx()).pixels[0, 0], [0.5, 0.25, 0.125])
    g.connect("white.image", "grade.image")
    assert np.allclose(ev.output("grade.image", ctx()).pixels, 1)
    g.add("Grade", "late", {"gain": 3})  # a node added after the evaluator was made
    g.connect("grade.image", "late.image")
    assert np.allclose(ev.output("late.image", ctx()).pixels, 3) and ev.stats["late"].computes == 1


def _diamond():
    """src -> a -> b -> d <- c <- src; d -> out (all counting)."""
    g = Graph()
    g.add("TestFrameSource", "src")
    for n in ("a", "b", "c", "out"):
        g.add("TestScale", n)
    g.add("TestAdd", "d")
    for s, d in (("src", "a"), ("a", "b"), ("src", "c"), ("d", "out")):
        g.connect(f"{s}.image", f"{d}.image")
    g.connect("b.image", "d.a")
    g.connect("c.image", "d.b")
    g.nodes["c"].set_param("factor", 0.5)  # else a and c hash (and cache) alike
    g.validate(ctx())
    return g


def test_parameter_change_recomputes_exactly_downstream():
    g = _diamond()
    ev = Evaluator(g)
    assert np.allclose(ev.output("out.image", ctx(3)).pixels, 4.5)
    assert CALLS == {n: 1 for n in ("src", "a", "b", "c", "d", "out")}
    ev.output("out.image", ctx(3))
    assert CALLS == {n: 1 for n in ("src", "a", "b", "c", "d", "out")}  # nothing changed
    g.nodes["a"].set_param("factor", 2.0)
    assert np.allclose(ev.output("out.image", ctx(3)).pixels, 7.5)
    assert CALLS == {"src": 1, "a": 2, "b": 2, "c": 1, "d": 2, "out": 2}
    ev.output("out.image", ctx(3))
    assert CALLS == {"src": 1, "a": 2, "b": 2, "c": 1, "d": 2, "out": 2}


def test_batch_shares_hashes_and_single_pulls_do_not():
    g = _diamond()
    ev = Evaluator(g)
    ev.pull("out", ctx())
    ev.pull("b", ctx())
    assert HASHES["a"] == 2  # each top-level pull hashes afresh
    HASHES.clear()
    with ev.batch():
        ev.pull("out", ctx())
        ev.pull("b", ctx())
        assert np.allclose(ev.output("c.image", ctx()).pixels, 0.5)
        g.nodes["c"].set_param("factor", 4.0)
        ev.forget_hashes()  # an edit inside a batch needs this
        assert np.allclose(ev.output("c.image", ctx()).pixels, 4)
    assert HASHES["a"] == 1 and HASHES["b"] == 1  # shared by the pulls of out and b
    assert HASHES["c"] == 2  # once before forget_hashes, once after
    g.nodes["c"].set_param("factor", 5.0)
    assert np.allclose(ev.output("c.image", ctx()).pixels, 5)  # the batch's memo is gone


def test_error_in_a_pull_does_not_keep_hashes():
    g = _grade_graph()
    g.add("TestBroken", "bad")
    g.connect("grade.image", "bad.image")
    ev = Evaluator(g)
    with pytest.raises(RenderError):
        ev.pull("bad", ctx())
    g.nodes["grade"].set_param("gain", 2)
    assert np.allclose(ev.output("grade.image", ctx()).pixels[0, 0], [1.0, 0.5, 0.25])


def _sequence_chain():
    """src -> pre -> mean (sequence) -> post (counting)."""
    g = Graph()
    g.add("TestFrameSource", "src")
    g.add("TestScale", "pre")
    g.add("TestSequenceMean", "mean")
    g.add("TestScale", "post")
    g.connect("src.image", "pre.image")
    g.connect("pre.image", "mean.image")
    g.connect("mean.image", "post.image")
    return g


def test_sequence_hashing_is_memoised_within_a_pull():
    g = _sequence_chain()
    ev = Evaluator(g)
    ev.pull("post", ctx(2))
    assert HASHES["pre"] == len(FRAMES)  # each upstream frame hashed once, though asked twice
    assert CALLS["mean"] == 1 and CALLS["pre"] == len(FRAMES)


def test_change_downstream_of_a_sequence_node_does_not_recompute_it():
    g = _sequence_chain()
    ev = Evaluator(g)
    for f in FRAMES:
        assert np.allclose(ev.output("post.image", ctx(f)).pixels, 2.5)
    g.nodes["post"].set_param("factor", 3.0)
    for f in FRAMES:
        assert np.allclose(ev.output("post.image", ctx(f)).pixels, 7.5)
    assert CALLS == {"src": 4, "pre": 4, "mean": 1, "post": 8}
    g.nodes["pre"].set_param("factor", 2.0)  # upstream: the sequence runs again, once
    for f in FRAMES:
        assert np.allclose(ev.output("post.image", ctx(f)).pixels, 15)
    assert CALLS == {"src": 4, "pre": 8, "mean": 2, "post": 12}
    assert len(ev._sequence) == 1  # the superseded sequence result was dropped


def test_clear_recomputes_everything_once():
    g = _sequence_chain()
    ev = Evaluator(g)
    for f in FRAMES:
        ev.pull("post", ctx(f))
    ev.clear()
    assert len(ev.cache) == 0 and ev.cache.bytes == 0
    for f in FRAMES:
        assert np.allclose(ev.output("post.image", ctx(f)).pixels, 2.5)
    assert CALLS == {"src": 8, "pre": 8, "mean": 2, "post": 8}


def test_lru_cache_respects_byte_limit():
    cache = LRUCache(max_bytes=3000)
    for i in range(5):
        cache.put(str(i), np.zeros(100, np.float64))  # 800 bytes each
    assert cache.bytes <= 3000 and len(cache) == 3
    assert cache.get("0") is None and cache.get("4") is not None
    cache.get("2")
    cache.put("5", np.zeros(100, np.float64))
    assert "2" in cache and "3" not in cache  # least recently used went first


def test_small_cache_recomputes_but_stays_correct():
    g = chain()
    ev = Evaluator(g, cache_bytes=1)  # nothing fits: every pull recomputes
    a = ev.pull("add_both", ctx(2))["image"].pixels.copy()
    b = ev.pull("add_both", ctx(2))["image"].pixels
    assert np.array_equal(a, b) and CALLS["add_both"] == 2


def test_render_error_names_node_and_frame():
    g = Graph()
    g.add("TestFrameSource", "src")
    g.add("TestBroken", "bad")
    g.connect("src.image", "bad.image")
    with pytest.raises(RenderError) as info:
        Evaluator(g).pull("bad", ctx(3))
    assert str(info.value) == "node 'bad' (TestBroken), frame 3: ZeroDivisionError: boom"
    assert info.value.exit_code == 1


def test_bypass_passes_input_through():
    g = Graph()
    g.add("Constant", "c", {"width": 3, "height": 2, "color": [1, 2, 3]})
    g.add("Grade", "grade", {"gain": 5.0}, bypass=True)
    g.connect("c.image", "grade.image")
    out = Evaluator(g).pull("grade", ctx())["image"].pixels
    assert np.allclose(out[0, 0], [1, 2, 3])


# -- validation: one error per case, one line, naming node/port/param, expected and got ---------

def _problems(g):
    return [str(p) for p in g.problems(ctx())]


def test_unknown_node_type():
    with pytest.raises(ValidationError) as info:
        Graph().add("NoSuchNode", "x")
    assert "unknown node type 'NoSuchNode'" in str(info.value) and "node 'x'" in str(info.value)


def test_unknown_port():
    g = Graph()
    g.add("Constant", "c")
    g.add("Grade", "grade")
    g.connect("c.image", "grade.picture")
    g.connect("c.image", "grade.image")
    assert "node 'grade' (Grade), port 'picture': unknown input port (known: image)" in _problems(g)


def test_unknown_output_port():
    g = Graph()
    g.add("Constant", "c")
    g.add("Grade", "grade")
    g.connect("c.colour", "grade.image")
    assert "node 'grade' (Grade), port 'image': 'c' has no output 'colour' (known: image)" in _problems(g)


def test_type_mismatch():
    from facewarp.graph import Input, Node, NodeSchema, Output, register

    @register
    class TestMaskSink(Node):
        schema = NodeSchema(type="TestMaskSink", doc="takes a mask", inputs=(Input("matte", "Mask"),),
                            outputs=(Output("matte", "Mask"),))

    g = Graph()
    g.add("Constant", "c")
    g.add("TestMaskSink", "sink")
    g.connect("c.image", "sink.matte")
    assert "node 'sink' (TestMaskSink), port 'matte': type mismatch: expected Mask, got Image from 'c.image'" in _problems(g)


def test_missing_required_input():
    g = Graph()
    g.add("Grade", "grade")
    assert "node 'grade' (Grade), port 'image': required input is not connected (expects Image)" in _problems(g)


def test_optional_input_may_stay_unconnected():
    g = Graph()
    g.add("Constant", "c")
    g.add("TestAdd", "add")
    g.connect("c.image", "add.a")
    assert _problems(g) == []


def test_cycle():
    g = Graph()
    for n in ("a", "b", "c"):
        g.add("Grade", n)
    g.connect("a.image", "b.image")
    g.connect("b.image", "c.image")
    g.connect("c.image", "a.image")
    cycles = [p for p in _problems(g) if "cycle" in p]
    assert len(cycles) == 1 and cycles[0].count("->") == 3


@pytest.mark.parametrize("value, expected", [
    (-1.0, "param 'gain': expected a value >= 0.0, got -1.0"),
    (5000, "param 'gain': expected a value <= 1000.0, got 5000.0"),
    ("bright", "param 'gain': expected a number, got 'bright'"),
    (True, "param 'gain': expected a number, got True"),
    ([1, 2], "param 'gain': expected a finite number, got [1, 2]"),
])
def test_parameter_range_and_type(value, expected):
    g = Graph()
    g.add("Constant", "c")
    g.add("Grade", "grade", {"gain": value})
    g.connect("c.image", "grade.image")
    assert f"node 'grade' (Grade), {expected}" in _problems(g)


def test_enum_and_unknown_parameter():
    g = Graph()
    g.add("PlateRead", "r", {"path": "x.exr", "missing": "sometimes"})
    assert "node 'r' (PlateRead), param 'missing': expected one of error|hold|black, got 'sometimes'" in _problems(g)
    with pytest.raises(ValidationError) as info:
        Graph().add("Grade", "g", {"gian": 1})
    assert "param 'gian': unknown parameter" in str(info.value)


def test_required_path_parameter():
    g = Graph()
    g.add("PlateRead", "r")
    assert any("param 'path'" in p and "non-empty file path" in p for p in _problems(g))


# -- substitution ---------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("plate.####.exr", "plate.0042.exr"),
    ("plate.%04d.exr", "plate.0042.exr"),
    ("plate.%d.exr", "plate.42.exr"),
    ("plate.@@@.exr", "plate.042.exr"),
    ("${shot}/v${ver}/${shot}.####.exr", "sh010/v3/sh010.0042.exr"),
    ("${root}/x.exr", "/jobs/sh010/x.exr"),
    ("cost $$5 ${shot}", "cost $5 sh010"),
    ("f${frame}", "f42"),
])
def test_substitute(text, expected):
    c = Context(frame=42, variables={"shot": "sh010", "ver": 3, "root": "/jobs/${shot}"})
    assert c.substitute(text) == expected


def test_substitute_keeps_type_of_whole_variable_and_reports_unknown():
    c = Context(frame=1, variables={"gain": 2.5})
    assert c.substitute("${gain}") == 2.5
    with pytest.raises(ValidationError, match=r"unknown variable \$\{nope\}"):
        c.substitute("${nope}")
    with pytest.raises(ValidationError, match="loop"):
        Context(variables={"a": "${b}", "b": "${a}"}).substitute("x${a}")
    with pytest.raises(ValidationError, match="no frame"):
        Context().substitute("p.####.exr")


@pytest.mark.parametrize("spec, frames", [
    ("1001-1005", (1001, 1002, 1003, 1004, 1005)),
    ("1001-1010x3", (1001, 1004, 1007, 1010)),
    ("1,5,9", (1, 5, 9)),
    ("1-3,10", (1, 2, 3, 10)),
    ("7", (7,)),
])
def test_parse_frames(spec, frames):
    assert parse_frames(spec) == frames


@pytest.mark.parametrize("spec", ["", "10-1", "1-5x0", "a-b", "1--", "1-5x"])
def test_parse_frames_rejects(spec):
    with pytest.raises(UsageError):
        parse_frames(spec)


def test_schema_json_and_help_generated_from_one_declaration():
    from facewarp.graph import node_types

    types = node_types()
    for name, cls in types.items():
        js = cls.schema.to_json()
        assert js["type"] == name
        text = cls.schema.help_text()
        for p in cls.schema.params:
            assert p.name in text and any(q["name"] == p.name for q in js["params"])


def test_third_party_node_types_register_through_entry_points(tmp_path, monkeypatch):
    """A real installed distribution (dist-info on sys.path) adds a node type via the group."""
    from facewarp.graph import registry

    (tmp_path / "studio_nodes.py").write_text(
        "import numpy as np\n"
        "from facewarp.graph import Image, Node, NodeSchema, Output\n"
        "class StudioSlate(Node):\n"
        "    schema = NodeSchema(type='StudioSlate', doc='a slate', outputs=(Output('image', 'Image'),))\n"
        "    def compute(self, ctx, inputs):\n"
        "        return {'image': Image(np.ones((2, 2, 3), np.float32))}\n")
    dist = tmp_path / "studio_nodes-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: studio-nodes\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[facewarp.nodes]\nslate = studio_nodes:StudioSlate\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "_LOADED", False)
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    types = registry.node_types()
    assert "StudioSlate" in types and "PlateRead" in types
    g = Graph()
    g.add("StudioSlate", "slate")
    assert Evaluator(g).pull("slate", ctx())["image"].pixels.sum() == 12
