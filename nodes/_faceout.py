"""Shared helpers of the face nodes: model parameters, FlameParams <-> arrays, Mesh/Landmarks outputs."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from facewarp.graph import Camera, FlameParams, Landmarks, Mesh, Param

from . import _flame

SCHEME_SIZES = {"mediapipe478": 478, "ibug68": 68}

MODEL_PARAMS = (
    Param("model", "path", "", "FLAME .pkl (2020/2023/2023 Open), a .npz from `facewarp convert-flame`, or empty: "
          "$FACEWARP_FLAME, else the embedded default model"),
    Param("embedding", "path", "", "landmark embedding for a FLAME model (MediaPipe->FLAME .npz, or DECA's 68-point "
          "landmark_embedding.npy); empty: $FACEWARP_FLAME_EMBEDDING or the one stored in the .npz"),
)


def model_spec(p: dict, fallback: str | None = None) -> tuple[str, str | None]:
    spec = p.get("model") or fallback or os.environ.get("FACEWARP_FLAME", "") or "default"
    return spec, (p.get("embedding") or None)


def hash_model(h, spec: str, embedding: str | None) -> None:
    """Model files are read outside the parameters: hash their identity."""
    h.update(f"|model={spec}|env={os.environ.get('FACEWARP_FLAME', '')}".encode())
    if spec == "default":
        from ._default_face import DATA_PATH

        if DATA_PATH.exists():
            st = DATA_PATH.stat()
            h.update(f"|default:{st.st_mtime_ns}:{st.st_size}".encode())
    for f in (spec, embedding or os.environ.get("FACEWARP_FLAME_EMBEDDING", "")):
        if f and f != "default" and Path(f).exists():
            st = Path(f).stat()
            h.update(f"|{f}:{st.st_mtime_ns}:{st.st_size}".encode())


def params_to_arrays(fp: FlameParams, model: _flame.FaceModel):
    shape = np.zeros(model.n_shape)
    s = np.asarray(fp.shape, np.float64).reshape(-1)[:model.n_shape]
    shape[:len(s)] = s
    expr = np.zeros(model.n_expr)
    e = np.asarray(fp.expression, np.float64).reshape(-1)[:model.n_expr]
    expr[:len(e)] = e
    pose = _flame.pose_tensor(fp.pose, len(model.parents))
    return shape, expr, pose


def make_params(model_name: str, shape, expr, pose, camera: Camera, translation, info=None) -> FlameParams:
    return FlameParams(np.asarray(shape, np.float32), np.asarray(expr, np.float32), _flame.pose_dict(pose),
                       np.asarray(translation, np.float32), camera, model_name, dict(info or {}))


def outputs_from_params(model: _flame.FaceModel, fp: FlameParams, scheme: str | None = None):
    """(Mesh in camera space with fp.camera, Landmarks projected into the plate)."""
    shape, expr, pose = params_to_arrays(fp, model)
    verts = _flame.evaluate_numpy(model, shape, expr, pose)
    cam_v = _flame.model_to_camera(verts, fp.translation)
    uv, _ = fp.camera.project(cam_v)
    mesh = Mesh(cam_v.astype(np.float32), model.faces.astype(np.int32), fp.camera,
                {"plate_xy": uv.astype(np.float32)})
    lm3 = _flame.landmarks_numpy(model, cam_v)
    luv, _ = fp.camera.project(lm3)
    scheme = scheme or model.lmk_scheme
    n = SCHEME_SIZES.get(model.lmk_scheme, len(luv))
    pts = np.zeros((n, 2), np.float32)
    conf = np.zeros(n, np.float32)
    ids = model.landmark_ids()
    pts[ids] = luv
    conf[ids] = 1.0
    if scheme == "ibug68" and model.lmk_scheme == "mediapipe478":
        from ._facemesh import IBUG68_FROM_MP478

        pts, conf = pts[IBUG68_FROM_MP478], conf[IBUG68_FROM_MP478]
    lms = Landmarks(pts, conf, scheme if scheme in SCHEME_SIZES else model.lmk_scheme, fp.camera.image_size, True)
    return mesh, lms
