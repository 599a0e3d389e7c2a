"""The face-region TriangleWarp computes its field in the region's box only
(``kernels.triwarp.triangle_field``): the same field, normalised map, triangle ids and picture as
the full-frame warp confined afterwards (the reference below, the path before the box-only
kernel), on random landmark sets with fold-overs and with the box at the frame's edge."""

from __future__ import annotations

import numpy as np
import pytest
from _warp_helpers import astronaut

from facewarp.kernels.triwarp import flipped_triangles, triangle_field, triangle_warp, triangle_warp_confined
from facewarp.warping.landmark import landmark_warp, triangulate
from facewarp.warping.region import confine, face_region, warp_in_region


def _reference(img, src, dst, std, region, grow=0.3, feather=1.0):
    """The full-frame warp, then confined to the region (what landmark_warp did before).
    ``region``: the one landmark_warp used; the matte recomputed here agrees to float rounding
    only (cv2.distanceTransform's precise mask can differ by an ulp from call to call, after
    a numba parallel region), so the comparison confines with the same matte."""
    h, w = img.shape[:2]
    pts, faces, n, _ = triangulate(dst, w, h, 8)
    src_all = np.concatenate([src, pts[n:]])
    disp = np.zeros_like(pts)
    disp[:n] = (dst - src) / std[:, None]
    flipped = flipped_triangles(pts, src_all, faces)
    _, field, norm, tri_id = triangle_warp(img, pts, src_all, faces, attrs=disp, device="cpu")
    moved = float(np.linalg.norm(dst - src, axis=1).max(initial=0.0))
    reg = face_region(np.concatenate([src, dst]), w, h, grow=grow, feather=feather, max_displacement=moved)
    assert reg.box == region.box and reg.margin == region.margin
    np.testing.assert_allclose(reg.matte, region.matte, rtol=0, atol=1e-6)
    reg = region
    field, norm = confine(field, reg), confine(norm, reg)
    return warp_in_region(img, field, reg, "clamp", "cpu"), field, norm, tri_id, flipped, reg


def _landmarks(rng, w, h, centre, radius, n, noise):
    ang = rng.uniform(0, 2 * np.pi, n)
    rad = radius * np.sqrt(rng.uniform(0, 1, n))
    dst = np.stack([centre[0] + rad * np.cos(ang), centre[1] + rad * np.sin(ang)], 1)
    dst = np.clip(dst, 0.3, [w - 0.3, h - 0.3])
    return dst + rng.normal(0, noise, dst.shape), dst


@pytest.mark.parametrize("case", range(6))
def test_box_only_field_matches_the_full_frame_reference(case):
    img = np.ascontiguousarray(astronaut()[:200, :256])
    h, w = img.shape[:2]
    rng = np.random.default_rng(100 + case)
    # cases 0-2: inside the frame; 3: at the left/top corner; 4: at the right/bottom edge; 5: tiny face
    centre = [(128, 100), (110, 90), (140, 110), (10, 8), (250, 195), (128, 100)][case]
    radius = [40, 55, 35, 45, 40, 6][case]
    src, dst = _landmarks(rng, w, h, centre, radius, 40, 3.0 if case != 5 else 0.8)
    std = rng.uniform(0.5, 4.0, len(dst))
    res = landmark_warp(img, src, dst, std, 8, device="cpu")
    ref_img, ref_field, ref_norm, ref_ids, flipped, reg = _reference(img, src, dst, std, res.region)
    np.testing.assert_array_equal(res.flipped, flipped)
    assert flipped.any()  # the noise folds some triangles over: the id map is produced
    x0, y0, x1, y1 = reg.box
    if case == 3:
        assert x0 == 0 and y0 == 0
    if case == 4:
        assert x1 == w and y1 == h
    # the same arithmetic: bit-identical field, normalised map and picture
    np.testing.assert_array_equal(res.field, ref_field)
    np.testing.assert_array_equal(res.normalized, ref_norm)
    np.testing.assert_array_equal(res.image, ref_img)
    # triangle ids: the full-frame ones inside the box, -1 outside it (no triangle is used there)
    np.testing.assert_array_equal(res.tri_id[y0:y1, x0:x1], ref_ids[y0:y1, x0:x1])
    outside = np.ones((h, w), bool)
    outside[y0:y1, x0:x1] = False
    assert (res.tri_id[outside] == -1).all()
    # plate integrity: the picture is the input's own, bit for bit, wherever the matte is 0
    still = reg.matte == 0
    assert np.array_equal(res.image[still], img[still])


def test_triangle_field_window_is_the_crop_of_the_full_frame():
    rng = np.random.default_rng(7)
    w, h = 97, 61
    src, dst = _landmarks(rng, w, h, (50, 30), 25, 25, 2.0)
    pts, faces, n, _ = triangulate(dst, w, h, 4)
    src_all = np.concatenate([src, pts[n:]])
    attrs = rng.normal(size=(len(pts), 3))
    img = rng.random((h, w, 3), dtype=np.float32)
    _, field, out_attrs, ids = triangle_warp(img, pts, src_all, faces, attrs=attrs, device="cpu")
    for box in [(0, 0, w, h), (10, 5, 60, 40), (0, 20, 33, h), (80, 0, w, 7), (5, 5, 6, 6), (3, 3, 3, 9)]:
        x0, y0, x1, y1 = box
        f, a, t = triangle_field(pts, src_all, faces, w, h, attrs=attrs, window=box, device="cpu")
        assert f.shape == (y1 - y0, x1 - x0, 2) and a.shape == (y1 - y0, x1 - x0, 3)
        np.testing.assert_array_equal(f, field[y0:y1, x0:x1])
        np.testing.assert_array_equal(a, out_attrs[y0:y1, x0:x1])
        np.testing.assert_array_equal(t, ids[y0:y1, x0:x1])
    assert triangle_field(pts, src_all, faces, w, h, window=(1, 1, 9, 9), device="cpu", want_ids=False)[2] is None
    with pytest.raises(ValueError, match="window"):
        triangle_field(pts, src_all, faces, w, h, window=(0, 0, w + 1, h), device="cpu")


@pytest.mark.parametrize("kind", ["gray", "float64", "empty box"])
def test_the_two_step_path_gives_the_same_result(kind):
    """Pictures the fused CPU kernel does not take (and CUDA) go through ``triangle_field`` and
    a box-only sampling: the same field and pixels as the full-frame reference."""
    rgb = np.ascontiguousarray(astronaut()[:120, :160])
    h, w = rgb.shape[:2]
    rng = np.random.default_rng(11)
    src, dst = _landmarks(rng, w, h, (80, 60), 30, 20, 2.0)
    pts, faces, n, _ = triangulate(dst, w, h, 8)
    src_all = np.concatenate([src, pts[n:]])
    img = {"gray": rgb[..., 1].copy(), "float64": rgb.astype(np.float64), "empty box": rgb}[kind]
    reg = face_region(np.concatenate([src, dst]), w, h, max_displacement=6.0)
    if kind == "empty box":
        reg.box = (0, 0, 0, 0)
        reg.matte[:] = 0
    x0, y0, x1, y1 = reg.box
    out, field, attrs, ids = triangle_warp_confined(img, pts, src_all, faces, reg.box, reg.matte[y0:y1, x0:x1],
                                                    device="cpu")
    _, ref_field, _, ref_ids = triangle_warp(rgb, pts, src_all, faces, device="cpu")
    ref_field = confine(ref_field, reg)
    np.testing.assert_array_equal(field, ref_field)
    assert out.dtype == img.dtype and out.shape == img.shape
    np.testing.assert_array_equal(out, warp_in_region(img, ref_field, reg, "clamp", "cpu"))
    assert ids.shape == (h, w) and (ids[ref_field.any(axis=2)] >= 0).all()
    if kind == "empty box":
        assert np.array_equal(out, img) and (ids == -1).all() and not field.any()
