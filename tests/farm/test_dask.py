"""``facewarp run --dask``: equal to a single-process render, a SIGKILLed worker costs nothing, a
chunk that keeps failing fails the run with its frames listed."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from _cli import facewarp
from _grid_plates import KEYS, grid_plates

from facewarp.core.errors import RenderError, UsageError
from facewarp.core.types import Image
from facewarp.imaging.plates import read_plate, write_plate

pytest.importorskip("distributed", reason="needs the farm extra (dask[distributed])")

from facewarp.farm.dask_run import parse_address, run_on_dask  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
GRADE = str(REPO / "presets" / "grade_exr.yaml")


@pytest.fixture(scope="module")
def cluster():
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as lc, \
            Client(lc) as client:
        yield lc, client


def plates(folder: Path, frames, size=(8, 6)) -> None:
    w, h = size
    for f in frames:
        write_plate(str(folder / "plates" / f"p.{f:04d}.exr"), Image(np.full((h, w, 3), f / 1000, np.float32)),
                    pixel_type="float")


def test_addresses():
    assert parse_address("local:3") == ("local", 3)
    assert parse_address("tcp://10.0.0.1:8786") == ("address", "tcp://10.0.0.1:8786")
    for bad in ("local:0", "local:x", "10.0.0.1:8786"):
        with pytest.raises(UsageError):
            parse_address(bad)


def test_a_killed_worker_costs_nothing(tmp_path, monkeypatch, cluster):
    lc, client = cluster
    frames = range(1001, 1041)
    plates(tmp_path, frames, size=(1280, 720))
    monkeypatch.chdir(tmp_path)
    outcome = {}

    def run():
        try:
            outcome["rc"] = run_on_dask(GRADE, lc.scheduler_address, frames_spec="1001-1040", chunk=4, quiet=True,
                                        sets=["plate=plates/p.####.exr", "out=render/g.####.exr"])
        except BaseException as exc:  # reported below
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + 240
    while not list((tmp_path / "render").glob("g.*.exr")) and time.monotonic() < deadline:
        time.sleep(0.05)
    victim = sorted(client.run(os.getpid).values())[0]
    os.kill(victim, signal.SIGKILL)  # mid-job: frames are being written
    written_at_kill = len(list((tmp_path / "render").glob("g.*.exr")))
    thread.join(timeout=600)
    assert not thread.is_alive() and "error" not in outcome, outcome.get("error")
    assert outcome["rc"] == 0 and written_at_kill < len(frames)
    names = sorted(p.name for p in (tmp_path / "render").iterdir() if not p.name.startswith("."))
    assert names == [f"g.{f}.exr" for f in frames]  # every frame, once
    for f in frames:  # valid, none truncated
        px = read_plate(str(tmp_path / "render" / f"g.{f}.exr")).pixels
        assert px.shape == (720, 1280, 3) and np.allclose(px, f / 1000, atol=1e-3)
    assert victim not in client.run(os.getpid).values()  # the nanny replaced it


def test_a_chunk_that_keeps_failing_fails_the_run_with_its_frames(tmp_path, monkeypatch, cluster):
    lc, _ = cluster
    plates(tmp_path, range(1001, 1006))
    bad = tmp_path / "plates" / "p.1003.exr"
    bad.write_bytes(bad.read_bytes()[:40])  # truncated: found when read
    monkeypatch.chdir(tmp_path)
    with pytest.raises(RenderError) as err:
        run_on_dask(GRADE, lc.scheduler_address, frames_spec="1001-1005", chunk=2, quiet=True, retries=1,
                    sets=["plate=plates/p.####.exr", "out=render/g.####.exr"])
    text = str(err.value)
    assert "1 of 3 chunk(s) failed after 2 tries each" in text and "frames 1003-1004:" in text
    assert "p.1003.exr" in text
    assert sorted(p.name for p in (tmp_path / "render").glob("g.*.exr")) == ["g.1001.exr", "g.1002.exr", "g.1005.exr"]


@pytest.mark.shared
def test_local_2_equals_a_single_process_render(tmp_path):
    plate = grid_plates(tmp_path)
    common = ["run", "reanimate", "--frames", "1001-1006", "--set", f"plate={plate}", "--set", KEYS, "--quiet"]
    rc, _, err = facewarp(*common, "--set", "out=single/r.####.exr", "--set", "stmap=single/st.####.exr",
                          cwd=tmp_path)
    assert rc == 0, err
    rc, _, err = facewarp(*common, "--set", "out=dask/r.####.exr", "--set", "stmap=dask/st.####.exr",
                          "--dask", "local:2", "--chunk", "2", cwd=tmp_path)
    assert rc == 0, err
    files = sorted(p.name for p in (tmp_path / "single").glob("*.exr"))
    assert len(files) == 12
    for name in files:
        a = read_plate(str(tmp_path / "single" / name)).pixels
        b = read_plate(str(tmp_path / "dask" / name)).pixels
        assert np.array_equal(a, b), f"{name}: differs by up to {np.abs(a - b).max()}"
