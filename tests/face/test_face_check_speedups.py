"""FaceCheck's cheap paths give what the slow ones gave: the table sRGB conversion and the compiled
outside_change bit for bit, the mesh around the requested landmarks close to full-frame detection."""

from __future__ import annotations

import numpy as np
import pytest

from facewarp.face import quality
from facewarp.face import tracking as fm


def _reference_outside_change(output, plate, matte):
    outside = np.asarray(matte) == 0
    if not outside.any():
        return 0.0
    return float(np.abs(np.asarray(output, np.float64) - plate)[outside].max())


def test_srgb_code_table_matches_the_plain_conversion():
    rng = np.random.default_rng(0)
    # every float32 of a few whole buckets (near black, mid grey, near white), random values, specials
    buckets = [0x3A00, 0x3B4D, 0x3E80, 0x3F7F, 0x3F80]  # one holds the linear segment's end
    dense = np.concatenate([np.arange(b << 16, min((b << 16) + 0x10000, 0x3F800001), dtype=np.uint32)
                            for b in buckets]).view(np.float32)
    # each code step: the first float of the next code and its neighbours; each bucket's first and last float
    thr = fm._srgb_tables()[1]
    thr = thr[np.isfinite(thr)]
    assert len(thr) == 255
    steps = np.concatenate([thr, np.nextafter(thr, np.float32(0)), np.nextafter(thr, np.float32(2))])
    starts = (np.arange(0x3F81, dtype=np.uint32) << 16)
    ends = np.minimum(starts + 0xFFFF, 0x3F800000).astype(np.uint32)
    x = np.concatenate([steps, starts.view(np.float32), ends.view(np.float32), dense, rng.random(200_000, np.float32), rng.normal(0.5, 2.0, 100_000).astype(np.float32),
                        np.array([0.0, -0.0, 1.0, 2.0, -1.0, np.inf, -np.inf, 1e-45, 0.0031308], np.float32)])
    assert np.array_equal(fm._srgb_codes(x), fm._srgb_codes_direct(x))
    img = rng.random((37, 53, 4), np.float32) * 1.2 - 0.1
    expected = (np.clip(fm.linear_to_srgb(img[..., :3]), 0, 1) * 255.0 + 0.5).astype(np.uint8)
    assert np.array_equal(fm.to_uint8_rgb(img), expected)


@pytest.mark.parametrize("seed", range(6))
def test_outside_change_equals_the_float64_reference(seed):
    rng = np.random.default_rng(seed)
    h, w, c = int(rng.integers(1, 40)), int(rng.integers(1, 300)), int(rng.choice([1, 3, 4]))
    plate = (rng.random((h, w, c)) * rng.choice([1e-3, 1.0, 1e6])).astype(np.float32)
    out = plate.copy()
    idx = rng.integers(0, out.size, int(rng.integers(0, out.size + 1)))
    out.flat[idx] = (out.flat[idx] + rng.normal(0, rng.choice([1e-8, 1e-3, 10.0]), len(idx))).astype(np.float32)
    matte = (rng.random((h, w)) < rng.random()).astype(np.float32)
    assert quality.outside_change(out, plate, matte) == _reference_outside_change(out, plate, matte)
    assert quality.outside_change(out[..., 0], plate[..., 0], matte) == \
        _reference_outside_change(out[..., 0], plate[..., 0], matte)


def test_outside_change_edge_cases():
    zero = np.zeros((2, 3), np.float32)
    big = np.full((2, 3, 3), 3e38, np.float32)
    assert quality.outside_change(big, -big, zero) == _reference_outside_change(big, -big, zero)  # no overflow
    nan = np.zeros((2, 3, 3), np.float32)
    nan[1, 2, 1] = np.nan
    assert np.isnan(quality.outside_change(nan, np.zeros_like(nan), zero))
    inside_only = np.ones((2, 3), np.float32)
    inside_only[0, 0] = 0.0
    assert quality.outside_change(nan, np.zeros_like(nan), inside_only) == 0.0  # the NaN is inside the matte
    assert quality.outside_change(nan, np.zeros_like(nan), np.ones((2, 3), np.float32)) == 0.0  # no outside
    half = np.zeros((2, 3, 3), np.float32)
    half[0, 1, 2] = 0.5
    assert quality.outside_change(half, np.zeros_like(half), zero.astype(np.float64)) == 0.5  # numpy path


# -- the mesh around given landmarks, on a real face --------------------------------------------------------

@pytest.fixture(scope="module")
def portrait_linear():
    pytest.importorskip("mediapipe")
    cv2 = pytest.importorskip("cv2")
    from conftest import shared_file

    u8 = cv2.cvtColor(cv2.imread(str(shared_file("portraits/interfaces_001.jpg"))), cv2.COLOR_BGR2RGB)
    from facewarp.core.color import srgb_to_linear

    return srgb_to_linear(u8.astype(np.float32) / 255.0)


def test_crop_from_a_view_equals_the_padded_canvas(portrait_linear):
    pad = 50
    padded = np.pad(portrait_linear, ((pad, pad), (pad, pad), (0, 0)))
    for cx, cy, side in ((500.3, 480.7, 420.0), (300.0, 350.5, 383.9), (620.2, 512.0, 600.0)):
        a, ta = fm._crop_square(portrait_linear, cx, cy, side, 384)  # inside the plate: a view
        b, tb = fm._crop_square(padded[pad:-pad, pad:-pad].copy(), cx, cy, side, 384)
        assert np.array_equal(a, b) and ta == tb
    # a crop over the edge still pads with black
    c, (x0, y0, _) = fm._crop_square(portrait_linear, 20.0, 20.0, 100.0, 64)
    assert x0 < 0 and y0 < 0 and c[0, 0].max() == 0.0


def test_mesh_around_the_landmarks_lands_where_detection_does(portrait_linear):
    slow = fm.track_frame(portrait_linear)
    assert slow.points is not None
    iod = fm.inter_ocular(slow.points)
    rng = np.random.default_rng(3)
    for around in (slow.points, slow.points + rng.normal(0, 0.03 * iod, slow.points.shape) + 0.05 * iod):
        fast = fm.track_frame(portrait_linear, around=around)
        assert fast.info.get("located") == "around" and fast.box is None
        d = np.linalg.norm(fast.points - slow.points, axis=1) / iod * 100
        # the old path's own spread when the frame moves by one pixel is ~1-2 % IOD at worst
        assert d.mean() < 0.6 and d.max() < 3.0, (d.mean(), d.max())
    # ibug68 landmarks locate the face as well
    fast68 = fm.track_frame(portrait_linear, around=fm.to_ibug68(slow.points))
    assert np.linalg.norm(fast68.points - slow.points, axis=1).mean() / iod * 100 < 0.6
    # nothing there (an empty corner): falls back to detection, the slow path's result exactly
    empty = np.array([[5.0, 5.0], [40.0, 5.0], [20.0, 40.0]])
    fallback = fm.track_frame(portrait_linear, around=empty)
    assert fallback.box is not None and np.array_equal(fallback.points, slow.points)


def test_face_check_figures_match_the_slow_way(portrait_linear):
    from facewarp.core.types import Image, Landmarks, Mask
    from facewarp.face.mouth import opening
    from facewarp.graph import Context, events
    from facewarp.nodes.face_check import FaceCheck

    slow_pts = fm.track_frame(portrait_linear).points
    iod = fm.inter_ocular(slow_pts)
    requested = Landmarks((slow_pts + [0.02 * iod, -0.01 * iod]).astype(np.float32), np.ones(478, np.float32),
                          "mediapipe478", (1000, 1000), True, {})
    edited = portrait_linear.copy()
    matte = np.zeros(edited.shape[:2], np.float32)
    matte[250:800, 250:750] = 1.0
    edited[250:800, 250:750] *= np.float32(1.02)
    edited[7, 900, 2] += np.float32(3e-4)  # a small change outside the face region
    plate, image = Image(portrait_linear), Image(edited)
    node = FaceCheck("check", {})
    with events.collecting() as got:
        node.compute(Context(frames=(1,), fps=24.0).at(1), {"image": image, "requested": requested,
                                                            "plate": plate, "matte": Mask(matte)})
    figs = {k: v for _, k, v in got.figures}
    slow = quality.transfer_error(image, requested)  # full-frame detection
    assert abs(figs["transfer_all_iod_pct"] - slow.all_pct) < 0.6
    assert abs(figs["transfer_lips_iod_pct"] - slow.lips_pct) < 0.6
    assert abs(figs["mouth_opening_iod_pct"] - 100.0 * opening(slow.found)) < 0.6
    assert figs["requested_opening_iod_pct"] == 100.0 * opening(requested.points)
    assert figs["outside_change_max"] == _reference_outside_change(edited, portrait_linear, matte) > 0
    share = quality.mouth_contrast_share(edited, slow.found)
    assert ("mouth_contrast_share" in figs) == (share is not None)
