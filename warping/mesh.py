"""The mesh-driven displacement render (PWM, Zhong et al.): P(source) - P(driving) per vertex,
rasterised over the driving mesh, with the documented fill outside it (``kernels.fill``).

Deviation from the paper: attributes use screen-space barycentrics (the paper renders with a
standard, perspective-correct rasteriser); for a 2D displacement field the screen-space affine
interpolation is the natural one, and depth is still resolved exactly (``-1/z``).

Confined to a face region (DisplacementRender's face mode, ``region=``): the region comes first,
from the projected points (``mesh_region``), and the full-resolution pass rasterises only the
region's box (grown to every pixel a drawable triangle can cover, so the coverage and attribute
images are the whole frame's) with the matte applied to the field in the same pass - the same
values, bit for bit, as the whole frame rendered and then ``region.confine``-d."""

from __future__ import annotations

import numpy as np

from facewarp.core.types import Camera, Mesh
from facewarp.kernels.fill import smooth_fill
from facewarp.kernels.raster import rasterize
from facewarp.warping.region import FEATHER, GROW, FaceRegion, face_region


def coarse_factor(width: int, height: int) -> int:
    """The fill is computed on a grid this many times coarser (8 at 4K, 1 for small frames)."""
    return int(np.clip(min(width, height) // 270, 1, 8))


def depth_keys(camera: Camera, z: np.ndarray) -> np.ndarray:
    """Per-vertex keys that interpolate linearly on screen (smaller = nearer)."""
    z = np.asarray(z, np.float64)
    if camera.kind == "pinhole":
        with np.errstate(divide="ignore"):
            return (-1.0 / z).astype(np.float32)
    return z.astype(np.float32)


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Unit per-vertex normals in camera space: area-weighted sums of the face normals
    ``(b - a) x (c - a)`` (towards the camera for front faces, see conventions)."""
    v = np.asarray(vertices, np.float64)
    f = np.asarray(faces, np.int64)
    fn = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    n = np.zeros_like(v)
    for k in range(3):
        np.add.at(n, f[:, k], fn)
    norm = np.linalg.norm(n, axis=1, keepdims=True)
    return (n / np.where(norm > 0, norm, 1.0)).astype(np.float32)


def mesh_region(source: Mesh, driving: Mesh, width: int, height: int, *, camera: Camera | None = None,
                grow: float = GROW, feather: float = FEATHER) -> FaceRegion:
    """The face region of a mesh edit: the hull of both meshes' projections (a pinhole's points
    behind the camera left out) grown by ``grow``, at least twice the largest displacement."""
    (ps, zs), (pd, zd) = (camera or source.camera).project(source.vertices), \
        (camera or driving.camera).project(driving.vertices)
    seen = (np.asarray(zs) > 0) & (np.asarray(zd) > 0) if (camera or driving.camera).kind == "pinhole" else \
        np.ones(len(pd), bool)  # a pinhole's points behind the camera project nowhere useful
    ps, pd = np.asarray(ps, np.float64)[seen], np.asarray(pd, np.float64)[seen]
    moved = np.linalg.norm(ps - pd, axis=1)
    return face_region(np.concatenate([ps, pd]), width, height, grow=grow, feather=feather,
                       max_displacement=float(np.nanmax(moved, initial=0.0)))


def _drawable_box(xy: np.ndarray, faces: np.ndarray, width: int, height: int) -> tuple[int, int, int, int]:
    """A pixel box (x0, y0, x1, y1, end exclusive) holding every pixel centre a triangle with
    finite vertices (what the rasteriser may draw) can cover; empty: (0, 0, 0, 0)."""
    p = np.asarray(xy, np.float32).astype(np.float64)
    ok = (np.abs(p) < 1e15).all(axis=1)
    f = np.asarray(faces, np.int64)
    f = f[ok[f].all(axis=1)]
    if not len(f):
        return 0, 0, 0, 0
    q = p[np.unique(f)]
    lo = np.clip(np.floor(q.min(axis=0)) - 1, 0, [width, height]).astype(int)
    hi = np.clip(np.ceil(q.max(axis=0)) + 1, 0, [width, height]).astype(int)
    if lo[0] >= hi[0] or lo[1] >= hi[1]:
        return 0, 0, 0, 0
    return int(lo[0]), int(lo[1]), int(hi[0]), int(hi[1])


def render_displacement(source: Mesh, driving: Mesh, width: int, height: int, *, camera: Camera | None = None,
                        cull: str = "back", fill: str = "falloff", falloff: float = 0.0,
                        attribute: np.ndarray | None = None,
                        device: str = "auto", region: FaceRegion | None = None):
    """Returns (field H x W x 2, coverage H x W float32, attribute image H x W x K or None).

    ``region``: confine the field to it (``region.confine`` of the whole frame's field, bit for
    bit), rasterising only its box and the pixels the mesh can cover; coverage and attribute
    are the whole frame's."""
    cam_s = camera or source.camera
    cam_d = camera or driving.camera
    ps, _ = cam_s.project(source.vertices)
    pd, zd = cam_d.project(driving.vertices)
    if cam_d.kind == "pinhole":
        # no near-plane clipping: triangles touching a vertex at/behind the camera are dropped
        pd = np.where((zd > 0)[:, None], pd, np.nan).astype(np.float32)
    disp = (ps.astype(np.float64) - pd.astype(np.float64)).astype(np.float32)
    disp[~np.isfinite(disp)] = 0.0
    keys = depth_keys(cam_d, zd)
    attrs = disp
    if attribute is not None:
        attrs = np.concatenate([disp, np.asarray(attribute, np.float32).reshape(len(pd), -1)], 1)
    coarse = None
    if fill == "falloff":
        k = coarse_factor(width, height)
        cw, ch = max(1, -(-width // k)), max(1, -(-height // k))
        sx, sy = cw / width, ch / height
        rc = rasterize(pd * np.array([sx, sy], np.float32), driving.faces, cw, ch, attrs=disp, depth=keys,
                       cull=cull, device="cpu")
        sigma = falloff if falloff > 0 else 0.05 * float(np.hypot(width, height))
        coarse = smooth_fill(rc.values, rc.tri_id >= 0, sigma, 1.0 / sx)
    # one full-resolution pass: raster inside, up-sampled coarse fill outside
    if region is None:
        r = rasterize(pd, driving.faces, width, height, attrs=attrs, depth=keys, cull=cull, device=device,
                      fill=coarse, ids=False)
    else:
        box = tuple(int(v) for v in region.box)
        window = _union(box, _drawable_box(pd, driving.faces, width, height))
        x0, y0, x1, y1 = window
        r = rasterize(pd, driving.faces, width, height, attrs=attrs, depth=keys, cull=cull, device=device,
                      fill=coarse, ids=False, window=window, scale=region.matte[y0:y1, x0:x1], scaled=2)
        if window != box:  # the field is exactly 0 (not matte x field: -0.0) outside the region's box
            keep = np.zeros((height, width), bool)
            if box[2] > box[0] and box[3] > box[1]:
                keep[box[1]:box[3], box[0]:box[2]] = True
            sub = r.values[y0:y1, x0:x1, :2]
            sub[~keep[y0:y1, x0:x1]] = 0.0
    field = r.values if attribute is None else np.ascontiguousarray(r.values[..., :2])
    extra = np.ascontiguousarray(r.values[..., 2:]) if attribute is not None else None
    return field, r.coverage, extra




def _union(a, b):
    """The smallest box holding boxes ``a`` and ``b`` (x0, y0, x1, y1; empty when x0 >= x1)."""
    if a[2] <= a[0] or a[3] <= a[1]:
        return b
    if b[2] <= b[0] or b[3] <= b[1]:
        return a
    return min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])
