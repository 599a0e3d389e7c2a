"""The face region: its matte against the analytic distance to the hull, the margin rule, the
confined warp's guarantees (identity and bit-exact outside, exact on the landmarks, no fold from
the fade) and the guessed-frame policy of the warp nodes."""

from __future__ import annotations

import numpy as np
import pytest
from _warp_helpers import astronaut, face_points, tri_graph

from facewarp.core.errors import RenderError
from facewarp.graph import Context, Evaluator, Landmarks
from facewarp.warping.region import confine, face_region, face_width, keep_still_pixels


def _square_distance(x, y, x0, y0, x1, y1):
    dx = np.maximum(np.maximum(x0 - x, 0), x - x1)
    dy = np.maximum(np.maximum(y0 - y, 0), y - y1)
    return np.hypot(dx, dy)


def test_matte_follows_the_distance_to_the_hull():
    w, h = 200, 160
    sq = np.array([[60.0, 50.0], [140.0, 50.0], [140.0, 110.0], [60.0, 110.0], [100.0, 80.0]])
    region = face_region(sq, w, h, grow=0.5, feather=1.0)
    assert face_width(sq) == pytest.approx(60.0)
    assert region.margin == pytest.approx(30.0)
    yy, xx = np.mgrid[0:h, 0:w] + 0.5
    d = _square_distance(xx, yy, 60, 50, 140, 110)
    t = np.clip(1 - d / 30.0, 0, 1)
    expected = t * t * (3 - 2 * t)
    # the hull is drawn on the pixel grid: within a pixel of distance the matte may differ
    assert np.abs(region.matte - expected).max() < 0.06
    assert (region.matte[d <= 0] == 1).all()
    assert (region.matte[d >= 31] == 0).all()
    x0, y0, x1, y1 = region.box
    assert region.matte[:, :x0].max(initial=0) == 0 and region.matte[:, x1:].max(initial=0) == 0
    assert region.matte[:y0].max(initial=0) == 0 and region.matte[y1:].max(initial=0) == 0


def test_margin_is_never_less_than_twice_the_displacement():
    rect = np.array([[0.0, 0.0], [100.0, 0.0], [100.0, 40.0], [0.0, 40.0]])
    theta = np.deg2rad(30)
    rot = rect @ np.array([[np.cos(theta), np.sin(theta)], [-np.sin(theta), np.cos(theta)]]) + 300
    assert face_width(rot) == pytest.approx(40.0, rel=1e-3)  # head roll does not change it
    assert face_region(rot, 600, 600, grow=0.25).margin == pytest.approx(10.0, rel=1e-3)
    assert face_region(rot, 600, 600, grow=0.25, max_displacement=30).margin == pytest.approx(60.0)


def test_keep_still_pixels_is_bit_exact():
    rng = np.random.default_rng(1)
    image = rng.random((20, 30, 3), np.float32)
    warped = image + np.float32(1e-7)
    field = np.zeros((20, 30, 2), np.float32)
    field[5:10, 5:10] = 0.3
    out = keep_still_pixels(warped, image, field)
    still = np.ones((20, 30), bool)
    still[5:10, 5:10] = False
    assert np.array_equal(out[still], image[still]) and np.array_equal(out[~still], warped[~still])


def _warp(img, src, dst, **params):
    out = Evaluator(tri_graph(img, src, {1: dst}, params)).pull("tw", Context(frame=1, frames=(1,)))
    return out


def test_confined_warp_is_the_plate_outside_and_exact_on_the_landmarks():
    img = astronaut()
    h, w = img.shape[:2]
    rng = np.random.default_rng(3)
    dst = np.floor(face_points(60, w, h, 4)) + 0.5
    dst = np.unique(dst, axis=0)
    src = dst + rng.normal(0, 5, dst.shape)
    out = _warp(img, src, dst)
    matte, field = out["matte"].alpha, out["displacement"].field
    outside = matte == 0
    assert 0.1 < outside.mean() < 0.99
    assert np.array_equal(out["image"].pixels[outside], img[outside])
    assert (field[outside] == 0).all()
    j, i = (dst[:, 0] - 0.5).astype(int), (dst[:, 1] - 0.5).astype(int)
    assert (matte[i, j] == 1).all()
    assert np.abs(dst + field[i, j] - src).max() <= 1e-3  # the landmarks land where asked
    # the whole-frame warp is the same inside the hull and moves the background too
    whole = _warp(img, src, dst, region="frame")
    assert np.abs(whole["displacement"].field[i, j] - field[i, j]).max() == 0
    assert np.abs(whole["displacement"].field[outside]).max() > 0.1
    assert (whole["matte"].alpha == 1).all()


def test_the_fade_does_not_fold_the_picture():
    img = astronaut()
    h, w = img.shape[:2]
    dst = face_points(40, w, h, 5)
    src = dst.copy()
    src[:, 1] += 25.0  # the whole face moves 25 px: a steep fade would fold the margin over
    out = _warp(img, src, dst, grow=0.05)
    region_info = out["image"].metadata["facewarp:trianglewarp"]["region"]
    assert region_info["margin_px"] >= 50.0  # twice the displacement, not 5 % of the face
    f = out["displacement"].field.astype(np.float64)
    # the map p -> p + D(p): its Jacobian determinant stays positive everywhere
    dxx, dxy = np.gradient(f[..., 0], axis=1), np.gradient(f[..., 0], axis=0)
    dyx, dyy = np.gradient(f[..., 1], axis=1), np.gradient(f[..., 1], axis=0)
    det = (1 + dxx) * (1 + dyy) - dxy * dyx
    assert det.min() > 0.2


@pytest.mark.parametrize("policy", ["warp", "pass-through", "error"])
def test_guessed_frames_follow_the_policy(policy):
    img = astronaut()
    h, w = img.shape[:2]
    dst = face_points(40, w, h, 6)
    src = dst + 4.0
    g = tri_graph(img, src, {1: dst}, {"guessed": policy})
    seq = g.nodes["src"]
    orig = type(seq).compute

    def guessed(self, ctx, inputs):  # the tracker interpolated this frame
        res = orig(self, ctx, inputs)
        res["target"] = Landmarks(res["target"].points, info={"status": "interpolated"})
        return res

    seq.compute = guessed.__get__(seq)
    ev = Evaluator(g)
    if policy == "error":
        with pytest.raises(RenderError, match="interpolated.*guessed"):
            ev.pull("tw", Context(frame=1, frames=(1,)))
        return
    out = ev.pull("tw", Context(frame=1, frames=(1,)))
    same = np.array_equal(out["image"].pixels, img)
    assert same == (policy == "pass-through")
    assert (out["matte"].alpha.max() == 0) == (policy == "pass-through")


def test_confine_zeroes_everything_outside_the_box():
    region = face_region(np.array([[10.0, 10.0], [20.0, 10.0], [15.0, 20.0]]), 64, 48, grow=0.2)
    field = np.ones((48, 64, 2), np.float32)
    out = confine(field, region)
    assert (out[region.matte == 0] == 0).all() and np.allclose(out[..., 0], region.matte)


@pytest.mark.parametrize("shift", [(0.0, 0.0), (-150.0, -90.0), (110.0, 40.0), (400.0, 0.0)])  # inside, over
# the top-left corner, over the bottom-right one, outside the frame
def test_region_box_is_the_bounding_box_of_the_matte(shift):
    rng = np.random.default_rng(9)
    pts = rng.uniform([80, 50], [160, 130], (60, 2)) + shift
    reg = face_region(pts, 240, 180, max_displacement=6.0)
    nz = np.argwhere(reg.matte > 0)
    if len(nz) == 0:
        assert reg.box == (0, 0, 0, 0)
        return
    (y0, x0), (y1, x1) = nz.min(axis=0), nz.max(axis=0) + 1
    assert reg.box == (x0, y0, x1, y1)
