"""FLAME layer, model loading (restricted unpickler, npz, convert_flame), default model, fitting on
synthetic ground truth."""

from __future__ import annotations

import os
import pickle
import sys
import types

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from _face_helpers import random_model, synth  # noqa: E402

from facewarp.core.conventions import signed_area_2x  # noqa: E402
from facewarp.face import fit as _fit  # noqa: E402
from facewarp.face import flame as _flame  # noqa: E402
from facewarp.face import models  # noqa: E402
from facewarp.face.flame import FaceModel, ModelError  # noqa: E402


def test_layer_rest_pose_is_template_and_jaw_rotates_lower_face():
    m = random_model()
    v = _flame.evaluate_numpy(m, np.zeros(m.n_shape), np.zeros(m.n_expr), np.zeros((5, 3)))
    np.testing.assert_allclose(v, m.v_template, atol=1e-12)
    pose = np.zeros((5, 3))
    pose[2, 0] = 0.3
    v2 = _flame.evaluate_numpy(m, np.zeros(m.n_shape), np.zeros(m.n_expr), pose)
    upper = m.weights[:, 2] == 0
    corr = (m.posedirs.reshape(len(v), 3, 4, 9)[:, :, 1] @ (_rot([0.3, 0, 0]) - np.eye(3)).reshape(9))
    np.testing.assert_allclose(v2[upper], m.v_template[upper] + corr[upper], atol=1e-10)
    # a fully jaw-weighted vertex is rotated about the jaw joint (plus its corrective)
    k = np.nonzero(m.weights[:, 2] == 1)[0][0]
    Jj = m.J_regressor[2] @ m.v_template
    expect = _rot([0.3, 0, 0]) @ (m.v_template[k] + corr[k] - Jj) + Jj
    np.testing.assert_allclose(v2[k], expect, atol=1e-10)


def _rot(aa):
    import cv2

    return cv2.Rodrigues(np.asarray(aa, np.float64).reshape(3, 1))[0]


def test_landmarks_only_layer_matches_full_layer():
    m = random_model()
    rng = np.random.default_rng(3)
    s, e, p = (torch.as_tensor(rng.normal(0, 1, (1, m.n_shape))), torch.as_tensor(rng.normal(0, 1, (2, m.n_expr))),
               torch.as_tensor(rng.normal(0, 0.2, (2, 5, 3))))
    full = _flame.FlameLayer(m)
    sub = _flame.FlameLayer(m, landmarks_only=True)
    assert len(sub.used) < m.n_vertices
    a = full.landmarks(full(s, e, p)[0])
    b = sub.landmarks(sub(s, e, p)[0])
    torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


@pytest.mark.parametrize("camera", ["weak_perspective", "pinhole"])
def test_fit_recovers_synthetic_ground_truth(camera):
    m = random_model()
    shape, expr, pose, pts = synth(m, camera=camera)
    cfg = _fit.FitConfig(camera=camera, noise=1e-5, shape_reg=1.0, expr_reg=1.0, jaw_reg=1e-3,
                         identity_iters=400, frame_iters=100, fit_eyes=False)
    res = _fit.Fitter(m, cfg).fit(pts, None, (1920, 1080), "ibug68")
    print(f"[{camera}] landmark error px: max {res.error_px.max():.4f}")
    assert res.error_px.max() <= 0.1
    assert res.shape.shape == (m.n_shape,)  # one identity for the shot
    np.testing.assert_allclose(res.expr, expr, atol=0.05)
    np.testing.assert_allclose(res.pose[:, 2, 0], pose[:, 2, 0], atol=0.01)
    for t in range(len(pts)):
        dR = _rot(res.pose[t, 0]).T @ _rot(pose[t, 0])
        assert np.degrees(np.arccos(np.clip((np.trace(dR) - 1) / 2, -1, 1))) < 0.5
    np.testing.assert_allclose(res.shape, shape, atol=0.05)


def test_fit_with_noise_stays_close():
    m = random_model()
    shape, expr, pose, pts = synth(m, T=8, seed=5)
    rng = np.random.default_rng(9)
    noisy = [p + rng.normal(0, 0.5, p.shape) for p in pts]
    res = _fit.Fitter(m, _fit.FitConfig(noise=0.002, fit_eyes=False, jaw_reg=1e-3)).fit(noisy, None, (1920, 1080), "ibug68")
    clean_err = [np.sqrt(((_project_result(m, res, t) - pts[t]) ** 2).sum(1)).mean() for t in range(len(pts))]
    print("noisy fit: mean error to the clean landmarks px", np.round(clean_err, 3))
    assert max(clean_err) < 0.8
    assert np.abs(res.pose[:, 2, 0] - pose[:, 2, 0]).max() < 0.05


def _project_result(m, res, t):
    v = _flame.evaluate_numpy(m, res.shape, res.expr[t], res.pose[t])
    lm = _flame.landmarks_numpy(m, v) * np.array([1.0, -1.0, -1.0])
    s, tx, ty = res.cam[t]
    return s * lm[:, :2] + np.array([tx, ty])


# -- loading -------------------------------------------------------------------------------

def _fake_chumpy():
    mod = types.ModuleType("chumpy")
    ch = types.ModuleType("chumpy.ch")

    class Ch:  # mimics chumpy.ch.Ch's pickled form: a __dict__ with x plus bookkeeping
        def __init__(self, x):
            self.x = np.asarray(x)
            self._dirty_vars = {"x"}
            self._itr = None
            self._depends_on_deps = {}

        def __getstate__(self):
            return dict(self.__dict__)

    Ch.__module__ = "chumpy.ch"
    Ch.__qualname__ = "Ch"
    ch.Ch = Ch
    mod.ch = ch
    return mod, ch, Ch


def _flame_like_dict(m: FaceModel, Ch=None):
    import scipy.sparse as sp

    wrap = (lambda a: Ch(a)) if Ch else (lambda a: a)  # noqa: E731
    return {
        "v_template": wrap(m.v_template), "f": m.faces.astype(np.uint32),
        "shapedirs": wrap(np.concatenate([m.shapedirs, m.exprdirs], 2)), "posedirs": wrap(m.posedirs),
        "J_regressor": sp.csc_matrix(m.J_regressor), "weights": wrap(m.weights),
        "kintree_table": np.array([[4294967295, 0, 1, 1, 1], [0, 1, 2, 3, 4]]), "bs_style": "lbs", "bs_type": "lrotmin",
    }


def test_flame_pickle_with_chumpy_objects_loads_without_chumpy(tmp_path):
    m = random_model()
    mod, ch, Ch = _fake_chumpy()
    sys.modules["chumpy"], sys.modules["chumpy.ch"] = mod, ch
    try:
        data = pickle.dumps(_flame_like_dict(m, Ch), protocol=2)
    finally:
        del sys.modules["chumpy"], sys.modules["chumpy.ch"]
    assert b"chumpy.ch" in data
    src = tmp_path / "generic_model.pkl"
    src.write_bytes(data)
    emb = tmp_path / "emb.npz"
    np.savez(emb, lmk_face_idx=m.lmk_faces, lmk_b_coords=m.lmk_bary)
    dst = _flame.convert_flame(src, tmp_path / "flame.npz", embedding=emb, n_shape=m.n_shape)
    assert "chumpy" not in sys.modules
    m2 = models.load_model(str(dst))
    assert m2.lmk_scheme == "ibug68"
    for k in ("v_template", "shapedirs", "exprdirs", "posedirs", "J_regressor", "weights", "lmk_bary"):
        np.testing.assert_allclose(getattr(m2, k), getattr(m, k), atol=1e-6)
    np.testing.assert_array_equal(m2.parents, m.parents)
    with pytest.raises(FileExistsError):
        _flame.convert_flame(src, dst, embedding=emb)
    # the .pkl loads directly too, through FACEWARP_FLAME
    os.environ["FACEWARP_FLAME"] = str(src)
    os.environ["FACEWARP_FLAME_EMBEDDING"] = str(emb)
    try:
        m3 = models.load_model("")
    finally:
        del os.environ["FACEWARP_FLAME"], os.environ["FACEWARP_FLAME_EMBEDDING"]
    assert m3.n_vertices == m.n_vertices and m3.n_shape + m3.n_expr == m.n_shape + m.n_expr


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


class _EvilEval:
    def __reduce__(self):
        return (eval, ("1+1",))


@pytest.mark.parametrize("payload", [
    _Evil(), _EvilEval(), {"v_template": _Evil()}, [np.zeros(3), _EvilEval()],
])
def test_restricted_unpickler_refuses_other_globals(payload):
    data = pickle.dumps(payload, protocol=2)
    with pytest.raises(ModelError, match="refused"):
        _flame.restricted_load(data)


def test_restricted_unpickler_refuses_object_arrays_and_subclasses():
    with pytest.raises(ModelError):
        _flame.restricted_load(pickle.dumps(np.array([1, "a", None], dtype=object), protocol=2))
    with pytest.raises(ModelError):
        _flame.restricted_load(pickle.dumps(np.ma.masked_array([1.0, 2.0]), protocol=2))
    ok = _flame.restricted_load(pickle.dumps({"a": np.arange(4.0), "b": (1, 2.5, "s"), "c": {1, 2}}, protocol=2))
    np.testing.assert_array_equal(ok["a"], np.arange(4.0))


def test_missing_model_message_names_where_to_get_flame(tmp_path):
    with pytest.raises(ModelError, match="flame.is.tue.mpg.de"):
        models.load_model(str(tmp_path / "nope.pkl"))


# -- default model ---------------------------------------------------------------------------

def test_default_model_is_small_exact_and_consistent():
    from facewarp.face import default_model as _default_face

    m = models.load_model("default")
    assert m.n_vertices == 478 and m.lmk_scheme == "mediapipe478"
    assert _default_face.DATA_PATH.stat().st_size < 1_000_000
    # exact embedding: landmark i is vertex i
    lm = _flame.landmarks_numpy(m, m.v_template)
    np.testing.assert_array_equal(lm, m.v_template)
    # symmetric template, outward faces: most triangles front-facing from a frontal camera
    np.testing.assert_allclose(m.v_template[33, 1:], m.v_template[263, 1:], atol=1e-9)
    np.testing.assert_allclose(m.v_template[33, 0], -m.v_template[263, 0], atol=1e-9)
    cam = _flame.model_to_camera(m.v_template, [0, 0, 0.6])
    uv = cam[:, :2] / cam[:, 2:]
    f = m.faces
    # (the rest: silhouette triangles and the creased mouth corners of the smiling source portrait)
    assert (signed_area_2x(uv[f[:, 0]], uv[f[:, 1]], uv[f[:, 2]]) < 0).mean() > 0.93
    for name in ("smile_l", "smile_r", "lip_funnel", "lip_pucker", "brow_raise_l", "blink_l", "blink_r"):
        assert name in m.expression_names
    # jaw joint with skinning weights: opening the jaw parts the lips and leaves the nose
    pose = np.zeros((5, 3))
    pose[2, 0] = 0.2
    v = _flame.evaluate_numpy(m, np.zeros(m.n_shape), np.zeros(m.n_expr), pose)
    assert np.linalg.norm(v[13] - v[14]) > 0.01 and np.abs(v[1] - m.v_template[1]).max() < 1e-12
    # blink closes the eye
    e = np.zeros(m.n_expr)
    e[m.expression_names.index("blink_l")] = 1
    v = _flame.evaluate_numpy(m, np.zeros(m.n_shape), e, np.zeros((5, 3)))
    assert np.linalg.norm(v[386] - v[374]) < 0.3 * np.linalg.norm(m.v_template[386] - m.v_template[374])


def test_default_model_builder_reproduces_committed_file():
    pytest.importorskip("mediapipe")
    from facewarp.face import default_model as _default_face

    built = _default_face.build_default_model()
    stored = models.load_model("default")
    np.testing.assert_allclose(built.v_template, stored.v_template, atol=5e-4)  # MediaPipe/CPU variation (0.5 mm)
    np.testing.assert_array_equal(built.faces, stored.faces)


def test_default_template_close_to_mediapipe_canonical_mesh(canonical_mesh_path):
    """Our derived template against MediaPipe's canonical face OBJ (used here ONLY as a reference,
    never by runtime code): after a similarity alignment the shapes agree to a few percent of the
    face width; our triangles use MediaPipe's edges, most of which the OBJ shares."""
    import itertools

    m = models.load_model("default")
    verts, faces = [], []
    for line in canonical_mesh_path.read_text().splitlines():
        if line.startswith("v "):
            verts.append([float(x) for x in line.split()[1:4]])
        elif line.startswith("f "):
            faces.append([int(t.split("/")[0]) - 1 for t in line.split()[1:4]])
    ref = np.array(verts)[:468]
    ours = m.v_template[:468]
    a, b = ours - ours.mean(0), ref - ref.mean(0)
    U, S, Vt = np.linalg.svd(b.T @ a)
    R = U @ Vt
    s = S.sum() / (a ** 2).sum()
    rms = np.sqrt((((s * a @ R.T) - b) ** 2).sum(1).mean())
    width = np.linalg.norm(ref[234] - ref[454])
    ref_edges = {tuple(sorted(e)) for f in faces for e in itertools.combinations(f, 2)}
    our_edges = {tuple(sorted(e)) for f in m.faces[:-8] for e in itertools.combinations(f, 2)}
    shared = len(our_edges & ref_edges) / len(our_edges)
    print(f"template vs canonical: RMS {100 * rms / width:.2f}% of face width; edges shared {100 * shared:.1f}%")
    assert rms / width < 0.06
    assert shared > 0.8
