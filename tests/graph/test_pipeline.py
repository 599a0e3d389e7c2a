"""The background write pipeline: bounded, drained at the end, errors re-raised on the caller's
thread naming node, file and frame, atomic writes still atomic; PlateWrite hands it its writes."""

from __future__ import annotations

import os
import threading
import time

import _nodes  # noqa: F401  (registers the test node types)
import numpy as np
import OpenImageIO as oiio
import pytest

from facewarp.core.errors import FacewarpError, InputError, RenderError
from facewarp.graph import Context, Graph, render
from facewarp.graph.pipeline import WritePipeline, active
from facewarp.imaging.plates import read_plate


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the default output root
    monkeypatch.delenv("FACEWARP_OUTPUT_ROOT", raising=False)


def test_writes_run_in_the_background_and_are_drained_on_exit():
    done, threads = [], set()

    def write(i):
        threads.add(threading.current_thread().name)
        done.append(i)

    with WritePipeline(workers=2, max_pending=3) as writes:
        assert active() is writes
        for i in range(10):
            writes.submit(write, i, node="w", frame=i)
            assert writes.in_flight <= 3  # bounded: submit waits for a free slot
    assert active() is None
    assert sorted(done) == list(range(10))
    assert threading.current_thread().name not in threads and all(t.startswith("facewarp-write") for t in threads)
    assert writes.counts == {"w": 10} and writes.seconds["w"] >= 0


def test_at_most_max_pending_writes_are_held():
    gate = threading.Event()
    started = threading.Semaphore(0)
    peak = [0]
    lock = threading.Lock()
    live = [0]

    def write():
        with lock:
            live[0] += 1
            peak[0] = max(peak[0], live[0])
        started.release()
        gate.wait()
        with lock:
            live[0] -= 1

    writes = WritePipeline(workers=4, max_pending=2)
    writes.submit(write)
    writes.submit(write)
    blocked = threading.Thread(target=writes.submit, args=(write,))
    blocked.start()
    started.acquire()
    started.acquire()
    assert writes.in_flight == 2 and blocked.is_alive()  # the third waits for a slot
    gate.set()
    blocked.join()
    writes.close()
    assert peak[0] <= 2 and writes.in_flight == 0


def test_a_failed_write_is_raised_on_the_callers_thread_with_its_location():
    def bad():
        raise InputError("cannot write '.xyz' files")

    def oserror():
        raise OSError(28, "No space left on device")

    with pytest.raises(FacewarpError) as caught:
        with WritePipeline() as writes:
            writes.submit(bad, node="write", node_type="PlateWrite", file="out/o.1003.exr", frame=1003)
            writes.drain()
    text = str(caught.value)
    assert "node 'write' (PlateWrite)" in text and "o.1003.exr" in text and "frame 1003" in text

    writes = WritePipeline()
    writes.submit(oserror, node="stmap", node_type="PlateWrite", file="st.1001.exr", frame=1001)
    with pytest.raises(RenderError, match="No space left") as caught:
        writes.close()
    assert isinstance(caught.value.__cause__, OSError) and "frame 1001" in str(caught.value)


def test_the_next_submit_raises_an_earlier_failure_and_later_writes_do_not_run():
    ran = []
    writes = WritePipeline(workers=1, max_pending=1)
    writes.submit(lambda: (_ for _ in ()).throw(InputError("bad")), node="w", frame=1)
    with pytest.raises(InputError):
        writes.submit(ran.append, 2, node="w", frame=2)  # waits for the slot, then sees the failure
    writes.close(cancel=True)
    assert ran == []


def test_leaving_by_an_exception_cancels_queued_writes_and_keeps_that_exception():
    gate = threading.Event()
    ran = []

    def slow(i):
        gate.wait()
        ran.append(i)

    class Stop(Exception):
        pass

    futures = []

    def release_when_cancelled():  # the running write may end only once the queued ones are dropped
        while not all(f.cancelled() for f in futures[1:]):
            threading.Event().wait(0.01)
        gate.set()

    with pytest.raises(Stop):
        with WritePipeline(workers=1, max_pending=3) as writes:
            futures += [writes.submit(slow, i) for i in (1, 2, 3)]
            threading.Thread(target=release_when_cancelled, daemon=True).start()
            raise Stop()
    assert ran == [1]  # the running write finished whole; the queued ones never started
    assert futures[0].done() and futures[1].cancelled() and futures[2].cancelled()


def _graph(tmp_path):
    g = Graph()
    g.add("TestFrameSource", "src")
    g.add("PlateWrite", "write", {"path": str(tmp_path / "out.####.exr"), "exr_pixel_type": "float"})
    g.connect("src.image", "write.image")
    g.outputs.append("write")
    return g


def test_plate_write_hands_its_writes_to_the_active_pipeline(tmp_path):
    frames = (1, 2, 3, 4)
    with WritePipeline() as writes:
        render(_graph(tmp_path), Context(frames=frames, device="cpu"))
    assert writes.counts == {"write": 4}
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == [f"out.{f:04d}.exr" for f in frames]
    for f in frames:
        assert np.allclose(read_plate(str(tmp_path / f"out.{f:04d}.exr")).pixels, f)


def test_a_background_write_failure_stays_atomic_and_names_the_frame(tmp_path, monkeypatch):
    real = oiio.ImageOutput.write_image

    def fail_on_frame_3(self, pixels, *args):
        if np.all(np.asarray(pixels, np.float32) == 3):
            raise OSError(5, "Input/output error")
        return real(self, pixels, *args)

    monkeypatch.setattr(oiio.ImageOutput, "write_image", fail_on_frame_3)
    with pytest.raises(RenderError) as caught:
        with WritePipeline() as writes:
            render(_graph(tmp_path), Context(frames=(1, 2, 3), device="cpu"))
    assert "node 'write' (PlateWrite)" in str(caught.value) and "frame 3" in str(caught.value)
    assert "out.0003.exr" in str(caught.value)
    names = sorted(os.listdir(tmp_path))
    assert names == ["out.0001.exr", "out.0002.exr"]  # no frame 3, no temp file
    assert writes.in_flight == 0


def test_start_and_finish_wire_a_loop_without_a_with_block(tmp_path):
    """The shape the render loop uses: start before its try, finish() after the loop,
    finish(cancel=True) in its error path (idempotent, raises nothing the second time)."""
    def bad():
        raise InputError("disk full")

    writes = WritePipeline().start()
    assert active() is writes
    writes.submit(bad, node="w", file="o.1.exr", frame=1)
    with pytest.raises(InputError):
        try:
            writes.finish()
        except BaseException:
            writes.finish(cancel=True)
            raise
    assert active() is None
    with pytest.raises(RuntimeError, match="closed"):
        writes.submit(bad)


@pytest.mark.parametrize("background", [True, False])
def test_render_writes_behind_the_frame_loop_unless_asked_not_to(tmp_path, monkeypatch, background):
    real = oiio.ImageOutput.write_image
    threads = []

    def record(self, *args):
        threads.append(threading.current_thread().name)
        return real(self, *args)

    monkeypatch.setattr(oiio.ImageOutput, "write_image", record)
    result = render(_graph(tmp_path), Context(frames=(1, 2, 3), device="cpu"), background_writes=background)
    assert result.frames == (1, 2, 3) and len(threads) == 3
    assert all(t.startswith("facewarp-write") for t in threads) == background
    assert all(t == threading.current_thread().name for t in threads) == (not background)
    for f in (1, 2, 3):
        assert np.allclose(read_plate(str(tmp_path / f"out.{f:04d}.exr")).pixels, f)



def test_a_node_error_stops_the_run_after_the_frames_before_it_are_written(tmp_path, monkeypatch):
    """Frame 3 fails while frame 2's second file still waits behind its first, slow one (one writer
    thread): both of frame 2's files are written, nothing of frame 3, and the error is the node's."""
    import facewarp.nodes.plate_write as plate_write

    real = plate_write.write_plate

    def slow_a(path, *args, **kwargs):
        if os.path.basename(path).startswith("a."):
            time.sleep(0.5)  # frame 3 fails meanwhile; b's write of the frame waits in the queue
        return real(path, *args, **kwargs)

    monkeypatch.setattr(plate_write, "write_plate", slow_a)
    g = Graph()
    g.add("TestFrameSource", "src")
    g.add("TestFailAt", "check", {"frame": 3})
    g.connect("src.image", "check.image")
    for name in ("a", "b"):
        g.add("PlateWrite", name, {"path": str(tmp_path / f"{name}.####.exr"), "exr_pixel_type": "float"})
        g.connect("check.image", f"{name}.image")
        g.outputs.append(name)
    with pytest.raises(InputError, match="bad frame") as caught:
        render(g, Context(frames=(1, 2, 3, 4), device="cpu"))
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == \
        ["a.0001.exr", "a.0002.exr", "b.0001.exr", "b.0002.exr"]
    assert caught.value.render_result.frames == (1, 2)
    for name in ("a", "b"):
        assert np.allclose(read_plate(str(tmp_path / f"{name}.0002.exr")).pixels, 2)


def test_done_upto_stops_at_a_failed_write_and_the_ones_skipped_after_it():
    gate = threading.Event()

    def bad():
        gate.wait()
        raise InputError("disk full")

    writes = WritePipeline(workers=1, max_pending=4)
    writes.submit(lambda: None, node="w", frame=1)
    writes.submit(bad, node="w", frame=2)
    writes.submit(lambda: None, node="w", frame=3)  # queued behind the failure: skipped, not written
    gate.set()
    with pytest.raises(InputError):
        writes.drain()
    assert writes.done_upto() == 1  # only the first write is on disk
    writes.close(cancel=True)


def test_a_failed_write_is_not_reported_as_a_rendered_frame(tmp_path, monkeypatch):
    real = oiio.ImageOutput.write_image

    def fail_on_frame_3(self, pixels, *args):
        if np.all(np.asarray(pixels, np.float32) == 3):
            raise OSError(5, "Input/output error")
        return real(self, pixels, *args)

    monkeypatch.setattr(oiio.ImageOutput, "write_image", fail_on_frame_3)
    with pytest.raises(RenderError, match="frame 3") as caught:
        render(_graph(tmp_path), Context(frames=(1, 2, 3, 4, 5), device="cpu"))
    assert caught.value.render_result.frames == (1, 2)
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == ["out.0001.exr", "out.0002.exr"]
