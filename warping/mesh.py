"""The mesh-driven displacement render (PWM, Zhong et al.): P(source) - P(driving) per vertex,
rasterised over the driving mesh, with the documented fill outside it (``kernels.fill``).

Deviation from the paper: attributes use screen-space barycentrics (the paper renders with a
standard, perspective-correct rasteriser); for a 2D displacement field the screen-space affine
interpolation is the natural one, and depth is still resolved exactly (``-1/z``)."""

from __future__ import annotations

import numpy as np

from facewarp.core.types import Camera, Mesh
from facewarp.kernels.fill import smooth_fill
from facewarp.kernels.raster import rasterize


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


def render_displacement(source: Mesh, driving: Mesh, width: int, height: int, *, camera: Camera | None = None,
                        cull: str = "back", fill: str = "falloff", falloff: float = 0.0,
                        attribute: np.ndarray | None = None,
                        device: str = "auto"):
    """Returns (field H x W x 2, coverage H x W float32, attribute image H x W x K or None)."""
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
    r = rasterize(pd, driving.faces, width, height, attrs=attrs, depth=keys, cull=cull, device=device, fill=coarse,
                  ids=False)
    field = r.values if attribute is None else np.ascontiguousarray(r.values[..., :2])
    extra = np.ascontiguousarray(r.values[..., 2:]) if attribute is not None else None
    return field, r.coverage, extra


