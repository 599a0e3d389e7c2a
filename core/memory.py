"""The one owner of memory that facewarp keeps between calls.

Loaded models (face models, networks, MediaPipe solutions) and kernel scratch buffers live in
caches registered here; :func:`free_memory` empties every one of them, so a host (Nuke, Blender,
a long-running farm worker) has a single call that gives the memory back. A graph
``Evaluator``'s result cache belongs to the evaluator (``Evaluator.clear()``).
"""

from __future__ import annotations

import gc
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

_lock = threading.Lock()
_owners: dict[str, Callable[[], None]] = {}


def register(name: str, clear: Callable[[], None]) -> None:
    """Register a cache under ``name``; ``clear()`` must drop everything it holds."""
    with _lock:
        _owners[name] = clear


def cache_names() -> list[str]:
    with _lock:
        return sorted(_owners)


def free_memory() -> list[str]:
    """Empty every registered cache; returns their names. Safe to call at any time: the next
    call that needs a model loads it again."""
    with _lock:
        owners = list(_owners.items())
    for _, clear in owners:
        clear()
    gc.collect()
    return [name for name, _ in owners]


class BoundedCache:
    """A small LRU of loaded objects (at most ``max_items``), registered under ``name``."""

    def __init__(self, name: str, max_items: int):
        self.name = name
        self.max_items = int(max_items)
        self._items: OrderedDict[Any, Any] = OrderedDict()
        self._lock = threading.Lock()
        register(name, self.clear)

    def get_or_load(self, key, load: Callable[[], Any]):
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        value = load()  # outside the lock: loading may take seconds
        with self._lock:
            self._items[key] = value
            while len(self._items) > self.max_items:
                self._items.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        return len(self._items)
