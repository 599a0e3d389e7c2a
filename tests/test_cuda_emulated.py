"""The GPU parity tests of ``test_warp_gpu.py``, run on the CPU through the host emulation of
the CUDA sources (``_cuda_emulator``): every kernel's logic against its CPU twin on a machine
without a GPU. Not a substitute for the real GPU run (no races, memory model or device float
behaviour here); it is what catches an indexing or border bug in a ``.cu`` before one is lent."""

from __future__ import annotations

import numpy as np
import pytest

import _cuda_emulator as emu

pytestmark = pytest.mark.skipif(emu.available() is not None, reason=str(emu.available()))


@pytest.fixture(scope="session")
def build_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("cuda_emulated")


@pytest.fixture
def emulated(monkeypatch, build_dir):
    emu.install(monkeypatch, build_dir)


def _gpu_tests():
    import test_warp_gpu as g

    return g


@pytest.mark.parametrize("border", ["clamp", "zero", "reflect"])
def test_warp(emulated, border):
    _gpu_tests().test_warp_parity(border)


@pytest.mark.parametrize("shape", [(2, 2, 1), (14, 10, 3), (216, 384, 3), (64, 96, 4)])
def test_reduce_octave(emulated, shape):
    _gpu_tests().test_reduce_octave_parity(shape)


def test_multiscale_pyramid(emulated):
    _gpu_tests().test_multiscale_pyramid_parity()


@pytest.mark.parametrize("border", ["clamp", "zero", "reflect"])
@pytest.mark.parametrize("channels", [1, 3, 4])
def test_reswarp(emulated, border, channels):
    _gpu_tests().test_reswarp_parity(border, channels)


@pytest.mark.parametrize("seed", range(4))
def test_raster(emulated, seed):
    _gpu_tests().test_raster_parity(seed)


def test_triwarp(emulated):
    _gpu_tests().test_triwarp_parity()


def test_the_emulator_sees_a_wrong_kernel(emulated, build_dir, monkeypatch):
    # the emulation is a real check: a .cu whose border rule is off by one fails parity
    src = (emu.KERNELS / "reduce.cu").read_text()
    broken = build_dir / "broken"
    broken.mkdir(exist_ok=True)
    for f in emu.KERNELS.glob("*.cu"):
        (broken / f.name).write_text(f.read_text())
    (broken / "reduce.cu").write_text(src.replace("2 * v - 3 + s", "2 * v - 2 + s"))
    monkeypatch.setattr(emu, "KERNELS", broken)
    monkeypatch.setattr(emu, "_libs", {})
    from facewarp.kernels.sampling import reduce_octave

    x = np.random.default_rng(0).random((16, 16, 3), dtype=np.float32)
    assert np.abs(reduce_octave(x, device="cuda") - reduce_octave(x, device="cpu")).max() > 1e-3
