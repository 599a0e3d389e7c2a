"""kernels._dispatch.parallel_tasks: every task done exactly once whatever the split, errors
raised in the caller, and kernels still run in a forked child (which inherits the pool object
but none of its threads)."""

from __future__ import annotations

import multiprocessing
import threading

import numba
import numpy as np
import pytest

from facewarp.kernels import _dispatch
from facewarp.kernels.sampling import warp_bilinear


@pytest.fixture
def two_threads():
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("needs numba to allow 2 threads")
    before = numba.get_num_threads()
    numba.set_num_threads(2)
    yield
    numba.set_num_threads(before)


@pytest.mark.parametrize("n", [1, 2, 7, 8, 9, 100])
def test_every_task_exactly_once(two_threads, n):
    done, lock, threads = [], threading.Lock(), set()

    def task(t0, t1, tag):
        assert tag == "args passed"
        with lock:
            done.extend(range(t0, t1))
            threads.add(threading.get_ident())

    _dispatch.parallel_tasks(task, n, "args passed")
    assert sorted(done) == list(range(n))
    assert len(threads) <= 2


def test_a_failing_chunk_raises_in_the_caller(two_threads):
    def task(t0, t1):
        if t0 <= 5 < t1:
            raise ValueError("task 5 failed")

    with pytest.raises(ValueError, match="task 5 failed"):
        _dispatch.parallel_tasks(task, 40)


def _warp_in_child(args):
    src, field = args
    return warp_bilinear(src, field, device="cpu")


def test_a_forked_child_runs_threaded_kernels(two_threads):
    rng = np.random.default_rng(0)
    src = rng.random((600, 904, 3), dtype=np.float32)  # above SERIAL_BELOW_PIXELS: the threaded path
    field = rng.normal(0, 5, (600, 904, 2)).astype(np.float32)
    here = warp_bilinear(src, field, device="cpu")  # the pool exists in this process now
    with multiprocessing.get_context("fork").Pool(1) as pool:
        there = pool.apply_async(_warp_in_child, ((src, field),)).get(timeout=120)
    assert there.tobytes() == here.tobytes()
