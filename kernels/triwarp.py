"""Piecewise-affine triangle warp in one pass (CUDA: ``triwarp.cu``; CPU twin: numba).

For every output pixel centre ``p`` inside target triangle ``t`` (same coverage and top-left
rule as ``raster``), with barycentrics ``l`` of ``p`` in the target triangle:

    q = sum_k l_k * src_xy[v_k]           (the backward map, exact at the vertices)
    field(p) = q - p                      (Displacement, conventions: out(p) = src(p + D))
    image(p) = bilinear(src_image, q)     (border mode)
    attrs(p) = sum_k l_k * attrs[v_k]     (e.g. the normalised displacement of WgGAN)

Pixels no triangle covers keep the identity (field 0, image = source pixel, attrs 0) and
``tri_id = -1``. ``flipped`` marks triangles whose source image has the opposite orientation
to the target one (fold-overs) or zero area: the caller decides how to report them.

Confined to a region (TriangleWarp's face mode): ``triangle_field`` computes the same field,
attrs and ids in a pixel box only, and ``triangle_warp_confined`` also scales them by the
region's matte and samples the picture in the box only, in one pass (the plate copied
elsewhere) - bit-identical on the CPU to the full-frame kernel cropped, confined and
re-warped in the box, at a fraction of the full-frame work.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from facewarp.core import buffers

from ._dispatch import (
    FASTMATH,
    ROWS_PER_TASK,
    ROWS_PER_THREAD,
    border_code,
    cpu_threads,
    cuda_function,
    grid_1d,
    parallel_row_tasks,
    task_rows,
    use_cuda,
)
from .raster import _planes, _prepare, _span
from .sampling import gather_row, prep_row


@njit(fastmath=FASTMATH, cache=True)
def _triwarp_row(i, vx, vy, area, owned, counts, tris, qplane, aplane, S, sh, sw, nc, nk, mode, O, Fd, A, T, qxs,
                 qys, idx, wx, wy, Trow):
    width = Trow.shape[0]
    py = i + 0.5
    fpy = np.float32(py)
    fi = np.float32(i)
    rb = i * width
    for j in range(width):  # identity where nothing covers (cannot happen with border anchors)
        Trow[j] = -1
        qxs[j] = np.float32(j)
        qys[j] = fi
    for c in range(counts[i], counts[i + 1]):
        t = tris[c]
        j0, j1 = _span(vx, vy, area, owned, t, i, width)
        qxr = qplane[t, 0, 1] * py + qplane[t, 0, 2]
        qyr = qplane[t, 1, 1] * py + qplane[t, 1, 2]
        qxx = qplane[t, 0, 0]
        qyx = qplane[t, 1, 0]
        for j in range(j0, j1 + 1):
            if Trow[j] >= 0 and Trow[j] < t:
                continue  # overlapping input triangulation: the lowest index wins
            px = j + 0.5
            Trow[j] = t
            p = rb + j
            dx = np.float32(qxx * px + qxr) - np.float32(px)
            dy = np.float32(qyx * px + qyr) - fpy
            Fd[p * 2] = dx
            Fd[p * 2 + 1] = dy
            qxs[j] = np.float32(j) + dx  # index space: (j + 0.5) + dx - 0.5
            qys[j] = fi + dy
            for k in range(nk):
                A[p * nk + k] = np.float32(aplane[t, k, 0] * px + aplane[t, k, 1] * py + aplane[t, k, 2])
    for j in range(width):
        if Trow[j] < 0:
            Fd[(rb + j) * 2] = 0.0
            Fd[(rb + j) * 2 + 1] = 0.0
            for k in range(nk):
                A[(rb + j) * nk + k] = 0.0
    if T.shape[0] > 0:
        for j in range(width):
            T[i, j] = Trow[j]
    prep_row(qxs, qys, width, sw, sh, nc, idx, wx, wy)
    gather_row(S, sw, sh, nc, mode, qxs, qys, idx, wx, wy, width, O, rb * nc, False)


@njit(cache=True)
def _triwarp_rows(t0, t1, vx, vy, area, owned, counts, tris, qplane, aplane, src, mode, out, field, out_attrs, tri_id,
                  nc, nk):
    height, width = out.shape[0], out.shape[1]
    sh, sw = src.shape[0], src.shape[1]
    S = src.reshape(-1)
    O = out.reshape(-1)
    Fd = field.reshape(-1)
    A = out_attrs.reshape(-1)
    Trow = np.empty(width, np.int32)
    qxs = np.empty(width, np.float32)
    qys = np.empty(width, np.float32)
    idx = np.empty(width, np.int64)
    wx = np.empty(width, np.float32)
    wy = np.empty(width, np.float32)
    for t in range(t0, t1):
        for i in task_rows(t, height):
            _triwarp_row(i, vx, vy, area, owned, counts, tris, qplane, aplane, S, sh, sw, nc, nk, mode, O, Fd, A,
                         tri_id, qxs, qys, idx, wx, wy, Trow)


# Entry points per literal count (RGB with the 2-channel normalised map, and any other), each
# compiled only when first used, as for the confined kernel below.
@njit(cache=True, nogil=True)
def _triwarp_tasks_rgb(t0, t1, vx, vy, area, owned, counts, tris, qplane, aplane, src, mode, out, field, out_attrs,
                       tri_id):
    _triwarp_rows(t0, t1, vx, vy, area, owned, counts, tris, qplane, aplane, src, mode, out, field, out_attrs, tri_id,
                  3, 2)


@njit(cache=True, nogil=True)
def _triwarp_tasks(t0, t1, vx, vy, area, owned, counts, tris, qplane, aplane, src, mode, out, field, out_attrs,
                   tri_id):
    _triwarp_rows(t0, t1, vx, vy, area, owned, counts, tris, qplane, aplane, src, mode, out, field, out_attrs, tri_id,
                  src.shape[2], aplane.shape[1])


def _triwarp_cpu(vx, vy, area, owned, counts, tris, qplane, aplane, src, mode, out, field, out_attrs, tri_id):
    fn = _triwarp_tasks_rgb if src.shape[2] == 3 and aplane.shape[1] == 2 else _triwarp_tasks
    parallel_row_tasks(fn, out.shape[0], vx, vy, area, owned, counts, tris, qplane, aplane, src, mode, out, field,
                       out_attrs, tri_id)


@njit(fastmath=FASTMATH, cache=True)
def _trifield_row(i, x0, y0, vx, vy, area, owned, counts, tris, qplane, aplane, nk, scale, F, A, T, oy, ox, Trow):
    """Row ``i`` (frame coordinates) of the window ``[x0, x0 + bw) x [y0, ...)``: the field,
    attrs and triangle ids of ``_triwarp_row`` with the same arithmetic (bit-identical), no
    image; field and attrs times ``scale`` (window-sized; 0 x 0: none) when given. The window's
    pixel (0, 0) is ``F[oy, ox]`` (and ``A``'s, ``T``'s): whole C-contiguous arrays, not views,
    so the kernel is compiled once whatever the window (a view's layout is part of its type:
    a frame with a fold-over, which wants ids, compiled the kernel a second time mid-render)."""
    bw = Trow.shape[0]
    py = i + 0.5
    fpy = np.float32(py)
    r = i - y0
    ro = oy + r
    scaled = scale.shape[0] > 0
    one = np.float32(1.0)
    for j in range(bw):
        Trow[j] = -1
    for c in range(counts[i], counts[i + 1]):
        t = tris[c]
        j0, j1 = _span(vx, vy, area, owned, t, i, x0 + bw)
        j0 = max(j0, x0)
        qxr = qplane[t, 0, 1] * py + qplane[t, 0, 2]
        qyr = qplane[t, 1, 1] * py + qplane[t, 1, 2]
        qxx = qplane[t, 0, 0]
        qyx = qplane[t, 1, 0]
        for j in range(j0, j1 + 1):
            jj = j - x0
            if Trow[jj] >= 0 and Trow[jj] < t:
                continue  # overlapping input triangulation: the lowest index wins
            px = j + 0.5
            Trow[jj] = t
            m = scale[r, jj] if scaled else one  # (a float32 product by 1 is exact)
            F[ro, ox + jj, 0] = (np.float32(qxx * px + qxr) - np.float32(px)) * m
            F[ro, ox + jj, 1] = (np.float32(qyx * px + qyr) - fpy) * m
            for k in range(nk):
                A[ro, ox + jj, k] = np.float32(aplane[t, k, 0] * px + aplane[t, k, 1] * py + aplane[t, k, 2]) * m
    for jj in range(bw):
        if Trow[jj] < 0:
            F[ro, ox + jj, 0] = 0.0
            F[ro, ox + jj, 1] = 0.0
            for k in range(nk):
                A[ro, ox + jj, k] = 0.0
    if T.shape[0] > 0:
        for jj in range(bw):
            T[ro, ox + jj] = Trow[jj]


@njit(cache=True)
def _trifield_rows(t0, t1, x0, y0, bw, bh, oy, ox, vx, vy, area, owned, counts, tris, qplane, aplane, scale, field,
                   out_attrs, tri_id, nk):
    Trow = np.empty(bw, np.int32)
    for t in range(t0, t1):
        for r in task_rows(t, bh):
            _trifield_row(y0 + r, x0, y0, vx, vy, area, owned, counts, tris, qplane, aplane, nk, scale, field,
                          out_attrs, tri_id, oy, ox, Trow)


@njit(cache=True, nogil=True)
def _trifield_tasks_k2(t0, t1, x0, y0, bw, bh, oy, ox, vx, vy, area, owned, counts, tris, qplane, aplane, scale, field,
                       out_attrs, tri_id):
    _trifield_rows(t0, t1, x0, y0, bw, bh, oy, ox, vx, vy, area, owned, counts, tris, qplane, aplane, scale, field,
                   out_attrs, tri_id, 2)


@njit(cache=True, nogil=True)
def _trifield_tasks(t0, t1, x0, y0, bw, bh, oy, ox, vx, vy, area, owned, counts, tris, qplane, aplane, scale, field,
                    out_attrs, tri_id):
    _trifield_rows(t0, t1, x0, y0, bw, bh, oy, ox, vx, vy, area, owned, counts, tris, qplane, aplane, scale, field,
                   out_attrs, tri_id, aplane.shape[1])


def _trifield_cpu(x0, y0, bw, bh, oy, ox, vx, vy, area, owned, counts, tris, qplane, aplane, scale, field, out_attrs,
                  tri_id):
    """The window ``[x0, x0 + bw) x [y0, y0 + bh)`` into ``field`` / ``out_attrs`` / ``tri_id``
    (whole arrays; (0, 0) ids: not wanted) from their pixel ``(oy, ox)`` on."""
    fn = _trifield_tasks_k2 if aplane.shape[1] == 2 else _trifield_tasks
    parallel_row_tasks(fn, bh, x0, y0, bw, bh, oy, ox, vx, vy, area, owned, counts, tris, qplane, aplane, scale, field,
                       out_attrs, tri_id)


@njit(fastmath=FASTMATH, cache=True)
def _triwarp_confined_rows(t0, t1, x0, y0, vx, vy, area, owned, counts, tris, qplane, aplane, scale, src, mode, out,
                           field, out_attrs, tri_id, nc, nk):
    """The window's rows of tasks ``[t0, t1)`` for :func:`_triwarp_confined_cpu`; ``nc`` / ``nk``:
    the picture's channels and the attrs' (literals from the callers below: unrolled loops)."""
    bh, bw = scale.shape[0], scale.shape[1]
    sh, sw = src.shape[0], src.shape[1]
    S = src.reshape(-1)
    fx0 = np.float32(x0)
    fy0 = np.float32(y0)
    Trow = np.empty(bw, np.int32)
    qxs = np.empty(bw, np.float32)
    qys = np.empty(bw, np.float32)
    idx = np.empty(bw, np.int64)
    wx = np.empty(bw, np.float32)
    wy = np.empty(bw, np.float32)
    O = np.empty(bw * nc + 16, np.float32)  # slack for the 4-pixel vector stores
    for r in range(t0 * ROWS_PER_TASK, min(bh, t1 * ROWS_PER_TASK)):
        _trifield_row(y0 + r, x0, y0, vx, vy, area, owned, counts, tris, qplane, aplane, nk, scale, field, out_attrs,
                      tri_id, y0, x0, Trow)
        fr = np.float32(r)
        i = y0 + r
        for jj in range(bw):  # warp_in_region: field + box corner, then (j + 0.5) + d - 0.5
            qxs[jj] = np.float32(jj) + (field[i, x0 + jj, 0] + fx0)
            qys[jj] = fr + (field[i, x0 + jj, 1] + fy0)
        prep_row(qxs, qys, bw, sw, sh, nc, idx, wx, wy)
        gather_row(S, sw, sh, nc, mode, qxs, qys, idx, wx, wy, bw, O, 0, False)
        for jj in range(bw):
            if field[i, x0 + jj, 0] != 0 or field[i, x0 + jj, 1] != 0:  # a still pixel keeps the plate's own
                for k in range(nc):
                    out[i, x0 + jj, k] = O[jj * nc + k]


# Two entry points, each compiled only when first used: an RGB picture with the 2-channel
# normalised map (TriangleWarp's case, with literal counts) and any other. One function with
# both branches compiled both, and every function they call, for every render.
@njit(fastmath=FASTMATH, cache=True, nogil=True)
def _triwarp_confined_tasks_rgb(t0, t1, x0, y0, vx, vy, area, owned, counts, tris, qplane, aplane, scale, src, mode,
                                out, field, out_attrs, tri_id):
    _triwarp_confined_rows(t0, t1, x0, y0, vx, vy, area, owned, counts, tris, qplane, aplane, scale, src, mode, out,
                           field, out_attrs, tri_id, 3, 2)


@njit(fastmath=FASTMATH, cache=True, nogil=True)
def _triwarp_confined_tasks(t0, t1, x0, y0, vx, vy, area, owned, counts, tris, qplane, aplane, scale, src, mode, out,
                            field, out_attrs, tri_id):
    _triwarp_confined_rows(t0, t1, x0, y0, vx, vy, area, owned, counts, tris, qplane, aplane, scale, src, mode, out,
                           field, out_attrs, tri_id, src.shape[2], aplane.shape[1])


def _triwarp_confined_cpu(x0, y0, vx, vy, area, owned, counts, tris, qplane, aplane, scale, src, mode, out, field,
                          out_attrs, tri_id):
    """``_trifield_cpu`` (the scaled field in the window) and, in the same pass, the picture:
    ``out`` (a copy of ``src``) gets the bilinear sample of ``src`` through the scaled field
    wherever that is not exactly (0, 0) - the arithmetic of ``warp_in_region`` (the box's
    field shifted by the box corner, then ``sampling._warp_row``), so the same pixels.
    ``field``, ``out_attrs`` and ``tri_id`` are whole frames ((0, 0) ids: not wanted); the
    window's size is ``scale``'s."""
    rgb = src.shape[2] == 3 and aplane.shape[1] == 2
    parallel_row_tasks(_triwarp_confined_tasks_rgb if rgb else _triwarp_confined_tasks, scale.shape[0], x0, y0, vx, vy,
                       area, owned, counts, tris, qplane, aplane, scale, src, mode, out, field, out_attrs, tri_id)


def _vertex_arrays(dst_xy, src_xy, faces, attrs):
    """The kernels' inputs: target points rounded to float32 as the rasteriser sees them (then
    float64), source points and per-vertex attrs (V x K, K may be 0) float64, faces int64."""
    dst = np.ascontiguousarray(dst_xy, np.float32).astype(np.float64)
    src = np.ascontiguousarray(src_xy, np.float64)
    faces = np.ascontiguousarray(faces, np.int64)
    attrs = np.zeros((len(dst), 0), np.float64) if attrs is None else np.ascontiguousarray(attrs, np.float64)
    if attrs.ndim == 1:
        attrs = attrs[:, None]
    if src.shape != dst.shape or attrs.shape[0] != len(dst):
        raise ValueError("dst_xy, src_xy and attrs need one row per vertex")
    return dst, src, faces, attrs


def triangle_warp_confined(image, dst_xy, src_xy, faces, window, scale, attrs=None, border: str = "clamp",
                           device: str = "auto", want_ids: bool = True):
    """The piecewise-affine warp confined to a region: the field of :func:`triangle_field` in
    the box ``window`` times ``scale`` (the region's matte over the box), 0 elsewhere, and
    ``image`` warped through it inside the box only; every other pixel, and every pixel whose
    scaled field is exactly (0, 0), is the input's own, bit for bit. Exactly
    ``triangle_field(..., scale=scale, full_frame=True)`` then ``region.warp_in_region``, in
    one pass on the CPU (float32 H x W x C pictures; others, and CUDA, take those two steps).
    Returns full-frame ``(warped, field, attrs, tri_id or None)``; tri_id is -1 outside the box."""
    from .sampling import warp_bilinear

    img = np.asarray(image)
    h, w = img.shape[:2]
    field, out_attrs, tri_id = None, None, None
    x0, y0, x1, y1 = (int(v) for v in window)
    fused = not use_cuda(device) and img.dtype == np.float32 and img.ndim == 3 and x1 > x0 and y1 > y0
    if not fused:
        field, out_attrs, tri_id = triangle_field(dst_xy, src_xy, faces, w, h, attrs=attrs, window=window,
                                                  device=device, want_ids=want_ids, scale=scale, full_frame=True)
        out = np.array(img, copy=True)  # the one full-frame copy: the plate outside the box
        if x1 > x0 and y1 > y0:
            box = field[y0:y1, x0:x1]
            warped = warp_bilinear(img, box + np.array([x0, y0], np.float32), border, device=device)
            moving = (box[..., 0] != 0) | (box[..., 1] != 0)
            np.copyto(out[y0:y1, x0:x1], warped.astype(out.dtype, copy=False),
                      where=moving.reshape(moving.shape + (1,) * (out.ndim - 2)))
        return out, field, out_attrs, tri_id
    dst, src, faces, attrs = _vertex_arrays(dst_xy, src_xy, faces, attrs)
    if not (0 <= x0 <= x1 <= w and 0 <= y0 <= y1 <= h):
        raise ValueError(f"window {window} is not inside the {w} x {h} frame")
    bw, bh = x1 - x0, y1 - y0
    scale = np.ascontiguousarray(scale, np.float32)
    if scale.shape != (bh, bw):
        raise ValueError(f"scale must be the window's size {(bh, bw)}, got {scale.shape}")
    src_img = np.ascontiguousarray(img)
    out = buffers.copy(src_img)  # the one full-frame copy: the plate outside the box
    # calloc'd, not pooled: the pages outside the box are never touched (a pooled block would be
    # zeroed whole every frame: measured slower, and more memory)
    field = np.zeros((h, w, 2), np.float32)
    out_attrs = np.zeros((h, w, attrs.shape[1]), np.float32)
    tri_id = None
    if want_ids:
        tri_id = buffers.empty((h, w), np.int32)
        tri_id.fill(-1)
    box = (slice(y0, y1), slice(x0, x1))
    vx, vy, area, owned, counts, tris = _prepare(dst, faces, 0, x1, y1)
    qplane = _planes(vx, vy, area, faces, src)
    aplane = _planes(vx, vy, area, faces, attrs)
    with cpu_threads(bw * bh):
        _triwarp_confined_cpu(x0, y0, vx, vy, area, owned, counts, tris, qplane, aplane, scale, src_img,
                              border_code(border), out, field, out_attrs,
                              tri_id if want_ids else np.empty((0, 0), np.int32))
    return out, field, out_attrs, tri_id


def flipped_triangles(dst_xy, src_xy, faces) -> np.ndarray:
    """Boolean per triangle: the source triangle is degenerate or has the opposite
    orientation to the target one (a fold-over of the piecewise-affine map)."""
    from facewarp.core.conventions import signed_area_2x

    d = np.asarray(dst_xy, np.float64)[faces]
    s = np.asarray(src_xy, np.float64)[faces]
    ad = signed_area_2x(d[:, 0], d[:, 1], d[:, 2])
    a_s = signed_area_2x(s[:, 0], s[:, 1], s[:, 2])
    return (np.sign(ad) != np.sign(a_s)) | (a_s == 0)


def triangle_warp(image, dst_xy, src_xy, faces, attrs=None, border: str = "clamp", device: str = "auto",
                  want_ids: bool = True):
    """Warp ``image`` so that ``src_xy`` land on ``dst_xy`` (piecewise affine over ``faces``,
    a triangulation of ``dst_xy``). Returns ``(warped H x W x C, field H x W x 2,
    attrs H x W x K, tri_id H x W or None when not ``want_ids``)``; the output has the
    image's size."""
    img = np.asarray(image, np.float32)
    squeeze = img.ndim == 2
    img = np.ascontiguousarray(img[..., None] if squeeze else img)
    h, w = img.shape[:2]
    dst, src, faces, attrs = _vertex_arrays(dst_xy, src_xy, faces, attrs)
    mode = border_code(border)
    if use_cuda(device):
        out, field, out_attrs, tri_id = _triwarp_cuda(img, dst, src, faces, attrs, mode, want_ids)
    else:
        vx, vy, area, owned, counts, tris = _prepare(dst, faces, 0, w, h)
        qplane = _planes(vx, vy, area, faces, src)
        aplane = _planes(vx, vy, area, faces, attrs)
        out = np.empty_like(img)
        field = np.empty((h, w, 2), np.float32)
        out_attrs = np.empty((h, w, attrs.shape[1]), np.float32)
        tri_id = np.empty((h, w) if want_ids else (0, 0), np.int32)
        with cpu_threads(w * h):
            _triwarp_cpu(vx, vy, area, owned, counts, tris, qplane, aplane, img, mode, out, field, out_attrs, tri_id)
    return (out[..., 0] if squeeze else out), field, out_attrs, (tri_id if want_ids else None)


def triangle_field(dst_xy, src_xy, faces, width: int, height: int, attrs=None, window=None, device: str = "auto",
                   want_ids: bool = True, scale=None, full_frame: bool = False):
    """The backward field, interpolated attrs and triangle ids of :func:`triangle_warp` (same
    coverage and arithmetic: the same values, bit for bit on the CPU) in the pixel box
    ``window = (x0, y0, x1, y1)`` (end exclusive, inside the ``width`` x ``height`` frame; None:
    the whole frame) only, and no image: what a warp confined to a region needs, without the
    full-frame work. ``scale``: an optional box-sized multiplier of the field and attrs (a
    region's matte: ``field * scale`` in float32, as ``region.confine`` computes it).
    Returns ``(field h x w x 2, attrs h x w x K, tri_id h x w or None)`` of the box, or with
    ``full_frame`` of the whole frame: 0 (and tri_id -1) outside the box."""
    x0, y0, x1, y1 = (0, 0, width, height) if window is None else (int(v) for v in window)
    if not (0 <= x0 <= x1 <= width and 0 <= y0 <= y1 <= height):
        raise ValueError(f"window {window} is not inside the {width} x {height} frame")
    dst, src, faces, attrs = _vertex_arrays(dst_xy, src_xy, faces, attrs)
    bw, bh = x1 - x0, y1 - y0
    scale = np.zeros((0, 0), np.float32) if scale is None else np.asarray(scale, np.float32)
    if scale.size and scale.shape != (bh, bw):
        raise ValueError(f"scale must be the window's size {(bh, bw)}, got {scale.shape}")
    oh, ow = (height, width) if full_frame else (bh, bw)
    # zeros: calloc'd, so the pages outside the box are never written here
    field = np.zeros((oh, ow, 2), np.float32)
    out_attrs = np.zeros((oh, ow, attrs.shape[1]), np.float32)
    tri_id = np.full((oh, ow), -1, np.int32) if want_ids else None
    ox, oy = (x0, y0) if full_frame else (0, 0)
    box = (slice(oy, oy + bh), slice(ox, ox + bw))
    if bw == 0 or bh == 0:
        return field, out_attrs, tri_id
    if use_cuda(device):
        # the full-frame kernels with a blank one-channel picture on the device, cropped
        # (a GPU computes the whole frame's field in well under a millisecond)
        _, f, a, t = _triwarp_cuda(None, dst, src, faces, attrs, 0, want_ids, (height, width))
        crop = (slice(y0, y1), slice(x0, x1))
        f, a = f[crop], a[crop]
        if scale.size:
            f, a = f * scale[..., None], a * scale[..., None]
        field[box], out_attrs[box] = f, a
        if want_ids:
            tri_id[box] = t[crop]
        return field, out_attrs, tri_id
    vx, vy, area, owned, counts, tris = _prepare(dst, faces, 0, x1, y1)
    qplane = _planes(vx, vy, area, faces, src)
    aplane = _planes(vx, vy, area, faces, attrs)
    ids = tri_id if want_ids else np.empty((0, 0), np.int32)
    with cpu_threads(bw * bh):
        _trifield_cpu(x0, y0, bw, bh, oy, ox, vx, vy, area, owned, counts, tris, qplane, aplane,
                      np.ascontiguousarray(scale), field, out_attrs, ids)
    return field, out_attrs, tri_id


def _triwarp_cuda(img, dst, src, faces, attrs, mode, want_ids=True, size=None):
    """``img`` None: a blank one-channel ``size`` = (h, w) picture on the device (field only)."""
    import cupy as cp

    h, w, c = img.shape if img is not None else (*size, 1)
    nt = len(faces)
    d_img = cp.asarray(img) if img is not None else cp.zeros((h, w, 1), cp.float32)
    d_dst, d_src = cp.asarray(dst), cp.asarray(src)
    d_faces = cp.asarray(faces.astype(np.int32))
    d_attrs = cp.asarray(attrs)
    tri_id = cp.full((h, w), -1, cp.int32)
    grid, block = grid_1d(nt * -(-h // ROWS_PER_THREAD), 128)
    # pass 1: ownership (planar triangulation: the lowest covering index wins, like the CPU)
    cuda_function("triwarp", "triwarp_cover")(grid, block, (d_dst, d_faces, np.int32(nt), np.int32(w), np.int32(h),
                                                            tri_id))
    out = cp.empty((h, w, c), cp.float32)
    field = cp.empty((h, w, 2), cp.float32)
    out_attrs = cp.empty((h, w, attrs.shape[1]), cp.float32)
    grid, block = grid_1d(h * w)
    cuda_function("triwarp", "triwarp_resolve")(grid, block, (
        d_img, np.int32(h), np.int32(w), np.int32(c), d_dst, d_src, d_faces, d_attrs, np.int32(attrs.shape[1]),
        tri_id, np.int32(mode), out, field, out_attrs))
    return cp.asnumpy(out), cp.asnumpy(field), cp.asnumpy(out_attrs), (cp.asnumpy(tri_id) if want_ids else None)
