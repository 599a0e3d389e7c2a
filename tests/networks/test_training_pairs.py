"""Pair building for WgGAN/HrhGAN is the graph's path: LandmarkTracker's smoothing,
LandmarkSpread + TriangleWarp, FaceCrop (compared with the nodes evaluated in a graph)."""

from __future__ import annotations

import numpy as np

from facewarp.face import tracking as fm
from facewarp.face.landmarks import INNER_LIPS as MP_INNER_LIPS
from facewarp.graph import Context, Evaluator, Graph, Image, Landmarks, Node, NodeSchema, Output
from facewarp.networks.pairs import build_pairs, track_sequence
from facewarp.warping.landmark import normalising_std


def _face(cx, cy, angle, rng):
    """478 MediaPipe-like points: eyes, mouth corners and inner lips where FaceCrop looks for
    them, the rest scattered over the face; rotated by ``angle`` about the centre."""
    pts = rng.normal(0, 22, (478, 2))
    pts[33], pts[133], pts[362], pts[263] = (-40, -18), (-14, -18), (14, -18), (40, -18)
    pts[61], pts[291] = (-22, 36), (22, 36)
    t = np.linspace(0, 2 * np.pi, len(MP_INNER_LIPS), endpoint=False)
    pts[list(MP_INNER_LIPS)] = np.stack([16 * np.cos(t), 36 + 7 * np.sin(t)], 1)
    c, s = np.cos(angle), np.sin(angle)
    return pts @ np.array([[c, s], [-s, c]]) + (cx, cy)


class _Shot(Node):
    schema = NodeSchema(type="_TestShot", doc="test", time_dependent=True, outputs=(
        Output("rest", "Image"), Output("frame", "Image"), Output("source", "Landmarks"), Output("target", "Landmarks")))
    rest = frames = src = targets = None

    def compute(self, ctx, inputs):
        return {"rest": Image(self.rest), "frame": Image(self.frames[ctx.frame]),
                "source": Landmarks(self.src, scheme="mediapipe478"),
                "target": Landmarks(self.targets[ctx.frame], scheme="mediapipe478")}


def test_build_pairs_is_landmarkspread_trianglewarp_facecrop():
    from skimage import data

    rng = np.random.default_rng(3)
    img = data.astronaut()[:200, 100:300]
    base = _face(100, 90, 0.0, rng)
    n_frames = 4
    pts = [base]
    for k in range(1, n_frames):  # head turns and the points jitter: a non-trivial crop rotation
        c, s = np.cos(0.08 * k), np.sin(0.08 * k)
        pts.append((base - (100, 90)) @ np.array([[c, s], [-s, c]]) + (100 + 2 * k, 90 - k)
                   + rng.normal(0, 0.5, base.shape))
    pts = [p.astype(np.float32).astype(np.float64) for p in pts]  # what Landmarks carries: same inputs both ways
    base = pts[0]
    frames = [(k, np.roll(img, 3 * k, axis=1)) for k in range(n_frames)]
    size, scale = 48, 0.9
    pairs = build_pairs(frames, pts, size, mouth_dilate=2.0, scale=scale, device="cpu")

    g = Graph()
    shot = _Shot("shot")
    shot.rest = img.astype(np.float32) / 255.0
    shot.frames = {k: f.astype(np.float32) / 255.0 for k, f in frames}
    shot.src = base
    shot.targets = dict(enumerate(pts))
    g.nodes["shot"] = shot
    g.add("LandmarkSpread", "sp")
    g.add("TriangleWarp", "tw", {"border": "clamp"})
    crop = {"size": size, "scale": scale, "mouth_dilate": 2.0 * size / 256}
    for name in ("crop_w", "crop_d", "crop_t"):
        g.add("FaceCrop", name, dict(crop, vectors=name == "crop_d"))  # the map's vectors into crop axes
        g.connect("shot.target", f"{name}.landmarks")
    for a, b in (("shot.source", "sp.source"), ("shot.target", "sp.target"), ("shot.rest", "tw.image"),
                 ("shot.source", "tw.source"), ("shot.target", "tw.target"), ("sp.spread", "tw.spread"),
                 ("tw.image", "crop_w.image"), ("tw.normalized", "crop_d.image"), ("shot.frame", "crop_t.image")):
        g.connect(a, b)
    ev = Evaluator(g)
    rng_frames = tuple(range(n_frames))
    for k in rng_frames:
        ctx = Context(frame=k, frames=rng_frames)
        w = ev.pull("crop_w", ctx)
        d = ev.pull("crop_d", ctx)["face"].pixels
        t = ev.pull("crop_t", ctx)["face"].pixels
        np.testing.assert_allclose(pairs.warped[k], np.clip(w["face"].pixels, 0, 1).transpose(2, 0, 1), atol=1e-5)
        np.testing.assert_allclose(pairs.disp[k], d.transpose(2, 0, 1), atol=1e-5)
        np.testing.assert_allclose(pairs.target[k], t.transpose(2, 0, 1), atol=1e-6)
        np.testing.assert_allclose(pairs.mouth[k, 0], w["mouth"].alpha, atol=1e-6)
    assert np.abs(pairs.disp[0]).max() == 0.0  # the rest frame: no displacement
    assert np.abs(pairs.disp[1:]).max() > 0.5
    # analytically, at a landmark inside the crop the map is its displacement / its std, in crop axes
    std = normalising_std([p - base for p in pts])
    k = 2
    m = ev.pull("crop_w", Context(frame=k, frames=rng_frames))["transform"].matrix
    rot = m[:, :2] / np.sqrt(abs(np.linalg.det(m[:, :2])))
    q = pts[k] @ m[:, :2].T + m[:, 2]
    j = 13  # upper inner lip
    expect = ((pts[k][j] - base[j]) / std[j]) @ rot.T
    yi, xi = int(q[j, 1]), int(q[j, 0])
    nb = pairs.disp[k][:, yi - 1:yi + 2, xi - 1:xi + 2].reshape(2, -1)
    assert np.abs(nb - expect[:, None]).min(1).max() < 0.35 * np.abs(expect).max() + 0.05


def test_track_sequence_is_the_trackers_fill_and_one_euro():
    rng = np.random.default_rng(0)
    truth = [_face(100 + 0.5 * k, 100, 0.0, np.random.default_rng(1)) for k in range(12)]
    noisy = [p + rng.normal(0, 1.0, p.shape) for p in truth]
    faces = {k: (None if k == 5 else noisy[k]) for k in range(12)}
    frames = [(k, np.full((8, 8, 3), k, np.uint8)) for k in range(12)]
    calls = iter(range(12))
    kept, lms = track_sequence(frames, fps=25.0, keep=lambda i: i % 2 == 1,
                               landmark_fn=lambda rgb: faces[next(calls)])
    assert [i for i, _ in kept] == [1, 3, 5, 7, 9, 11]
    assert lms[2] is None  # frame 5: no face, no pair from a filled-in guess
    filled, status = fm.fill_missing([faces[k] for k in range(12)], "interpolate")
    width = float(np.median([fm.face_width(x) for x, s in zip(filled, status) if s == "found"]))
    ref = fm.one_euro_zero_phase(np.stack(filled), 25.0, min_cutoff=1.0, beta=1.0, d_cutoff=1.0, scale=width)
    for pos, k in enumerate((1, 3, 7, 9, 11)):
        np.testing.assert_allclose(lms[[0, 1, 3, 4, 5][pos]], ref[k])
    err_raw = np.mean([np.abs(noisy[k] - truth[k]).mean() for k in (3, 7, 9)])
    err_smooth = np.mean([np.abs(lms[i] - truth[k]).mean() for i, k in ((1, 3), (3, 7), (4, 9))])
    assert err_smooth < err_raw  # the smoothing does something


def test_normalising_std_gives_each_landmark_unit_std():
    rng = np.random.default_rng(0)
    scales = np.array([0.8, 3.0, 10.0, 25.0])
    d = rng.normal(size=(500, 4, 2)) * scales[None, :, None] + 5.0
    sig = normalising_std(list(d))
    np.testing.assert_allclose(sig, scales, rtol=0.08)
    nd = (d - d.mean(0)) / sig[None, :, None]
    np.testing.assert_allclose(nd.std(axis=(0, 2)), 1.0, rtol=0.08)
    assert normalising_std(list(np.zeros((10, 3, 2))))[0] == 0.5  # floor for static points


def test_training_pairs_use_the_nodes_defaults():
    """The pair builder tracks, warps and normalises with the very defaults the nodes declare
    (library constants the schemas read), never copies of them."""
    from facewarp.face import tracking
    from facewarp.graph import registry
    from facewarp.warping import landmark

    tracker = registry.get("LandmarkTracker").schema
    for name, value in tracking.TRACKER_DEFAULTS.items():
        assert tracker.param(name).default == value, name
    assert {p.name for p in tracker.params} >= set(tracking.TRACKER_DEFAULTS)
    assert registry.get("TriangleWarp").schema.param("border_points").default == landmark.BORDER_POINTS
    assert registry.get("LandmarkSpread").schema.param("min_std").default == landmark.MIN_STD
