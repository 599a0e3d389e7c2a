"""Bad input never passes silently: a plate cut short or corrupt is an InputError naming the file
(never pixels, never only a library's own line on stderr); NaN/inf samples follow a policy; an
output folder that cannot be made is a one-line OutputError."""

from __future__ import annotations

import os

import numpy as np
import pytest

from facewarp.core.errors import EXIT_INVALID, InputError, OutputError
from facewarp.core.quiet import captured_stderr, quiet_native, strip_ansi
from facewarp.core.types import Image
from facewarp.imaging.plates import fix_nonfinite, make_folder, read_plate, write_plate

CASES = [  # (file name, write_plate options)
    ("zip.exr", {"compression": "zip"}),
    ("piz.exr", {"compression": "piz"}),
    ("none.exr", {"compression": "none"}),
    ("float_zip.exr", {"compression": "zip", "pixel_type": "float"}),
    ("plate.dpx", {}),
    ("plate.tif", {}),
    ("plate.png", {}),
    ("plate.jpg", {}),
]


def _plate(tmp_path, name, options, seed=0):
    px = np.random.default_rng(seed).uniform(0, 1, (96, 128, 3)).astype(np.float32)
    return write_plate(str(tmp_path / name), Image(px), **options)


def _cut(path, fraction):
    data = open(path, "rb").read()
    with open(path, "wb") as f:
        f.write(data[: int(len(data) * fraction)])


@pytest.mark.parametrize("fraction", [0.5, 0.97])
@pytest.mark.parametrize("name, options", CASES)
def test_a_plate_cut_short_is_an_error_naming_the_file(tmp_path, capfd, name, options, fraction):
    path = _plate(tmp_path, name, options)
    read_plate(path)  # the whole file reads
    _cut(path, fraction)
    capfd.readouterr()
    with pytest.raises(InputError) as info:
        read_plate(path)
    text = str(info.value)
    assert text.startswith(f"file '{path}': truncated or corrupt image, pixels not read: ")
    assert "\n" not in text and "\x1b" not in text and info.value.exit_code == EXIT_INVALID
    # OpenEXR and libpng print their complaint to fd 2: it is in the message, not on the terminal
    assert capfd.readouterr().err == ""


def test_an_exr_cut_in_its_header_is_an_error(tmp_path, capfd):
    path = _plate(tmp_path, "head.exr", {})
    _cut(path, 0.004)
    with pytest.raises(InputError, match=r"cannot read image \(truncated, corrupt or not an image file\): .+") as info:
        read_plate(path)
    assert info.value.file == path and capfd.readouterr().err == ""


def test_corrupt_compressed_data_is_an_error(tmp_path, capfd):
    path = _plate(tmp_path, "bad.exr", {"compression": "zip"})
    data = bytearray(open(path, "rb").read())
    middle = len(data) // 3
    data[middle:middle + 64] = bytes(range(64))  # garbage inside a zip chunk
    open(path, "wb").write(bytes(data))
    with pytest.raises(InputError, match="truncated or corrupt image") as info:
        read_plate(path)
    assert "EXR_ERR" in str(info.value)  # OpenEXR's own reason, moved into the message
    assert capfd.readouterr().err == ""


def test_dpx_cut_short_is_caught_though_openimageio_reads_it_silently(tmp_path):
    import OpenImageIO as oiio

    path = _plate(tmp_path, "short.dpx", {})
    _cut(path, 0.99)
    inp = oiio.ImageInput.open(path)
    assert inp.read_image(0, 0, 0, 3, oiio.FLOAT) is not None and not inp.has_error  # why our check exists
    inp.close()
    with pytest.raises(InputError, match=r"file is \d+ bytes, its header says \d+ \(truncated\)"):
        read_plate(path)


@pytest.mark.parametrize("name, options", CASES)
def test_intact_plates_print_nothing(tmp_path, capfd, name, options):
    path = _plate(tmp_path, name, options)
    assert read_plate(path).pixels.shape == (96, 128, 3)
    assert capfd.readouterr().err == ""


# -- non-finite samples ------------------------------------------------------------------------
def _nonfinite_plate(tmp_path):
    px = np.full((4, 6, 3), 0.5, np.float32)
    px[0, 0, 0] = np.nan
    px[1, 1, 1] = np.inf
    px[2, 2, 1] = -np.inf
    px[3, 3, 2] = np.nan
    px[0, 5, 1] = 2.0  # G's finite range is [0.25, 2]
    px[1, 5, 1] = 0.25
    path = str(tmp_path / "nan.exr")
    write_plate(path, Image(px), pixel_type="float")
    return path


def test_nonfinite_samples_are_an_error_by_default(tmp_path):
    path = _nonfinite_plate(tmp_path)
    with pytest.raises(InputError) as info:
        read_plate(path)
    assert str(info.value) == (f"param 'nonfinite', file '{path}': 4 non-finite sample(s) in channels R, G, B "
                               "(2 NaN, 2 inf); set nonfinite to zero or clamp to repair them")
    assert info.value.exit_code == EXIT_INVALID


def test_nonfinite_zero_clamp_and_keep(tmp_path):
    path = _nonfinite_plate(tmp_path)
    zero = read_plate(path, nonfinite="zero")
    assert np.isfinite(zero.pixels).all() and zero.metadata["facewarp:source_nonfinite"] == 4
    assert zero.pixels[0, 0, 0] == 0 and zero.pixels[1, 1, 1] == 0 and zero.pixels[2, 2, 1] == 0
    clamp = read_plate(path, nonfinite="clamp").pixels
    assert clamp[0, 0, 0] == 0 and clamp[3, 3, 2] == 0  # NaN -> 0
    assert clamp[1, 1, 1] == 2.0 and clamp[2, 2, 1] == 0.25  # +-inf -> the channel's finite max / min
    assert np.array_equal(clamp[1:, :5, 0], zero.pixels[1:, :5, 0])  # nothing else changes
    kept = read_plate(path, nonfinite="keep").pixels
    assert np.isnan(kept[0, 0, 0]) and np.isposinf(kept[1, 1, 1])
    assert read_plate(str(_plate(tmp_path, "ok.exr", {}))).metadata["facewarp:source_nonfinite"] == 0


@pytest.mark.parametrize("name, options", [("half.exr", {}), ("float.exr", {"pixel_type": "float"}),
                                           ("float.tif", {"bit_depth": 32})])
def test_nonfinite_samples_are_found_in_every_float_format(tmp_path, name, options):
    px = np.full((4, 6, 3), 0.5, np.float32)
    px[1, 2, 0] = np.nan
    path = write_plate(str(tmp_path / name), Image(px), **options)
    with pytest.raises(InputError, match=r"1 non-finite sample\(s\) in channels R, G, B \(1 NaN, 0 inf\)"):
        read_plate(path)


def test_a_float_tiff_from_elsewhere_is_linear(tmp_path):
    import OpenImageIO as oiio

    from facewarp.imaging.plates import file_transfer

    path = str(tmp_path / "other.tif")
    out = oiio.ImageOutput.create(path)
    assert out.open(path, oiio.ImageSpec(4, 2, 3, oiio.FLOAT))
    out.write_image(np.full((2, 4, 3), 0.25, np.float32))
    out.close()
    assert file_transfer(path, oiio.ImageInput.open(path).spec()) == "linear"
    assert np.allclose(read_plate(path).pixels, 0.25)


def test_fix_nonfinite_counts_and_all_nonfinite_channels():
    px = np.array([[[np.inf, np.nan], [-np.inf, 1.0]]], np.float32)
    assert fix_nonfinite(px, "clamp") == (1, 2)
    assert px.tolist() == [[[0.0, 0.0], [0.0, 1.0]]]  # a channel with no finite value clamps to 0
    with pytest.raises(ValueError):
        fix_nonfinite(px, "ignore")


def test_only_the_channels_read_are_checked(tmp_path):
    px = np.full((4, 6, 4), 0.5, np.float32)
    px[..., 3] = np.nan
    path = str(tmp_path / "aov.exr")
    img = Image(px, ("R", "G", "B", "Z"))
    write_plate(path, img, pixel_type="float")
    assert np.isfinite(read_plate(path, channels="R,G,B").pixels).all()
    with pytest.raises(InputError, match="in channels Z"):
        read_plate(path, channels="Z")


# -- outputs -----------------------------------------------------------------------------------
def test_an_output_under_a_file_is_one_line_naming_the_file(tmp_path):
    blocker = tmp_path / "shots"
    blocker.write_text("not a folder")
    for target in (blocker / "out.1001.exr", blocker / "deeper" / "out.1001.exr"):
        with pytest.raises(OutputError) as info:
            write_plate(str(target), Image(np.zeros((2, 2, 3), np.float32)))
        assert str(info.value) == f"file '{target}': cannot create folder: '{blocker}' is a file"
        assert info.value.exit_code == EXIT_INVALID
    assert blocker.read_text() == "not a folder" and sorted(os.listdir(tmp_path)) == ["shots"]


def test_make_folder_creates_parents(tmp_path):
    make_folder(str(tmp_path / "a" / "b"), str(tmp_path / "a" / "b" / "x.exr"))
    assert (tmp_path / "a" / "b").is_dir()


# -- native stderr -----------------------------------------------------------------------------
def test_captured_stderr_catches_what_c_code_writes_to_fd_2(capfd, monkeypatch):
    monkeypatch.delenv("FACEWARP_VERBOSE", raising=False)
    with captured_stderr() as cap:
        os.write(2, b"\x1b[1mnative\x1b[0m chatter\nnative chatter\n")
    assert cap.active and cap.lines() == ["native chatter"]
    os.write(2, b"after\n")  # fd 2 is back
    assert capfd.readouterr().err == "after\n"
    with quiet_native():
        os.write(2, b"dropped\n")
    assert capfd.readouterr().err == ""
    with pytest.raises(RuntimeError), quiet_native():
        os.write(2, b"explains the failure\n")
        raise RuntimeError("native call failed")
    assert capfd.readouterr().err == "explains the failure\n"  # kept when the call fails
    monkeypatch.setenv("FACEWARP_VERBOSE", "1")
    with quiet_native():
        os.write(2, b"shown when verbose\n")
    assert capfd.readouterr().err == "shown when verbose\n"


def test_strip_ansi():
    assert strip_ansi("\x1b[1mbold\x1b[0m and \x1b[31;1mred\x1b[0m") == "bold and red"
