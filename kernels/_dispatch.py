"""Device dispatch shared by the kernels.

Every primitive exists twice with the same signature: a CUDA source (``<name>.cu``) loaded
with CuPy's ``RawModule`` and a CPU twin (numba / numpy / OpenCV). ``use_cuda(device)``
decides: ``"cuda"`` demands CuPy and a GPU (error otherwise), ``"auto"`` takes them when
present, ``"cpu"`` never does. Arrays handed back to callers are always numpy arrays on
the host (the graph's port types hold numpy arrays).
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from numba import njit

KERNEL_DIR = Path(__file__).resolve().parent

# numba fastmath, chosen carefully: allow FMA contraction / reciprocal / no-signed-zero,
# but keep NaN/Inf semantics (``nnan``/``ninf`` would let LLVM drop the checks that
# border modes rely on).
FASTMATH = {"contract", "arcp", "nsz", "afn"}

BORDER_CODES = {"clamp": 0, "zero": 1, "reflect": 2}


def border_code(border: str) -> int:
    try:
        return BORDER_CODES[border]
    except KeyError:
        raise ValueError(f"border must be one of {tuple(BORDER_CODES)}, got {border!r}") from None


@functools.lru_cache(maxsize=1)
def cupy_available() -> bool:
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


def use_cuda(device: str = "auto") -> bool:
    if device == "cpu":
        return False
    if device == "cuda":
        if not cupy_available():
            raise RuntimeError("device 'cuda' asked for, but CuPy or a CUDA GPU is not available")
        return True
    if device != "auto":
        raise ValueError(f"device must be auto|cpu|cuda, got {device!r}")
    return cupy_available()


@functools.cache
def load_module(name: str):
    """CuPy RawModule compiled from ``kernels/<name>.cu`` (cached per process)."""
    import cupy

    source = (KERNEL_DIR / f"{name}.cu").read_text()
    return cupy.RawModule(code=source, options=("--std=c++17", f"-I{KERNEL_DIR}"))


def cuda_function(module: str, kernel: str):
    return load_module(module).get_function(kernel)


def grid_1d(n: int, block: int = 256) -> tuple[tuple[int], tuple[int]]:
    return ((max(n, 1) + block - 1) // block,), (block,)


ROWS_PER_THREAD = 8  # FW_ROWS_PER_THREAD in raster_common.cu

# The numba row kernels split an image into tasks of ROWS_PER_TASK rows (``parallel_row_tasks``)
# and allocate their work rows once per chunk of tasks, not per row: per-row ``np.empty`` cost
# ~15 % of the 4K ResWarp pass and ~20 % of its 1080p level.
ROWS_PER_TASK = 8


@njit(inline="always", cache=True)
def task_rows(t, n):
    """The rows of task ``t``: ``range(t * ROWS_PER_TASK, min(n, (t + 1) * ROWS_PER_TASK))``."""
    return range(t * ROWS_PER_TASK, min(n, (t + 1) * ROWS_PER_TASK))


# Below this many pixels (512^2, ~1 ms of work) a kernel runs on the calling thread only.
# Waking numba's workers costs ~1 us on an idle machine, but on a loaded one a parallel
# region waits for a descheduled worker (measured 10-20 ms per call). The earlier 1 << 20
# ran the 960 x 540 pyramid level serially at half speed (4 ms instead of 2 ms per pass).
SERIAL_BELOW_PIXELS = 1 << 18


@contextlib.contextmanager
def cpu_threads(pixels: int):
    """Run numba kernels inside with one thread for small images, all threads otherwise."""
    import numba

    if pixels >= SERIAL_BELOW_PIXELS:
        yield
        return
    before = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(before)


CHUNKS_PER_THREAD = 4  # tasks are handed out in this many chunks per thread, first come first served

_pool_lock = threading.Lock()
_pool: tuple[int, ThreadPoolExecutor] | None = None  # (workers, pool)


def _kernel_pool(workers: int) -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None or _pool[0] < workers:
            _pool = (workers, ThreadPoolExecutor(workers, thread_name_prefix="facewarp-kernel"))
        return _pool[1]


def _forget_pool_in_child() -> None:
    """A forked child has the parent's pool object but none of its threads (work submitted to it
    would never run) and maybe a lock held by a parent thread: start afresh."""
    global _pool_lock, _pool
    _pool_lock = threading.Lock()
    _pool = None


os.register_at_fork(after_in_child=_forget_pool_in_child)


def parallel_row_tasks(task_fn, n_rows: int, *args) -> None:
    """:func:`parallel_tasks` over the ``ROWS_PER_TASK``-row tasks covering ``n_rows`` rows (counted
    here in Python: a jitted counter called from Python was loaded from numba's cache, ~0.1 s of
    every process's first frame)."""
    parallel_tasks(task_fn, -(-int(n_rows) // ROWS_PER_TASK), *args)


def parallel_tasks(task_fn, n_tasks: int, *args) -> None:
    """``task_fn(t0, t1, *args)`` (a ``nogil`` numba function doing tasks ``[t0, t1)``) over
    ``[0, n_tasks)`` on ``numba.get_num_threads()`` threads: the calling thread and a shared
    pool, chunks handed out first come first served, so a thread slowed by another process
    on its core does less of the work (numba's prange splits statically: one busy core held
    back the whole kernel). Not prange for a second reason: numba compiles a prange body as
    a separate function, and every function it calls twice; a kernel with rows in a serial
    function compiles in about half the time. The tasks write disjoint rows: the result does
    not depend on the split."""
    import numba

    threads = min(numba.get_num_threads(), n_tasks)
    if threads <= 1:
        if n_tasks > 0:
            task_fn(0, n_tasks, *args)
        return
    chunks = min(n_tasks, threads * CHUNKS_PER_THREAD)
    bounds = [n_tasks * k // chunks for k in range(chunks + 1)]
    counter = itertools.count()

    def work():
        while (k := next(counter)) < chunks:  # next() on a count is atomic under the GIL
            task_fn(bounds[k], bounds[k + 1], *args)

    futures = [_kernel_pool(threads - 1).submit(work) for _ in range(threads - 1)]
    try:
        work()
    finally:
        for f in futures:
            if not f.cancel():  # one not started yet has nothing left to do: no wait for a busy pool
                f.result()
