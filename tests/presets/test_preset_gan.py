"""presets/reanimate_gan.yaml: the full warp-guided GAN pipeline runs end to end with the
networks bypassed (no trained weights), and then equals the geometry-only preset outside the
pasted face, bit for bit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from _cli import facewarp

from facewarp import presets
from facewarp.imaging.demo import write_demo_plates
from facewarp.imaging.plates import read_plate


def test_reanimate_gan_preset_runs_bypassed_and_matches_geometry_outside_the_face(tmp_path):
    frames = (1001, 1002, 1003)
    write_demo_plates(str(tmp_path / "plates" / "plate.####.exr"), frames, size=(640, 360))
    pdir = Path(presets.__file__).parent
    common = ("--frames", "1001-1003", "--set", "plate=plates/plate.####.exr")
    rc, _, err = facewarp("run", str(pdir / "reanimate_gan.yaml"), *common, "--set", "out=gan/o.####.exr",
                          cwd=tmp_path)
    assert rc == 0, err
    rc, _, err = facewarp("run", str(pdir / "reanimate.yaml"), *common, "--set", "out=geo/o.####.exr",
                          "--set", "stmap=geo/st.####.exr", cwd=tmp_path)
    assert rc == 0, err
    for f in frames:
        gan = read_plate(str(tmp_path / "gan" / f"o.{f}.exr")).pixels
        geo = read_plate(str(tmp_path / "geo" / f"o.{f}.exr")).pixels
        same = np.all(gan == geo, axis=2)
        # FacePaste leaves the plate untouched outside its matte: most of the frame is identical
        print(f"frame {f}: identical {same.mean():.3f} of the frame, mean abs diff inside the paste "
              f"{np.abs(gan - geo)[~same].mean():.4f}")
        assert same.mean() > 0.8
        # inside, the bypassed face went plate -> 256^2 crop -> plate: close, not identical
        changed = ~same
        assert changed.any()
        assert np.abs(gan - geo)[changed].mean() < 0.03
