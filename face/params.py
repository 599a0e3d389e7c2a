"""FLAME parameters as the graph carries them (``FlameParams``) and what they give: arrays for
the FLAME layer, the posed mesh in camera space and the landmarks projected into the plate."""

from __future__ import annotations

import numpy as np

from facewarp.core.types import Camera, FlameParams, Landmarks, Mesh
from facewarp.face import flame as _flame
from facewarp.face.landmarks import IBUG68_FROM_MP478, SCHEME_SIZES


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
        pts, conf = pts[IBUG68_FROM_MP478], conf[IBUG68_FROM_MP478]
    lms = Landmarks(pts, conf, scheme if scheme in SCHEME_SIZES else model.lmk_scheme, fp.camera.image_size, True)
    return mesh, lms
