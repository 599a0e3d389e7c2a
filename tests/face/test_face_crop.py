"""FaceCrop / FacePaste: alignment, inverse transform, feathered paste that leaves the plate
bit-exact outside the matte, inner-mouth matte."""

from __future__ import annotations

import numpy as np
import pytest

from facewarp.core.conventions import affine_to_cv2, invert_affine
from facewarp.face import crop as fc
from facewarp.face.landmarks import INNER_LIPS
from facewarp.graph import Context, Evaluator, Graph, Image, Landmarks, Mask, Transform2D


def _synthetic_landmarks(cx=300.0, cy=220.0, s=1.0, angle_deg=0.0):
    """A MediaPipe-sized point set with only the points alignment needs placed meaningfully."""
    rng = np.random.default_rng(0)
    pts = np.zeros((478, 2))
    pts[:] = rng.normal(0, 30 * s, (478, 2))
    pts[33], pts[133] = (-45, -20), (-15, -20)
    pts[362], pts[263] = (15, -20), (45, -20)
    pts[61], pts[291] = (-25, 40), (25, 40)
    inner = np.array(INNER_LIPS)
    t = np.linspace(0, 2 * np.pi, len(inner), endpoint=False)
    pts[inner] = np.stack([20 * np.cos(t), 40 + 8 * np.sin(t)], 1)
    a = np.deg2rad(angle_deg)
    r = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    return (pts * s) @ r.T + [cx, cy]


def test_alignment_is_a_similarity_that_uprights_the_face():
    pts = _synthetic_landmarks(angle_deg=25.0, s=1.3)
    m = fc.alignment_matrix(pts, 256)
    a = m[:, :2]
    # similarity: A = k R
    k = np.sqrt(abs(np.linalg.det(a)))
    np.testing.assert_allclose(a @ a.T / k**2, np.eye(2), atol=1e-9)
    crop_pts = fc.transform_points(pts, m)
    eyes_r = crop_pts[[33, 133]].mean(0)
    eyes_l = crop_pts[[362, 263]].mean(0)
    assert abs(eyes_r[1] - eyes_l[1]) < 1e-3  # eyes level
    assert eyes_r[0] < eyes_l[0]
    centre = crop_pts[[33, 133, 362, 263, 61, 291]].mean(0)
    assert np.all(np.abs(centre - 128) < 40)
    np.testing.assert_allclose(fc.transform_points(crop_pts, invert_affine(m)), pts, atol=1e-3)


def test_crop_samples_the_plate_at_the_mapped_points():
    # a plate whose value is an affine function of the continuous coordinate: bilinear
    # resampling reproduces it exactly, so crop(q) must equal f(A^-1 q)
    h, w = 300, 400
    ys, xs = np.mgrid[0:h, 0:w] + 0.5
    plate = np.stack([xs / w, ys / h, 0.5 * np.ones_like(xs)], -1).astype(np.float32)
    m = fc.alignment_matrix(_synthetic_landmarks(200, 150, 0.8, 10), 64)
    crop = fc.warp_to_crop(plate, m, 64)
    q = np.stack(np.meshgrid(np.arange(64) + 0.5, np.arange(64) + 0.5), -1).reshape(-1, 2)
    src = fc.transform_points(q, invert_affine(m)).reshape(64, 64, 2)
    inside = (src[..., 0] > 1) & (src[..., 0] < w - 1) & (src[..., 1] > 1) & (src[..., 1] < h - 1)
    np.testing.assert_allclose(crop[..., 0][inside], (src[..., 0] / w)[inside], atol=2e-4)
    np.testing.assert_allclose(crop[..., 1][inside], (src[..., 1] / h)[inside], atol=2e-4)


def test_affine_to_cv2_matches_continuous_convention():
    m = np.array([[0.7, -0.2, 13.0], [0.3, 0.9, -4.0]])
    p = np.array([10.5, 20.5])  # continuous centre of pixel (20, 10)
    q = m[:, :2] @ p + m[:, 2]
    mc = affine_to_cv2(m)
    qc = mc[:, :2] @ (p - 0.5) + mc[:, 2]
    np.testing.assert_allclose(qc, q - 0.5, atol=1e-12)


def _graph_crop_paste(plate_px, pts, feather=6.0):
    g = Graph()
    from facewarp.graph.node import Node
    from facewarp.graph.schema import NodeSchema, Output

    class _Src(Node):
        schema = NodeSchema(type="_TestPlateSrc", doc="", outputs=(Output("image", "Image"), Output("landmarks", "Landmarks")))

        def compute(self, ctx, inputs):
            return {"image": Image(plate_px), "landmarks": Landmarks(pts, scheme="mediapipe478",
                                                                      image_size=(plate_px.shape[1], plate_px.shape[0]))}

    g.nodes["src"] = _Src("src")
    g.add("FaceCrop", "crop", {"size": 128})
    g.add("Grade", "grade", {"gain": 0.5, "lift": 0.1})
    g.add("FacePaste", "paste", {"feather": feather})
    g.connect("src.image", "crop.image")
    g.connect("src.landmarks", "crop.landmarks")
    g.connect("crop.face", "grade.image")
    g.connect("src.image", "paste.plate")
    g.connect("grade.image", "paste.face")
    g.connect("crop.transform", "paste.transform")
    g.connect("crop.landmarks", "paste.landmarks")
    return g


def test_crop_grade_paste_is_bit_exact_outside_the_matte():
    rng = np.random.default_rng(3)
    plate = rng.random((360, 480, 3)).astype(np.float32)
    pts = _synthetic_landmarks(250, 190, 0.9, -12)
    g = _graph_crop_paste(plate, pts)
    ctx = Context(frame=1, frames=(1,))
    ev = Evaluator(g)
    out = ev.pull("paste", ctx)["image"].pixels
    crop = ev.pull("crop", ctx)
    tr: Transform2D = crop["transform"]
    alpha_crop = fc.face_mask(crop["landmarks"].points, (128, 128), 2.0, 6.0)
    # the matte resampled onto the plate: pixels where it is 0 must be untouched, bit for bit
    import cv2

    a_plate = cv2.warpAffine(alpha_crop, affine_to_cv2(tr.matrix), (480, 360),
                             flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_CONSTANT)
    outside = a_plate == 0
    assert outside.mean() > 0.5
    assert np.array_equal(out[outside], plate[outside])
    # the hull of the plate landmarks bounds the changed pixels
    changed = np.any(out != plate, axis=-1)
    hull_mask = fc.face_mask(pts, (480, 360))
    assert changed.any()
    assert np.all(hull_mask[changed] > 0)
    # inside the matte, where it is 1, the result is the graded plate (resampled): gain 0.5, lift 0.1
    core = (a_plate >= 0.999) & ~outside
    err = np.abs(out[core] - (0.5 * plate[core] + 0.1))
    assert core.sum() > 100 and np.median(err) < 0.25  # resampling of white noise: loose, but graded
    assert np.median(np.abs(out[core] - plate[core])) > np.median(err)


def test_paste_identity_crop_returns_plate_values_where_matte_is_one():
    # crop with a pure translation by integers: paste must reproduce the plate (up to float rounding)
    plate = np.random.default_rng(1).random((100, 120, 3)).astype(np.float32)
    m = np.array([[1.0, 0.0, -30.0], [0.0, 1.0, -20.0]])
    face = fc.warp_to_crop(plate, m, 64)
    alpha = fc.rect_mask((64, 64), 0, 4)
    out = fc.paste(plate, face, alpha, m)
    np.testing.assert_allclose(out, plate, atol=1e-6)
    assert np.array_equal(out[:20], plate[:20]) and np.array_equal(out[:, :30], plate[:, :30])


def test_inner_mouth_mask_covers_the_lip_polygon_only():
    pts = _synthetic_landmarks(64, 40, 1.0)
    m = fc.inner_mouth_mask(pts, (128, 128))
    # ellipse 20 x 8 around (64, 80): area ~ pi * 20 * 8 ~ 503 px (polygon slightly less)
    assert 420 < m.sum() < 520
    assert m[80, 64] == 1.0 and m[20, 20] == 0.0
    grown = fc.inner_mouth_mask(pts, (128, 128), dilate=3)
    assert grown.sum() > m.sum() + 100


def test_facecrop_outputs_and_mouth_mask_node():
    plate = np.random.default_rng(2).random((300, 400, 3)).astype(np.float32)
    pts = _synthetic_landmarks(200, 150)
    g = _graph_crop_paste(plate, pts)
    out = Evaluator(g).pull("crop", Context(frame=1, frames=(1,)))
    assert out["face"].pixels.shape == (128, 128, 3)
    assert isinstance(out["mouth"], Mask) and out["mouth"].alpha.max() == 1.0
    assert out["transform"].crop_size == (128, 128) and out["transform"].plate_size == (400, 300)


def test_facecrop_vectors_rotates_a_vector_field_into_crop_axes():
    """A constant plate-space vector (1, 0) under a face tilted by 30 degrees is, in the upright
    crop, that vector rotated by -30 degrees (unit length: the crop's scale is left out)."""
    from facewarp.graph import Context, Evaluator, Graph, Image, InputError, Landmarks, Node, NodeSchema, Output

    ang = np.deg2rad(30.0)
    c, s = np.cos(ang), np.sin(ang)
    eyes_mouth = np.array([[-40, -18], [-14, -18], [14, -18], [40, -18], [-22, 36], [22, 36]], np.float64)
    pts = np.zeros((478, 2))
    pts[[33, 133, 362, 263, 61, 291]] = eyes_mouth
    pts = pts @ np.array([[c, s], [-s, c]]) + (160, 120)  # rotated by +30 degrees (y down)
    field = np.zeros((240, 320, 2), np.float32)
    field[..., 0] = 1.0

    class _Src(Node):
        schema = NodeSchema(type="_TestVecSrc", doc="t", outputs=(Output("image", "Image"), Output("lm", "Landmarks")))

        def compute(self, ctx, inputs):
            names = ("ndx", "ndy") if self.px.shape[2] == 2 else ("R", "G", "B")
            return {"image": Image(self.px, names), "lm": Landmarks(pts, scheme="mediapipe478")}

    g = Graph()
    src = _Src("src")
    src.px = field
    g.nodes["src"] = src
    g.add("FaceCrop", "fc", {"size": 64, "vectors": True})
    g.connect("src.image", "fc.image")
    g.connect("src.lm", "fc.landmarks")
    ctx = Context(frame=1, frames=(1,))
    out = Evaluator(g).pull("fc", ctx)
    m = out["transform"].matrix
    got = out["face"].pixels[32, 32]
    # the crop's own rotation, from its matrix: the plate x axis lands at this angle in the crop
    crop_angle = np.arctan2(m[1, 0], m[0, 0])
    assert abs(abs(np.rad2deg(crop_angle)) - 30.0) < 1.0  # the crop undoes the tilt
    np.testing.assert_allclose(got, [np.cos(crop_angle), np.sin(crop_angle)], atol=1e-5)
    assert abs(np.hypot(*got) - 1.0) < 1e-5
    src.px = np.zeros((240, 320, 3), np.float32)
    g2 = Graph()
    g2.nodes["src"] = src
    g2.add("FaceCrop", "fc", {"size": 64, "vectors": True})
    g2.connect("src.image", "fc.image")
    g2.connect("src.lm", "fc.landmarks")
    with pytest.raises(InputError, match="vectors=true needs a 2-channel image"):
        Evaluator(g2).pull("fc", ctx)
