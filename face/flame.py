"""FLAME-format morphable face models: data, safe loading, and a torch layer.

A model (:class:`FaceModel`) holds what FLAME (Li et al. 2017, "Learning a model of facial
shape and expression from 4D scans") defines: a template, shape and expression blendshapes,
pose-corrective blendshapes driven by the rotation matrices of the non-root joints, a joint
regressor, a kinematic tree over the joints (global, neck, jaw, eye, eye) and linear blend
skinning weights, plus a landmark embedding (face index + barycentric coordinates per
landmark, in a named scheme).

Model space is FLAME's: metres, y up, the face looking towards +z, +x on the subject's left
(image right when seen from the front). :func:`model_to_camera` turns it into the project's
OpenCV camera space (y down, z forward).

Loading by name (``""``/``"default"``, a path, ``$FACEWARP_FLAME``) is
:func:`facewarp.face.models.load_model`; this module reads
  * an ``.npz`` in this module's format (what :func:`convert_flame` writes);
  * a FLAME ``.pkl`` (2020, 2023, 2023 Open) through :class:`RestrictedUnpickler`, which only
    rebuilds numpy arrays, scipy sparse matrices and plain containers. FLAME 2020 pickles
    reference ``chumpy.ch.Ch`` objects; chumpy is NEVER imported: the class name is mapped
    to an inert stand-in that only keeps its state dict, from which the array (``x``) is
    taken. Any other global (``os.system``, ``builtins.eval``, ...) is refused.
"""

from __future__ import annotations

import io
import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from facewarp.core.files import atomic_output

JOINT_NAMES = ("global", "neck", "jaw", "eye_l", "eye_r")
N_FLAME_SHAPE = 300  # FLAME's shapedirs hold 300 shape then 100 expression components


class ModelError(ValueError):
    """A model file is missing, malformed or refused."""


@dataclass
class FaceModel:
    v_template: np.ndarray  # V x 3
    faces: np.ndarray  # F x 3 int, CCW seen from the front (outward normals)
    shapedirs: np.ndarray  # V x 3 x S
    exprdirs: np.ndarray  # V x 3 x E
    posedirs: np.ndarray  # V x 3 x 9(J-1)
    J_regressor: np.ndarray  # J x V (dense)
    weights: np.ndarray  # V x J
    parents: np.ndarray  # J int, parents[0] = -1
    lmk_faces: np.ndarray  # L int
    lmk_bary: np.ndarray  # L x 3
    lmk_scheme: str = "mediapipe478"  # the landmark scheme the embedding follows
    lmk_ids: np.ndarray | None = None  # L ints: which points of the scheme are embedded (None = all, in order)
    expression_names: tuple[str, ...] = ()  # names of the first expression components (editing controls)
    name: str = "default"
    meta: dict = field(default_factory=dict)

    @property
    def n_shape(self) -> int:
        return self.shapedirs.shape[2]

    @property
    def n_expr(self) -> int:
        return self.exprdirs.shape[2]

    @property
    def n_vertices(self) -> int:
        return self.v_template.shape[0]

    def landmark_ids(self) -> np.ndarray:
        return np.arange(len(self.lmk_faces)) if self.lmk_ids is None else np.asarray(self.lmk_ids)

    def validate(self) -> FaceModel:
        V = self.v_template.shape[0]
        J = len(self.parents)
        checks = [
            (self.v_template.ndim == 2 and self.v_template.shape[1] == 3, "v_template must be V x 3"),
            (self.faces.ndim == 2 and self.faces.shape[1] == 3 and self.faces.max() < V, "faces must be F x 3 indices"),
            (self.shapedirs.shape[:2] == (V, 3), "shapedirs must be V x 3 x S"),
            (self.exprdirs.shape[:2] == (V, 3), "exprdirs must be V x 3 x E"),
            (self.posedirs.shape == (V, 3, 9 * (J - 1)), "posedirs must be V x 3 x 9(J-1)"),
            (self.J_regressor.shape == (J, V), "J_regressor must be J x V"),
            (self.weights.shape == (V, J), "weights must be V x J"),
            (self.lmk_bary.shape == (len(self.lmk_faces), 3), "lmk_bary must be L x 3"),
            (len(self.lmk_faces) == 0 or self.lmk_faces.max() < len(self.faces), "lmk_faces out of range"),
        ]
        for ok, msg in checks:
            if not ok:
                raise ModelError(f"model '{self.name}': {msg}")
        return self

    # -- npz format ----------------------------------------------------------------------
    def to_npz_dict(self) -> dict:
        d = {
            "format": np.array("facewarp-face-model-1"),
            "v_template": self.v_template.astype(np.float32), "faces": self.faces.astype(np.int32),
            "shapedirs": self.shapedirs.astype(np.float32), "exprdirs": self.exprdirs.astype(np.float32),
            "posedirs": self.posedirs.astype(np.float32), "J_regressor": self.J_regressor.astype(np.float32),
            "weights": self.weights.astype(np.float32), "parents": self.parents.astype(np.int32),
            "lmk_faces": self.lmk_faces.astype(np.int32), "lmk_bary": self.lmk_bary.astype(np.float32),
            "lmk_scheme": np.array(self.lmk_scheme), "name": np.array(self.name),
            "expression_names": np.array(list(self.expression_names) or [""]),
        }
        if self.lmk_ids is not None:
            d["lmk_ids"] = np.asarray(self.lmk_ids, np.int32)
        for k, v in self.meta.items():
            d["meta_" + k] = np.asarray(v)
        return d

    def save_npz(self, path: str | os.PathLike, overwrite: bool = False) -> None:
        save_npz_atomic(path, self.to_npz_dict(), overwrite=overwrite)


def save_npz_atomic(path, arrays: dict, overwrite: bool = False) -> None:
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists (pass overwrite=True to replace it)")
    with atomic_output(path, overwrite) as tmp:  # the temp name keeps .npz: savez adds none
        np.savez_compressed(tmp, **arrays)


def model_from_npz(path) -> FaceModel:
    try:
        with np.load(path, allow_pickle=False) as z:
            d = {k: z[k] for k in z.files}
    except Exception as exc:  # noqa: BLE001
        raise ModelError(f"cannot read model '{path}': {exc}") from None
    if "format" not in d or not str(d["format"]).startswith("facewarp-face-model"):
        raise ModelError(f"'{path}' is not a facewarp face model (.npz written by convert-flame)")
    names = tuple(str(s) for s in d["expression_names"] if str(s))
    meta = {k[5:]: d[k] for k in d if k.startswith("meta_")}
    return FaceModel(
        d["v_template"].astype(np.float64), d["faces"].astype(np.int64), d["shapedirs"].astype(np.float64),
        d["exprdirs"].astype(np.float64), d["posedirs"].astype(np.float64), d["J_regressor"].astype(np.float64),
        d["weights"].astype(np.float64), d["parents"].astype(np.int64), d["lmk_faces"].astype(np.int64),
        d["lmk_bary"].astype(np.float64), str(d["lmk_scheme"]),
        d["lmk_ids"].astype(np.int64) if "lmk_ids" in d else None, names, str(d["name"]), meta,
    ).validate()


# ------------------------------------------------------------------------------------------
# Restricted unpickling of FLAME .pkl files
# ------------------------------------------------------------------------------------------

class _Inert:
    """Stand-in for chumpy.ch.Ch (and sparse matrices): keeps the pickled state, runs nothing."""

    def __init__(self, *args):
        self._args = args
        self._state = None

    def __setstate__(self, state):
        self._state = state


class _ChStandIn(_Inert):
    kind = "chumpy"


class _SparseStandIn(_Inert):
    kind = "sparse"


def _safe_reconstructor(cls, base, state):
    """``copyreg._reconstructor`` limited to our inert stand-ins (what protocol-2 pickles of
    old-style objects use)."""
    if not (isinstance(cls, type) and issubclass(cls, _Inert)) or base is not object:
        raise pickle.UnpicklingError(f"refused to rebuild {cls!r} from {base!r}")
    return cls.__new__(cls)


def _safe_np_reconstruct(cls, shape, dtype):
    import numpy.core.multiarray as ma

    if cls is not np.ndarray:
        raise pickle.UnpicklingError(f"refused to rebuild array subclass {cls!r}")
    return ma._reconstruct(cls, shape, dtype)


def _safe_scalar(dtype, data=None):
    import numpy.core.multiarray as ma

    if not isinstance(dtype, np.dtype) or dtype.hasobject:
        raise pickle.UnpicklingError("refused numpy scalar of object dtype")
    return ma.scalar(dtype, data) if data is not None else ma.scalar(dtype)


def _safe_dtype(*args):
    dt = np.dtype(*args)
    if dt.hasobject:
        raise pickle.UnpicklingError("refused object dtype")
    return dt


def _latin1_encode(text, encoding="latin1"):
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError("refused _codecs.encode other than str -> latin1 bytes")
    return text.encode("latin1")


_SPARSE_NAMES = {"csc_matrix", "csr_matrix", "coo_matrix"}


class RestrictedUnpickler(pickle.Unpickler):
    """Accepts numpy arrays/dtypes/scalars, scipy sparse matrices (rebuilt from their arrays),
    chumpy ``Ch`` (as an inert stand-in) and builtin containers; refuses every other global."""

    def find_class(self, module, name):
        if (module, name) in (("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct")):
            return _safe_np_reconstruct
        if (module, name) in (("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar")):
            return _safe_scalar
        if module == "numpy" and name == "ndarray":
            return np.ndarray
        if module == "numpy" and name == "dtype":
            return _safe_dtype
        if module == "_codecs" and name == "encode":  # how protocol-2 pickles from Python 3 store bytes
            return _latin1_encode
        if module in ("copy_reg", "copyreg") and name == "_reconstructor":
            return _safe_reconstructor
        if module in ("__builtin__", "builtins") and name in ("object", "set", "frozenset"):
            return {"object": object, "set": set, "frozenset": frozenset}[name]
        if module.startswith("chumpy") and name == "Ch":
            return _ChStandIn
        if module.startswith("scipy.sparse") and name in _SPARSE_NAMES:
            return _SparseStandIn
        raise pickle.UnpicklingError(f"refused global '{module}.{name}' (only numpy/scipy arrays are accepted)")


def _materialise(obj):
    """Turn stand-ins into numpy arrays / scipy matrices, recursively."""
    if isinstance(obj, _ChStandIn):
        st = obj._state
        if isinstance(st, dict):
            for key in ("x", "_x", "a"):
                if key in st and isinstance(st[key], np.ndarray):
                    return np.asarray(st[key])
            arrays = [v for v in st.values() if isinstance(v, np.ndarray)]
            if len(arrays) == 1:
                return arrays[0]
        raise ModelError("a chumpy object in the pickle holds no plain array; convert the model with "
                         "`facewarp convert-flame` on a machine where it loads, or use FLAME 2023")
    if isinstance(obj, _SparseStandIn):
        import scipy.sparse as sp

        st = obj._state if isinstance(obj._state, dict) else {}
        try:
            shape = tuple(st.get("_shape") or st.get("shape"))
            if "indptr" in st:
                m = sp.csc_matrix((st["data"], st["indices"], st["indptr"]), shape=shape)
                if st.get("format", "csc") == "csr":
                    m = sp.csr_matrix((st["data"], st["indices"], st["indptr"]), shape=shape)
            else:
                m = sp.coo_matrix((st["data"], (st["row"], st["col"])), shape=shape)
        except Exception as exc:  # noqa: BLE001
            raise ModelError(f"cannot rebuild a sparse matrix from the pickle: {exc}") from None
        return m
    if isinstance(obj, dict):
        return {k: _materialise(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_materialise(v) for v in obj)
    return obj


def restricted_load(data: bytes):
    """Unpickle ``data`` accepting only arrays (see :class:`RestrictedUnpickler`)."""
    try:
        obj = RestrictedUnpickler(io.BytesIO(data), encoding="latin1").load()
    except pickle.UnpicklingError as exc:
        raise ModelError(f"refused pickle: {exc}") from None
    return _materialise(obj)


def _dense(a):
    if hasattr(a, "toarray"):
        return np.asarray(a.toarray())
    return np.asarray(a)


def model_from_flame_dict(d: dict, name: str = "flame", n_shape: int = N_FLAME_SHAPE) -> FaceModel:
    """Build a :class:`FaceModel` from the dict stored in a FLAME .pkl."""
    need = ("v_template", "f", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table")
    missing = [k for k in need if k not in d]
    if missing:
        raise ModelError(f"FLAME pickle lacks {missing}")
    v = _dense(d["v_template"]).astype(np.float64)
    V = len(v)
    sd = _dense(d["shapedirs"]).astype(np.float64)
    if sd.ndim != 3 or sd.shape[:2] != (V, 3):
        raise ModelError(f"unexpected shapedirs shape {sd.shape}")
    n_shape = min(n_shape, sd.shape[2])
    pd = _dense(d["posedirs"]).astype(np.float64)
    if pd.ndim == 2:  # (V*3, P) or (P, V*3)
        pd = pd.reshape(V, 3, -1) if pd.shape[0] == V * 3 else pd.T.reshape(V, 3, -1)
    kt = _dense(d["kintree_table"]).astype(np.int64)
    parents = kt[0].copy()
    parents[0] = -1
    return FaceModel(
        v, _dense(d["f"]).astype(np.int64), sd[:, :, :n_shape], sd[:, :, n_shape:], pd,
        _dense(d["J_regressor"]).astype(np.float64), _dense(d["weights"]).astype(np.float64), parents,
        np.zeros(0, np.int64), np.zeros((0, 3)), "none", None, (), name,
    )


def load_embedding(path) -> dict:
    """A landmark embedding for a FLAME model: ``.npz`` with ``lmk_face_idx`` (L), ``lmk_b_coords``
    (L x 3), optional ``landmark_indices`` (the MediaPipe indices embedded, as in the
    MediaPipe->FLAME embeddings distributed with FLAME-based trackers) and optional ``scheme``;
    or DECA's ``landmark_embedding.npy`` (a pickled dict, read with the restricted unpickler,
    its ``full_lmk_faces_idx``/``full_lmk_bary_coords`` give the 68 iBUG points)."""
    path = Path(path)
    if path.suffix == ".npy":
        raw = path.read_bytes()
        d = _npy_object_payload(raw)
        if isinstance(d, np.ndarray) and d.dtype != object:
            raise ModelError(f"{path}: expected a dict of landmark arrays")
        faces = np.asarray(d.get("full_lmk_faces_idx", d.get("lmk_face_idx"))).reshape(-1)
        bary = np.asarray(d.get("full_lmk_bary_coords", d.get("lmk_b_coords"))).reshape(-1, 3)
        return {"faces": faces.astype(np.int64), "bary": bary.astype(np.float64), "scheme": "ibug68", "ids": None}
    with np.load(path, allow_pickle=False) as z:
        faces = np.asarray(z["lmk_face_idx"]).reshape(-1).astype(np.int64)
        bary = np.asarray(z["lmk_b_coords"]).reshape(-1, 3).astype(np.float64)
        ids = np.asarray(z["landmark_indices"]).reshape(-1).astype(np.int64) if "landmark_indices" in z.files else None
        scheme = str(z["scheme"]) if "scheme" in z.files else ("mediapipe478" if ids is not None else
                                                              ("ibug68" if len(faces) == 68 else "custom"))
    return {"faces": faces, "bary": bary, "scheme": scheme, "ids": ids}


def _npy_object_payload(raw: bytes):
    """The pickled payload of an object-dtype ``.npy`` file, unpickled safely."""
    if not raw.startswith(b"\x93NUMPY"):
        raise ModelError("not a .npy file")
    major = raw[6]
    if major == 1:
        hlen = int.from_bytes(raw[8:10], "little")
        start = 10 + hlen
    else:
        hlen = int.from_bytes(raw[8:12], "little")
        start = 12 + hlen
    header = raw[:start].decode("latin1")
    if "'O'" not in header and '"O"' not in header and "|O" not in header:
        arr = np.load(io.BytesIO(raw), allow_pickle=False)
        return arr
    obj = restricted_load(raw[start:])
    if isinstance(obj, np.ndarray) and obj.dtype == object and obj.size == 1:
        obj = obj.item()
    return obj


def load_flame_pkl(path, embedding=None, name: str | None = None, n_shape: int = N_FLAME_SHAPE) -> FaceModel:
    raw = Path(path).read_bytes()
    d = restricted_load(raw)
    if not isinstance(d, dict):
        raise ModelError(f"{path}: expected a dict in the FLAME pickle, got {type(d).__name__}")
    m = model_from_flame_dict(d, name=name or Path(path).stem, n_shape=n_shape)
    if embedding is not None:
        attach_embedding(m, load_embedding(embedding))
    return m.validate()


def attach_embedding(model: FaceModel, emb: dict) -> FaceModel:
    model.lmk_faces = emb["faces"]
    model.lmk_bary = emb["bary"]
    model.lmk_scheme = emb["scheme"]
    model.lmk_ids = emb["ids"]
    return model


def convert_flame(src, dst, embedding=None, overwrite: bool = False, n_shape: int = N_FLAME_SHAPE) -> Path:
    """``facewarp convert-flame SRC.pkl DST.npz [--embedding EMB] [--overwrite]``: read a FLAME
    ``.pkl`` (restricted unpickler; chumpy is never imported) and an optional landmark embedding,
    write the model as a plain-array ``.npz`` (atomically; refuses to overwrite unless
    ``overwrite``). ``n_shape``: how many of the pickle's shapedirs are identity (FLAME: 300; the
    rest are expression). Returns the written path."""
    m = load_flame_pkl(src, embedding, n_shape=n_shape)
    dst = Path(dst)
    m.save_npz(dst, overwrite=overwrite)
    return dst


# ------------------------------------------------------------------------------------------
# Torch layer
# ------------------------------------------------------------------------------------------

def rodrigues(rvec):
    """Axis-angle (..., 3) -> rotation matrices (..., 3, 3); smooth at 0."""
    import torch

    angle = torch.sqrt((rvec * rvec).sum(-1, keepdim=True) + 1e-16)
    axis = rvec / angle
    c, s = torch.cos(angle)[..., None], torch.sin(angle)[..., None]
    x, y, z = axis[..., 0], axis[..., 1], axis[..., 2]
    zero = torch.zeros_like(x)
    K = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], -1).reshape(rvec.shape[:-1] + (3, 3))
    eye = torch.eye(3, dtype=rvec.dtype, device=rvec.device).expand_as(K)
    return eye + s * K + (1 - c) * (K @ K)


class FlameLayer:
    """FLAME forward model in torch (float64 by default), optionally restricted to the vertices
    the landmark embedding uses (``landmarks_only``): joints are still regressed from the full
    shaped template through precomputed ``J_regressor @ dirs`` products.

    ``forward(shape (B,S), expr (B,E), pose (B,J,3))`` -> (vertices (B,V',3), joints (B,J,3)),
    model space. ``landmarks(verts)`` -> (B,L,3) from the barycentric embedding when the layer
    covers all vertices; on a ``landmarks_only`` layer, ``verts`` are already the subset.
    """

    def __init__(self, model: FaceModel, dtype=None, device="cpu", landmarks_only: bool = False):
        import torch

        self.torch = torch
        self.model = model
        dt = dtype or torch.float64
        t = lambda a: torch.as_tensor(np.asarray(a), dtype=dt, device=device)  # noqa: E731
        V = model.n_vertices
        if landmarks_only:
            used = np.unique(model.faces[model.lmk_faces].reshape(-1))
        else:
            used = np.arange(V)
        remap = np.full(V, -1, np.int64)
        remap[used] = np.arange(len(used))
        self.used = used
        nU = len(used)
        tri = remap[model.faces[model.lmk_faces]]
        self.lmk_tri = [torch.as_tensor(tri[:, k], device=device) for k in range(3)]
        self.lmk_w = [t(model.lmk_bary[:, k:k + 1]) for k in range(3)]
        self.v_template = t(model.v_template[used])
        self.shapedirs = t(model.shapedirs[used].reshape(nU * 3, -1))  # V'*3 x S
        self.exprdirs = t(model.exprdirs[used].reshape(nU * 3, -1))
        self.posedirs = t(model.posedirs[used].reshape(nU * 3, -1).T)  # P x V'*3
        self.weights = t(model.weights[used])
        Jr = model.J_regressor
        nJ = len(model.parents)
        self.J_template = t(Jr @ model.v_template)
        self.J_shapedirs = t(np.einsum("jv,vcs->jcs", Jr, model.shapedirs).reshape(nJ * 3, -1))
        self.J_exprdirs = t(np.einsum("jv,vcs->jcs", Jr, model.exprdirs).reshape(nJ * 3, -1))
        self.parents = [int(p) for p in model.parents]
        self.dtype = dt
        self.device = device

    def forward(self, shape, expr, pose):
        torch = self.torch
        B = pose.shape[0]
        nJ = pose.shape[1]
        # one identity for the batch (shape 1 x S) is blended once and broadcast over the batch
        v = self.v_template[None] + ((shape @ self.shapedirs.T).reshape(-1, len(self.v_template), 3)
                                     + (expr @ self.exprdirs.T).reshape(B, -1, 3))
        J = self.J_template[None] + ((shape @ self.J_shapedirs.T).reshape(-1, nJ, 3)
                                     + (expr @ self.J_exprdirs.T).reshape(B, nJ, 3))
        R = rodrigues(pose)  # B x J x 3 x 3
        eye = torch.eye(3, dtype=self.dtype, device=self.device)
        feat = (R[:, 1:] - eye).reshape(B, -1)
        if feat.shape[1] == self.posedirs.shape[0]:
            v = v + (feat @ self.posedirs).reshape(B, -1, 3)
        # rigid transforms along the chain (elementwise products: tiny matrices are slow in bmm)
        mul = lambda a, b: (a[..., :, :, None] * b[..., None, :, :]).sum(-2)  # noqa: E731
        mv = lambda a, x: (a * x[..., None, :]).sum(-1)  # noqa: E731
        Rs, ts = [R[:, 0]], [J[:, 0]]
        for j in range(1, nJ):
            p = self.parents[j]
            Rs.append(mul(Rs[p], R[:, j]))
            ts.append(ts[p] + mv(Rs[p], J[:, j] - J[:, p]))
        Rw = torch.stack(Rs, 1)  # B J 3 3
        tw = torch.stack(ts, 1)  # B J 3 (posed joint positions)
        trel = tw - mv(Rw, J)
        # linear blend skinning as sum_j w_vj (R_j v + t_j): every joint moves all vertices (one
        # batched matmul), then the weighted sum; cheaper, forward and backward, than blending
        # per-vertex 3x3 matrices (reductions over a trailing axis of 3 are slow in torch)
        M = Rw.permute(0, 3, 1, 2).reshape(B, 3, nJ * 3)  # M[b, k, 3j + c] = Rw[b, j, c, k]
        P = (v @ M).reshape(B, -1, nJ, 3) + trel[:, None]  # B V J 3: R_j v + t_j
        verts = (P * self.weights[None, :, :, None]).sum(2)
        return verts, tw

    __call__ = forward

    def landmarks(self, verts):
        return sum(w * verts.index_select(1, i) for i, w in zip(self.lmk_tri, self.lmk_w))


def pose_tensor(params_pose: dict, n_joints: int = 5) -> np.ndarray:
    """FlameParams.pose dict -> J x 3 axis-angle array (missing joints = 0)."""
    out = np.zeros((n_joints, 3))
    out[0] = params_pose.get("global", 0)
    out[1] = params_pose.get("neck", 0)
    out[2] = params_pose.get("jaw", 0)
    eyes = np.asarray(params_pose.get("eyes", np.zeros(6)), np.float64).reshape(-1)
    if n_joints >= 5 and eyes.size == 6:
        out[3], out[4] = eyes[:3], eyes[3:]
    return out


def pose_dict(pose: np.ndarray) -> dict:
    pose = np.asarray(pose, np.float32)
    return {"global": pose[0].copy(), "neck": pose[1].copy(), "jaw": pose[2].copy(),
            "eyes": pose[3:5].reshape(-1).copy()}


def model_to_camera(v: np.ndarray, translation=None) -> np.ndarray:
    """FLAME model axes (y up, z towards the viewer) -> OpenCV camera axes (y down, z forward)."""
    out = np.asarray(v, np.float64) * np.array([1.0, -1.0, -1.0])
    if translation is not None:
        out = out + np.asarray(translation, np.float64)
    return out


def rodrigues_numpy(rvec: np.ndarray) -> np.ndarray:
    """:func:`rodrigues` in numpy: axis-angle (..., 3) -> rotation matrices (..., 3, 3)."""
    rvec = np.asarray(rvec, np.float64)
    angle = np.sqrt((rvec * rvec).sum(-1, keepdims=True) + 1e-16)
    x, y, z = np.moveaxis(rvec / angle, -1, 0)
    zero = np.zeros_like(x)
    K = np.stack([zero, -z, y, z, zero, -x, -y, x, zero], -1).reshape(rvec.shape[:-1] + (3, 3))
    c, s = np.cos(angle)[..., None], np.sin(angle)[..., None]
    return np.eye(3) + s * K + (1 - c) * (K @ K)


def evaluate_numpy(model: FaceModel, shape, expr, pose) -> np.ndarray:
    """Full-mesh vertices (V x 3, model space, float64) for one set of parameters: the formulas of
    :meth:`FlameLayer.forward` in numpy. The render path (ExpressionEdit, Retarget: one mesh per
    frame) uses this, so a render task imports no torch (seconds per process)."""
    shape = np.asarray(shape, np.float64).reshape(-1)
    expr = np.asarray(expr, np.float64).reshape(-1)
    pose = np.asarray(pose, np.float64).reshape(-1, 3)
    V = model.n_vertices
    v = (np.asarray(model.v_template, np.float64)
         + (np.asarray(model.shapedirs, np.float64).reshape(V * 3, -1) @ shape).reshape(V, 3)
         + (np.asarray(model.exprdirs, np.float64).reshape(V * 3, -1) @ expr).reshape(V, 3))
    J = np.asarray(model.J_regressor, np.float64) @ v  # linear in the parameters, as the layer's J_*dirs
    R = rodrigues_numpy(pose)
    feat = (R[1:] - np.eye(3)).reshape(-1)
    posedirs = np.asarray(model.posedirs, np.float64).reshape(V * 3, -1)
    if feat.shape[0] == posedirs.shape[1]:
        v = v + (posedirs @ feat).reshape(V, 3)
    Rs, ts = [R[0]], [J[0]]
    for j in range(1, len(model.parents)):
        p = int(model.parents[j])
        Rs.append(Rs[p] @ R[j])
        ts.append(ts[p] + Rs[p] @ (J[j] - J[p]))
    Rw, tw = np.stack(Rs), np.stack(ts)
    trel = tw - np.einsum("jck,jk->jc", Rw, J)
    P = np.einsum("jck,vk->vjc", Rw, v) + trel[None]  # V J 3: R_j v + t_j
    return np.einsum("vj,vjc->vc", np.asarray(model.weights, np.float64), P)


def landmarks_numpy(model: FaceModel, verts: np.ndarray) -> np.ndarray:
    tri = np.asarray(verts)[model.faces[model.lmk_faces]]
    return (tri * model.lmk_bary[:, :, None]).sum(1)
