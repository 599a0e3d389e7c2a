"""The row helpers of the fused ResWarp pass (kernels.reswarp): the vector 2x RGB up-sampler
and the one-pass sample positions give the values of the forms they replace (sampling's
upsample_row, the position loop and prep_row), bit for bit, non-finite values included."""

from __future__ import annotations

import numpy as np
import pytest
from numba import njit

from facewarp.kernels import reswarp as rw
from facewarp.kernels import sampling as sa
from facewarp.kernels._dispatch import FASTMATH


def _tables(nd, ns):
    i0, _, t = sa._axis_tables(nd, ns, np.float32(ns / nd))
    return sa.axis_segments(i0, ns), t


@pytest.mark.parametrize("ns,nd", [(2, 4), (3, 6), (4, 8), (5, 10), (960, 1920), (1920, 3840), (7, 16),
                                   (128, 3840), (1, 2), (1, 4), (5, 5)])
@pytest.mark.parametrize("nc", [1, 2, 3, 4])
def test_vector_upsample_row_is_upsample_row_bit_for_bit(ns, nd, nc):
    rng = np.random.default_rng(ns * 7 + nd + nc)
    src = (rng.standard_normal(ns * nc) * 3).astype(np.float32)
    if ns > 3:  # non-finite coarse values propagate as in the scalar form
        src[[1, nc + 2, 3 * nc]] = [np.nan, np.inf, -np.inf]
    seg, t = _tables(nd, ns)
    ref = np.full(nd * nc + 8, -7.0, np.float32)  # a guard past the row: nothing written there
    got = ref.copy()
    sa.upsample_row(src, ns, ref, nd, nc, seg, t)
    rw._upsample_row(src, ns, got, nd, nc, seg, t)
    np.testing.assert_array_equal(got, ref)
    # into a view in the middle of a larger buffer (the output rows): the neighbours untouched
    buf = np.full(3 * nd * nc, 5.0, np.float32)
    rw._upsample_row(src, ns, buf[nd * nc:2 * nd * nc], nd, nc, seg, t)
    np.testing.assert_array_equal(buf[nd * nc:2 * nd * nc], ref[:nd * nc])
    assert (buf[:nd * nc] == 5).all() and (buf[2 * nd * nc:] == 5).all()


@njit(fastmath=FASTMATH)
def _positions_three_passes(fi, Fr, wf, fseg, ftx, W, H, nc, U, qxs, qys, idx, wx, wy):
    # the form _positions_row replaces (the fused pass before it)
    sa.upsample_row(Fr, wf, U, W, 2, fseg, ftx)
    for j in range(W):
        qxs[j] = np.float32(j) + U[2 * j]
        qys[j] = fi + U[2 * j + 1]
    sa.prep_row(qxs, qys, W, W, H, nc, idx, wx, wy)


@pytest.mark.parametrize("W,H,wf", [(3840, 2160, 128), (130, 90, 17), (40, 20, 40), (33, 47, 1), (64, 64, 7)])
@pytest.mark.parametrize("nc", [1, 3, 4])
def test_positions_row_is_the_three_pass_form_bit_for_bit(W, H, wf, nc):
    rng = np.random.default_rng(W + wf + nc)
    seg, t = _tables(W, wf)
    bufs = [np.empty(2 * W, np.float32), np.empty(W, np.float32), np.empty(W, np.float32),
            np.empty(W, np.int64), np.empty(W, np.float32), np.empty(W, np.float32)]
    for i in (0, 1, H // 2, H - 2, H - 1):
        # displacements from sub-pixel to beyond the frame, and non-finite ones
        Fr = (rng.standard_normal(2 * wf) * rng.choice([0.3, 5.0, 2.0 * W])).astype(np.float32)
        if wf > 2:
            Fr[[0, 3, 2 * wf - 2]] = [np.nan, np.inf, -np.inf]
        ref = [b.copy() for b in bufs]
        got = [b.copy() for b in bufs]
        _positions_three_passes(np.float32(i), Fr, wf, seg, t, W, H, nc, *ref)
        rw._positions_row(np.float32(i), Fr, wf, seg, t, W, H, nc, *got)
        for name, a, b in zip(("qx", "qy", "idx", "wx", "wy"), got[1:], ref[1:]):
            np.testing.assert_array_equal(a, b, err_msg=f"{name}, row {i}")
