"""GPU parity: each CUDA kernel against its CPU twin (<= 1e-4 relative) on random inputs,
with every device output buffer poisoned (NaN / sentinel) so unwritten elements show up.

Every test runs twice:
- ``cuda``: CuPy on a real GPU (``@pytest.mark.gpu``; skipped without one by conftest -
  run them on the device machine with ``pytest -m gpu``);
- ``emulated``: the same ``.cu`` sources compiled as host C++ and run thread by thread
  (``_cuda_emulator``), so a CPU-only CI checks the kernels' indexing, borders and logic. It
  cannot see races, the memory model or the device's floating point."""

from __future__ import annotations

import _cuda_emulator as emu
import numpy as np
import pytest

from facewarp.kernels import reswarp as rw
from facewarp.kernels.raster import rasterize
from facewarp.kernels.sampling import reduce_octave, warp_bilinear
from facewarp.kernels.triwarp import triangle_field, triangle_warp, triangle_warp_confined

_NO_EMULATOR = emu.available()


@pytest.fixture(scope="session")
def emulator_build_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("cuda_emulated")


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


def close(gpu, cpu, rel=1e-4):
    assert gpu.shape == cpu.shape
    assert np.isfinite(gpu).all() == np.isfinite(cpu).all()
    scale = max(1.0, float(np.nanmax(np.abs(cpu))))
    assert np.nanmax(np.abs(gpu - cpu)) <= rel * scale


@pytest.mark.parametrize("border", ["clamp", "zero", "reflect"])
def test_warp_parity(border):
    rng = np.random.default_rng(0)
    src = rng.random((70, 90, 3), dtype=np.float32)
    field = rng.normal(0, 30, (50, 60, 2)).astype(np.float32)
    close(warp_bilinear(src, field, border, device="cuda"), warp_bilinear(src, field, border, device="cpu"))


@pytest.mark.parametrize("shape", [(2, 2, 1), (14, 10, 3), (216, 384, 3), (64, 96, 4)])
def test_reduce_octave_parity(shape):
    # includes sizes smaller than the 8-tap footprint (mirroring more than once)
    x = np.random.default_rng(shape[0]).random(shape, dtype=np.float32)
    close(reduce_octave(x, device="cuda"), reduce_octave(x, device="cpu"))


def test_multiscale_pyramid_parity():
    plate = np.random.default_rng(5).random((540, 960, 3), dtype=np.float32)
    for g, c in zip(rw.decompose(plate, (64, 64), True, device="cuda"), rw.decompose(plate, (64, 64), True, device="cpu")):
        close(g, c)


@pytest.mark.parametrize("border", ["clamp", "zero", "reflect"])
@pytest.mark.parametrize("channels", [1, 3, 4])
def test_reswarp_parity(border, channels):
    rng = np.random.default_rng(1)
    plate = rng.random((213, 317, channels), dtype=np.float32)
    result = rng.random((32, 32, channels), dtype=np.float32)
    field = rng.normal(0, 3, (32, 32, 2)).astype(np.float32)
    for ms in (False, True):
        g = rw.reswarp(plate, result, field, multiscale=ms, border=border, device="cuda")
        c = rw.reswarp(plate, result, field, multiscale=ms, border=border, device="cpu")
        close(g, c)
    close(rw.residual(plate, result, device="cuda"), rw.residual(plate, result, device="cpu"))


@pytest.mark.parametrize("multiscale", [False, True])
def test_reswarp_on_the_device_moves_each_full_frame_once(multiscale, monkeypatch):
    # the plate goes up once and the image comes down once; the pyramid, the residuals and
    # the intermediate results stay on the device (chained host calls moved ~10 frames)
    import cupy as cp

    plate = np.random.default_rng(6).random((216, 384, 3), dtype=np.float32)
    result = np.random.default_rng(7).random((24, 24, 3), dtype=np.float32)
    field = np.random.default_rng(8).normal(0, 2, (24, 24, 2)).astype(np.float32)
    moved = {"up": 0, "down": 0}

    def counting(fn, key):
        def wrapped(a, *args, **kwargs):
            if np.size(a) >= plate.size:
                moved[key] += 1
            return fn(a, *args, **kwargs)
        return wrapped

    monkeypatch.setattr(cp, "asarray", counting(cp.asarray, "up"))
    monkeypatch.setattr(cp, "asnumpy", counting(cp.asnumpy, "down"))
    out, low = rw.reswarp(plate, result, field, multiscale=multiscale, device="cuda", return_levels=True)
    assert moved == {"up": 1, "down": 1}
    ref, ref_low = rw.reswarp(plate, result, field, multiscale=multiscale, device="cpu", return_levels=True)
    close(out, ref)
    close(low, ref_low)


@pytest.mark.parametrize("seed", range(4))
def test_raster_parity(seed):
    rng = np.random.default_rng(seed)
    w, h = 200, 150
    nv = 300
    xy = rng.uniform(-20, 220, (nv, 2)).astype(np.float32)
    faces = rng.integers(0, nv, (500, 3))
    depth = rng.uniform(1, 10, nv).astype(np.float32)
    attrs = rng.normal(0, 5, (nv, 5)).astype(np.float32)
    fill = rng.normal(0, 5, (15, 20, 3)).astype(np.float32)  # up-sampled into the uncovered pixels
    for cull, fill_, nf in (("back", None, 500), ("none", None, 500), ("back", fill, 40)):  # 40: holes
        g = rasterize(xy, faces[:nf], w, h, attrs=attrs, depth=depth, cull=cull, device="cuda", fill=fill_)
        c = rasterize(xy, faces[:nf], w, h, attrs=attrs, depth=depth, cull=cull, device="cpu", fill=fill_)
        np.testing.assert_array_equal(g.tri_id >= 0, c.tri_id >= 0)
        same = g.tri_id == c.tri_id
        assert same.mean() > 0.999  # differences only at float32 depth ties
        close(g.values[same], c.values[same])
        if fill_ is not None:
            assert (c.tri_id < 0).mean() > 0.05 and np.abs(c.values[c.tri_id < 0, :3]).max() > 1  # filled holes


def test_triwarp_parity():
    from scipy.spatial import Delaunay

    rng = np.random.default_rng(3)
    img = rng.random((240, 320, 3), dtype=np.float32)
    dst = np.concatenate([rng.uniform(60, 260, (80, 2)) * [1, 0.75], [[0, 0], [320, 0], [0, 240], [320, 240]]])
    src = dst + rng.normal(0, 2, dst.shape)
    src[-4:] = dst[-4:]
    faces = Delaunay(dst).simplices
    attrs = rng.normal(0, 1, (len(dst), 2))
    g = triangle_warp(img, dst, src, faces, attrs=attrs, device="cuda")
    c = triangle_warp(img, dst, src, faces, attrs=attrs, device="cpu")
    np.testing.assert_array_equal(g[3], c[3])
    for a, b in zip(g[:3], c[:3]):
        close(a, b)
    g2 = triangle_warp(img, dst, src, faces, attrs=attrs, device="cuda", want_ids=False)
    assert g2[3] is None
    np.testing.assert_array_equal(g2[0], g[0])


def test_confined_triwarp_parity():
    # the face-region warp (field in the region's box only, times its matte; the picture
    # sampled in the box only): the CUDA path (full-frame kernels on a blank picture, cropped,
    # then the device sampler in the box) against the fused CPU kernel
    from scipy.spatial import Delaunay

    rng = np.random.default_rng(4)
    img = rng.random((240, 320, 3), dtype=np.float32)
    dst = np.concatenate([rng.uniform(100, 220, (60, 2)) * [1, 0.75], [[0, 0], [320, 0], [0, 240], [320, 240]]])
    src = dst + rng.normal(0, 2, dst.shape)
    src[-4:] = dst[-4:]
    faces = Delaunay(dst).simplices
    attrs = rng.normal(0, 1, (len(dst), 2))
    box = (70, 40, 250, 200)
    matte = rng.random((160, 180)).astype(np.float32)
    matte[:, :20] = 0  # still pixels: the plate's own on both paths
    g = triangle_warp_confined(img, dst, src, faces, box, matte, attrs=attrs, device="cuda")
    c = triangle_warp_confined(img, dst, src, faces, box, matte, attrs=attrs, device="cpu")
    np.testing.assert_array_equal(g[3], c[3])
    for a, b in zip(g[:3], c[:3]):
        close(a, b)
    outside = np.ones((240, 320), bool)
    outside[40:200, 70:250] = False
    outside[40:200, 70:90] = True
    assert np.array_equal(g[0][outside], img[outside]) and not g[1][outside].any()
    gf = triangle_field(dst, src, faces, 320, 240, attrs=attrs, window=box, device="cuda", want_ids=False)
    close(gf[0] * matte[..., None], c[1][40:200, 70:250])  # the unscaled field of the box, times the matte
    assert gf[2] is None


def test_the_gpu_benchmark_runs_end_to_end(monkeypatch, capsys):
    # the benchmark's --device cuda path (every op, the bandwidth / reconstruction / raster
    # section) on a small frame, so that a GPU session does not find its bugs
    from facewarp.benchmarks import bench_geometry as bench

    monkeypatch.setattr(bench, "W", 512)
    monkeypatch.setattr(bench, "H", 288)
    assert bench.main(["--device", "cuda", "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    for what in ("ResWarp multiscale", "DisplacementRender", "GPU reswarp_add", "GPU multiscale reconstruction",
                 "GPU raster"):
        assert what in out


def test_the_emulation_sees_a_wrong_kernel(backend, emulator_build_dir, monkeypatch):
    # the emulated run is a real check: a .cu whose border rule is off by one fails parity
    if backend != "emulated":
        pytest.skip("about the emulator")
    broken = emulator_build_dir / "broken"
    broken.mkdir(exist_ok=True)
    for f in emu.KERNELS.glob("*.cu"):
        (broken / f.name).write_text(f.read_text())
    (broken / "reduce.cu").write_text((emu.KERNELS / "reduce.cu").read_text().replace("2 * v - 3 + s", "2 * v - 2 + s"))
    monkeypatch.setattr(emu, "KERNELS", broken)
    monkeypatch.setattr(emu, "_libs", {})
    x = np.random.default_rng(0).random((16, 16, 3), dtype=np.float32)
    assert np.abs(reduce_octave(x, device="cuda") - reduce_octave(x, device="cpu")).max() > 1e-3


@pytest.mark.parametrize("window", [(0, 0, 48, 36), (0, 5, 20, 36), (13, 0, 48, 17), (7, 9, 31, 25), (5, 5, 5, 9)])
def test_windowed_cuda_raster_is_the_full_frame_cropped(window):
    """The windowed raster on CUDA (the full-frame kernels, cropped and scaled on the host) against the
    full-frame CUDA raster and the CPU twin's window."""
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
