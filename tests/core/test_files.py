"""Atomic output: temp files never outlive their writer, on any exit path; those of a killed
writer are removed by the next run on the same outputs, and nothing else is."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from facewarp.core.errors import RenderError
from facewarp.core.files import (
    STALE_TEMP_SECONDS,
    atomic_output,
    parse_temp_name,
    process_alive,
    remove_stale_temps,
    temp_path_for,
)

# A writer that stops in the middle of a write: prints its temp path, then waits to be killed.
# It waits in short sleeps, as a render loop returns to Python between operations: a library's native
# thread may take the SIGTERM, and then Python runs the handler only when the main thread's call returns.
WRITER = textwrap.dedent("""
    import sys, time
    from facewarp.core.files import atomic_output
    from facewarp.cli.render import _terminate_cleanly
    with _terminate_cleanly(), atomic_output(sys.argv[1], overwrite=False) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(b"half a frame")
            fh.flush()
            print(tmp, flush=True)
            for _ in range(1200):
                time.sleep(0.1)
""")


def _start_writer(final):
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(final)], stdout=subprocess.PIPE, text=True)
    tmp = proc.stdout.readline().strip()
    assert tmp and os.path.exists(tmp), "the writer did not start"
    return proc, tmp


def _age(path, seconds):
    t = time.time() - seconds
    os.utime(path, (t, t))


def test_temp_names_round_trip():
    for final in ("out/graded.1001.exr", "a.tar.gz", "noext", ".hidden", "dir.d/x.partial-3-abc.exr"):
        tmp = temp_path_for(final)
        assert parse_temp_name(os.path.basename(tmp)) == (os.path.basename(final), os.getpid())
    for name in (".a.partial-12-0123abcd.exr.bak", "a.partial-12-0123abcd.exr", ".a.partial-12-0123ABCD.exr",
                 ".a.partial-x-0123abcd.exr", ".a.partial-12-0123abc.exr", "notes.txt"):
        assert parse_temp_name(name) is None, name


def test_kill_9_mid_write_leaves_a_temp_that_the_next_run_removes(tmp_path):
    final = tmp_path / "out" / "graded.1001.exr"
    final.parent.mkdir()
    proc, tmp = _start_writer(final)
    assert remove_stale_temps([final]) == [] and os.path.exists(tmp)  # the writer runs: never touched
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert os.path.exists(tmp) and not final.exists()  # what kill -9 leaves: a hidden temp, no frame
    assert remove_stale_temps([final]) == [] and os.path.exists(tmp)  # just written: may be another machine's
    _age(tmp, STALE_TEMP_SECONDS + 1)
    keep = [tmp_path / "out" / "notes.txt", tmp_path / "out" / f".graded.1002.partial-{proc.pid}-0123abcd.exr",
            tmp_path / "out" / ".graded.1001.partial-1-0123abcd.exr"]  # another output's; pid 1 is alive
    for path in keep:
        path.write_bytes(b"")
        _age(path, 3600)
    assert remove_stale_temps([final]) == [tmp]
    assert sorted(os.listdir(final.parent)) == sorted(p.name for p in keep)


def test_sigterm_mid_write_removes_the_temp(tmp_path):
    final = tmp_path / "graded.1001.exr"
    proc, tmp = _start_writer(final)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 128 + signal.SIGTERM
    assert os.listdir(tmp_path) == []


def test_every_exit_path_of_atomic_output_removes_the_temp(tmp_path):
    final = tmp_path / "a.json"
    for exc in (RuntimeError, KeyboardInterrupt, SystemExit):
        with pytest.raises(exc):
            with atomic_output(final, overwrite=False) as tmp:
                open(tmp, "w").write("partial")
                raise exc()
        assert os.listdir(tmp_path) == []
    final.write_text("keep")
    with pytest.raises(Exception, match="exists"):  # a refused commit
        with atomic_output(final, overwrite=False) as tmp:
            open(tmp, "w").write("new")
    assert os.listdir(tmp_path) == ["a.json"] and final.read_text() == "keep"
    with pytest.raises(RenderError, match="nothing was written"):  # the writer never created its temp
        with atomic_output(tmp_path / "b.json", overwrite=False):
            pass
    assert os.listdir(tmp_path) == ["a.json"]


def test_process_alive():
    assert process_alive(os.getpid()) and process_alive(1)
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    assert not process_alive(int(done.stdout))
