"""Bundled presets by name: ``facewarp presets``, ``validate NAME``, ``run NAME``, unknown names."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from _cli import facewarp

from facewarp.core.frames import frame_path
from facewarp.graph import Image
from facewarp.imaging.plates import write_plate

BUNDLED = sorted(p.stem for p in (Path(__file__).resolve().parents[2] / "presets").glob("*.yaml"))  # every shipped one


@pytest.fixture
def shot(tmp_path):
    for f in range(1001, 1006):
        px = np.full((8, 8, 3), 0.1 * (f - 1000), np.float32)
        write_plate(frame_path(str(tmp_path / "plates" / "plate.####.exr"), f), Image(px), pixel_type="float")
    return tmp_path


def test_presets_lists_the_bundled_ones(tmp_path):
    rc, out, err = facewarp("presets", cwd=tmp_path)
    assert rc == 0, err
    lines = out.splitlines()
    assert [line.split()[0] for line in lines] == BUNDLED
    assert "apply a linear grade" in lines[0]
    rc, out, err = facewarp("presets", "--json", cwd=tmp_path)
    assert rc == 0, err
    listed = json.loads(out)["presets"]
    assert [p["name"] for p in listed] == BUNDLED and all(os.path.isfile(p["path"]) and p["description"] for p in listed)


def test_validate_and_run_a_bundled_preset_by_name(shot):
    rc, out, err = facewarp("validate", "grade_exr", cwd=shot)
    assert rc == 0 and "grade_exr.yaml: ok (3 nodes, frames 1001-1005 (5))" in out, err
    rc, _, err = facewarp("run", "grade_exr", "--frames", "1001-1002", "--quiet", cwd=shot)
    assert rc == 0, err
    assert sorted(os.listdir(shot / "out")) == ["graded.1001.exr", "graded.1002.exr"]


def test_a_file_that_exists_wins_over_a_bundled_name(shot):
    (shot / "grade_exr").write_text("facewarp: 1\nframes: 1-2\nnodes:\n  c: {type: Constant, params: {width: 0}}\n")
    rc, _, err = facewarp("validate", "grade_exr", cwd=shot)
    assert rc == 2 and "grade_exr:4, node 'c' (Constant), param 'width'" in err


def test_an_unknown_name_is_one_line_listing_the_bundled_ones(tmp_path):
    for command in ("validate", "run"):
        rc, out, err = facewarp(command, "reanimat", cwd=tmp_path)
        assert rc == 2 and out == ""
        assert err == ("facewarp: error: no preset file or bundled preset named 'reanimat' "
                       f"(bundled: {', '.join(BUNDLED)})\n")
    rc, _, err = facewarp("validate", "shots/none.yaml", cwd=tmp_path)
    assert rc == 2 and "file 'shots/none.yaml': preset file does not exist" in err
