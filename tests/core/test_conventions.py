"""Displacement conventions: STMap / IDistort converters round-trip, the bilinear sampler's
pixel-centre convention and border modes (analytic references and cv2.remap)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from facewarp.core.conventions import (
    displacement_to_cv2_maps,
    displacement_to_idistort,
    displacement_to_stmap,
    idistort_to_displacement,
    pixel_centers,
    stmap_to_displacement,
)
from facewarp.kernels.sampling import area_downsample, resample_bilinear, resample_field, warp_bilinear


def _astro(h=120, w=160):
    from skimage import data

    return cv2.resize(data.astronaut().astype(np.float32) / 255, (w, h), interpolation=cv2.INTER_AREA)


def test_stmap_identity_values_and_roundtrip():
    h, w = 37, 53
    st = displacement_to_stmap(np.zeros((h, w, 2), np.float32))
    j, i = np.meshgrid(np.arange(w), np.arange(h))
    np.testing.assert_allclose(st[..., 0], (j + 0.5) / w, atol=1e-7)
    np.testing.assert_allclose(st[..., 1], 1.0 - (i + 0.5) / h, atol=1e-7)  # origin bottom-left
    back = stmap_to_displacement(st)
    assert np.abs(back).max() <= 1e-4


def test_stmap_roundtrip_random_field_and_other_source_size():
    rng = np.random.default_rng(3)
    f = rng.normal(0, 20, (40, 64, 2)).astype(np.float32)
    for size in (None, (128, 80)):
        back = stmap_to_displacement(displacement_to_stmap(f, size), size)
        assert np.abs(back - f).max() <= 1e-4


def test_idistort_roundtrip_and_sign():
    rng = np.random.default_rng(4)
    f = rng.normal(0, 5, (9, 11, 2)).astype(np.float32)
    off = displacement_to_idistort(f)
    np.testing.assert_array_equal(off[..., 0], f[..., 0])
    np.testing.assert_array_equal(off[..., 1], -f[..., 1])  # y up in Nuke
    assert np.abs(idistort_to_displacement(off) - f).max() == 0


def test_identity_map_gives_identity_image_via_stmap_cv2_and_sampler():
    img = _astro()
    h, w = img.shape[:2]
    st = displacement_to_stmap(np.zeros((h, w, 2), np.float32))
    # what Nuke's STMap does: sample at (u W, (1 - v) H) continuous, i.e. cv2 index u W - 0.5
    mx = (st[..., 0] * w - 0.5).astype(np.float32)
    my = ((1.0 - st[..., 1]) * h - 0.5).astype(np.float32)
    assert np.abs(mx - np.arange(w)[None]).max() <= 1e-4 and np.abs(my - np.arange(h)[:, None]).max() <= 1e-4
    out_cv = cv2.remap(img, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    assert np.abs(out_cv - img).max() <= 1e-4
    out = warp_bilinear(img, stmap_to_displacement(st), device="cpu")
    assert np.abs(out - img).max() <= 1e-5


def test_bilinear_sampler_is_exact_on_a_linear_ramp():
    # f(x, y) = 2x - 3y + 1 at pixel centres; bilinear interpolation reproduces it exactly inside
    h, w = 40, 50
    c = pixel_centers(h, w, np.float64)
    ramp = (2 * c[..., 0] - 3 * c[..., 1] + 1).astype(np.float32)
    rng = np.random.default_rng(0)
    field = rng.uniform(-5, 5, (h, w, 2)).astype(np.float32)
    out = warp_bilinear(ramp, field, device="cpu")
    q = c + field
    inside = (q[..., 0] >= 0.5) & (q[..., 0] <= w - 0.5) & (q[..., 1] >= 0.5) & (q[..., 1] <= h - 0.5)
    expect = 2 * q[..., 0] - 3 * q[..., 1] + 1
    assert inside.mean() > 0.5
    assert np.abs(out - expect)[inside].max() < 2e-4


@pytest.mark.parametrize("border,cv_border", [("clamp", cv2.BORDER_REPLICATE), ("zero", cv2.BORDER_CONSTANT),
                                              ("reflect", cv2.BORDER_REFLECT)])
def test_border_modes_match_cv2_on_integer_shifts(border, cv_border):
    # integer displacements avoid cv2's 1/32-pixel weight quantisation: exact comparison
    img = _astro(30, 40)
    rng = np.random.default_rng(1)
    field = rng.integers(-60, 60, (30, 40, 2)).astype(np.float32)
    ours = warp_bilinear(img, field, border, device="cpu")
    mx, my = displacement_to_cv2_maps(field)
    ref = cv2.remap(img, mx, my, cv2.INTER_LINEAR, borderMode=cv_border, borderValue=0)
    assert np.abs(ours - ref).max() <= 1e-6


def test_resamplers_match_opencv_conventions():
    img = _astro(64, 96)
    up = resample_bilinear(img, 288, 160)
    ref = cv2.resize(img, (288, 160), interpolation=cv2.INTER_LINEAR)
    assert np.abs(up - ref).max() < 1e-5
    down = area_downsample(img, 32, 16)  # integer factors: block average
    ref = img.reshape(16, 4, 32, 3, 3).mean(axis=(1, 3))
    assert np.abs(down - ref).max() < 1e-6
    f = np.ones((4, 4, 2), np.float32)
    np.testing.assert_allclose(resample_field(f, 12, 8)[0, 0], [3.0, 2.0])  # values scale with the grid


def test_nonfinite_displacement_gives_nan_not_garbage():
    img = np.ones((4, 4, 3), np.float32)
    f = np.zeros((4, 4, 2), np.float32)
    f[1, 2, 0] = np.nan
    out = warp_bilinear(img, f, device="cpu")
    assert np.isnan(out[1, 2]).all() and np.isfinite(np.delete(out.reshape(16, 3), 6, axis=0)).all()


def _stmap_float64(field, src_size=None):
    """The float64 formula the float32 converter must match."""
    h, w = field.shape[:2]
    sw, sh = src_size if src_size is not None else (w, h)
    pos = pixel_centers(h, w, np.float64) + field.astype(np.float64)
    return np.stack([pos[..., 0] / sw, 1.0 - pos[..., 1] / sh], axis=-1)


@pytest.mark.parametrize("src_size", [None, (4096, 2304)])
def test_stmap_float32_matches_float64_at_4k(src_size):
    """No float64 intermediates, still within 1e-6 of the float64 result over 4K coordinates
    (fields up to +-200 px, points beyond the frame included)."""
    rng = np.random.default_rng(11)
    h, w = 2160, 3840
    f = rng.normal(0, 60, (h, w, 2)).astype(np.float32)
    f[0, 0] = (-200.0, -200.0)
    f[-1, -1] = (200.0, 200.0)
    st = displacement_to_stmap(f, src_size)
    assert st.dtype == np.float32 and st.shape == (h, w, 2)
    assert np.abs(st - _stmap_float64(f, src_size)).max() <= 1e-6
    f64 = f.astype(np.float64)  # a float64 field is taken too, written as float32
    assert np.abs(displacement_to_stmap(f64, src_size) - st).max() <= 1e-6


def test_stmap_and_idistort_write_into_out():
    rng = np.random.default_rng(12)
    f = rng.normal(0, 5, (21, 34, 2)).astype(np.float32)
    px = np.full((21, 34, 3), 7.0, np.float32)
    assert displacement_to_stmap(f, out=px) is px
    np.testing.assert_array_equal(px[..., :2], displacement_to_stmap(f))
    assert (px[..., 2] == 7.0).all()  # channels past the two UV ones untouched
    assert displacement_to_idistort(f, out=px) is px
    np.testing.assert_array_equal(px[..., :2], displacement_to_idistort(f))
