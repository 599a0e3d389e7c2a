"""Ending the ``facewarp`` process without the interpreter's teardown.

After ``main()`` returns, CPython frees every module and runs the C++ destructors of the libraries
it loaded: ~0.25 s for a farm render task (torch alone adds 0.27 s, mediapipe 0.09 s, facewarp's
nodes with numba 0.08 s), paid by every task of a farm job for memory the system takes back anyway.
:func:`end_process` does what Python's exit does first and skips only that teardown; every file
facewarp writes is closed and renamed into place before ``main()`` returns.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
from typing import NoReturn


def end_process(code: int) -> NoReturn:
    """Exit with ``code`` as ``sys.exit(code)`` would: wait for non-daemon threads, run the
    ``atexit`` handlers (logging, tempfile and multiprocessing clean-up, a Dask cluster's shutdown,
    coverage), flush stdout and stderr; then end at once (``os._exit``). Under a profiler or a
    tracer (``python -m cProfile``, coverage, a debugger) it is ``sys.exit(code)``: they write
    their results after the program, which ``os._exit`` would cut off."""
    if sys.getprofile() is not None or sys.gettrace() is not None:
        sys.exit(code)
    # Python's own exit steps, in its order (both are CPython's, private): the first stops the thread
    # pools of concurrent.futures and joins every non-daemon thread, the second runs the atexit handlers.
    threading._shutdown()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (facewarp nodes | head): nothing left to flush to
            pass
    os._exit(code)
