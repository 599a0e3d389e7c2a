"""What the evaluator holds, and for how long: a frame's results until the frame is done (a small
cache never makes a node compute twice in a frame), what the next frame needs, and the shot pass's
first plates for the frame loop (graph/evaluate.py, Evaluator)."""

from __future__ import annotations

import _nodes  # noqa: F401  (registers the test node types)
import numpy as np
import pytest
from _nodes import CALLS

from facewarp.core.types import nbytes_of
from facewarp.graph import Context, Evaluator, Graph, render
from facewarp.imaging.plates import read_plate

FRAMES = (1, 2, 3, 4)


@pytest.fixture(autouse=True)
def _reset(tmp_path, monkeypatch):
    CALLS.clear()
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("FACEWARP_OUTPUT_ROOT", raising=False)


def _write(g: Graph, src: str, tmp_path) -> Graph:
    g.add("PlateWrite", "write", {"path": str(tmp_path / "out.####.exr"), "exr_pixel_type": "float"})
    g.connect(src, "write.image")
    g.outputs.append("write")
    return g


def diamond() -> Graph:
    """src feeds 'add' twice: directly and through 'scale'."""
    g = Graph()
    g.add("TestFrameSource", "src")
    g.add("TestScale", "scale", {"factor": 2.0})
    g.add("TestAdd", "add")
    g.connect("src.image", "scale.image")
    g.connect("scale.image", "add.a")
    g.connect("src.image", "add.b")
    return g


def test_a_zero_cache_never_computes_a_node_twice_in_a_frame():
    ev = Evaluator(diamond(), cache_bytes=0)
    out = ev.output("add.image", Context(frame=3, frames=FRAMES))
    assert np.allclose(out.pixels, 9.0) and CALLS == {"src": 1, "scale": 1, "add": 1}
    assert len(ev.cache) == 0


def test_a_zero_cache_render_computes_each_node_once_per_frame(tmp_path):
    render(_write(diamond(), "add.image", tmp_path), Context(frames=FRAMES, device="cpu"), cache_bytes=0)
    assert CALLS == {"src": 4, "scale": 4, "add": 4}
    for f in FRAMES:
        assert np.allclose(read_plate(str(tmp_path / f"out.{f:04d}.exr")).pixels, 3.0 * f)


def test_what_the_next_frame_needs_is_held_past_the_frame(tmp_path):
    g = Graph()
    g.add("TestStill", "still", {"value": 0.25})
    g.add("TestFrameSource", "src")
    g.add("TestAdd", "add")
    g.connect("src.image", "add.a")
    g.connect("still.image", "add.b")
    render(_write(g, "add.image", tmp_path), Context(frames=FRAMES, device="cpu"), cache_bytes=0)
    assert CALLS == {"still": 1, "src": 4, "add": 4}  # the still is computed once for the four frames
    assert np.allclose(read_plate(str(tmp_path / "out.0004.exr")).pixels, 4.25)


def shot_graph() -> Graph:
    """src -> mean over the shot (a sequence node) -> add(mean, src): every frame needs src twice,
    once in the shot pass and once in the frame loop."""
    g = Graph()
    g.add("TestFrameSource", "src")
    g.add("TestSequenceMean", "mean")
    g.add("TestAdd", "add")
    g.connect("src.image", "mean.image")
    g.connect("mean.image", "add.a")
    g.connect("src.image", "add.b")
    return g


@pytest.mark.parametrize("kept", [0, 2, 4])
def test_the_shot_pass_leaves_the_first_frames_for_the_frame_loop(tmp_path, kept):
    one = nbytes_of({"image": _nodes.TestFrameSource("x").compute(Context(frame=1), {})["image"]})
    CALLS.clear()
    result = render(_write(shot_graph(), "add.image", tmp_path), Context(frames=FRAMES, device="cpu"),
                    cache_bytes=kept * one)
    # the shot pass computes every frame once; the frame loop finds the first `kept` of them
    assert CALLS["src"] == len(FRAMES) + len(FRAMES) - kept and CALLS["mean"] == 1
    assert len(result.evaluator.cache) == 0  # each was taken by its frame: nothing dead is kept
    for f in FRAMES:
        assert np.allclose(read_plate(str(tmp_path / f"out.{f:04d}.exr")).pixels, 2.5 + f)


def test_a_hosts_evaluator_keeps_results_in_its_cache_across_calls():
    ev = Evaluator(diamond())  # retain="lru": what hosts use
    ctx = Context(frame=2, frames=FRAMES)
    ev.output("add.image", ctx)
    ev.graph.nodes["scale"].set_param("factor", 3.0)
    assert np.allclose(ev.output("add.image", ctx).pixels, 8.0)
    assert CALLS == {"src": 1, "scale": 2, "add": 2}  # only what the change dirtied is computed again


def test_retain_is_checked():
    with pytest.raises(ValueError, match="retain"):
        Evaluator(diamond(), retain="forever")
