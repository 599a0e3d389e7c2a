"""The fit's own solver pieces against the torch machinery they replace: the L-BFGS step
(``torch.optim.LBFGS``) and the squared-Jacobian column sums (``torch.autograd.functional.jacobian``).
Both replacements exist so that fitting a face never imports torch._dynamo (seconds per render task)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from _face_helpers import random_model, synth  # noqa: E402

from facewarp.face import fit as _fit  # noqa: E402


def _rosenbrock(x):
    return (100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2).sum()


@pytest.mark.parametrize("iters", [1, 7, 60])
def test_lbfgs_step_matches_torch_optim_lbfgs(iters):
    x0 = torch.tensor([-1.2, 1.0, 0.5, -0.7, 1.3, 0.2], dtype=torch.float64)

    ref = x0.clone().requires_grad_(True)
    opt = torch.optim.LBFGS([ref], lr=1.0, max_iter=iters, history_size=5, line_search_fn="strong_wolfe",
                            tolerance_grad=1e-10, tolerance_change=1e-14)
    calls = {"torch": 0, "ours": 0}

    def closure():
        calls["torch"] += 1
        opt.zero_grad()
        e = _rosenbrock(ref)
        e.backward()
        return e

    opt.step(closure)

    def fg(v):
        calls["ours"] += 1
        v = v.detach().requires_grad_(True)
        e = _rosenbrock(v)
        (g,) = torch.autograd.grad(e, v)
        return float(e.detach()), g

    ours = _fit.lbfgs_step(fg, x0.clone(), iters, history_size=5, tolerance_grad=1e-10, tolerance_change=1e-14)
    assert calls["ours"] == calls["torch"]
    torch.testing.assert_close(ours, ref.detach(), rtol=0, atol=1e-12)
    assert float(_rosenbrock(ours)) < float(_rosenbrock(x0))


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


def test_fitting_a_face_does_not_import_torch_dynamo():
    """Run in a fresh interpreter: importing torch._dynamo costs seconds per render task."""
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent("""
        import sys
        sys.path.insert(0, sys.argv[1])
        from _face_helpers import random_model, synth
        from facewarp.face import fit as _fit
        m = random_model()
        _, _, _, pts = synth(m, T=3)
        _fit.Fitter(m, _fit.FitConfig(identity_iters=5, frame_iters=2)).fit(pts, None, (1920, 1080), "ibug68")
        print("dynamo" if "torch._dynamo" in sys.modules else "clean")
    """)
    import os

    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, "-c", code, here], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "clean"


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
