"""Background writes: output files written off the frame loop's critical path.

A :class:`WritePipeline` is a small, bounded pool of writer threads. While one is active
(``with WritePipeline() as writes:`` around a frame loop), writer nodes (PlateWrite) hand it
their write instead of writing on the calling thread, and the loop goes on to the next frame's
compute while OpenImageIO encodes and compresses the last one (with its own threads).

    * **Bounded**: at most ``max_pending`` writes are queued or running; ``submit`` blocks until
      one finishes, so a slow disk holds at most that many frames in memory.
    * **Errors on the caller's thread**: the first write that fails is re-raised by the next
      ``submit``/``check``, by ``drain`` and on leaving the ``with`` block, as a
      :class:`FacewarpError` naming the node, file and frame (anything else a write raises is
      wrapped in a :class:`RenderError` with the same fields). Later writes still queued are
      not started once one has failed.
    * **Atomic writes stay atomic**: each write runs whole on one worker (``write_plate`` writes
      a temp file and renames it into place). Leaving the block by an exception (a node failing,
      Ctrl-C, SIGTERM's SystemExit) cancels the writes not yet started and waits for the running
      ones, which commit whole or remove their temp file: nothing half-written is left.
    * **Drained at the end**: leaving the block normally waits for every write.

The active pipeline is found with :func:`active` (a context variable: per thread and per
asyncio task, so two renders on two threads each see their own). Without one, writers write
synchronously as before.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from facewarp.core.errors import FacewarpError, RenderError

_SKIPPED = object()  # what a write queued behind a failed one returns: it was not run

_ACTIVE: contextvars.ContextVar[WritePipeline | None] = contextvars.ContextVar("facewarp_write_pipeline",
                                                                                default=None)


def active() -> WritePipeline | None:
    """The pipeline writers should hand their writes to, or None (write synchronously)."""
    return _ACTIVE.get()


class WritePipeline:
    """A bounded pool of background writer threads (see the module doc).

    ``workers``: writer threads (1 is enough to overlap a frame's write with the next frame's
    compute; OpenEXR compresses with its own threads). ``max_pending``: writes queued or
    running at once, i.e. frames held in memory for writing."""

    def __init__(self, workers: int = 1, max_pending: int = 2):
        if workers < 1 or max_pending < 1:
            raise ValueError(f"workers and max_pending must be >= 1, got {workers}, {max_pending}")
        self.workers = int(workers)
        self.max_pending = int(max_pending)
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="facewarp-write")
        self._slots = threading.Semaphore(self.max_pending)
        self._lock = threading.Lock()
        self._futures: set[Future] = set()
        self._error: FacewarpError | None = None
        self._raised = False
        self._closed = False
        self._token: contextvars.Token | None = None
        self._submitted = 0  # writes submitted so far (each gets the next index)
        self._done: set[int] = set()  # indices finished beyond the low-water mark
        self._done_upto = 0  # every write with an index below this has finished
        self.seconds: dict[str, float] = {}  # node -> seconds spent in its writes
        self.counts: dict[str, int] = {}  # node -> writes done

    # -- the caller's side ------------------------------------------------------------------
    def submit(self, fn: Callable[..., Any], /, *args, node: str | None = None, node_type: str | None = None,
               file: str | None = None, frame: int | None = None, **kwargs) -> Future:
        """Run ``fn(*args, **kwargs)`` on a writer thread; ``node``, ``node_type``, ``file`` and
        ``frame`` locate its error. Blocks while ``max_pending`` writes are in flight; raises
        the error of an earlier failed write instead of queueing another."""
        if self._closed:
            raise RuntimeError("the write pipeline is closed")
        self.check()
        self._slots.acquire()
        try:
            self.check()  # a write may have failed while we waited for a slot
            where = {"node": node, "node_type": node_type, "file": file, "frame": frame}
            future = self._pool.submit(self._run, fn, args, kwargs, where)
        except BaseException:
            self._slots.release()
            raise
        with self._lock:
            self._futures.add(future)
            index = self._submitted
            self._submitted += 1
        future.add_done_callback(lambda f: self._finished(f, index))
        return future

    @property
    def submitted(self) -> int:
        """Writes submitted so far: a mark to pass to :meth:`done_upto` later."""
        with self._lock:
            return self._submitted

    def done_upto(self) -> int:
        """How many writes, counted from the first submitted, have all been written. It stops for
        good below a write that failed, was skipped after a failure or was cancelled: a caller
        that noted ``submitted`` after a frame knows the frame's files are on disk once this
        reaches that mark, and never counts a frame whose files are not."""
        with self._lock:
            return self._done_upto

    @property
    def in_flight(self) -> int:
        """Writes queued or running now."""
        with self._lock:
            return len(self._futures)

    def check(self) -> None:
        """Raise the first failed write's error here, on the caller's thread (once)."""
        error = self._error
        if error is not None and not self._raised:
            self._raised = True
            raise error

    def drain(self) -> None:
        """Wait for every write submitted so far; then :meth:`check`."""
        while True:
            with self._lock:
                pending = list(self._futures)
            if not pending:
                break
            for future in pending:
                try:
                    future.result()
                except BaseException:  # recorded in _run; raised by check()
                    pass
        self.check()

    def close(self, cancel: bool = False) -> None:
        """Stop the workers. ``cancel``: drop the writes not started yet (each running write
        still finishes whole or removes its temp file) and raise nothing; otherwise
        :meth:`drain` first, raising a failed write's error."""
        if self._closed:
            return
        try:
            if not cancel:
                self.drain()
        finally:
            self._closed = True
            self._pool.shutdown(wait=True, cancel_futures=True)

    def start(self) -> WritePipeline:
        """Make this the active pipeline (see :func:`active`) until :meth:`finish`."""
        if self._token is None:
            self._token = _ACTIVE.set(self)
        return self

    def finish(self, cancel: bool = False) -> None:
        """:meth:`close` (``cancel`` as there), then stop being the active pipeline. Safe to call
        again: after a normal finish raised a write's error, ``finish(cancel=True)`` in the
        caller's error path does nothing more and raises nothing."""
        try:
            self.close(cancel=cancel)
        finally:
            if self._token is not None:
                _ACTIVE.reset(self._token)
                self._token = None

    def __enter__(self) -> WritePipeline:
        return self.start()

    def __exit__(self, exc_type, exc, tb) -> None:
        self.finish(cancel=exc_type is not None)  # an error in the block wins over a write's

    # -- the workers' side ------------------------------------------------------------------
    def _run(self, fn, args, kwargs, where):
        if self._error is not None:  # an earlier write failed: the run is stopping
            return _SKIPPED
        name = where["node"] or getattr(fn, "__name__", "write")
        started = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        except FacewarpError as exc:
            self._record(exc.located(**where))
            raise
        except Exception as exc:
            error = RenderError(f"write failed: {type(exc).__name__}: {exc}", **where)
            error.__cause__ = exc
            self._record(error)
            raise error from exc
        finally:
            with self._lock:
                self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - started
                self.counts[name] = self.counts.get(name, 0) + 1

    def _record(self, error: FacewarpError) -> None:
        with self._lock:
            if self._error is None:
                self._error = error

    def _finished(self, future: Future, index: int) -> None:
        written = not future.cancelled() and future.exception() is None and future.result() is not _SKIPPED
        with self._lock:
            self._futures.discard(future)
            if written:  # a write that did not happen holds done_upto below it for good
                self._done.add(index)
            while self._done_upto in self._done:
                self._done.remove(self._done_upto)
                self._done_upto += 1
        self._slots.release()


__all__ = ["WritePipeline", "active"]
