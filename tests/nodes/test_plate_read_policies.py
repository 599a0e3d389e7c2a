"""PlateRead on bad plates: a truncated frame and NaN/inf samples are InputErrors naming node,
file and frame; nonfinite: zero | clamp repair them and count the samples into the run's stats
and summary."""

from __future__ import annotations

import numpy as np
import pytest

from facewarp.core.errors import EXIT_INVALID, InputError, ValidationError
from facewarp.core.frames import frame_path
from facewarp.graph import Context, Evaluator, Graph, Image, events, render
from facewarp.imaging.plates import read_plate, write_plate

FRAMES = (1, 2, 3)


@pytest.fixture
def pattern(tmp_path):
    """plate.####.exr, frames 1-3; frame 2 holds 3 NaN and 2 inf samples."""
    pattern = str(tmp_path / "plate.####.exr")
    for f in FRAMES:
        px = np.full((6, 8, 3), f / 10, np.float32)
        if f == 2:
            px[0, :3, 0] = np.nan
            px[1, 0, 1] = np.inf
            px[1, 1, 2] = -np.inf
        write_plate(frame_path(pattern, f), Image(px), pixel_type="float")
    return pattern


def _graph(path, **params):
    g = Graph()
    g.add("PlateRead", "read", {"path": path, **params})
    return g


def test_nonfinite_samples_stop_the_render_by_default(pattern):
    ev = Evaluator(_graph(pattern))
    ev.pull("read", Context(frame=1, frames=FRAMES))
    with pytest.raises(InputError) as info:
        ev.pull("read", Context(frame=2, frames=FRAMES))
    assert str(info.value) == (f"node 'read' (PlateRead), param 'nonfinite', file '{frame_path(pattern, 2)}', "
                               "frame 2: 5 non-finite sample(s) in channels R, G, B (3 NaN, 2 inf); set nonfinite "
                               "to zero or clamp to repair them")
    assert info.value.exit_code == EXIT_INVALID


@pytest.mark.parametrize("policy, label", [("zero", "zeroed"), ("clamp", "clamped")])
def test_zero_and_clamp_repair_and_count(pattern, policy, label):
    ev = Evaluator(_graph(pattern, nonfinite=policy))
    images = {f: ev.pull("read", Context(frame=f, frames=FRAMES))["image"].pixels for f in FRAMES}
    assert all(np.isfinite(px).all() for px in images.values())
    assert images[2][0, 0, 0] == 0.0  # NaN -> 0 either way
    assert images[2][1, 0, 1] == (0.0 if policy == "zero" else pytest.approx(0.2))  # +inf -> G's finite max
    node = ev.stats_json()["nodes"]["read"]
    assert node["counts"] == {f"nonfinite_{policy}": 5} and node["frame_counts"] == {"2": {f"nonfinite_{policy}": 5}}
    assert events.summary(ev.stats_json()) == f"5 non-finite sample(s) {label} on 1 frame (node 'read')"
    ev.clear()  # recomputing the frame does not count it twice
    ev.pull("read", Context(frame=2, frames=FRAMES))
    assert ev.stats_json()["nodes"]["read"]["counts"] == {f"nonfinite_{policy}": 5}


def test_nonfinite_param_is_validated(pattern):
    g = _graph(pattern, nonfinite="ignore")
    problems = g.problems(Context(frame=1, frames=FRAMES))
    assert problems and isinstance(problems[0], ValidationError) and problems[0].param == "nonfinite"


def test_counts_reach_the_render_result_stats(pattern, tmp_path):
    g = _graph(pattern, nonfinite="zero")
    g.add("PlateWrite", "write", {"path": str(tmp_path / "out" / "o.####.exr")})
    g.connect("read.image", "write.image")
    g.outputs.append("write")
    result = render(g, Context(frames=FRAMES), output_root=str(tmp_path))
    assert result.stats_json()["nodes"]["read"]["counts"] == {"nonfinite_zero": 5}
    assert events.summary(result.stats_json()) == "5 non-finite sample(s) zeroed on 1 frame (node 'read')"


def test_a_truncated_frame_is_an_error_naming_node_file_and_frame(pattern, capfd):
    path = frame_path(pattern, 3)
    data = open(path, "rb").read()
    open(path, "wb").write(data[: len(data) // 2])
    ev = Evaluator(_graph(pattern))
    ev.pull("read", Context(frame=1, frames=FRAMES))
    capfd.readouterr()
    with pytest.raises(InputError) as info:
        ev.pull("read", Context(frame=3, frames=FRAMES))
    text = str(info.value)
    assert text.startswith(f"node 'read' (PlateRead), file '{path}', frame 3: ") and "truncated" in text
    assert info.value.exit_code == EXIT_INVALID
    assert capfd.readouterr().err == ""
    # 'hold' does not paper over it: the frame exists, it is just broken
    with pytest.raises(InputError, match="truncated"):
        Evaluator(_graph(pattern, missing="hold")).pull("read", Context(frame=3, frames=FRAMES))


def test_black_missing_frames_ignore_the_held_frames_samples(pattern):
    # frame 4 is missing: 'black' reads the nearest frame (3) only for its size
    img = Evaluator(_graph(pattern, missing="black")).pull("read", Context(frame=4, frames=(*FRAMES, 4)))["image"]
    assert not img.pixels.any()
    # and read_plate is what PlateRead calls, so the library default is the node's
    with pytest.raises(InputError, match="non-finite"):
        read_plate(frame_path(pattern, 2))
