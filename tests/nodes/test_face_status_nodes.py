"""Tracking status flows through the face nodes: LandmarkTracker's per-frame status
(found/interpolated/held) reaches FLAMEFit's, ExpressionEdit's and Retarget's outputs (params, mesh
and landmarks), guessed frames are counted for the run's summary, and status and fit error are
figures of the report. LandmarkTracker's smoothing runs at the plate's own fps when the reader
put one in the image metadata."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from _face_helpers import MemoryLandmarks, random_model, synth  # noqa: E402

from facewarp.core.conventions import FPS_KEY  # noqa: E402
from facewarp.face import tracking as fm  # noqa: E402
from facewarp.graph import Context, Evaluator, Graph, Image, Landmarks, Node, NodeSchema, Output, Param, events  # noqa: E402
from facewarp.nodes import landmark_tracker  # noqa: E402

FRAMES = (1001, 1002, 1003, 1004)


# -- LandmarkTracker, with the detector replaced by known points --------------------------------

class _Plates(Node):
    """Tiny plates whose metadata may carry a frame rate."""
    schema = NodeSchema(type="_TestStatusPlates", doc="test", time_dependent=True, outputs=(Output("image", "Image"),),
                        params=(Param("fps", "float", 0.0, "metadata fps (0: none)"),))

    def compute(self, ctx, inputs):
        fps = self.param(ctx, "fps")
        return {"image": Image(np.full((64, 64, 3), ctx.frame % 7 / 7, np.float32),
                               metadata={FPS_KEY: fps} if fps else {})}


@pytest.fixture
def fake_detector(monkeypatch):
    """track_image gives a face moving along a sine (with jitter), none on the frames in ``blank``."""
    rng = np.random.default_rng(0)
    base = rng.uniform(200, 800, (478, 2))
    blank: set[int] = set()

    def track_image(image, p, previous_center=None):
        frame = int(round(float(image.pixels[0, 0, 0]) * 7))  # the plate encodes frame % 7
        if frame in blank:
            return fm.FaceResult(None, 0.0, None, 0)
        shift = 20 * np.sin(frame) + np.random.default_rng(frame).normal(0, 2, 2)
        return fm.FaceResult(base + shift, 0.9, (0.0, 0.0, 1.0, 1.0), 1)

    monkeypatch.setattr(fm, "track_image", track_image)
    return blank


def _track(frames, fps=24.0, metadata_fps=0.0, **params):
    g = Graph()
    g.nodes["src"] = _Plates("src", {"fps": metadata_fps})
    g.add("LandmarkTracker", "trk", params)
    g.connect("src.image", "trk.image")
    ctx = Context(frames=frames, fps=fps)
    ev = Evaluator(g)
    return [ev.output("trk.landmarks", ctx.at(f)) for f in frames], ev


def test_guessed_frames_keep_usable_points_a_status_a_count_and_a_figure(fake_detector):
    frames = tuple(range(1001, 1006))
    fake_detector.update({1002 % 7, 1003 % 7, 1005 % 7})
    lms, ev = _track(frames, smoothing="none")
    assert [lm.info["status"] for lm in lms] == ["found", "interpolated", "interpolated", "found", "held"]
    assert all(lm.found for lm in lms)  # usable points: a guessed frame still warps
    assert [float(lm.confidence.max()) for lm in lms] == pytest.approx([0.9, 0, 0, 0.9, 0])
    stats = ev.stats_json()
    node = stats["nodes"]["trk"]
    assert node["counts"] == {"guessed_frames": 3}
    assert events.summary(stats) == "3 guessed (interpolated/held) frame(s) (node 'trk')"
    rep = events.report(dict(stats, frames=list(frames)))
    assert rep["frames"]["1002"] == {"trk": {"guessed_frames": 1, "tracking_status": "interpolated"}}
    assert rep["frames"]["1001"] == {"trk": {"tracking_status": "found"}}
    assert rep["figures"]["trk"]["tracking_status"]["values"] == {"found": 2, "held": 1, "interpolated": 2}


def test_smoothing_uses_the_plates_own_fps_over_the_presets(fake_detector):
    frames = tuple(range(1001, 1013))
    at25, _ = _track(frames, fps=25.0)
    meta25, _ = _track(frames, fps=100.0, metadata_fps=25.0)
    at100, _ = _track(frames, fps=100.0)
    for a, b in zip(at25, meta25):
        np.testing.assert_array_equal(a.points, b.points)
    assert max(float(np.abs(a.points - c.points).max()) for a, c in zip(at25, at100)) > 0.01


def test_the_trackers_hash_follows_the_fps():
    g = Graph()
    g.nodes["src"] = _Plates("src")
    g.add("LandmarkTracker", "trk")
    g.connect("src.image", "trk.image")
    ev = Evaluator(g)
    assert ev.hash("trk", Context(frame=1, frames=(1, 2), fps=24.0)) != ev.hash("trk", Context(frame=1, frames=(1, 2), fps=25.0))


@pytest.mark.parametrize("value", [None, "abc", float("nan"), -5.0, 0.0])
def test_a_bad_or_absent_metadata_fps_falls_back_to_the_context(value):
    md = {} if value is None else {FPS_KEY: value}
    assert landmark_tracker.shot_fps(Image(np.zeros((2, 2, 3)), metadata=md), 24.0) == 24.0
    assert landmark_tracker.shot_fps(Image(np.zeros((2, 2, 3)), metadata={FPS_KEY: "30"}), 24.0) == 30.0


# -- FLAMEFit, ExpressionEdit, Retarget -------------------------------------------------------------

def _landmarks(key, statuses, seed):
    m = random_model()
    _, _, _, pts = synth(m, T=len(statuses), seed=seed)
    MemoryLandmarks.LANDMARKS[key] = {f: Landmarks(p, None, "ibug68", (1920, 1080), True, {"status": s} if s else {})
                                      for f, p, s in zip(FRAMES, pts, statuses)}


def test_status_flows_through_fit_edit_and_retarget(tmp_path):
    path = tmp_path / "model.npz"
    random_model().save_npz(path)
    _landmarks("status_driving", ["found", "interpolated", "found", "held"], seed=1)
    _landmarks("status_target", ["found", "found", "held", None], seed=2)  # None: no status (a host's landmarks)
    g = Graph()
    fit = {"model": str(path), "noise": 1e-5, "fit_eyes": False, "iterations": 20}
    for side in ("driving", "target"):
        g.add("TestMemoryLandmarks", f"lm_{side}", {"key": f"status_{side}"})
        g.add("FLAMEFit", f"fit_{side}", fit)
        g.connect(f"lm_{side}.landmarks", f"fit_{side}.landmarks")
    g.add("ExpressionEdit", "edit", {"model": str(path), "keys": "1001: expr0=0.5"})
    g.add("Retarget", "rt", {"model": str(path)})
    g.connect("fit_driving.params", "edit.params")
    g.connect("fit_driving.params", "rt.driving")
    g.connect("fit_target.params", "rt.target")
    ctx = Context(frames=FRAMES)
    g.validate(ctx)
    ev = Evaluator(g)

    def statuses(node):
        outs = [ev.pull(node, ctx.at(f)) for f in FRAMES]
        per_port = {port: [o[port].info["status"] for o in outs] for port in ("params", "mesh", "landmarks")}
        assert all(o["landmarks"].found for o in outs)  # fitted points are always usable
        assert per_port["params"] == per_port["mesh"] == per_port["landmarks"]
        return per_port["params"]

    assert statuses("fit_driving") == ["found", "interpolated", "found", "held"]
    assert statuses("fit_target") == ["found", "found", "held", "found"]
    assert statuses("edit") == ["found", "interpolated", "found", "held"]
    assert statuses("rt") == ["found", "interpolated", "held", "held"]  # the worse of the two
    stats = ev.stats_json()
    pct = [stats["nodes"]["fit_driving"]["frame_figures"][str(f)]["fit_reprojection_iod_pct"] for f in FRAMES]
    fp = ev.pull("fit_driving", ctx.at(1002))["params"]
    assert fp.info["reprojection_iod_pct"] == pytest.approx(pct[1])
    iod = fm.inter_ocular(MemoryLandmarks.LANDMARKS["status_driving"][1002].points, "ibug68")
    assert pct[1] == pytest.approx(100 * fp.info["reprojection_px"] / iod)
    assert max(pct) < 1.0
    rep = events.report(stats)
    assert rep["figures"]["fit_driving"]["fit_reprojection_iod_pct"]["frames"] == len(FRAMES)
