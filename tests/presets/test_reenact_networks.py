"""presets/reenact_networks.yaml: the network path at full resolution (Animating Through Warping).

With both networks bypassed, the HD path (the face cropped at the plate's own resolution ->
ResDecompose -> the low-res image warped by the field at the networks' size -> ResWarp from the
pyramid) reproduces the direct HD warp of the same crop (DisplacementWarp's sampler on the HD
crop with the HD crop field) at >= 45 dB PSNR in multiscale mode, and beats bicubic up-sampling
of the same low-res result by >= 10 dB. Real faces: the held-out portrait at its own 1000 x 1000
resolution and the demo astronaut plate at 4K; the driving is the shipped performance, frame 1012
(its widest jaw). Plate integrity: at 720p on the portrait the render equals the plate bit for bit
outside the face region written as ``matte.A``, and FacePaste's matte lies inside that region."""

from __future__ import annotations

import os

import cv2
import numpy as np
import pytest

from facewarp import api
from facewarp.core.color import to_linear
from facewarp.core.types import Image
from facewarp.face.crop import face_mask, paste
from facewarp.imaging.demo import demo_plate
from facewarp.imaging.plates import read_plate, write_plate
from facewarp.kernels.sampling import warp_bilinear
from facewarp.nodes.plate_write import MATTE_CHANNEL

SHARED = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "data")
PORTRAIT = os.path.abspath(os.path.join(SHARED, "portraits", "interfaces_001.jpg"))
RANGE = range(1001, 1049)  # the shipped performance: Retarget's neutral is its first frame
FRAME = 1012  # the widest jaw of the shipped performance


def psnr(a, b) -> float:
    return float(10 * np.log10(1.0 / np.mean((a.astype(np.float64) - b) ** 2)))


def _target(tmp_path, which):
    if which == "portrait":
        if not os.path.exists(PORTRAIT):
            pytest.skip("needs ../shared/data/portraits/interfaces_001.jpg (the shared test data is absent)")
        return PORTRAIT
    path = str(tmp_path / "astronaut_4k.exr")
    write_plate(path, demo_plate(1001, (3840, 2160)), overwrite=True)
    return path


def _path_scores(preset, frame):
    """PSNRs of the HD path, per mode, against the direct HD warp of the crop."""
    scores = {}
    for mode in ("multiscale", "vanilla"):
        api.set_var(preset, "reswarp_mode", mode)
        crop = api.evaluate(preset, "crop.face", frame, frames=RANGE)
        field = api.evaluate(preset, "crop.field", frame, frames=RANGE)
        out = api.evaluate(preset, "reswarp.image", frame, frames=RANGE)
        low = api.evaluate(preset, "mouth.face", frame, frames=RANGE)  # what the bypassed networks pass on
        ref = warp_bilinear(crop, field.field, field.border, device="cpu")  # DisplacementWarp's sampler
        n = crop.shape[0]
        moving = np.linalg.norm(field.field, axis=2) > 0.5
        bicubic = cv2.resize(low, (n, n), interpolation=cv2.INTER_CUBIC)
        scores[mode] = psnr(out, ref)
        scores[mode + "_bicubic"] = psnr(bicubic, ref)
        scores[mode + "_moving"] = psnr(out[moving], ref[moving])
        scores["crop"], scores["low"] = n, low.shape[0]
        scores["max_px"], scores["moving_pct"] = float(np.abs(field.field).max()), 100 * float(moving.mean())
    return scores


@pytest.mark.parametrize("which", ["portrait", "astronaut"])
def test_bypassed_hd_path_reproduces_the_direct_hd_warp(tmp_path, which):
    preset = api.load_preset("reenact_networks")
    api.set_var(preset, "target", _target(tmp_path, which))
    api.set_var(preset, "check", False)
    sc = _path_scores(preset, FRAME)
    print(f"\n{which}: crop {sc['crop']}^2 (native) -> {sc['low']}^2, field up to {sc['max_px']:.1f} px, moving on "
          f"{sc['moving_pct']:.0f} % of the crop; PSNR vs the direct HD warp: multiscale {sc['multiscale']:.2f} dB "
          f"(moving pixels {sc['multiscale_moving']:.2f}), vanilla {sc['vanilla']:.2f} dB (moving "
          f"{sc['vanilla_moving']:.2f}); bicubic of the same low-res result: {sc['multiscale_bicubic']:.2f} dB "
          f"(of vanilla's {sc['vanilla_bicubic']:.2f} dB)")
    assert sc["crop"] > 1.5 * sc["low"], "the face is not larger than the networks' size: no HD path to test"
    assert sc["max_px"] > 10, "the performance no longer moves this face much"
    assert sc["multiscale"] >= 45.0
    assert sc["multiscale"] >= sc["multiscale_bicubic"] + 10.0
    assert sc["multiscale"] >= sc["vanilla"]


def _portrait_720p():
    if not os.path.exists(PORTRAIT):
        pytest.skip("needs ../shared/data/portraits/interfaces_001.jpg (the shared test data is absent)")
    rgb = cv2.cvtColor(cv2.imread(PORTRAIT), cv2.COLOR_BGR2RGB)
    w, h = 1280, 720
    s = min(w / rgb.shape[1], h / rgb.shape[0])
    small = cv2.resize(rgb, (round(rgb.shape[1] * s), round(rgb.shape[0] * s)), interpolation=cv2.INTER_AREA)
    canvas = np.full((h, w, 3), 90, np.uint8)
    y, x = (h - small.shape[0]) // 2, (w - small.shape[1]) // 2
    canvas[y:y + small.shape[0], x:x + small.shape[1]] = small
    return to_linear(canvas.astype(np.float32) / 255.0, "srgb")


def test_portrait_720p_untouched_outside_the_face(tmp_path):
    write_plate(str(tmp_path / "target.exr"), Image(_portrait_720p()), overwrite=True)
    preset = api.load_preset("reenact_networks")
    api.set_var(preset, "target", str(tmp_path / "target.exr"))
    api.set_var(preset, "out", str(tmp_path / "out/rn.####.exr"))
    frames = (1001, FRAME, 1030)
    api.render(preset, frames=frames, output_root=str(tmp_path))
    # the plate through the same writer as the render (PlateWrite's defaults)
    write_plate(str(tmp_path / "ref.exr"), read_plate(str(tmp_path / "target.exr")), overwrite=True)
    ref = read_plate(str(tmp_path / "ref.exr")).pixels
    changed = 0
    for f in frames:
        path = str(tmp_path / f"out/rn.{f}.exr")
        out = read_plate(path, channels="R,G,B").pixels
        matte = read_plate(path, channels=MATTE_CHANNEL, colorspace="linear").pixels[..., 0]
        outside = matte == 0
        assert outside.mean() > 0.5
        assert np.abs(out - ref)[outside].max() == 0.0, f"frame {f}: the plate changed outside the face region"
        assert np.isfinite(out).all()
        changed += int((np.abs(out - ref).max(axis=2)[~outside] > 1e-3).sum())
    assert changed > 0, "the performance changed nothing"
    # FacePaste's matte (the hull of the crop's landmarks, eroded and feathered inwards), mapped onto
    # the plate as paste() maps it, lies inside the warp's face region
    lms = api.evaluate(preset, "crop.landmarks", FRAME, frames=RANGE)
    tr = api.evaluate(preset, "crop.transform", FRAME, frames=RANGE)
    region = api.evaluate(preset, "warp.matte", FRAME, frames=RANGE).alpha
    n = tr.crop_size[0]
    alpha = face_mask(lms.points, (n, n), 2.0, 8.0)  # FacePaste's defaults
    on_plate = paste(np.zeros((720, 1280, 1), np.float32), np.ones((n, n, 1), np.float32), alpha,
                     np.asarray(tr.matrix))[..., 0]
    assert n > 256, "the face is not larger than the networks' size at 720p"
    assert (on_plate > 0).any() and not ((on_plate > 0) & (region == 0)).any()
