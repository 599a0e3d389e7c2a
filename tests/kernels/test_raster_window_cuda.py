"""The windowed raster on CUDA (the full-frame kernels, cropped and scaled on the host) against
the full-frame CUDA raster and the CPU twin's window; real GPU and emulated, as test_kernels_gpu."""

from __future__ import annotations

import _cuda_emulator as emu
import numpy as np
import pytest

from facewarp.kernels.raster import rasterize

_NO_EMULATOR = emu.available()


@pytest.fixture(scope="session")
def emulator_build_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("cuda_emulated_raster_window")


@pytest.fixture(autouse=True, params=[
    pytest.param("cuda", marks=pytest.mark.gpu),
    pytest.param("emulated", marks=pytest.mark.skipif(_NO_EMULATOR is not None, reason=str(_NO_EMULATOR))),
])
def backend(request, monkeypatch, emulator_build_dir):
    if request.param == "emulated":
        emu.install(monkeypatch, emulator_build_dir)
    else:
        import cupy as cp

        monkeypatch.setattr(cp, "empty", emu.poisoned(cp.empty))
    return request.param


@pytest.mark.parametrize("window", [(0, 0, 48, 36), (0, 5, 20, 36), (13, 0, 48, 17), (7, 9, 31, 25), (5, 5, 5, 9)])
def test_windowed_cuda_raster_is_the_full_frame_cropped(window):
    rng = np.random.default_rng(1)
    w, h, nv = 48, 36, 40
    xy = rng.uniform(-5, 53, (nv, 2)).astype(np.float32)
    faces = rng.integers(0, nv, (70, 3))
    depth = rng.uniform(1, 3, nv).astype(np.float32)
    attrs = rng.normal(0, 3, (nv, 3)).astype(np.float32)
    fill = rng.normal(0, 1, (6, 8, 2)).astype(np.float32)
    x0, y0, x1, y1 = window
    scale = rng.random((y1 - y0, x1 - x0), dtype=np.float32)
    kw = dict(attrs=attrs, depth=depth, cull="none", fill=fill)
    full = rasterize(xy, faces, w, h, device="cuda", **kw)
    g = rasterize(xy, faces, w, h, device="cuda", window=window, scale=scale, scaled=2, **kw)
    c = rasterize(xy, faces, w, h, device="cpu", window=window, scale=scale, scaled=2, **kw)
    box = (slice(y0, y1), slice(x0, x1))
    inside = np.zeros((h, w), bool)
    inside[box] = True
    expect = full.values[box].copy()
    expect[..., :2] *= scale[..., None]
    np.testing.assert_array_equal(g.values[box], expect)
    np.testing.assert_array_equal(g.tri_id[box], full.tri_id[box])
    np.testing.assert_array_equal(g.coverage[box], full.coverage[box])
    assert not g.values[~inside].any() and not g.coverage[~inside].any() and (g.tri_id[~inside] == -1).all()
    np.testing.assert_array_equal(g.coverage, c.coverage)
    same = g.tri_id == c.tri_id  # differences only at float32 depth ties
    assert same.mean() > 0.99
    np.testing.assert_allclose(g.values[same], c.values[same], rtol=0, atol=1e-4 * max(1.0, np.abs(c.values).max()))
