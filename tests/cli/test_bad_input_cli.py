"""`facewarp run` on bad input: a truncated plate or NaN pixels stop the run with exit 2 and one
line naming node, file and frame, after the frames before it and without touching the bad
frame's existing output; an output folder that is a file is one line, exit 2."""

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

PRESET = str(Path(__file__).resolve().parents[2] / "presets" / "grade_exr.yaml")


@pytest.fixture
def shot(tmp_path):
    rng = np.random.default_rng(1)
    for f in range(1001, 1006):
        px = rng.uniform(0, 1, (48, 64, 3)).astype(np.float32) * (f - 1000)
        write_plate(frame_path(str(tmp_path / "plates" / "plate.####.exr"), f), Image(px), pixel_type="float")
    return tmp_path


def _error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("facewarp: error:")]


def test_a_truncated_plate_mid_range_stops_the_run_naming_file_and_frame(shot):
    assert facewarp("run", PRESET, cwd=shot)[0] == 0
    out = shot / "out"
    before = {name: (out / name).read_bytes() for name in os.listdir(out)}
    plate = shot / "plates" / "plate.1003.exr"
    data = plate.read_bytes()
    plate.write_bytes(data[: len(data) // 2])
    rc, _, err = facewarp("run", PRESET, "--overwrite", "--set", "gain=2", cwd=shot)
    assert rc == 2, err
    lines = _error_lines(err)
    assert len(lines) == 1 and "Traceback" not in err
    assert lines[0].startswith("facewarp: error: node 'read' (PlateRead), file 'plates/plate.1003.exr', frame 1003: "
                               "truncated or corrupt image, pixels not read: ")
    # OpenEXR's own complaint is part of that line, not a stray line of its own
    assert all(line.startswith("facewarp: error:") for line in err.splitlines() if "EXR" in line)
    assert sorted(os.listdir(out)) == sorted(before)  # no partial or temp file left
    assert (out / "graded.1001.exr").read_bytes() != before["graded.1001.exr"]  # frames before it were rendered
    assert (out / "graded.1002.exr").read_bytes() != before["graded.1002.exr"]
    for name in ("graded.1003.exr", "graded.1004.exr", "graded.1005.exr"):  # the good output is untouched
        assert (out / name).read_bytes() == before[name]


def _nan_plate(shot, frame=1002):
    px = np.full((48, 64, 3), 0.5, np.float32)
    px[3, 4, 1] = np.nan
    px[5, 6, 2] = np.inf
    path = frame_path(str(shot / "plates" / "plate.####.exr"), frame)
    os.unlink(path)
    write_plate(path, Image(px), pixel_type="float")


def test_nan_in_a_plate_is_exit_2_by_default(shot):
    _nan_plate(shot)
    rc, _, err = facewarp("run", PRESET, cwd=shot)
    assert rc == 2 and "Traceback" not in err
    assert _error_lines(err) == ["facewarp: error: node 'read' (PlateRead), param 'nonfinite', file "
                                 "'plates/plate.1002.exr', frame 1002: 2 non-finite sample(s) in channels R, G, B "
                                 "(1 NaN, 1 inf); set nonfinite to zero or clamp to repair them"]
    assert sorted(os.listdir(shot / "out")) == ["graded.1001.exr"]


def test_nonfinite_zero_in_a_preset_renders_and_counts(shot):
    _nan_plate(shot)
    text = Path(PRESET).read_text()
    assert "      path: ${plate}\n" in text
    preset = shot / "zero.yaml"
    preset.write_text(text.replace("      path: ${plate}\n", "      path: ${plate}\n      nonfinite: zero\n", 1))
    rc, _, err = facewarp("run", str(preset), "--stats", "stats.json", "--report", "report.json", cwd=shot)
    assert rc == 0, err
    assert len(os.listdir(shot / "out")) == 5
    read = json.loads((shot / "stats.json").read_text())["nodes"]["read"]
    assert read["counts"] == {"nonfinite_zero": 2} and read["frame_counts"] == {"1002": {"nonfinite_zero": 2}}
    # one summary line for the run, and the same counts per frame in the report
    notes = [line for line in err.splitlines() if line.startswith("facewarp: note:")]
    assert notes == ["facewarp: note: 2 non-finite sample(s) zeroed on 1 frame (node 'read')"], err
    report = json.loads((shot / "report.json").read_text())
    assert list(report["frames"]) == [str(f) for f in range(1001, 1006)]
    assert report["frames"]["1002"] == {"read": {"nonfinite_zero": 2}} and report["frames"]["1001"] == {}
    assert report["totals"] == {"read": {"nonfinite_zero": 2}} and report["summary"] in notes[0]
    # --report follows the output-root rule like --stats
    rc, _, err = facewarp("run", str(preset), "--overwrite", "--report", "/etc/facewarp_report.json", cwd=shot)
    assert rc == 2 and "--report file is outside the output root" in err and not os.path.exists("/etc/facewarp_report.json")


def test_an_output_folder_that_is_a_file_is_one_line(shot):
    (shot / "blocker").write_text("a file")
    rc, _, err = facewarp("run", PRESET, "--frames", "1001", "--set", "out=blocker/graded.####.exr", cwd=shot)
    assert rc == 2 and "Traceback" not in err and "Errno" not in err
    lines = _error_lines(err)
    # the pre-flight or PlateWrite (imaging.plates.make_folder) says it, whichever meets it first
    assert len(lines) == 1 and "blocker' is a file" in lines[0] and "node 'write' (PlateWrite)" in lines[0]
    assert (shot / "blocker").read_text() == "a file" and not (shot / "out").exists()


@pytest.mark.parametrize("where", ["before", "after"])
def test_verbose_is_accepted_before_or_after_the_command(shot, where):
    args = ["--verbose", "run", PRESET, "--frames", "1001"] if where == "before" else \
        ["run", PRESET, "--frames", "1001", "--verbose"]
    rc, _, err = facewarp(*args, cwd=shot)
    assert rc == 0, err
