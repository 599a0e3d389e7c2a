"""Native libraries' log lines: keep them off the terminal unless asked for.

OpenEXR, libpng, libtiff, MediaPipe, TFLite, glog and absl write straight to file descriptor 2,
past Python's ``sys.stderr``, so neither ``warnings`` nor ``logging`` can silence them. Code that
calls such a library wraps the call in :func:`captured_stderr`: fd 2 points at a temp file for
the duration, and the caller decides what the captured text becomes (part of an error message,
re-emitted, or dropped as noise). ``FACEWARP_VERBOSE=1`` (``facewarp --verbose``) turns the
capture off, so everything the libraries say reaches the terminal as it happens.

The redirection is process-wide: another thread writing to fd 2 inside the block is captured
too. Keep the blocks short (one library call) and re-emit what the caller does not consume.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from collections.abc import Iterator

VERBOSE_ENV = "FACEWARP_VERBOSE"
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")


def verbose() -> bool:
    """Whether third-party log output should be shown (``FACEWARP_VERBOSE`` set and not 0)."""
    return os.environ.get(VERBOSE_ENV, "").strip().lower() not in ("", "0", "false", "no")


def strip_ansi(text: str) -> str:
    """``text`` without terminal colour/style escape sequences."""
    return _ANSI.sub("", text)


class Captured:
    """What a :func:`captured_stderr` block caught; ``text`` is set when the block ends."""

    def __init__(self) -> None:
        self.text = ""
        self.active = False  # False when nothing was redirected (verbose, or fd 2 unusable)

    def lines(self) -> list[str]:
        """Non-empty lines, ANSI codes removed, duplicates dropped (order kept)."""
        seen: dict[str, None] = {}
        for line in strip_ansi(self.text).splitlines():
            line = line.strip()
            if line:
                seen.setdefault(line, None)
        return list(seen)

    def emit(self) -> None:
        """Write the captured text to stderr, as the library would have."""
        if self.text:
            sys.stderr.write(self.text if self.text.endswith("\n") else self.text + "\n")
            sys.stderr.flush()


@contextlib.contextmanager
def captured_stderr(*, when_verbose: bool = False) -> Iterator[Captured]:
    """Redirect file descriptor 2 to a temp file inside the block; the yielded ``Captured``
    holds its text afterwards. Under ``verbose()`` nothing is redirected (unless
    ``when_verbose``), so the output goes to the terminal directly and ``text`` stays empty."""
    cap = Captured()
    if verbose() and not when_verbose:
        yield cap
        return
    try:
        sys.stderr.flush()
    except (AttributeError, OSError, ValueError):
        pass
    try:
        saved = os.dup(2)
    except OSError:  # no usable fd 2 (a daemon, a host without a console): nothing to hide
        yield cap
        return
    tmp = tempfile.TemporaryFile()
    try:
        os.dup2(tmp.fileno(), 2)
        cap.active = True
        try:
            yield cap
        finally:
            os.dup2(saved, 2)
            tmp.seek(0)
            cap.text = tmp.read().decode("utf-8", errors="replace")
    finally:
        os.close(saved)
        tmp.close()


@contextlib.contextmanager
def quiet_native() -> Iterator[None]:
    """Drop what native libraries print to fd 2 inside the block (log chatter such as TFLite's
    "Created TensorFlow Lite XNNPACK delegate" or absl's "All log messages before
    absl::InitializeLog()"), unless ``verbose()``. If the block raises, the captured text is
    passed on: it may explain the failure."""
    cap = None
    try:
        with captured_stderr() as cap:
            yield
    except BaseException:
        if cap is not None:
            cap.emit()
        raise
