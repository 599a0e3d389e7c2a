"""FLAMEFit / Retarget / ExpressionEdit as graph nodes."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from _face_helpers import MemoryLandmarks, MemoryPlates, random_model, read_clip, synth  # noqa: E402  # noqa: E402

from facewarp.face import models  # noqa: E402
from facewarp.face.mouth import carry_lip_residual, eye_axis, lip_indices  # noqa: E402
from facewarp.graph import Context, Evaluator, FacewarpError, Graph, Landmarks  # noqa: E402
from facewarp.nodes.expression_edit import parse_keys, value_at  # noqa: E402


def _landmark_graph(key, lms, extra):
    MemoryLandmarks.LANDMARKS[key] = {1001 + i: lm for i, lm in enumerate(lms)}
    frames = tuple(range(1001, 1001 + len(lms)))
    g = Graph()
    g.add("TestMemoryLandmarks", "src", {"key": key})
    extra(g)
    ctx = Context(frames=frames, fps=25.0)
    g.validate(ctx)
    return g, Evaluator(g), ctx, frames


def test_flamefit_node_with_a_flame_format_model_file(tmp_path):
    m = random_model()
    path = tmp_path / "model.npz"
    m.save_npz(path)
    shape, expr, pose, pts = synth(m, T=4)
    lms = [Landmarks(p, None, "ibug68", (1920, 1080)) for p in pts]

    def build(g):
        g.add("FLAMEFit", "fit", {"model": str(path), "noise": 1e-5, "fit_eyes": False, "iterations": 30})
        g.connect("src.landmarks", "fit.landmarks")

    g, ev, ctx, frames = _landmark_graph("synthetic", lms, build)
    for i, f in enumerate(frames):
        out = ev.pull("fit", ctx.at(f))
        fp, mesh, fitted = out["params"], out["mesh"], out["landmarks"]
        assert fp.info["reprojection_px"] < 0.1
        assert mesh.vertices.shape == (m.n_vertices, 3) and mesh.faces.shape == m.faces.shape
        # the mesh projects onto the plate where the landmarks are
        uv, _ = mesh.project()
        lm_uv = (uv[m.faces[m.lmk_faces]] * m.lmk_bary[:, :, None]).sum(1)
        np.testing.assert_allclose(lm_uv, pts[i], atol=0.1)
        np.testing.assert_allclose(fitted.points, pts[i], atol=0.1)
        np.testing.assert_allclose(fp.shape, shape, atol=0.05)
    assert ev.stats["fit"].computes == 1  # one sequence computation for the range


def test_flamefit_reports_missing_model_cleanly(tmp_path):
    lms = [Landmarks(np.zeros((68, 2)), None, "ibug68", (64, 64))]

    def build(g):
        g.add("FLAMEFit", "fit", {"model": str(tmp_path / "generic_model.pkl")})
        g.connect("src.landmarks", "fit.landmarks")

    with pytest.raises(FacewarpError, match="node 'fit' .FLAMEFit., param 'model', file .*generic_model.pkl': input "
                       "file does not exist"):
        _landmark_graph("missing_model", lms, build)  # validation names it
    g = Graph()  # a host pulling without validating gets the model loader's own message
    g.add("TestMemoryLandmarks", "src", {"key": "missing_model"})
    build(g)
    with pytest.raises(FacewarpError, match="flame.is.tue.mpg.de"):
        Evaluator(g).pull("fit", Context(frame=1001, frames=(1001,)))


@pytest.fixture(scope="module")
def clip_graph():
    pytest.importorskip("mediapipe")
    from conftest import shared_file

    clip = read_clip(shared_file("driving/grid_swiz3n.mpg"), step=5)
    MemoryPlates.PLATES["nodes_clip"] = {1001 + i: p for i, p in enumerate(clip)}
    frames = tuple(range(1001, 1001 + len(clip)))
    g = Graph()
    g.add("TestMemoryPlates", "src", {"key": "nodes_clip"})
    g.add("LandmarkTracker", "trk")
    g.add("FLAMEFit", "fit")
    g.add("Retarget", "rt", {"target_frame": frames[0], "neutral_frame": frames[0]})
    g.add("ExpressionEdit", "ed", {"keys": f"{frames[0]}: jaw_open=0, smile=0; {frames[4]}: jaw_open=0.6, smile=1",
                                   "interpolation": "linear"})
    g.connect("src.image", "trk.image")
    g.connect("trk.landmarks", "fit.landmarks")
    g.connect("fit.params", "rt.driving")
    g.connect("fit.params", "rt.target")
    g.connect("fit.params", "ed.params")
    ctx = Context(frames=frames, fps=25.0)
    g.validate(ctx)
    return Evaluator(g), ctx, frames


def test_retarget_onto_own_first_frame_reproduces_landmarks(clip_graph):
    ev, ctx, frames = clip_graph
    lips = list(lip_indices("mediapipe478"))
    others = np.setdiff1d(np.arange(478), lips)
    worst = worst_lips = 0.0
    for f in frames:
        fit = ev.pull("fit", ctx.at(f))
        rt = ev.pull("rt", ctx.at(f))
        worst = max(worst, float(np.abs(rt["landmarks"].points - fit["landmarks"].points)[others].max()))
        assert rt["mesh"].vertices.shape == (478, 3)
        # the lips add the tracked-minus-fitted residual's change since the neutral frame (lip_detail 1)
        expected = carry_lip_residual(fit["landmarks"].points, "mediapipe478", fit["params"].info["lip_residual"],
                                      ev.pull("fit", ctx.at(frames[0]))["params"].info["lip_residual"],
                                      fit["params"].info["eye_axis"], eye_axis(rt["landmarks"].points, "mediapipe478"))
        worst_lips = max(worst_lips, float(np.abs(rt["landmarks"].points - expected)[lips].max()))
    print(f"retarget onto its own first frame: max landmark difference {worst:.2e} px, lips {worst_lips:.2e}")
    assert worst < 1e-3 and worst_lips < 1e-2


def test_retarget_moves_target_by_the_driving_change_only():
    m = models.load_model("default")
    from facewarp.face.params import make_params
    from facewarp.graph import Camera
    from facewarp.nodes.retarget import retarget_params

    rng = np.random.default_rng(0)
    cam = Camera("weak_perspective", (1000.0, 500.0, 400.0), (1000, 800))
    target = make_params("default", rng.normal(0, 1, m.n_shape), np.zeros(m.n_expr), np.zeros((5, 3)), cam, np.zeros(3))
    neutral_e = rng.normal(0, 0.2, m.n_expr)
    drive_e = neutral_e.copy()
    drive_e[0] += 0.7
    pose_n = np.zeros((5, 3))
    pose_d = pose_n.copy()
    pose_d[2, 0] = 0.2
    other = Camera("weak_perspective", (300.0, 10.0, 20.0), (200, 200))
    neutral = make_params("default", rng.normal(0, 1, m.n_shape), neutral_e, pose_n, other, np.zeros(3))
    driving = make_params("default", neutral.shape, drive_e, pose_d, other, np.zeros(3))
    shape, expr, pose, cam_out, _ = retarget_params(m, target, driving, neutral)
    np.testing.assert_allclose(shape, target.shape, atol=1e-6)  # the target keeps its identity
    np.testing.assert_allclose(expr[0], 0.7, atol=1e-6)
    np.testing.assert_allclose(np.delete(expr, 0), 0, atol=1e-6)
    np.testing.assert_allclose(pose[2], [0.2, 0, 0], atol=1e-6)
    assert cam_out.params == pytest.approx(cam.params)  # driving camera unchanged -> target camera


def test_expression_keys_parse_and_interpolate():
    keys = parse_keys("1001: jaw_open=0.5, smile=0.2; 1011: jaw_open=0 ;1021:smile=1")
    assert keys == {"jaw_open": [(1001, 0.5), (1011, 0.0)], "smile": [(1001, 0.2), (1021, 1.0)]}
    k = keys["jaw_open"]
    assert value_at(k, 990) == 0.5 and value_at(k, 1020) == 0.0
    assert value_at(k, 1006, "linear") == pytest.approx(0.25)
    assert value_at(k, 1006, "smooth") == pytest.approx(0.25)  # symmetric at the midpoint
    assert value_at(k, 1003, "smooth") > value_at(k, 1003, "linear")  # eases out of the key
    assert value_at(k, 1010, "step") == 0.5
    for bad in ("1001 jaw_open=1", "x: jaw_open=1", "1001: jaw_open", "1001: jaw_open=abc", "1001: 9x=1"):
        with pytest.raises(ValueError):
            parse_keys(bad)


def test_expression_edit_node_on_fitted_clip(clip_graph):
    ev, ctx, frames = clip_graph
    f0, f2, f4 = frames[0], frames[2], frames[4]
    base = {f: ev.pull("fit", ctx.at(f)) for f in (f0, f2, f4)}
    ed = {f: ev.pull("ed", ctx.at(f)) for f in (f0, f2, f4)}
    # at the first key every control is 0: the edit reproduces the fit
    np.testing.assert_allclose(ed[f0]["landmarks"].points, base[f0]["landmarks"].points, atol=1e-3)
    assert ed[f2]["params"].info["edit"] == pytest.approx({"jaw_open": 0.3, "smile": 0.5})
    jaw = [ed[f]["params"].pose["jaw"][0] - base[f]["params"].pose["jaw"][0] for f in (f0, f2, f4)]
    np.testing.assert_allclose(jaw, [0.0, 0.3 * 0.35, 0.6 * 0.35], atol=1e-5)
    # jaw_open parts the lips; smile pulls the mouth corners up and out
    p_ed, p_base = ed[f4]["landmarks"].points, base[f4]["landmarks"].points
    gap = lambda p: np.linalg.norm(p[13] - p[14])  # noqa: E731
    width = lambda p: np.linalg.norm(p[61] - p[291])  # noqa: E731
    assert gap(p_ed) > gap(p_base) + 5
    assert width(p_ed) > width(p_base)
    assert ed[f4]["mesh"].vertices.shape == (478, 3)


def test_expression_edit_unknown_control(clip_graph):
    ev, ctx, frames = clip_graph
    g = ev.graph
    g.nodes["ed"].set_param("keys", "1001: frown_hard=1")
    ev2 = Evaluator(g)
    ev2._sequence = ev._sequence  # reuse the fitted sequence
    with pytest.raises(FacewarpError, match="unknown control 'frown_hard'"):
        ev2.pull("ed", ctx.at(frames[0]))
