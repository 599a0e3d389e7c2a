"""Residual warping (ATW, Yi et al.): fused kernel and the vanilla / multiscale pipelines.

Two primitives (CUDA: ``reswarp.cu``, CPU twins: numba, same signatures):

    residual(plate, low)             R = plate - up(low)
    reswarp_add(R, base, field)      out(p) = up(base)(p) + R(p + s * up(field)(p))   -- ONE pass

``reswarp_add`` is the fused pass of the issue: the field and the coarser result ``base``
are bilinearly up-sampled inline (pixel centres aligned, edges clamped, see ``sampling``),
``s`` rescales the field's values from its own pixels to the plate's (conventions), the
residual is sampled bilinearly with the border mode (``zero``: an outside neighbour adds no
residual) and the sum is written once. (A variant that also computed ``R`` on the fly was
measured 1.5-2.3x slower on the CPU than materialising ``R`` in a streaming pass; the
row work is written so that numba vectorises it, see ``sampling.upsample_row``; the sample
positions are one pass (``_positions_row``) and the exact 2x RGB up-sampling of ``base``
and of the residual's low band is 4-lane vector code (``_upsample_row``), both bit-identical
to the forms they replaced: 4K multiscale ~0.8x its previous time.)
The multiscale pyramid's octaves use ``reduce_and_residual``: on the CPU one streaming pass
for REDUCE and the residual (bit-identical to ``reduce_octave`` then ``residual``; on CUDA it
runs those two kernels).

Pipelines (paper Sec. 3.4):
    vanilla     L = area(plate -> low-res grid); out = up(result) + warp(plate - up(L), up(F))
    multiscale  G_0 = plate, G_k+1 = binomial REDUCE of G_k (exact octaves, see pyramid_sizes
                and decompose), the last level anti-aliased onto the low-res grid; coarse
                to fine: out_n = result; out_k = up(out_k+1) + warp(G_k - up(G_k+1), F)

Deviation from the paper (documented in docs/geometry.md): plates that are not multiples of
the low-res size are handled by exact area averaging instead of pad-and-crop, so the last
row/column of blocks is not biased by replicated edge pixels; for multiples it is the
paper's block average bit for bit.
"""

from __future__ import annotations

import threading

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

from facewarp.core import memory

from ._dispatch import (
    FASTMATH,
    border_code,
    cpu_threads,
    cuda_function,
    grid_1d,
    parallel_row_tasks,
    parallel_tasks,
    task_rows,
    use_cuda,
)
from .sampling import (
    BINOMIAL8,
    _axis_tables,
    antialiased_downsample,
    area_downsample,
    axis_segments,
    gather_row,
    prep_row,
    reduce_octave,
    reduce_octave_device,
    reduce_rows,
    upsample_row,
)

_V4 = ir.VectorType(ir.FloatType(), 4)


@intrinsic
def _up2_rgb_pair(typingctx, src, s, dst, o):
    """``dst[o : o + 3]`` and ``dst[o + 3 : o + 6]`` = ``a + w * (b - a)`` for the RGB pixels
    ``a = src[s : s + 3]``, ``b = src[s + 3 : s + 6]``, ``w`` = 1/4 and 3/4: the two fine
    pixels between two coarse ones of an exact 2x up-sampling (``upsample_row``'s
    fixed-weight form) as 4-lane vector arithmetic. Lane 3 is the next pixel's first channel:
    computed and stored at ``dst[o + 3]`` (then overwritten by the second pixel) and at
    ``dst[o + 6]`` (the caller writes that float afterwards); the loads read ``src[s + 6]``.
    The flags are ``contract`` only, as the scalar form's (FASTMATH has no ``reassoc``), so
    the multiply-add fuses alike: the same values bit for bit. numba leaves the scalar form
    of this interleaved loop unvectorised (~1 cycle a float)."""
    def flat(a):
        return isinstance(a, types.Array) and a.dtype == types.float32 and a.ndim == 1 and a.layout == "C"

    if not (flat(src) and flat(dst) and isinstance(s, types.Integer) and isinstance(o, types.Integer)):
        return None

    def codegen(context, builder, sig, args):
        sa, s_, da, o_ = args
        st = sig.args
        sp = context.make_array(st[0])(context, builder, sa).data
        dp = context.make_array(st[2])(context, builder, da).data
        s_v = context.cast(builder, s_, st[1], types.intp)
        o_v = context.cast(builder, o_, st[3], types.intp)
        intp = context.get_value_type(types.intp)
        flags = ("contract",)

        def ptr(base, k, off):
            return builder.bitcast(builder.gep(base, [builder.add(k, ir.Constant(intp, off))]), _V4.as_pointer())

        a = builder.load(ptr(sp, s_v, 0), align=4)
        b = builder.load(ptr(sp, s_v, 3), align=4)
        d = builder.fsub(b, a, flags=flags)
        for off, w in ((0, 0.25), (3, 0.75)):
            v = builder.fadd(a, builder.fmul(ir.Constant(_V4, [w] * 4), d, flags=flags), flags=flags)
            builder.store(v, ptr(dp, o_v, off), align=4)
        return context.get_dummy_value()

    return types.none(src, s, dst, o), codegen


@njit(fastmath=FASTMATH, cache=True)
def _upsample_row(src, ns, dst, nd, nc, seg, t):
    """``sampling.upsample_row``, the same values bit for bit, with its exact 2x RGB case (the
    coarser result into every pyramid octave's output row) in vector form
    (:func:`_up2_rgb_pair`); anything else is ``upsample_row`` itself."""
    if nc == 3 and nd == 2 * ns and ns > 2:
        for k in range(3):
            dst[k] = src[k]  # fine 0 sits left of coarse 0's centre: clamped
        for v in range(ns - 2):  # fine 2v+1 = coarse v + 1/4, fine 2v+2 = coarse v + 3/4
            _up2_rgb_pair(src, 3 * v, dst, 3 + 6 * v)
        # the last pair in scalar form (the vector loads would read one float past src)
        v = ns - 2
        for k in range(3):
            a = src[v * 3 + k]
            d = src[(v + 1) * 3 + k] - a
            dst[3 + 6 * v + k] = a + np.float32(0.25) * d
            dst[6 + 6 * v + k] = a + np.float32(0.75) * d
        for k in range(3):
            dst[(nd - 1) * 3 + k] = src[(ns - 1) * 3 + k]
        return
    upsample_row(src, ns, dst, nd, nc, seg, t)


@njit(fastmath=FASTMATH, cache=True)
def _residual_row(Pr, Or, row, wl, W, nc, seg, tx):
    _upsample_row(row, wl, Or, W, nc, seg, tx)
    for q in range(W * nc):
        Or[q] = Pr[q] - Or[q]


@njit(fastmath=FASTMATH, cache=True)
def _residual_fine_row(i, P, O, L, wl, W, C, y0, y1, ty, seg, tx, row):
    """Fine row ``i`` of ``plate - up(low)``; ``row`` (wl * C) is work space."""
    l0 = L[y0[i]]
    l1 = L[y1[i]]
    a = ty[i]
    for q in range(wl * C):  # the two low-res rows blended once for this output row
        row[q] = l0[q] + a * (l1[q] - l0[q])
    if C == 3:  # a literal channel count lets LLVM unroll and vectorise the channel loops
        _residual_row(P[i], O[i], row, wl, W, 3, seg, tx)
    else:
        _residual_row(P[i], O[i], row, wl, W, C, seg, tx)


@njit(cache=True)
def _residual_tables(H, W, hl, wl):
    x0, _, tx = _axis_tables(W, wl, np.float32(wl / W))
    y0, y1, ty = _axis_tables(H, hl, np.float32(hl / H))
    return y0, y1, ty, axis_segments(x0, wl), tx


@njit(fastmath=FASTMATH, cache=True, nogil=True)
def _residual_tasks(t0, t1, plate, low, out):
    H, W, C = plate.shape
    hl, wl = low.shape[0], low.shape[1]
    y0, y1, ty, seg, tx = _residual_tables(H, W, hl, wl)
    P, O, L = plate.reshape(H, W * C), out.reshape(H, W * C), low.reshape(hl, wl * C)
    row = np.empty(wl * C, np.float32)
    for t in range(t0, t1):
        for i in task_rows(t, H):
            _residual_fine_row(i, P, O, L, wl, W, C, y0, y1, ty, seg, tx, row)


def _residual_cpu(plate, low, out):
    parallel_row_tasks(_residual_tasks, plate.shape[0], plate, low, out)


@njit(fastmath=FASTMATH, cache=True, nogil=True)
def _reduce_residual_bands(b0, b1, plate, kern, band, low, out):
    H, W, C = plate.shape
    hl, wl = low.shape[0], low.shape[1]
    y0, y1, ty, seg, tx = _residual_tables(H, W, hl, wl)
    P, O, L = plate.reshape(H, W * C), out.reshape(H, W * C), low.reshape(hl, wl * C)
    acc = np.empty(W * C, np.float32)
    acc2 = np.empty(W * C, np.float32)
    ev = np.empty((wl + 4) * C, np.float32)
    od = np.empty((wl + 4) * C, np.float32)
    row = np.empty(wl * C, np.float32)
    for b in range(b0, b1):
        u0 = b * band
        u1 = min(hl, u0 + band)
        for u in range(u0, u1, 2):
            reduce_rows(P, H, W, C, u, min(2, u1 - u), kern, acc, acc2, ev, od, L)
        # the fine rows whose two coarse rows (y0, y1: the up-sampling's, even when its
        # weight is 0) both lie in this band
        for i in range(max(0, 2 * u0 - 2), min(H, 2 * u1 + 2)):
            if y0[i] >= u0 and y1[i] < u1:
                _residual_fine_row(i, P, O, L, wl, W, C, y0, y1, ty, seg, tx, row)


@njit(fastmath=FASTMATH, cache=True, nogil=True)
def _reduce_residual_seams(b0, b1, plate, band, low, out):
    H, W, C = plate.shape
    hl, wl = low.shape[0], low.shape[1]
    y0, y1, ty, seg, tx = _residual_tables(H, W, hl, wl)
    P, O, L = plate.reshape(H, W * C), out.reshape(H, W * C), low.reshape(hl, wl * C)
    row = np.empty(wl * C, np.float32)
    for b in range(b0, b1):  # the fine rows that straddle the seam between bands b and b + 1
        u1 = (b + 1) * band
        for i in range(max(0, 2 * u1 - 4), min(H, 2 * u1 + 4)):
            if y0[i] < u1 <= y1[i]:
                _residual_fine_row(i, P, O, L, wl, W, C, y0, y1, ty, seg, tx, row)


def _reduce_residual_cpu(plate, kern, band, low, out):
    """``low`` = REDUCE(plate) and ``out`` = plate - up(low) in one streaming pass: each task
    reduces a band of ``band`` coarse rows, then (while the plate rows it read are still in
    cache) writes the fine residual rows that need only those coarse rows; the rows that
    straddle a band seam (two per seam) are written in a second, short pass. The same row
    functions as ``reduce_octave`` and ``residual``: bit-identical to them."""
    nb = -(-low.shape[0] // band)
    parallel_tasks(_reduce_residual_bands, nb, plate, kern, band, low, out)
    parallel_tasks(_reduce_residual_seams, nb - 1, plate, band, low, out)


@njit(fastmath=FASTMATH, cache=True)
def _positions_row(fi, Fr, wf, fseg, ftx, W, H, nc, U, qxs, qys, idx, wx, wy):
    """Sample positions, tap offsets and weights of one output row: ``upsample_row`` of the
    row-blended field (its generic two-tap form) into two planar rows ``U[:W]``, ``U[W:]``
    (x, y), then ONE pass for ``+ (j, i)`` and ``prep_row`` - the same expressions in the same
    order, so the same values bit for bit, with one pass over the row fewer and every loop
    vectorised (the interleaved ``U`` and the separate passes cost ~40 % of the 4K warp-add).
    The float -> integer conversions go through int32 (AVX2 converts float32 to int32 in
    vector form, not to int64; prep_row's int64 ones run scalar): exact wherever the offset
    is used, where the footprint is inside the source (``ok``); the bounds compare in float32,
    exactly as prep_row's float64 compare for sides below 2^24 pixels (the caller keeps the
    three-pass form otherwise)."""
    ux = U[:W]
    uy = U[W:]
    for c in range(wf):  # per coarse cell the two taps are loop constants
        s0 = fseg[c]
        n = fseg[c + 1] - s0
        if n <= 0:
            continue
        c1 = min(c + 1, wf - 1)
        ax = Fr[2 * c]
        ay = Fr[2 * c + 1]
        dx = Fr[2 * c1] - ax
        dy = Fr[2 * c1 + 1] - ay
        tt = ftx[s0:]
        ox = ux[s0:]
        oy = uy[s0:]
        for jj in range(n):
            w = tt[jj]
            ox[jj] = ax + w * dx
            oy[jj] = ay + w * dy
    rs = np.int32(W * nc)
    c32 = np.int32(nc)
    zero = np.float32(0)
    xmax = np.float32(W - 1)
    ymax = np.float32(H - 1)
    for j in range(W):
        qx = np.float32(j) + ux[j]  # (j + 0.5) + dx - 0.5
        qy = fi + uy[j]
        qxs[j] = qx
        qys[j] = qy
        fx = np.floor(qx)
        fy = np.floor(qy)
        wx[j] = qx - fx
        wy[j] = qy - fy
        ok = (fx >= zero) & (fx < xmax) & (fy >= zero) & (fy < ymax)  # False for NaN
        idx[j] = np.int64(np.int32(fy) * rs + np.int32(fx) * c32) if ok else -1


@njit(fastmath=FASTMATH, cache=True)
def _reswarp_add_row(i, P, Fr, Br, O, H, W, nc, mode, wf, fseg, ftx, wb, bseg, btx, U, qxs, qys, idx, wx, wy):
    fi = np.float32(i)
    # 1) sample positions: the (row-blended) field up-sampled along the row, plus the pixel
    # (_positions_row, one pass; the three-pass form for an exact 2x field - upsample_row's
    # fixed-weight form, whose values differ from the generic form's for non-finite fields -
    # and for frames where _positions_row's int32 / float32 shortcuts would not be exact)
    if (W == 2 * wf and wf > 1) or H * W * nc >= 2 ** 31 or W >= 2 ** 24 or H >= 2 ** 24:
        upsample_row(Fr, wf, U, W, 2, fseg, ftx)
        for j in range(W):
            qxs[j] = np.float32(j) + U[2 * j]  # (j + 0.5) + dx - 0.5
            qys[j] = fi + U[2 * j + 1]
        prep_row(qxs, qys, W, W, H, nc, idx, wx, wy)
    else:
        _positions_row(fi, Fr, wf, fseg, ftx, W, H, nc, U, qxs, qys, idx, wx, wy)
    # 2) up-sampled base into the output row
    ob = i * W * nc
    _upsample_row(Br, wb, O[ob:ob + W * nc], W, nc, bseg, btx)
    # 3) bilinear residual sample added in place (non-finite positions add nothing)
    gather_row(P, W, H, nc, mode, qxs, qys, idx, wx, wy, W, O, ob, True)


@njit(fastmath=FASTMATH, cache=True)
def _reswarp_add_rows(t0, t1, residual, base, field, fsx, fsy, mode, out, C):
    H, W = residual.shape[0], residual.shape[1]
    hb, wb = base.shape[0], base.shape[1]
    hf, wf = field.shape[0], field.shape[1]
    fx0, _, ftx = _axis_tables(W, wf, np.float32(wf / W))
    fy0, fy1, fty = _axis_tables(H, hf, np.float32(hf / H))
    bx0, _, btx = _axis_tables(W, wb, np.float32(wb / W))
    by0, by1, bty = _axis_tables(H, hb, np.float32(hb / H))
    fseg = axis_segments(fx0, wf)
    bseg = axis_segments(bx0, wb)
    P = residual.reshape(-1)
    O = out.reshape(-1)
    B = base.reshape(hb, wb * C)
    Fr = np.empty(wf * 2, np.float32)  # work rows allocated once per chunk of tasks
    Br = np.empty(wb * C, np.float32)
    U = np.empty(W * 2, np.float32)
    qxs = np.empty(W, np.float32)
    qys = np.empty(W, np.float32)
    idx = np.empty(W, np.int64)
    wx = np.empty(W, np.float32)
    wy = np.empty(W, np.float32)
    for t in range(t0, t1):
        for i in task_rows(t, H):
            # blend the two coarse rows once per output row (field scaled to plate pixels)
            a = fty[i]
            r0 = fy0[i]
            r1 = fy1[i]
            for c in range(wf):
                Fr[2 * c] = (field[r0, c, 0] + a * (field[r1, c, 0] - field[r0, c, 0])) * fsx
                Fr[2 * c + 1] = (field[r0, c, 1] + a * (field[r1, c, 1] - field[r0, c, 1])) * fsy
            a = bty[i]
            b0 = B[by0[i]]
            b1 = B[by1[i]]
            for q in range(wb * C):
                Br[q] = b0[q] + a * (b1[q] - b0[q])
            # C: a literal 3 from the RGB entry lets LLVM unroll the channel loops
            _reswarp_add_row(i, P, Fr, Br, O, H, W, C, mode, wf, fseg, ftx, wb, bseg, btx, U, qxs, qys, idx, wx, wy)


# Two entry points each (RGB with literal counts, and any other), compiled only when first used:
# one function with both branches compiled both, and all they call, in every process.
@njit(fastmath=FASTMATH, cache=True, nogil=True)
def _reswarp_add_tasks_rgb(t0, t1, residual, base, field, fsx, fsy, mode, out):
    _reswarp_add_rows(t0, t1, residual, base, field, fsx, fsy, mode, out, 3)


@njit(fastmath=FASTMATH, cache=True, nogil=True)
def _reswarp_add_tasks(t0, t1, residual, base, field, fsx, fsy, mode, out):
    _reswarp_add_rows(t0, t1, residual, base, field, fsx, fsy, mode, out, residual.shape[2])


def _reswarp_add_cpu(residual, base, field, fsx, fsy, mode, out):
    fn = _reswarp_add_tasks_rgb if residual.shape[2] == 3 else _reswarp_add_tasks
    parallel_row_tasks(fn, residual.shape[0], residual, base, field, fsx, fsy, mode, out)


def _c(a, ndim=3):
    a = np.asarray(a, dtype=np.float32)
    if a.ndim == 2 and ndim == 3:
        a = a[..., None]
    return np.ascontiguousarray(a)


def residual(plate, low, device: str = "auto", out: np.ndarray | None = None) -> np.ndarray:
    """``R = plate - up(low)`` (bilinear up-sampling, pixel centres aligned). ``out``: an
    optional C-contiguous float32 buffer of the plate's shape to write into (CPU)."""
    plate, low = _c(plate), _c(low)
    _check_coarse("low", low, plate)
    if use_cuda(device):
        return _residual_cuda(plate, low)
    out = _out_buffer(out, plate.shape)
    with cpu_threads(plate.shape[0] * plate.shape[1]):
        _residual_cpu(plate, low, out)
    return out


def _out_buffer(buf: np.ndarray | None, shape) -> np.ndarray:
    """``buf`` when it can be written by the CPU kernels as an array of ``shape`` (C-contiguous
    float32 of that shape), else a fresh array."""
    if buf is None or buf.shape != tuple(shape) or buf.dtype != np.float32 or not buf.flags.c_contiguous:
        return np.empty(shape, np.float32)
    return buf


_scratch = threading.local()
_scratch_all: list[dict] = []  # every thread's buffers, so that free_memory() reaches them all
_scratch_lock = threading.Lock()


def _release_all_scratch() -> None:
    with _scratch_lock:
        for bufs in _scratch_all:
            bufs.clear()


memory.register("ResWarp scratch buffers", _release_all_scratch)


def _scratch_buffer(shape, tag: str = "residual") -> np.ndarray:
    """A per-thread float32 work buffer reused across calls (saves the page faults of a
    fresh 100 MB allocation per 4K frame; at most one buffer per tag and level size is
    kept: ~200 MB for a 4K RGB multiscale ResWarp, ~100 MB for vanilla; see
    :func:`release_scratch`)."""
    bufs = getattr(_scratch, "bufs", None)
    if bufs is None:
        bufs = _scratch.bufs = {}
        with _scratch_lock:
            _scratch_all.append(bufs)
    buf = bufs.get((tag, shape))
    if buf is None:
        if len(bufs) > 16:
            bufs.clear()
        buf = bufs[(tag, shape)] = np.empty(shape, np.float32)
    return buf


def release_scratch() -> int:
    """Free the calling thread's ResWarp work buffers; returns the bytes released. The next
    ResWarp call allocates them again. ``facewarp.core.memory.free_memory()`` frees every
    thread's (and every other cache)."""
    bufs = getattr(_scratch, "bufs", None) or {}
    n = sum(b.nbytes for b in bufs.values())
    bufs.clear()
    return n


def reswarp_add(residual_hd, base, field, border: str = "clamp", device: str = "auto",
                out: np.ndarray | None = None) -> np.ndarray:
    """The fused ResWarp pass: ``out(p) = up(base)(p) + R(p + s * up(field)(p))``, one pass.

    ``base`` (the coarser result) and ``field`` (a backward displacement in pixels of its own
    grid, any size) are bilinearly up-sampled inline; ``s`` rescales the field's values to
    plate pixels. Residual samples outside the frame follow ``border`` (``zero``: none).
    ``out``: an optional C-contiguous float32 buffer of the plate's shape to write into (CPU).
    """
    residual_hd, base, field = _c(residual_hd), _c(base), _c(field)
    H, W, C = residual_hd.shape
    _check_coarse("base", base, residual_hd)
    if field.shape[2] != 2:
        raise ValueError(f"field must be h x w x 2, got {field.shape}")
    mode = border_code(border)
    if use_cuda(device):
        return _reswarp_add_cuda(residual_hd, base, field, mode)
    fsx = np.float32(W / field.shape[1])
    fsy = np.float32(H / field.shape[0])
    out = _out_buffer(out, residual_hd.shape)
    with cpu_threads(H * W):
        _reswarp_add_cpu(residual_hd, base, field, fsx, fsy, mode, out)
    return out


def _check_coarse(name, a, plate):
    if a.shape[2] != plate.shape[2]:
        raise ValueError(f"{name} has {a.shape[2]} channels, the plate has {plate.shape[2]}")
    if a.shape[0] > plate.shape[0] or a.shape[1] > plate.shape[1]:
        raise ValueError(f"{name} ({a.shape[1]}x{a.shape[0]}) must not be larger than the plate "
                         f"({plate.shape[1]}x{plate.shape[0]})")


def pyramid_sizes(width: int, height: int, low_w: int, low_h: int, multiscale: bool) -> list[tuple[int, int]]:
    """Sizes (w, h) of G_0 (the plate) .. G_last (the low-res grid).

    Multiscale: halve the plate (exact 2 x 2 block averages) while both halves stay at least
    twice the low-res grid, then one more (area-averaged) octave while it still halves, then
    the low-res grid - the paper's layout for plates that are low-res x 2^n, and the cheapest
    one for others. (Putting the octaves on the low-res grid x 2^k instead - one odd-ratio
    step at the top - measured 0.2-0.3 dB better at 4K but ~1.6x slower: a 2048^2 level for a
    3840 x 2160 plate.)"""
    sizes = [(width, height)]
    if multiscale:
        w, h = width, height
        while w % 2 == 0 and h % 2 == 0 and w // 2 >= 2 * low_w and h // 2 >= 2 * low_h:
            w, h = w // 2, h // 2
            sizes.append((w, h))
        if (w, h) != (low_w, low_h) and w >= 2 * low_w and h >= 2 * low_h:
            w, h = max(low_w, round(w / 2)), max(low_h, round(h / 2))
            sizes.append((w, h))
    if sizes[-1] != (low_w, low_h):
        sizes.append((low_w, low_h))
    return sizes


def decompose(plate: np.ndarray, low_size: tuple[int, int], multiscale: bool, device: str = "auto") -> list[np.ndarray]:
    """The pyramid G_0 (the plate) .. G_last (the low-res image the generator sees).

    Vanilla (the paper): G_1 = the plate box-averaged onto the low-res grid.
    Multiscale: every exact octave is the 8-tap binomial REDUCE (``reduce_octave``), any
    other step (the last one, e.g. 240 x 135 -> 128 x 128) an anti-aliased area average.
    Deviation from the paper, which says 'neighbour averaging' (a 2 x 2 box) at every
    octave: with the box, multiscale measured 0.5-1 dB *worse* than vanilla at 4K (each
    octave aliases its band into the next, and aliases do not move with the warp); with the
    binomial pyramid (Burt & Adelson, the paper's ref. [44]) it is 4 dB better. See
    docs/geometry.md. So the generator's input (``G_last``) depends on the mode."""
    return _pyramid(_c(plate), low_size, multiscale, device, with_residuals=False)[0]


def reduce_and_residual(plate, device: str = "auto", low: np.ndarray | None = None,
                        out: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(reduce_octave(plate), residual(plate, that))`` - on the CPU in one streaming pass
    (``_reduce_residual_cpu``: the plate is read from memory once instead of twice),
    bit-identical to the two calls; on CUDA the two kernels in turn. ``low``/``out``:
    optional C-contiguous float32 buffers to write into (CPU)."""
    plate = _c(plate)
    h, w, c = plate.shape
    if h % 2 or w % 2:
        raise ValueError(f"reduce_and_residual needs even sizes, got {w}x{h}")
    if use_cuda(device):
        low = reduce_octave(plate, device=device)
        return low, residual(plate, low, device=device)
    low = _out_buffer(low, (h // 2, w // 2, c))
    out = _out_buffer(out, plate.shape)
    with cpu_threads(h * w):
        # bands of 16 coarse rows (~40 plate rows, ~1.8 MB at 4K: still in cache for the
        # residual rows); measured 11.5 ms vs 13.8 ms for the two passes at 4K
        _reduce_residual_cpu(plate, BINOMIAL8, 16, low, out)
    return low, out


def _pyramid(plate, low_size, multiscale, device, with_residuals):
    """``(levels, residuals)``: the levels of :func:`decompose`, fresh arrays; or, with
    ``with_residuals`` (the reconstruction's own pyramid), also ``R_k = G_k - up(G_k+1)`` where
    an exact octave gives it for free (each octave's REDUCE fused with its residual), else
    None. There the intermediate levels and all residuals are per-thread scratch buffers (each
    is read once, by the reconstruction that follows); the last level is always fresh."""
    h, w = plate.shape[:2]
    sizes = pyramid_sizes(w, h, low_size[0], low_size[1], multiscale)
    if not multiscale:
        return [plate, area_downsample(plate, *sizes[-1])], [None]
    levels, residuals = [plate], []
    for k, (sw, sh) in enumerate(sizes[1:], start=1):
        prev = levels[-1]
        res = None
        if prev.shape[1] != 2 * sw or prev.shape[0] != 2 * sh:
            low = antialiased_downsample(prev, sw, sh)
        elif not with_residuals:
            low = reduce_octave(prev, device=device)
        else:
            low = None if k == len(sizes) - 1 else _scratch_buffer((sh, sw, prev.shape[2]), "pyramid")
            low, res = reduce_and_residual(prev, device=device, low=low, out=_scratch_buffer(prev.shape))
        levels.append(low)
        residuals.append(res)
    return levels, residuals


def reswarp(plate, result_lr, field, *, multiscale: bool = False, border: str = "clamp", device: str = "auto",
            levels: list[np.ndarray] | None = None, return_levels: bool = False):
    """Full ResWarp: ``plate`` (H x W x C), the generator's low-res ``result_lr`` (h x w x C),
    ``field`` a backward displacement on any grid (low-res or HD) in pixels of that grid.
    ``levels`` may pass a precomputed :func:`decompose` of the plate (it only depends on
    the plate and the low-res size); without it the pyramid is built here, each octave's
    REDUCE fused with its residual. ``return_levels``: return ``(image, low)``, ``low``
    being the pyramid's last level (what :func:`decompose` would return last)."""
    plate = _c(plate)
    result_lr = _c(result_lr)
    field = _c(field)
    lh, lw = result_lr.shape[:2]
    _check_coarse("result_lr", result_lr, plate)
    if field.ndim != 3 or field.shape[2] != 2:
        raise ValueError(f"field must be h x w x 2, got {field.shape}")
    if use_cuda(device):
        out, low = _reswarp_cuda(plate, result_lr, field, multiscale, border_code(border), levels)
        return (out, low) if return_levels else out
    if levels is None:
        levels, residuals = _pyramid(plate, (lw, lh), multiscale, device, with_residuals=True)
    else:
        residuals = [None] * (len(levels) - 1)
    out = result_lr
    for k in range(len(levels) - 2, -1, -1):
        res = residuals[k]
        if res is None:
            res = residual(levels[k], levels[k + 1], device=device, out=_scratch_buffer(levels[k].shape))
        # intermediate levels go to reused buffers (each is read once, by the next finer
        # level); only the returned full-resolution image is a fresh array
        dst = _scratch_buffer(levels[k].shape, "level") if k > 0 else None
        out = reswarp_add(res, out, field, border=border, device=device, out=dst)
    return (out, levels[-1]) if return_levels else out


# --------------------------------------------------------------------------- decomposition / reconstruction
# ``reswarp`` in two steps, so that a generator can sit between them without a cycle:
# ``laplacian`` (the plate -> its residuals and the low-res image the generator takes) and
# ``reconstruct`` (the generator's low-res result + those residuals + the field -> HD).
# ``pack_pyramid`` / ``unpack_pyramid`` carry the pyramid as one image (the graph's Image port;
# the nodes ResDecompose and ResWarp's ``pyramid`` input).


def laplacian(plate, low_size: tuple[int, int], multiscale: bool, device: str = "auto",
              out0: np.ndarray | None = None):
    """``(residuals, top)``: ``R_k = G_k - up(G_k+1)`` for k = 0 .. n-1 (finest first) and
    ``top = G_n``, the low-res image the generator takes (``decompose(...)[-1]``). Fresh arrays,
    computed by the same functions as inside :func:`reswarp` (each exact octave's REDUCE fused
    with its residual), so ``reconstruct(result, residuals, field)`` equals ``reswarp(plate,
    result, field)`` bit for bit on the CPU. ``out0``: an optional C-contiguous float32 buffer
    of the plate's shape for ``R_0`` (CPU; :func:`decompose_packed` passes its mosaic's rows)."""
    plate = _c(plate)
    h, w = plate.shape[:2]
    sizes = pyramid_sizes(w, h, low_size[0], low_size[1], multiscale)
    if len(sizes) == 1:  # the plate is the low-res grid: nothing to add back
        return [], plate.copy()
    if not multiscale:
        top = area_downsample(plate, *sizes[-1])
        return [residual(plate, top, device=device, out=out0)], top
    levels, residuals = [plate], []
    for sw, sh in sizes[1:]:
        prev = levels[-1]
        out = out0 if len(levels) == 1 else None
        if prev.shape[1] == 2 * sw and prev.shape[0] == 2 * sh:
            low, res = reduce_and_residual(prev, device=device, out=out)
        else:
            low = antialiased_downsample(prev, sw, sh)
            res = residual(prev, low, device=device, out=out)
        levels.append(low)
        residuals.append(res)
    return residuals, levels[-1]


def pyramid_layout(width: int, height: int, low_w: int, low_h: int,
                   multiscale: bool) -> tuple[list[tuple[int, int, int, int]], tuple[int, int]]:
    """Where :func:`pack_pyramid` puts each level in its one-image mosaic: boxes ``(x, y, w, h)``
    for ``R_0 .. R_n-1`` then the top ``G_n`` (only the top when the plate is the low-res
    grid), and the mosaic's ``(width, height)``. ``R_0``
    (the plate's size) fills the top left; the coarser levels sit side by side in one strip
    below it (the usual Laplacian-pyramid picture: 1.5x the plate's pixels for multiscale)."""
    sizes = pyramid_sizes(width, height, low_w, low_h, multiscale)
    boxes = [(0, 0, width, height)]
    x = 0
    for sw, sh in sizes[1:]:
        boxes.append((x, height, sw, sh))
        x += sw
    if len(sizes) == 1:  # the plate is the low-res grid: the mosaic is the top alone
        return boxes, (width, height)
    return boxes, (max(width, x), height + max(sh for _, sh in sizes[1:]))


def pack_pyramid(residuals: list[np.ndarray], top: np.ndarray,
                 boxes: list[tuple[int, int, int, int]], size: tuple[int, int]) -> np.ndarray:
    """The levels in one float32 mosaic of ``size`` (w, h) at ``boxes`` (:func:`pyramid_layout`);
    pixels outside every box are 0."""
    return _pack_into(np.zeros((size[1], size[0], top.shape[2]), np.float32), residuals, top, boxes)


def _pack_into(mosaic, residuals, top, boxes):
    for (x, y, w, h), level in zip(boxes, [*residuals, top]):
        if level.shape[:2] != (h, w):
            raise ValueError(f"level {level.shape[1]}x{level.shape[0]} does not fit its box {w}x{h}")
        dst = mosaic[y:y + h, x:x + w]
        if not np.shares_memory(dst, level):  # R_0 may already be written in place
            dst[...] = level
    return mosaic


def unpack_pyramid(mosaic: np.ndarray, boxes) -> tuple[list[np.ndarray], np.ndarray]:
    """``(residuals, top)`` out of a :func:`pack_pyramid` mosaic (views where they are
    contiguous, else copies)."""
    mosaic = _c(mosaic)
    levels = []
    for x, y, w, h in boxes:
        if x < 0 or y < 0 or x + w > mosaic.shape[1] or y + h > mosaic.shape[0]:
            raise ValueError(f"box {(x, y, w, h)} lies outside the {mosaic.shape[1]}x{mosaic.shape[0]} mosaic")
        levels.append(np.ascontiguousarray(mosaic[y:y + h, x:x + w]))
    return levels[:-1], levels[-1]


def decompose_packed(plate, low_size: tuple[int, int], multiscale: bool, device: str = "auto"):
    """:func:`laplacian` packed: ``(mosaic, boxes, top)``. On the CPU ``R_0`` is written
    straight into the mosaic's rows (no copy of the largest level)."""
    plate = _c(plate)
    h, w, c = plate.shape
    boxes, (mw, mh) = pyramid_layout(w, h, low_size[0], low_size[1], multiscale)
    mosaic = np.empty((mh, mw, c), np.float32)
    mosaic[h:] = 0.0  # the strip's unused corners (the rows of R_0 are all written)
    if mw > w:
        mosaic[:h, w:] = 0.0
    out0 = mosaic[:h] if mw == w and len(boxes) > 1 else None  # C-contiguous rows
    residuals, top = laplacian(plate, low_size, multiscale, device=device, out0=out0)
    return _pack_into(mosaic, residuals, top, boxes), boxes, top


def reconstruct(result_lr, residuals: list[np.ndarray], field, border: str = "clamp",
                device: str = "auto") -> np.ndarray:
    """The reconstruction half of :func:`reswarp`: ``out_n = result_lr``, coarse to fine
    ``out_k = up(out_k+1) + warp(R_k, field at level k)``; returns ``out_0`` (``R_0``'s size).
    ``residuals`` from :func:`laplacian` (finest first); ``field`` a backward displacement on
    any grid, in pixels of that grid. No residuals (the plate was the low-res grid): the result."""
    result_lr, field = _c(result_lr), _c(field)
    residuals = [_c(r) for r in residuals]
    if not residuals:  # the plate was the low-res grid
        return result_lr.copy()
    _check_coarse("result_lr", result_lr, residuals[-1])
    if field.ndim != 3 or field.shape[2] != 2:
        raise ValueError(f"field must be h x w x 2, got {field.shape}")
    if use_cuda(device):
        import cupy as cp

        mode = border_code(border)
        d_field = cp.asarray(field)
        d_out = cp.asarray(result_lr)
        for res in reversed(residuals):
            d_out = reswarp_add_device(cp.asarray(res), d_out, d_field, mode)
        return cp.asnumpy(d_out)
    out = result_lr
    for k in range(len(residuals) - 1, -1, -1):
        dst = _scratch_buffer(residuals[k].shape, "level") if k > 0 else None
        out = reswarp_add(residuals[k], out, field, border=border, device=device, out=dst)
    return out


# --------------------------------------------------------------------------- CUDA path
# Host wrappers of the primitives (one upload, one kernel, one download) and the whole
# reconstruction on the device (``_reswarp_cuda``): chaining the host wrappers would move
# about ten full frames across the bus for a 4K multiscale ResWarp, several times the
# kernels' own time.


def _residual_cuda(plate, low):
    import cupy as cp

    return cp.asnumpy(residual_device(cp.asarray(plate), cp.asarray(low)))


def _reswarp_add_cuda(residual_hd, base, field, mode):
    import cupy as cp

    return cp.asnumpy(reswarp_add_device(cp.asarray(residual_hd), cp.asarray(base), cp.asarray(field), mode))


def residual_device(d_plate, d_low):
    """``residual`` of C-contiguous float32 CuPy arrays (H x W x C, h x w x C), on the device."""
    import cupy as cp

    H, W, C = d_plate.shape
    out = cp.empty((H, W, C), cp.float32)
    grid, block = grid_1d(H * W)
    cuda_function("reswarp", "residual_f32")(grid, block, (
        d_plate, d_low, out, np.int32(H), np.int32(W), np.int32(C), np.int32(d_low.shape[0]),
        np.int32(d_low.shape[1])))
    return out


def reswarp_add_device(d_res, d_base, d_field, mode: int):
    """``reswarp_add`` of C-contiguous float32 CuPy arrays (``mode``: ``border_code``), on the
    device; the field's values are rescaled from its grid to the residual's, as on the CPU."""
    import cupy as cp

    H, W, C = d_res.shape
    hf, wf = d_field.shape[0], d_field.shape[1]
    out = cp.empty((H, W, C), cp.float32)
    grid, block = grid_1d(H * W)
    cuda_function("reswarp", "reswarp_add_f32")(grid, block, (
        d_res, d_base, d_field, out, np.int32(H), np.int32(W), np.int32(C),
        np.int32(d_base.shape[0]), np.int32(d_base.shape[1]), np.int32(hf), np.int32(wf),
        np.float32(W / wf), np.float32(H / hf), np.int32(mode)))
    return out


def _reswarp_cuda(plate, result_lr, field, multiscale, mode, levels):
    """``reswarp`` on the device: the plate goes up once and the image comes down once; the
    pyramid, residuals and intermediate results stay on the device. Returns ``(image, low)``
    on the host. Steps without a CUDA twin run on the host on small images only: the vanilla
    box average (its input is the host plate, its output the low-res grid) and the last,
    non-octave, anti-aliased step of the multiscale pyramid (e.g. 240 x 135 -> 128 x 128)."""
    import cupy as cp

    H, W = plate.shape[:2]
    lh, lw = result_lr.shape[:2]
    if levels is not None:
        d_levels = [cp.asarray(lv) for lv in levels]
        low = levels[-1]
    else:
        sizes = pyramid_sizes(W, H, lw, lh, multiscale)
        d_levels = [cp.asarray(plate)]
        if not multiscale:
            low = area_downsample(plate, *sizes[-1])
            d_levels.append(cp.asarray(low))
        else:
            for sw, sh in sizes[1:]:
                prev = d_levels[-1]
                if prev.shape[1] == 2 * sw and prev.shape[0] == 2 * sh:
                    d_levels.append(reduce_octave_device(prev))
                else:
                    d_levels.append(cp.asarray(antialiased_downsample(cp.asnumpy(prev), sw, sh)))
            low = cp.asnumpy(d_levels[-1])
    d_field = cp.asarray(field)
    d_out = cp.asarray(result_lr)
    for k in range(len(d_levels) - 2, -1, -1):
        d_out = reswarp_add_device(residual_device(d_levels[k], d_levels[k + 1]), d_out, d_field, mode)
    return cp.asnumpy(d_out), low
