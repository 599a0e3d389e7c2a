"""presets/reenact.yaml: runs on a fresh install with no vars (the shipped astronaut still and
performance); with the GRID movie driving the held-out portrait it reads, tracks and fits the still
once for 60 frames, puts the landmarks where Retarget asks (re-detected on the output, <= 3 % IOD for
all points and the lips), leaves the plate untouched outside the face region, and opens the mouth
with a real interior where the driving opens its (the mouth issue's bars, in ``_check_the_mouth``)."""

from __future__ import annotations

import json
import os
import statistics

import numpy as np
import pytest
from _cli import facewarp

from facewarp import api
from facewarp.core.color import to_linear
from facewarp.face.mouth import opening
from facewarp.face.quality import mouth_contrast_share
from facewarp.face.tracking import track_frame
from facewarp.graph.render_loop import frames_available
from facewarp.imaging.demo import write_demo_plates
from facewarp.imaging.plates import read_plate

SHARED = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "data")
GRID = os.path.abspath(os.path.join(SHARED, "driving", "grid_swiz3n.mpg"))
PORTRAIT = os.path.abspath(os.path.join(SHARED, "portraits", "interfaces_001.jpg"))


def read_movie_frames(path):
    import av

    with av.open(path) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def _figures(report: dict, node: str, key: str) -> list[float]:
    return [v[node][key] for v in report["frames"].values() if key in v.get(node, {})]


def test_reenact_runs_with_no_vars(tmp_path):
    rc, _, err = facewarp("run", "reenact", "--frames", "1001-1004", "--report", "report.json", cwd=tmp_path)
    assert rc == 0, err
    assert sorted(os.listdir(tmp_path / "out")) == [f"reenact.{f}.exr" for f in range(1001, 1005)]
    report = json.loads((tmp_path / "report.json").read_text())
    assert _figures(report, "check", "outside_change_max") == [0.0] * 4
    assert len(_figures(report, "check", "transfer_all_iod_pct")) == 4


def test_reenact_default_range_is_the_shipped_performance():
    preset = api.load_preset("reenact")
    frames = frames_available(preset.graph, preset.context(()))  # the still has none; the movie has 48
    assert (min(frames), max(frames), len(frames)) == (1001, 1048, 48)


@pytest.mark.skipif(not (os.path.exists(GRID) and os.path.exists(PORTRAIT)),
                    reason="needs ../shared/data (the GRID clip and the portrait); the shared data is absent")
def test_grid_performance_onto_a_still_portrait(tmp_path):
    rc, _, err = facewarp("run", "reenact", "--frames", "1001-1060", "--set", f"driving={GRID}", "--set",
                          f"target={PORTRAIT}", "--report", "report.json", "--stats", "stats.json", cwd=tmp_path)
    assert rc == 0, err
    stats = json.loads((tmp_path / "stats.json").read_text())["nodes"]
    # the still: read, tracked and fitted once for the 60 frames; the movie: read per frame
    assert {n: stats[n]["computes"] for n in ("target_read", "target_track", "target_fit")} == \
        {"target_read": 1, "target_track": 1, "target_fit": 1}
    # every movie frame is read; the mouth pulls them again after the tracker, and the 2 GB result cache
    # may have evicted some by then (reading each plate once is the throughput issue's scheduler)
    assert stats["driving_read"]["computes"] >= 60
    report = json.loads((tmp_path / "report.json").read_text())
    every = _figures(report, "check", "transfer_all_iod_pct")
    lips = _figures(report, "check", "transfer_lips_iod_pct")
    assert len(every) == len(lips) == 60
    assert statistics.median(every) <= 3.0 and statistics.median(lips) <= 3.0, (max(every), max(lips))
    assert _figures(report, "check", "outside_change_max") == [0.0] * 60
    _check_the_mouth(tmp_path / "out", range(1001, 1061))


def _check_the_mouth(out_dir, frames):
    """Issue 14's bars where the driving opens its inner lips by more than 5 % IOD: the opening
    re-detected on the output is at least 70 % of the driving's (median), and the share of
    inner-mouth pixels farther than dE 20 from the lips is at least half the driving's."""
    movie = read_movie_frames(GRID)
    rows = []
    for f in frames:
        driving = to_linear(movie[f - 1001].astype(np.float32) / 255.0, "srgb")
        d = track_frame(driving).points
        out = read_plate(str(out_dir / f"reenact.{f}.exr"), channels="R,G,B").pixels
        o = track_frame(out).points
        if d is not None and o is not None and opening(d) > 0.05:
            rows.append((opening(d), opening(o), mouth_contrast_share(driving, d), mouth_contrast_share(out, o)))
    rows = np.array(rows, np.float64)
    assert len(rows) >= 20, f"only {len(rows)} open-mouth frames"
    assert np.median(rows[:, 1] / rows[:, 0]) >= 0.7, np.median(rows[:, 1] / rows[:, 0])
    assert np.nanmean(rows[:, 3]) >= 0.5 * np.nanmean(rows[:, 2]), (np.nanmean(rows[:, 3]), np.nanmean(rows[:, 2]))


def test_a_target_sequence_is_tracked_per_frame(tmp_path):
    write_demo_plates(str(tmp_path / "plates/plate.####.exr"), range(1001, 1004), (640, 360))
    rc, _, err = facewarp("run", "reenact", "--frames", "1001-1003", "--set", "target=plates/plate.####.exr",
                          "--set", "target_still=false", "--set", "check=false", "--stats", "stats.json",
                          cwd=tmp_path)
    assert rc == 0, err
    stats = json.loads((tmp_path / "stats.json").read_text())["nodes"]
    assert stats["target_read"]["computes"] == 3 and stats["check"]["computes"] == 3
