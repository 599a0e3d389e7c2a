"""Plate integrity of every shipped face preset: outside the face region its render equals the plate
bit for bit (both through the same EXR writer), inside it nothing is black, NaN or torn; the region
is written beside the render as the EXR channel ``matte.A``. Real faces: the embedded astronaut and
the held-out portrait of ``../shared/data``; 720p, and 4K for the embedded plate."""

from __future__ import annotations

import os

import cv2
import numpy as np
import pytest

from facewarp import api
from facewarp.core.color import to_linear
from facewarp.core.types import Image
from facewarp.imaging.demo import demo_plate
from facewarp.imaging.plates import read_plate, write_plate
from facewarp.nodes.plate_write import MATTE_CHANNEL

SHARED = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "data")
PORTRAIT = os.path.join(SHARED, "portraits", "interfaces_001.jpg")
FACE_PRESETS = ("reanimate", "reanimate_mesh", "reanimate_gan")
# a wide jaw and a broad smile: they fold some triangles over at the mouth corners of these faces
KEYS = "1001: jaw_open=0, smile=0; 1002: jaw_open=1, smile=1.5; 1003: jaw_open=0.6, smile=-1"
FRAMES = (1001, 1002, 1003)


def _portrait_plate(size):
    """The portrait letterboxed into a plate of ``size`` (linear float)."""
    if not os.path.exists(PORTRAIT):
        pytest.skip("needs ../shared/data/portraits/interfaces_001.jpg (the shared test data is absent)")
    rgb = cv2.cvtColor(cv2.imread(PORTRAIT), cv2.COLOR_BGR2RGB)
    w, h = size
    scale = min(w / rgb.shape[1], h / rgb.shape[0])
    small = cv2.resize(rgb, (round(rgb.shape[1] * scale), round(rgb.shape[0] * scale)), interpolation=cv2.INTER_AREA)
    canvas = np.full((h, w, 3), 90, np.uint8)  # a grey backdrop: its pixels must survive exactly too
    y, x = (h - small.shape[0]) // 2, (w - small.shape[1]) // 2
    canvas[y:y + small.shape[0], x:x + small.shape[1]] = small
    return to_linear(canvas.astype(np.float32) / 255.0, "srgb")


def _write_plates(tmp_path, source, size, frames=FRAMES):
    for f in frames:
        pixels = demo_plate(f, size).pixels if source == "astronaut" else _portrait_plate(size)
        write_plate(str(tmp_path / f"plates/plate.{f}.exr"), Image(pixels), overwrite=True)


def _render(tmp_path, preset_name, frames=FRAMES):
    preset = api.load_preset(preset_name)
    api.set_var(preset, "plate", str(tmp_path / "plates/plate.####.exr"))
    api.set_var(preset, "out", str(tmp_path / f"out/{preset_name}.####.exr"))
    api.set_var(preset, "keys", KEYS)
    if "stmap" in preset.variables:
        api.set_var(preset, "stmap", str(tmp_path / "out/stmap.####.exr"))
    return api.render(preset, frames=frames, output_root=str(tmp_path))


def _check(tmp_path, preset_name, frames=FRAMES):
    result = _render(tmp_path, preset_name, frames)
    changed_inside = 0
    for f in frames:
        # the plate through the same writer: PlateWrite's defaults (half, zip)
        write_plate(str(tmp_path / f"ref.{f}.exr"), read_plate(str(tmp_path / f"plates/plate.{f}.exr")), overwrite=True)
        ref = read_plate(str(tmp_path / f"ref.{f}.exr")).pixels
        path = str(tmp_path / f"out/{preset_name}.{f}.exr")
        out = read_plate(path, channels="R,G,B").pixels
        matte = read_plate(path, channels=MATTE_CHANNEL, colorspace="linear").pixels[..., 0]
        outside = matte == 0
        assert outside.mean() > 0.5, f"frame {f}: the region covers {1 - outside.mean():.0%} of the frame"
        assert np.abs(out - ref)[outside].max() == 0.0, f"{preset_name} frame {f}: the plate changed outside"
        inside = ~outside
        assert np.isfinite(out).all()
        # nothing black inside: no more pure-black pixels than the plate has there (a warp sampling
        # outside its source or a hole in the mesh fill would add them)
        black_out = (out[inside].max(axis=1) < 1e-4).mean()
        black_ref = (ref[inside].max(axis=1) < 1e-4).mean()
        assert black_out <= black_ref + 1e-4, f"frame {f}: {black_out:.2%} black pixels inside, plate {black_ref:.2%}"
        changed_inside += int((np.abs(out - ref).max(axis=2)[inside] > 1e-3).sum())
    assert changed_inside > 0, "the edit changed nothing"
    return result


def _foldovers(result) -> int:
    nodes = result.stats_json().get("nodes", {})
    return sum((n.get("counts") or {}).get("foldovers", 0) for n in nodes.values())


@pytest.mark.parametrize("preset_name", FACE_PRESETS)
def test_astronaut_720p_untouched_outside_the_face(tmp_path, preset_name):
    _write_plates(tmp_path, "astronaut", (1280, 720))
    _check(tmp_path, preset_name)


@pytest.mark.parametrize("preset_name", FACE_PRESETS)
def test_portrait_720p_untouched_outside_the_face(tmp_path, preset_name):
    _write_plates(tmp_path, "portrait", (1280, 720))
    result = _check(tmp_path, preset_name)
    if preset_name != "reanimate_mesh":  # the landmark warps: these keys fold triangles over
        assert _foldovers(result) > 0, "no fold-over frame: the keys no longer exercise that case"


@pytest.mark.parametrize("preset_name", FACE_PRESETS)
def test_astronaut_4k_untouched_outside_the_face(tmp_path, preset_name):
    _write_plates(tmp_path, "astronaut", (3840, 2160), FRAMES[:2])  # neutral and the strongest key: CI time
    _check(tmp_path, preset_name, FRAMES[:2])
