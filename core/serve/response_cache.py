"""The scoring service's answer cache: identical requests to the same model are answered
from memory. Keys hold the model id, the endpoint and the normalised input, so an answer
can never be served for another model; the service also clears the cache whenever the
models it serves change (or their topic names or brand lists). Each clear starts a new
generation: a request computed on the snapshot before it passes the generation it started
in to `put`, which then drops its answer (a topic renamed meanwhile would otherwise stay
cached under the same model id with the old name).

Entries are bounded in number and in bytes (each `put` says about how many its value
holds): answers differ a hundredfold in size (a fingerprint ~1 KB, 200 neighbours ~270 KB
with their body), so a client asking for many large answers filled 20,000 entries with
about 5 GB."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any


class ResponseCache:
    """A thread-safe LRU of at most `max_entries` answers and `max_bytes` bytes (None: no
    byte bound)."""

    def __init__(self, max_entries: int = 10_000, max_bytes: int | None = None) -> None:
        self.max_entries, self.max_bytes = max_entries, max_bytes
        self._data: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()  # value, bytes
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        self.bytes = 0               # what the entries hold, as their `put` said
        self.generation = 0          # clears so far

    def get(self, key: Hashable) -> Any | None:
        with self._lock:
            entry = self._data.get(key)
            if entry is None:
                self.misses += 1
                return None
            self._data.move_to_end(key)
            self.hits += 1
            return entry[0]

    def put(self, key: Hashable, value: Any, generation: int | None = None,
            size: int = 0) -> None:
        """Keep `value` (about `size` bytes), unless the cache was cleared since
        `generation` (read before the request took its snapshot): then the value may be
        of the snapshot replaced. The least recently used entries make room."""
        if self.max_entries <= 0 or (self.max_bytes is not None and size > self.max_bytes):
            return
        with self._lock:
            if generation is not None and generation != self.generation:
                return
            old = self._data.pop(key, None)
            if old is not None:
                self.bytes -= old[1]
            self._data[key] = (value, size)
            self.bytes += size
            while len(self._data) > self.max_entries or (
                    self.max_bytes is not None and self.bytes > self.max_bytes):
                _, (_, dropped) = self._data.popitem(last=False)
                self.bytes -= dropped

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self.bytes = 0
            self.generation += 1

    def __len__(self) -> int:
        return len(self._data)
