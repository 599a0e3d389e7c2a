"""graph.events: counts nodes report while computing reach their NodeStats (per frame and in
total), stats_json() and the one-line run summary; recomputing a frame never counts it twice."""

from __future__ import annotations

import numpy as np
import pytest

from facewarp.core.errors import RenderError
from facewarp.graph import Context, Evaluator, Graph, Image, Input, Node, NodeSchema, Output, events

FRAMES = (1, 2, 3)


class _Counter(Node):
    """Counts ``per_frame[frame]`` 'widgets' (and one 'gadget' on odd frames)."""
    schema = NodeSchema(type="_TestEventCounter", doc="test", time_dependent=True,
                        inputs=(Input("image", "Image", optional=True),), outputs=(Output("image", "Image"),))
    per_frame: dict = {}
    fail_on: int | None = None

    def compute(self, ctx, inputs):
        events.count("widgets", self.per_frame.get(ctx.frame, 0))
        if ctx.frame % 2:
            events.count("gadgets")
        if ctx.frame == self.fail_on:
            raise RuntimeError("boom")
        return {"image": Image(np.full((2, 2, 3), ctx.frame, np.float32))}


class _Sequence(Node):
    """A sequence node: one compute for every frame, counts given per frame."""
    schema = NodeSchema(type="_TestEventSequence", doc="test", requires_sequence=True,
                        inputs=(Input("image", "Image"),), outputs=(Output("image", "Image"),))

    def compute_sequence(self, ctx, frames, fetch):
        out = {}
        for f in frames:
            out[f] = {"image": fetch(f)["image"]}
            events.count("smoothed", f, frame=f)
        return out


def _graph(per_frame, fail_on=None, sequence=False):
    g = Graph()
    up = _Counter("up")
    up.per_frame, up.fail_on = {}, None
    g.nodes["up"] = up
    down = _Counter("down")
    down.per_frame, down.fail_on = per_frame, fail_on
    g.nodes["down"] = down
    g.connect("up.image", "down.image")
    if sequence:
        g.nodes["seq"] = _Sequence("seq")
        g.connect("down.image", "seq.image")
    return g


@pytest.fixture(autouse=True)
def _labels():
    saved = dict(events.LABELS)
    events.label("widgets", "widget(s) polished")
    yield
    events.LABELS.clear()
    events.LABELS.update(saved)


def test_count_outside_an_evaluation_does_nothing():
    events.count("widgets", 5)  # no evaluator: no error, nothing recorded anywhere
    node = _Counter("lonely")
    node.per_frame = {1: 3}
    node.compute(Context(frame=1), {})


def test_counts_land_in_the_computing_node_per_frame_and_in_total():
    ev = Evaluator(_graph({1: 2, 3: 5}))
    for f in FRAMES:
        ev.pull("down", Context(frame=f, frames=FRAMES))
    stats = ev.stats_json()
    down, up = stats["nodes"]["down"], stats["nodes"]["up"]
    assert down["counts"] == {"gadgets": 2, "widgets": 7}
    assert down["frame_counts"] == {"1": {"gadgets": 1, "widgets": 2}, "3": {"gadgets": 1, "widgets": 5}}
    # the upstream node computed inside down's pull keeps its own counts
    assert up["counts"] == {"gadgets": 2} and set(up["frame_counts"]) == {"1", "3"}
    assert ev.stats["down"].counts == {"gadgets": 2, "widgets": 7}
    assert ev.stats["down"].frame_counts[3] == {"gadgets": 1, "widgets": 5}


def test_a_recomputed_frame_is_not_counted_twice():
    ev = Evaluator(_graph({2: 4}))
    ctx = Context(frame=2, frames=FRAMES)
    ev.pull("down", ctx)
    ev.clear()  # the same frame computed again
    ev.pull("down", ctx)
    assert ev.stats["down"].computes == 2
    assert ev.stats_json()["nodes"]["down"]["counts"] == {"widgets": 4}
    ev.graph.nodes["down"].per_frame = {}  # now the frame has nothing to report: its count goes
    ev.clear()
    ev.pull("down", ctx)
    assert ev.stats_json()["nodes"]["down"]["counts"] == {}


def test_a_failed_compute_records_nothing():
    ev = Evaluator(_graph({1: 9}, fail_on=1))
    with pytest.raises(RenderError, match="boom"):
        ev.pull("down", Context(frame=1, frames=FRAMES))
    assert ev.stats_json()["nodes"]["down"]["counts"] == {}


def test_sequence_nodes_count_per_frame():
    ev = Evaluator(_graph({}, sequence=True))
    ctx = Context(frames=FRAMES)
    for f in FRAMES:
        ev.pull("seq", ctx.at(f))
    seq = ev.stats_json()["nodes"]["seq"]
    assert seq["counts"] == {"smoothed": 6}
    assert seq["frame_counts"] == {"1": {"smoothed": 1}, "2": {"smoothed": 2}, "3": {"smoothed": 3}}


def test_summary_is_one_line_naming_counts_frames_and_nodes():
    ev = Evaluator(_graph({1: 2, 3: 5}))
    for f in FRAMES:
        ev.pull("down", Context(frame=f, frames=FRAMES))
    line = events.summary(ev.stats_json())
    assert line == ("2 gadgets on 2 frames (node 'up'); 2 gadgets on 2 frames (node 'down'); "
                    "7 widget(s) polished on 2 frames (node 'down')")
    assert "\n" not in line
    one = Evaluator(_graph({2: 1}))
    one.pull("down", Context(frame=2, frames=FRAMES))
    assert events.summary(one.stats_json()) == "1 widget(s) polished on 1 frame (node 'down')"


def test_summary_is_none_when_nothing_was_counted():
    ev = Evaluator(_graph({}))
    ev.pull("down", Context(frame=2, frames=FRAMES))
    assert events.summary(ev.stats_json()) is None
    assert events.summary({}) is None


# -- figures: one value per node, frame and key, next to the counts ---------------------------

class _Figures(Node):
    """Reports figures: a number (error = frame / 10) and a string (status) per frame."""
    schema = NodeSchema(type="_TestEventFigures", doc="test", time_dependent=True,
                        outputs=(Output("image", "Image"),))
    values: dict = {}

    def compute(self, ctx, inputs):
        events.figure("error_pct", 0.5)  # replaced by the next call: a frame has one value per key
        events.figure("error_pct", self.values.get(ctx.frame, ctx.frame / 10))
        events.figure("status", "held" if ctx.frame == 2 else "found")
        events.count("widgets", 1)
        return {"image": Image(np.zeros((2, 2, 3), np.float32))}


class _SequenceFigures(Node):
    schema = NodeSchema(type="_TestEventSequenceFigures", doc="test", requires_sequence=True,
                        inputs=(Input("image", "Image"),), outputs=(Output("image", "Image"),))

    def compute_sequence(self, ctx, frames, fetch):
        for f in frames:
            events.figure("smoothness", float(f), frame=f)
        return {f: {"image": fetch(f)["image"]} for f in frames}


def _figure_graph(values=None, sequence=False):
    g = Graph()
    g.nodes["fig"] = _Figures("fig")
    g.nodes["fig"].values = values or {}
    if sequence:
        g.nodes["seq"] = _SequenceFigures("seq")
        g.connect("fig.image", "seq.image")
    return g


def test_figure_outside_an_evaluation_does_nothing_and_refuses_other_types():
    events.figure("error_pct", 1.0)
    with pytest.raises(TypeError, match="a number or a string"):
        events.figure("error_pct", [1.0])
    with pytest.raises(TypeError):
        events.figure("flag", True)


def test_figures_land_per_frame_next_to_counts_in_stats_and_report():
    ev = Evaluator(_figure_graph({3: float("nan")}, sequence=True))
    ctx = Context(frames=FRAMES)
    for f in FRAMES:
        ev.pull("seq", ctx.at(f))
    stats = ev.stats_json()
    fig = stats["nodes"]["fig"]
    assert fig["frame_figures"] == {"1": {"error_pct": 0.1, "status": "found"},
                                    "2": {"error_pct": 0.2, "status": "held"},
                                    "3": {"error_pct": None, "status": "found"}}  # NaN is not JSON
    assert fig["counts"] == {"widgets": 3}  # figures are not counts
    assert stats["nodes"]["seq"]["frame_figures"] == {"1": {"smoothness": 1.0}, "2": {"smoothness": 2.0},
                                                      "3": {"smoothness": 3.0}}
    rep = events.report(dict(stats, frames=list(FRAMES)))
    assert rep["frames"]["2"] == {"fig": {"widgets": 1, "error_pct": 0.2, "status": "held"},
                                  "seq": {"smoothness": 2.0}}
    assert rep["totals"] == {"fig": {"widgets": 3}}
    assert rep["figures"]["fig"]["error_pct"] == {"frames": 3, "median": pytest.approx(0.15), "min": 0.1, "max": 0.2}
    assert rep["figures"]["fig"]["status"] == {"frames": 3, "values": {"found": 2, "held": 1}}
    assert rep["figures"]["seq"]["smoothness"]["median"] == 2.0
    assert rep["summary"] == "3 widget(s) polished on 3 frames (node 'fig')"  # the line names counts only
    # the run's figures in one line: medians and maxima of numbers, counts of strings, per node
    assert events.figures_line(dict(stats, frames=list(FRAMES))) == (
        "fig: error_pct median 0.15 max 0.2 (3 frames); fig: status found 2, held 1; "
        "seq: smoothness median 2 max 3 (3 frames)")
    assert events.figures_line({"nodes": {}}) is None


def test_a_recomputed_frame_replaces_its_figures():
    g = _figure_graph({2: 7.0})
    ev = Evaluator(g)
    ctx = Context(frame=2, frames=FRAMES)
    ev.pull("fig", ctx)
    g.nodes["fig"].values = {2: 9.0}
    ev.clear()
    ev.pull("fig", ctx)
    assert ev.stats_json()["nodes"]["fig"]["frame_figures"] == {"2": {"error_pct": 9.0, "status": "held"}}


def test_a_label_counting_frames_is_not_followed_by_on_n_frames():
    events.label("guessed", "guessed frame(s)")

    class _Guess(_Counter):
        schema = NodeSchema(type="_TestEventGuess", doc="test", time_dependent=True, outputs=(Output("image", "Image"),))

        def compute(self, ctx, inputs):
            events.count("guessed")
            return {"image": Image(np.zeros((2, 2, 3), np.float32))}

    g = Graph()
    g.nodes["trk"] = _Guess("trk")
    ev = Evaluator(g)
    for f in FRAMES:
        ev.pull("trk", Context(frame=f, frames=FRAMES))
    assert events.summary(ev.stats_json()) == "3 guessed frame(s) (node 'trk')"
