"""The ``facewarp`` command ends without the interpreter's teardown, and loses nothing by it: the
exit code, every line it printed (through a pipe, so buffered), the atexit handlers and the work of
non-daemon threads are as a plain ``sys.exit`` leaves them."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

BUFFERED = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # stdout to a pipe: block-buffered


def _run(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=120, env=BUFFERED)


def _python(code: str) -> subprocess.CompletedProcess:
    return _run(["-c", textwrap.dedent(code)])


def test_every_line_printed_reaches_a_pipe():
    plain = _python("import sys; from facewarp.cli import main; sys.exit(main(['nodes']))")
    fast = _run(["-m", "facewarp", "nodes"])
    assert plain.returncode == fast.returncode == 0
    assert fast.stdout == plain.stdout and len(plain.stdout.splitlines()) > 20


def test_the_exit_code_and_the_error_line_are_kept(tmp_path):
    missing = tmp_path / "missing.yaml"
    done = _run(["-m", "facewarp", "run", str(missing)])
    assert done.returncode == 2
    assert done.stderr.strip().endswith("preset file does not exist") and str(missing) in done.stderr


def test_atexit_handlers_and_non_daemon_threads_finish_first():
    done = _python("""
        import atexit, threading, time
        import facewarp.cli as cli
        atexit.register(print, "atexit handler ran", flush=False)
        returned = threading.Event()
        real_main = cli.main
        def main(argv=None):  # run() calls this: the thread below is still working when it returns
            try:
                return real_main(argv)
            finally:
                returned.set()
        cli.main = main
        def late():
            returned.wait()
            time.sleep(0.3)
            print("thread finished", flush=False)
        threading.Thread(target=late).start()
        from concurrent.futures import ThreadPoolExecutor
        pool = ThreadPoolExecutor(2)  # left open: Python's exit stops its (non-daemon) workers
        pool.submit(print, "pool task ran")
        cli.run(["nodes"])
        print("not reached")
    """)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[-2:] == ["thread finished", "atexit handler ran"] and "pool task ran" in lines
    assert "not reached" not in done.stdout and "TriangleWarp" in done.stdout


def test_the_teardown_is_skipped():
    # an object that is only collected by the interpreter's teardown says so from __del__
    code = """
        import sys
        class Loud:
            def __del__(self):
                sys.stdout.write("torn down\\n")
        sys.modules["__main__"].keep = Loud()
        from facewarp.cli import {entry}
        {entry}(["nodes"])
    """
    plain = _python(code.format(entry="main"))
    fast = _python(code.format(entry="run"))
    assert "torn down" in plain.stdout  # the probe works: a normal exit tears it down
    assert fast.returncode == 0 and "torn down" not in fast.stdout


def test_a_profiler_still_gets_to_write_its_results(tmp_path):
    profile = tmp_path / "run.prof"
    done = _run(["-m", "cProfile", "-o", str(profile), "-m", "facewarp", "nodes"])
    assert done.returncode == 0, done.stderr
    assert profile.stat().st_size > 0


def test_a_reader_that_goes_away_ends_the_command_quietly():
    """``facewarp nodes --json | head -1``: the pipe closes before the listing is written."""
    proc = subprocess.Popen([sys.executable, "-m", "facewarp", "nodes", "--json"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=BUFFERED)
    proc.stdout.close()
    assert proc.wait(timeout=120) == 1
    assert proc.stderr.read() == b""
