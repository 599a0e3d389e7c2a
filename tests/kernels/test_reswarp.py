"""ResWarp (ATW): exactness properties, the fused pass against an unfused composition, and
the 4K quality bar on real photos."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from facewarp.graph import Context, Displacement, Evaluator, Graph, Image, InputError, Node, NodeSchema, Output
from facewarp.kernels import reswarp as rw
from facewarp.kernels.sampling import area_downsample, resample_bilinear, resample_field, warp_bilinear


def psnr(a, b):
    return float(10 * np.log10(1.0 / np.mean((a.astype(np.float64) - b) ** 2)))


def smooth_field(w, h, amplitude_frac, seed, sigma_frac=0.1):
    """Smooth random backward field on a w x h grid, max |component| = amplitude_frac of the frame."""
    rng = np.random.default_rng(seed)
    n = cv2.GaussianBlur(rng.standard_normal((h, w, 2)).astype(np.float32), (0, 0), sigma_frac * max(w, h))
    n /= np.abs(n).max(axis=(0, 1))
    n[..., 0] *= amplitude_frac * w
    n[..., 1] *= amplitude_frac * h
    return n


@pytest.mark.parametrize("multiscale", [False, True])
@pytest.mark.parametrize("size,low", [((300, 200), (32, 32)), ((256, 256), (32, 32)), ((333, 97), (40, 12))])
def test_zero_field_and_unchanged_result_reproduce_the_plate(size, low, multiscale):
    # out = up(L) + (plate - up(L)) when nothing moves: any plate size, both variants
    rng = np.random.default_rng(0)
    plate = rng.random((size[1], size[0], 4), dtype=np.float32)
    levels = rw.decompose(plate, low, multiscale)
    out = rw.reswarp(plate, levels[-1], np.zeros((low[1], low[0], 2), np.float32), multiscale=multiscale,
                     device="cpu")
    assert out.shape == plate.shape
    assert np.abs(out - plate).max() < 2e-5


@pytest.mark.parametrize("border", ["clamp", "zero", "reflect"])
def test_fused_pass_equals_unfused_composition(border):
    rng = np.random.default_rng(1)
    H, W = 90, 130
    res = rng.standard_normal((H, W, 3)).astype(np.float32)
    base = rng.random((23, 31, 3), dtype=np.float32)
    field = rng.normal(0, 2.5, (11, 17, 2)).astype(np.float32)  # pixels of the 17 x 11 grid: large in HD
    fused = rw.reswarp_add(res, base, field, border=border, device="cpu")
    ref = resample_bilinear(base, W, H) + warp_bilinear(res, resample_field(field, W, H), border, device="cpu")
    assert np.abs(fused - ref).max() < 2e-4


def test_residual_is_plate_minus_upsampled_low():
    rng = np.random.default_rng(2)
    plate = rng.random((64, 96, 3), dtype=np.float32)
    low = area_downsample(plate, 12, 8)
    r = rw.residual(plate, low, device="cpu")
    assert np.abs(r - (plate - cv2.resize(low, (96, 64), interpolation=cv2.INTER_LINEAR))).max() < 1e-5


@pytest.mark.parametrize("size,low", [((3840, 2160), (128, 128)), ((1000, 700), (128, 72)), ((512, 512), (128, 128))])
def test_low_res_level_vanilla_is_the_block_average(size, low):
    rng = np.random.default_rng(3)
    plate = rng.random((size[1], size[0], 3), dtype=np.float32)
    direct = area_downsample(plate, *low)
    assert np.abs(rw.decompose(plate, low, False)[-1] - direct).max() < 1e-6
    # multiscale: the anti-aliased pyramid top - same mean, and on white noise much smoother
    # than the box average (the box lets the noise alias straight through)
    top = rw.decompose(plate, low, True)[-1]
    assert top.shape == direct.shape
    assert abs(float(top.mean()) - float(direct.mean())) < 2e-3
    assert top.std() < 0.8 * direct.std()


@pytest.mark.parametrize("h,w,c", [(38, 52, 3), (2, 4, 1), (6, 10, 4), (100, 64, 2), (70, 34, 3)])
def test_fused_reduce_and_residual_is_the_two_passes_bit_for_bit(h, w, c):
    from facewarp.kernels.sampling import BINOMIAL8, reduce_octave

    plate = np.random.default_rng(h * w).random((h, w, c), dtype=np.float32)
    low = reduce_octave(plate, device="cpu")
    res = rw.residual(plate, low, device="cpu")
    for band in (1, 2, 3, 16):  # seams between bands: every band size, including 1 coarse row
        lo = np.full(low.shape, np.nan, np.float32)  # poisoned: every element must be written
        out = np.full(plate.shape, np.nan, np.float32)
        rw._reduce_residual_cpu(plate, BINOMIAL8, band, lo, out)
        np.testing.assert_array_equal(lo, low)
        np.testing.assert_array_equal(out, res)
    lo, out = rw.reduce_and_residual(plate, device="cpu")
    np.testing.assert_array_equal(lo, low)
    np.testing.assert_array_equal(out, res)


@pytest.mark.parametrize("multiscale", [False, True])
@pytest.mark.parametrize("size,low", [((512, 300), (64, 64)), ((333, 97), (40, 12)), ((256, 256), (32, 32))])
def test_reswarp_builds_the_same_pyramid_as_decompose(size, low, multiscale):
    # the internal (fused, scratch-buffered) pyramid gives the result of decompose() + reswarp,
    # and what it returns is not aliased by the next call's scratch buffers
    rng = np.random.default_rng(4)
    plate = rng.random((size[1], size[0], 3), dtype=np.float32)
    field = smooth_field(*low, 0.05, seed=2)
    levels = rw.decompose(plate, low, multiscale)
    result = warp_bilinear(levels[-1], field, device="cpu")
    ref = rw.reswarp(plate, result, field, multiscale=multiscale, device="cpu", levels=levels)
    out, top = rw.reswarp(plate, result, field, multiscale=multiscale, device="cpu", return_levels=True)
    np.testing.assert_array_equal(out, ref)
    np.testing.assert_array_equal(top, levels[-1])
    kept = out.copy(), top.copy()
    rw.reswarp(plate[::-1].copy(), result, field, multiscale=multiscale, device="cpu", return_levels=True)
    np.testing.assert_array_equal(out, kept[0])
    np.testing.assert_array_equal(top, kept[1])
    # the work buffers: the residual at the plate's size at least, all freed on request
    assert rw.release_scratch() >= plate.nbytes
    assert rw.release_scratch() == 0
    np.testing.assert_array_equal(rw.reswarp(plate, result, field, multiscale=multiscale, device="cpu"), ref)


def test_pyramid_sizes():
    assert rw.pyramid_sizes(3840, 2160, 128, 128, True) == [(3840, 2160), (1920, 1080), (960, 540), (480, 270),
                                                            (240, 135), (128, 128)]
    assert rw.pyramid_sizes(3840, 2160, 128, 72, True) == [(3840, 2160), (1920, 1080), (960, 540), (480, 270),
                                                           (240, 135), (128, 72)]
    assert rw.pyramid_sizes(1024, 1024, 128, 128, True) == [(1024, 1024), (512, 512), (256, 256), (128, 128)]
    assert rw.pyramid_sizes(1000, 700, 128, 128, False) == [(1000, 700), (128, 128)]


# ------------------------------------------------------------------ 4K quality on real photos

def _load_rgb(path):
    return cv2.imread(str(path), cv2.IMREAD_COLOR)[..., ::-1].astype(np.float32) / 255.0


def _reswarp_scores(photo):
    """Up-scale the photo to a 3840 x 2160 plate, warp it with a smooth random field (3 % of
    the frame) directly at 4K (the reference), and through ResWarp from the 128^2 warp."""
    H, W = 2160, 3840
    side = cv2.resize(photo, (W, W), interpolation=cv2.INTER_CUBIC)
    plate = np.ascontiguousarray(side[(W - H) // 2:(W - H) // 2 + H])
    lw = lh = 128
    f_low = smooth_field(lw, lh, 0.03, seed=7)  # low-res grid pixels
    f_hd = resample_field(f_low, W, H)  # the same field on the HD grid (values scaled 30 x, 16.875 x)
    amp = np.abs(f_hd).max(axis=(0, 1)) / np.array([W, H])
    assert np.all(np.abs(amp - 0.03) < 0.003)
    ref = warp_bilinear(plate, f_hd, device="cpu")
    scores = {}
    for mode in ("vanilla", "multiscale"):
        # each mode's own low-res image (vanilla: the block average; multiscale: the top of
        # its pyramid), warped at 128^2: the low-res warp a generator would produce
        levels = rw.decompose(plate, (lw, lh), mode == "multiscale")
        result = warp_bilinear(levels[-1], f_low, device="cpu")
        out = rw.reswarp(plate, result, f_low, multiscale=mode == "multiscale", device="cpu", levels=levels)
        scores[mode] = psnr(out, ref)
        scores[mode + "_bicubic"] = psnr(cv2.resize(result, (W, H), interpolation=cv2.INTER_CUBIC), ref)
    # the best ANY low-res result can give vanilla: its error is up(result) - warp(up(L))
    # (bilinear warping is linear), so the optimum is the least-squares projection of
    # warp(up(L)) onto bilinear up-sampling - separable, U = U_y (x) U_x: two small solves
    low = rw.decompose(plate, (lw, lh), False)[-1]
    target = warp_bilinear(resample_bilinear(low, W, H), f_hd, device="cpu").astype(np.float64)
    proj = []
    for n_out, n_in in ((H, lh), (W, lw)):
        u = resample_bilinear(np.eye(n_in, dtype=np.float32)[None], n_out, 1)[0].astype(np.float64)
        proj.append(np.linalg.solve(u.T @ u, u.T))
    best = np.stack([proj[0] @ target[..., c] @ proj[1].T for c in range(target.shape[2])], -1).astype(np.float32)
    scores["vanilla_bound"] = psnr(rw.reswarp(plate, best, f_low, multiscale=False, device="cpu"), ref)
    return scores


@pytest.fixture(scope="module")
def portrait_scores():
    from conftest import shared_file

    return _reswarp_scores(_load_rgb(shared_file("portraits/interfaces_001.jpg")))


@pytest.fixture(scope="module")
def astronaut_scores():
    from skimage import data

    return _reswarp_scores(data.astronaut().astype(np.float32) / 255.0)


def _report(name, sc):
    print(f"{name} 4K: vanilla {sc['vanilla']:.2f} dB (bicubic of its low-res warp {sc['vanilla_bicubic']:.2f}, "
          f"bound for any low-res result {sc['vanilla_bound']:.2f}), multiscale {sc['multiscale']:.2f} dB "
          f"(bicubic {sc['multiscale_bicubic']:.2f})")


@pytest.mark.parametrize("photo", ["portrait", "astronaut"])
def test_reswarp_4k_vanilla_bound_is_an_upper_bound(photo, request):
    # the least-squares low-res result beats the 128^2 warp, and nothing the test measures
    # for vanilla exceeds it (else the bound, or vanilla, would be computed wrongly)
    sc = request.getfixturevalue(f"{photo}_scores")
    assert sc["vanilla"] <= sc["vanilla_bound"] + 1e-3
    assert sc["vanilla_bicubic"] <= sc["vanilla_bound"]


@pytest.mark.parametrize("photo", ["portrait", "astronaut"])
def test_reswarp_4k_both_modes_beat_bicubic_by_8db(photo, request):
    sc = request.getfixturevalue(f"{photo}_scores")
    _report(photo, sc)
    for mode in ("vanilla", "multiscale"):
        assert sc[mode] >= sc[mode + "_bicubic"] + 8.0
        assert sc[mode] >= sc["vanilla_bicubic"] + 8.0


@pytest.mark.parametrize("photo", ["portrait", "astronaut"])
def test_reswarp_4k_multiscale_2db_over_vanilla(photo, request):
    sc = request.getfixturevalue(f"{photo}_scores")
    assert sc["multiscale"] >= sc["vanilla"] + 2.0


def test_reswarp_4k_portrait_40db(portrait_scores):
    assert portrait_scores["vanilla"] >= 40.0
    assert portrait_scores["multiscale"] >= 40.0


@pytest.mark.xfail(reason="issue bar not met on the astronaut photo: vanilla 35.4 dB; no low-res result at all can "
                          "lift vanilla ResWarp (box + bilinear) above 38.0 dB here (the 'vanilla_bound' score) - see "
                          "docs/geometry.md (multiscale: 39.5 dB)", strict=False)
def test_reswarp_4k_astronaut_vanilla_40db(astronaut_scores):
    assert astronaut_scores["vanilla"] >= 40.0


def test_reduce_octave_matches_float64_binomial_filter():
    from facewarp.kernels.sampling import BINOMIAL8, reduce_octave

    rng = np.random.default_rng(11)
    img = rng.random((38, 52, 3)).astype(np.float64)

    def taps(n_out, n_in):  # fine taps 2v-3 .. 2v+4 of coarse pixel v, mirrored at the edges
        t = 2 * np.arange(n_out)[:, None] + np.arange(-3, 5)[None, :]
        t = np.where(t < 0, -t - 1, t)
        return np.where(t >= n_in, 2 * n_in - 1 - t, t)

    k = BINOMIAL8.astype(np.float64)
    ty, tx = taps(19, 38), taps(26, 52)
    ref = np.einsum("s,t,uvstc->uvc", k, k, img[ty[:, None, :, None], tx[None, :, None, :]])
    out = reduce_octave(img.astype(np.float32))
    assert out.shape == (19, 26, 3)
    assert np.abs(out - ref).max() < 2e-6
    # a constant stays constant (weights sum to 1), a linear ramp keeps its centre values
    ramp = np.tile((np.arange(64, dtype=np.float32) + 0.5)[None, :, None], (8, 1, 1))
    r = reduce_octave(ramp)[..., 0]
    assert np.abs(r[:, 2:-2] - (np.arange(32) * 2 + 1.0)[None, 2:-2]).max() < 1e-4


# ------------------------------------------------------------------ the node

class _Src(Node):
    schema = NodeSchema(type="_TestResWarpSrc", doc="test source", outputs=(
        Output("plate", "Image"), Output("result", "Image"), Output("field", "Displacement")))
    data: dict = {}

    def compute(self, ctx, inputs):
        return dict(self.data)


def _graph(plate, result, field, params):
    g = Graph()
    src = _Src("src")
    src.data = {"plate": Image(plate), "result": Image(result), "field": Displacement(field)}
    g.nodes["src"] = src
    g.add("ResWarp", "rw", params)
    for port in ("plate", "result", "field"):
        g.connect(f"src.{port}", f"rw.{port}")
    return g


def test_node_matches_kernel_and_outputs_low():
    rng = np.random.default_rng(5)
    plate = rng.random((200, 300, 3), dtype=np.float32)
    field = smooth_field(32, 32, 0.03, seed=1)
    low = rw.decompose(plate, (32, 32), True)[-1]
    result = warp_bilinear(low, field, device="cpu")
    g = _graph(plate, result, field, {"mode": "multiscale", "low_size": 32})
    out = Evaluator(g).pull("rw", Context(frame=1, frames=(1,)))
    ref = rw.reswarp(plate, result, field, multiscale=True, device="cpu")
    assert np.abs(out["image"].pixels - ref).max() == 0
    assert np.abs(out["low"].pixels - low).max() < 1e-6


def test_node_rejects_wrong_low_res_size():
    plate = np.zeros((200, 300, 3), np.float32)
    g = _graph(plate, np.zeros((64, 64, 3), np.float32), np.zeros((32, 32, 2), np.float32), {"low_size": 32})
    with pytest.raises(InputError, match="32x32"):
        Evaluator(g).pull("rw", Context(frame=1, frames=(1,)))


def test_non_finite_field_adds_no_residual():
    rng = np.random.default_rng(9)
    res = rng.standard_normal((40, 60, 3)).astype(np.float32)
    base = rng.random((10, 15, 3), dtype=np.float32)
    field = np.zeros((40, 60, 2), np.float32)  # an HD field (same grid as the plate)
    field[5, 7] = np.nan
    out = rw.reswarp_add(res, base, field, device="cpu")
    up = resample_bilinear(base, 60, 40)
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out[5, 7], up[5, 7], atol=1e-6)
    np.testing.assert_allclose(out[6, 7], up[6, 7] + res[6, 7], atol=1e-5)
