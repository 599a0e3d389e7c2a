"""Builds the default inputs of ``presets/reenact.yaml`` (``presets/data/``), so that the preset runs on
a fresh install: the astronaut still as the target and a driving performance that facewarp makes from
expression keys on the same photo (the reanimate preset, then H.264).

    python -m facewarp.cli.demo_data [OUT_DIR]      # default: the installed presets/data

Both come from scikit-image's astronaut (NASA, public domain); the performance is deterministic up to
the encoder. Regenerate after a change to the tracker, the fit or the warp that should show in it.
"""

from __future__ import annotations

import os
import sys
import tempfile
from importlib import resources

import cv2
import numpy as np

TARGET = "astronaut.jpg"
PERFORMANCE = "astronaut_performance.mp4"
FPS = 24.0
FRAMES = range(1001, 1049)  # two seconds
# A small performance: jaw, smile, brows and a pucker, back to neutral at the end.
KEYS = ("1001: jaw_open=0, smile=0, brow_raise=0, lip_pucker=0; 1012: jaw_open=0.7, smile=0.2; "
        "1024: jaw_open=0.15, smile=1.2; 1036: brow_raise=1.5, lip_pucker=1.2, smile=0; "
        "1048: jaw_open=0, smile=0, brow_raise=0, lip_pucker=0")


def default_dir() -> str:
    return str(resources.files("facewarp.presets").joinpath("data"))


def build(out_dir: str) -> tuple[str, str]:
    from skimage import data

    from facewarp import api
    from facewarp.core.color import linear_to_srgb
    from facewarp.imaging.movie import write_mp4
    from facewarp.imaging.plates import read_plate

    os.makedirs(out_dir, exist_ok=True)
    target = os.path.join(out_dir, TARGET)
    rgb = data.astronaut()
    cv2.imwrite(target, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])
    with tempfile.TemporaryDirectory() as tmp:
        preset = api.load_preset("reanimate")
        api.set_var(preset, "plate", target)  # a still: the same photo on every frame
        api.set_var(preset, "out", os.path.join(tmp, "perf.####.exr"))
        api.set_var(preset, "stmap", os.path.join(tmp, "stmap.####.exr"))
        api.set_var(preset, "keys", KEYS)
        api.render(preset, frames=list(FRAMES), output_root=tmp)

        def frames():
            for f in FRAMES:
                lin = read_plate(os.path.join(tmp, f"perf.{f}.exr"), channels="R,G,B").pixels
                yield np.round(np.clip(linear_to_srgb(np.clip(lin, 0, 1)), 0, 1) * 255).astype(np.uint8)

        movie = os.path.join(out_dir, PERFORMANCE)
        write_mp4(frames(), movie, FPS, crf=16, overwrite=True, keyframe_interval=12, faststart=True)
    return target, movie


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    for path in build(argv[0] if argv else default_dir()):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
