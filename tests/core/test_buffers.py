"""core/buffers.py: a block is handed out again only once no array or view uses it; sizes,
dtypes and contents behave as np.empty / np.array(copy=True); idle blocks are bounded and freed."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from facewarp.core import buffers

BIG = (1024, 1024, 3)  # 12 MB of float32: pooled


@pytest.fixture(autouse=True)
def empty_pool():
    buffers.release_idle()
    yield
    buffers.release_idle()


def _owner(a):
    return a.base if a.base is not None else a


def test_large_arrays_are_reused_only_when_nothing_refers_to_them():
    a = buffers.empty(BIG, np.float32)
    assert a.shape == BIG and a.dtype == np.float32 and a.flags.c_contiguous and a.flags.writeable
    block = _owner(a)
    view = a[100:200, ::2]
    del a
    b = buffers.empty(BIG, np.float32)
    assert _owner(b) is not block  # the view still holds the first block
    b_block = _owner(b)
    del view, block
    c = buffers.empty(BIG, np.float32)
    d = buffers.empty((BIG[0] * BIG[1] * BIG[2],), np.int32)  # same bytes, another dtype and shape
    assert _owner(c) is not b_block  # b is alive
    assert d.shape == (BIG[0] * BIG[1] * BIG[2],) and d.dtype == np.int32
    assert _owner(d) is not _owner(c)
    assert buffers.stats()["idle_blocks"] == 0


def test_a_reused_block_is_the_freed_one_and_other_sizes_get_their_own():
    a = buffers.empty(BIG)
    addr = a.__array_interface__["data"][0]
    del a
    b = buffers.empty(BIG)
    assert b.__array_interface__["data"][0] == addr
    c = buffers.empty((BIG[0], BIG[1], 4))
    assert c.__array_interface__["data"][0] != addr


def test_small_and_object_arrays_are_plain_numpy():
    s = buffers.empty((10, 10), np.float64)
    assert s.base is None and s.flags.owndata
    o = buffers.empty((2_000_000,), object)
    assert o.dtype == object and o.base is None
    assert buffers.stats()["blocks"] == 0


def test_copy_equals_the_source_bit_for_bit():
    rng = np.random.default_rng(1)
    src = rng.standard_normal(BIG).astype(np.float32)
    src[0, 0] = (np.nan, -0.0, np.inf)
    first = buffers.copy(src)
    del first  # its block comes back, holding the same values: a copy must still write all of them
    other = rng.standard_normal(BIG).astype(np.float32)
    got = buffers.copy(other)
    assert got.tobytes() == other.tobytes()
    strided = buffers.copy(src[:, ::-1])  # a non-contiguous source
    assert strided.flags.c_contiguous and strided.tobytes() == np.ascontiguousarray(src[:, ::-1]).tobytes()


def test_idle_blocks_are_bounded_oldest_first_and_released(monkeypatch):
    block = BIG[0] * BIG[1] * BIG[2] * 4
    monkeypatch.setattr(buffers, "IDLE_MAX_BYTES", 3 * block)
    arrays = [buffers.empty(BIG) for _ in range(5)]
    addrs = [a.__array_interface__["data"][0] for a in arrays]
    del arrays
    assert buffers.stats()["idle_blocks"] == 5  # trimmed when a block is made, not on free
    other = buffers.empty((1024, 1024, 2))  # another size (8 MB): room is made for it
    assert buffers.stats()["idle_bytes"] <= 3 * block - other.nbytes
    kept = [b.__array_interface__["data"][0] for b in buffers._blocks if b.nbytes == block]
    assert kept == addrs[3:]  # the oldest idle blocks went first
    assert buffers.release_idle() == 2 * block
    assert buffers.stats() == {"blocks": 1, "bytes": other.nbytes, "idle_blocks": 0, "idle_bytes": 0}


def test_threads_never_get_the_same_block_at_once():
    seen, lock, errors = [], threading.Lock(), []

    def work(k):
        for i in range(30):
            a = buffers.empty(BIG)
            a.fill(k * 1000 + i)
            with lock:
                seen.append(a.__array_interface__["data"][0])
            if not (a == k * 1000 + i).all():  # another thread wrote into it meanwhile
                errors.append((k, i))
            del a

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    size = BIG[0] * BIG[1] * BIG[2] * 4
    assert sum(b.nbytes == size for b in buffers._blocks) <= 4  # reused: one block per thread at a time


def test_free_memory_releases_idle_blocks_and_keeps_lent_ones():
    from facewarp.core import memory

    kept = buffers.empty(BIG)
    gone = buffers.empty(BIG)
    del gone
    assert buffers.stats()["idle_blocks"] == 1
    assert "pooled frame buffers (idle)" in memory.free_memory()
    assert buffers.stats() == {"blocks": 1, "bytes": kept.nbytes, "idle_blocks": 0, "idle_bytes": 0}


def test_a_fork_while_another_thread_holds_the_pool_lock_leaves_the_child_usable():
    import os
    import sys

    if not hasattr(os, "fork") or not hasattr(os, "register_at_fork"):
        pytest.skip("no fork on this platform")
    with buffers._lock:  # as if another thread were inside empty() at the fork
        pid = os.fork()
        if pid == 0:  # the child: must be able to allocate at once
            import signal

            signal.alarm(20)  # a child stuck on the lock dies of SIGALRM instead of hanging the test
            try:
                a = buffers.empty(BIG)
                a.fill(1)
                os._exit(0)
            except BaseException:
                os._exit(1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert sys.modules["facewarp.core.buffers"] is buffers
