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
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ._dispatch import (
    FASTMATH,
    ROWS_PER_THREAD,
    border_code,
    cpu_threads,
    cuda_function,
    grid_1d,
    row_tasks,
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


@njit(parallel=True, cache=True)
def _triwarp_cpu(vx, vy, area, owned, counts, tris, qplane, aplane, src, mode, out, field, out_attrs, tri_id):
    height, width = out.shape[0], out.shape[1]
    sh, sw, nc = src.shape
    S = src.reshape(-1)
    O = out.reshape(-1)
    Fd = field.reshape(-1)
    A = out_attrs.reshape(-1)
    nk = aplane.shape[1]
    for t in prange(row_tasks(height)):
        Trow = np.empty(width, np.int32)
        qxs = np.empty(width, np.float32)
        qys = np.empty(width, np.float32)
        idx = np.empty(width, np.int64)
        wx = np.empty(width, np.float32)
        wy = np.empty(width, np.float32)
        for i in task_rows(t, height):
            if nc == 3 and nk == 2:  # literal counts (RGB, normalised map): unrolled loops
                _triwarp_row(i, vx, vy, area, owned, counts, tris, qplane, aplane, S, sh, sw, 3, 2, mode, O, Fd, A,
                             tri_id, qxs, qys, idx, wx, wy, Trow)
            else:
                _triwarp_row(i, vx, vy, area, owned, counts, tris, qplane, aplane, S, sh, sw, nc, nk, mode, O, Fd, A,
                             tri_id, qxs, qys, idx, wx, wy, Trow)


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
    dst = np.ascontiguousarray(dst_xy, np.float32).astype(np.float64)
    src = np.ascontiguousarray(src_xy, np.float64)
    faces = np.ascontiguousarray(faces, np.int64)
    attrs = np.zeros((len(dst), 0), np.float64) if attrs is None else np.ascontiguousarray(attrs, np.float64)
    if attrs.ndim == 1:
        attrs = attrs[:, None]
    if src.shape != dst.shape or attrs.shape[0] != len(dst):
        raise ValueError("dst_xy, src_xy and attrs need one row per vertex")
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


def _triwarp_cuda(img, dst, src, faces, attrs, mode, want_ids=True):
    import cupy as cp

    h, w, c = img.shape
    nt = len(faces)
    d_img = cp.asarray(img)
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
