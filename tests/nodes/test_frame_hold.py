"""FrameHold: every frame gets its input at one frame, and what is upstream of the hold is
evaluated over that frame alone - a still target photo is read, tracked and fitted once for a
whole render."""

from __future__ import annotations

from dataclasses import replace

import _nodes  # noqa: F401  (registers the engine test nodes)
import numpy as np
import pytest
from _nodes import CALLS

from facewarp.graph import Context, Evaluator, Graph, ValidationError, events

FRAMES = tuple(range(1001, 1061))  # 60 frames


@pytest.fixture(autouse=True)
def _reset():
    CALLS.clear()


def _held_mean(frame=None) -> Graph:
    g = Graph()
    g.add("TestFrameSource", "src")
    g.add("TestSequenceMean", "seq")
    g.add("FrameHold", "hold", None if frame is None else {"frame": frame})
    g.add("TestScale", "after", {"factor": 2.0})
    g.connect("src.image", "seq.image")
    g.connect("seq.image", "hold.input")
    g.connect("hold.output", "after.image")
    return g


def test_every_frame_gets_the_first_frame_and_upstream_computes_once():
    g = _held_mean()
    ctx = Context(frames=FRAMES)
    g.validate(ctx)
    ev = Evaluator(g)
    for f in FRAMES:
        assert np.allclose(ev.output("after.image", ctx.at(f)).pixels, 2.0 * FRAMES[0])
    # the sequence node upstream ran over the held frame only; nothing ran twice
    assert {n: s.computes for n, s in ev.stats.items()} == {"src": 1, "seq": 1, "hold": 1, "after": 1}
    assert g.output_type("hold", "output") == "Image"


def test_an_explicit_frame_and_the_range_check():
    g = _held_mean(1030)
    ctx = Context(frames=FRAMES)
    g.validate(ctx)
    assert np.allclose(Evaluator(g).output("hold.output", ctx.at(1001)).pixels, 1030.0)
    with pytest.raises(ValidationError, match=r"node 'hold' \(FrameHold\), param 'frame': frame 900 is outside the "
                       r"range being rendered \(1001-1060\); use -1 or a frame of the range"):
        _held_mean(900).validate(ctx)


def test_bypassed_or_disabled_hold_passes_the_frame_through():
    ctx = Context(frames=FRAMES)
    g = _held_mean()
    g.nodes["hold"].bypass = True
    assert np.allclose(Evaluator(g).output("hold.output", ctx.at(1010)).pixels, np.mean(FRAMES))
    g = _held_mean()
    g.nodes["hold"].set_param("enabled", "${still}")  # a preset variable switches it
    ev = Evaluator(g)
    off = replace(ctx, variables={"still": False})
    assert np.allclose(ev.output("hold.output", off.at(1010)).pixels, np.mean(FRAMES))
    on = replace(ctx, variables={"still": True})
    assert np.allclose(ev.output("hold.output", on.at(1010)).pixels, FRAMES[0])


def test_a_still_portrait_is_read_tracked_and_fitted_once_for_60_frames():
    """PlateRead (a still JPEG) -> LandmarkTracker -> FLAMEFit -> FrameHold -> ExpressionEdit over 60
    frames: read, track and fit compute exactly once; the edit runs per frame on the held fit."""
    pytest.importorskip("mediapipe")
    pytest.importorskip("torch")
    from conftest import shared_file

    still = str(shared_file("portraits/interfaces_001.jpg"))
    g = Graph()
    g.add("PlateRead", "read", {"path": still})
    g.add("LandmarkTracker", "track")
    g.add("FLAMEFit", "fit", {"identity_frames": 1})
    g.add("FrameHold", "hold")
    g.add("FrameHold", "hold_lm")
    g.add("ExpressionEdit", "edit", {"keys": f"{FRAMES[0]}: jaw_open=0; {FRAMES[-1]}: jaw_open=0.8"})
    g.connect("read.image", "track.image")
    g.connect("track.landmarks", "fit.landmarks")
    g.connect("fit.params", "hold.input")
    g.connect("fit.landmarks", "hold_lm.input")
    g.connect("hold.output", "edit.params")
    ctx = Context(frames=FRAMES, fps=24.0)
    g.validate(ctx)
    ev = Evaluator(g)
    gaps = []
    for f in FRAMES:
        edited = ev.pull("edit", ctx.at(f))
        source = ev.output("hold_lm.output", ctx.at(f))
        assert edited["params"].info["status"] == "found" and source.info["status"] == "found" and source.found
        gaps.append(float(np.linalg.norm(edited["landmarks"].points[14] - edited["landmarks"].points[13])))
    computes = {n: s.computes for n, s in ev.stats.items()}
    assert computes == {"read": 1, "track": 1, "fit": 1, "hold": 1, "hold_lm": 1, "edit": len(FRAMES)}
    assert gaps[-1] > gaps[0] + 1.0  # the jaw opens over the render: the held face is animated
    rep = events.report(dict(ev.stats_json(), frames=list(FRAMES)))
    held = rep["frames"][str(FRAMES[0])]
    assert held["track"] == {"tracking_status": "found"}
    pct = held["fit"]["fit_reprojection_iod_pct"]
    print(f"still portrait: fit reprojection {pct:.3f}% IOD, read/track/fit once for {len(FRAMES)} frames")
    assert 0 < pct < 3.0
    assert rep["frames"][str(FRAMES[1])] == {}  # nothing upstream ran for the other frames
