"""core.memory: one call frees every cache the libraries keep (models, MediaPipe, ResWarp scratch)."""

from __future__ import annotations

import threading

import numpy as np

from facewarp.core import memory


def test_bounded_cache_keeps_the_most_recent_and_clears():
    cache = memory.BoundedCache("test cache (bounded)", max_items=2)
    loads = []

    def load(k):
        return lambda: loads.append(k) or f"value {k}"

    assert cache.get_or_load("a", load("a")) == "value a"
    cache.get_or_load("b", load("b"))
    cache.get_or_load("a", load("a"))  # hit: "a" becomes the most recent
    cache.get_or_load("c", load("c"))  # evicts "b"
    cache.get_or_load("a", load("a"))
    assert loads == ["a", "b", "c"] and len(cache) == 2
    cache.get_or_load("b", load("b"))
    assert loads == ["a", "b", "c", "b"]
    assert "test cache (bounded)" in memory.cache_names()
    memory.free_memory()
    assert len(cache) == 0


def test_free_memory_drops_face_models_and_every_threads_reswarp_scratch():
    from facewarp.face import models
    from facewarp.kernels import reswarp

    first = models.load_model("default")
    assert models.load_model("default") is first  # cached
    shapes = [(64, 48, 3), (32, 24, 3)]

    def work(shape):
        reswarp._scratch_buffer(shape)

    threads = [threading.Thread(target=work, args=(s,)) for s in shapes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    reswarp._scratch_buffer((16, 16, 3))  # this thread too
    held = sum(b.nbytes for bufs in reswarp._scratch_all for b in bufs.values())
    assert held >= sum(int(np.prod(s)) * 4 for s in shapes + [(16, 16, 3)])

    names = memory.free_memory()
    assert {"face models", "ResWarp scratch buffers"} <= set(names)
    assert sum(len(bufs) for bufs in reswarp._scratch_all) == 0
    again = models.load_model("default")
    assert again is not first  # read again after the free
    np.testing.assert_array_equal(again.v_template, first.v_template)


def test_network_and_mediapipe_caches_are_registered():
    import facewarp.face.tracking  # noqa: F401
    import facewarp.networks.inference  # noqa: F401

    assert {"network models", "MediaPipe solutions"} <= set(memory.cache_names())
