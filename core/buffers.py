"""Large per-frame arrays from blocks that are reused once no array uses them.

A fresh 4K RGB float32 array costs the kernel 15-50 ms before the first value is written: its
~100 MB of pages are mapped and zeroed on first touch, and freed again when the array dies (glibc
maps anything over 32 MB afresh). A render allocates several such arrays per frame (the plate, the
warped picture, the STMap, the filled mouth, the half-float copy for writing): a 10-frame 4K task
spent 3.9 of its 21.8 CPU seconds in the kernel, mostly on such pages (2.4 s with this module).
:func:`empty` hands out views of blocks that a previous frame's arrays have let go of; a block is
free again when no array (or view of one) refers to it any more, which CPython's reference count
tells exactly.

    out = buffers.empty((h, w, 3), np.float32)   # like np.empty: the contents are undefined
    out = buffers.copy(image)                      # like np.array(image, copy=True)

Arrays under ``MIN_BYTES`` come from ``np.empty`` (glibc reuses that memory itself). Idle blocks
are kept up to ``IDLE_MAX_BYTES``, oldest dropped first; ``graph.render`` frees them when it ends,
and so does :func:`facewarp.core.memory.free_memory` (a host's one call to give memory back).
Only use these where every element is written before it is read, and never hand a block's memory
to native code that keeps it past the call without a Python reference (no facewarp code does).
"""

from __future__ import annotations

import os
import sys
import threading

import numpy as np

from facewarp.core import memory

MIN_BYTES = 8 << 20  # smaller arrays are not pooled
IDLE_MAX_BYTES = 512 << 20  # idle blocks kept for reuse, at most (a 4K frame's pooled arrays are ~0.5 GB)

_lock = threading.Lock()
_blocks: list[np.ndarray] = []  # uint8 blocks, each the owner of its memory, lent or idle; oldest first


def _new_lock_in_child() -> None:
    # a fork while another thread held the lock would leave the child's copy held for ever
    global _lock
    _lock = threading.Lock()


os.register_at_fork(after_in_child=_new_lock_in_child)


def _idle(i: int) -> bool:
    # references: _blocks, getrefcount's argument; every array carved from a block holds one more
    return sys.getrefcount(_blocks[i]) <= 2


def empty(shape, dtype=np.float32) -> np.ndarray:
    """An uninitialised C-contiguous array, like ``np.empty(shape, dtype)``; large ones reuse a
    block no array refers to any more."""
    dtype = np.dtype(dtype)
    shape = (int(shape),) if np.isscalar(shape) else tuple(int(s) for s in shape)
    nbytes = dtype.itemsize * int(np.prod(shape, dtype=np.int64))
    if nbytes < MIN_BYTES or dtype.hasobject:
        return np.empty(shape, dtype)
    with _lock:  # the view is made under the lock: from then on the block counts as lent
        for i in range(len(_blocks)):
            if _blocks[i].nbytes == nbytes and _idle(i):
                block = _blocks.pop(i)
                _blocks.append(block)  # most recently used last
                return block.view(dtype).reshape(shape)
        _trim(IDLE_MAX_BYTES - nbytes)
        block = np.empty(nbytes, np.uint8)
        _blocks.append(block)
        return block.view(dtype).reshape(shape)


def copy(a) -> np.ndarray:
    """A C-contiguous copy of ``a`` (same dtype and shape), like ``np.array(a, copy=True)``."""
    a = np.asarray(a)
    out = empty(a.shape, a.dtype)
    np.copyto(out, a)
    return out


def _trim(keep: int) -> int:
    """Drop the oldest idle blocks until at most ``keep`` bytes are idle (caller holds the lock);
    the bytes dropped."""
    idle = [i for i in range(len(_blocks)) if _idle(i)]
    total = sum(_blocks[i].nbytes for i in idle)
    drop = []
    for i in idle:  # oldest first
        if total <= max(keep, 0):
            break
        total -= _blocks[i].nbytes
        drop.append(i)
    freed = sum(_blocks[i].nbytes for i in drop)
    for i in reversed(drop):
        del _blocks[i]
    return freed


def release_idle() -> int:
    """Free every idle block now (e.g. after a render, in a long-lived host); the bytes freed."""
    with _lock:
        return _trim(0)


memory.register("pooled frame buffers (idle)", release_idle)


def stats() -> dict:
    """Blocks and bytes lent and idle."""
    with _lock:
        idle = [_idle(i) for i in range(len(_blocks))]
        sizes = [b.nbytes for b in _blocks]
    return {"blocks": len(sizes), "bytes": sum(sizes), "idle_blocks": sum(idle),
            "idle_bytes": sum(s for s, i in zip(sizes, idle) if i)}


__all__ = ["IDLE_MAX_BYTES", "MIN_BYTES", "copy", "empty", "release_idle", "stats"]
