"""The scoring service's request log and feedback, written without making requests wait.

DuckDB lets one process write at a time, and a promotion or an import may hold the store
for seconds. So a request never writes: it puts its log entry (and any feedback) on a
bounded in-memory queue and returns. A background thread takes what is queued about once a
second and appends it in one short transaction; when the store is busy it keeps the batch
and tries again on the next round. When the queue is full an entry is dropped and counted
(`dropped`, shown in /metrics) rather than blocking a request.

The log is kept for `keep_days` (30) and at most `keep_rows` rows (5,000,000): the same
background thread deletes older rows at most every `prune_every_s` (10 minutes) — never
on a request's path — in transactions of its own of at most `prune_chunk` (20,000) rows,
so it never holds the store's write lock for long, however much there is to delete
(after a long stop, say): others get the store between two of them, and a busy store
or a round's `prune_chunks` limit leaves the rest for the next round.

The read side (`traffic`) is what the A/B page shows: requests, latency and errors per
variant and model. A batch that both variants answered is logged as a row per variant
(its items and cache hits split by variant, one request id and time); rows stored before
that was so hold one `mixed` row, which is still read.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

import duckdb
import pandas as pd

from core.data import audit, auth, store
from core.errors import StoreBusyError
from core.serve import review

log = logging.getLogger(__name__)

KEEP_DAYS = 30.0
KEEP_ROWS = 5_000_000
PRUNE_CHUNK = 20_000      # rows per pruning transaction: tens of milliseconds of lock
COLUMNS = ("logged_at", "request_id", "endpoint", "status", "model_id", "variant",
           "latency_ms", "key_name", "items", "cache_hits")


@dataclass(frozen=True)
class Entry:
    """One answered request."""

    request_id: str
    endpoint: str
    status: int
    latency_ms: float
    model_id: str | None = None
    variant: str | None = None
    key_name: str | None = None
    items: int = 1
    cache_hits: int = 0
    logged_at: datetime = field(default_factory=audit.now)


@dataclass(frozen=True)
class Feedback:
    """An account manager's verdict sent through the service, for `neighbor_feedback`."""

    model_id: str
    campaign_id: str
    neighbor_id: str
    useful: bool
    key_name: str
    role: str
    created_at: datetime = field(default_factory=audit.now)


class StoreWriter:
    """Bounded queue + background flusher; `put` never blocks and never touches the store."""

    def __init__(self, max_queue: int = 20_000, interval_s: float = 1.0,
                 wait_s: float = 0.5, keep_days: float = KEEP_DAYS,
                 keep_rows: int = KEEP_ROWS, prune_every_s: float = 600.0,
                 prune_chunk: int = PRUNE_CHUNK, prune_chunks: int = 50) -> None:
        self._queue: queue.Queue[Entry | Feedback] = queue.Queue(maxsize=max_queue)
        self._pending: list[Entry | Feedback] = []  # taken off the queue, not yet written
        self._max_pending = max_queue
        self.interval_s, self.wait_s = interval_s, wait_s
        self.dropped = 0
        self.written = 0
        self.pruned = 0                             # old rows deleted (retention)
        self.retention = Retention(keep_days, keep_rows)
        self.prune_every_s = prune_every_s
        self.prune_chunk, self.prune_chunks = prune_chunk, prune_chunks
        self._pruned_at = float("-inf")             # prune on the first round
        self.busy_rounds = 0
        self._lock = threading.Lock()               # one flush at a time
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- request side ---------------------------------------------------------------------
    def put(self, item: Entry | Feedback) -> bool:
        """Queue an item; False (and counted as dropped) when the queue is full."""
        try:
            self._queue.put_nowait(item)
            return True
        except queue.Full:
            self.dropped += 1
            return False

    @property
    def backlog(self) -> int:
        return self._queue.qsize() + len(self._pending)

    # -- background side ------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="topiclab-request-log",
                                            daemon=True)
            self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the thread and write what is left (waiting at most `timeout_s` for the store)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None
        self.flush(wait_s=timeout_s, prune=False)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.flush()

    def flush(self, wait_s: float | None = None, prune: bool = True) -> int:
        """Write everything queued in one transaction, then prune when it is time (see
        the module doc); returns rows written (0 if busy)."""
        with self._lock:
            while True:
                try:
                    self._pending.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            if len(self._pending) > self._max_pending:  # store busy for very long: keep newest
                excess = len(self._pending) - self._max_pending
                self.dropped += excess
                del self._pending[:excess]
            written = self._write_pending(wait_s)
            if prune and time.monotonic() - self._pruned_at >= self.prune_every_s:
                self._prune(self.wait_s if wait_s is None else wait_s)
            return written

    def _write_pending(self, wait_s: float | None) -> int:
        if not self._pending:
            return 0
        batch = list(self._pending)
        try:
            _write(batch, self.wait_s if wait_s is None else wait_s)
        except StoreBusyError:
            self.busy_rounds += 1
            return 0
        except Exception:  # a broken store must not stop the service; say so and go on
            log.exception("request log: %d entries could not be written", len(batch))
            self.dropped += len(batch)
            self._pending.clear()
            return 0
        self._pending.clear()
        self.written += len(batch)
        return len(batch)

    def _prune(self, wait_s: float) -> None:
        """Delete what retention no longer keeps, `prune_chunk` rows per transaction; done
        for this period once a chunk comes back short (busy or many chunks: next round)."""
        for _ in range(self.prune_chunks):
            try:
                with store.transaction(wait_s=wait_s) as con:
                    deleted = self.retention.prune(con, self.prune_chunk)
            except StoreBusyError:
                return
            except Exception:
                log.exception("request log: pruning failed")
                return
            self.pruned += deleted
            if deleted < self.prune_chunk:
                self._pruned_at = time.monotonic()
                return


@dataclass(frozen=True)
class Retention:
    """How much of the request log is kept: rows younger than `keep_days`, and of those
    the newest `keep_rows` (0 = no row limit)."""

    keep_days: float = KEEP_DAYS
    keep_rows: int = KEEP_ROWS

    def prune(self, con: duckdb.DuckDBPyConnection, limit: int = PRUNE_CHUNK) -> int:
        """Delete at most `limit` rows, the too old first, then the oldest beyond the row
        cap, on an open transaction; rows deleted (fewer than `limit`: nothing is left)."""
        deleted = con.execute(
            "DELETE FROM request_log WHERE rowid IN (SELECT rowid FROM request_log "
            "WHERE logged_at < ? LIMIT ?)",
            [audit.now() - timedelta(days=self.keep_days), limit]).fetchone()[0]
        if self.keep_rows > 0 and deleted < limit:
            excess = con.execute("SELECT count(*) FROM request_log").fetchone()[0] \
                - self.keep_rows
            if excess > 0:
                deleted += con.execute(
                    "DELETE FROM request_log WHERE rowid IN (SELECT rowid FROM request_log "
                    "ORDER BY logged_at LIMIT ?)", [min(excess, limit - deleted)]
                ).fetchone()[0]
        return deleted


def _write(batch: list[Entry | Feedback], wait_s: float) -> None:
    """Append the batch in one transaction."""
    entries = [asdict(e) for e in batch if isinstance(e, Entry)]
    feedback = [f for f in batch if isinstance(f, Feedback)]
    with store.transaction(wait_s=wait_s) as con:
        if entries:
            frame = pd.DataFrame(entries, columns=list(COLUMNS))
            con.register("incoming_request_log", frame)
            con.execute(f"INSERT INTO request_log SELECT {', '.join(COLUMNS)} "
                        "FROM incoming_request_log")
            con.unregister("incoming_request_log")
        for item in feedback:
            # Checked here, in the transaction that writes: the service checked the verdict
            # against the model it served when it queued it, up to a flush interval ago,
            # and another process may have deleted that model since.
            if con.execute("SELECT 1 FROM models WHERE model_id = ?",
                           [item.model_id]).fetchone() is None:
                log.warning("feedback on %s dropped: the model was deleted meanwhile",
                            item.model_id)
                continue
            actor = auth.User(f"api-key:{item.key_name}", item.role)
            con.execute("INSERT INTO neighbor_feedback VALUES (?, ?, ?, ?, ?, ?)",
                        [item.model_id, item.campaign_id, item.neighbor_id, item.useful,
                         item.created_at, actor.name])
            with auth.use(actor):
                audit.record(con, "feedback", item.campaign_id,
                             {"model_id": item.model_id, "neighbor": item.neighbor_id,
                              "useful": item.useful, "via": "service"})


# -- read side: the A/B page ------------------------------------------------------------------
def traffic(hours: float = 24.0) -> pd.DataFrame:
    """Per variant and model over the last `hours`: requests, items, latency p50/p95,
    errors, cache hits, and the acceptance rate of people's feedback on that model. A
    batch both variants answered counts as a request of each, with its items and cache
    hits split by variant; rows logged before that was so say `mixed`."""
    since = audit.now() - timedelta(hours=hours)
    frame = store.query(
        "SELECT variant, model_id, count(*) AS requests, sum(items) AS items, "
        "quantile_cont(latency_ms, 0.5) AS p50_ms, quantile_cont(latency_ms, 0.95) AS p95_ms, "
        "count(*) FILTER (WHERE status >= 400) AS errors, "
        "count(*) FILTER (WHERE status >= 500) AS server_errors, "
        "sum(cache_hits) AS cache_hits, max(logged_at) AS last_request "
        "FROM request_log WHERE logged_at >= ? AND variant IS NOT NULL "
        "GROUP BY variant, model_id ORDER BY variant DESC, last_request DESC", [since])
    if frame.empty:
        return frame
    rates = review.acceptance(sorted(set(frame["model_id"].dropna())))
    return frame.merge(rates[["model_id", "verdicts", "acceptance_rate"]], on="model_id",
                       how="left")


def totals(hours: float = 24.0) -> dict:
    """All requests of the last `hours`, rejected ones included (401, 429, …), by status.
    A batch both variants answered has a row per variant, with one request id and time:
    counted once."""
    since = audit.now() - timedelta(hours=hours)
    frame = store.query("SELECT status, count(DISTINCT (request_id, logged_at)) AS n "
                        "FROM request_log WHERE logged_at >= ? GROUP BY status "
                        "ORDER BY status", [since])
    return {int(s): int(n) for s, n in zip(frame["status"], frame["n"], strict=True)}
