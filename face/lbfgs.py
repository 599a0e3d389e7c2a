"""L-BFGS with a strong-Wolfe line search, on float64 numpy vectors.

The face fit's identity stage uses it instead of ``torch.optim.LBFGS``: torch's optimizers import
``torch._dynamo`` when first built (~1.4 s on a 2-core machine, every process that fits) and wrap
every ``zero_grad`` in a dynamo guard. The method is the textbook one (Nocedal & Wright, Numerical
Optimization, 2nd ed.: two-loop recursion, Alg. 7.4; line search, Alg. 3.5/3.6 with cubic
interpolation, eq. 3.59), written for small dense problems (a few thousand unknowns).

    x, info = minimize(fun_grad, x0, max_iter=100)

``fun_grad(x)`` returns ``(f, g)``: the value (a float) and its gradient (an array like ``x``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

FunGrad = Callable[[np.ndarray], "tuple[float, np.ndarray]"]

C1 = 1e-4  # sufficient decrease (Armijo)
C2 = 0.9  # curvature: loose, as quasi-Newton methods want
MAX_LINE_EVALS = 25


@dataclass
class Result:
    f: float
    iterations: int
    evaluations: int
    reason: str  # "gradient", "step", "change", "iterations", "evaluations", "line search"


def _cubic_min(x1, f1, g1, x2, f2, g2, lo, hi):
    """Minimiser of the cubic through (x1, f1, g1) and (x2, f2, g2), clamped to [lo, hi];
    the midpoint of [lo, hi] when the cubic has no minimum there."""
    d1 = g1 + g2 - 3.0 * (f1 - f2) / (x1 - x2)
    disc = d1 * d1 - g1 * g2
    if disc < 0.0 or not np.isfinite(disc):
        return 0.5 * (lo + hi)
    d2 = np.copysign(np.sqrt(disc), x2 - x1)
    den = g2 - g1 + 2.0 * d2
    if den == 0.0:
        return 0.5 * (lo + hi)
    x = x2 - (x2 - x1) * (g2 + d2 - d1) / den
    return float(min(max(x, lo), hi)) if np.isfinite(x) else 0.5 * (lo + hi)


class _Line:
    """phi(t) = f(x + t d) and its slope along ``d`` from (f0, s0) at t = 0, counting evaluations
    and keeping the best point seen that decreases f sufficiently (``best``: (t, f, g) or None)."""

    def __init__(self, fun_grad: FunGrad, x: np.ndarray, d: np.ndarray, f0: float, s0: float):
        self.fun_grad, self.x, self.d, self.f0, self.s0 = fun_grad, x, d, f0, s0
        self.dmax = float(np.abs(d).max())  # a step dt moves x by at most dt * dmax
        self.evals, self.best = 0, None

    def armijo(self, t: float, f: float) -> bool:
        return bool(np.isfinite(f)) and f <= self.f0 + C1 * t * self.s0

    def __call__(self, t: float):
        self.evals += 1
        f, g = self.fun_grad(self.x + t * self.d)
        f = float(f)
        if np.isfinite(f) and f < self.f0 + C1 * t * self.s0 and (self.best is None or f < self.best[1]):
            self.best = (t, f, g)
        return f, g, float(g @ self.d)


def _strong_wolfe(phi: _Line, t: float, tol_change: float, max_evals: int):
    """A step t with f(t) <= f0 + C1 t s0 and |f'(t)| <= C2 |s0| (``s0`` < 0 the slope at 0), as
    (t, f, g); the best point seen when the evaluations run out; None when none decreased f."""
    prev = (0.0, phi.f0, None, phi.s0)  # t, f, g, slope
    for i in range(max_evals):
        f, g, s = phi(t)
        if not phi.armijo(t, f) or (i > 0 and f >= prev[1]):
            return _zoom(phi, prev, (t, f, g, s), tol_change, max_evals - i - 1)
        if abs(s) <= -C2 * phi.s0:
            return t, f, g
        if s >= 0:
            return _zoom(phi, (t, f, g, s), prev, tol_change, max_evals - i - 1)
        # still descending: extrapolate, between 2x and 10x the step
        t_next = _cubic_min(prev[0], prev[1], prev[3], t, f, s, 2.0 * t, 10.0 * t)
        if abs(t_next - t) * phi.dmax < tol_change:
            break
        prev, t = (t, f, g, s), t_next
    return phi.best


def _zoom(phi: _Line, lo, hi, tol_change, max_evals):
    """Alg. 3.6: ``lo`` satisfies sufficient decrease with the lowest f so far; the minimiser
    lies between ``lo`` and ``hi``."""
    for _ in range(max_evals):
        a, b = sorted((lo[0], hi[0]))
        width = b - a
        if width * phi.dmax < tol_change:
            break
        t = _cubic_min(lo[0], lo[1], lo[3], hi[0], hi[1], hi[3], a + 0.1 * width, b - 0.1 * width)
        f, g, s = phi(t)
        if not phi.armijo(t, f) or f >= lo[1]:
            hi = (t, f, g, s)
            continue
        if abs(s) <= -C2 * phi.s0:
            return t, f, g
        if s * (hi[0] - lo[0]) >= 0:
            hi = lo
        lo = (t, f, g, s)
    return phi.best


def minimize(fun_grad: FunGrad, x0: np.ndarray, max_iter: int = 100, history: int = 20, max_eval: int | None = None,
             tol_grad: float = 1e-10, tol_change: float = 1e-14) -> tuple[np.ndarray, Result]:
    """Minimise ``fun_grad`` from ``x0`` by L-BFGS (``history`` correction pairs). Stops after
    ``max_iter`` iterations or ``max_eval`` evaluations (default 1.25 x ``max_iter``), when the
    largest gradient component is <= ``tol_grad``, or when a step or the change in f is below
    ``tol_change``. Returns the best point found and a :class:`Result`."""
    max_eval = int(max_iter * 1.25) if max_eval is None else int(max_eval)
    x = np.array(x0, np.float64, copy=True).reshape(-1)
    f, g = fun_grad(x)
    f, evals = float(f), 1
    pairs: list[tuple[np.ndarray, np.ndarray, float]] = []  # (s, y, 1 / y.s), oldest first
    reason, iterations = "iterations", 0
    while iterations < max_iter:
        if float(np.abs(g).max()) <= tol_grad:
            reason = "gradient"
            break
        d = _direction(g, pairs)
        slope = float(g @ d)
        if slope >= 0:  # not a descent direction (curvature information gone stale): steepest descent
            pairs.clear()
            d, slope = -g, -float(g @ g)
        # the first step is scaled to a unit move; later ones start at the quasi-Newton step
        t = min(1.0, 1.0 / float(np.abs(g).sum())) if not pairs else 1.0
        line = _Line(fun_grad, x, d, f, slope)
        found = _strong_wolfe(line, t, tol_change, min(MAX_LINE_EVALS, max(1, max_eval - evals)))
        evals += line.evals
        if found is None:
            reason = "line search"
            break
        t, f_new, g_new = found
        step = t * d
        y = g_new - g
        sy = float(step @ y)
        if sy > 1e-10:
            pairs.append((step, y, 1.0 / sy))
            if len(pairs) > history:
                pairs.pop(0)
        x, g, change, f = x + step, g_new, abs(f_new - f), f_new
        iterations += 1
        if float(np.abs(step).max()) <= tol_change:
            reason = "step"
            break
        if change < tol_change:
            reason = "change"
            break
        if evals >= max_eval:
            reason = "evaluations"
            break
    return x, Result(f, iterations, evals, reason)


def _direction(g: np.ndarray, pairs) -> np.ndarray:
    """-H g by the two-loop recursion; H0 = (s.y / y.y) I from the newest pair."""
    q = -g.copy()
    alphas = []
    for s, y, rho in reversed(pairs):
        a = rho * float(s @ q)
        q -= a * y
        alphas.append(a)
    if pairs:
        s, y, _ = pairs[-1]
        q *= float(s @ y) / float(y @ y)
    for (s, y, rho), a in zip(pairs, reversed(alphas)):
        b = rho * float(y @ q)
        q += (a - b) * s
    return q


__all__ = ["Result", "minimize"]
