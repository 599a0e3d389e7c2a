"""The mouth interior: its geometry (fan map, coverage) against analytic answers, that it only
touches the inside of the requested inner lips and only when the mouth opens wider than the plate's,
that carrying a frame's interior onto itself changes nothing, and Lab against scikit-image."""

from __future__ import annotations

import numpy as np
import pytest

from facewarp.core.color import lab_to_linear, linear_to_lab, linear_to_srgb
from facewarp.face.landmarks import INNER_LIPS, LOWER_LIP_INNER, UPPER_LIP_INNER
from facewarp.face.mouth import FADE, OUTER_LIPS_478, fan_map, fill_mouth, opening, polygon_coverage
from facewarp.face.quality import mouth_contrast_share
from facewarp.face.tracking import inter_ocular


def test_lab_matches_scikit_image_and_inverts():
    from skimage.color import rgb2lab

    rng = np.random.default_rng(0)
    rgb = rng.random((2000, 3))
    ref = rgb2lab(np.clip(linear_to_srgb(rgb), 0, 1)[None])[0]
    assert np.abs(linear_to_lab(rgb) - ref).max() < 0.02  # the matrices differ in the 5th digit
    assert np.abs(lab_to_linear(linear_to_lab(rgb)) - rgb).max() < 1e-9


def _ellipse(cx, cy, rx, ry, n=20):
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], 1)


def test_fan_map_of_an_affine_is_that_affine():
    dst = _ellipse(50, 40, 20, 8)
    a = np.array([[1.3, 0.2], [-0.1, 0.8]])
    src = dst @ a.T + [7.0, -3.0]
    box = (28, 30, 72, 50)
    mx, my = fan_map(dst, src, box)
    ys, xs = np.mgrid[30:50, 28:72] + 0.5
    exp = np.stack([xs, ys], -1) @ a.T + [7.0, -3.0]
    inside = polygon_coverage(dst, box) == 1
    assert np.abs(mx - exp[..., 0])[inside].max() < 1e-9 and np.abs(my - exp[..., 1])[inside].max() < 1e-9


def test_polygon_coverage_integrates_to_the_area():
    poly = _ellipse(30.3, 20.7, 15.2, 6.1, 64)
    x, y = poly[:, 0], poly[:, 1]
    area = 0.5 * abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1)))
    perimeter = np.linalg.norm(np.diff(np.vstack([poly, poly[:1]]), axis=0), axis=1).sum()
    excess = polygon_coverage(poly, (0, 0, 60, 40)).sum() - area
    assert 0 <= excess <= perimeter / 16  # the filled outline: at most half a sub-pixel all round


def _face(open_px):
    """478 points: eyes 100 px apart, inner lips an ellipse of half-height ``open_px``."""
    pts = np.zeros((478, 2))
    pts[:, 0], pts[:, 1] = 100.0, 100.0
    pts[33], pts[263] = (50.0, 60.0), (150.0, 60.0)  # outer eye corners: IOD 100
    pts[list(INNER_LIPS)] = _ellipse(100, 140, 22, max(open_px, 0.01))[[10, 11, 12, 13, 14, 15, 16, 17, 18, 19,
                                                                        0, 1, 2, 3, 4, 5, 6, 7, 8, 9]]
    pts[list(OUTER_LIPS_478)] = _ellipse(100, 140, 30, open_px + 8)[[10, 11, 12, 13, 14, 15, 16, 17, 18, 19,
                                                                    0, 1, 2, 3, 4, 5, 6, 7, 8, 9]]
    top, bottom = (100, 140 - open_px), (100, 140 + open_px)
    pts[UPPER_LIP_INNER], pts[LOWER_LIP_INNER] = top, bottom
    assert inter_ocular(pts) == pytest.approx(100)
    return pts


def test_fill_only_when_wider_than_the_plate_and_only_inside_the_lips():
    rng = np.random.default_rng(2)
    img = (0.3 + 0.01 * rng.standard_normal((200, 200, 3))).astype(np.float32)
    closed, wide = _face(0.5), _face(12.0)
    assert opening(wide) - opening(closed) > FADE[1]
    same = fill_mouth(img, closed, closed)
    assert same.source == "none" and np.array_equal(same.pixels, img)
    res = fill_mouth(img, wide, closed, seed=5)
    assert res.source == "procedural"
    box = (0, 0, 200, 200)
    outside = polygon_coverage(np.asarray(wide)[list(INNER_LIPS)], box) == 0
    assert np.array_equal(res.pixels[outside], img[outside])
    assert (res.alpha[outside] == 0).all() and res.alpha.max() > 0.99
    # a mouth of stretched lip colour has no contrast; the filled one has
    assert mouth_contrast_share(img, wide) == 0.0
    assert mouth_contrast_share(res.pixels, wide) > 0.3
    again = fill_mouth(img, wide, closed, seed=5)
    assert np.array_equal(again.pixels, res.pixels)  # deterministic per seed (frame)


def test_a_frame_carried_onto_itself_is_unchanged():
    """Driving = target, same points: the colour match through the sclera is the identity."""
    h = w = 200
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([0.2 + 0.3 * xx / w, 0.25 + 0.2 * yy / h, np.full((h, w), 0.3)], -1).astype(np.float32)
    pts = _face(12.0)
    res = fill_mouth(img, pts, _face(0.5), driving=img, driving_points=pts)
    assert res.source == "driving"
    inside = res.alpha > 0.999
    assert inside.sum() > 100
    assert np.abs(res.pixels[inside] - img[inside]).max() < 1e-3  # noise-free image: no grain either
