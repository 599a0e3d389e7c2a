"""Bilinear backward warp with border modes, and the resamplers every kernel agrees on.

Conventions (``facewarp.core.conventions``): pixel (row i, col j) has its centre at
continuous ``(j + 0.5, i + 0.5)``; a displacement is a backward map ``out(p) = src(p + D(p))``.
Bilinear sampling at continuous ``(x, y)`` reads the four pixels around ``(x - 0.5, y - 0.5)``.
Border modes for neighbours outside the source: ``clamp`` (nearest edge pixel), ``zero``
(transparent black: the neighbour's weight contributes 0) and ``reflect`` (mirrored about the
edge: index -1 -> 0, -2 -> 1, W -> W-1, periodic beyond 2W).

Resampling to another grid size maps continuous coordinates proportionally
(``x_dst = x_src * W_dst / W_src``; pixel centres stay centres), which is what OpenCV's
``INTER_LINEAR``/``INTER_AREA`` do. Bilinear up-sampling clamps the sample position to the
outermost pixel centres (edge replicate). ``area_downsample`` is the exact box average
(for integer factors the paper's block average; for other factors, area-weighted).
"""

from __future__ import annotations

import cv2
import numpy as np
from numba import njit

from ._dispatch import (
    FASTMATH,
    ROWS_PER_TASK,
    border_code,
    cpu_threads,
    cuda_function,
    grid_1d,
    parallel_row_tasks,
    parallel_tasks,
    task_rows,
    use_cuda,
)
from ._intrinsics import bilerp4_rgb_add, bilerp4_rgb_set, prefetch

PREFETCH_PIXELS = 32
PREFETCH_ROWS = 2

# --------------------------------------------------------------------------- numba helpers


@njit(inline="always", cache=True)
def border_index(i, n, mode):
    """Index of neighbour ``i`` in ``[0, n)`` after the border mode; -1 means 'zero'."""
    if 0 <= i < n:
        return i
    if mode == 0:
        return 0 if i < 0 else n - 1
    if mode == 1:
        return -1
    period = 2 * n
    k = i % period
    if k < 0:
        k += period
    return k if k < n else period - 1 - k


@njit(inline="always", cache=True)
def clamp_coord(u, n):
    """Bilinear up-sampling coordinate (already shifted by -0.5) clamped to [0, n-1]."""
    if u < 0:
        return u - u  # 0 of u's type
    hi = u - u + (n - 1)
    if u > hi:
        return hi
    return u


@njit(inline="always", cache=True)
def _axis_coords(n, size, ratio):
    """Bilinear up-sampling coordinate of fine index n on a coarse axis: (i0, i1, t)."""
    u = clamp_coord((np.float32(n) + np.float32(0.5)) * ratio - np.float32(0.5), size)
    i0 = min(int(u), size - 1)
    return i0, min(i0 + 1, size - 1), u - np.float32(i0)


@njit(cache=True)
def _axis_tables(n_fine, size, ratio):
    i0 = np.empty(n_fine, np.int64)
    i1 = np.empty(n_fine, np.int64)
    t = np.empty(n_fine, np.float32)
    for n in range(n_fine):
        a, b, c = _axis_coords(n, size, ratio)
        i0[n] = a
        i1[n] = b
        t[n] = c
    return i0, i1, t


@njit(cache=True)
def axis_segments(i0, size):
    """For the non-decreasing coarse indices ``i0`` of ``_axis_tables``: ``seg[c]`` is the
    first fine index whose coarse cell is ``c`` (``size + 1`` entries; empty cells repeat)."""
    seg = np.empty(size + 1, np.int64)
    c = 0
    for j in range(i0.shape[0]):
        while c <= i0[j]:
            seg[c] = j
            c += 1
    while c <= size:
        seg[c] = i0.shape[0]
        c += 1
    return seg


@njit(fastmath=FASTMATH, cache=True)
def upsample_row(src, ns, dst, nd, nc, seg, t):
    """One row of bilinear up-sampling (pixel centres aligned, edges clamped): ``dst`` (nd
    pixels x nc, flat) from ``src`` (ns x nc); ``seg`` from :func:`axis_segments` and ``t``
    from ``_axis_tables`` - the same values as the table form, bit for bit.

    Written for numba's vectoriser: every array index is a loop variable (or a view's
    offset), which numba knows is non-negative and so emits no wrap-around branch; a
    computed ``a[b + k]`` keeps the branch and the loop stays scalar (~2x slower here).
    The exact 2x case (every pyramid octave) has fixed weights 1/4, 3/4."""
    if nd == 2 * ns and ns > 1:
        q = np.float32(0.25)
        r = np.float32(0.75)
        last = dst[(nd - 1) * nc:]
        first = src[(ns - 1) * nc:]
        for k in range(nc):
            dst[k] = src[k]  # fine 0 sits left of coarse 0's centre: clamped
            last[k] = first[k]
        body = dst[nc:]  # fine 2v+1 = coarse v + 1/4, fine 2v+2 = coarse v + 3/4
        nxt = src[nc:]
        for v in range(ns - 1):
            for k in range(nc):
                a = src[v * nc + k]
                d = nxt[v * nc + k] - a
                body[2 * v * nc + k] = a + q * d
                body[(2 * v + 1) * nc + k] = a + r * d
        return
    for c in range(ns):
        s0 = seg[c]
        n = seg[c + 1] - s0
        if n <= 0:
            continue
        a = src[c * nc:]
        b = src[min(c + 1, ns - 1) * nc:]
        out = dst[s0 * nc:]
        tt = t[s0:]
        for jj in range(n):
            w = tt[jj]
            for k in range(nc):
                out[jj * nc + k] = a[k] + w * (b[k] - a[k])


@njit(fastmath=FASTMATH, cache=True)
def prep_row(qxs, qys, n, sw, sh, nc, idx, wx, wy):
    """From index-space sample positions, the flat offset of the top-left tap (-1 when the
    2 x 2 footprint leaves the source or the position is not finite) and the weights.
    Written to vectorise: ``np.floor`` keeps float32 (``math.floor`` would go through int64
    and cost ~3x here)."""
    if sh * sw * nc < 2 ** 31 and sw < 2 ** 24 and sh < 2 ** 24:
        _prep_row_int32(qxs, qys, n, sw, sh, nc, idx, wx, wy)
        return
    rs = sw * nc
    for j in range(n):
        qx = qxs[j]
        qy = qys[j]
        fx = np.floor(qx)
        fy = np.floor(qy)
        wx[j] = qx - fx
        wy[j] = qy - fy
        ok = (fx >= 0) & (fx < sw - 1) & (fy >= 0) & (fy < sh - 1)  # False for NaN
        idx[j] = np.int64(fy) * rs + np.int64(fx) * nc if ok else -1


@njit(inline="always", fastmath=FASTMATH, cache=True)
def _prep_row_int32(qxs, qys, n, sw, sh, nc, idx, wx, wy):
    """``prep_row`` for sources below 2^31 floats and 2^24 px a side: the same values, with
    the float -> integer conversions through int32 (AVX2 converts float32 to int32 in vector
    form, to int64 only one by one: ~2x the row) and the bounds compared in float32 (exact:
    the sides are float32 integers)."""
    rs = np.int32(sw * nc)
    c32 = np.int32(nc)
    zero = np.float32(0)
    xmax = np.float32(sw - 1)
    ymax = np.float32(sh - 1)
    for j in range(n):
        qx = qxs[j]
        qy = qys[j]
        fx = np.floor(qx)
        fy = np.floor(qy)
        wx[j] = qx - fx
        wy[j] = qy - fy
        ok = (fx >= zero) & (fx < xmax) & (fy >= zero) & (fy < ymax)  # False for NaN
        idx[j] = np.int64(np.int32(fy) * rs + np.int32(fx) * c32) if ok else -1


@njit(fastmath=FASTMATH, cache=True)
def _gather_px(S, sw, sh, nc, mode, qxs, qys, idx, wx, wy, j, O, ob, accumulate):
    """One bilinear sample of :func:`gather_row`."""
    one = np.float32(1.0)
    zero = np.float32(0.0)
    rs = sw * nc
    b = idx[j]
    ax = wx[j]
    ay = wy[j]
    oi = ob + j * nc
    if b >= 0:
        # views at the two texel rows: indexed by small literals (nc is a literal at the
        # call sites that matter), so numba emits no wrap-around branch per load
        t = S[b:]
        u = S[b + rs:]
        orow = O[oi:]
        for k in range(nc):
            p00 = t[k]
            p10 = u[k]
            top = p00 + ax * (t[nc + k] - p00)
            bot = p10 + ax * (u[nc + k] - p10)
            v = top + ay * (bot - top)
            if accumulate:
                orow[k] += v
            else:
                orow[k] = v
        return
    qx = qxs[j]
    qy = qys[j]
    if not (qx > -1e9 and qx < 1e9 and qy > -1e9 and qy < 1e9):
        if not accumulate:
            for k in range(nc):
                O[oi + k] = np.nan
        return
    x0 = int(np.floor(qx))
    y0 = int(np.floor(qy))
    xa = border_index(x0, sw, mode)
    xb = border_index(x0 + 1, sw, mode)
    ya = border_index(y0, sh, mode)
    yb = border_index(y0 + 1, sh, mode)
    wxa = one - ax if xa >= 0 else zero
    wxb = ax if xb >= 0 else zero
    wya = one - ay if ya >= 0 else zero
    wyb = ay if yb >= 0 else zero
    pa = max(ya, 0) * rs + max(xa, 0) * nc
    pb = max(ya, 0) * rs + max(xb, 0) * nc
    pc = max(yb, 0) * rs + max(xa, 0) * nc
    pd = max(yb, 0) * rs + max(xb, 0) * nc
    for k in range(nc):
        v = wya * (wxa * S[pa + k] + wxb * S[pb + k]) + wyb * (wxa * S[pc + k] + wxb * S[pd + k])
        if accumulate:
            O[oi + k] += v
        else:
            O[oi + k] = v


@njit(fastmath=FASTMATH, cache=True)
def gather_row(S, sw, sh, nc, mode, qxs, qys, idx, wx, wy, n, O, ob, accumulate):
    """Bilinear samples for one output row: ``O[ob + j*nc + k] (+)= sample`` (``accumulate``
    adds, for ResWarp). Border modes on the slow path; non-finite positions give NaN (or add
    nothing when accumulating). ``S`` is the flat source (sh x sw x nc).

    RGB runs four pixels at a time as 4-lane vector arithmetic (``_intrinsics``) when all
    four footprints are inside the source; every row software-prefetches the tap rows
    ``PREFETCH_PIXELS`` ahead (see ``_intrinsics``: the gather is bound by cache misses)."""
    rs = sw * nc
    last = n - 1
    j = 0
    if nc == 3:
        # the vector block reads one float past p11: keep it off the array's last float
        lim = S.shape[0] - rs - 7
        while j + 4 <= n:
            for p in range(4):
                prefetch(S, max(idx[min(j + p + PREFETCH_PIXELS, last)], 0) + PREFETCH_ROWS * rs)
            b0 = idx[j]
            b1 = idx[j + 1]
            b2 = idx[j + 2]
            b3 = idx[j + 3]
            if min(min(b0, b1), min(b2, b3)) >= 0 and max(max(b0, b1), max(b2, b3)) <= lim:
                if accumulate:
                    bilerp4_rgb_add(S, rs, idx, wx, wy, j, O, ob + j * 3)
                else:
                    bilerp4_rgb_set(S, rs, idx, wx, wy, j, O, ob + j * 3)
            else:
                for p in range(4):
                    _gather_px(S, sw, sh, 3, mode, qxs, qys, idx, wx, wy, j + p, O, ob, accumulate)
            j += 4
    for jj in range(j, n):
        prefetch(S, max(idx[min(jj + PREFETCH_PIXELS, last)], 0) + PREFETCH_ROWS * rs)
        _gather_px(S, sw, sh, nc, mode, qxs, qys, idx, wx, wy, jj, O, ob, accumulate)


@njit(fastmath=FASTMATH, cache=True)
def _warp_row(i, S, Fd, O, sh, sw, w, nc, mode, qxs, qys, idx, wx, wy):
    fi = np.float32(i)
    for j in range(w):
        qxs[j] = np.float32(j) + Fd[(i * w + j) * 2]  # (j + 0.5) + dx - 0.5
        qys[j] = fi + Fd[(i * w + j) * 2 + 1]
    prep_row(qxs, qys, w, sw, sh, nc, idx, wx, wy)
    gather_row(S, sw, sh, nc, mode, qxs, qys, idx, wx, wy, w, O, i * w * nc, False)


@njit(fastmath=FASTMATH, cache=True)
def _warp_bilinear_rows(t0, t1, src, field, mode, out, c):
    h, w = out.shape[0], out.shape[1]
    sh, sw = src.shape[0], src.shape[1]
    S = src.reshape(-1)
    Fd = field.reshape(-1)
    O = out.reshape(-1)
    qxs = np.empty(w, np.float32)
    qys = np.empty(w, np.float32)
    idx = np.empty(w, np.int64)
    wx = np.empty(w, np.float32)
    wy = np.empty(w, np.float32)
    for i in range(t0 * ROWS_PER_TASK, min(h, t1 * ROWS_PER_TASK)):
        _warp_row(i, S, Fd, O, sh, sw, w, c, mode, qxs, qys, idx, wx, wy)


# Two entry points each (RGB with literal counts, and any other), compiled only when first used:
# one function with both branches compiled both, and all they call, in every process.
@njit(fastmath=FASTMATH, cache=True, nogil=True)
def _warp_bilinear_tasks_rgb(t0, t1, src, field, mode, out):
    _warp_bilinear_rows(t0, t1, src, field, mode, out, 3)


@njit(fastmath=FASTMATH, cache=True, nogil=True)
def _warp_bilinear_tasks(t0, t1, src, field, mode, out):
    _warp_bilinear_rows(t0, t1, src, field, mode, out, out.shape[2])


def _warp_bilinear_cpu(src, field, mode, out):
    fn = _warp_bilinear_tasks_rgb if out.shape[2] == 3 else _warp_bilinear_tasks
    parallel_row_tasks(fn, out.shape[0], src, field, mode, out)


@njit(fastmath=FASTMATH, cache=True, nogil=True)
def _resample_bilinear_tasks(t0, t1, src, out):
    h, w, c = out.shape
    sh, sw = src.shape[0], src.shape[1]
    rx = np.float32(sw / w)
    ry = np.float32(sh / h)
    for i in range(t0, t1):  # a task is a row
        v = clamp_coord((np.float32(i) + np.float32(0.5)) * ry - np.float32(0.5), sh)
        y0 = min(int(v), sh - 1)
        y1 = min(y0 + 1, sh - 1)
        ay = v - y0
        for j in range(w):
            u = clamp_coord((np.float32(j) + np.float32(0.5)) * rx - np.float32(0.5), sw)
            x0 = min(int(u), sw - 1)
            x1 = min(x0 + 1, sw - 1)
            ax = u - x0
            for k in range(c):
                top = src[y0, x0, k] + ax * (src[y0, x1, k] - src[y0, x0, k])
                bot = src[y1, x0, k] + ax * (src[y1, x1, k] - src[y1, x0, k])
                out[i, j, k] = top + ay * (bot - top)


def _resample_bilinear_cpu(src, out):
    parallel_tasks(_resample_bilinear_tasks, out.shape[0], src, out)


@njit(fastmath=FASTMATH, cache=True, nogil=True)
def _down2_tasks(t0, t1, src, out):
    h, w, c = out.shape
    for i in range(t0, t1):  # a task is a row
        for j in range(w):
            for k in range(c):
                out[i, j, k] = np.float32(0.25) * (src[2 * i, 2 * j, k] + src[2 * i, 2 * j + 1, k]
                                                   + src[2 * i + 1, 2 * j, k] + src[2 * i + 1, 2 * j + 1, k])


def _down2_cpu(src, out):
    parallel_tasks(_down2_tasks, out.shape[0], src, out)


# 8-tap binomial kernel (1 7 21 35 35 21 7 1) / 128 centred between the two fine pixels of
# a coarse one: the Burt-Adelson REDUCE for pixel-centre-aligned octaves (sigma ~ 1.32 fine
# pixels). Measured against the 2 x 2 box for multiscale ResWarp at 4K: +3.5 dB (less
# aliasing into the coarse levels, which is what does not commute with the warp).
BINOMIAL8 = np.array([1, 7, 21, 35, 35, 21, 7, 1], np.float32) / np.float32(128)


@njit(fastmath=FASTMATH, cache=True)
def _split_phases(acc, ev, od, w, wo, c, pad):
    """Even / odd fine pixels of a filtered row into two rows padded by ``pad`` coarse
    pixels each side (mirrored: the ``reflect`` border of ``border_index``)."""
    e0, o0 = ev[pad * c:], od[pad * c:]
    for v in range(wo):
        for k in range(c):
            e0[v * c + k] = acc[2 * v * c + k]
            o0[v * c + k] = acc[(2 * v + 1) * c + k]
    for m in range(2 * pad):  # the pad cells: v = -pad .. -1, then wo .. wo + pad - 1
        v = m - pad if m < pad else wo + m - pad
        e = border_index(2 * v, w, 2) * c
        d = border_index(2 * v + 1, w, 2) * c
        for k in range(c):
            ev[(v + pad) * c + k] = acc[e + k]
            od[(v + pad) * c + k] = acc[d + k]


@njit(fastmath=FASTMATH, cache=True)
def _reduce_horizontal(acc, ev, od, w, c, kern, o):
    """The horizontal taps of :func:`reduce_rows` for one vertically filtered row ``acc``."""
    wo = w // 2
    k0, k1, k2, k3, k4, k5, k6, k7 = kern[0], kern[1], kern[2], kern[3], kern[4], kern[5], kern[6], kern[7]
    pad = 2  # coarse pixels v-2 .. v+2 of either phase
    # even fine pixels -> ev[v + pad], odd -> od[v + pad]; mirrored past the borders
    if c == 3:  # a literal channel count lets LLVM vectorise the de-interleave
        _split_phases(acc, ev, od, w, wo, 3, pad)
    else:
        _split_phases(acc, ev, od, w, wo, c, pad)
    # fine 2v-3 = od[v-2], 2v-2 = ev[v-1], 2v-1 = od[v-1], 2v = ev[v], 2v+1 = od[v], ...
    # (shifted views indexed by the loop variable: numba then knows every index is
    # non-negative and drops its wrap-around branch, which is what lets LLVM vectorise)
    a0, a1, a2, a3 = od[0:], ev[c:], od[c:], ev[2 * c:]
    a4, a5, a6, a7 = od[2 * c:], ev[3 * c:], od[3 * c:], ev[4 * c:]
    for q in range(wo * c):
        o[q] = (k0 * a0[q] + k1 * a1[q] + k2 * a2[q] + k3 * a3[q]
                + k4 * a4[q] + k5 * a5[q] + k6 * a6[q] + k7 * a7[q])


@njit(fastmath=FASTMATH, cache=True)
def reduce_rows(S, h, w, c, u, n, kern, acc, acc2, ev, od, L):
    """Coarse rows ``u`` .. ``u + n - 1`` (``n`` 1 or 2) of the 8-tap 2x reduction into
    ``L[u]``, ``L[u + 1]`` (each wo * c): coarse row u reads fine rows and columns
    2u - 3 .. 2u + 4, mirrored past the borders. ``S`` is the source as h x (w * c); ``acc``,
    ``acc2`` (w * c), ``ev``/``od`` ((wo + 4) * c) are work rows.

    Written as whole-row expressions so that LLVM vectorises them: the vertical taps as one
    8-row multiply-add, then (polyphase) the even and odd fine pixels of the filtered row in
    two padded rows so that the horizontal taps are contiguous too (the strided form of the
    horizontal pass was ~3x slower). Two coarse rows share six of their eight fine rows, so
    a pair is filtered in one vertical pass: 10 row loads per 2 outputs instead of 16 (the
    pass is bound by loads; each output's sum is the same expression, bit for bit)."""
    k0, k1, k2, k3, k4, k5, k6, k7 = kern[0], kern[1], kern[2], kern[3], kern[4], kern[5], kern[6], kern[7]
    r0, r1 = S[border_index(2 * u - 3, h, 2)], S[border_index(2 * u - 2, h, 2)]
    r2, r3 = S[border_index(2 * u - 1, h, 2)], S[border_index(2 * u, h, 2)]
    r4, r5 = S[border_index(2 * u + 1, h, 2)], S[border_index(2 * u + 2, h, 2)]
    r6, r7 = S[border_index(2 * u + 3, h, 2)], S[border_index(2 * u + 4, h, 2)]
    if n == 2:
        r8, r9 = S[border_index(2 * u + 5, h, 2)], S[border_index(2 * u + 6, h, 2)]
        for q in range(w * c):
            acc[q] = (k0 * r0[q] + k1 * r1[q] + k2 * r2[q] + k3 * r3[q]
                      + k4 * r4[q] + k5 * r5[q] + k6 * r6[q] + k7 * r7[q])
            acc2[q] = (k0 * r2[q] + k1 * r3[q] + k2 * r4[q] + k3 * r5[q]
                       + k4 * r6[q] + k5 * r7[q] + k6 * r8[q] + k7 * r9[q])
        _reduce_horizontal(acc, ev, od, w, c, kern, L[u])
        _reduce_horizontal(acc2, ev, od, w, c, kern, L[u + 1])
        return
    for q in range(w * c):
        acc[q] = (k0 * r0[q] + k1 * r1[q] + k2 * r2[q] + k3 * r3[q]
                  + k4 * r4[q] + k5 * r5[q] + k6 * r6[q] + k7 * r7[q])
    _reduce_horizontal(acc, ev, od, w, c, kern, L[u])


@njit(fastmath=FASTMATH, cache=True, nogil=True)
def _reduce2_tasks(t0, t1, src, kern, out):
    h, w, c = src.shape
    ho, wo = out.shape[0], out.shape[1]
    S = src.reshape(h, w * c)
    O = out.reshape(ho, wo * c)
    acc = np.empty(w * c, np.float32)
    acc2 = np.empty(w * c, np.float32)
    ev = np.empty((wo + 4) * c, np.float32)
    od = np.empty((wo + 4) * c, np.float32)
    for t in range(t0, t1):
        u0 = t * ROWS_PER_TASK  # even: the rows go in pairs
        u1 = min(ho, u0 + ROWS_PER_TASK)
        for u in range(u0, u1, 2):
            reduce_rows(S, h, w, c, u, min(2, u1 - u), kern, acc, acc2, ev, od, O)


def _reduce2_cpu(src, kern, out):
    """8-tap 2x reduction; coarse pixel v reads fine pixels 2v - 3 .. 2v + 4 on each axis."""
    parallel_row_tasks(_reduce2_tasks, out.shape[0], src, kern, out)


def reduce_octave(src: np.ndarray, device: str = "auto") -> np.ndarray:
    """Exact 2x reduction of an even-sized image with the 8-tap binomial kernel
    (``BINOMIAL8``), mirrored borders (``reflect``): the multiscale ResWarp pyramid's REDUCE.
    CUDA twin: ``reduce.cu``."""
    src3, squeeze = _as_hwc(src)
    h, w, c = src3.shape
    if h % 2 or w % 2:
        raise ValueError(f"reduce_octave needs even sizes, got {w}x{h}")
    if use_cuda(device):
        out = _reduce_octave_cuda(src3)
    else:
        out = np.empty((h // 2, w // 2, c), np.float32)
        with cpu_threads(w * h):
            _reduce2_cpu(src3, BINOMIAL8, out)  # the kernel is written for 8 taps
    return out[..., 0] if squeeze else out


def _reduce_octave_cuda(src3: np.ndarray) -> np.ndarray:
    import cupy as cp

    return cp.asnumpy(reduce_octave_device(cp.asarray(src3)))


def reduce_octave_device(d_src):
    """``reduce_octave`` of a C-contiguous h x w x c float32 CuPy array, result on the device."""
    import cupy as cp

    h, w, c = d_src.shape
    out = cp.empty((h // 2, w // 2, c), cp.float32)
    grid, block = grid_1d(out.size)
    cuda_function("reduce", "reduce2_binomial8_f32")(grid, block, (d_src, out, np.int32(h), np.int32(w), np.int32(c)))
    return out


def antialiased_downsample(src: np.ndarray, width: int, height: int) -> np.ndarray:
    """Down-sampling by a ratio that is not 2: a Gaussian pre-blur of sigma
    ``0.5 * sqrt(r^2 - 1)`` per axis (r = that axis's ratio; mirrored borders), then the exact
    area average. The box alone aliases badly at ratios near 1 (e.g. 135 -> 128 rows)."""
    src3, squeeze = _as_hwc(src)
    h, w = src3.shape[:2]
    sx = 0.5 * np.sqrt(max((w / width) ** 2 - 1.0, 0.0))
    sy = 0.5 * np.sqrt(max((h / height) ** 2 - 1.0, 0.0))
    if sx > 0.05 or sy > 0.05:
        kx = max(3, 2 * int(np.ceil(3 * sx)) + 1)
        ky = max(3, 2 * int(np.ceil(3 * sy)) + 1)
        src3 = cv2.GaussianBlur(src3, (kx, ky), sigmaX=max(sx, 1e-3), sigmaY=max(sy, 1e-3),
                                borderType=cv2.BORDER_REFLECT)
        if src3.ndim == 2:
            src3 = src3[..., None]
    out = area_downsample(src3, width, height)
    return out[..., 0] if squeeze else out


def _area_weights(n_in: int, n_out: int):
    """CSR box-filter weights: output cell u covers input [u s, (u+1) s), s = n_in / n_out;
    each input pixel contributes its overlap length / s (exact area averaging)."""
    s = n_in / n_out
    starts = np.empty(n_out + 1, np.int64)
    idx, wts = [], []
    for u in range(n_out):
        starts[u] = len(idx)
        a, b = u * s, (u + 1) * s
        for i in range(int(np.floor(a)), min(n_in, int(np.ceil(b)))):
            ov = min(b, i + 1) - max(a, i)
            if ov > 1e-12:
                idx.append(i)
                wts.append(ov / s)
    starts[n_out] = len(idx)
    return starts, np.asarray(idx, np.int64), np.asarray(wts, np.float32)


@njit(fastmath=FASTMATH, cache=True, nogil=True)
def _area_tasks(t0, t1, src, ys, yi, yw, xs, xi, xw, out):
    ho, wo, c = out.shape
    w = src.shape[1]
    S = src.reshape(src.shape[0], w * c)
    O = out.reshape(ho, wo * c)
    acc = np.empty(w * c, np.float32)
    for tk in range(t0, t1):
        for u in task_rows(tk, ho):
            acc[:] = 0
            for n in range(ys[u], ys[u + 1]):  # weighted sum of the input rows (vectorises)
                row = S[yi[n]]
                a = yw[n]
                for t in range(w * c):
                    acc[t] += a * row[t]
            for v in range(wo):
                for k in range(c):
                    sm = np.float32(0.0)
                    for n in range(xs[v], xs[v + 1]):
                        sm += xw[n] * acc[xi[n] * c + k]
                    O[u, v * c + k] = sm


def _area_cpu(src, ys, yi, yw, xs, xi, xw, out):
    parallel_row_tasks(_area_tasks, out.shape[0], src, ys, yi, yw, xs, xi, xw, out)


# --------------------------------------------------------------------------- public API


def _as_hwc(a: np.ndarray) -> tuple[np.ndarray, bool]:
    a = np.asarray(a, dtype=np.float32)
    if a.ndim == 2:
        return np.ascontiguousarray(a[..., None]), True
    return np.ascontiguousarray(a), False


def warp_bilinear(src: np.ndarray, field: np.ndarray, border: str = "clamp", device: str = "auto") -> np.ndarray:
    """``out(p) = src(p + field(p))``, bilinear, output the size of ``field``.

    ``src`` is H x W x C (or H x W) float32, ``field`` is h x w x 2 float32 in pixels of
    ``src``. Non-finite displacements give NaN pixels.
    """
    src3, squeeze = _as_hwc(src)
    field = np.ascontiguousarray(field, dtype=np.float32)
    if field.ndim != 3 or field.shape[2] != 2:
        raise ValueError(f"field must be h x w x 2, got {field.shape}")
    mode = border_code(border)
    if use_cuda(device):
        out = _warp_bilinear_cuda(src3, field, mode)
    else:
        out = np.empty(field.shape[:2] + (src3.shape[2],), np.float32)
        with cpu_threads(field.shape[0] * field.shape[1]):
            _warp_bilinear_cpu(src3, field, mode, out)
    return out[..., 0] if squeeze else out


def resample_bilinear(src: np.ndarray, width: int, height: int) -> np.ndarray:
    """Bilinear resample to ``width x height`` (pixel centres aligned, edge clamped).
    Values are NOT scaled (use :func:`resample_field` for displacements)."""
    src3, squeeze = _as_hwc(src)
    out = np.empty((height, width, src3.shape[2]), np.float32)
    with cpu_threads(width * height):
        _resample_bilinear_cpu(src3, out)
    return out[..., 0] if squeeze else out


def resample_field(field: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resample a displacement field and scale its values to the new pixel size
    (conventions: 'scaling a field to another resolution scales its values')."""
    h, w = field.shape[:2]
    out = resample_bilinear(field, width, height)
    out[..., 0] *= np.float32(width / w)
    out[..., 1] *= np.float32(height / h)
    return out


def area_downsample(src: np.ndarray, width: int, height: int) -> np.ndarray:
    """Box (area) average to ``width x height``: the paper's block average when the size is
    an integer multiple; exact area weights otherwise (no padding needed)."""
    src3, squeeze = _as_hwc(src)
    h, w = src3.shape[:2]
    if width == w and height == h:
        out = src3.copy()
    elif w == 2 * width and h == 2 * height:
        out = np.empty((height, width, src3.shape[2]), np.float32)
        with cpu_threads(width * height * 4):
            _down2_cpu(src3, out)
    elif width * height * 16 <= w * h:  # strong reductions: one streaming pass (3x cv2 here)
        ys, yi, yw = _area_weights(h, height)
        xs, xi, xw = _area_weights(w, width)
        out = np.empty((height, width, src3.shape[2]), np.float32)
        with cpu_threads(w * h):
            _area_cpu(src3, ys, yi, yw, xs, xi, xw, out)
    else:  # mild ratios: OpenCV's area resize is faster than the row-accumulating kernel
        out = cv2.resize(src3, (width, height), interpolation=cv2.INTER_AREA)
        if out.ndim == 2:
            out = out[..., None]
    return out[..., 0] if squeeze else out


# --------------------------------------------------------------------------- CUDA path


def _warp_bilinear_cuda(src3: np.ndarray, field: np.ndarray, mode: int) -> np.ndarray:
    import cupy as cp

    h, w = field.shape[:2]
    sh, sw, c = src3.shape
    d_src = cp.asarray(src3)
    d_field = cp.asarray(field)
    d_out = cp.empty((h, w, c), cp.float32)
    fn = cuda_function("warp", "warp_bilinear_f32")
    grid, block = grid_1d(h * w)
    fn(grid, block, (d_src, d_field, d_out, np.int32(sh), np.int32(sw), np.int32(c), np.int32(h), np.int32(w),
                     np.int32(mode)))
    return cp.asnumpy(d_out)
