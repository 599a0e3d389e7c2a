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
from numba import njit, prange

_FAR = 1e20  # "no zero pixel in this column": larger than any squared distance in a frame


@njit(cache=True, parallel=True)
def _columns(zero, g):
    h, w = zero.shape
    for x in prange(w):
        last = -1
        for y in range(h):  # down: distance to the nearest zero above (or here)
            if zero[y, x]:
                last = y
            g[y, x] = _FAR if last < 0 else float((y - last) * (y - last))
        last = -1
        for y in range(h - 1, -1, -1):  # up: the nearest zero below, if closer
            if zero[y, x]:
                last = y
            if last >= 0:
                d = float((last - y) * (last - y))
                if d < g[y, x]:
                    g[y, x] = d


@njit(cache=True, parallel=True)
def _rows(g, out):
    h, w = g.shape
    for y in prange(h):
        f = g[y]
        v = np.empty(w, np.int64)  # parabola apexes of the lower envelope
        z = np.empty(w + 1, np.float64)  # where each parabola starts to be the lowest
        k = 0
        v[0] = 0
        z[0] = -np.inf
        z[1] = np.inf
        for q in range(1, w):
            s = ((f[q] + q * q) - (f[v[k]] + v[k] * v[k])) / (2.0 * (q - v[k]))
            while s <= z[k]:  # the new parabola hides the last one: drop it (z[0] = -inf stops this)
                k -= 1
                s = ((f[q] + q * q) - (f[v[k]] + v[k] * v[k])) / (2.0 * (q - v[k]))
            k += 1
            v[k] = q
            z[k] = s
            z[k + 1] = np.inf
        k = 0
        for q in range(w):
            while z[k + 1] < q:
                k += 1
            p = v[k]
            d2 = (q - p) * (q - p) + f[p]
            out[y, q] = np.float32(np.sqrt(d2)) if d2 < _FAR else np.float32(np.inf)


def distance_to_zero(image: np.ndarray) -> np.ndarray:
    """The exact Euclidean distance (pixels, float32) from each pixel to the nearest zero pixel of the
    2-D ``image``; ``inf`` everywhere when it has none."""
    zero = np.ascontiguousarray(np.asarray(image) == 0)
    if zero.ndim != 2:
        raise ValueError(f"distance_to_zero takes a 2-D image, got shape {zero.shape}")
    g = np.empty(zero.shape, np.float64)
    out = np.empty(zero.shape, np.float32)
    if zero.size:
        _columns(zero, g)
        _rows(g, out)
    return out
