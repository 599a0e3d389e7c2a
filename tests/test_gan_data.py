"""Pair-building pieces: the private piecewise-affine warp and the normalised displacement map."""

from __future__ import annotations

import numpy as np

from facewarp.nodes._wg_data import displacement_sigma, piecewise_affine


def _grid(size, n=6, margin=8):
    g = np.linspace(margin, size - margin, n)
    return np.stack(np.meshgrid(g, g), -1).reshape(-1, 2)


def test_piecewise_affine_reproduces_an_affine_motion():
    size = 64
    ys, xs = np.mgrid[0:size, 0:size] + 0.5
    img = np.stack([xs / size, ys / size, 0.3 + 0 * xs], -1).astype(np.float32)  # affine in position
    src = _grid(size)
    a = np.array([[1.05, 0.08], [-0.06, 0.97]])
    t = np.array([1.5, -2.0])
    centre = np.array([32.0, 32.0])
    dst = (src - centre) @ a.T + centre + t
    warped, vals = piecewise_affine(img, src, dst, size, extra_values=dst - src)
    # out(p) = img(A^-1 (p - c - t) + c): compare well inside the landmark hull
    p = np.stack([xs, ys], -1)
    q = (p - centre - t) @ np.linalg.inv(a).T + centre
    inside = (xs > 20) & (xs < 44) & (ys > 20) & (ys < 44)  # inside the moved landmark hull
    np.testing.assert_allclose(warped[..., 0][inside], (q[..., 0] / size)[inside], atol=1e-3)  # cv2.remap: 1/32 px
    np.testing.assert_allclose(warped[..., 1][inside], (q[..., 1] / size)[inside], atol=1e-3)
    # barycentric interpolation of the per-landmark displacement is exact for an affine field
    expect = p - q
    np.testing.assert_allclose(vals[inside], expect[inside], atol=1e-4)
    # anchors at the crop border do not move: the field fades to zero at the border
    assert np.abs(vals[0, 0]).max() < 0.5 < np.abs(vals[32, 32]).max()


def test_displacement_sigma_normalises_each_landmark_to_unit_std():
    rng = np.random.default_rng(0)
    scales = np.array([0.8, 3.0, 10.0, 25.0])
    d = rng.normal(size=(500, 4, 2)) * scales[None, :, None] + 5.0
    sig = displacement_sigma(d)
    np.testing.assert_allclose(sig, scales, rtol=0.08)
    nd = (d - d.mean(0)) / sig[None, :, None]
    np.testing.assert_allclose(nd.std(axis=(0, 2)), 1.0, rtol=0.08)
    assert displacement_sigma(np.zeros((10, 3, 2)))[0] == 0.5  # floor for static points
