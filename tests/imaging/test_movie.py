"""H.264 movies: a real encoder, frames that decode back close to what was encoded."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from facewarp.core.errors import OutputExistsError
from facewarp.imaging.movie import read_mp4, write_mp4


def _frames(n=6, h=120, w=176):
    yy, xx = np.mgrid[0:h, 0:w]
    out = []
    for i in range(n):  # smooth moving gradients and a moving square: a codec-friendly picture
        f = np.stack([(xx * 255 / w + 10 * i) % 256, yy * 255 / h, np.full_like(xx, 40 * i % 256)], -1)
        f[20:50, 10 + 8 * i:40 + 8 * i] = (250, 250, 20)
        out.append(f.astype(np.uint8))
    return out


def _psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255.0 ** 2 / max(mse, 1e-12))


def test_mp4_is_h264_and_decodes_to_the_frames(tmp_path):
    frames = _frames()
    path = str(tmp_path / "m.mp4")
    assert write_mp4(iter(frames), path, fps=24) == 6
    decoded, codec = read_mp4(path)
    assert codec == "h264"
    assert len(decoded) == 6 and decoded[0].shape == (120, 176, 3)
    for a, b in zip(frames, decoded):
        assert _psnr(a, b) > 30
    assert _psnr(frames[0], decoded[5]) < 25  # and in order: another frame does not match
    cap = cv2.VideoCapture(path)  # a second decoder (OpenCV's FFmpeg) reads it too
    n = 0
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        assert bgr.shape == (120, 176, 3) and _psnr(bgr[..., ::-1], frames[n]) > 30
        n += 1
    assert n == 6


def test_odd_sizes_are_padded_and_existing_files_refused(tmp_path):
    path = str(tmp_path / "odd.mp4")
    write_mp4([f[:119, :175] for f in _frames(3)], path, fps=25)
    decoded, _ = read_mp4(path)
    assert len(decoded) == 3 and decoded[0].shape == (120, 176, 3)
    with pytest.raises(OutputExistsError):
        write_mp4(_frames(2), path)
    assert len(read_mp4(path)[0]) == 3
    with pytest.raises(ValueError):
        write_mp4([_frames(1)[0], _frames(1)[0][:60]], str(tmp_path / "bad.mp4"))
    with pytest.raises(ValueError):
        write_mp4([], str(tmp_path / "none.mp4"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["odd.mp4"]  # no temp files left
