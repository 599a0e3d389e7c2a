"""Plate I/O through OpenImageIO: round-trips, sequences, missing frames, safe writing."""

from __future__ import annotations

import os

import numpy as np
import OpenImageIO as oiio
import pytest

from facewarp.core.color import from_linear, to_linear
from facewarp.core.frames import frame_path, frames_on_disk
from facewarp.graph import Context, Evaluator, Graph, Image, InputError, OutputExistsError
from facewarp.imaging.plates import read_plate, write_plate


def smooth_image(h=48, w=64, channels=("R", "G", "B", "A"), seed=0):
    """A smooth premultiplied test image with values spanning 0..1 (and a few > 1 for EXR)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    px = np.empty((h, w, len(channels)), np.float32)
    for c in range(len(channels)):
        fx, fy, ph = rng.uniform(0.02, 0.1, 2).tolist() + [rng.uniform(0, 6)]
        px[..., c] = 0.5 + 0.45 * np.sin(fx * x + fy * y + ph)
    if "A" in channels:
        a = channels.index("A")
        px[..., a] = np.clip(px[..., a], 0.25, 1.0)
        for c in range(len(channels)):
            if c != a:
                px[..., c] *= px[..., a]
    return Image(px, channels, metadata={"facewarp:shot": "sh010", "facewarp:take": 3, "Artist": "test"})


def test_exr_float_roundtrip_is_exact_with_named_channels_and_metadata(tmp_path):
    img = smooth_image(channels=("diffuse.R", "diffuse.G", "diffuse.B", "Z"))
    img.pixels[..., 3] *= 1000.0  # depth: far outside display range, must survive untouched
    path = str(tmp_path / "f.exr")
    write_plate(path, img, pixel_type="float")
    spec = oiio.ImageInput.open(path).spec()
    assert spec.format == oiio.FLOAT
    back = read_plate(path, channels="Z,diffuse.R,diffuse.G,diffuse.B")
    assert back.channels == ("Z", "diffuse.R", "diffuse.G", "diffuse.B")
    assert np.array_equal(back.pixels, img.pixels[..., [3, 0, 1, 2]])
    assert back.metadata["facewarp:shot"] == "sh010" and back.metadata["facewarp:take"] == 3
    assert back.metadata["Artist"] == "test"


def test_exr_half_roundtrip_within_half_precision(tmp_path):
    img = smooth_image()
    path = str(tmp_path / "h.exr")
    write_plate(path, img, pixel_type="half", compression="piz")
    spec = oiio.ImageInput.open(path).spec()
    assert spec.format == oiio.HALF and spec.getattribute("compression") == "piz"
    back = read_plate(path)
    expected = img.pixels.astype(np.float16).astype(np.float32)  # the exact half rounding
    assert np.array_equal(back.pixels, expected)
    assert back.channels == ("R", "G", "B", "A")


def test_exr_channels_are_found_by_name_whatever_the_file_order(tmp_path):
    path = str(tmp_path / "order.exr")
    spec = oiio.ImageSpec(8, 4, 3, oiio.FLOAT)
    spec.channelnames = ("B", "G", "R")
    px = np.zeros((4, 8, 3), np.float32)
    px[..., 0], px[..., 1], px[..., 2] = 0.3, 0.2, 0.1  # B, G, R in file order
    out = oiio.ImageOutput.create(path)
    out.open(path, spec)
    out.write_image(px)
    out.close()
    back = read_plate(path, channels="R,G,B")
    assert np.allclose(back.pixels[0, 0], [0.1, 0.2, 0.3])
    with pytest.raises(InputError, match="no channel Y"):
        read_plate(path, channels="R,Y")


def test_exr_data_window_is_placed_in_display_window(tmp_path):
    path = str(tmp_path / "dw.exr")
    spec = oiio.ImageSpec(4, 3, 3, oiio.FLOAT)
    spec.x, spec.y = 2, 1
    spec.full_x, spec.full_y, spec.full_width, spec.full_height = 0, 0, 8, 6
    out = oiio.ImageOutput.create(path)
    out.open(path, spec)
    out.write_image(np.ones((3, 4, 3), np.float32))
    out.close()
    back = read_plate(path)
    assert back.pixels.shape == (6, 8, 3)
    assert back.pixels[..., 0].sum() == 12 and np.all(back.pixels[1:4, 2:6] == 1)


def test_dpx_10bit_log_roundtrip(tmp_path):
    img = smooth_image(channels=("R", "G", "B"))
    path = str(tmp_path / "p.dpx")
    write_plate(path, img)
    spec = oiio.ImageInput.open(path).spec()
    assert spec.getattribute("oiio:BitsPerSample") == 10
    back = read_plate(path)
    assert back.metadata["facewarp:source_transfer"] == "cineon"
    # The file holds the nearest 10-bit code of the log encoding...
    code = np.round(from_linear(img.pixels, "cineon").astype(np.float64) * 1023)
    stored = oiio.ImageBuf(path).get_pixels(oiio.FLOAT) * 1023  # (OIIO widens 10->16 bit by replication)
    assert np.array_equal(np.round(stored), code) and np.abs(stored - code).max() < 0.02
    # ...and reading decodes exactly that code back to linear.
    assert np.allclose(back.pixels, to_linear(stored / 1023, "cineon"), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("depth, tol", [(16, 1e-4), (8, 1.2e-2)])
def test_png_roundtrip_srgb_with_alpha(tmp_path, depth, tol):
    img = smooth_image()
    path = str(tmp_path / f"p{depth}.png")
    write_plate(path, img, bit_depth=depth)
    back = read_plate(path)
    assert back.metadata["facewarp:source_transfer"] == "srgb"
    assert back.channels == ("R", "G", "B", "A")
    assert np.abs(back.pixels - img.pixels).max() < tol


def test_png_decoding_is_the_srgb_curve(tmp_path):
    """An 8-bit file written by OpenImageIO directly decodes through the sRGB EOTF."""
    path = str(tmp_path / "ramp.png")
    codes = np.arange(256, dtype=np.uint8).reshape(1, 256, 1).repeat(3, axis=2)
    spec = oiio.ImageSpec(256, 1, 3, oiio.UINT8)
    out = oiio.ImageOutput.create(path)
    out.open(path, spec)
    out.write_image(codes)
    out.close()
    back = read_plate(path)
    c = np.arange(256) / 255.0
    srgb = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    assert np.allclose(back.pixels[0, :, 0], srgb, atol=1e-6)


def test_jpeg_and_tiff_read(tmp_path):
    img = smooth_image(channels=("R", "G", "B"))
    write_plate(str(tmp_path / "p.jpg"), img)
    write_plate(str(tmp_path / "p.tif"), img)
    jpg = read_plate(str(tmp_path / "p.jpg"))
    tif = read_plate(str(tmp_path / "p.tif"))
    assert np.abs(tif.pixels - img.pixels).max() < 1e-4
    assert np.abs(jpg.pixels - img.pixels).mean() < 0.01  # lossy, but the same picture


def test_sequence_detection(tmp_path):
    img = smooth_image(8, 8, ("R", "G", "B"))
    for f in (1001, 1002, 1004, 1010):
        write_plate(frame_path(str(tmp_path / "s.####.exr"), f), img)
    write_plate(str(tmp_path / "s.01003.exr"), img)  # padded to 5: not a frame of a 4-padded sequence
    write_plate(str(tmp_path / "s.10000.exr"), img)  # frame 10000 outgrows the padding: it belongs
    (tmp_path / "s.abcd.exr").write_text("x")
    expected = [1001, 1002, 1004, 1010, 10000]
    assert frames_on_disk(str(tmp_path / "s.####.exr")) == expected
    assert frames_on_disk(str(tmp_path / "s.%04d.exr")) == expected
    assert frames_on_disk(str(tmp_path / "s.@@@@.exr")) == expected
    assert frames_on_disk(str(tmp_path / "s.%05d.exr")) == [1003, 10000]


def _read_graph(path, **params):
    g = Graph()
    g.add("PlateRead", "read", {"path": path, **params})
    return g


def _frame_image(f):
    return Image(np.full((6, 8, 3), f / 1000.0, np.float32))


def test_plate_read_node_sequence_and_missing_frame_policies(tmp_path):
    pattern = str(tmp_path / "plate.####.exr")
    for f in (1, 2, 4):
        write_plate(frame_path(pattern, f), _frame_image(f), pixel_type="float")
    frames = (1, 2, 3, 4)
    ctx = Context(frames=frames)
    ev = Evaluator(_read_graph(pattern))
    assert np.allclose(ev.pull("read", ctx.at(2))["image"].pixels, 0.002)
    with pytest.raises(InputError) as info:
        ev.pull("read", ctx.at(3))
    assert str(info.value) == f"node 'read' (PlateRead), file '{frame_path(pattern, 3)}', frame 3: missing frame of the sequence"
    assert info.value.exit_code == 2
    hold = Evaluator(_read_graph(pattern, missing="hold")).pull("read", ctx.at(3))["image"]
    assert np.allclose(hold.pixels, 0.002)  # the nearest earlier frame
    black = Evaluator(_read_graph(pattern, missing="black")).pull("read", ctx.at(3))["image"]
    assert black.pixels.shape == (6, 8, 3) and not black.pixels.any()
    listed = Evaluator(_read_graph(pattern, frames="1,4", missing="hold")).pull("read", ctx.at(2))["image"]
    assert np.allclose(listed.pixels, 0.001)  # frame 2 is not in the explicit list
    offset = Evaluator(_read_graph(pattern, offset=1)).pull("read", ctx.at(1))["image"]
    assert np.allclose(offset.pixels, 0.002)


def test_plate_read_hash_sees_a_replaced_file(tmp_path):
    path = str(tmp_path / "still.exr")
    write_plate(path, _frame_image(1))
    ev = Evaluator(_read_graph(path))
    ctx = Context(frame=1, frames=(1,))
    h1 = ev.hash("read", ctx)
    os.utime(path, ns=(1, 1))
    ev.forget_hashes()
    assert ev.hash("read", ctx) != h1


def test_write_never_overwrites_unasked(tmp_path):
    path = str(tmp_path / "o.exr")
    write_plate(path, _frame_image(1))
    before = open(path, "rb").read()
    with pytest.raises(OutputExistsError, match="exists"):
        write_plate(path, _frame_image(2))
    assert open(path, "rb").read() == before
    write_plate(path, _frame_image(2), overwrite=True, pixel_type="float")
    assert np.allclose(read_plate(path).pixels, 0.002)
    assert sorted(os.listdir(tmp_path)) == ["o.exr"]  # no temp files left behind


def test_interrupted_write_leaves_no_file(tmp_path, monkeypatch):
    path = tmp_path / "sub" / "dir" / "x.exr"

    class Killed(Exception):
        pass

    def die(self, *args, **kwargs):
        raise Killed()

    monkeypatch.setattr(oiio.ImageOutput, "write_image", die)
    with pytest.raises(Killed):
        write_plate(str(path), _frame_image(1))
    assert path.parent.is_dir()  # directories are created
    assert list(path.parent.iterdir()) == []  # neither the frame nor a temp file


def test_write_node_passes_metadata_and_makes_directories(tmp_path):
    src = str(tmp_path / "in.exr")
    img = smooth_image(channels=("R", "G", "B"))
    write_plate(src, img)
    g = _read_graph(src)
    out = str(tmp_path / "a" / "b" / "out.####.exr")
    g.add("PlateWrite", "write", {"path": out, "exr_pixel_type": "float"})
    g.connect("read.image", "write.image")
    Evaluator(g).pull("write", Context(frame=7, frames=(7,)))
    back = read_plate(frame_path(out, 7))
    assert back.metadata["facewarp:shot"] == "sh010"
    assert np.array_equal(back.pixels, read_plate(src).pixels)


def test_atomic_output_commits_whole_files_only(tmp_path):
    # the one mechanism behind every writer: a failed write leaves nothing, an existing file
    # is replaced only when asked
    from facewarp.core.errors import OutputExistsError
    from facewarp.core.files import atomic_output

    final = tmp_path / "a.json"
    with pytest.raises(RuntimeError):
        with atomic_output(final, overwrite=False) as tmp:
            assert tmp.endswith(".json") and os.path.dirname(tmp) == str(tmp_path)
            open(tmp, "w").write("partial")
            raise RuntimeError("writer failed")
    assert list(tmp_path.iterdir()) == []
    with atomic_output(final, overwrite=False) as tmp:
        open(tmp, "w").write("one")
    with pytest.raises(OutputExistsError):
        with atomic_output(final, overwrite=False) as tmp:
            open(tmp, "w").write("two")
    assert final.read_text() == "one" and list(tmp_path.iterdir()) == [final]
    with atomic_output(final, overwrite=True) as tmp:
        open(tmp, "w").write("three")
    assert final.read_text() == "three" and list(tmp_path.iterdir()) == [final]


def _oiio_write(path, px, fmt, channels):
    out = oiio.ImageOutput.create(str(path))
    spec = oiio.ImageSpec(px.shape[1], px.shape[0], px.shape[2], fmt)
    spec.channelnames = channels
    out.open(str(path), spec)
    out.write_image(px)
    out.close()


def _oiio_read(path, fmt=oiio.FLOAT):
    inp = oiio.ImageInput.open(str(path))
    try:
        return inp.read_image(0, 0, 0, inp.spec().nchannels, fmt)
    finally:
        inp.close()


def _extreme_samples(h=40, w=56, c=4, seed=7):
    rng = np.random.default_rng(seed)
    px = (rng.standard_normal((h, w, c)) * 3e4).astype(np.float32)
    px[0, 0, 0], px[0, 1, 1], px[0, 2, 2] = 1e9, -1e9, 1e-9  # over half's range, subnormal
    px[1, 0, 0] = 65519.0  # rounds to half's largest finite value, not to inf
    return px


def test_half_exr_write_is_bit_identical_to_openimageio_conversion(tmp_path):
    """write_plate hands OpenImageIO half samples converted beforehand; the file must hold the
    same bits as OpenImageIO's own float -> half conversion (round to nearest even, inf over range)."""
    px = _extreme_samples()
    names = ("R", "G", "B", "A")
    write_plate(str(tmp_path / "ours.exr"), Image(px, names), pixel_type="half")
    _oiio_write(tmp_path / "ref.exr", px, oiio.HALF, names)
    ours, ref = _oiio_read(tmp_path / "ours.exr", oiio.HALF), _oiio_read(tmp_path / "ref.exr", oiio.HALF)
    assert np.array_equal(ours.view(np.uint16), ref.view(np.uint16))


@pytest.mark.parametrize("channels, picked", [("auto", [0, 1, 2, 3]), ("G,B", [1, 2]), ("B,R", [2, 0]), ("A", [3])])
@pytest.mark.parametrize("fmt", [oiio.HALF, oiio.FLOAT])
def test_read_equals_openimageio_float_read_for_any_channel_choice(tmp_path, channels, picked, fmt):
    """The half fast path (decode half, convert outside OpenImageIO) and reading only the wanted
    channels give exactly what OpenImageIO's own float read gives."""
    px = _extreme_samples()
    px[2, 3, 1] = np.nan
    px[3, 3, 2] = -np.inf
    _oiio_write(tmp_path / "p.exr", px, fmt, ("R", "G", "B", "A"))
    ref = np.asarray(_oiio_read(tmp_path / "p.exr"), np.float32)[..., picked]
    img = read_plate(str(tmp_path / "p.exr"), channels=channels, nonfinite="keep")
    assert img.pixels.dtype == np.float32 and img.pixels.flags.c_contiguous
    assert np.array_equal(img.pixels, ref, equal_nan=True)
    assert img.metadata["facewarp:source_nonfinite"] == int((~np.isfinite(ref)).sum())


def test_fix_nonfinite_is_exact_when_the_sum_overflows():
    from facewarp.imaging.plates import fix_nonfinite

    big = np.full((8, 8, 3), 3e38, np.float32)  # finite samples whose sum overflows float32
    assert fix_nonfinite(big, "error") == (0, 0)
    big[1, 1, 1] = np.nan
    big[2, 2, 2] = -np.inf
    assert fix_nonfinite(big, "zero") == (1, 1)
    assert np.isfinite(big).all()
