"""Exact Euclidean distance transform, CPU only (no CUDA twin: the callers - the face region, the
crop's blend mask, the fill's fall-off - run on the CPU around small boxes).

``distance_to_zero(image)``: for every pixel, the distance from its centre to the nearest centre of a
zero pixel (``inf`` when there is none), float32. Felzenszwalb & Huttenlocher's two-pass lower
envelope of parabolas on integer squared distances, then one correctly rounded ``sqrt``: the same
values on every machine and thread count. Not ``cv2.distanceTransform(DIST_MASK_PRECISE)``, which
computes the same thing but whose last bit changed with OpenCV's thread count and from call to call
(measured: the face region's matte moved by up to 2.4e-7), so a farm's chunks rendered on other
machines differed from one render of the shot.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ._dispatch import cpu_threads, parallel_tasks

COLUMNS_PER_TASK = 256  # the column pass walks a block of columns row by row (cache lines, not strides)


@njit(cache=True, nogil=True)
def _columns(b0, b1, zero, g, far):
    """``g`` = squared distance to the nearest zero in the same column (``far``: none), as
    integers (int32 for images below 46341 px a side: half the memory traffic of float64);
    blocks of columns ``[b0, b1)``."""
    h, w = zero.shape
    for b in range(b0, b1):
        c0 = b * COLUMNS_PER_TASK
        n = min(w, c0 + COLUMNS_PER_TASK) - c0
        last = np.full(n, -1, g.dtype)
        for y in range(h):  # down: the nearest zero above (or here); branch-free, so it vectorises
            zr = zero[y, c0:c0 + n]
            gr = g[y, c0:c0 + n]
            yy = g.dtype.type(y)
            for x in range(n):
                k = yy if zr[x] else last[x]
                last[x] = k
                gr[x] = far if k < 0 else (yy - k) * (yy - k)
        last[:] = -1
        for y in range(h - 1, -1, -1):  # up: the nearest zero below, if closer
            zr = zero[y, c0:c0 + n]
            gr = g[y, c0:c0 + n]
            yy = g.dtype.type(y)
            for x in range(n):
                k = yy if zr[x] else last[x]
                last[x] = k
                gr[x] = min(gr[x], (k - yy) * (k - yy)) if k >= 0 else gr[x]


@njit(cache=True, nogil=True)
def _rows(y0, y1, g, far, out):
    h, w = g.shape
    v = np.empty(w, np.int64)  # parabola apexes of the lower envelope
    z = np.empty(w + 1, np.float64)  # where each parabola starts to be the lowest
    for y in range(y0, y1):
        f = g[y]
        # columns without a zero (f = far) are left out: such a parabola is never the lowest
        # where any other exists (every finite one is below w^2 across the row)
        k = -1
        for q in range(w):
            if f[q] >= far:
                continue
            if k < 0:
                k = 0
                v[0] = q
                z[0] = -np.inf
                z[1] = np.inf
                continue
            s = ((f[q] + q * q) - (f[v[k]] + v[k] * v[k])) / (2.0 * (q - v[k]))
            while s <= z[k]:  # the new parabola hides the last one: drop it (z[0] = -inf stops this)
                k -= 1
                s = ((f[q] + q * q) - (f[v[k]] + v[k] * v[k])) / (2.0 * (q - v[k]))
            k += 1
            v[k] = q
            z[k] = s
            z[k + 1] = np.inf
        if k < 0:  # no zero pixel in the whole image
            for q in range(w):
                out[y, q] = np.float32(np.inf)
            continue
        k = 0
        for q in range(w):
            while z[k + 1] < q:
                k += 1
            p = v[k]
            d2 = (q - p) * (q - p) + f[p]
            out[y, q] = np.float32(np.sqrt(d2))


def distance_to_zero(image: np.ndarray) -> np.ndarray:
    """The exact Euclidean distance (pixels, float32) from each pixel to the nearest zero pixel of the
    2-D ``image``; ``inf`` everywhere when it has none."""
    zero = np.ascontiguousarray(np.asarray(image) == 0)
    if zero.ndim != 2:
        raise ValueError(f"distance_to_zero takes a 2-D image, got shape {zero.shape}")
    # integer squared distances: exact in float64 below 2^53, so the envelope's arithmetic is exact
    itype = np.int32 if max(zero.shape) < 46341 else np.int64
    far = np.iinfo(itype).max
    g = np.empty(zero.shape, itype)
    out = np.empty(zero.shape, np.float32)
    if zero.size:
        with cpu_threads(zero.size):  # a face box at 1080p: one thread (no wake-up of the pool)
            parallel_tasks(_columns, -(-zero.shape[1] // COLUMNS_PER_TASK), zero, g, itype(far))
            parallel_tasks(_rows, zero.shape[0], g, itype(far), out)
    return out
