"""Extrapolation of a field outside its coverage (DisplacementRender's documented fill).

``smooth_fill`` works on a coarse copy: push-pull (coverage-weighted pyramid averages
pulled back down) gives every uncovered pixel the average of the nearest covered region,
then a Gaussian falloff ``exp(-0.5 (d / falloff)^2)`` of the distance ``d`` to the coverage
takes it smoothly to zero. The rasteriser (``raster.rasterize(fill=...)``, CPU and CUDA)
writes the bilinearly up-sampled coarse fill into the uncovered pixels of the full-resolution
raster in its own pass (covered pixels keep their exact rasterised values, so there is no
seam at the coverage border other than the coarse fill's own approximation of the border
values).
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from numba import njit

from ._dispatch import cpu_threads, parallel_tasks


@njit(cache=True)
def _premultiply(values, weight):
    h, w, k = values.shape
    out = np.empty_like(values)
    for i in range(h):
        for j in range(w):
            for c in range(k):
                out[i, j, c] = values[i, j, c] * weight[i, j]
    return out


@njit(cache=True, nogil=True)
def _pull_level_tasks(t0, t1, vw, ww, up, out):
    h, w, k = vw.shape
    for i in range(t0, t1):  # a task is a row
        for j in range(w):
            wt = ww[i, j]
            a = min(max(wt, np.float32(0.0)), np.float32(1.0))
            inv = np.float32(1.0) / max(wt, np.float32(1e-12))
            for c in range(k):
                out[i, j, c] = a * (vw[i, j, c] * inv) + (np.float32(1.0) - a) * up[i, j, c]


def _pull_level(vw, ww, up):
    """One push-pull step down: the level's own coverage-weighted mean where it is fully
    covered, the coarser estimate ``up`` where it is empty, a blend by coverage in between.
    One fused pass (a numpy chain of the same expression cost ~10 temporaries per level)."""
    out = np.empty_like(vw)
    parallel_tasks(_pull_level_tasks, vw.shape[0], vw, ww, up, out)
    return out


def push_pull(values: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Fill where ``weight == 0`` with coverage-weighted averages from coarser levels."""
    v = np.ascontiguousarray(values, np.float32)
    w = np.ascontiguousarray(weight, np.float32)
    v = v.reshape(v.shape[0], v.shape[1], -1)
    levels = [(_premultiply(v, w), w)]
    while min(levels[-1][1].shape) > 1:
        vw, ww = levels[-1]
        h, wd = ww.shape
        nh, nw = max(1, (h + 1) // 2), max(1, (wd + 1) // 2)
        vw2 = cv2.resize(vw, (nw, nh), interpolation=cv2.INTER_AREA).reshape(nh, nw, -1)
        ww2 = cv2.resize(ww, (nw, nh), interpolation=cv2.INTER_AREA).reshape(nh, nw)
        levels.append((vw2, ww2))
    vw, ww = levels[-1]
    # the top level: its mean where anything is covered (a partial cell's mean, not blended)
    filled = np.where(ww[..., None] > 0, vw / np.maximum(ww, 1e-12)[..., None], 0).astype(np.float32)
    for vw, ww in reversed(levels[:-1]):
        h, wd = ww.shape
        up = cv2.resize(filled, (wd, h), interpolation=cv2.INTER_LINEAR).reshape(h, wd, -1)
        with cpu_threads(h * wd):
            filled = _pull_level(vw, ww, up)
    return filled.reshape(np.shape(values)) if np.ndim(values) == 2 else filled


@njit(cache=True, nogil=True)
def _falloff_tasks(t0, t1, values, covered, filled, dist, scale, falloff, out):
    h, w, k = values.shape
    half = 0.5 * scale
    for i in range(t0, t1):  # a task is a row
        for j in range(w):
            if covered[i, j]:
                for c in range(k):
                    out[i, j, c] = values[i, j, c]
                continue
            d = max(dist[i, j] * scale - half, 0.0) / falloff
            f = np.float32(math.exp(-0.5 * d * d))
            for c in range(k):
                out[i, j, c] = filled[i, j, c] * f


def _falloff(values, covered, filled, dist, scale, falloff):
    """Covered cells keep their values; the others get ``filled`` times the Gaussian of their
    distance (full-resolution pixels) from the coverage's edge."""
    out = np.empty_like(values)
    parallel_tasks(_falloff_tasks, values.shape[0], values, covered, filled, dist, scale, falloff, out)
    return out


def smooth_fill(values: np.ndarray, coverage: np.ndarray, falloff_px: float, scale: float) -> np.ndarray:
    """Coarse fill: push-pull, then Gaussian falloff with the distance (in full-resolution
    pixels, ``scale`` = full / coarse) to the covered region."""
    covered = np.asarray(coverage) > 0
    values = np.ascontiguousarray(values, np.float32)
    if not covered.any():
        return np.zeros_like(values, dtype=np.float32)
    filled = push_pull(values, covered.astype(np.float32))
    # distance from each uncovered cell centre to the nearest covered one, in coarse cells
    dist = cv2.distanceTransform((~covered).astype(np.uint8), cv2.DIST_L2, 5)  # 5x5 chamfer: the same on any thread count
    v3 = values.reshape(values.shape[0], values.shape[1], -1)
    with cpu_threads(covered.size):
        out = _falloff(v3, covered, filled.reshape(v3.shape), dist, float(scale), max(float(falloff_px), 1e-6))
    return out.reshape(values.shape)
