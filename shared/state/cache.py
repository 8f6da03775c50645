"""A small thread-safe LRU cache with a time-to-live, for face embeddings."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any


class TTLCache:
    """At most `maxsize` entries, each kept `ttl_s` seconds; maxsize 0 disables caching."""

    def __init__(self, maxsize: int, ttl_s: float, clock: Callable[[], float] = time.monotonic):
        self.maxsize = maxsize
        self.ttl_s = ttl_s
        self._clock = clock
        self._items: OrderedDict[Hashable, tuple[float, object]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable) -> Any:
        """The value for `key`, or None when absent or expired."""
        with self._lock:
            item = self._items.get(key)
            if item is None or item[0] < self._clock():
                if item is not None:
                    del self._items[key]
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return item[1]

    def put(self, key: Hashable, value: object) -> None:
        if self.maxsize <= 0:
            return
        with self._lock:
            self._items[key] = (self._clock() + self.ttl_s, value)
            self._items.move_to_end(key)
            while len(self._items) > self.maxsize:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        return len(self._items)

    def stats(self) -> dict[str, Any]:
        return {"size": len(self._items), "maxsize": self.maxsize, "ttl_s": self.ttl_s, "hits": self.hits, "misses": self.misses}
