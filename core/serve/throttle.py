"""Throttling for the scoring service: a token bucket per API key, and a global limit on
requests in flight that refuses (503 + Retry-After) instead of queueing without bound."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Mapping


class TokenBucket:
    """`rate_per_minute` tokens a minute, refilled continuously; holds at most a minute's
    worth, so an idle key may burst up to its rate and then keeps to it."""

    def __init__(self, rate_per_minute: float, clock=time.monotonic) -> None:
        self.rate_per_minute = rate_per_minute
        self.capacity = float(max(1, rate_per_minute))
        self._per_second = rate_per_minute / 60.0
        self._tokens = self.capacity
        self._clock = clock
        self._updated = clock()
        self._lock = threading.Lock()

    def take(self, n: int = 1) -> float:
        """0 when `n` tokens were taken; otherwise the seconds until they are available.

        A batch of n items costs n tokens, so batching does not multiply a key's rate. A
        batch larger than the bucket needs a full bucket and leaves it in debt (negative),
        so the key then waits as long as those n items take at its rate."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.capacity,
                               self._tokens + (now - self._updated) * self._per_second)
            self._updated = now
            needed = min(float(n), self.capacity)
            if self._tokens >= needed:
                self._tokens -= n
                return 0.0
            return (needed - self._tokens) / self._per_second


class RateLimiter:
    """One bucket per key name; a key whose rate changed gets a fresh bucket.

    With `workers` processes each holds 1/workers of a key's rate: connections are spread
    over the workers, so together they keep to the key's rate, never a multiple of it."""

    def __init__(self, clock=time.monotonic, workers: int = 1) -> None:
        self._buckets: dict[str, TokenBucket] = {}
        self._lock = threading.Lock()
        self._clock = clock
        self.workers = max(1, workers)

    def take(self, name: str, rate_per_minute: int, n: int = 1) -> float:
        """Take `n` tokens (a batch's items) from the key's bucket; 0 or seconds to wait."""
        with self._lock:
            bucket = self._buckets.get(name)
            share = rate_per_minute / self.workers
            if bucket is None or bucket.rate_per_minute != share:
                bucket = self._buckets[name] = TokenBucket(share, self._clock)
        return bucket.take(n)


def bursty_keys(rates: Mapping[str, int], workers: int) -> list[str]:
    """Names of the keys whose rate is below `workers`, sorted. Each worker's share of such
    a key is under one request a minute, yet a request needs a whole token, so each worker
    lets one through after a pause: together they let `workers` through at once."""
    return sorted(name for name, rate in rates.items() if workers > 1 and rate < workers)


def burst_warning(rates: Mapping[str, int], workers: int) -> str | None:
    """One line naming the keys `bursty_keys` finds, and what to do; None when none."""
    names = bursty_keys(rates, workers)
    if not names:
        return None
    listed = ", ".join(f"{name!r} ({rates[name]}/min)" for name in names)
    return (f"key(s) {listed} have a rate below the {workers} workers: each worker lets "
            f"one request through, so such a key can send {workers} at once, over its "
            f"rate; give it a rate of at least {workers} (`keys revoke` and `keys create "
            "--rate`) or run fewer workers")


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
