"""The embedded default face model, authored by this project (no licensed asset).

How it is made (``python -m facewarp.face.build_default_model`` writes
``nodes/data/default_face.npz``; when the file is absent the model is built in memory):

* **Topology**: MediaPipe's face mesh ships its topology only as the tessellation EDGE list
  (``face_mesh_connections.FACEMESH_TESSELATION``, Apache-2.0). Triangles are derived here as the
  3-cliques of that edge graph, minus the "separating" cliques whose three edges already
  bound two faces each; they are oriented consistently (outward normals). Each iris (5
  MediaPipe points) gets a 4-triangle fan. 478 vertices, one per MediaPipe landmark, so the
  landmark embedding is exact (vertex i == landmark i).
* **Template**: MediaPipe's 3D output on ``skimage.data.astronaut()`` (a NASA portrait in the
  public domain, shipped with scikit-image), mirror-symmetrised about its own best symmetry
  plane (point pairs found by assignment), rotated into FLAME's axes (y up, face towards +z)
  and scaled so the pupils are 63 mm apart (an adult average).
* **Identity (shape) directions**: the lowest-frequency eigenvectors of the mesh's cotangent
  Laplacian (manifold harmonics), one per axis, scaled to a few millimetres: a smooth,
  generic deformation prior, not a statistical model of real heads.
* **Expressions**: procedural displacement fields over named landmark regions (Gaussian
  fall-offs around the mouth corners, lips, brows; eyelid contours closing onto the lower
  lids), plus a few mouth-local harmonics as generic components. Jaw opening is a rotation
  of the ``jaw`` joint with harmonic skinning weights (1 on the lower lip and chin, 0 above
  the nose base). Pose correctives are zero.
"""

from __future__ import annotations

import itertools
from collections import Counter
from pathlib import Path

import numpy as np

from facewarp.face.flame import FaceModel, model_from_npz
from facewarp.face.landmarks import (
    BROW,
    CHIN,
    EYE,
    FACE_LEFT,
    FACE_RIGHT,
    INNER_LIPS_LOWER,
    INNER_LIPS_UPPER,
    INNER_MOUTH_CORNERS,
    LEFT_IRIS,
    LIPS_LOWER,
    LIPS_UPPER,
    LOWER_LIP_INNER,
    MIDLINE,
    MOUTH_CORNERS,
    MOUTH_LEFT,
    MOUTH_RIGHT,
    N_MESH_POINTS,
    RIGHT_IRIS,
    UPPER_LIP_INNER,
)

DATA_PATH = Path(__file__).resolve().parent / "data" / "default_face.npz"
IPD_M = 0.063

EXPRESSION_NAMES = ("smile_l", "smile_r", "lip_funnel", "lip_pucker", "brow_raise_l", "brow_raise_r",
                    "blink_l", "blink_r", "brow_lower", "mouth_stretch", "upper_lip_raise", "lower_lip_depress",
                    "cheek_puff", "lips_press", "mouth_left")
N_MOUTH_HARMONICS = 8
N_SHAPE_HARMONICS = 40


def load_default_model() -> FaceModel:
    if DATA_PATH.exists():
        return model_from_npz(DATA_PATH)
    return build_default_model()


# ------------------------------------------------------------------------------------------

def triangles_from_edges(edges) -> np.ndarray:
    E = {tuple(sorted(e)) for e in edges}
    adj: dict[int, set] = {}
    for a, b in E:
        adj.setdefault(a, set()).add(b)
        adj.setdefault(b, set()).add(a)
    tris = set()
    for a, b in E:
        for c in adj[a] & adj[b]:
            tris.add(tuple(sorted((a, b, c))))
    count = Counter(e for t in tris for e in itertools.combinations(t, 2))
    # a clique whose three edges each border 3 cliques is a separating triangle, not a face
    tris = [t for t in tris if not all(count[e] > 2 for e in itertools.combinations(t, 2))]
    count = Counter(e for t in tris for e in itertools.combinations(t, 2))
    if max(count.values()) > 2:
        raise RuntimeError("tessellation edges do not form a manifold")
    return np.array(sorted(tris), np.int64)


def orient_outward(faces: np.ndarray, verts: np.ndarray, inside: np.ndarray) -> np.ndarray:
    out = faces.copy()
    a, b, c = verts[out[:, 0]], verts[out[:, 1]], verts[out[:, 2]]
    n = np.cross(b - a, c - a)
    centre = (a + b + c) / 3
    flip = (n * (centre - inside)).sum(1) < 0
    out[flip] = out[flip][:, [0, 2, 1]]
    return out


def cotan_laplacian(verts: np.ndarray, faces: np.ndarray, n: int):
    """Cotangent stiffness L (n x n, positive semi-definite) and lumped mass (n)."""
    L = np.zeros((n, n))
    mass = np.zeros(n)
    for i, j, k in ((0, 1, 2), (1, 2, 0), (2, 0, 1)):
        a, b, c = verts[faces[:, i]], verts[faces[:, j]], verts[faces[:, k]]
        u, v = b - a, c - a
        cot = (u * v).sum(1) / (np.linalg.norm(np.cross(u, v), axis=1) + 1e-12)
        # angle at a is opposite edge (j, k)
        w = 0.5 * np.clip(cot, -10, 10)
        np.add.at(L, (faces[:, j], faces[:, k]), -w)
        np.add.at(L, (faces[:, k], faces[:, j]), -w)
        area = 0.5 * np.linalg.norm(np.cross(u, v), axis=1)
        np.add.at(mass, faces[:, i], area / 3)
    L[np.diag_indices(n)] = -L.sum(1)
    return L, np.maximum(mass, 1e-12)


def _zip_strip(upper, lower):
    """Triangles filling the gap between two contours that share their end points."""
    u, lo = list(upper), list(lower)
    assert u[0] == lo[0] and u[-1] == lo[-1] and len(u) == len(lo)
    tris = []
    for i in range(len(u) - 1):
        a, b, c, d = u[i], lo[i], u[i + 1], lo[i + 1]
        if a == b:
            tris.append((a, c, d))
        elif c == d:
            tris.append((a, b, c))
        else:
            tris += [(a, b, c), (c, b, d)]
    return tris


def _closing_strips() -> np.ndarray:
    lips_u = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308)
    lips_l = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308)
    tris = _zip_strip(lips_u, lips_l)
    for side in ("r", "l"):
        tris += _zip_strip(EYE[side]["upper"], EYE[side]["lower"])
    return np.array(tris, np.int64)


def _jaw_joint(T):
    """Jaw (temporo-mandibular) joint: midway between the face-oval points by the ears, 5 mm lower
    and 25 mm deeper."""
    return np.array([0.0, 0.5 * (T[FACE_RIGHT, 1] + T[FACE_LEFT, 1]) - 0.005, 0.5 * (T[FACE_RIGHT, 2] + T[FACE_LEFT, 2]) - 0.025])


def _jaw_weights(T, L, n_main):
    """Harmonic skinning weights of the jaw: 0 above the nose base and on the upper lip, 1 on the
    lower lip and below it, 0.35 at the mouth corners, harmonic (Laplace) in between."""
    wj = np.full(n_main, np.nan)
    wj[T[:n_main, 1] > T[2, 1]] = 0.0
    wj[[i for i in LIPS_UPPER if i < n_main]] = 0.0
    wj[T[:n_main, 1] < T[17, 1] - 0.006] = 1.0
    wj[list(LIPS_LOWER)] = 1.0
    wj[list(MOUTH_CORNERS + INNER_MOUTH_CORNERS)] = 0.35
    free = np.isnan(wj)
    fixed = ~free
    wj[free] = np.linalg.solve(L[np.ix_(free, free)], -L[np.ix_(free, fixed)] @ wj[fixed])
    return np.clip(wj, 0, 1)


def close_mouth(T, main_faces, n_main=N_MESH_POINTS, rest_gap=0.0005):
    """The template portrait smiles with parted lips; a neutral must have them closed. Rotate the
    jaw (with its skinning weights) until the lip mid-points are ``rest_gap`` apart, then zip the
    remaining gaps along the inner lip contours with a smooth local field."""
    import cv2

    L, _ = cotan_laplacian(T, main_faces, n_main)
    wj = np.zeros(len(T))
    wj[:n_main] = _jaw_weights(T, L, n_main)
    J = _jaw_joint(T)

    def rotated(angle):
        R = cv2.Rodrigues(np.array([[angle], [0.0], [0.0]]))[0]
        rot = (T - J) @ R.T + J
        return T + wj[:, None] * (rot - T)

    lo, hi = -0.5, 0.0  # negative pitch closes
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        Tm = rotated(mid)
        if Tm[13, 1] - Tm[14, 1] > rest_gap:
            hi = mid
        else:
            lo = mid
    T = rotated(0.5 * (lo + hi))
    # zip what is left: a harmonic (smooth, fold-free) vertical field, +-gap/2 on the inner lip
    # contours, 0 beyond 2.5 cm from the mouth centre
    L, _ = cotan_laplacian(T, main_faces, n_main)
    up, low = list(INNER_LIPS_UPPER[1:-1]), list(INNER_LIPS_LOWER[1:-1])
    gaps = np.maximum(T[up, 1] - T[low, 1] - rest_gap, 0.0)
    dy = np.full(n_main, np.nan)
    centre = 0.5 * (T[UPPER_LIP_INNER] + T[LOWER_LIP_INNER])
    dy[np.linalg.norm(T[:n_main] - centre, axis=1) > 0.025] = 0.0
    dy[up] = -gaps / 2
    dy[low] = gaps / 2
    dy[[78, 308]] = 0.0
    free = np.isnan(dy)
    fixed = ~free
    dy[free] = np.linalg.solve(L[np.ix_(free, free)], -L[np.ix_(free, fixed)] @ dy[fixed])
    D = np.zeros_like(T)
    D[:n_main, 1] = dy
    return T + D


def _gauss(verts, centre, sigma):
    d2 = ((verts - np.asarray(centre)[None]) ** 2 / np.asarray(sigma, float) ** 2).sum(1)
    return np.exp(-0.5 * d2)


def _smoothstep(x, lo, hi):
    t = np.clip((x - lo) / (hi - lo), 0, 1)
    return t * t * (3 - 2 * t)


def mirror_pairs(P: np.ndarray, n_iter: int = 3):
    """Left-right correspondence and symmetry plane of a roughly symmetric point set."""
    from scipy.optimize import linear_sum_assignment

    mid = P[list(MIDLINE)]
    c = mid.mean(0)
    nrm = np.linalg.svd(mid - c)[2][2]
    if nrm @ (P[263] - P[33]) < 0:
        nrm = -nrm
    pair = None
    for _ in range(n_iter):
        refl = P - 2 * ((P - c) @ nrm)[:, None] * nrm[None]
        cost = ((P[:, None, :] - refl[None, :, :]) ** 2).sum(-1)
        _, pair = linear_sum_assignment(cost)
        d = P - P[pair]
        w, V = np.linalg.eigh(d.T @ d)
        nrm = V[:, -1] * np.sign(V[:, -1] @ (P[263] - P[33]))
        c = (0.5 * (P + P[pair])).mean(0)
    return pair, nrm, c


def _astronaut_landmarks():
    from skimage import data

    from facewarp.face import tracking

    r = tracking.track_frame(data.astronaut(), linear=False)
    if r.points is None:
        raise RuntimeError("MediaPipe found no face on skimage.data.astronaut()")
    return np.concatenate([r.points, r.z[:, None]], axis=1)  # image axes: x right, y down, z away


def build_default_model(raw_points: np.ndarray | None = None) -> FaceModel:
    """Author the default model (see module docstring). ``raw_points``: 478 x 3 MediaPipe points in
    image axes (pixels); defaults to MediaPipe on the astronaut portrait."""
    from facewarp.face.mediapipe_import import import_solutions

    fc = import_solutions().face_mesh_connections  # face_mesh imports it

    P = np.asarray(_astronaut_landmarks() if raw_points is None else raw_points, np.float64)
    P = P * np.array([1.0, -1.0, -1.0])  # -> y up, z towards the viewer
    pair, nrm, c = mirror_pairs(P)
    # canonical frame: x = symmetry normal (subject's left), y = up (eyes above mouth), z = x cross y
    x = nrm
    up = 0.5 * (P[RIGHT_IRIS] + P[LEFT_IRIS]) - 0.5 * (P[MOUTH_RIGHT] + P[MOUTH_LEFT])
    y = up - (up @ x) * x
    y /= np.linalg.norm(y)
    z = np.cross(x, y)
    R = np.stack([x, y, z])
    Q = (P - c) @ R.T
    M = Q[pair] * np.array([-1.0, 1.0, 1.0])
    T = 0.5 * (Q + M)  # symmetrised
    T *= IPD_M / np.linalg.norm(T[RIGHT_IRIS] - T[LEFT_IRIS])
    origin = np.array([0.0, 0.5 * (T[FACE_RIGHT, 1] + T[FACE_LEFT, 1]), 0.5 * (T[FACE_RIGHT, 2] + T[FACE_LEFT, 2])])
    T -= origin
    V = len(T)

    faces = triangles_from_edges(fc.FACEMESH_TESSELATION)
    iris_faces = []
    for side in ("r", "l"):
        ctr, *ring = EYE[side]["iris"]
        for a, b in zip(ring, ring[1:] + ring[:1]):
            iris_faces.append((ctr, a, b))
    inside = np.array([0.0, 0.0, -0.08])
    faces = orient_outward(np.concatenate([faces, np.array(iris_faces)]), T, inside)
    main = faces[:-8]
    n_main = N_MESH_POINTS
    T = close_mouth(T, main, n_main)
    L, mass = cotan_laplacian(T, main, n_main)
    # The identity basis is computed on the mesh with the mouth and eyes CLOSED (virtual strips
    # zipping the lip and lid contours), so that no identity direction can open them: opening the
    # mouth is the jaw's and the expressions' job.
    Lc, mass_c = cotan_laplacian(T, np.concatenate([main, _closing_strips()]), n_main)

    def iris_follow(D, mode):
        """Iris vertices follow their eye: whole contour (shape) or the corners (expressions)."""
        for side in ("r", "l"):
            src = EYE[side]["corners"] if mode == "corners" else tuple(set(EYE[side]["upper"] + EYE[side]["lower"]))
            D[list(EYE[side]["iris"])] = D[list(src)].mean(0)
        return D

    # -- identity: manifold harmonics -------------------------------------------------------
    from scipy.linalg import eigh

    evals, evecs = eigh(L, np.diag(mass))
    _, evecs_c = eigh(Lc, np.diag(mass_c))
    shapedirs = np.zeros((V, 3, 3 * N_SHAPE_HARMONICS))
    col = 0
    for k in range(1, N_SHAPE_HARMONICS + 1):
        phi = evecs_c[:, k] / np.abs(evecs_c[:, k]).max()
        amp = 0.004 / np.sqrt(1.0 + (k - 1) / 4.0)
        for axis in range(3):
            D = np.zeros((V, 3))
            D[:n_main, axis] = amp * phi
            shapedirs[:, :, col] = iris_follow(D, "contour")
            col += 1

    # -- expressions -------------------------------------------------------------------------
    ex = []
    mouth_c = 0.25 * (T[MOUTH_RIGHT] + T[MOUTH_LEFT] + T[UPPER_LIP_INNER] + T[LOWER_LIP_INNER])
    upper = np.zeros(V)
    upper[list(LIPS_UPPER)] = 1
    lower = np.zeros(V)
    lower[list(LIPS_LOWER)] = 1
    lip_side = _smoothstep(T[:, 1], mouth_c[1] - 0.004, mouth_c[1] + 0.004)  # 1 above the lip line
    for corner, sgn in ((MOUTH_LEFT, 1.0), (MOUTH_RIGHT, -1.0)):  # smile_l, smile_r
        w = _gauss(T, T[corner], 0.016)
        cheek = _gauss(T, T[corner] + np.array([sgn * 0.008, 0.018, 0.004]), 0.014)
        D = w[:, None] * np.array([sgn * 0.006, 0.006, -0.003]) + cheek[:, None] * np.array([0, 0.0025, 0.0015])
        ex.append(D)
    wl = _gauss(T, mouth_c, (0.022, 0.016, 0.03))
    D = np.zeros((V, 3))
    D[:, 0] = -0.3 * (T[:, 0] - mouth_c[0]) * wl
    D[:, 2] = 0.007 * wl
    D[:, 1] = 0.0025 * wl * (2 * lip_side - 1) * _gauss(T, mouth_c, (0.02, 0.008, 0.05))
    ex.append(D)  # lip_funnel (lips forward, rounded and parted)
    D = np.zeros((V, 3))
    D[:, 0] = -0.4 * (T[:, 0] - mouth_c[0]) * wl
    D[:, 2] = 0.009 * wl
    ex.append(D)  # lip_pucker (lips forward and narrowed, closed)
    for side in ("l", "r"):  # brow_raise_l, brow_raise_r
        pts = T[list(BROW[side])]
        w = np.max([_gauss(T, p, 0.014) for p in pts], axis=0)
        eye_y = T[list(EYE[side]["upper"])][:, 1].mean()
        w *= _smoothstep(T[:, 1], eye_y - 0.002, eye_y + 0.012)
        ex.append(w[:, None] * np.array([0.0, 0.007, 0.0005]))
    for side in ("l", "r"):  # blink_l, blink_r: upper lid contour closes onto the lower lid
        up_idx, lo_idx = list(EYE[side]["upper"]), list(EYE[side]["lower"])
        lo = T[lo_idx]
        order = np.argsort(lo[:, 0])
        Dc = np.zeros((len(up_idx), 3))
        for i, u in enumerate(up_idx):
            target_y = np.interp(T[u, 0], lo[order, 0], lo[order, 1])
            target_z = np.interp(T[u, 0], lo[order, 0], lo[order, 2])
            Dc[i] = [0.0, 0.95 * (target_y - T[u, 1]) + 0.0005, 0.6 * (target_z - T[u, 2])]
        Dc[[0, -1]] = 0  # corners stay
        dist = np.linalg.norm(T[:, None, :] - T[up_idx][None], axis=2)
        g = np.exp(-0.5 * (dist / 0.0035) ** 2) + 1e-12
        D = (g @ Dc) / g.sum(1, keepdims=True)
        dmin = dist.min(1)
        eye_y = T[lo_idx][:, 1].mean()
        fall = np.exp(-0.5 * (dmin / 0.006) ** 2) * _smoothstep(T[:, 1], eye_y - 0.001, eye_y + 0.003)
        D *= fall[:, None]
        D[up_idx] = Dc
        ex.append(D)
    inner = [107, 66, 55, 65, 336, 296, 285, 295]  # brow_lower: inner brows down and together
    w = np.max([_gauss(T, T[i], 0.013) for i in inner], axis=0)
    D = w[:, None] * np.array([0.0, -0.004, 0.001])
    D[:, 0] = -0.15 * T[:, 0] * w
    ex.append(D)
    D = np.zeros((V, 3))  # mouth_stretch: corners out and down
    for corner, sgn in ((MOUTH_LEFT, 1.0), (MOUTH_RIGHT, -1.0)):
        D += _gauss(T, T[corner], 0.015)[:, None] * np.array([sgn * 0.006, -0.003, -0.001])
    ex.append(D)
    D = np.zeros((V, 3))  # upper_lip_raise
    D[:, 1] = 0.004 * _gauss(T, T[0] + np.array([0, 0.002, 0]), (0.02, 0.007, 0.05)) * lip_side
    ex.append(D)
    D = np.zeros((V, 3))  # lower_lip_depress
    D[:, 1] = -0.004 * _gauss(T, T[17] + np.array([0, -0.002, 0]), (0.02, 0.007, 0.05)) * (1 - lip_side)
    ex.append(D)
    D = np.zeros((V, 3))  # cheek_puff
    for side_pt, sgn in ((425, 1.0), (205, -1.0)):
        D += _gauss(T, T[side_pt], 0.02)[:, None] * np.array([sgn * 0.005, 0.0, 0.003])
    ex.append(D)
    D = np.zeros((V, 3))  # lips_press: lips thinner (towards the lip line) and slightly back
    band = _gauss(T, mouth_c, (0.025, 0.012, 0.05))
    D[:, 1] = -0.35 * (T[:, 1] - mouth_c[1]) * band
    D[:, 2] = -0.002 * band
    ex.append(D)
    D = np.zeros((V, 3))  # mouth_left: mouth shifts towards the subject's left
    D[:, 0] = 0.005 * _gauss(T, mouth_c, (0.025, 0.02, 0.05))
    ex.append(D)
    assert len(ex) == len(EXPRESSION_NAMES)
    # generic mouth-local harmonics (x, y, z) for what the named fields do not cover
    mmask = _gauss(T, mouth_c, (0.03, 0.025, 0.05))
    for k in range(1, N_MOUTH_HARMONICS + 1):
        phi = evecs_c[:, k] / np.abs(evecs_c[:, k]).max()
        for axis in range(3):
            D = np.zeros((V, 3))
            D[:n_main, axis] = 0.003 * phi * mmask[:n_main]
            ex.append(D)
    exprdirs = np.stack([iris_follow(d, "corners") for d in ex], axis=2)

    # -- joints, skinning ------------------------------------------------------------------------
    chin = T[CHIN]
    eye_ctr = {s: T[EYE[s]["iris"][0]] - np.array([0.0, 0.0, 0.012]) for s in ("l", "r")}
    jaw = _jaw_joint(T)
    neck = np.array([0.0, chin[1] - 0.03, jaw[2] - 0.02])
    root = np.array([0.0, chin[1] - 0.06, jaw[2] - 0.03])
    joints = np.stack([root, neck, jaw, eye_ctr["l"], eye_ctr["r"]])
    anchors = [234, 454, 152, 10, 1, 168, 33, 263, 61, 291, 133, 362]
    Jreg = np.zeros((5, V))
    for j in range(5):
        anc = anchors if j < 3 else list(EYE["l" if j == 3 else "r"]["upper"] + EYE["l" if j == 3 else "r"]["lower"])
        anc = list(dict.fromkeys(anc))
        C = np.vstack([T[anc].T, np.ones(len(anc))])
        b = np.append(joints[j], 1.0)
        Jreg[j, anc] = C.T @ np.linalg.solve(C @ C.T, b)
    wj = _jaw_weights(T, L, n_main)
    weights = np.zeros((V, 5))
    weights[:n_main, 2] = wj
    weights[:n_main, 1] = 1 - wj
    weights[list(EYE["l"]["iris"]), 3] = 1.0
    weights[list(EYE["r"]["iris"]), 4] = 1.0
    parents = np.array([-1, 0, 1, 1, 1])

    # exact landmark embedding: landmark i -> a face holding vertex i, barycentric one-hot
    lmk_faces = np.zeros(V, np.int64)
    lmk_bary = np.zeros((V, 3))
    for f_idx, f in enumerate(faces):
        for k, v in enumerate(f):
            if lmk_bary[v].sum() == 0:
                lmk_faces[v] = f_idx
                lmk_bary[v, k] = 1.0
    assert np.all(lmk_bary.sum(1) == 1)
    names = EXPRESSION_NAMES + tuple(f"mouth_h{k}{'xyz'[a]}" for k in range(1, N_MOUTH_HARMONICS + 1) for a in range(3))
    return FaceModel(T, faces, shapedirs, exprdirs, np.zeros((V, 3, 36)), Jreg, weights, parents, lmk_faces,
                     lmk_bary, "mediapipe478", None, names, "default",
                     {"source": "facewarp-authored (MediaPipe topology; skimage astronaut template)",
                      "n_named_expressions": len(EXPRESSION_NAMES)}).validate()
