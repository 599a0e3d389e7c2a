"""Triangle rasteriser: z-buffer, back-face culling, top-left fill rule, barycentric
attribute interpolation. CUDA: ``raster.cu`` (one thread per triangle, depth and triangle id
packed into one 64-bit ``atomicMin``, then a per-pixel resolve); CPU twin: numba, row-parallel
over a per-row triangle list, with the same coverage, depth and tie rules.

Coverage (``graph.conventions``): pixel ``(i, j)`` is sampled at its centre ``(j+0.5, i+0.5)``.
With ``E_k`` the edge functions (``signed_area_2x`` of the edge and the point, in float64 -
exact in sign for float32 vertex coordinates) normalised by the triangle's orientation, a
centre is inside when every ``E_k > 0``, or ``E_k == 0`` on an edge the triangle *owns*:
the top-left rule, with edge direction ``d`` taken in the positive-area orientation, owns
edges with ``d.y < 0`` (left) or ``d.y == 0 and d.x > 0`` (top). Two triangles sharing an
edge therefore never both cover a centre on it, and never both miss it.

Culling: front faces have a NEGATIVE ``signed_area_2x`` (counter-clockwise on screen);
``cull="back"`` drops positive-area triangles, ``"front"`` negative ones, ``"none"`` keeps
both. Degenerate (zero-area) triangles and triangles with a non-finite vertex are never drawn.

Depth: per-vertex keys interpolated linearly in screen space (pass ``-1/z`` for a pinhole
camera so that the interpolation is exact; ``z`` for weak perspective); the smallest key
wins, ties go to the smaller triangle index (what the packed 64-bit atomicMin does).
Attributes are interpolated with screen-space barycentrics (documented choice: the
displacement field of a 2D warp is affine per screen triangle).

Window (DisplacementRender's face mode): ``rasterize(window=...)`` rasterises a pixel box only,
with the same arithmetic (bit-identical to the whole frame there on the CPU), optionally times
a matte; CUDA runs the full-frame kernels and crops.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from ._dispatch import (
    ROWS_PER_THREAD,
    cpu_threads,
    cuda_function,
    grid_1d,
    parallel_row_tasks,
    task_rows,
    use_cuda,
)
from .sampling import _axis_tables

CULL_MODES = {"none": 0, "back": 1, "front": 2}


@njit(cache=True)
def _prepare(xy, faces, cull, width, height):
    """Per-triangle setup and a CSR list of candidate triangles per row."""
    nt = faces.shape[0]
    vx = np.empty((nt, 3), np.float64)
    vy = np.empty((nt, 3), np.float64)
    area = np.zeros(nt, np.float64)
    owned = np.zeros((nt, 3), np.bool_)
    row0 = np.zeros(nt, np.int64)
    row1 = np.full(nt, -1, np.int64)
    for t in range(nt):
        for k in range(3):
            vx[t, k] = xy[faces[t, k], 0]
            vy[t, k] = xy[faces[t, k], 1]
        a = (vx[t, 1] - vx[t, 0]) * (vy[t, 2] - vy[t, 0]) - (vy[t, 1] - vy[t, 0]) * (vx[t, 2] - vx[t, 0])
        area[t] = a
        finite = True
        for k in range(3):
            if not (abs(vx[t, k]) < 1e15 and abs(vy[t, k]) < 1e15):  # NaN/inf: never drawn
                finite = False
        if not finite:
            area[t] = 0.0
            continue
        if a == 0.0 or (cull == 1 and a > 0) or (cull == 2 and a < 0):
            continue
        s = 1.0 if a > 0 else -1.0
        for k in range(3):  # edge k runs from vertex k+1 to vertex k+2 (opposite vertex k)
            a_ = (k + 1) % 3
            b_ = (k + 2) % 3
            dx = s * (vx[t, b_] - vx[t, a_])
            dy = s * (vy[t, b_] - vy[t, a_])
            owned[t, k] = dy < 0 or (dy == 0 and dx > 0)
        ymin = min(vy[t, 0], min(vy[t, 1], vy[t, 2]))
        ymax = max(vy[t, 0], max(vy[t, 1], vy[t, 2]))
        xmin = min(vx[t, 0], min(vx[t, 1], vx[t, 2]))
        xmax = max(vx[t, 0], max(vx[t, 1], vx[t, 2]))
        if not (xmax >= 0.5 and xmin <= width - 0.5 and ymax >= 0.5 and ymin <= height - 0.5):
            continue
        r0 = max(0, int(math.ceil(max(ymin, -1.0) - 0.5)))  # clamp before int(): huge coords
        r1 = min(height - 1, int(math.floor(min(ymax, height + 1.0) - 0.5)))
        if r1 < r0:
            continue
        row0[t] = r0
        row1[t] = r1
    counts = np.zeros(height + 1, np.int64)
    for t in range(nt):
        for r in range(row0[t], row1[t] + 1):
            counts[r + 1] += 1
    for r in range(height):
        counts[r + 1] += counts[r]
    fill = counts[:-1].copy()
    tris = np.empty(counts[height], np.int64)
    for t in range(nt):
        for r in range(row0[t], row1[t] + 1):
            tris[fill[r]] = t
            fill[r] += 1
    return vx, vy, area, owned, counts, tris


@njit(cache=True)
def _edge(vx, vy, t, k, px, py):
    a_ = (k + 1) % 3
    b_ = (k + 2) % 3
    return (vx[t, b_] - vx[t, a_]) * (py - vy[t, a_]) - (vy[t, b_] - vy[t, a_]) * (px - vx[t, a_])


@njit(cache=True)
def _inside(vx, vy, area, owned, t, px, py):
    s = 1.0 if area[t] > 0 else -1.0
    for k in range(3):
        e = s * _edge(vx, vy, t, k, px, py)
        if e < 0 or (e == 0 and not owned[t, k]):
            return False
    return True


@njit(cache=True)
def _span(vx, vy, area, owned, t, i, width):
    """Exact [j0, j1] of covered pixel centres of triangle t on row i (j1 < j0: none)."""
    py = i + 0.5
    s = 1.0 if area[t] > 0 else -1.0
    lo = -1e300
    hi = 1e300
    for k in range(3):
        a_ = (k + 1) % 3
        b_ = (k + 2) % 3
        alpha = -s * (vy[t, b_] - vy[t, a_])
        beta = s * ((vx[t, b_] - vx[t, a_]) * (py - vy[t, a_]) + (vy[t, b_] - vy[t, a_]) * vx[t, a_])
        if alpha > 0:
            lo = max(lo, -beta / alpha)
        elif alpha < 0:
            hi = min(hi, -beta / alpha)
        elif beta < 0:
            return 0, -1
    j0 = max(0, int(math.ceil(max(lo, -1.0) - 0.5)) - 1)
    j1 = min(width - 1, int(math.floor(min(hi, width + 1.0) - 0.5)) + 1)
    # the float bounds are within a pixel of the exact ones: settle the ends exactly
    while j0 <= j1 and not _inside(vx, vy, area, owned, t, j0 + 0.5, py):
        j0 += 1
    while j1 >= j0 and not _inside(vx, vy, area, owned, t, j1 + 0.5, py):
        j1 -= 1
    return j0, j1


@njit(cache=True)
def _planes(vx, vy, area, faces, vals):
    """Per-triangle affine planes of per-vertex values: ``v(x, y) = P[t,k,0] x + P[t,k,1] y
    + P[t,k,2]`` equals the barycentric interpolation (exact at the vertices up to rounding).
    Degenerate triangles get zero planes (they are never drawn)."""
    nt = faces.shape[0]
    nk = vals.shape[1]
    P = np.zeros((nt, nk, 3), np.float64)
    for t in range(nt):
        a = area[t]
        if not (a == a) or a == 0.0:
            continue
        inv = 1.0 / a
        for e in range(3):
            a_ = (e + 1) % 3
            b_ = (e + 2) % 3
            # E_e(x, y) = dx*(y - ya) - dy*(x - xa) = -dy x + dx y + (dy xa - dx ya)
            dx = vx[t, b_] - vx[t, a_]
            dy = vy[t, b_] - vy[t, a_]
            cx = -dy * inv
            cy = dx * inv
            c0 = (dy * vx[t, a_] - dx * vy[t, a_]) * inv
            v = faces[t, e]
            for k in range(nk):
                P[t, k, 0] += cx * vals[v, k]
                P[t, k, 1] += cy * vals[v, k]
                P[t, k, 2] += c0 * vals[v, k]
    return P


@njit(cache=True)
def _raster_window_rows(t0, t1, x0, y0, x1, y1, vx, vy, area, owned, counts, tris, zplane, aplane, use_depth, scale,
                        nscaled, tri_id, values, coverage, fill, nk):
    height, width = coverage.shape
    bh = y1 - y0
    hc, wc, kf = fill.shape
    keep_ids = tri_id.shape[0] == height and tri_id.shape[1] == width  # (0, 0): not wanted
    scaled = scale.shape[0] > 0
    if kf > 0:
        fx0, fx1, ftx = _axis_tables(width, wc, np.float32(wc / width))
        fy0, fy1, fty = _axis_tables(height, hc, np.float32(hc / height))
    else:
        fx0, fx1, ftx = _axis_tables(1, 1, np.float32(1.0))
        fy0, fy1, fty = _axis_tables(height, 1, np.float32(1.0))
    zb = np.empty(width, np.float32)
    ids = np.empty(width, np.int32)
    for tk in range(t0, t1):
        for r in task_rows(tk, bh):
            i = y0 + r
            zb[x0:x1] = np.inf
            ids[x0:x1] = -1
            py = i + 0.5
            for c in range(counts[i], counts[i + 1]):
                t = tris[c]
                j0, j1 = _span(vx, vy, area, owned, t, i, x1)
                j0 = max(j0, x0)
                zr = zplane[t, 0, 1] * py + zplane[t, 0, 2]
                zx = zplane[t, 0, 0]
                for j in range(j0, j1 + 1):
                    z = np.float32(zx * (j + 0.5) + zr) if use_depth else np.float32(0.0)
                    if z < zb[j] or (z == zb[j] and (ids[j] < 0 or t < ids[j])):
                        zb[j] = z
                        ids[j] = t
            _resolve_row(i, r, x0, x1, ids, aplane, nk, scale, scaled, nscaled, keep_ids, tri_id, values, coverage,
                         fill, kf, fy0[i], fy1[i], fty[i], fx0, fx1, ftx)


# Two entry points (the 2-channel displacement field with a literal count, and any other),
# compiled only when first used: one function with both branches compiled both every time.
@njit(cache=True, nogil=True)
def _raster_window_tasks_k2(t0, t1, x0, y0, x1, y1, vx, vy, area, owned, counts, tris, zplane, aplane, use_depth,
                            scale, nscaled, tri_id, values, coverage, fill):
    _raster_window_rows(t0, t1, x0, y0, x1, y1, vx, vy, area, owned, counts, tris, zplane, aplane, use_depth, scale,
                        nscaled, tri_id, values, coverage, fill, 2)


@njit(cache=True, nogil=True)
def _raster_window_tasks(t0, t1, x0, y0, x1, y1, vx, vy, area, owned, counts, tris, zplane, aplane, use_depth, scale,
                         nscaled, tri_id, values, coverage, fill):
    _raster_window_rows(t0, t1, x0, y0, x1, y1, vx, vy, area, owned, counts, tris, zplane, aplane, use_depth, scale,
                        nscaled, tri_id, values, coverage, fill, aplane.shape[1])


def _raster_window_cpu(x0, y0, x1, y1, vx, vy, area, owned, counts, tris, zplane, aplane, use_depth, scale, nscaled,
                       tri_id, values, coverage, fill):
    """The raster of the pixels ``[x0, x1) x [y0, y1)`` (frame coordinates) of the full-frame
    ``tri_id`` / ``values`` / ``coverage`` (other pixels are not written): the same arithmetic
    and tie rules as the whole frame, so the same values, bit for bit. ``scale`` (the window's
    size; 0 x 0: none) multiplies the first ``nscaled`` channels in float32."""
    fn = _raster_window_tasks_k2 if aplane.shape[1] == 2 else _raster_window_tasks
    parallel_row_tasks(fn, y1 - y0, x0, y0, x1, y1, vx, vy, area, owned, counts, tris, zplane,
                       aplane, use_depth, scale, nscaled, tri_id, values, coverage, fill)


@njit(inline="always", cache=True)
def _resolve_row(i, r, x0, x1, ids, aplane, nk, scale, scaled, nscaled, keep_ids, tri_id, values, coverage, fill, kf,
                 r0, r1, ay, fx0, fx1, ftx):
    """Pixels ``[x0, x1)`` of row ``i`` (window row ``r``) from the row's winning triangles
    ``ids``: the interpolated attributes (times the scale for the first ``nscaled`` channels),
    or where none covers, the up-sampled fill (channels < kf) and 0."""
    py = i + 0.5
    one = np.float32(1.0)
    for j in range(x0, x1):
        t = ids[j]
        m = scale[r, j - x0] if scaled else one
        if keep_ids:
            tri_id[i, j] = t
        if t < 0:
            coverage[i, j] = 0.0
            for k in range(nk):
                if k < kf:  # uncovered: the bilinearly up-sampled coarse fill
                    a0 = fill[r0, fx0[j], k] + ftx[j] * (fill[r0, fx1[j], k] - fill[r0, fx0[j], k])
                    a1 = fill[r1, fx0[j], k] + ftx[j] * (fill[r1, fx1[j], k] - fill[r1, fx0[j], k])
                    v = a0 + ay * (a1 - a0)
                    values[i, j, k] = v * m if k < nscaled else v
                else:
                    values[i, j, k] = 0.0
            continue
        coverage[i, j] = 1.0
        px = j + 0.5
        for k in range(nk):
            v = np.float32(aplane[t, k, 0] * px + aplane[t, k, 1] * py + aplane[t, k, 2])
            values[i, j, k] = v * m if k < nscaled else v


def _raster_cpu(vx, vy, area, owned, counts, tris, zplane, aplane, use_depth, tri_id, values, coverage, fill):
    """The whole frame: ``_raster_window_cpu`` over every pixel, no scale."""
    height, width = coverage.shape
    _raster_window_cpu(0, 0, width, height, vx, vy, area, owned, counts, tris, zplane, aplane, use_depth,
                       np.zeros((0, 0), np.float32), 0, tri_id, values, coverage, fill)


@dataclass
class Raster:
    """``tri_id`` H x W int32 (-1 = not covered; None when not asked for), ``values`` H x W x K float32 interpolated
    attributes (where not covered: the up-sampled ``fill`` for its channels, else 0),
    ``coverage`` H x W float32 (1 covered, 0 not)."""

    tri_id: np.ndarray
    values: np.ndarray
    coverage: np.ndarray


def rasterize(xy, faces, width: int, height: int, attrs=None, depth=None, cull: str = "back",
              device: str = "auto", fill=None, ids: bool = True, window=None, scale=None,
              scaled: int | None = None) -> Raster:
    """Rasterise 2D triangles ``xy[faces]`` (continuous pixel coordinates) into ``height x width``.

    ``attrs``: V x K per-vertex attributes to interpolate (optional); ``depth``: V per-vertex
    depth keys (smaller = nearer, interpolated linearly in screen space), or None for a
    planar triangulation (ties by triangle index). ``fill``: an optional coarse h x w x Kf
    image (Kf <= K) bilinearly up-sampled into the uncovered pixels of the first Kf attribute
    channels, in the same pass. ``ids=False``: no ``tri_id`` image (saves writing a full
    H x W int32 plane when only values and coverage are needed).

    ``window = (x0, y0, x1, y1)`` (end exclusive, inside the frame; None: the whole frame):
    rasterise those pixels only, with the same arithmetic - bit-identical there to the
    whole frame's raster; the full-frame arrays returned hold 0 (values, coverage) and -1
    (tri_id) outside it. ``scale``: an optional window-sized float32 multiplier (a region's
    matte) of the first ``scaled`` channels (default: all), ``values * scale`` in float32
    as ``region.confine`` computes it.
    """
    xy = np.ascontiguousarray(xy, dtype=np.float32).astype(np.float64)
    faces = np.ascontiguousarray(faces, dtype=np.int64)
    if faces.ndim != 2 or faces.shape[1] != 3:
        raise ValueError(f"faces must be F x 3, got {faces.shape}")
    if len(faces) and (faces.min() < 0 or faces.max() >= len(xy)):
        raise ValueError("faces index vertices that do not exist")
    if cull not in CULL_MODES:
        raise ValueError(f"cull must be one of {tuple(CULL_MODES)}, got {cull!r}")
    attrs = np.zeros((len(xy), 0), np.float32) if attrs is None else np.asarray(attrs, np.float32)
    if attrs.ndim == 1:
        attrs = attrs[:, None]
    attrs = np.ascontiguousarray(attrs, dtype=np.float32)
    if attrs.shape[0] != len(xy):
        raise ValueError(f"attrs must have one row per vertex ({len(xy)}), got {attrs.shape}")
    use_depth = depth is not None
    depth = np.zeros(len(xy), np.float32) if depth is None else np.ascontiguousarray(depth, np.float32)
    fill = np.zeros((1, 1, 0), np.float32) if fill is None else np.ascontiguousarray(fill, np.float32)
    if fill.ndim == 2:
        fill = fill[..., None]
    if fill.shape[2] > attrs.shape[1]:
        raise ValueError(f"fill has {fill.shape[2]} channels, attrs only {attrs.shape[1]}")
    x0, y0, x1, y1 = (0, 0, width, height) if window is None else (int(v) for v in window)
    if not (0 <= x0 <= x1 <= width and 0 <= y0 <= y1 <= height):
        raise ValueError(f"window {window} is not inside the {width} x {height} frame")
    bw, bh = x1 - x0, y1 - y0
    scale = np.zeros((0, 0), np.float32) if scale is None else np.ascontiguousarray(scale, np.float32)
    if scale.size and scale.shape != (bh, bw):
        raise ValueError(f"scale must be the window's size {(bh, bw)}, got {scale.shape}")
    nscaled = attrs.shape[1] if scaled is None else int(scaled)
    whole = (x0, y0, x1, y1) == (0, 0, width, height)
    if use_cuda(device):
        r = _rasterize_cuda(xy, faces, width, height, attrs, depth, use_depth, CULL_MODES[cull], fill, ids)
        if whole and not scale.size:
            return r
        # no windowed CUDA kernel: the full-frame raster (well under a millisecond on a GPU), cropped
        return _crop(r, (x0, y0, x1, y1), scale, nscaled)
    if whole:  # the whole frame: every pixel is written
        tri_id = np.empty((height, width) if ids else (0, 0), np.int32)
        values = np.empty((height, width, attrs.shape[1]), np.float32)
        coverage = np.empty((height, width), np.float32)
    else:  # zeros: calloc'd, so the pages outside the window are never written here
        tri_id = np.full((height, width), -1, np.int32) if ids else np.empty((0, 0), np.int32)
        values = np.zeros((height, width, attrs.shape[1]), np.float32)
        coverage = np.zeros((height, width), np.float32)
    if bw == 0 or bh == 0:
        return Raster(tri_id if ids else None, values, coverage)
    vx, vy, area, owned, counts, tris = _prepare(xy, faces, CULL_MODES[cull], x1, y1)
    zplane = _planes(vx, vy, area, faces, depth.astype(np.float64)[:, None])
    aplane = _planes(vx, vy, area, faces, attrs.astype(np.float64))
    with cpu_threads(bw * bh):
        _raster_window_cpu(x0, y0, x1, y1, vx, vy, area, owned, counts, tris, zplane, aplane, use_depth, scale,
                           nscaled, tri_id, values, coverage, fill)
    return Raster(tri_id if ids else None, values, coverage)


def _crop(r: Raster, window, scale, nscaled) -> Raster:
    """``r`` (a full-frame raster) kept in ``window`` only (0 / -1 elsewhere), its first
    ``nscaled`` channels times ``scale`` there."""
    x0, y0, x1, y1 = window
    box = (slice(y0, y1), slice(x0, x1))
    values = np.zeros_like(r.values)
    coverage = np.zeros_like(r.coverage)
    v = r.values[box]
    if scale.size:
        v = v.copy()
        v[..., :nscaled] *= scale[..., None]
    values[box] = v
    coverage[box] = r.coverage[box]
    tri_id = None
    if r.tri_id is not None:
        tri_id = np.full_like(r.tri_id, -1)
        tri_id[box] = r.tri_id[box]
    return Raster(tri_id, values, coverage)


def rasterize_device(d_xy, d_faces, width, height, d_attrs, d_depth, use_depth, cull, d_fill=None):
    """CuPy arrays in (xy float64 V x 2, faces int32 F x 3, attrs float32 V x K, depth float32
    V, optional fill float32 h x w x Kf), CuPy arrays out (tri_id, values): the two kernels
    only, for timing and chaining."""
    import cupy as cp

    if d_fill is None:
        d_fill = cp.zeros((1, 1, 1), cp.float32)
        kf = 0
    else:
        kf = int(d_fill.shape[2])

    nt = int(d_faces.shape[0])
    nk = int(d_attrs.shape[1])
    zbuf = cp.full((height, width), np.uint64(0xFFFFFFFFFFFFFFFF), cp.uint64)
    chunks = -(-height // ROWS_PER_THREAD)
    grid, block = grid_1d(nt * chunks, 128)
    cuda_function("raster", "raster_depth")(grid, block, (
        d_xy, d_faces, d_depth, np.int32(nt), np.int32(width), np.int32(height), np.int32(cull),
        np.int32(use_depth), zbuf))
    tri_id = cp.empty((height, width), cp.int32)
    values = cp.empty((height, width, nk), cp.float32)
    grid, block = grid_1d(height * width)
    cuda_function("raster", "raster_resolve")(grid, block, (
        d_xy, d_faces, d_attrs, np.int32(nk), zbuf, np.int32(width), np.int32(height), d_fill,
        np.int32(d_fill.shape[0]), np.int32(d_fill.shape[1]), np.int32(kf), tri_id, values))
    return tri_id, values


def _rasterize_cuda(xy, faces, width, height, attrs, depth, use_depth, cull, fill, ids):
    import cupy as cp

    tri_id, values = rasterize_device(cp.asarray(xy), cp.asarray(faces.astype(np.int32)), width, height,
                                      cp.asarray(attrs), cp.asarray(depth), use_depth, cull,
                                      cp.asarray(fill) if fill.shape[2] else None)
    # the id map stays on the device unless asked for (as TriangleWarp's): a 33 MB download at 4K
    return Raster(cp.asnumpy(tri_id) if ids else None, cp.asnumpy(values),
                  cp.asnumpy((tri_id >= 0).astype(cp.float32)))
