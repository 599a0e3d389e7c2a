"""write_plate's samples: a matte handed over as a plane of its own (no float32 concatenation)
and the half conversion done before OpenImageIO give files that hold exactly what OpenImageIO
writes from the concatenated float32 pixels: same bits, channels, type, compression, metadata."""

from __future__ import annotations

import numpy as np
import OpenImageIO as oiio
import pytest

from facewarp.core.types import Image, Mask
from facewarp.graph import Context, Graph
from facewarp.graph.pipeline import WritePipeline
from facewarp.imaging.plates import EXR_ZIP_LEVEL, read_plate, write_plate

NAMES = ("R", "G", "B", "matte.A")


def _samples(h=37, w=53, seed=3):
    """Picture and matte with the awkward values: over half's range, subnormals, the largest
    finite half, negative zero, NaN and inf, a hard-edged matte."""
    rng = np.random.default_rng(seed)
    rgb = (rng.standard_normal((h, w, 3)) * 2.0).astype(np.float32)
    rgb[0, 0] = (1e9, -1e9, 1e-9)
    rgb[0, 1] = (65519.0, -0.0, 6e-8)
    rgb[1, 1, 0], rgb[1, 2, 1], rgb[1, 3, 2] = np.nan, np.inf, -np.inf
    matte = (rng.random((h, w)) > 0.4).astype(np.float32) * rng.random((h, w)).astype(np.float32)
    return rgb, matte


def _bare_write(path, px, fmt, names, compression):
    out = oiio.ImageOutput.create(path)
    spec = oiio.ImageSpec(px.shape[1], px.shape[0], px.shape[2], fmt)
    spec.channelnames = names
    spec.attribute("compression", compression)
    spec.attribute("facewarp:shot", "sh010")
    assert out.open(path, spec)
    assert out.write_image(px)
    assert out.close()


def _file(path):
    inp = oiio.ImageInput.open(path)
    spec = oiio.ImageSpec(inp.spec())
    data = inp.read_image(0, 0, 0, spec.nchannels, spec.format)
    inp.close()
    # DateTime is the writer's clock (to the second): two writes may straddle a second
    attrs = {a.name: a.value for a in spec.extra_attribs if not a.name.startswith("oiio:") and a.name != "DateTime"}
    return spec, np.asarray(data), attrs


@pytest.mark.parametrize("pixel_type, fmt, bits", [("half", oiio.HALF, np.uint16), ("float", oiio.FLOAT, np.uint32)])
@pytest.mark.parametrize("compression", ["zip", "piz", "none"])
def test_matte_plane_writes_what_openimageio_writes_from_the_concatenation(tmp_path, pixel_type, fmt, bits,
                                                                           compression):
    rgb, matte = _samples()
    ours = str(tmp_path / "ours.exr")
    write_plate(ours, Image(rgb, NAMES[:3], metadata={"facewarp:shot": "sh010"}), pixel_type=pixel_type,
                compression=compression, extra=((NAMES[3], matte),))
    level = f"{compression}:{EXR_ZIP_LEVEL}" if compression == "zip" and EXR_ZIP_LEVEL else compression
    ref = str(tmp_path / "ref.exr")
    _bare_write(ref, np.concatenate([rgb, matte[..., None]], axis=2), fmt, NAMES, level)
    (s1, d1, a1), (s2, d2, a2) = _file(ours), _file(ref)
    assert tuple(s1.channelnames) == NAMES and s1.format == fmt
    assert (s1.width, s1.height, s1.nchannels) == (s2.width, s2.height, s2.nchannels)
    assert np.array_equal(d1.view(bits), d2.view(bits))
    assert a1 == a2 and a1["compression"] == compression and a1["facewarp:shot"] == "sh010"


def test_planes_from_views_and_without_planes_keep_the_image_unchanged(tmp_path):
    """Strided inputs (a channel slice as the matte, a transposed picture) are written right, and
    write_plate never modifies what it is handed."""
    rgb, matte = _samples()
    rgba = np.concatenate([rgb, matte[..., None]], axis=2)
    picture = np.ascontiguousarray(rgb.transpose(1, 0, 2)).transpose(1, 0, 2)  # not C-contiguous
    before = (picture.copy(), rgba.copy())
    write_plate(str(tmp_path / "a.exr"), Image(picture, NAMES[:3]), pixel_type="float", extra=((NAMES[3], rgba[..., 3]),))
    write_plate(str(tmp_path / "b.exr"), Image(rgba, NAMES), pixel_type="float")
    assert np.array_equal(picture, before[0], equal_nan=True) and np.array_equal(rgba, before[1], equal_nan=True)
    a, b = _file(str(tmp_path / "a.exr"))[1], _file(str(tmp_path / "b.exr"))[1]
    assert np.array_equal(a.view(np.uint32), b.view(np.uint32))
    assert np.array_equal(a.view(np.uint32), rgba.view(np.uint32))


def test_a_plane_of_the_wrong_size_is_refused(tmp_path):
    from facewarp.core.errors import InputError

    rgb, matte = _samples()
    with pytest.raises(InputError, match="matte.A is 52x37"):
        write_plate(str(tmp_path / "bad.exr"), Image(rgb), extra=(("matte.A", matte[:, 1:]),))
    assert not list(tmp_path.iterdir())


def test_planes_in_an_integer_file_are_encoded_like_the_image(tmp_path):
    rgb, matte = _samples()
    rgb = np.clip(np.nan_to_num(rgb, posinf=1.0, neginf=0.0), 0.0, 1.0)
    write_plate(str(tmp_path / "p.tif"), Image(rgb * matte[..., None]), extra=(("A", matte),))
    write_plate(str(tmp_path / "q.tif"), Image(np.concatenate([rgb * matte[..., None], matte[..., None]], axis=2),
                                               ("R", "G", "B", "A")))
    assert np.array_equal(_file(str(tmp_path / "p.tif"))[1], _file(str(tmp_path / "q.tif"))[1])


@pytest.mark.parametrize("background", [False, True])
@pytest.mark.parametrize("pixel_type", ["half", "float"])
def test_plate_write_node_writes_its_matte_as_before(tmp_path, pixel_type, background):
    """PlateWrite hands write_plate the matte as a plane (on the frame loop or to a background
    writer): the file is the picture and matte.A, bit for bit what a write of the concatenated
    pixels gives."""
    rgb, matte = _samples()
    rgb = np.nan_to_num(rgb)
    node = Graph().add("PlateWrite", "write", {"path": str(tmp_path / "r.exr"), "exr_pixel_type": pixel_type})
    inputs = {"image": Image(rgb), "matte": Mask(matte)}
    if background:
        with WritePipeline() as writes:
            out = node.compute(Context(frame=1001, write_mode="overwrite"), inputs)
        assert writes.counts == {"write": 1}
    else:
        out = node.compute(Context(frame=1001, write_mode="overwrite"), inputs)
    assert out["image"].pixels is not None and out["image"].channels == ("R", "G", "B")
    write_plate(str(tmp_path / "ref.exr"), Image(np.concatenate([rgb, matte[..., None]], axis=2), NAMES),
                pixel_type=pixel_type)
    back = read_plate(str(tmp_path / "r.exr"), "R,G,B,matte.A", nonfinite="keep")
    ref = read_plate(str(tmp_path / "ref.exr"), "R,G,B,matte.A", nonfinite="keep")
    assert back.channels == NAMES
    assert np.array_equal(back.pixels, ref.pixels, equal_nan=True)
    (s1, d1, _), (s2, d2, _) = _file(str(tmp_path / "r.exr")), _file(str(tmp_path / "ref.exr"))
    assert tuple(s1.channelnames) == NAMES and s1.format == s2.format
    assert np.array_equal(d1.view(np.uint8), d2.view(np.uint8))


def test_pxr24_stmap_error_is_within_the_documented_bound(tmp_path):
    """reanimate.yaml's stmap_compression=pxr24: float32 rounded to 24 bits (15 stored mantissa
    bits), so each value is off by at most 2^-16 of itself: u, v in [0, 1] by <= 1.5e-5, i.e.
    <= 0.06 px at 4K (the preset's doc)."""
    from facewarp.core.conventions import displacement_to_stmap

    w, h = 3840, 24  # u spans a 4K frame's width
    rng = np.random.default_rng(5)
    st = displacement_to_stmap((rng.standard_normal((h, w, 2)) * 40.0).astype(np.float32))
    path = str(tmp_path / "st.exr")
    write_plate(path, Image(st, ("forward.u", "forward.v")), pixel_type="float", compression="pxr24")
    err = np.abs(read_plate(path).pixels - st)
    assert err.max() > 0  # lossy indeed
    assert (err <= np.abs(st) * 2.0 ** -16).all()
    inside = (st[..., 0] >= 0) & (st[..., 0] <= 1)
    assert inside.mean() > 0.9 and float(err[..., 0][inside].max()) * w <= 0.06
