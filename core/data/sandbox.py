"""User SQL over the store, in a process of its own that cannot change the store or leave it.

Why a process: DuckDB will not open, in one process, a second connection to a file with
another configuration (read-only next to the store's read-write connections, or with
its own `memory_limit` and `threads`). Sharing the store's connections would serialise
every page behind one user's query; a separate process gets its own read-only
connection and budget, and other readers never wait for it (see `core.data.sql_worker`).
Writers elsewhere wait for it at most its time limit, as for any other reader.

Layers, each enough on its own for the common attacks: only single read statements are
accepted, and none that calls functions showing server paths or settings; the
connection is read-only with external access off and its configuration locked (no
files, no ATTACH, no INSTALL/LOAD, no SET); the process has a memory limit and DuckDB a
thread budget; a timer interrupts the query, its fetching and conversion, and the
process is killed if it does not stop. Results are capped by rows and by bytes, and the
result says so.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pandas as pd
import pyarrow as pa

from core import config, jsonable
from core.data import store
from core.errors import QueryError

# What Python, duckdb and pyarrow need in the worker before any query (measured: about
# 200 MB of data segment), added to the query's own budget `TOPICLAB_SQL_MEMORY_MB`.
WORKER_BASE_MB = 320
# Starting the worker (Python, duckdb, pyarrow) does not count as the query's time.
WORKER_START_S = 5.0
# After the worker's own interrupt, how long it may take to stop before it is killed.
KILL_GRACE_S = 2.0

# One idle worker, already started, waits for the next query: starting Python with
# duckdb and pyarrow takes 0.5-1.5 s here, which the user should not wait for each time.
# It holds no connection (so no lock on the store) and exits when this process does.
_spare: subprocess.Popen | None = None
_spare_lock = threading.Lock()


def _start_worker() -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "core.data.sql_worker"], stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=config.REPO_ROOT)


def _take_worker(keep_spare: bool) -> subprocess.Popen:
    """The waiting worker if there is one (a fresh one otherwise); start the next spare."""
    global _spare
    with _spare_lock:
        worker = _spare if _spare is not None and _spare.poll() is None else None
        _spare = _start_worker() if keep_spare else None
    return worker or _start_worker()

_SCOPE = "WHERE dataset = '{dataset}' AND version = {version}"

EXAMPLE_QUERIES: dict[str, str] = {
    "Campaigns with the most spend": (
        "SELECT campaign_id, campaign_name, cost, clicks, conversions, round(ctr, 4) AS ctr\n"
        f"FROM campaigns\n{_SCOPE}\nORDER BY cost DESC\nLIMIT 20"
    ),
    "Search terms that spent without converting": (
        f"SELECT campaign_id, term, clicks, cost\nFROM terms\n{_SCOPE}\n"
        "  AND term_type = 'search_term' AND conversions = 0 AND cost > 0\n"
        "ORDER BY cost DESC\nLIMIT 50"
    ),
    "Most common terms": (
        "SELECT term, count(DISTINCT campaign_id) AS campaigns, sum(clicks) AS clicks\n"
        f"FROM terms\n{_SCOPE}\nGROUP BY term\nORDER BY campaigns DESC\nLIMIT 30"
    ),
    "Dataset versions": "SELECT name, version, rows, campaigns, created_at FROM datasets",
    "Tables and views": (
        "SELECT table_name, table_type FROM information_schema.tables ORDER BY table_name"
    ),
}


def example_query(title: str, dataset: str, version: int) -> str:
    """An example with the active dataset filled in (names are validated on import)."""
    return EXAMPLE_QUERIES[title].format(dataset=dataset, version=version)


# A whole number under such a name is a name itself, not an amount: an id or a year of
# 2024 read as `2,024` is wrong. A word of the name (`campaign_id`, `Campaign ID`,
# `rowid`, `year(created_at)`, `version`) or a camel-case `…Id` / `…ID` (`campaignId`).
_NAMES_NOT_AMOUNTS = re.compile(
    r"(^|[^a-z])(id|ids|rowid|year|years|yyyy|yyyymmdd|version|date|code)($|[^a-z])")
_CAMEL_ID = re.compile(r"[a-z0-9](Id|ID|Ids|IDs)($|[^a-z])")


def count_columns(frame: pd.DataFrame) -> list[str]:
    """Columns of a result that hold whole numbers (integers, and the decimals without
    a fraction that DuckDB's sums of integers come as: `sum(clicks)`) and whose name does
    not say they are ids, years or versions (`_NAMES_NOT_AMOUNTS`) or amounts of money
    (`money_columns`): the page shows them with thousands separators, as every other
    table's counts. Floats are not counts."""
    money = set(money_columns(frame))
    return [str(name) for name, values in frame.items()
            if str(name) not in money and not _names_no_amount(str(name))
            and _whole_numbers(values)]


# A number under such a name is an amount of money, as Explore's `cost` and `cpc` columns
# (`sum(cost)`, `avg_cpc`, `Cost`, `totalCost`, `spend`), unless the name says it is a
# share or a rate of one.
_MONEY_NAMES = re.compile(
    r"(^|[^a-z])(cost|costs|cpc|cpa|cpm|spend|spent|spending|budget|budgets)($|[^a-z])")
_NOT_MONEY = re.compile(r"(^|[^a-z])(share|ratio|pct|percent|rate|rank)($|[^a-z])")
_CAMEL_WORD = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def money_columns(frame: pd.DataFrame) -> list[str]:
    """Number columns of a result named as amounts (`_MONEY_NAMES`, camel case read as
    words: `totalCost`), whatever their type: the page shows them in the dataset's
    currency, as Explore's tables. The rule went by type as well, so `sum(cost)` (a
    DOUBLE) showed as `10,400,688` while `12.50 AS cost` (a DECIMAL), an integer `cost`
    and any `spend` or `totalCost` showed as they were. Other numbers keep their value."""
    return [str(name) for name, values in frame.items()
            if _names_money(str(name)) and _numbers(values)]


def _names_money(name: str) -> bool:
    name = _CAMEL_WORD.sub("_", name).lower()
    return bool(_MONEY_NAMES.search(name)) and not _NOT_MONEY.search(name)


def _numbers(values: pd.Series) -> bool:
    """A column of numbers: integers, floats, or DuckDB's DECIMALs (Python `Decimal`s);
    not booleans."""
    if pd.api.types.is_bool_dtype(values):
        return False
    return pd.api.types.is_numeric_dtype(values) or _decimals(values)


def _names_no_amount(name: str) -> bool:
    return bool(_NAMES_NOT_AMOUNTS.search(name.lower()) or _CAMEL_ID.search(name))


def _whole_numbers(values: pd.Series) -> bool:
    """An integer column, or one of decimals of scale 0 (HUGEINT, DECIMAL(18,0))."""
    if pd.api.types.is_bool_dtype(values):
        return False
    return pd.api.types.is_integer_dtype(values) or _decimals(values, whole=True)


def _decimals(values: pd.Series, whole: bool = False) -> bool:
    """A column of finite DuckDB DECIMALs (Python `Decimal`s), of scale 0 if `whole`."""
    present = values.dropna() if values.dtype == object else ()
    return len(present) > 0 and all(
        isinstance(v, Decimal) and v.is_finite() and (not whole or v.as_tuple().exponent == 0)
        for v in present)


@dataclass(frozen=True)
class QueryResult:
    frame: pd.DataFrame
    truncated: bool
    seconds: float
    row_cap: int
    capped_by: str | None = None  # "rows" or "bytes" when truncated
    result_bytes: int = 0         # Arrow size of the rows returned
    byte_cap: int = 0
    worker_peak_mb: float = 0.0   # the worker process's peak resident memory

    @property
    def notice(self) -> str | None:
        """What the page and the CLI show when the result was cut short."""
        if self.capped_by == "rows":
            return (f"capped at {self.row_cap:,} rows (TOPICLAB_SQL_ROW_CAP); add LIMIT or "
                    "aggregate to see what you need")
        if self.capped_by == "bytes":
            return (f"capped at {self.byte_cap / 2**20:g} MB (TOPICLAB_SQL_RESULT_MB) after "
                    f"{len(self.frame):,} rows; select fewer or shorter columns")
        return None

    def to_dict(self) -> dict:
        """The CLI's JSON: row count, whether and why it was capped, time, the rows."""
        return {"rows": len(self.frame), "truncated": self.truncated, "capped": self.notice,
                "seconds": round(self.seconds, 4), "data": self.frame.to_dict(orient="records")}


def run_query(sql: str, *, row_cap: int | None = None, timeout_s: float | None = None,
              byte_cap: int | None = None, memory_mb: int | None = None,
              keep_spare: bool = True) -> QueryResult:
    """Run one read-only statement in its own process, within its row, byte, memory and
    time budgets. Other readers of the store never wait for it. `keep_spare=False` (the
    CLI's one-off query) starts no idle worker for a next query."""
    row_cap = row_cap or config.sql_row_cap()
    timeout_s = timeout_s if timeout_s is not None else config.sql_timeout_s()
    byte_cap = byte_cap or config.sql_result_bytes()
    memory_mb = memory_mb or config.sql_memory_mb()
    if not sql or not sql.strip():
        raise QueryError("The query is empty: write a SELECT statement.")
    store.ensure_schema()  # read-only when the store is current
    request = {"sql": sql, "db_path": str(config.db_path()), "row_cap": row_cap,
               "byte_cap": byte_cap, "timeout_s": timeout_s, "memory_mb": memory_mb,
               "base_mb": WORKER_BASE_MB, "threads": config.sql_threads()}
    deadline = WORKER_START_S + timeout_s + KILL_GRACE_S
    started = time.perf_counter()
    worker = _take_worker(keep_spare)
    try:
        out, err = worker.communicate(json.dumps(request).encode(), timeout=deadline)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.communicate()
        raise QueryError(_timeout_message(timeout_s)) from None
    header_line, _, body = out.partition(b"\n")
    try:
        header = json.loads(header_line)
    except ValueError:
        raise QueryError(_crash_message(worker.returncode, err, memory_mb)) from None
    if not header["ok"]:
        error = QueryError(_failure_message(header, timeout_s, memory_mb))
        error.worker_peak_mb = header.get("peak_mb")  # measured, for tests and logs
        raise error
    try:
        table = pa.ipc.open_stream(io.BytesIO(body)).read_all()
    except (OSError, pa.ArrowInvalid):  # it stopped while sending the rows: none are shown
        raise QueryError(_crash_message(worker.returncode, err, memory_mb)) from None
    frame = _frame(table)
    if time.perf_counter() - started > deadline:
        raise QueryError(_timeout_message(timeout_s))
    return QueryResult(frame=frame, truncated=header["capped"] is not None,
                       seconds=float(header["seconds"]), row_cap=row_cap,
                       capped_by=header["capped"], result_bytes=int(header["bytes"]),
                       byte_cap=byte_cap, worker_peak_mb=float(header["peak_mb"]))


def _timeout_message(timeout_s: float) -> str:
    return (f"The query ran longer than the {timeout_s:g} s limit and was stopped "
            "(TOPICLAB_SQL_TIMEOUT_S).")


def _memory_message(memory_mb: int) -> str:
    return (f"The query needed more than its {memory_mb} MB memory budget and was stopped "
            "(TOPICLAB_SQL_MEMORY_MB); aggregate, filter or LIMIT it.")


def _failure_message(header: dict, timeout_s: float, memory_mb: int) -> str:
    kind = header.get("kind")
    if kind == "timeout":
        return _timeout_message(timeout_s)
    if kind == "memory":
        return _memory_message(memory_mb)
    if kind == "refused":
        return str(header.get("message"))
    return f"The query failed: {header.get('message')}"


def _crash_message(returncode: int | None, stderr: bytes, memory_mb: int) -> str:
    """The worker died without answering: almost always its memory limit."""
    text = stderr.decode("utf-8", "replace").lower()
    if "memory" in text or returncode in (-6, -9, 134, 137):
        return _memory_message(memory_mb)
    return "The query stopped unexpectedly; try a simpler query."


def _unique(columns: list[str]) -> list[str]:
    """pandas and Arrow need distinct column names; `SELECT 1, 1` gives two '1's. A
    renamed column skips names the result already has (`SELECT 1 a, 2 a, 3 a_2`)."""
    taken, out = set(columns), []
    for name in columns:
        if name in out:
            n = 2
            while f"{name}_{n}" in taken:
                n += 1
            name = f"{name}_{n}"
            taken.add(name)
        out.append(name)
    return out


def _frame(table: pa.Table) -> pd.DataFrame:
    """The result as a DataFrame. When a date or time is one Python cannot hold (after
    year 9999) or DuckDB's ±infinity, the result's dates and times come as text rather
    than failing the query (the CLI's JSON too) or showing year 294247; INTERVAL and BLOB
    columns come as the text the CLI prints for them (ISO-8601, base64), so the page shows
    that rather than pandas' `DateOffset` or bytes, and so do those inside a LIST, STRUCT
    or MAP (whose dates come as text too: past year 9999 they failed the query);
    a column of a type pandas has no form for (a UNION) comes as the text of its values."""
    table = table.rename_columns(_unique(table.column_names))
    dates_as_text = any(_beyond_python_dates(column) for column in table.columns)
    columns = [_as_text(column) if dates_as_text and _is_date(column) else _plain_text(column)
               for column in table.columns]
    table = pa.table(columns, names=table.column_names)
    try:
        return _maps_as_dicts(table.to_pandas(), table)
    except NotImplementedError:  # pa.ArrowNotImplementedError: pandas has no such column
        pass
    table = pa.table([column if _pandas_can_hold(column) else _values_as_text(column)
                      for column in table.columns], names=table.column_names)
    return _maps_as_dicts(table.to_pandas(), table)


def _maps_as_dicts(frame: pd.DataFrame, table: pa.Table) -> pd.DataFrame:
    """A MAP column (what `histogram()` returns) with each value as a dict of its keys:
    pandas gets lists of (key, value) tuples, which the page drew as Python text, turning
    every STRUCT column beside them into text too, and the CLI as `[["a", 2]]`. Keys that
    cannot be dict keys (a MAP keyed by lists) leave the column as it was."""
    for i, kind in enumerate(table.schema.types):
        if pa.types.is_map(kind):
            try:
                frame.isetitem(i, [None if v is None else dict(v) for v in frame.iloc[:, i]])
            except TypeError:
                continue
    return frame


def _pandas_can_hold(column: pa.ChunkedArray) -> bool:
    try:
        pa.table([column.slice(0, 1)], names=["c"]).to_pandas()
    except NotImplementedError:
        return False
    return True


def _values_as_text(column: pa.ChunkedArray) -> pa.Array:
    """Each value as Python prints it (a UNION's member, a list of them), nulls kept."""
    return pa.array([None if v is None else str(v) for v in column.to_pylist()], pa.string())


def _plain_text(column: pa.ChunkedArray) -> pa.ChunkedArray | pa.Array:
    """An INTERVAL or BLOB column as `core.jsonable` text, a LIST, STRUCT or MAP holding
    them or dates with those values as text (`_nested_as_text`); any other as it is."""
    if pa.types.is_interval(column.type):
        convert = jsonable.duration_text
    elif _is_binary(column.type):
        convert = jsonable.bytes_text
    elif pa.types.is_nested(column.type) and _holds_text_leaves(column.type):
        return _nested_as_text(column)
    else:
        return column
    return pa.array([None if v is None else convert(v) for v in column.to_pylist()],
                    pa.string())


def _is_binary(kind: pa.DataType) -> bool:
    return pa.types.is_binary(kind) or pa.types.is_large_binary(kind)


def _is_calendar(kind: pa.DataType) -> bool:
    return pa.types.is_date(kind) or pa.types.is_timestamp(kind)


def _children(kind: pa.DataType) -> list[pa.DataType]:
    if pa.types.is_map(kind):
        return [kind.key_type, kind.item_type]
    if pa.types.is_struct(kind):
        return [field.type for field in kind]
    if pa.types.is_list(kind) or pa.types.is_large_list(kind) \
            or pa.types.is_fixed_size_list(kind):
        return [kind.value_type]
    return []


def _holds_text_leaves(kind: pa.DataType) -> bool:
    """Whether a nested type holds an INTERVAL, BLOB, date or timestamp anywhere."""
    return any(pa.types.is_interval(child) or _is_binary(child) or _is_calendar(child)
               or _holds_text_leaves(child) for child in _children(kind))


def _numbered(kind: pa.DataType) -> pa.DataType:
    """`kind` with its dates and timestamps as the integers Arrow stores them as: Python
    reads those for any year (its dates stop at 9999, so `to_pylist` failed)."""
    if pa.types.is_date32(kind):
        return pa.int32()
    if _is_calendar(kind):
        return pa.int64()
    if pa.types.is_map(kind):
        return pa.map_(_numbered(kind.key_type), _numbered(kind.item_type))
    if pa.types.is_struct(kind):
        return pa.struct([field.with_type(_numbered(field.type)) for field in kind])
    if pa.types.is_list(kind) or pa.types.is_large_list(kind) \
            or pa.types.is_fixed_size_list(kind):
        return pa.list_(kind.value_field.with_type(_numbered(kind.value_type)))
    return kind


def _leaf_text(value: Any, kind: pa.DataType) -> Any:
    """A value read as `_numbered(kind)` with its INTERVALs, BLOBs, dates and timestamps
    as the CLI's text, at any depth; lists, structs (dicts) and maps (dicts) kept."""
    if value is None:
        return None
    if _is_calendar(kind):
        return _calendar_text(value, kind)
    if pa.types.is_interval(kind):
        return jsonable.duration_text(value)
    if _is_binary(kind):
        return jsonable.bytes_text(value)
    if pa.types.is_map(kind):
        return {str(_leaf_text(key, kind.key_type)): _leaf_text(item, kind.item_type)
                for key, item in value}
    if pa.types.is_struct(kind):
        return {field.name: _leaf_text(value[field.name], field.type) for field in kind}
    if _children(kind):
        return [_leaf_text(item, kind.value_type) for item in value]
    return value


def _calendar_text(value: int, kind: pa.DataType) -> str:
    """A date or timestamp stored as `value` (DuckDB's ±infinity too) as text."""
    if abs(value) == 2 ** (kind.bit_width - 1) - 1:
        return "infinity" if value > 0 else "-infinity"
    if pa.types.is_date32(kind):
        return jsonable.calendar_date(value)
    if pa.types.is_date64(kind):
        return jsonable.calendar_date(value // 86_400_000)
    return jsonable.instant_text(value, kind.unit, kind.tz)


def _nested_as_text(column: pa.ChunkedArray) -> pa.ChunkedArray | pa.Array:
    """A LIST, STRUCT or MAP column with its INTERVALs, BLOBs, dates and timestamps as
    text: the page showed `<DateOffset: days=0, months=0, nanoseconds=5000000000>` and
    `b'ab'` inside lists, and a date past 9999 in one failed the whole query."""
    try:
        values = column.cast(_numbered(column.type)).to_pylist()
    except (pa.ArrowException, ValueError, OverflowError):
        return _values_as_text(column)
    try:
        return pa.array([_leaf_text(value, column.type) for value in values])
    except (pa.ArrowException, TypeError, ValueError):  # no one Arrow type for them all
        return _values_as_text(column)


def _is_date(column: pa.ChunkedArray) -> bool:
    return pa.types.is_date(column.type) or pa.types.is_timestamp(column.type)


def _beyond_python_dates(column: pa.ChunkedArray) -> bool:
    """A date or timestamp column holding ±infinity or a value outside Python's dates
    (years 1-9999), which pandas either refuses or keeps but cannot print."""
    if not _is_date(column):
        return False
    if _infinities(column):
        return True
    try:
        column.to_pylist()
    except (ValueError, OverflowError):
        return True
    return False


def _infinities(column: pa.ChunkedArray) -> list[str | None]:
    """Per value "infinity", "-infinity" (DuckDB's stored as the largest and smallest
    number of the column's width) or None."""
    width = column.type.bit_width
    largest = 2 ** (width - 1) - 1
    raw = column.cast(pa.int32() if width == 32 else pa.int64()).to_pylist()
    marks = ["infinity" if v == largest else "-infinity" if v == -largest else None
             for v in raw]
    return marks if any(marks) else []


def _as_text(column: pa.ChunkedArray) -> pa.Array:
    """Dates or timestamps as ISO text (`_calendar_text`); DuckDB's ±infinity as
    "infinity"/"-infinity" (as text Arrow wrote them as "<value out of range: …>", as it
    did years past about 146,000, and a time zone's year 100,000 as -31072)."""
    numbers = column.cast(_numbered(column.type)).to_pylist()
    return pa.array([None if v is None else _calendar_text(v, column.type) for v in numbers],
                    pa.string())
