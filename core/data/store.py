"""The embedded DuckDB store: one file under TOPICLAB_HOME, its schema, and connections.

Concurrency rule (documented in the README): DuckDB lets one process write a database
file, or several processes read it, never both. Topic Lab therefore never keeps a
connection open: every operation opens a short-lived connection (the file attached to the
process's DuckDB instance), does its work (writes inside one transaction) and closes it
(detaches the file). A process that only reads never opens the file read-write, not even
for the schema: the schema is checked on a read-only connection (its fingerprint is kept
in `meta`) and created or upgraded only when it is missing or out of date. Within a
process a lock serialises connections, because the file is attached once, either
read-only or read-write; the user SQL editor therefore runs in its own process (see
`core.data.sandbox`) and never takes this lock. When another process holds the file, we
retry for up to `TOPICLAB_LOCK_WAIT_S` seconds (default 30) and then fail with a clear
message; an import is either wholly in or wholly out, never half written.
"""

from __future__ import annotations

import hashlib
import os
import stat
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from core import config
from core.data import files
from core.data.schema import TERM_COLUMNS
from core.errors import StoreBusyError, StoreError

SCHEMA_VERSION = 1

_TERM_COLUMNS_SQL = ",\n    ".join(f"{name} {kind}" for name, kind in TERM_COLUMNS.items())

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR);

CREATE TABLE IF NOT EXISTS datasets (
    name VARCHAR NOT NULL,
    version INTEGER NOT NULL,
    content_hash VARCHAR NOT NULL,
    source_files VARCHAR[] NOT NULL,
    formats VARCHAR[],
    rows BIGINT NOT NULL,
    campaigns BIGINT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    created_by VARCHAR,
    warnings VARCHAR[],
    PRIMARY KEY (name, version)
);

CREATE TABLE IF NOT EXISTS terms (
    dataset VARCHAR NOT NULL,
    version INTEGER NOT NULL,
    {_TERM_COLUMNS_SQL}
);

-- A search term's clicks are also its keyword's clicks: when a campaign has keyword
-- rows with metrics, its totals count those rows only (as core.model.actions.campaign_totals).
CREATE OR REPLACE VIEW campaigns AS
WITH marked AS (
    SELECT dataset, version, campaign_id, campaign_name, account, term_type, label,
           impressions, clicks, cost, conversions,
           coalesce(term_type, 'keyword') = 'keyword' AS is_keyword
    FROM terms
), per_campaign AS (     -- one pass, no window: totals of keyword rows and of all rows
    SELECT dataset, version, campaign_id,
           any_value(campaign_name) AS campaign_name,
           any_value(account) AS account,
           count(*) AS terms,
           count(*) FILTER (WHERE term_type = 'search_term') AS search_terms,
           bool_or(is_keyword AND (impressions IS NOT NULL OR clicks IS NOT NULL
                                   OR cost IS NOT NULL OR conversions IS NOT NULL))
               AS keyword_based,
           sum(impressions) FILTER (WHERE is_keyword) AS k_impressions,
           sum(clicks) FILTER (WHERE is_keyword) AS k_clicks,
           sum(cost) FILTER (WHERE is_keyword) AS k_cost,
           sum(conversions) FILTER (WHERE is_keyword) AS k_conversions,
           sum(impressions) AS a_impressions, sum(clicks) AS a_clicks, sum(cost) AS a_cost,
           sum(conversions) AS a_conversions,
           mode(label) AS label
    FROM marked
    GROUP BY dataset, version, campaign_id
), totals AS (
    SELECT dataset, version, campaign_id, campaign_name, account, terms, search_terms,
           -- sum(BIGINT) is a HUGEINT, which reached pandas and JSON as Decimal text
           if(keyword_based, k_impressions, a_impressions)::BIGINT AS impressions,
           if(keyword_based, k_clicks, a_clicks)::BIGINT AS clicks,
           if(keyword_based, k_cost, a_cost) AS cost,
           if(keyword_based, k_conversions, a_conversions) AS conversions,
           label
    FROM per_campaign
)
SELECT dataset, version, campaign_id, campaign_name, account, terms, search_terms,
       impressions, clicks, cost, conversions,
       clicks / nullif(impressions, 0) AS ctr,
       cost / nullif(clicks, 0) AS cpc,
       conversions / nullif(clicks, 0) AS conversion_rate,
       label
FROM totals;

CREATE TABLE IF NOT EXISTS dataset_settings (
    name VARCHAR PRIMARY KEY,
    settings JSON NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE IF NOT EXISTS account_brands (
    account VARCHAR PRIMARY KEY,       -- an account name (any dataset)
    phrases JSON NOT NULL,             -- its brand phrases (core.model.brand, rule 1)
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE IF NOT EXISTS dataset_currency (
    name VARCHAR PRIMARY KEY,          -- a dataset name: its cost is in this currency
    currency VARCHAR NOT NULL,         -- ISO 4217 code, e.g. JPY
    source VARCHAR NOT NULL,           -- 'export' (Currency code column) | 'setting'
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE IF NOT EXISTS models (
    model_id VARCHAR PRIMARY KEY,
    engine VARCHAR NOT NULL,
    params JSON NOT NULL,
    text_config JSON NOT NULL,
    dataset VARCHAR NOT NULL,
    version INTEGER NOT NULL,
    dataset_hash VARCHAR NOT NULL,
    k INTEGER NOT NULL,
    vocab_size INTEGER NOT NULL,
    metrics JSON NOT NULL,
    timings JSON NOT NULL,
    library_versions JSON NOT NULL,
    sweep_id VARCHAR,
    created_at TIMESTAMP NOT NULL,
    created_by VARCHAR
);

-- the model the K ladder (core.model.fitted_k) kept instead of this one, for its tries
ALTER TABLE models ADD COLUMN IF NOT EXISTS kept_instead VARCHAR;
-- the model whose topics a rebound model holds on another version (core.ops.rebind)
ALTER TABLE models ADD COLUMN IF NOT EXISTS rebound_from VARCHAR;

CREATE TABLE IF NOT EXISTS aliases (
    alias VARCHAR PRIMARY KEY,
    model_id VARCHAR NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    updated_by VARCHAR
);

CREATE TABLE IF NOT EXISTS sweeps (
    sweep_id VARCHAR PRIMARY KEY,
    dataset VARCHAR NOT NULL,
    version INTEGER NOT NULL,
    grid JSON NOT NULL,
    objective VARCHAR NOT NULL,
    best_model_id VARCHAR,
    explanation VARCHAR,
    results JSON,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE IF NOT EXISTS topic_labels (
    model_id VARCHAR NOT NULL,
    topic INTEGER NOT NULL,
    label VARCHAR NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    updated_by VARCHAR,
    PRIMARY KEY (model_id, topic)
);
-- Names carried over from a previous model on retraining (core.ops.carry) stay unconfirmed
-- until someone confirms them; added in place so stores made before keep their labels.
ALTER TABLE topic_labels ADD COLUMN IF NOT EXISTS carried_from VARCHAR;
ALTER TABLE topic_labels ADD COLUMN IF NOT EXISTS confirmed BOOLEAN DEFAULT true;

CREATE TABLE IF NOT EXISTS fingerprints (
    model_id VARCHAR NOT NULL,
    campaign_id VARCHAR NOT NULL,
    weights FLOAT[] NOT NULL,
    confidence FLOAT NOT NULL,
    oov_share FLOAT
);
-- the shares of a model's hidden topics (`hidden_spares`), which neighbours rank by too
ALTER TABLE fingerprints ADD COLUMN IF NOT EXISTS hidden FLOAT[];
-- each campaign's groups in the model's neighbour graph (`core.model.neighbor_groups`),
-- found at scoring; NULL for fingerprints stored before, whose neighbours rank without them
ALTER TABLE fingerprints ADD COLUMN IF NOT EXISTS groups SMALLINT[];

CREATE TABLE IF NOT EXISTS neighbor_feedback (
    model_id VARCHAR NOT NULL,
    campaign_id VARCHAR NOT NULL,
    neighbor_id VARCHAR NOT NULL,
    useful BOOLEAN NOT NULL,
    created_at TIMESTAMP NOT NULL,
    created_by VARCHAR
);

CREATE TABLE IF NOT EXISTS reviews (
    model_id VARCHAR NOT NULL,
    campaign_id VARCHAR NOT NULL,
    decision VARCHAR NOT NULL,
    topic INTEGER,
    note VARCHAR,
    created_at TIMESTAMP NOT NULL,
    created_by VARCHAR
);

CREATE TABLE IF NOT EXISTS drift_reports (
    model_id VARCHAR NOT NULL,
    dataset VARCHAR NOT NULL,
    version INTEGER NOT NULL,
    report JSON NOT NULL,
    retrain_recommended BOOLEAN NOT NULL,
    created_at TIMESTAMP NOT NULL
);

CREATE SEQUENCE IF NOT EXISTS audit_seq;
CREATE TABLE IF NOT EXISTS audit (
    id BIGINT DEFAULT nextval('audit_seq') PRIMARY KEY,
    logged_at TIMESTAMP NOT NULL,
    actor VARCHAR NOT NULL,
    role VARCHAR,
    action VARCHAR NOT NULL,
    target VARCHAR,
    details JSON
);

-- The dataset a review is about, kept with it: reviews outlive their model (delete-model
-- keeps them), and Lookup's "Reviewed N×" found a campaign's through `models`, so lost
-- those under a deleted model. Reviews stored before take it from their model, or from
-- the audited training of one deleted since ("demo v1").
ALTER TABLE reviews ADD COLUMN IF NOT EXISTS dataset VARCHAR;
UPDATE reviews SET dataset = (SELECT m.dataset FROM models m WHERE m.model_id = reviews.model_id)
    WHERE dataset IS NULL;
UPDATE reviews SET dataset = (
    SELECT regexp_extract(a.details->>'dataset', '^(.*) v[0-9]+$', 1) FROM audit a
    WHERE a.action = 'train' AND a.target = reviews.model_id ORDER BY a.id LIMIT 1)
    WHERE dataset IS NULL;

-- Every place Spark wrote a model's encoded counts (`score --engine spark --export-dir`
-- elsewhere than training did), recorded before it writes: delete-model removes them all.
CREATE TABLE IF NOT EXISTS spark_counts (
    model_id VARCHAR NOT NULL,
    location VARCHAR NOT NULL,
    recorded_at TIMESTAMP NOT NULL,
    PRIMARY KEY (model_id, location)
);

-- The scoring service (core/serve/service.py): API keys (only a SHA-256 of each key is kept),
-- its settings (the canary share), and one row per answered request (core/serve/request_log.py).
CREATE TABLE IF NOT EXISTS api_keys (
    name VARCHAR PRIMARY KEY,
    key_hash VARCHAR NOT NULL,
    role VARCHAR NOT NULL,
    rate_per_minute INTEGER NOT NULL,
    created_at TIMESTAMP NOT NULL,
    created_by VARCHAR,
    revoked_at TIMESTAMP,
    revoked_by VARCHAR
);

CREATE TABLE IF NOT EXISTS service_settings (
    name VARCHAR PRIMARY KEY,
    value DOUBLE NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    updated_by VARCHAR
);
-- The model a setting belongs to (the canary share: the candidate it was set for; a
-- pipeline moving the candidate alias gave its model the live traffic). A share stored
-- before is given to the candidate of the moment, once, as it was served then.
ALTER TABLE service_settings ADD COLUMN IF NOT EXISTS model_id VARCHAR;
UPDATE service_settings SET model_id = (SELECT model_id FROM aliases WHERE alias = 'candidate')
    WHERE name = 'canary_percent' AND model_id IS NULL AND value > 0;

CREATE TABLE IF NOT EXISTS request_log (
    logged_at TIMESTAMP NOT NULL,
    request_id VARCHAR NOT NULL,
    endpoint VARCHAR NOT NULL,
    status INTEGER NOT NULL,
    model_id VARCHAR,
    variant VARCHAR,
    latency_ms DOUBLE NOT NULL,
    key_name VARCHAR,
    items INTEGER NOT NULL,
    cache_hits INTEGER NOT NULL
);
"""

# Changes whenever SCHEMA does (a new table, a changed view): a store whose `meta` holds
# another fingerprint is upgraded once, by the first process that opens it read-write.
SCHEMA_FINGERPRINT = hashlib.sha256(f"{SCHEMA_VERSION}\n{SCHEMA}".encode()).hexdigest()[:16]

_process_lock = threading.RLock()
_schema_ready: set[str] = set()


def _lock_wait_s() -> float:
    """`TOPICLAB_LOCK_WAIT_S` (default 30; 0: do not wait), checked as every number of
    the environment is: `abc` was a ValueError traceback from every command."""
    return config.env_number("TOPICLAB_LOCK_WAIT_S", 30, zero="do not wait")


def _is_lock_conflict(err: Exception) -> bool:
    text = str(err).lower()
    return "lock" in text and ("conflict" in text or "could not set" in text)


def _check_regular(path: str) -> None:
    """Refuse a store file (or its write-ahead log) that is no regular file: DuckDB opened
    a FIFO named topiclab.duckdb and waited for a writer forever; a folder of that name was
    "cannot be opened (IO Error: …)"."""
    for place in (path, f"{path}.wal"):
        try:
            mode = os.stat(place).st_mode
        except OSError:
            continue  # missing (created on first use) or unreadable: DuckDB says which
        if not stat.S_ISREG(mode):
            raise StoreError(f"The store file {place} is {files.kind_of(mode)}, not a regular "
                             "file: move it aside, or point TOPICLAB_HOME at another folder.")


# -- connections: the store file attached to this process's one DuckDB instance -------------------
# Building a DuckDB instance costs ~20 ms (it registers every built-in function) and closing
# it ~5 ms; a connection of its own per operation spent a quarter of the test suite's CPU
# there, and ~30 ms of every page rerun's and every lookup's store open. Each connection is
# instead a cursor of one in-memory instance per process that ATTACHes the store file, and
# the file is DETACHed when it ends (4-6 ms in all, `bench/store_open.py`). DuckDB takes and
# releases the file's lock for an attached file as for an opened one, and checkpoints the
# write-ahead log on DETACH as on close: other processes see the same store as before.
STORE_ALIAS = "store"
_instance: duckdb.DuckDBPyConnection | None = None
_instance_pid = 0                           # a forked child builds an instance of its own
_instance_settings: tuple[int, str] | None = None
_attached: list[bool] = []                  # read_only of each open connection (nested ones)


def _instance_for(path: str) -> duckdb.DuckDBPyConnection:
    """This process's in-memory instance, with the store's memory budget and spill folder
    (`<store>.tmp`, where a connection of the file's own spilled)."""
    global _instance, _instance_pid, _instance_settings
    if _instance is None or _instance_pid != os.getpid():
        _instance, _instance_pid = duckdb.connect(":memory:"), os.getpid()
        _instance_settings = None
    settings = (config.store_memory_mb(), f"{path}.tmp")
    if settings != _instance_settings:
        _instance.execute(f"SET memory_limit = '{settings[0]}MB'")
        _instance.execute("SET temp_directory = ?", [settings[1]])
        _instance_settings = settings
    return _instance


def _open(read_only: bool, wait_s: float | None = None) -> duckdb.DuckDBPyConnection:
    """A connection whose default database is the store file (end it with `_close`).
    Called with `_process_lock` held: one attachment per process at a time, a nested open in
    the same thread gets a cursor of it."""
    path = str(config.db_path())
    _check_regular(path)
    instance = _instance_for(path)
    if _attached:
        if _attached[0] and not read_only:  # as DuckDB refused a second configuration
            raise RuntimeError("A write inside a read-only connection of this thread: it "
                               "holds the store until its block ends; write after it.")
        con = _using_store(instance.cursor())
        _attached.append(read_only)
        return con
    # An attachment no connection holds (an interrupt between the ATTACH and the `_attached`
    # entry) would keep the file locked and refuse the next ATTACH: let it go (~0.1 ms).
    instance.execute(f"DETACH DATABASE IF EXISTS {STORE_ALIAS}")
    wait_s = _lock_wait_s() if wait_s is None else wait_s
    deadline = time.monotonic() + wait_s
    delay = 0.05
    attach = "ATTACH '{}' AS {}{}".format(path.replace("'", "''"), STORE_ALIAS,
                                          " (READ_ONLY)" if read_only else "")
    while True:
        try:
            instance.execute(attach)
            break
        except duckdb.Error as err:
            if not _is_lock_conflict(err):
                raise _unusable(path, err) from None
            if time.monotonic() > deadline:
                raise StoreBusyError(
                    f"The store {path} is in use by another process (an import, training "
                    f"run or the CLI) and stayed busy for {wait_s:.0f} s. "
                    "Try again when it has finished."
                ) from err
            time.sleep(delay)
            delay = min(delay * 2, 0.5)
    try:
        con = _using_store(instance.cursor())
    except BaseException:
        instance.execute(f"DETACH DATABASE IF EXISTS {STORE_ALIAS}")
        raise
    _attached.append(read_only)
    return con


def _using_store(cursor: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """`cursor` (a new connection of the instance, whose default database is `memory`)
    reading and writing the store's tables by their plain names."""
    cursor.execute(f"USE {STORE_ALIAS}")
    return cursor


def _close(con: duckdb.DuckDBPyConnection) -> None:
    """End a connection `_open` gave; the outermost detaches the store, which releases the
    file. Work left uncommitted is rolled back, as closing a connection did."""
    global _instance
    con.close()
    _attached.pop()
    if _attached or _instance is None:
        return
    try:
        _instance.execute(f"DETACH {STORE_ALIAS}")
    except duckdb.Error:  # never seen: a new instance rather than a store left attached
        _instance.close()
        _instance = None


_DAMAGE = ("not a valid duckdb database", "could not read enough bytes", "corrupt",
           "checksum", "truncated")


def _damaged(err: Exception) -> bool:
    return any(sign in str(err).lower() for sign in _DAMAGE)


def _damaged_error(path: str, detail: str) -> StoreError:
    return StoreError(
        f"The store {path} is damaged or not a DuckDB database ({detail}). Move it aside "
        "(or restore it from a backup) and run `python -m core init` to start a new one.")


def _unusable(path: str, err: Exception) -> StoreError:
    """One clear sentence for a store file DuckDB cannot open (not a lock conflict)."""
    text = str(err).split("\n")[0]
    lowered = text.lower()
    if "permission denied" in lowered or "read-only file system" in lowered:
        return StoreError(
            f"The store {path} cannot be created or opened: permission denied. Make its "
            "folder writable, or point TOPICLAB_HOME at a folder you can write to.")
    if _damaged(err):
        return _damaged_error(path, text)
    return StoreError(f"The store {path} cannot be opened ({text}). Check the file, or "
                      "point TOPICLAB_HOME at another folder.")


def _check_intact(read_only_con: duckdb.DuckDBPyConnection, path: str) -> None:
    """A file cut short (a full disk, a half copy) opens, then silently reads as less
    data: DuckDB's header says how many blocks there are, so compare the file's size."""
    # Used blocks, not total: free blocks at the end of the file need not be written (a
    # store after deletes had 23 blocks of which 4 free, and a sound file of 21 blocks).
    block_size, blocks = read_only_con.execute(
        f"SELECT block_size, used_blocks FROM pragma_database_size() "
        f"WHERE database_name = '{STORE_ALIAS}'").fetchall()[0]
    expected = 3 * 4096 + int(block_size) * int(blocks)  # three header blocks, then data
    actual = os.path.getsize(path)
    if actual < expected:
        raise _damaged_error(path, f"the file has {actual:,} bytes, its header promises "
                                   f"{expected:,}: it was cut short")


def _schema_current(read_only_con: duckdb.DuckDBPyConnection) -> bool:
    try:
        row = read_only_con.execute(
            "SELECT value FROM meta WHERE key = 'schema_fingerprint'").fetchone()
    except duckdb.CatalogException:  # an empty file: no meta table yet
        return False
    return row is not None and row[0] == SCHEMA_FINGERPRINT


def ensure_schema() -> None:
    """Make sure the store file exists with the current schema (cheap after once).

    Checks on a read-only connection first, so a process that only reads never needs
    the write lock while others read; writes only when the file or the schema is
    missing or out of date.
    """
    path = str(config.db_path())
    if path in _schema_ready and os.path.exists(path):
        return
    with _process_lock:
        if os.path.exists(path):
            con = _open(read_only=True)
            try:
                _check_intact(con, path)
                current = _schema_current(con)
            except duckdb.Error as err:
                raise _unusable(path, err) from None
            finally:
                _close(con)
            if current:
                _schema_ready.add(path)
                return
        con = _open(read_only=False)
        try:
            con.execute("BEGIN TRANSACTION")
            con.execute(SCHEMA)
            con.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?), "
                        "('schema_fingerprint', ?)", [str(SCHEMA_VERSION), SCHEMA_FINGERPRINT])
            con.execute("COMMIT")
        finally:
            _close(con)
        _schema_ready.add(path)


_reading = threading.local()


@contextmanager
def connect(read_only: bool = False, wait_s: float | None = None
            ) -> Iterator[duckdb.DuckDBPyConnection]:
    """A short-lived connection; closed (and the file released) when the block ends.

    `wait_s` overrides how long to wait for another process's lock (background writers
    such as the service's request log wait briefly and retry later instead). Inside
    `reading()` a read-only connection is that block's, not a new one."""
    shared = getattr(_reading, "con", None)
    if shared is not None:
        if not read_only:  # DuckDB refuses a second configuration of the file in a process
            raise RuntimeError("A write inside store.reading(): it holds a read-only "
                               "connection until the block ends; write after it.")
        cursor = _using_store(shared.cursor())  # the same attachment: a result left
        try:                      # unfetched by one helper (`query_one`) must not block the next
            yield cursor
        finally:
            cursor.close()
        return
    ensure_schema()
    with _process_lock:
        con = _open(read_only=read_only, wait_s=wait_s)
        try:
            yield con
        except duckdb.IOException as err:
            if _damaged(err):  # a damaged block met while reading: one clear message
                raise _damaged_error(str(config.db_path()), str(err).split("\n")[0]) from None
            raise
        finally:
            _close(con)


@contextmanager
def reading() -> Iterator[duckdb.DuckDBPyConnection]:
    """One read-only connection for a block of reads by several helpers: every
    `connect(read_only=True)` in this thread inside the block (`query`, `query_one`, the
    helpers' own) uses it instead of opening the store again (loading a `Lookup` opened it
    8 times, ~30 ms each when every open built a DuckDB instance). Keep the block to the
    reads: while it lasts it holds the file (other processes' writers wait) and this
    process's store lock."""
    if getattr(_reading, "con", None) is not None:   # nested: the outer block's
        yield _reading.con
        return
    with connect(read_only=True) as con:
        _reading.con = con
        try:
            yield con
        finally:
            _reading.con = None


@contextmanager
def transaction(wait_s: float | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-write connection inside BEGIN … COMMIT; any exception rolls everything back."""
    with connect(wait_s=wait_s) as con:
        con.execute("BEGIN TRANSACTION")
        _marked.files = set()
        try:
            yield con
        except BaseException:
            con.execute("ROLLBACK")
            _marked.files = set()
            raise
        con.execute("COMMIT")
        files, _marked.files = _marked.files, set()
        # Committed: every marked token is replaced even when one cannot be (a folder by
        # its name), else the app's listings would stay stale with the change saved.
        failed = []
        for name in sorted(files):
            try:
                _bump(name)
            except StoreError as err:
                failed.append(err)
        if failed:
            raise failed[0]


# -- what changed, told by a tiny file read instead of a connection -----------------------------
# Opening the store takes its lock (other processes' writers wait) and a few ms, so those
# who ask often whether anything changed look at small files beside the store, replaced
# after the COMMIT of a transaction that marked them:
# - `serving.generation`: what a running scoring service serves changed (an alias, the
#   canary share, a key, a topic name, a brand list, a dataset's currency;
#   `mark_serving_change()`). The service polls it twice a second; opening the store
#   that often would keep its lock busy.
# - `store.generation`: an audited change (`core.data.audit.record` marks it; every change
#   is audited). The app keys its cached listings on it (ui.generation), several times
#   per page run.
_marked = threading.local()
SERVING_GENERATION_FILE = "serving.generation"
STORE_GENERATION_FILE = "store.generation"


def _mark(name: str) -> None:
    files = getattr(_marked, "files", None)
    if files is None:
        files = _marked.files = set()
    files.add(name)


def mark_serving_change() -> None:
    """Call inside `transaction()`: after it commits, running services reload."""
    _mark(SERVING_GENERATION_FILE)


def mark_change() -> None:
    """Call inside `transaction()`: after it commits, `generation()` tells a new value."""
    _mark(STORE_GENERATION_FILE)


def _not_a_file(path: Path, what: str) -> StoreError:
    return StoreError(f"{path} is not a regular file ({what}): Topic Lab keeps a small token "
                      "there that it replaces after each change. Remove it; it is written "
                      "again at the next change.")


def _bump(name: str) -> None:
    path = config.home() / name
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(uuid.uuid4().hex)      # a new token each time, never an old one again
    try:
        os.replace(tmp, path)
    except OSError as err:                # e.g. a folder by that name
        tmp.unlink(missing_ok=True)
        raise _not_a_file(path, f"{err.strerror}; the change itself was saved") from None


def _token(name: str) -> str | None:
    path = config.home() / name
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(mode):            # a pipe would block the read, a folder fail it
        raise _not_a_file(path, "a folder" if stat.S_ISDIR(mode) else "a pipe or device")
    return path.read_text()


def generation() -> str:
    """A token that changes with every committed audited change ("" before the first)."""
    return _token(STORE_GENERATION_FILE) or ""


def serving_generation() -> str | None:
    """A token that changes whenever what services serve changed (None before the first)."""
    return _token(SERVING_GENERATION_FILE)


def query(sql: str, params: Sequence[Any] | None = None) -> pd.DataFrame:
    """Run one trusted read query and return it as a DataFrame.

    Goes through Arrow: with pandas 3 strings that is about 10× faster than `.df()` on
    millions of term rows.
    """
    with connect(read_only=True) as con:
        return con.sql(sql, params=params or None).to_arrow_table().to_pandas()


def query_one(sql: str, params: Sequence[Any] | None = None) -> tuple | None:
    """First row of a trusted read query, or None."""
    with connect(read_only=True) as con:
        return con.execute(sql, params or []).fetchone()


def execute(sql: str, params: Sequence[Any] | None = None) -> None:
    """Run one trusted write statement in its own transaction."""
    with transaction() as con:
        con.execute(sql, params or [])


def table_counts() -> dict[str, int]:
    """Rows per base table: a cheap fingerprint of the store used by tests and the CLI."""
    with connect(read_only=True) as con:
        names = [
            r[0]
            for r in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_type = "
                "'BASE TABLE' AND table_catalog = current_database() ORDER BY table_name"
            ).fetchall()
        ]
        return {n: con.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0] for n in names}
