"""A Displacement as the pixels of an STMap or IDistort image, in one pass; CPU only (no CUDA
twin: it formats a node's output on the host, just before the write).

``stmap_into(field, valid, out)`` and ``idistort_into(field, valid, out)`` write channels 0, 1 of
``out`` (H x W x 3 float32) exactly as ``core.conventions.displacement_to_stmap`` /
``displacement_to_idistort`` do - the same float32 operations in the same order, so the same
bits - and channel 2 = ``valid``. The numpy forms make three strided passes over the interleaved
output, these one, in row tasks on the kernel threads (4K: 56 -> 22 ms alone; the STMapExport node
145 -> 70 ms per frame in a render).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ._dispatch import cpu_threads, parallel_row_tasks, task_rows


@njit(cache=True, nogil=True)
def _stmap_tasks(t0, t1, field, valid, su, sv, u0, v0, out):
    h, w = valid.shape
    for t in range(t0, t1):
        for i in task_rows(t, h):
            for j in range(w):
                # no fastmath: a rounded product, then a rounded sum (numpy's two operations)
                out[i, j, 0] = field[i, j, 0] * su + u0[j]
                out[i, j, 1] = field[i, j, 1] * sv + v0[i]
                out[i, j, 2] = valid[i, j]


@njit(cache=True, nogil=True)
def _idistort_tasks(t0, t1, field, valid, out):
    h, w = valid.shape
    for t in range(t0, t1):
        for i in task_rows(t, h):
            for j in range(w):
                out[i, j, 0] = field[i, j, 0]
                out[i, j, 1] = -field[i, j, 1]
                out[i, j, 2] = valid[i, j]


def _checked(field, valid, out):
    field = np.ascontiguousarray(field, np.float32)
    valid = np.ascontiguousarray(valid, np.float32)
    h, w = valid.shape
    if field.shape != (h, w, 2) or out.shape != (h, w, 3) or out.dtype != np.float32 or not out.flags.c_contiguous:
        raise ValueError(f"field {field.shape}, valid {valid.shape} and out {out.shape} {out.dtype} do not match "
                         "(H x W x 2, H x W, C-contiguous float32 H x W x 3)")
    return field, valid


def stmap_into(field: np.ndarray, valid: np.ndarray, out: np.ndarray, src_size: tuple[int, int] | None = None):
    """``out[..., :2]`` = the STMap of ``field`` (``conventions.displacement_to_stmap``, bit for
    bit), ``out[..., 2]`` = ``valid``. Returns ``out``."""
    field, valid = _checked(field, valid, out)
    h, w = valid.shape
    sw, sh = src_size if src_size is not None else (w, h)
    # the per-column and per-row terms exactly as displacement_to_stmap rounds them
    u0 = ((np.arange(w, dtype=np.float64) + 0.5) / sw).astype(np.float32)
    v0 = (1.0 - (np.arange(h, dtype=np.float64) + 0.5) / sh).astype(np.float32)
    with cpu_threads(h * w):
        parallel_row_tasks(_stmap_tasks, h, field, valid, np.float32(1.0 / sw), np.float32(-1.0 / sh), u0, v0,
                           out)
    return out


def idistort_into(field: np.ndarray, valid: np.ndarray, out: np.ndarray):
    """``out[..., :2]`` = the IDistort offsets of ``field`` (``conventions.displacement_to_idistort``),
    ``out[..., 2]`` = ``valid``. Returns ``out``."""
    field, valid = _checked(field, valid, out)
    with cpu_threads(valid.size):
        parallel_row_tasks(_idistort_tasks, valid.shape[0], field, valid, out)
    return out
