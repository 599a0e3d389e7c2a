"""ResDecompose -> (a generator) -> ResWarp(pyramid): the network path of Animating Through Warping
without a cycle; and FaceCrop at the plate's own resolution with the motion field carried into the crop."""

from __future__ import annotations

import numpy as np
import pytest

from facewarp.face.crop import alignment_matrix, face_box, warp_to_crop
from facewarp.face.landmarks import LEFT_EYE_CORNERS, MOUTH_CORNERS, RIGHT_EYE_CORNERS
from facewarp.graph import (
    Context,
    Displacement,
    Evaluator,
    Graph,
    Image,
    InputError,
    Landmarks,
    Node,
    NodeSchema,
    Output,
)
from facewarp.kernels import reswarp as rw
from facewarp.kernels.sampling import warp_bilinear
from facewarp.nodes.res_warp import DEFAULT_MODE, PYRAMID_KEY, ResWarp

CTX = Context(frame=1, frames=(1,))


class _Src(Node):
    schema = NodeSchema(type="_TestResNodesSrc", doc="test source", outputs=(
        Output("plate", "Image"), Output("result", "Image"), Output("field", "Displacement"),
        Output("landmarks", "Landmarks")))
    data: dict = {}

    def compute(self, ctx, inputs):
        return {k: self.data.get(k) for k in ("plate", "result", "field", "landmarks")}


def _src(g, **data):
    src = _Src("src")
    src.data = data
    g.nodes["src"] = src


def _smooth_field(w, h, amp, seed):
    import cv2

    rng = np.random.default_rng(seed)
    f = cv2.GaussianBlur(rng.standard_normal((h, w, 2)).astype(np.float32), (0, 0), 0.1 * max(w, h))
    return f / np.abs(f).max() * amp


def test_default_mode_is_multiscale():
    assert DEFAULT_MODE == "multiscale"
    assert ResWarp.schema.param("mode").default == "multiscale"


@pytest.mark.parametrize("mode", ["vanilla", "multiscale"])
def test_decompose_generator_reconstruct_equals_the_one_node_reswarp(mode):
    rng = np.random.default_rng(3)
    plate = rng.random((300, 420, 3), dtype=np.float32)
    field = _smooth_field(64, 64, 3.0, seed=1)
    g = Graph()
    _src(g, plate=Image(plate), field=Displacement(field))
    g.add("ResDecompose", "dec", {"mode": mode, "low_size": 64})
    g.connect("src.plate", "dec.image")
    g.add("DisplacementWarp", "gen", {})  # a bypassed generator: the low-res image, warped
    g.connect("dec.low", "gen.image")
    g.connect("src.field", "gen.displacement")
    g.add("ResWarp", "rec", {"mode": "vanilla" if mode == "multiscale" else "multiscale"})  # not used: the pyramid's
    for a, b in (("dec.pyramid", "rec.pyramid"), ("gen.image", "rec.result"), ("src.field", "rec.field")):
        g.connect(a, b)
    ev = Evaluator(g)
    low = ev.output("dec.low", CTX)
    assert low.size == (64, 64)
    assert np.array_equal(low.pixels, rw.decompose(plate, (64, 64), mode == "multiscale")[-1])
    pyr = ev.output("dec.pyramid", CTX)
    assert pyr.metadata[PYRAMID_KEY]["mode"] == mode
    out = ev.output("rec.image", CTX)
    result = warp_bilinear(low.pixels, field, device="cpu")
    ref = rw.reswarp(plate, result, field, multiscale=mode == "multiscale", device="cpu")
    assert np.array_equal(out.pixels, ref)
    assert out.metadata["facewarp:reswarp"]["mode"] == mode and PYRAMID_KEY not in out.metadata
    assert np.array_equal(ev.output("rec.low", CTX).pixels, low.pixels)


def _rec_graph(connect_plate, connect_pyramid, pyramid_image=None, result_size=32):
    g = Graph()
    plate = np.random.default_rng(0).random((100, 120, 3), dtype=np.float32)
    _src(g, plate=pyramid_image or Image(plate), result=Image(np.zeros((result_size, result_size, 3), np.float32)),
         field=Displacement(np.zeros((32, 32, 2), np.float32)))
    g.add("ResDecompose", "dec", {"low_size": 32})
    g.connect("src.plate", "dec.image")
    g.add("ResWarp", "rec", {"low_size": 32})
    g.connect("src.result", "rec.result")
    g.connect("src.field", "rec.field")
    if connect_plate:
        g.connect("src.plate", "rec.plate")
    if connect_pyramid:
        g.connect("src.plate" if pyramid_image else "dec.pyramid", "rec.pyramid")
    return Evaluator(g)


def test_reswarp_refuses_both_or_neither_plate_and_pyramid():
    with pytest.raises(InputError, match="either"):
        _rec_graph(True, True).output("rec.image", CTX)
    with pytest.raises(InputError, match="nothing to reconstruct"):
        _rec_graph(False, False).output("rec.image", CTX)
    assert _rec_graph(True, False).output("rec.image", CTX).size == (120, 100)
    assert _rec_graph(False, True).output("rec.image", CTX).size == (120, 100)


def test_reswarp_refuses_a_plain_image_as_pyramid_and_a_wrong_result_size():
    with pytest.raises(InputError, match="not a ResDecompose pyramid"):
        _rec_graph(False, True, pyramid_image=Image(np.zeros((50, 50, 3), np.float32))).output("rec.image", CTX)
    with pytest.raises(InputError, match="32x32 low-res result.*mode=multiscale"):
        _rec_graph(False, True, result_size=40).output("rec.image", CTX)


def test_decompose_refuses_a_grid_larger_than_the_picture():
    g = Graph()
    _src(g, plate=Image(np.zeros((100, 120, 3), np.float32)))
    g.add("ResDecompose", "dec", {"low_size": 128})
    g.connect("src.plate", "dec.image")
    with pytest.raises(InputError, match="larger than the picture"):
        Evaluator(g).output("dec.low", CTX)


# ------------------------------------------------------------------ FaceCrop at native resolution

def _tilted_face(centre=(640.0, 400.0), eye_dist=120.0, angle_deg=18.0):
    """478 MediaPipe-indexed points: the eye and mouth corners of a face turned by ``angle_deg``,
    the rest a cloud around them."""
    rng = np.random.default_rng(2)
    c, s = np.cos(np.radians(angle_deg)), np.sin(np.radians(angle_deg))
    rot = np.array([[c, -s], [s, c]])
    local = rng.normal(0, eye_dist * 0.6, (478, 2))
    for idx, pos in ((RIGHT_EYE_CORNERS, (-eye_dist / 2, 0)), (LEFT_EYE_CORNERS, (eye_dist / 2, 0)),
                     (MOUTH_CORNERS, (0, eye_dist * 1.1))):
        for k, i in enumerate(idx):
            local[i] = np.array(pos) + ((-1) ** k) * np.array([6.0, 0.0])
    return (local @ rot.T + np.array(centre)).astype(np.float32)


def _crop_graph(pts, plate, params, field=None):
    g = Graph()
    _src(g, plate=Image(plate), landmarks=Landmarks(pts, None, "mediapipe478", (plate.shape[1], plate.shape[0])),
         field=Displacement(field) if field is not None else None)
    g.add("FaceCrop", "crop", params)
    g.connect("src.plate", "crop.image")
    g.connect("src.landmarks", "crop.landmarks")
    if field is not None:
        g.connect("src.field", "crop.field")
    return Evaluator(g)


def test_native_crop_has_the_face_box_side_and_unit_scale():
    pts = _tilted_face()
    plate = np.random.default_rng(1).random((800, 1280, 3), dtype=np.float32)
    ev = _crop_graph(pts, plate, {"size": 0})
    face = ev.output("crop.face", CTX)
    _, half, _ = face_box(pts)
    assert face.width == face.height == round(2 * half)
    m = np.asarray(ev.output("crop.transform", CTX).matrix)
    assert abs(np.sqrt(abs(np.linalg.det(m[:, :2]))) - 1.0) < 1.0 / face.width  # one crop pixel per plate pixel
    # the same framing as a crop at any other size
    assert np.allclose(m * 256 / face.width, alignment_matrix(pts, 256), atol=1e-9)
    assert np.array_equal(ev.output("crop.field", CTX).field, np.zeros((face.height, face.width, 2), np.float32))
    big = _crop_graph(pts, plate, {"size": 0, "min_size": 1024}).output("crop.face", CTX)
    assert big.size == (1024, 1024)


def test_crop_field_warps_the_crop_as_the_plate_was_warped():
    pts = _tilted_face()
    import cv2

    rng = np.random.default_rng(5)
    plate = cv2.GaussianBlur(rng.random((800, 1280, 3), dtype=np.float32), (0, 0), 3.0)
    field = _smooth_field(1280, 800, 6.0, seed=3)
    ev = _crop_graph(pts, plate, {"size": 0}, field)
    crop, tr, cfield = ev.output("crop.face", CTX), ev.output("crop.transform", CTX), ev.output("crop.field", CTX)
    assert cfield.size == crop.size
    warped_then_cropped = warp_to_crop(warp_bilinear(plate, field, device="cpu"), np.asarray(tr.matrix), crop.width)
    cropped_then_warped = warp_bilinear(crop.pixels, cfield.field, device="cpu")
    inner = slice(20, -20)
    err = np.abs(warped_then_cropped - cropped_then_warped)[inner, inner]
    # (measured 2.0e-4 / 2.4e-3; the field resampled without turning its vectors into the crop's
    # axes: 2.4e-3 / 2.9e-2)
    assert err.mean() < 5e-4 and err.max() < 0.01, (err.mean(), err.max())


def test_crop_size_is_native_or_at_least_16():
    ev = _crop_graph(_tilted_face(), np.zeros((800, 1280, 3), np.float32), {"size": 8})
    problems = ev.graph.problems(CTX)
    assert any("0 (native) or at least 16" in str(p) for p in problems)
