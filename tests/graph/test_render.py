"""The render API: pre-flight, output policies, progress, cancel, stats, default frame range."""

from __future__ import annotations

import _nodes  # noqa: F401  (registers the test node types)
import numpy as np
import pytest
from _nodes import CALLS

from facewarp.core.errors import EXIT_CANCELLED
from facewarp.graph import (
    Context,
    Evaluator,
    Graph,
    OutputExistsError,
    RenderCancelled,
    RenderError,
    UsageError,
    ValidationError,
    frames_available,
    plan,
    render,
)
from facewarp.imaging.plates import read_plate

FRAMES = (1, 2, 3, 4)


@pytest.fixture(autouse=True)
def _reset_counts(tmp_path, monkeypatch):
    CALLS.clear()
    monkeypatch.chdir(tmp_path)  # the default output root: a run writes only under it
    monkeypatch.delenv("FACEWARP_OUTPUT_ROOT", raising=False)


def writer_graph(tmp_path, source="TestFrameSource"):
    """src (pixels = frame) -> PlateWrite to tmp_path/out.####.exr."""
    g = Graph()
    g.add(source, "src")
    g.add("PlateWrite", "write", {"path": str(tmp_path / "out.####.exr"), "exr_pixel_type": "float"})
    g.connect("src.image", "write.image")
    g.outputs.append("write")
    return g


def out(tmp_path, frame):
    return tmp_path / f"out.{frame:04d}.exr"


def written(tmp_path):
    return sorted(p.name for p in tmp_path.glob("out.*.exr"))


def test_renders_every_frame_and_reports_stats(tmp_path):
    result = render(writer_graph(tmp_path), Context(frames=FRAMES, device="cpu"))
    assert result.frames == FRAMES and result.skipped == () and not result.cancelled
    assert written(tmp_path) == [f"out.{f:04d}.exr" for f in FRAMES]
    for f in FRAMES:
        assert np.allclose(read_plate(str(out(tmp_path, f))).pixels, f)
    stats = result.stats_json(preset="p.yaml")
    assert stats["frames"] == list(FRAMES) and stats["skipped"] == [] and stats["device"] == "cpu"
    assert stats["preset"] == "p.yaml" and stats["seconds"] == round(result.seconds, 6) > 0
    assert stats["nodes"]["src"]["computes"] == 4 and set(stats["nodes"]["write"]["frames"]) == {"1", "2", "3", "4"}
    assert set(result.frame_seconds) == set(FRAMES) and "cache" in stats


def test_existing_output_refuses_before_computing_anything(tmp_path):
    out(tmp_path, 3).write_bytes(b"keep me")
    ev = Evaluator(writer_graph(tmp_path))
    with pytest.raises(OutputExistsError) as info:
        render(ev.graph, Context(frames=FRAMES), evaluator=ev)
    assert info.value.frame == 3 and info.value.file == str(out(tmp_path, 3))
    assert "--overwrite" in str(info.value) and info.value.exit_code == 2
    assert CALLS == {} and all(s.computes == 0 for s in ev.stats.values())
    assert written(tmp_path) == ["out.0003.exr"] and out(tmp_path, 3).read_bytes() == b"keep me"


def test_skip_renders_only_unfinished_frames(tmp_path):
    for f in (1, 2):
        out(tmp_path, f).write_bytes(b"done")
    result = render(writer_graph(tmp_path), Context(frames=FRAMES), mode="skip")
    assert result.frames == (3, 4) and result.skipped == (1, 2)
    assert CALLS["src"] == 2  # the finished frames' sources were not even computed
    assert out(tmp_path, 1).read_bytes() == b"done" and np.allclose(read_plate(str(out(tmp_path, 4))).pixels, 4)
    assert result.stats_json()["skipped"] == [1, 2]


def test_overwrite_replaces_and_mode_reaches_the_writers(tmp_path):
    out(tmp_path, 2).write_bytes(b"stale")
    # The context says "error"; the explicit mode wins for the pre-flight and the writers alike.
    result = render(writer_graph(tmp_path), Context(frames=FRAMES, write_mode="error"), mode="overwrite")
    assert result.frames == FRAMES
    assert np.allclose(read_plate(str(out(tmp_path, 2))).pixels, 2)


def test_progress_sees_the_start_then_every_frame_in_order(tmp_path):
    seen = []
    render(writer_graph(tmp_path), Context(frames=(5, 6, 7)), progress=lambda *a: seen.append(a))
    assert [(d, t, f) for d, t, f, _ in seen] == [(0, 3, None), (1, 3, 5), (2, 3, 6), (3, 3, 7)]
    assert all(s >= 0 for *_, s in seen) and seen[0][3] == 0.0


def test_cancel_stops_between_frames_and_keeps_the_partial_result(tmp_path):
    done = []
    with pytest.raises(RenderCancelled) as info:
        render(writer_graph(tmp_path), Context(frames=FRAMES), progress=lambda d, t, f, s: done.append(f),
               cancel=lambda: CALLS.get("src", 0) >= 2)  # stop after 2 frames were computed
    exc = info.value
    assert done == [None, 1, 2]  # both computed frames were written (and reported) before the stop
    assert exc.exit_code == EXIT_CANCELLED == 130 and "before frame 3" in str(exc)
    assert exc.render_result.frames == (1, 2) and exc.render_result.cancelled
    assert exc.render_result.stats_json()["nodes"]["src"]["computes"] == 2
    assert CALLS["src"] == 2 and written(tmp_path) == ["out.0001.exr", "out.0002.exr"]


def test_a_node_failure_carries_the_partial_result(tmp_path):
    g = writer_graph(tmp_path)
    g.add("TestBroken", "broken")
    g.connect("src.image", "broken.image")
    g.connect("broken.image", "write.image")
    with pytest.raises(RenderError) as info:
        render(g, Context(frames=FRAMES))
    assert info.value.node == "broken" and info.value.frame == 1
    assert info.value.render_result.frames == () and written(tmp_path) == []


def test_subset_of_the_range_keeps_sequence_nodes_on_the_whole_range(tmp_path):
    g = writer_graph(tmp_path)
    g.add("TestSequenceMean", "mean")
    g.connect("src.image", "mean.image")
    g.connect("mean.image", "write.image")
    result = render(g, Context(frames=FRAMES), frames=(3, 4))
    assert result.frames == (3, 4) and written(tmp_path) == ["out.0003.exr", "out.0004.exr"]
    assert np.allclose(read_plate(str(out(tmp_path, 3))).pixels, np.mean(FRAMES))
    with pytest.raises(UsageError, match="outside"):
        render(g, Context(frames=FRAMES), frames=(9,))


def test_refuses_graphs_without_outputs_invalid_graphs_and_bad_modes(tmp_path):
    g = writer_graph(tmp_path)
    g.outputs.clear()
    with pytest.raises(UsageError, match="renders nothing"):
        render(g, Context(frames=FRAMES))
    g = writer_graph(tmp_path)
    g.connect("nowhere.image", "write.image")
    with pytest.raises(ValidationError, match="unknown node 'nowhere'"):
        render(g, Context(frames=FRAMES))
    with pytest.raises(UsageError, match="mode"):
        render(writer_graph(tmp_path), Context(frames=FRAMES), mode="replace")
    with pytest.raises(UsageError, match="no frames"):
        render(writer_graph(tmp_path), Context())
    assert CALLS == {} and written(tmp_path) == []


def test_plan_reports_without_raising(tmp_path):
    g = writer_graph(tmp_path)
    out(tmp_path, 2).write_bytes(b"x")
    p = plan(g, Context(frames=(1, 2)), "error")
    assert p.todo == (1, 2) and p.skipped == () and p.existing == ((2, str(out(tmp_path, 2))),)
    assert p.outputs == {1: (str(out(tmp_path, 1)),), 2: (str(out(tmp_path, 2)),)}
    with pytest.raises(OutputExistsError):
        p.check()
    p = plan(g, Context(frames=(1, 2), write_mode="skip"))  # mode from the context
    assert p.todo == (1,) and p.skipped == (2,)
    p.check()  # skipping is not a clash
    assert CALLS == {}


def test_default_frames_come_from_the_sources_on_disk(tmp_path):
    for f in (1001, 1002, 1004):
        (tmp_path / f"plate.{f}.exr").write_bytes(b"")
    g = Graph()
    g.add("Constant", "still")  # no opinion: asked first, skipped
    g.add("PlateRead", "read", {"path": "${plates}/plate.####.exr"})
    ctx = Context(variables={"plates": str(tmp_path)})
    assert g.nodes["still"].frames_available(ctx) == ()
    assert frames_available(g, ctx) == (1001, 1002, 1003, 1004)  # a gap stays in the range: it gets checked
    g.nodes["read"].set_param("offset", 1000)  # file frame = evaluated frame + offset
    g.nodes["read"].set_param("frames", "1001-1002")  # the listed frames only
    assert frames_available(g, ctx) == (1, 2)
    g.nodes["read"].set_param("path", str(tmp_path / "plate.1001.exr"))  # a still has no range
    assert frames_available(g, ctx) == ()


# -- where a render may write: the engine's own checks, for hosts and farms alike -----------------

def test_outputs_outside_the_root_or_onto_an_input_are_refused_before_computing(tmp_path):
    inside, outside = tmp_path / "root", tmp_path / "elsewhere"
    inside.mkdir()
    g = writer_graph(outside)
    with pytest.raises(ValidationError) as info:
        render(g, Context(frames=FRAMES), output_root=inside)
    exc = info.value
    assert (exc.node, exc.param, exc.file) == ("write", "path", str(outside / "out.0001.exr"))
    assert "is outside the output root" in str(exc) and exc.exit_code == 2
    assert CALLS == {} and not outside.exists()
    p = plan(g, Context(frames=FRAMES), output_root=inside)
    assert len(p.problems) == 1 and p.root == str(inside)  # one problem per writer, not one per frame
    assert render(g, Context(frames=(1,)), output_root=outside).frames == (1,)  # the root can be moved
    # the run's own inputs: a reader of the file the writer would replace
    (tmp_path / "plate.exr").write_bytes(b"source")
    g = Graph()
    g.add("PlateRead", "read", {"path": str(tmp_path / "plate.exr")})
    g.add("PlateWrite", "write", {"path": str(tmp_path / "plate.exr")})
    g.connect("read.image", "write.image")
    g.outputs.append("write")
    with pytest.raises(ValidationError, match="is also an input of this run"):
        render(g, Context(frames=(1,)), mode="overwrite", output_root=tmp_path)
    assert (tmp_path / "plate.exr").read_bytes() == b"source"


def test_a_file_without_frame_token_is_written_once_per_run(tmp_path):
    g = writer_graph(tmp_path)
    g.nodes["write"].set_param("path", str(tmp_path / "still.exr"))
    with pytest.raises(ValidationError, match="same file for frames 1 and 2"):
        render(g, Context(frames=FRAMES), mode="overwrite")
    assert CALLS == {} and not (tmp_path / "still.exr").exists()
    assert render(g, Context(frames=(3,))).frames == (3,)


def test_render_removes_stale_temps_of_its_outputs_only(tmp_path):
    import os
    import subprocess
    import sys
    import time

    pid = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                             text=True).stdout)
    stale = tmp_path / f".out.0001.partial-{pid}-0123abcd.exr"
    other = tmp_path / f".out.0009.partial-{pid}-0123abcd.exr"
    for path in (stale, other):
        path.write_bytes(b"")
        os.utime(path, (time.time() - 600, time.time() - 600))
    plan(writer_graph(tmp_path), Context(frames=FRAMES))
    assert stale.exists()  # planning changes nothing
    render(writer_graph(tmp_path), Context(frames=FRAMES))
    assert not stale.exists() and other.exists()
