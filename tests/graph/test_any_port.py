"""The ``Any`` port type: an Any input takes any output, an Any output carries the type of what
feeds the node's Any input (validated downstream), and ``Node.input_context`` moves where a
node's inputs are pulled."""

from __future__ import annotations

from dataclasses import replace

import _nodes  # noqa: F401  (registers the engine test nodes)
import numpy as np
import pytest
from _nodes import CALLS

from facewarp.graph import Context, Evaluator, Graph, Input, Landmarks, Node, NodeSchema, Output, RenderError
from facewarp.graph.schema import ANY

FRAMES = tuple(range(1, 11))


class _Pass(Node):
    """Any in, Any out; pulls its input at frame ``at`` (None: the frame evaluated)."""
    schema = NodeSchema(type="_TestAnyPass", doc="test", inputs=(Input("value", ANY),), outputs=(Output("value", ANY),))
    at: int | None = None

    def input_context(self, ctx):
        return ctx if self.at is None else replace(ctx, frame=self.at, frames=(self.at,))

    def compute(self, ctx, inputs):
        CALLS[self.name] = CALLS.get(self.name, 0) + 1
        return {"value": inputs["value"]}


class _LandmarkSource(Node):
    schema = NodeSchema(type="_TestAnyLandmarks", doc="test", outputs=(Output("landmarks", "Landmarks"),))

    def compute(self, ctx, inputs):
        return {"landmarks": Landmarks(np.zeros((3, 2)))}


@pytest.fixture(autouse=True)
def _reset():
    CALLS.clear()


def _graph(*chain: str) -> Graph:
    g = Graph()
    g.add("TestFrameSource", "src")
    prev = "src.image"
    for i, kind in enumerate(chain):
        name = f"n{i}"
        if kind == "pass":
            g.nodes[name] = _Pass(name)
            g.connect(prev, f"{name}.value")
            prev = f"{name}.value"
        else:
            g.add(kind, name)
            g.connect(prev, f"{name}.image")
            prev = f"{name}.image"
    return g


def test_schema_accepts_any_only_with_an_any_input_for_an_any_output():
    assert Input("x", ANY).to_json()["type"] == "Any"
    with pytest.raises(ValueError, match="unknown port type"):
        Input("x", "Anything")
    with pytest.raises(ValueError, match="takes its type from an Any input"):
        NodeSchema(type="Bad", doc="", inputs=(Input("x", "Image"),), outputs=(Output("y", ANY),))


def test_any_output_is_typed_like_its_input_through_chains():
    g = _graph("pass", "pass", "TestScale")
    g.validate(Context(frames=FRAMES))
    assert g.output_type("n0", "value") == g.output_type("n1", "value") == "Image"
    g.nodes["lm"] = _LandmarkSource("lm")
    g.connect("lm.landmarks", "n1.value")  # now n1 holds Landmarks: TestScale cannot take them
    problems = g.problems(Context(frames=FRAMES))
    assert [str(p) for p in problems] == ["node 'n2' (TestScale), port 'image': type mismatch: expected Image, got "
                                          "Landmarks from 'n1.value'"]
    unfed = Graph()
    unfed.nodes["p"] = _Pass("p")
    assert unfed.output_type("p", "value") == ANY and unfed.output_type("p", "nope") is None
    assert any("required input is not connected (expects Any)" in str(p) for p in unfed.problems(Context()))


def test_input_context_narrows_upstream_so_a_sequence_node_computes_over_one_frame():
    g = _graph("TestSequenceMean", "pass", "TestScale")
    g.nodes["n1"].at = 4
    ctx = Context(frames=FRAMES)
    g.validate(ctx)
    ev = Evaluator(g)
    for f in FRAMES:
        assert np.allclose(ev.output("n2.image", ctx.at(f)).pixels, 4.0)  # the mean over frame 4 alone
    assert {n: s.computes for n, s in ev.stats.items()} == {"src": 1, "n0": 1, "n1": 1, "n2": 1}
    # the same sequence node pulled over the whole range as well: each range computed once, kept apart
    g.nodes["direct"] = _Pass("direct")
    g.connect("n0.image", "direct.value")
    for f in FRAMES:
        ev.pull("direct", ctx.at(f))
        ev.pull("n2", ctx.at(f))
    assert ev.stats["n0"].computes == 2 and ev.stats["src"].computes == len(FRAMES)


def test_a_bypassed_node_pulls_its_input_at_the_frame_evaluated():
    g = _graph("pass")
    g.nodes["n0"].at = 4
    g.nodes["n0"].bypass = True
    ev = Evaluator(g)
    assert np.allclose(ev.output("n0.value", Context(frame=7, frames=FRAMES)).pixels, 7.0)


def test_an_any_output_is_not_type_checked_at_render_but_a_declared_one_is():
    g = _graph("pass")
    assert np.allclose(Evaluator(g).output("n0.value", Context(frame=2, frames=FRAMES)).pixels, 2.0)

    class _Liar(Node):
        schema = NodeSchema(type="_TestAnyLiar", doc="test", outputs=(Output("image", "Image"),))

        def compute(self, ctx, inputs):
            return {"image": Landmarks(np.zeros((1, 2)))}

    g2 = Graph()
    g2.nodes["liar"] = _Liar("liar")
    with pytest.raises(RenderError, match="should be Image"):
        Evaluator(g2).pull("liar", Context(frame=1))
