"""Helpers for the face tests: an in-memory plate source node and clip reading."""

from __future__ import annotations

import numpy as np

from facewarp.core.color import to_linear
from facewarp.face import flame as _flame
from facewarp.face.flame import FaceModel
from facewarp.graph import Image, Node, NodeSchema, Output, Param, register


def srgb_to_linear(u8: np.ndarray) -> np.ndarray:
    return to_linear(u8.astype(np.float32) / 255.0, "srgb")


class MemoryPlates(Node):
    """Test source: frame f -> PLATES[key][f] (uint8 sRGB arrays, decoded to linear)."""

    PLATES: dict = {}
    schema = NodeSchema(type="TestMemoryPlates", category="source", doc="test plates from memory",
                        outputs=(Output("image", "Image", "plate"),),
                        params=(Param("key", "string", "default", "which plate list"),), time_dependent=True)

    def compute(self, ctx, inputs):
        frames = self.PLATES[self.param(ctx, "key")]
        return {"image": Image(srgb_to_linear(frames[ctx.frame]))}


try:
    register(MemoryPlates)
except Exception:  # already registered by another test module
    pass


def read_clip(path, step: int = 1, limit: int | None = None) -> list[np.ndarray]:
    import cv2

    cap = cv2.VideoCapture(str(path))
    out, i = [], 0
    while True:
        ok, fr = cap.read()
        if not ok:
            break
        if i % step == 0:
            out.append(cv2.cvtColor(fr, cv2.COLOR_BGR2RGB))
        i += 1
        if limit and len(out) >= limit:
            break
    return out


class MemoryLandmarks(Node):
    """Test source: frame f -> LANDMARKS[key][f] (a Landmarks value)."""

    LANDMARKS: dict = {}
    schema = NodeSchema(type="TestMemoryLandmarks", category="source", doc="test landmarks from memory",
                        outputs=(Output("landmarks", "Landmarks", "landmarks"),),
                        params=(Param("key", "string", "default", "which list"),), time_dependent=True)

    def compute(self, ctx, inputs):
        return {"landmarks": self.LANDMARKS[self.param(ctx, "key")][ctx.frame]}


try:
    register(MemoryLandmarks)
except Exception:
    pass


def random_model(seed=0, V=240, S=8, E=8, n_lmk=68) -> FaceModel:
    """A random model in FLAME's format: 5 joints (global, neck, jaw, eyes), random blendshapes,
    pose correctives, sparse skinning, a random barycentric landmark embedding."""
    rng = np.random.default_rng(seed)
    d = rng.normal(size=(V, 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    v = d * np.array([0.08, 0.11, 0.09])
    faces = np.stack([rng.choice(V, 3, replace=False) for _ in range(2 * V)])
    shapedirs = rng.normal(0, 0.004, (V, 3, S))
    exprdirs = rng.normal(0, 0.004, (V, 3, E))
    posedirs = rng.normal(0, 0.002, (V, 3, 36))
    J = np.array([[0, -0.12, -0.03], [0, -0.09, -0.02], [0, -0.01, -0.02], [0.03, 0.03, 0.04], [-0.03, 0.03, 0.04]])
    Jreg = np.zeros((5, V))
    for j in range(5):  # affine combination of a few vertices hitting J exactly
        anc = rng.choice(V, 8, replace=False)
        C = np.vstack([v[anc].T, np.ones(8)])
        Jreg[j, anc] = C.T @ np.linalg.solve(C @ C.T, np.append(J[j], 1.0))
    weights = np.zeros((V, 5))
    lower = v[:, 1] < -0.02
    weights[~lower, 1] = 1.0
    t = np.clip((-0.02 - v[lower, 1]) / 0.04, 0, 1)
    weights[lower, 2] = t
    weights[lower, 1] = 1 - t
    eyes = rng.choice(np.nonzero(~lower)[0], 10, replace=False)
    weights[eyes] = 0
    weights[eyes[:5], 3] = 1
    weights[eyes[5:], 4] = 1
    lf = rng.choice(len(faces), n_lmk, replace=False)
    b = rng.dirichlet(np.ones(3), n_lmk)
    return FaceModel(v, faces, shapedirs, exprdirs, posedirs, Jreg, weights, np.array([-1, 0, 1, 1, 1]), lf, b,
                     "ibug68", None, (), "random").validate()


def synth(model, T=6, seed=1, camera="weak_perspective", size=(1920, 1080)):
    rng = np.random.default_rng(seed)
    shape = rng.normal(0, 1, model.n_shape)
    expr = rng.normal(0, 1, (T, model.n_expr))
    pose = np.zeros((T, 5, 3))
    pose[:, 0] = rng.normal(0, 0.15, (T, 3))
    pose[:, 2, 0] = rng.uniform(0, 0.2, T)
    pts = []
    for t in range(T):
        v = _flame.evaluate_numpy(model, shape, expr[t], pose[t])
        lm = _flame.landmarks_numpy(model, v) * np.array([1.0, -1.0, -1.0])
        if camera == "weak_perspective":
            uv = 2500 * lm[:, :2] + np.array([900 + 10 * t, 500 - 5 * t])
        else:
            X = lm + np.array([0.01 * t, -0.005, 0.8])
            f = 1.5 * max(size)
            uv = f * X[:, :2] / X[:, 2:] + np.array(size) / 2
        pts.append(uv)
    return shape, expr, pose, pts
