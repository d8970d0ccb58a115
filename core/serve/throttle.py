"""Throttling for the scoring service: a token bucket per API key, and a global limit on
requests in flight that refuses (503 + Retry-After) instead of queueing without bound."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import math
import os
import sqlite3
import stat
import threading
import time
from pathlib import Path

from core.testpause import pause

log = logging.getLogger(__name__)


def refill_and_take(tokens: float, elapsed_s: float, rate_per_minute: float,
                    n: int, paid: int = 0) -> tuple[float, float]:
    """A bucket of `tokens`, `elapsed_s` after it was last read: the tokens it then holds
    and 0 when `n` were taken, or its tokens and the seconds until `n` are available.
    `paid`: tokens of those `n` taken before (the service takes one before it reads a
    body, the rest of a batch once it knows its size), so `n` costs `n` in all, a big
    batch still needs only what a full bucket held before its first token was taken, and
    a batch refused gives them back (a refusal costs nothing).

    It refills at `rate_per_minute` and holds at most a minute's worth (at least one), so
    an idle key may burst up to its rate and then keeps to it. A batch of n items costs n
    tokens, so batching does not multiply a key's rate; a batch larger than the bucket
    needs a full bucket and leaves it in debt (negative), so the key then waits as long
    as those n items take at its rate. One function for the in-process and the shared
    bucket, so a key is throttled alike whatever the worker count."""
    capacity = float(max(1, rate_per_minute))
    per_second = rate_per_minute / 60.0
    tokens = min(capacity, tokens + max(0.0, elapsed_s) * per_second)
    needed = min(float(n), capacity) - paid
    if tokens >= needed:
        return tokens - (n - paid), 0.0
    return min(capacity, tokens + paid), (needed - tokens) / per_second


class TokenBucket:
    """`rate_per_minute` tokens a minute, refilled continuously (`refill_and_take`)."""

    def __init__(self, rate_per_minute: float, clock=time.monotonic) -> None:
        self.rate_per_minute = rate_per_minute
        self._tokens = float(max(1, rate_per_minute))
        self._clock = clock
        self._updated = clock()
        self._lock = threading.Lock()

    def take(self, n: int = 1, paid: int = 0) -> float:
        """0 when `n` tokens were taken (`paid` of them before); otherwise the seconds
        until they are available."""
        with self._lock:
            now = self._clock()
            self._tokens, wait = refill_and_take(self._tokens, now - self._updated,
                                                 self.rate_per_minute, n, paid)
            self._updated = now
            return wait


class RateLimiter:
    """One bucket per key name, in this process; a key whose rate changed gets a fresh
    bucket. A service of one worker process uses it: a take costs about a microsecond."""

    def __init__(self, clock=time.monotonic) -> None:
        self._buckets: dict[str, TokenBucket] = {}
        self._lock = threading.Lock()
        self._clock = clock

    def take(self, name: str, rate_per_minute: int, n: int = 1, paid: int = 0) -> float:
        """Take `n` tokens (a batch's items; `paid` of them taken before) from the key's
        bucket; 0 or seconds to wait."""
        with self._lock:
            bucket = self._buckets.get(name)
            if bucket is None or bucket.rate_per_minute != rate_per_minute:
                bucket = self._buckets[name] = TokenBucket(rate_per_minute, self._clock)
        return bucket.take(n, paid)


class RatesUnavailable(Exception):
    """The shared buckets' file cannot be read or written (a full disk, a removed folder)."""


class SharedRateLimiter:
    """The keys' buckets in one small SQLite file that every worker of a service reads and
    writes, one transaction per take, so a key gets exactly its rate whichever worker
    answers (each worker held 1/N of it: a key reaching one worker, or a rate below N,
    got less or more than its rate).

    Why SQLite: the standard library, a table of variable-length key names, and a
    transaction a killed worker left half-done is rolled back by the next one (no torn
    bucket); `multiprocessing.shared_memory` would need a table and a lock of its own.
    Takes wait for each other on `flock` of a lock file beside it: the kernel wakes the
    next waiter when the holder lets go, and lets go itself when the holder dies (a
    worker killed mid-take leaves no stuck lock). SQLite's own busy wait sleeps 1 ms and
    more between tries, and two workers taking without pause starved one of them past a
    0.5 s timeout. In WAL mode with `synchronous=OFF` (a crashed process loses nothing;
    a crashed machine could, and the file lives only as long as the service) a take
    costs ~17 µs p50, ~24 µs p95 against ~1 µs in memory (`bench/serve_rates.py`), so a
    service of one worker keeps `RateLimiter`. The clock is `time.monotonic`, one clock
    for every process of a machine."""

    CHECK_EVERY_S = 1.0   # how often a take checks that its files are still there

    def __init__(self, path: str | Path, clock=time.monotonic) -> None:
        self.path = str(path)
        self._clock = clock
        self._lock = threading.Lock()   # one connection per process, one take at a time
        self._con: sqlite3.Connection | None = None
        self._guard: int | None = None  # the lock file's descriptor
        self._inode = 0                 # the buckets' file this process has open
        self._check_at = 0.0            # `_removed` costs ~3 µs: once a second, not a take

    @staticmethod
    def create(path: str | Path) -> None:
        """Make the file, in WAL mode, and its table (by `serve`, before the workers
        start; a worker makes them again should the file have gone)."""
        _open(str(path)).close()

    def take(self, name: str, rate_per_minute: int, n: int = 1, paid: int = 0) -> float:
        """As `RateLimiter.take`, against the bucket every worker shares."""
        with self._lock:
            try:
                if self._con is not None and self._removed():  # (checked once a second)
                    self._close()
                    log.warning("scoring service: the shared rate buckets in %s were "
                                "removed while the service ran; opened again (if made "
                                "anew, every key's bucket starts full)", self.path)
                if self._con is None:
                    self._connect()
                assert self._guard is not None and self._con is not None
                fcntl.flock(self._guard, fcntl.LOCK_EX)
                try:
                    return self._take(self._con, name, rate_per_minute, n, paid)
                finally:
                    fcntl.flock(self._guard, fcntl.LOCK_UN)
            except (sqlite3.Error, OSError) as err:
                self._close()            # opened again at the next take
                raise RatesUnavailable(f"the shared rate buckets in {self.path} cannot "
                                       f"be read ({err})") from err

    def _connect(self) -> None:
        """Open the lock file and the buckets' file, making their folder again should it
        be gone (a cleaner of /tmp removed it while the service ran): every request of a
        worker that opened them after that was a 503 until the service restarted."""
        folder = os.path.dirname(self.path) or "."
        if _private_folder(folder):
            log.warning("scoring service: the folder of the shared rate buckets, %s, was "
                        "removed while the service ran; made it again (every key's bucket "
                        "starts full)", folder)
        self._guard = os.open(self.path + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        self._con = _open(self.path)
        self._inode = os.stat(self.path).st_ino
        self._check_at = time.monotonic() + self.CHECK_EVERY_S

    def _removed(self) -> bool:
        """Whether the lock file or the buckets' file this process has open was removed
        (or replaced): a worker then kept taking from its own unlinked copy while one
        that opened them later took from another, so the workers no longer shared."""
        now = time.monotonic()
        if now < self._check_at:
            return False
        self._check_at = now + self.CHECK_EVERY_S
        assert self._guard is not None
        try:
            return (os.fstat(self._guard).st_nlink == 0
                    or os.stat(self.path).st_ino != self._inode)
        except FileNotFoundError:
            return True

    def _take(self, con: sqlite3.Connection, name: str, rate_per_minute: int,
              n: int, paid: int) -> float:
        con.execute("BEGIN IMMEDIATE")
        try:
            pause("rate_take")
            now = self._clock()
            row = con.execute("SELECT rate, tokens, updated FROM buckets WHERE name = ?",
                              (name,)).fetchone()
            if row is None or row[0] != rate_per_minute:   # new key, or a new rate
                row = (rate_per_minute, float(max(1, rate_per_minute)), now)
            tokens, wait = refill_and_take(row[1], now - row[2], rate_per_minute, n, paid)
            if wait == 0.0 or paid:  # a refusal leaves the bucket as it was (the same
                # refill), but for the tokens it gives back
                con.execute("INSERT OR REPLACE INTO buckets VALUES (?, ?, ?, ?)",
                            (name, rate_per_minute, tokens, now))
            con.execute("COMMIT")
        except BaseException:
            if con.in_transaction:
                con.execute("ROLLBACK")
            raise
        return wait

    def _close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None
        if self._guard is not None:
            os.close(self._guard)
            self._guard = None


def _private_folder(folder: str) -> bool:
    """Whether `folder` had to be made again (readable by this user alone, as `tempfile`
    made it). Refused (OSError) when it is not a folder of this user's, such as a link
    or a folder someone else put in a shared /tmp once it was removed: its buckets could
    be written by them."""
    made = False
    if not os.path.lexists(folder):
        with contextlib.suppress(FileExistsError):   # another worker made it first
            os.mkdir(folder, 0o700)
            made = True
    found = os.lstat(folder)
    if not stat.S_ISDIR(found.st_mode) or found.st_uid != os.getuid():
        raise OSError(f"{folder} is not a folder of this user's")
    return made


def _open(path: str) -> sqlite3.Connection:
    """A connection in autocommit mode (each take is one explicit transaction) to the
    buckets' file, made when missing; WAL, whose commits are a write to its log. Takes
    never find it busy (they hold the lock file), so SQLite's wait is only a backstop."""
    con = sqlite3.connect(path, timeout=5.0, isolation_level=None, check_same_thread=False)
    try:
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=OFF")
        con.execute("CREATE TABLE IF NOT EXISTS buckets (name TEXT PRIMARY KEY, "
                    "rate REAL NOT NULL, tokens REAL NOT NULL, updated REAL NOT NULL)")
    except BaseException:
        con.close()
        raise
    return con


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
