"""What several node types share: the face nodes' model parameters, FlameParams <-> arrays and
Mesh/Landmarks outputs; the network nodes' weights loading, channel checks and hashing."""

from __future__ import annotations

import os

import numpy as np

from facewarp.face import flame as _flame
from facewarp.face import models
from facewarp.face import tracking as fm
from facewarp.face.landmarks import IBUG68_FROM_MP478, SCHEME_SIZES, to_ibug68
from facewarp.graph import (
    Camera,
    FacewarpError,
    FlameParams,
    Image,
    InputError,
    Landmarks,
    Mesh,
    Param,
    RenderError,
    ValidationError,
)
from facewarp.networks.weights import weights_kind

MODEL_PARAMS = (
    Param("model", "path", "", "FLAME .pkl (2020/2023/2023 Open), a .npz from `facewarp convert-flame`, or empty: "
          "$FACEWARP_FLAME, else the embedded default model"),
    Param("embedding", "path", "", "landmark embedding for a FLAME model (MediaPipe->FLAME .npz, or DECA's 68-point "
          "landmark_embedding.npy); empty: $FACEWARP_FLAME_EMBEDDING or the one stored in the .npz"),
)


def model_spec(p: dict, fallback: str | None = None) -> tuple[str, str | None]:
    """The model a face node reads: its ``model``/``embedding`` parameters, else ``fallback`` (the
    model named by its input), else the environment (``facewarp.face.models.resolve``)."""
    return models.resolve(p.get("model") or fallback, p.get("embedding") or None)


def model_files(node, ctx, *, own_only: bool) -> list[str]:
    """The model files a face node reads (its ``planned_inputs``). ``own_only``: only what its own
    parameters name (ExpressionEdit, Retarget: otherwise the fitted parameters' model, read by
    FLAMEFit); else also the environment's ($FACEWARP_FLAME, $FACEWARP_FLAME_EMBEDDING)."""
    model, embedding = node.param(ctx, "model"), node.param(ctx, "embedding")
    if own_only:
        files = [model] if model and model.strip() != "default" else []
        return files + ([embedding] if embedding else [])
    spec, emb = models.resolve(model or None, embedding or None)
    files = [] if spec == "default" else [os.path.expanduser(spec)]
    return files + ([os.path.expanduser(emb)] if emb else [])


def hash_model(h, spec: str, embedding: str | None) -> None:
    """Model files are read outside the parameters: hash their identity."""
    h.update(f"|{models.identity(spec, embedding)}".encode())


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


# -- network nodes (WgGAN, HrhGAN) -------------------------------------------------------------
def get_model(node, path: str, device: str, kind: str):
    """The cached model for ``path``; clear one-line errors naming the node and param."""
    from facewarp.networks.checkpoint import CheckpointError
    from facewarp.networks.inference import cached_model

    if not path:
        raise node.error(InputError, f"no weights: set 'weights' to a {kind} .safetensors checkpoint or .onnx file "
                         f"(facewarp train {kind.lower()}), or set bypass: true to pass the face through", param="weights")
    if not os.path.isfile(path):
        raise node.error(InputError, "weights file not found", param="weights", file=path)
    try:
        model = cached_model(path, device)
    except CheckpointError as exc:
        raise node.error(InputError, str(exc), param="weights", file=path) from None
    except RuntimeError as exc:
        raise node.error(RenderError, str(exc), param="weights", file=path) from None
    if model.kind != kind.lower():
        raise node.error(InputError, f"weights are a {model.kind} model, this node needs {kind.lower()}",
                         param="weights", file=path)
    return model


def weights_problems(node, ctx, kind: str) -> list[FacewarpError]:
    """What ``get_model`` would refuse, found before rendering without loading the network: no
    weights set, a file that is not a safetensors checkpoint, a weights-only torch file or an
    ONNX model (a pickle with code is refused by the checkpoint reader), or the other network's
    weights. A missing file is reported by the generic input check."""
    path = node.param(ctx, "weights")
    if not path:
        return [node.error(ValidationError, f"no weights: set 'weights' to a {kind} .safetensors checkpoint or .onnx "
                           f"file (facewarp train {kind.lower()}), or set bypass: true to pass the face through",
                           param="weights")]
    if not os.path.isfile(path):
        return []
    want = kind.lower()
    try:
        found = weights_kind(path)
        if path.lower().endswith(".onnx") and not found:
            return [node.error(InputError, "ONNX model has no facewarp_kind metadata (export it with facewarp "
                               "export-onnx)", param="weights", file=path)]
        if found is None:  # not safetensors: the checkpoint reader decides (weights-only torch, never pickle)
            from facewarp.networks.checkpoint import CheckpointError, load_checkpoint

            try:
                found = str(load_checkpoint(path)[1].get("kind", ""))
            except CheckpointError as exc:
                return [node.error(InputError, str(exc), param="weights", file=path)]
    except Exception as exc:  # noqa: BLE001 - any unreadable file is a refusal, in one line
        return [node.error(InputError, f"weights file cannot be read ({type(exc).__name__})", param="weights",
                           file=path)]
    if found != want:
        what = f"a {found} model" if found else "not a facewarp WgGAN/HrhGAN model"
        return [node.error(InputError, f"weights are {what}, this node needs {want}", param="weights", file=path)]
    return []


def rgb_index(node, image: Image, port: str) -> list[int]:
    try:
        return [image.channels.index(c) for c in ("R", "G", "B")]
    except ValueError:
        raise node.error(InputError, f"needs R, G, B channels, got {image.channels}", port=port) from None


def check_size(node, model, h: int, w: int, port: str) -> None:
    if model.backend == "onnxruntime" and model.size is not None and (h, w) != (model.size, model.size):
        raise node.error(InputError, f"crop is {w}x{h} but the ONNX model takes {model.size}x{model.size} "
                         f"(set FaceCrop size to {model.size})", port=port)
    f = 8
    if h % f or w % f:
        raise node.error(InputError, f"crop size {w}x{h} must be a multiple of {f}", port=port)


def hash_weights(node, ctx, h) -> None:
    """A network node reads its weights file: hash that file's identity (the path as
    substituted for this context, so ``${ckpt}`` variables resolve) and the device."""
    from facewarp.networks.weights import weights_identity

    h.update(weights_identity(str(node.param(ctx, "weights") or "")).encode())
    h.update(f"|device={ctx.device}".encode())


# -- landmark nodes (LandmarkTracker, LandmarkDetect) -------------------------------------------
TRACK_PARAMS = (
    Param("select", "enum", fm.TRACKER_DEFAULTS["select"], "which face when several: largest box, closest to the previous frame's "
          "face (first frame: largest), or by index (faces ordered left to right)", choices=("largest", "closest", "index")),
    Param("face_index", "int", fm.TRACKER_DEFAULTS["face_index"], "face number for select=index (0 = leftmost)", min=0, max=64),
    Param("scheme", "enum", fm.TRACKER_DEFAULTS["scheme"], "output points: all 478 MediaPipe points, or the 68 iBUG points "
          "(see docs/faces.md for the mapping)", choices=("mediapipe478", "ibug68")),
    Param("detect_size", "int", fm.TRACKER_DEFAULTS["detect_size"], "longer side of the down-scaled copy the face detector sees", min=64, max=4096),
    Param("mesh_size", "int", fm.TRACKER_DEFAULTS["mesh_size"], "side of the full-resolution crop given to the face mesh", min=128, max=2048),
)


def _is_linear(image) -> bool:
    return str(image.colorspace).lower().startswith("lin")


def track_image(image, p, previous_center=None) -> fm.FaceResult:
    return fm.track_frame(image.pixels, select=p["select"], index=p["face_index"], previous_center=previous_center,
                          detect_size=p["detect_size"], mesh_size=p["mesh_size"], linear=_is_linear(image))


def to_landmarks(points, score, scheme, size, found, info) -> Landmarks:
    pts = np.asarray(points, np.float32)
    if scheme == "ibug68":
        pts = to_ibug68(pts)
    return Landmarks(pts, np.full(len(pts), score, np.float32), scheme, size, found, info)
