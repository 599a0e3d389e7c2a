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
