"""TriangleWarp: exact on the landmarks, identity, global affine == cv2.warpAffine, fold-overs,
the normalised displacement map and LandmarkSpread over a sequence."""

from __future__ import annotations

import warnings

import cv2
import numpy as np
import pytest
from _warp_helpers import Seq, astronaut, face_points, tri_graph

from facewarp.core.errors import RenderError
from facewarp.graph import Context, Evaluator, Graph, Landmarks, Node, NodeSchema, Output, events
from facewarp.kernels.triwarp import triangle_warp
from facewarp.warping.landmark import border_anchors, triangulate


def test_anchors_cover_the_frame():
    a = border_anchors(640, 480, 4)
    assert {(0.0, 0.0), (640.0, 0.0), (640.0, 480.0), (0.0, 480.0)} <= {tuple(p) for p in a}


def test_landmarks_map_exactly_onto_targets():
    img = astronaut()
    h, w = img.shape[:2]
    rng = np.random.default_rng(0)
    # targets on pixel centres so that the field can be read at them directly
    dst = np.floor(face_points(68, w, h, 1)) + 0.5
    dst = np.unique(dst, axis=0)
    src = dst + rng.normal(0, 4, dst.shape)
    pts, faces, n, dropped = triangulate(dst, w, h, 8)
    assert not dropped
    src_all = np.concatenate([src, pts[n:]])
    warped, field, _, tri_id = triangle_warp(img, pts, src_all, faces, device="cpu")
    assert (tri_id >= 0).all()  # the anchors make the triangulation cover every pixel
    j = (dst[:, 0] - 0.5).astype(int)
    i = (dst[:, 1] - 0.5).astype(int)
    mapped = dst + field[i, j]  # p + D(p) is where the output pixel samples the source
    assert np.abs(mapped - src).max() <= 1e-3
    # and the warped image at the target is the source image sampled at the source landmark
    ref = np.stack([cv2.getRectSubPix(img, (1, 1), (float(x - 0.5), float(y - 0.5)))[0, 0] for x, y in src])
    assert np.abs(warped[i, j] - ref).max() < 2e-2  # getRectSubPix quantises weights to 1/32


def test_identity_landmarks_give_identical_image():
    img = astronaut()
    h, w = img.shape[:2]
    pts = face_points(120, w, h, 2)
    g = tri_graph(img, pts, {1: pts})
    out = Evaluator(g).pull("tw", Context(frame=1, frames=(1,)))
    assert np.abs(out["image"].pixels - img).max() < 1e-5
    assert np.abs(out["displacement"].field).max() < 1e-3
    assert out["image"].metadata["facewarp:trianglewarp"]["foldovers"] == 0


def test_global_affine_reproduces_cv2_warpaffine():
    img = astronaut()
    h, w = img.shape[:2]
    dst = face_points(100, w, h, 3)
    # a global affine of ALL points (landmarks and anchors): src = M dst (backward map)
    M = np.array([[1.04, 0.06, -9.0], [-0.05, 0.97, 11.0]])
    pts, faces, n, _ = triangulate(dst, w, h, 8)
    src_all = pts @ M[:, :2].T + M[:, 2]
    warped, field, _, _ = triangle_warp(img, pts, src_all, faces, device="cpu")
    # cv2 puts pixel centres on integers: conjugate by the half-pixel shift
    T = np.array([[1, 0, 0.5], [0, 1, 0.5], [0, 0, 1.0]])
    Ti = np.linalg.inv(T)
    M_cv = (Ti @ np.vstack([M, [0, 0, 1]]) @ T)[:2]
    ref = cv2.warpAffine(img, M_cv, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                         borderMode=cv2.BORDER_REPLICATE)
    assert np.abs(warped - ref).mean() <= 1e-3
    # the field is the affine map exactly
    yy, xx = np.mgrid[0:h, 0:w] + 0.5
    exp_x = M[0, 0] * xx + M[0, 1] * yy + M[0, 2] - xx
    assert np.abs(field[..., 0] - exp_x).max() < 1e-3


def test_foldovers_are_detected_and_reported(monkeypatch):
    import facewarp.warping.landmark as tw_node

    warps = []
    real_warp = tw_node.triangle_warp
    real_confined = tw_node.triangle_warp_confined  # the face-region path: the region's box only
    monkeypatch.setattr(tw_node, "triangle_warp", lambda *a, **k: warps.append(1) or real_warp(*a, **k))
    monkeypatch.setattr(tw_node, "triangle_warp_confined", lambda *a, **k: warps.append(1) or real_confined(*a, **k))
    img = astronaut()[:200, :200]
    dst = np.array([[80.0, 80.0], [120.0, 80.0], [100.0, 120.0], [100.0, 95.0]])
    src = dst.copy()
    src[3] = [100.0, 60.0]  # drag the inner point out past an edge: its triangles flip
    g = tri_graph(img, src, {1: dst}, {"foldover": "mark"})
    ev = Evaluator(g)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # counted, never a Python warning (a source line per frame)
        out = ev.pull("tw", Context(frame=1, frames=(1,)))
    info = out["image"].metadata["facewarp:trianglewarp"]
    assert info["foldovers"] >= 1
    # the count reaches the node's stats (per frame and in total) and the run's summary line
    node = ev.stats_json()["nodes"]["tw"]
    assert node["counts"] == {"foldovers": info["foldovers"]} and node["frame_counts"] == {"1": node["counts"]}
    assert events.summary(ev.stats_json()) == f"{info['foldovers']} fold-over triangle(s) on 1 frame (node 'tw')"
    assert out["displacement"].valid.min() == 0.0 and out["displacement"].valid.max() == 1.0
    assert len(warps) == 1
    g = tri_graph(img, src, {1: dst}, {"foldover": "error"})
    with pytest.raises(RenderError, match="fold over"):
        Evaluator(g).pull("tw", Context(frame=1, frames=(1,)))
    assert len(warps) == 1  # refused before the warp: a refused 4K frame costs no warp


def test_normalised_displacement_with_sequence_spread():
    img = astronaut()[:256, :256]
    h, w = img.shape[:2]
    src = np.floor(face_points(30, w, h, 4)) + 0.5
    rng = np.random.default_rng(5)
    scales = rng.uniform(0.5, 6.0, len(src))  # each landmark moves with its own amplitude
    frames = (1, 2, 3, 4, 5, 6)
    targets = {f: src + (rng.standard_normal(src.shape) * scales[:, None]).round() for f in frames}
    g = tri_graph(img, src, targets, spread=True)
    ev = Evaluator(g)
    d = np.stack([targets[f] - src for f in frames])
    std = np.maximum(np.sqrt(0.5 * (d[..., 0].var(0) + d[..., 1].var(0))), 0.5)
    for f in (2, 5):
        ctx = Context(frame=f, frames=frames)
        out = ev.pull("tw", ctx)
        norm = out["normalized"].pixels
        t = targets[f]
        j = (t[:, 0] - 0.5).astype(int)
        i = (t[:, 1] - 0.5).astype(int)
        ok = (j >= 0) & (j < w) & (i >= 0) & (i < h)
        expect = (t - src) / std[:, None]
        assert np.abs(norm[i[ok], j[ok]] - expect[ok]).max() < 1e-3
    assert ev.stats["sp"].computes == 1  # the spread is computed once for the range


def test_no_face_found_passes_the_image_through():
    img = astronaut()[:64, :80]
    g = Graph()
    s = Seq("src")
    s.image, s.src, s.targets = img, face_points(5, 80, 64, 0), {1: face_points(5, 80, 64, 1)}
    g.nodes["src"] = s

    class _NotFound(Node):
        schema = NodeSchema(type="_TestNotFound", doc="test", outputs=(Output("lm", "Landmarks"),))

        def compute(self, ctx, inputs):
            return {"lm": Landmarks(np.zeros((5, 2)), found=False)}

    g.nodes["nf"] = _NotFound("nf")
    g.add("TriangleWarp", "tw")
    g.connect("src.image", "tw.image")
    g.connect("src.source", "tw.source")
    g.connect("nf.lm", "tw.target")
    out = Evaluator(g).pull("tw", Context(frame=1, frames=(1,)))
    assert np.array_equal(out["image"].pixels, img) and not out["displacement"].field.any()
    assert out["image"].metadata["facewarp:trianglewarp"]["identity"] is True
