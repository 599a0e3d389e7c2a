"""DisplacementWarp and STMapExport on a real photo."""

from __future__ import annotations

import numpy as np
from skimage import data

from facewarp.core.conventions import stmap_to_displacement
from facewarp.graph import Context, Displacement, Evaluator, Graph, Image, Node, NodeSchema, Output, register

PHOTO = data.astronaut()[:96, :128].astype(np.float32) / 255.0


@register
class MemoryField(Node):
    schema = NodeSchema(type="TestMemoryField", doc="a field held in memory", outputs=(Output("displacement", "Displacement"),))
    field = None

    def compute(self, ctx, inputs):
        return {"displacement": type(self).field}


@register
class MemoryImage(Node):
    schema = NodeSchema(type="TestMemoryImage", doc="an image held in memory", outputs=(Output("image", "Image"),))

    def compute(self, ctx, inputs):
        return {"image": Image(PHOTO)}


def _run(field: Displacement, node_type: str, params=None):
    MemoryField.field = field
    g = Graph()
    g.add("TestMemoryImage", "img")
    g.add("TestMemoryField", "fld")
    if node_type == "DisplacementWarp":
        g.add("DisplacementWarp", "n", params)
        g.connect("img.image", "n.image")
    else:
        g.add("STMapExport", "n", params)
    g.connect("fld.displacement", "n.displacement")
    g.validate(Context(frames=(1,)))
    return Evaluator(g).pull("n", Context(frame=1, frames=(1,)))["image"]


def test_integer_translation_is_an_exact_shift():
    field = np.zeros((96, 128, 2), np.float32)
    field[..., 0], field[..., 1] = 3, -2  # out(x, y) = src(x + 3, y - 2)
    out = _run(Displacement(field), "DisplacementWarp").pixels
    assert np.array_equal(out[2:, :-3], PHOTO[:-2, 3:])


def test_half_resolution_field_is_scaled_to_the_image():
    field = np.zeros((48, 64, 2), np.float32)
    field[..., 0] = 2.0  # 2 px at half resolution = 4 px at full resolution
    out = _run(Displacement(field), "DisplacementWarp").pixels
    assert np.allclose(out[:, :-4], PHOTO[:, 4:], atol=1e-6)


def test_stmap_export_round_trips_the_field():
    rng = np.random.default_rng(0)
    field = rng.normal(0, 3, (96, 128, 2)).astype(np.float32)
    st = _run(Displacement(field), "STMapExport")
    assert st.channels == ("forward.u", "forward.v", "A")
    assert np.abs(stmap_to_displacement(st.pixels[..., :2]) - field).max() < 1e-4
    off = _run(Displacement(field), "STMapExport", {"mode": "idistort", "channels": "rgb"})
    assert np.allclose(off.pixels[..., 0], field[..., 0]) and np.allclose(off.pixels[..., 1], -field[..., 1])


def test_stmap_export_is_float32_with_validity_alpha():
    rng = np.random.default_rng(5)
    field = rng.normal(0, 3, (96, 128, 2)).astype(np.float32)
    valid = rng.random((96, 128)) > 0.3
    st = _run(Displacement(field, valid), "STMapExport")
    assert st.pixels.dtype == np.float32 and st.pixels.shape == (96, 128, 3)
    np.testing.assert_array_equal(st.pixels[..., 2], valid.astype(np.float32))
    assert np.abs(stmap_to_displacement(st.pixels) - field).max() <= 1e-4
