"""The scoring service's answer cache: identical requests to the same model are answered
from memory. Keys hold the model id, the endpoint and the normalised input, so an answer
can never be served for another model; the service also clears the cache whenever the
models it serves change (or their topic names or brand lists). Each clear starts a new
generation: a request computed on the snapshot before it passes the generation it started
in to `put`, which then drops its answer (a topic renamed meanwhile would otherwise stay
cached under the same model id with the old name)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any


class ResponseCache:
    """A thread-safe LRU of at most `max_entries` answers."""

    def __init__(self, max_entries: int = 10_000) -> None:
        self.max_entries = max_entries
        self._data: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        self.generation = 0          # clears so far

    def get(self, key: Hashable) -> Any | None:
        with self._lock:
            value = self._data.get(key)
            if value is None:
                self.misses += 1
                return None
            self._data.move_to_end(key)
            self.hits += 1
            return value

    def put(self, key: Hashable, value: Any, generation: int | None = None) -> None:
        """Keep `value`, unless the cache was cleared since `generation` (read before the
        request took its snapshot): then the value may be of the snapshot replaced."""
        if self.max_entries <= 0:
            return
        with self._lock:
            if generation is not None and generation != self.generation:
                return
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.max_entries:
                self._data.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self.generation += 1

    def __len__(self) -> int:
        return len(self._data)
