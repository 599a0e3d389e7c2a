"""Fitting a FLAME-format model to 2D landmarks over a shot (torch, CPU).

Unknowns: one identity (shape) for the shot; per frame the expression, the global, jaw and
eye rotations and the camera (weak perspective: scale + 2D offset; pinhole with a known focal
length: 3D translation). The neck joint is left at rest: for landmarks it is redundant with
the global rotation.

Objective (maximum a posteriori, in coordinates normalised by the shot's landmark spread):
``sum_l c_l |P(x_l) - y_l|^2 / (2 sigma^2)`` with sigma = ``noise`` x spread, plus Gaussian priors
``w_shape |beta|^2 / 2``, ``w_expr sum_k p_k psi_k^2 / 2`` (``p_k`` larger for the generic
components than for the named ones) and a jaw prior that mostly allows pitch (opening).

Procedure (deviation from PWM/DECA, which regress parameters with a network: here we solve
the optimisation per shot, as classic 3DMM trackers do):
 1. per-frame closed-form rigid initialisation (affine camera -> nearest scaled rotation);
 2. identity: a joint L-BFGS over up to ``identity_frames`` frames spread over the shot;
 3. tracking: the identity fixed, every frame is solved in order by Levenberg-Marquardt
    (forward-difference Jacobian, one batched model evaluation) warm-started from the previous
    frame's solution.

The identity stage uses :mod:`facewarp.face.lbfgs`, not ``torch.optim.LBFGS``: torch's optimisers
import torch._dynamo when built (~1.4 s per process). For the same reason the Jacobian below avoids
``torch.func``/vmap.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from facewarp.face import lbfgs as _lbfgs
from facewarp.face.flame import FaceModel, FlameLayer
from facewarp.face.landmarks import IBUG68_FROM_MP478

FLIP = np.array([1.0, -1.0, -1.0])


@dataclass
class FitConfig:
    camera: str = "weak_perspective"  # or "pinhole"
    focal: float = 0.0  # pinhole focal length in pixels; 0 = 1.5 x the longer image side
    noise: float = 0.01  # landmark noise, fraction of the landmark spread (sets the data weight)
    effective_points: float = 50.0  # independent observations per frame the landmarks are worth
    shape_reg: float = 1.0
    expr_reg: float = 1.0
    generic_expr_reg: float = 4.0
    jaw_reg: float = 1.0
    identity_frames: int = 20
    depth_shape_reg: float = 4.0  # extra prior weight on identity directions along the depth axis (poorly observed)
    identity_iters: int = 150
    frame_iters: int = 10  # Levenberg-Marquardt iterations per frame (tracking)
    fit_eyes: bool = True


@dataclass
class FitResult:
    shape: np.ndarray
    expr: np.ndarray  # T x E
    pose: np.ndarray  # T x J x 3
    cam: np.ndarray  # T x 3 weak (s, tx, ty) pixels; pinhole: T x 3 translation (model units)
    camera_kind: str
    focal: float
    principal: tuple[float, float]
    error_px: np.ndarray  # T mean reprojection error over landmarks (pixels)
    frame_ms: np.ndarray  # T tracking time per frame
    info: dict = field(default_factory=dict)


def correspondence(model: FaceModel, scheme: str, n_points: int) -> tuple[np.ndarray, np.ndarray]:
    """(embedding rows, landmark rows) that correspond between the model and a landmark set."""
    ids = model.landmark_ids()
    if model.lmk_scheme == scheme:
        keep = ids < n_points
        return np.nonzero(keep)[0], ids[keep]
    if model.lmk_scheme == "mediapipe478" and scheme == "ibug68":
        lut = {int(m): i for i, m in enumerate(IBUG68_FROM_MP478)}
        rows = [r for r, m in enumerate(ids) if int(m) in lut]
        return np.array(rows), np.array([lut[int(ids[r])] for r in rows])
    if model.lmk_scheme == "ibug68" and scheme == "mediapipe478":
        return np.arange(len(ids)), IBUG68_FROM_MP478[ids]
    raise ValueError(f"no correspondence between the model's landmark scheme {model.lmk_scheme!r} and {scheme!r}")


def _rotmat_to_aa(R):
    import cv2

    return cv2.Rodrigues(np.asarray(R, np.float64))[0].reshape(3)


def rigid_init(model_pts: np.ndarray, target: np.ndarray, w: np.ndarray):
    """Weak-perspective init: model points (L x 3, camera axes) -> (scale, R (3x3), t (2))."""
    X = model_pts - (w[:, None] * model_pts).sum(0) / w.sum()
    y = target - (w[:, None] * target).sum(0) / w.sum()
    sw = np.sqrt(w)[:, None]
    A = np.linalg.lstsq(X * sw, y * sw, rcond=None)[0].T  # 2 x 3
    U, S, Vt = np.linalg.svd(A, full_matrices=False)
    R2 = U @ Vt
    s = float(S.mean())
    R = np.vstack([R2, np.cross(R2[0], R2[1])])
    return s, R


class Fitter:
    """Holds the torch layer for one model (reuse it across shots)."""

    def __init__(self, model: FaceModel, config: FitConfig | None = None):
        import torch

        self.torch = torch
        self.model = model
        self.cfg = config or FitConfig()
        self.layer = FlameLayer(model, landmarks_only=True)
        E = model.n_expr
        named = len(model.expression_names) if model.meta.get("n_named_expressions") is None \
            else int(np.asarray(model.meta["n_named_expressions"]))
        p = np.ones(E)
        p[named:] = self.cfg.generic_expr_reg
        if model.name != "default" and not model.expression_names:
            p[:] = 1.0
        self.expr_prior = torch.as_tensor(p * self.cfg.expr_reg, dtype=torch.float64)
        sd = model.shapedirs
        depth = (sd[:, 2, :] ** 2).sum(0) / np.maximum((sd ** 2).sum((0, 1)), 1e-30)
        self.shape_prior = torch.as_tensor(self.cfg.shape_reg * (1.0 + (self.cfg.depth_shape_reg - 1.0) * depth),
                                           dtype=torch.float64)
        self.n_named = named if model.expression_names else 0
        self.n_joints = len(model.parents)

    # -- model evaluation -------------------------------------------------------------------
    def _project(self, shape, expr, pose, cam, rows):
        torch = self.torch
        v, _ = self.layer(shape, expr, pose)
        lm = self.layer.landmarks(v)[:, rows]  # B L 3 model space
        x, y, z = lm[..., 0], -lm[..., 1], -lm[..., 2]
        if self.kind == "weak_perspective":
            s = torch.exp(cam[:, 0:1])
            return torch.stack([s * x + cam[:, 1:2], s * y + cam[:, 2:3]], -1)
        tx, ty, tz = self._pinhole_translation(cam)
        zc = z + tz
        return torch.stack([self.f * (x + tx) / zc + self.c[0], self.f * (y + ty) / zc + self.c[1]], -1)

    def _pinhole_translation(self, cam):
        """Pinhole cameras are parametrised like weak-perspective ones (log scale, image position of
        the model origin) for conditioning: depth = f / scale."""
        s = self.torch.exp(cam[:, 0:1]) if not isinstance(cam, np.ndarray) else np.exp(cam[:, 0:1])
        return (cam[:, 1:2] - self.c[0]) / s, (cam[:, 2:3] - self.c[1]) / s, self.f / s

    def _residuals(self, shape, expr, pose_free, cam, tgt, wts, rows, shape_prior=True, batched=False):
        """Residual vector r with energy = |r|^2 / 2 (maximum a posteriori, see the module doc)."""
        torch = self.torch
        cfg = self.cfg
        pose = torch.cat([pose_free[:, :1], torch.zeros_like(pose_free[:, :1]), pose_free[:, 1:]], 1)
        if not cfg.fit_eyes:
            pose = torch.cat([pose[:, :3], torch.zeros_like(pose[:, 3:])], 1)
        uv = self._project(shape, expr, pose, cam, rows)
        # landmark errors are strongly correlated (one network predicts them all): the data term
        # counts as ``effective_points`` independent observations per frame, whatever N is
        k = (cfg.effective_points / uv.shape[1]) ** 0.5 / self.sigma
        B = uv.shape[0]
        parts = [((uv - tgt) * (torch.sqrt(wts)[..., None] * k)).reshape(B, -1)]
        parts.append(torch.sqrt(self.expr_prior) * expr)
        jaw = pose[:, 2]
        jr = cfg.jaw_reg ** 0.5
        # jaw: pitch (opening) std 0.25 rad, the other axes ~0.03 rad; closing past rest penalised
        parts.append(torch.stack([jr * 4.0 * jaw[:, 0], jr * 31.6 * jaw[:, 1], jr * 31.6 * jaw[:, 2],
                                  jr * 44.7 * torch.relu(-jaw[:, 0] - 0.03)], 1))
        if cfg.fit_eyes:
            parts.append(3.16 * pose[:, 3:].reshape(B, -1))
        if self.n_named:  # named activations live in about [-1, 1.5]
            named = expr[:, :self.n_named]
            parts += [10.0 * torch.relu(named - 1.5), 10.0 * torch.relu(-named - 1.0)]
        r = torch.cat(parts, 1)
        if batched:
            return r
        r = r.reshape(-1)
        if shape_prior:
            # the identity prior counts once per frame of data: landmark errors are systematic across
            # frames (the same face, the same detector), not independent draws
            r = torch.cat([r, torch.sqrt(self.shape_prior * expr.shape[0]) * shape.reshape(-1)])
        return r

    def _energy(self, shape, expr, pose_free, cam, tgt, wts, rows):
        r = self._residuals(shape, expr, pose_free, cam, tgt, wts, rows)
        return 0.5 * (r * r).sum()

    def _lm(self, xs, fn, iters: int = 20, h: float = 1e-6):
        """Levenberg-Marquardt on the concatenated per-frame variables ``xs``. ``fn(*xs, batched)``
        returns residuals; the Jacobian is taken by forward differences evaluated as ONE batched
        model evaluation (much cheaper than autograd for ~50 variables on the CPU)."""
        torch = self.torch
        shapes = [x.shape[1:] for x in xs]
        sizes = [int(np.prod(s)) for s in shapes]

        def split(v):  # v: B x P
            return [c.reshape((v.shape[0],) + tuple(s)) for c, s in zip(torch.split(v, sizes, 1), shapes)]

        res = lambda v: fn(*split(v))  # noqa: E731   (B x P) -> (B x R)
        x = torch.cat([t.reshape(1, -1) for t in xs], 1).detach()
        P = x.shape[1]
        eye = torch.eye(P, dtype=x.dtype)
        with torch.no_grad():
            r = res(x)[0]
            E = 0.5 * float(r @ r)
            lam = 1e-4
            for _ in range(iters):
                Rb = res(torch.cat([x, x + h * eye], 0))
                J = ((Rb[1:] - Rb[:1]) / h).T  # R x P
                g = J.T @ r
                H = J.T @ J
                dH = torch.diagonal(H) + 1e-9
                improved = done = False
                while lam < 1e10:
                    step = torch.linalg.solve(H + lam * torch.diag(dH) + 1e-12 * eye, -g)
                    rn = res(x + step[None])[0]
                    En = 0.5 * float(rn @ rn)
                    if En < E:
                        improved = True
                        done = E - En < 1e-6 * max(E, 1e-12) or float(step.abs().max()) < 1e-9
                        x, r, E = x + step[None], rn, En
                        lam = max(lam / 5, 1e-9)
                        break
                    lam *= 5
                if not improved or done:
                    break
        return [t.detach() for t in split(x)]

    def _lbfgs(self, zs, fn, iters):
        """``iters`` L-BFGS iterations on ``fn(*zs)`` (a scalar tensor) from ``zs``; the solved
        tensors. Gradients by autograd; the optimiser is :mod:`facewarp.face.lbfgs`."""
        torch = self.torch
        shapes = [z.shape for z in zs]
        sizes = [z.numel() for z in zs]

        def split(x):
            return [torch.from_numpy(c).reshape(s) for c, s in zip(np.split(x, np.cumsum(sizes)[:-1]), shapes)]

        def fun_grad(x):
            parts = [p.requires_grad_(True) for p in split(x)]
            e = fn(*parts)
            grads = torch.autograd.grad(e, parts)
            return float(e.detach()), np.concatenate([gr.reshape(-1).numpy() for gr in grads])

        x0 = np.concatenate([z.detach().reshape(-1).numpy() for z in zs])
        x, _ = _lbfgs.minimize(fun_grad, x0, max_iter=iters, history=20, tol_grad=1e-10, tol_change=1e-14)
        return split(x)

    # -- the shot ---------------------------------------------------------------------------
    def _solve(self, xs, ds, fn, iters, rounds: int = 4):
        """L-BFGS on the variables rescaled by ``ds`` (diagonal Gauss-Newton preconditioning),
        continued while it still makes progress. Returns the solved (unscaled) variables."""
        torch = self.torch
        zs = [(x.detach() * d) for x, d in zip(xs, ds)]
        f = lambda *zs_: fn(*[z / d for z, d in zip(zs_, ds)])  # noqa: E731
        with torch.no_grad():
            before = float(f(*zs))
        for _ in range(rounds):
            zs = self._lbfgs(zs, f, iters)
            with torch.no_grad():
                after = float(f(*zs))
            if before - after <= 1e-4 * max(after, 1.0):
                break
            before = after
        return [(z / d).detach() for z, d in zip(zs, ds)]

    def _scales(self, shape, e, p, c, tgt, w, rows, n_frames_for_shape=1):
        """sqrt of the diagonal of the Gauss-Newton Hessian (+ prior) for each variable."""
        torch = self.torch

        def resid(shape_, e_, p_, c_):
            pose = torch.cat([p_[:, :1], torch.zeros_like(p_[:, :1]), p_[:, 1:]], 1)
            uv = self._project(shape_, e_, pose, c_, rows)
            k = (self.cfg.effective_points / uv.shape[1]) ** 0.5
            return ((uv - tgt) * torch.sqrt(w)[..., None] * k / self.sigma).reshape(-1)

        sq = self._jacobian_sq_sums(resid, (shape, e, p, c))
        out = []
        for k, (d, x) in enumerate(zip(sq, (shape, e, p, c))):
            d = d.reshape(x.shape)
            if k == 0:
                d = (d + self.shape_prior) * n_frames_for_shape
            elif k == 1:
                d = d + self.expr_prior
            elif k == 2:
                d = d + 10.0
            out.append(torch.sqrt(d + 1e-3))
        return out

    def _jacobian_sq_sums(self, fn, xs, chunk: int = 256):
        """Column sums of the squared Jacobian of ``fn(*xs)`` (a vector; every ``x`` has batch 1),
        one tensor per ``x`` (its entries flattened). Reverse mode over a batch of copies of the
        inputs, output row ``i`` differentiated on copy ``i`` (the model treats batch entries
        independently): the exact Jacobian, without ``torch.func``/vmap or forward-mode AD, whose
        first use imports torch._dynamo (seconds per process)."""
        torch = self.torch
        with torch.no_grad():
            R = fn(*xs).numel()
        sums = [torch.zeros(x[0].numel(), dtype=x.dtype) for x in xs]
        for a in range(0, R, chunk):
            n = min(chunk, R - a)
            with torch.enable_grad():
                cp = [x.detach().expand((n,) + tuple(x.shape[1:])).clone().requires_grad_(True) for x in xs]
                r = fn(*cp).reshape(n, -1)
                i = torch.arange(n)
                grads = torch.autograd.grad(r[i, a + i].sum(), cp)
            for s_, g in zip(sums, grads):
                s_ += (g.reshape(n, -1) ** 2).sum(0)
        return sums

    def fit(self, *args, **kw) -> FitResult:
        """See :meth:`_fit`. Runs torch single-threaded: these tensors are tiny and MKL's
        threading costs more than it saves (and fights other processes for the cores)."""
        torch = self.torch
        n = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return self._fit(*args, **kw)
        finally:
            torch.set_num_threads(n)

    def _fit(self, points: list[np.ndarray], weights: list[np.ndarray] | None, image_size: tuple[int, int],
            scheme: str = "mediapipe478", init_shape: np.ndarray | None = None) -> FitResult:
        torch = self.torch
        cfg = self.cfg
        model = self.model
        T = len(points)
        rows, lrows = correspondence(model, scheme, len(points[0]))
        tgt_all = np.stack([np.asarray(p, np.float64)[lrows] for p in points])  # T L 2 pixels
        w_all = np.ones(tgt_all.shape[:2]) if weights is None else np.stack([np.asarray(w, np.float64)[lrows] for w in weights])
        W, H = image_size
        # normalisation: centre and spread of the landmarks over the shot
        centre = tgt_all.reshape(-1, 2).mean(0)
        spread = float(np.sqrt(((tgt_all - tgt_all.mean(1, keepdims=True)) ** 2).sum(-1).mean()))
        norm = lambda p: (p - centre) / spread  # noqa: E731
        tgt_n = torch.as_tensor(norm(tgt_all))
        w_t = torch.as_tensor(w_all)
        self.sigma = cfg.noise
        self.kind = cfg.camera
        focal_px = cfg.focal if cfg.focal > 0 else 1.5 * max(W, H)
        principal = (W / 2.0, H / 2.0)
        self.f = focal_px / spread
        self.c = torch.as_tensor(norm(np.array(principal)))
        rows_t = torch.as_tensor(rows)

        # 1. rigid init per frame from the template landmarks
        v0, _ = self.layer(torch.zeros(1, model.n_shape, dtype=torch.float64), torch.zeros(1, model.n_expr, dtype=torch.float64),
                           torch.zeros(1, self.n_joints, 3, dtype=torch.float64))
        lm0 = self.layer.landmarks(v0)[0, rows].numpy()
        J0 = model.J_regressor[0] @ model.v_template
        nfree = self.n_joints - 1  # global + jaw + eyes (neck fixed)
        pose0 = np.zeros((T, nfree, 3))
        cam0 = np.zeros((T, 3))
        for t in range(T):
            s, Rc = rigid_init(lm0 * FLIP, tgt_n[t].numpy(), w_all[t] + 1e-9)
            Rg = np.diag(FLIP) @ Rc @ np.diag(FLIP)
            pose0[t, 0] = _rotmat_to_aa(Rg)
            # projected rotated model (about the root joint) -> translation
            X = ((lm0 - J0) @ Rg.T + J0) * FLIP
            if self.kind == "weak_perspective":
                off = (tgt_n[t].numpy() - s * X[:, :2]).mean(0)
                cam0[t] = [np.log(s), off[0], off[1]]
            else:
                z = self.f / s
                ctr = tgt_n[t].numpy().mean(0)
                xy = (ctr - self.c.numpy()) * z / self.f - X[:, :2].mean(0)
                tz = z - X[:, 2].mean()
                sp = self.f / tz
                cam0[t] = [np.log(sp), xy[0] * sp + float(self.c[0]), xy[1] * sp + float(self.c[1])]

        # 2. identity over a spread subset of frames
        shape = torch.zeros(1, model.n_shape, dtype=torch.float64) if init_shape is None else \
            torch.as_tensor(np.asarray(init_shape, np.float64))[None].clone()
        expr_all = np.zeros((T, model.n_expr))
        ids = np.unique(np.linspace(0, T - 1, min(T, max(1, cfg.identity_frames))).round().astype(int))
        if init_shape is None:
            e_id = torch.zeros(len(ids), model.n_expr, dtype=torch.float64)
            p_id = torch.as_tensor(pose0[ids]).clone()
            c_id = torch.as_tensor(cam0[ids]).clone()
            ds, de, dp, dc = self._scales(shape, e_id[:1], p_id[:1], c_id[:1], tgt_n[ids[:1]], w_t[ids[:1]], rows_t, len(ids))
            de, dp, dc = (x.expand_as(y) for x, y in ((de, e_id), (dp, p_id), (dc, c_id)))
            # rigid first (shape and expression frozen), then everything
            p_id, c_id = self._solve([p_id, c_id], [dp, dc], lambda p_, c_: self._energy(
                shape, e_id, p_, c_, tgt_n[ids], w_t[ids], rows_t), 30, rounds=1)
            shape, e_id, p_id, c_id = self._solve([shape, e_id, p_id, c_id], [ds, de, dp, dc], lambda s_, e_, p_, c_: self._energy(
                s_, e_, p_, c_, tgt_n[ids], w_t[ids], rows_t), cfg.identity_iters, rounds=2)
            pose0[ids] = p_id.numpy()
            cam0[ids] = c_id.numpy()
            expr_all[ids] = e_id.numpy()
        shape = shape.detach()

        # 3. per-frame tracking, warm-started
        pose_out = np.zeros((T, nfree, 3))
        cam_out = np.zeros((T, 3))
        ms = np.zeros(T)
        prev = None
        id_set = {int(i) for i in ids} if init_shape is None else set()
        for t in range(T):
            t0 = time.perf_counter()
            if prev is None or t in id_set:
                # the identity stage's solution (or the rigid init) is the best start for these frames
                e = torch.as_tensor(expr_all[t:t + 1]).clone()
                p = torch.as_tensor(pose0[t:t + 1]).clone()
                c = torch.as_tensor(cam0[t:t + 1]).clone()
                iters = cfg.frame_iters if t in id_set else max(cfg.frame_iters, 30)
            else:
                e, p, c = (x.clone() for x in prev)
                iters = cfg.frame_iters
            tg, wt = tgt_n[t:t + 1], w_t[t:t + 1]
            e, p, c = self._lm([e, p, c], lambda e_, p_, c_, tg=tg, wt=wt: self._residuals(
                shape, e_, p_, c_, tg.expand(len(e_), -1, -1), wt.expand(len(e_), -1), rows_t, batched=True), iters)
            prev = (e, p, c)
            expr_all[t] = e.detach().numpy()[0]
            pose_out[t] = p.detach().numpy()[0]
            cam_out[t] = c.detach().numpy()[0]
            ms[t] = 1000 * (time.perf_counter() - t0)

        # back to pixels
        full_pose = np.zeros((T, self.n_joints, 3))
        full_pose[:, 0] = pose_out[:, 0]
        full_pose[:, 2:] = pose_out[:, 1:]
        if not cfg.fit_eyes:
            full_pose[:, 3:] = 0
        with torch.no_grad():
            uv = self._project(shape, torch.as_tensor(expr_all), torch.as_tensor(full_pose), torch.as_tensor(cam_out), rows_t).numpy()
        uv_px = uv * spread + centre
        err = np.sqrt(((uv_px - tgt_all) ** 2).sum(-1))
        err_px = (err * w_all).sum(1) / np.maximum(w_all.sum(1), 1e-9)
        if self.kind == "weak_perspective":
            s = np.exp(cam_out[:, 0]) * spread
            cam_px = np.stack([s, cam_out[:, 1] * spread + centre[0], cam_out[:, 2] * spread + centre[1]], 1)
        else:  # translation in model units (focal/principal in pixels)
            c_np = self.c.numpy()
            sp = np.exp(cam_out[:, 0])
            cam_px = np.stack([(cam_out[:, 1] - c_np[0]) / sp, (cam_out[:, 2] - c_np[1]) / sp, self.f / sp], 1)
        return FitResult(shape.numpy()[0], expr_all, full_pose, cam_px, self.kind, focal_px, principal, err_px, ms,
                         {"rows": rows, "landmark_rows": lrows, "identity_frames": ids})


def camera_for(result: FitResult, t: int, image_size):
    """The project Camera for frame ``t`` of a fit, and the translation to apply to model->camera."""
    from facewarp.core.types import Camera

    if result.camera_kind == "weak_perspective":
        s, tx, ty = result.cam[t]
        return Camera("weak_perspective", (float(s), float(tx), float(ty)), tuple(image_size)), np.zeros(3)
    f = result.focal
    cx, cy = result.principal
    return Camera("pinhole", (float(f), float(f), float(cx), float(cy)), tuple(image_size)), result.cam[t].copy()
