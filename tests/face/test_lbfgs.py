"""The fit's L-BFGS (face/lbfgs.py) against analytic minima, its line search against the Wolfe
conditions, and the fit process against torch._dynamo (why it exists)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from facewarp.face import lbfgs


def rosenbrock(x):
    f = float(np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2))
    g = np.zeros_like(x)
    g[:-1] += -400.0 * x[:-1] * (x[1:] - x[:-1] ** 2) - 2.0 * (1.0 - x[:-1])
    g[1:] += 200.0 * (x[1:] - x[:-1] ** 2)
    return f, g


@pytest.mark.parametrize("n", [2, 10])
def test_rosenbrock_reaches_the_analytic_minimum(n):
    x0 = np.tile([-1.2, 1.0], n // 2)
    x, res = lbfgs.minimize(rosenbrock, x0, max_iter=500)
    np.testing.assert_allclose(x, np.ones(n), atol=1e-6)
    assert res.f < 1e-12 and res.iterations < 500


def test_quadratic_matches_the_linear_solve():
    rng = np.random.default_rng(0)
    M = rng.normal(size=(40, 40))
    A = M @ M.T + np.eye(40)
    b = rng.normal(size=40)
    x, res = lbfgs.minimize(lambda x: (0.5 * x @ A @ x - b @ x, A @ x - b), np.zeros(40), max_iter=400)
    np.testing.assert_allclose(x, np.linalg.solve(A, b), atol=1e-6 * np.abs(np.linalg.solve(A, b)).max())


def _bowl(x):
    A = np.diag([1.0, 10.0, 100.0])
    return 0.5 * x @ A @ x + np.sum(x ** 4), A @ x + 4 * x ** 3


@pytest.mark.parametrize("fg,x0", [(_bowl, [0.3, -0.4, 0.8]), (_bowl, [3.0, 2.0, -1.0]),
                                   (rosenbrock, [-1.2, 1.0]), (rosenbrock, [0.5, -2.0])])
def test_one_iteration_is_a_strong_wolfe_step_along_minus_the_gradient(fg, x0):
    x0 = np.asarray(x0, np.float64)
    f0, g0 = fg(x0)
    x, res = lbfgs.minimize(fg, x0, max_iter=1, max_eval=lbfgs.MAX_LINE_EVALS + 1)
    d = -g0
    t = float((x - x0) @ d) / float(d @ d)
    assert res.iterations == 1 and t > 0
    np.testing.assert_allclose(x - x0, t * d, rtol=1e-12, atol=1e-15)  # the move is along -g
    f1, g1 = fg(x)
    assert f1 <= f0 + lbfgs.C1 * t * float(g0 @ d)  # sufficient decrease
    assert abs(float(g1 @ d)) <= lbfgs.C2 * abs(float(g0 @ d))  # curvature (strong Wolfe)


def test_stops_at_a_zero_gradient_and_at_max_iter():
    x, res = lbfgs.minimize(lambda x: (float(x @ x), 2 * x), np.zeros(3), max_iter=10)
    assert res.reason == "gradient" and res.iterations == 0 and res.evaluations == 1
    _, res = lbfgs.minimize(rosenbrock, np.array([-1.2, 1.0]), max_iter=3, max_eval=100)
    assert res.iterations == 3 and res.reason == "iterations"


def test_non_finite_values_shrink_the_step_instead_of_being_taken():
    # f is +inf beyond x = 1.5; the minimum of the finite part is at x = 1.4 (inside)
    def fg(x):
        if x[0] > 1.5:
            return float("inf"), np.full(1, np.nan)
        return float((x[0] - 1.4) ** 2), np.array([2 * (x[0] - 1.4)])

    x, res = lbfgs.minimize(fg, np.array([-20.0]), max_iter=50)
    assert np.isfinite(res.f)
    np.testing.assert_allclose(x, [1.4], atol=1e-6)


def test_a_fit_does_not_import_torch_dynamo_nor_warn():
    pytest.importorskip("torch")
    code = textwrap.dedent("""
        import sys
        sys.path.insert(0, sys.argv[1])
        from _face_helpers import random_model, synth
        from facewarp.face import fit
        m = random_model()
        _, _, _, pts = synth(m, T=3)
        r = fit.Fitter(m, fit.FitConfig(identity_iters=20)).fit(pts, None, (1920, 1080), "ibug68")
        assert r.expr.shape[0] == 3
        print("dynamo" if "torch._dynamo" in sys.modules else "clean")
    """)
    import pathlib

    here = pathlib.Path(__file__).resolve().parents[1]  # tests/, where _face_helpers lives
    out = subprocess.run([sys.executable, "-W", "error", "-c", code, str(here)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "clean"
