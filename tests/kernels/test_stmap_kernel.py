"""kernels.stmap: the one-pass STMap / IDistort writers equal the conventions' numpy formulas bit
for bit (the conventions module is the definition; the kernel is only faster)."""

from __future__ import annotations

import numpy as np
import pytest

from facewarp.core.conventions import displacement_to_idistort, displacement_to_stmap
from facewarp.kernels.stmap import idistort_into, stmap_into


def _field(h, w, seed):
    rng = np.random.default_rng(seed)
    f = (rng.standard_normal((h, w, 2)) * rng.choice([0.0, 0.3, 40.0, 3e5], (h, w, 1))).astype(np.float32)
    f[0, 0] = np.nan
    f[1, 2, 1] = np.inf
    f[2, 1, 0] = -np.inf
    f[3, 3] = -0.0
    return f, rng.random((h, w)).astype(np.float32)


@pytest.mark.parametrize("shape", [(4, 4), (7, 5), (600, 904)])  # the last: the threaded path
@pytest.mark.parametrize("src_size", [None, (3840, 2160), (13, 1)])
def test_stmap_into_is_the_conventions_formula_bit_for_bit(shape, src_size):
    field, valid = _field(*shape, seed=shape[0])
    out = np.full((*shape, 3), 7.0, np.float32)
    stmap_into(field, valid, out, src_size)
    ref = displacement_to_stmap(field, src_size)
    assert out[..., :2].tobytes() == ref.tobytes()
    assert out[..., 2].tobytes() == valid.tobytes()


def test_idistort_into_is_the_conventions_formula_bit_for_bit():
    field, valid = _field(600, 904, seed=3)
    out = np.full((600, 904, 3), 7.0, np.float32)
    idistort_into(field, valid, out)
    assert out[..., :2].tobytes() == displacement_to_idistort(field).tobytes()
    assert out[..., 2].tobytes() == valid.tobytes()


def test_mismatched_shapes_are_refused():
    field, valid = _field(6, 5, seed=1)
    with pytest.raises(ValueError, match="do not match"):
        stmap_into(field, valid, np.empty((6, 5, 2), np.float32))
    with pytest.raises(ValueError, match="do not match"):
        idistort_into(field[:5], valid, np.empty((6, 5, 3), np.float32))
