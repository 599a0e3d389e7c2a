"""ResWarp in two halves (kernels.reswarp: laplacian / pack_pyramid / reconstruct): the same
result as the one-call ``reswarp``, bit for bit, for both modes and awkward sizes."""

from __future__ import annotations

import numpy as np
import pytest

from facewarp.kernels import reswarp as rw

SIZES = [((700, 700), (256, 256)), ((333, 97), (40, 12)), ((512, 512), (256, 256)), ((300, 200), (32, 32)),
         ((256, 256), (256, 256)), ((1920, 1080), (128, 128))]


@pytest.mark.parametrize("multiscale", [False, True])
@pytest.mark.parametrize("size,low", SIZES)
def test_decompose_then_reconstruct_is_reswarp_bit_for_bit(size, low, multiscale):
    rng = np.random.default_rng(size[0] * 7 + size[1])
    plate = rng.random((size[1], size[0], 3), dtype=np.float32)
    field = rng.normal(0, 2.0, (low[1], low[0], 2)).astype(np.float32)
    mosaic, boxes, top = rw.decompose_packed(plate, low, multiscale, device="cpu")
    assert mosaic.shape[:2] == rw.pyramid_layout(size[0], size[1], low[0], low[1], multiscale)[1][::-1]
    residuals, top2 = rw.unpack_pyramid(mosaic, boxes)
    assert np.array_equal(top, top2)
    assert np.array_equal(top, rw.decompose(plate, low, multiscale)[-1])  # the generator's input
    result = top + 0.02 * rng.standard_normal(top.shape).astype(np.float32)
    out = rw.reconstruct(result, residuals, field, device="cpu")
    ref = rw.reswarp(plate, result, field, multiscale=multiscale, device="cpu")
    assert out.shape == plate.shape
    assert np.array_equal(out, ref)


@pytest.mark.parametrize("multiscale", [False, True])
def test_zero_field_and_the_top_give_the_plate_back(multiscale):
    rng = np.random.default_rng(4)
    plate = rng.random((97, 333, 4), dtype=np.float32)
    residuals, top = rw.laplacian(plate, (40, 12), multiscale, device="cpu")
    out = rw.reconstruct(top, residuals, np.zeros((12, 40, 2), np.float32), device="cpu")
    assert np.abs(out - plate).max() < 2e-5


def test_pyramid_layout_boxes_do_not_overlap_and_fit():
    for (w, h), (lw, lh) in [((3840, 2160), (128, 128)), ((701, 701), (256, 256)), ((333, 97), (40, 12))]:
        boxes, (mw, mh) = rw.pyramid_layout(w, h, lw, lh, True)
        assert boxes[0] == (0, 0, w, h) and boxes[-1][2:] == (lw, lh)
        canvas = np.zeros((mh, mw), np.int32)
        for x, y, bw, bh in boxes:
            canvas[y:y + bh, x:x + bw] += 1
        assert canvas.max() == 1
        assert [b[2:] for b in boxes] == rw.pyramid_sizes(w, h, lw, lh, True)


def test_unpack_refuses_a_box_outside_the_mosaic():
    with pytest.raises(ValueError, match="outside"):
        rw.unpack_pyramid(np.zeros((10, 10, 3), np.float32), [(0, 0, 10, 10), (5, 5, 8, 8)])


@pytest.mark.parametrize("multiscale", [False, True])
def test_decompose_and_reconstruct_on_the_emulated_device_match_the_cpu(multiscale, monkeypatch, tmp_path):
    # the CUDA path (each .cu run thread by thread on the host, tests/_cuda_emulator.py)
    import _cuda_emulator as emu

    why = emu.available()
    if why is not None:
        pytest.skip(str(why))
    rng = np.random.default_rng(11)
    plate = rng.random((140, 212, 3), dtype=np.float32)
    field = rng.normal(0, 2.0, (24, 24, 2)).astype(np.float32)
    cpu_res, cpu_top = rw.laplacian(plate, (24, 24), multiscale, device="cpu")
    cpu_out = rw.reconstruct(cpu_top + 0.01, cpu_res, field, device="cpu")
    emu.install(monkeypatch, tmp_path)
    assert rw.use_cuda("cuda")
    res, top = rw.laplacian(plate, (24, 24), multiscale, device="cuda")
    out = rw.reconstruct(top + 0.01, res, field, device="cuda")
    assert len(res) == len(cpu_res)
    for a, b in zip([*res, top, out], [*cpu_res, cpu_top, cpu_out]):
        assert a.shape == b.shape and np.abs(a - b).max() <= 1e-4 * max(1.0, float(np.abs(b).max()))
