"""The fit's own solver pieces against the torch machinery they replace: the squared-Jacobian column
sums (``torch.autograd.functional.jacobian``, whose vectorised form imports torch._dynamo) and the
model layer's batched skinning (a per-vertex reference)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from _face_helpers import random_model, synth  # noqa: E402

from facewarp.face import fit as _fit  # noqa: E402


@pytest.mark.parametrize("camera", ["weak_perspective", "pinhole"])
def test_jacobian_column_sums_match_autograd_jacobian(camera):
    m = random_model()
    _, _, pose, pts = synth(m, T=1, camera=camera)
    f = _fit.Fitter(m, _fit.FitConfig(camera=camera))
    f.sigma, f.kind, f.f = 0.01, camera, 4.0
    f.c = torch.tensor([0.1, -0.2], dtype=torch.float64)
    rng = np.random.default_rng(4)
    rows = torch.arange(len(m.lmk_faces))
    tgt = torch.as_tensor(rng.normal(0, 1, (1, len(m.lmk_faces), 2)))
    xs = (torch.as_tensor(rng.normal(0, 0.5, (1, m.n_shape))), torch.as_tensor(rng.normal(0, 0.5, (1, m.n_expr))),
          torch.as_tensor(rng.normal(0, 0.2, (1, 4, 3))), torch.as_tensor([[0.3, 0.1, -0.1]], dtype=torch.float64))

    def resid(s_, e_, p_, c_):
        pose_ = torch.cat([p_[:, :1], torch.zeros_like(p_[:, :1]), p_[:, 1:]], 1)
        return (f._project(s_, e_, pose_, c_, rows) - tgt).reshape(-1)

    J = torch.autograd.functional.jacobian(resid, xs)
    expect = [(j.reshape(j.shape[0], -1) ** 2).sum(0) for j in J]
    got = f._jacobian_sq_sums(resid, xs, chunk=7)  # a chunk that does not divide the rows
    for a, b in zip(got, expect):
        assert float(b.abs().max()) > 0
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def _reference_lbs(m, shape, expr, pose):
    """FLAME's forward pass written out per vertex in numpy (blended 4x4 transforms)."""
    import cv2

    v = m.v_template + m.shapedirs @ shape + m.exprdirs @ expr
    J = m.J_regressor @ v
    R = np.stack([cv2.Rodrigues(np.asarray(p, np.float64).reshape(3, 1))[0] for p in pose])
    v = v + m.posedirs @ (R[1:] - np.eye(3)).reshape(-1)
    G = [None] * len(m.parents)
    for j, par in enumerate(m.parents):
        local = np.eye(4)
        local[:3, :3] = R[j]
        local[:3, 3] = J[j] - (J[par] if par >= 0 else 0)
        G[j] = local if par < 0 else G[par] @ local
    A = np.stack([g @ np.block([[np.eye(3), -J[j][:, None]], [np.zeros((1, 3)), np.ones((1, 1))]])
                  for j, g in enumerate(G)])
    T = np.einsum("vj,jab->vab", m.weights, A)
    return np.einsum("vab,vb->va", T[:, :3, :3], v) + T[:, :3, 3]


def test_layer_skinning_matches_per_vertex_reference():
    """The layer blends per-joint transformed points (sum_j w (R_j v + t_j)); the same as blending
    the joints' transforms per vertex, for a batch with one shared identity."""
    from facewarp.face import flame as _flame

    m = random_model(seed=2)
    rng = np.random.default_rng(11)
    shape = rng.normal(0, 1, m.n_shape)
    expr = rng.normal(0, 1, (3, m.n_expr))
    pose = rng.normal(0, 0.3, (3, 5, 3))
    layer = _flame.FlameLayer(m)
    with torch.no_grad():
        v, _ = layer(torch.as_tensor(shape)[None], torch.as_tensor(expr), torch.as_tensor(pose))
    for b in range(3):
        np.testing.assert_allclose(v[b].numpy(), _reference_lbs(m, shape, expr[b], pose[b]), rtol=0, atol=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_numpy_evaluation_matches_the_torch_layer(seed):
    """evaluate_numpy (the render path, no torch) computes what FlameLayer.forward does."""
    from facewarp.face import flame as _flame
    from facewarp.face.models import load_model

    m = load_model("default")
    rng = np.random.default_rng(seed)
    shape, expr = rng.normal(0, 1, m.n_shape), rng.normal(0, 1, m.n_expr)
    pose = rng.normal(0, 0.3, (len(m.parents), 3))
    ours = _flame.evaluate_numpy(m, shape, expr, pose)
    with torch.no_grad():
        ref, _ = _flame.FlameLayer(m)(torch.as_tensor(shape)[None], torch.as_tensor(expr)[None],
                                      torch.as_tensor(pose)[None])
    assert ours.shape == (m.n_vertices, 3)
    assert np.abs(ours - ref[0].numpy()).max() < 1e-9 * max(1.0, np.abs(ours).max())
