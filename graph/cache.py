"""A byte-limited LRU cache of node results, keyed by node hash."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from facewarp.core.types import nbytes_of


class LRUCache:
    def __init__(self, max_bytes: int):
        self.max_bytes = int(max_bytes)
        self._items: OrderedDict[str, tuple[Any, int]] = OrderedDict()
        self.bytes = 0
        self.hits = 0
        self.misses = 0

    def get(self, key: str):
        item = self._items.get(key)
        if item is None:
            self.misses += 1
            return None
        self._items.move_to_end(key)
        self.hits += 1
        return item[0]

    def take(self, key: str):
        """``get`` and remove: the caller needs it once more, and no one after."""
        item = self._items.pop(key, None)
        if item is None:
            self.misses += 1
            return None
        self.bytes -= item[1]
        self.hits += 1
        return item[0]

    def put(self, key: str, value: Any, evict: bool = True) -> None:
        """Keep ``value``, evicting the least recently used entries to make room; with ``evict``
        False only when it fits as things are (nothing kept is dropped for it)."""
        size = nbytes_of(value)
        if key in self._items:
            self.bytes -= self._items.pop(key)[1]
        if size > self.max_bytes or (not evict and self.bytes + size > self.max_bytes):
            return  # larger than the whole cache: keeping it would only evict everything
        self._items[key] = (value, size)
        self.bytes += size
        while self.bytes > self.max_bytes:
            _, (_, dropped) = self._items.popitem(last=False)
            self.bytes -= dropped

    def clear(self) -> None:
        self._items.clear()
        self.bytes = 0

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: str) -> bool:
        return key in self._items
