"""Throttling for the scoring service: a token bucket per API key, and a global limit on
requests in flight that refuses (503 + Retry-After) instead of queueing without bound."""

from __future__ import annotations

import math
import threading
import time


class TokenBucket:
    """`rate_per_minute` tokens a minute, refilled continuously; holds at most a minute's
    worth, so an idle key may burst up to its rate and then keeps to it."""

    def __init__(self, rate_per_minute: int, clock=time.monotonic) -> None:
        self.rate_per_minute = rate_per_minute
        self.capacity = float(max(1, rate_per_minute))
        self._per_second = rate_per_minute / 60.0
        self._tokens = self.capacity
        self._clock = clock
        self._updated = clock()
        self._lock = threading.Lock()

    def take(self) -> float:
        """0 when a token was taken; otherwise the seconds until one is available."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.capacity,
                               self._tokens + (now - self._updated) * self._per_second)
            self._updated = now
            if self._tokens >= 1:
                self._tokens -= 1
                return 0.0
            return (1 - self._tokens) / self._per_second


class RateLimiter:
    """One bucket per key name; a key whose rate changed gets a fresh bucket."""

    def __init__(self, clock=time.monotonic) -> None:
        self._buckets: dict[str, TokenBucket] = {}
        self._lock = threading.Lock()
        self._clock = clock

    def take(self, name: str, rate_per_minute: int) -> float:
        with self._lock:
            bucket = self._buckets.get(name)
            if bucket is None or bucket.rate_per_minute != rate_per_minute:
                bucket = self._buckets[name] = TokenBucket(rate_per_minute, self._clock)
        return bucket.take()


def retry_after(seconds: float) -> str:
    """A Retry-After header value: whole seconds, at least 1."""
    return str(max(1, math.ceil(seconds)))


class ConcurrencyLimit:
    """At most `limit` requests in flight; the next one is refused, not queued."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_flight = 0
        self._lock = threading.Lock()

    def try_acquire(self) -> bool:
        with self._lock:
            if self.in_flight >= self.limit:
                return False
            self.in_flight += 1
            return True

    def release(self) -> None:
        with self._lock:
            self.in_flight -= 1
