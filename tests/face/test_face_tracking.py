"""LandmarkTracker / LandmarkDetect on real faces, and FLAMEFit with the default model on them."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("mediapipe")
cv2 = pytest.importorskip("cv2")

from _face_helpers import MemoryPlates, read_clip  # noqa: E402

from facewarp.face import fit as _fit  # noqa: E402
from facewarp.face import models  # noqa: E402
from facewarp.face import tracking as fm  # noqa: E402
from facewarp.face.landmarks import IBUG68_FROM_MP478  # noqa: E402
from facewarp.graph import Context, Evaluator, FacewarpError, Graph  # noqa: E402


@pytest.fixture(scope="module")
def astronaut():
    from skimage import data

    return data.astronaut()


@pytest.fixture(scope="module")
def portrait():
    from conftest import shared_file

    return cv2.cvtColor(cv2.imread(str(shared_file("portraits/interfaces_001.jpg"))), cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="module")
def clip():
    from conftest import shared_file

    return read_clip(shared_file("driving/grid_swiz3n.mpg"))


def _run(key, plates, node="LandmarkTracker", params=None, fps=25.0):
    MemoryPlates.PLATES[key] = {1001 + i: p for i, p in enumerate(plates)}
    frames = tuple(range(1001, 1001 + len(plates)))
    g = Graph()
    g.add("TestMemoryPlates", "src", {"key": key})
    g.add(node, "trk", params or {})
    g.connect("src.image", "trk.image")
    ctx = Context(frames=frames, fps=fps)
    g.validate(ctx)
    ev = Evaluator(g)
    return [ev.pull("trk", ctx.at(f))["landmarks"] for f in frames]


def _fit_error_pct(points_list, size):
    res = _fit.Fitter(models.load_model("default")).fit(points_list, None, size)
    iod = np.array([fm.inter_ocular(p) for p in points_list])
    return res, 100 * res.error_px / iod


# -- landmarks -------------------------------------------------------------------------------

def test_478_landmarks_in_plate_pixels_on_stills(astronaut, portrait):
    for img in (astronaut, portrait):
        lm = _run("still", [img], "LandmarkDetect")[0]
        assert lm.found and lm.points.shape == (478, 2) and lm.scheme == "mediapipe478"
        assert lm.image_size == (img.shape[1], img.shape[0])
        assert 0.5 < lm.confidence[0] <= 1.0
        x0, y0, x1, y1 = lm.info["box"]
        inside = ((lm.points[:, 0] > x0 - 0.3 * (x1 - x0)) & (lm.points[:, 0] < x1 + 0.3 * (x1 - x0))).mean()
        assert inside > 0.99
        # anatomy sanity: subject's right eye (33) on the image left, chin below the nose
        assert lm.points[33, 0] < lm.points[263, 0] and lm.points[152, 1] > lm.points[1, 1]


def test_plate_coordinates_follow_padding_and_scale(portrait):
    """Landmarks are in plate pixels: padding the plate shifts them by the pad, a 4K up-scale scales
    them (the crop runs at full resolution, so accuracy does not drop with plate size)."""
    base = fm.track_frame(portrait, linear=False).points
    iod = fm.inter_ocular(base)
    padded = cv2.copyMakeBorder(portrait, 150, 0, 300, 0, cv2.BORDER_CONSTANT, value=(40, 40, 40))
    p2 = fm.track_frame(padded, linear=False).points - np.array([300.0, 150.0])
    s = 3840 / portrait.shape[1]
    big = cv2.resize(portrait, (3840, 3840), interpolation=cv2.INTER_CUBIC)
    p3 = fm.track_frame(big, linear=False).points / s
    d_pad = np.sqrt(((p2 - base) ** 2).sum(1)).mean() / iod
    d_4k = np.sqrt(((p3 - base) ** 2).sum(1)).mean() / iod
    print(f"mean landmark change: padded {100 * d_pad:.3f}% IOD, 4K up-scale {100 * d_4k:.3f}% IOD")
    assert d_pad < 0.01 and d_4k < 0.01


def test_ibug68_mapping_is_symmetric_and_selects(astronaut):
    lm478 = _run("still", [astronaut], "LandmarkDetect")[0]
    lm68 = _run("still", [astronaut], "LandmarkDetect", {"scheme": "ibug68"})[0]
    assert lm68.scheme == "ibug68" and lm68.points.shape == (68, 2)
    np.testing.assert_array_equal(lm68.points, lm478.points[IBUG68_FROM_MP478])
    # left/right iBUG pairs are mirror images in the symmetric default template
    T = models.load_model("default").v_template
    pairs = [(i, 16 - i) for i in range(8)] + [(36, 45), (39, 42), (48, 54), (31, 35), (17, 26), (21, 22)]
    for a, b in pairs:
        pa, pb = T[IBUG68_FROM_MP478[a]], T[IBUG68_FROM_MP478[b]]
        np.testing.assert_allclose(pa * [-1, 1, 1], pb, atol=1e-6)
    # ordering: jaw runs from image left to image right, chin is point 8
    pts = lm68.points
    assert np.all(np.diff(pts[0:9, 1]) > -2) and pts[8, 1] == pts[:17, 1].max()


def test_several_faces_selection(astronaut, portrait):
    small = cv2.resize(portrait, (300, 300), interpolation=cv2.INTER_AREA)
    canvas = np.full((512, 900, 3), 90, np.uint8)
    canvas[:, :512] = astronaut
    canvas[100:400, 580:880] = small
    got, area = {}, {}
    for sel, idx in (("index", 0), ("index", 1), ("largest", 0)):
        lm = _run("multi", [canvas], "LandmarkDetect", {"select": sel, "face_index": idx})[0]
        assert lm.found and lm.info["faces"] == 2
        got[(sel, idx)] = lm.points[:468].mean(0)
        x0, y0, x1, y1 = lm.info["box"]
        area[(sel, idx)] = (x1 - x0) * (y1 - y0)
    assert got[("index", 0)][0] < 512 < got[("index", 1)][0]
    bigger = ("index", 0) if area[("index", 0)] > area[("index", 1)] else ("index", 1)
    np.testing.assert_allclose(got[("largest", 0)], got[bigger], atol=1e-3)
    # closest-to-previous follows the face the previous frame had (the right one here)
    prev_right = got[("index", 1)]
    r = fm.track_frame(canvas, select="closest", previous_center=prev_right, linear=False)
    assert r.points[:468].mean(0)[0] > 512


def test_missing_face_policies(astronaut):
    img = cv2.resize(astronaut, (256, 256), interpolation=cv2.INTER_AREA)
    blank = np.full_like(img, 128)
    plates = [img, blank, blank, img, blank]
    lms = _run("miss_i", plates, params={"missing": "interpolate", "smoothing": "none"})
    status = [lm.info["status"] for lm in lms]
    assert status == ["found", "interpolated", "interpolated", "found", "held"]
    assert all(lm.found for lm in lms)  # guessed points are usable; the status says they are guessed
    np.testing.assert_allclose(lms[1].points, (2 * lms[0].points + lms[3].points) / 3, atol=1e-3)
    np.testing.assert_allclose(lms[4].points, lms[3].points, atol=1e-6)
    assert lms[1].confidence.max() == 0
    held = _run("miss_h", plates, params={"missing": "hold", "smoothing": "none"})
    assert [lm.info["status"] for lm in held] == ["found", "held", "held", "found", "held"]
    np.testing.assert_allclose(held[2].points, held[0].points, atol=1e-6)
    with pytest.raises(FacewarpError, match="no face found"):
        _run("miss_e", plates, params={"missing": "error"})
    single = _run("miss_d", [blank], "LandmarkDetect")[0]
    assert not single.found


def test_static_plate_jitter_raw_vs_smoothed(astronaut):
    rng = np.random.default_rng(0)
    plates = [np.clip(astronaut + rng.normal(0, 2.0, astronaut.shape), 0, 255).astype(np.uint8) for _ in range(50)]
    lms = _run("jitter", plates, fps=24.0)
    raw = np.stack([lm.info["raw"] for lm in lms]).astype(np.float64)
    smooth = np.stack([lm.points for lm in lms]).astype(np.float64)
    width = fm.face_width(raw.mean(0))

    def jitter(x):
        return np.sqrt(((x - x.mean(0)) ** 2).sum(-1).mean()) / width

    print(f"jitter RMS, % of face width: raw {100 * jitter(raw):.4f}, smoothed {100 * jitter(smooth):.4f}")
    assert jitter(smooth) <= 0.001
    assert jitter(smooth) < 0.6 * jitter(raw)


# -- fitting the default model to real faces ----------------------------------------------------

def test_default_model_fit_on_stills(astronaut, portrait):
    for name, img in (("astronaut", astronaut), ("interfaces_001", portrait)):
        pts = fm.track_frame(img, linear=False).points
        res, pct = _fit_error_pct([pts], (img.shape[1], img.shape[0]))
        print(f"{name}: reprojection {res.error_px[0]:.3f} px = {pct[0]:.3f}% IOD")
        assert pct[0] <= 1.5


def test_default_model_fit_on_driving_clip_and_jaw_tracks_mouth(clip):
    lms = _run("clip", clip, fps=25.0, params={"smoothing": "none"})
    pts = [lm.points.astype(np.float64) for lm in lms]
    assert all(lm.found for lm in lms)
    res, pct = _fit_error_pct(pts, (clip[0].shape[1], clip[0].shape[0]))
    iod = np.array([fm.inter_ocular(p) for p in pts])
    gap = np.array([np.linalg.norm(p[13] - p[14]) for p in pts]) / iod
    corr = np.corrcoef(res.pose[:, 2, 0], gap)[0, 1]
    print(f"clip ({len(pts)} frames): reprojection max {pct.max():.3f}% / median {np.median(pct):.3f}% IOD; "
          f"jaw vs lip gap correlation {corr:.3f}; warm fit median {np.median(res.frame_ms[1:]):.1f} ms/frame")
    assert pct.max() <= 3.0
    assert corr >= 0.8
