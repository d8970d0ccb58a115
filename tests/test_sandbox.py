"""User SQL: reads work; every hostile statement fails clearly and changes nothing;
a query stays within its time, memory and result budgets and makes nobody else wait."""

from __future__ import annotations

import json
import threading
import time

import pandas as pd
import pyarrow as pa
import pytest

from core.data import sandbox, store
from core.errors import QueryError
from core.serve import registry

# Runs in constant memory until interrupted: DuckDB counts 10^15 rows.
ENDLESS = "SELECT count(*) FROM range(100000) a, range(100000) b, range(100000) c"


@pytest.fixture
def seeded(home):
    store.execute("INSERT INTO meta VALUES ('probe', 'x')")
    return store.table_counts()


def test_select_returns_rows_and_time(seeded):
    result = sandbox.run_query("SELECT key, value FROM meta ORDER BY key")
    assert list(result.frame.columns) == ["key", "value"]
    assert "probe" in set(result.frame["key"])
    assert result.seconds >= 0 and not result.truncated


def test_row_cap_truncates(seeded):
    result = sandbox.run_query("SELECT * FROM range(50)", row_cap=10)
    assert len(result.frame) == 10 and result.truncated


def test_duplicate_column_names_are_kept_apart(seeded):
    result = sandbox.run_query("SELECT 1 AS a, 2 AS a")
    assert list(result.frame.columns) == ["a", "a_2"]
    # a renamed column never takes the name of another (it overwrote `a_2`'s value)
    result = sandbox.run_query("SELECT 1 AS a, 2 AS a, 3 AS a_2")
    assert result.frame.to_dict("records") == [{"a": 1, "a_3": 2, "a_2": 3}]


def test_dates_pandas_cannot_hold_come_as_text(seeded):
    """Year 10000 and DuckDB's infinities failed the whole query with a traceback."""
    result = sandbox.run_query("SELECT DATE '10000-01-01' AS d, 'infinity'::date AS inf, "
                               "'-infinity'::timestamp AS ninf, DATE '2024-05-01' AS ok")
    assert result.frame.to_dict("records") == [
        {"d": "10000-01-01", "inf": "infinity", "ninf": "-infinity", "ok": "2024-05-01"}]


def test_dates_past_any_year_come_as_their_text(seeded):
    """Arrow writes a date past about year 146,000 as `<value out of range: 72328972>`,
    and a TIMESTAMPTZ of year 100,000 as -31072-01-01: DuckDB's own dates, to its last."""
    result = sandbox.run_query(
        "SELECT DATE '200000-01-01' AS d, TIMESTAMP '200000-01-01 10:00:00.25' AS t, "
        "'100000-01-01 00:00:00+00'::TIMESTAMPTZ AS tz, DATE '5881580-07-10' AS last, "
        "DATE '-5000-03-01' AS bc, NULL::DATE AS n")
    [row] = result.frame.to_dict("records")
    assert pd.isna(row.pop("n"))
    assert row == {"d": "200000-01-01", "t": "200000-01-01 10:00:00.250000",
                   "tz": "100000-01-01 00:00:00+00:00", "last": "5881580-07-10",
                   "bc": "-5000-03-01"}


def test_intervals_blobs_and_dates_inside_lists_come_as_text(seeded):
    """Inside a LIST, STRUCT or MAP an INTERVAL showed as `<DateOffset: days=0, months=0,
    nanoseconds=5000000000>` and a BLOB as `b'ab'` on the page; a date past 9999 in a list
    failed the query (`ValueError: year 200000 is out of range`)."""
    result = sandbox.run_query(
        "SELECT [INTERVAL 5 SECOND, NULL] AS li, ['ab'::BLOB] AS lb, "
        "{'i': INTERVAL 2 DAY, 'b': 'x'::BLOB, 'd': DATE '200000-01-01'} AS s, "
        "MAP {DATE '2024-01-01': 'x'::BLOB} AS m, [[TIMESTAMP_NS '2024-01-01 "
        "00:00:00.123456789']] AS deep, ['infinity'::DATE] AS inf, "
        "array_value(DATE '2024-01-02') AS arr, 7 AS x")
    [row] = json.loads(result.frame.to_json(orient="records"))
    assert row == {"li": ["PT5S", None], "lb": ["YWI="],
                   "s": {"i": "P2D", "b": "eA==", "d": "200000-01-01"},
                   "m": {"2024-01-01": "eA=="}, "deep": [["2024-01-01 00:00:00.123456789"]],
                   "inf": ["infinity"], "arr": ["2024-01-02"], "x": 7}


def test_times_with_a_time_zone_and_bits_come_as_duckdb_s_text_at_any_depth(seeded):
    """Arrow gets a TIMETZ without its offset and a BIT as DuckDB's storage bytes: the page
    and the CLI showed 12:34:56 for 12:34:56+05:30 and `BPU=` for 0101."""
    result = sandbox.run_query(
        "SELECT {'my \"BIT\"': '11'::BIT, 'x': 1} AS s, MAP {'101'::BIT: [TIMETZ "
        "'01:00:00-02']} AS m, array_value('1'::BIT, '0'::BIT) AS arr, "
        "UNION_VALUE(k := '10'::BIT) AS u, [{'t': TIMETZ '23:59:59+14'}] AS deep, "
        "TIMETZ '12:34:56+05:30' AS t, 'ab'::BLOB AS blob, 1 AS t")
    [row] = json.loads(result.frame.to_json(orient="records"))
    assert row == {"s": {'my "BIT"': "11", "x": 1}, "m": {"101": ["01:00:00-02"]},
                   "arr": ["1", "0"], "u": "10", "deep": [{"t": "23:59:59+14"}],
                   "t": "12:34:56+05:30", "blob": "YWI=", "t_2": 1}


def test_map_columns_come_as_objects_of_their_keys(seeded):
    """A MAP (what `histogram()` returns) came as a list of (key, value) tuples: the page
    drew it as Python's `[('keyword', 27825)]` and turned every STRUCT column of the
    result into such text too; the CLI printed `[["keyword", 27825]]`."""
    result = sandbox.run_query(
        "SELECT histogram(x) AS h, MAP {1: 'a'} AS m, NULL::MAP(VARCHAR, INT) AS n, "
        "{'k': 1} AS s FROM (VALUES ('a'), ('a'), ('b')) t(x)")
    [row] = json.loads(result.frame.to_json(orient="records"))
    assert row == {"h": {"a": 2, "b": 1}, "m": {"1": "a"}, "n": None, "s": {"k": 1}}


def test_infinite_timestamps_with_a_time_zone_come_as_text(seeded):
    """pandas kept 'infinity'::TIMESTAMPTZ as a date in year 294247 that it cannot print:
    the CLI's JSON failed with a traceback, and a plain TIMESTAMP showed that year."""
    result = sandbox.run_query("SELECT 'infinity'::TIMESTAMPTZ AS tz, "
                               "'-infinity'::TIMESTAMPTZ AS ntz, 'infinity'::TIMESTAMP AS t")
    assert result.frame.to_dict("records") == [
        {"tz": "infinity", "ntz": "-infinity", "t": "infinity"}]


def test_union_columns_come_as_the_text_of_their_values(seeded):
    """pandas has no column for DuckDB's UNION (alone, nested or NULL): the query failed
    with ArrowNotImplementedError, a traceback on the page and in the CLI."""
    result = sandbox.run_query("SELECT UNION_VALUE(k := 1) AS u, [UNION_VALUE(k := 2)] AS l, "
                               "NULL::UNION(a INT, b VARCHAR) AS n, 3 AS x")
    [row] = result.frame.to_dict("records")
    assert (row["u"], row["l"], row["x"]) == ("1", "[2]", 3) and pd.isna(row["n"])


@pytest.mark.parametrize("sql, needle", [
    ("SELECT * FROM read_csv('/etc/passwd')", "passwd"),
    ("SELECT * FROM read_text('/etc/hostname')", "read_text"),
    ("COPY meta TO '/tmp/topiclab-leak.csv'", "COPY"),
    ("ATTACH '/tmp/other.duckdb' AS other", "ATTACH"),
    ("INSTALL httpfs", "INSTALL"),
    ("LOAD httpfs", "LOAD"),
    ("SET threads = 1", "SET"),
    ("RESET threads", "RESET"),
    ("DROP TABLE meta", "DROP"),
    ("DELETE FROM meta", "DELETE"),
    ("UPDATE meta SET value = 'y'", "UPDATE"),
    ("INSERT INTO meta VALUES ('z', 'z')", "INSERT"),
    ("CREATE TABLE evil (a INT)", "CREATE"),
    ("PRAGMA enable_profiling", "PRAGMA"),
    ("SELECT 1; DROP TABLE meta", "one statement"),
    ("EXPORT DATABASE '/tmp/topiclab-export'", "EXPORT"),
])
def test_hostile_statements_fail_and_change_nothing(seeded, sql, needle):
    with pytest.raises(QueryError) as err:
        sandbox.run_query(sql)
    assert needle.lower() in str(err.value).lower()
    assert store.table_counts() == seeded
    assert store.query_one("SELECT value FROM meta WHERE key = 'probe'")[0] == "x"


@pytest.mark.parametrize("sql, said", [
    ("ATTACH '/tmp/other.duckdb' AS other", "this is an ATTACH statement"),
    ("UPDATE meta SET value = 'y'", "this is an UPDATE statement"),
    ("USE memory", "this is a USE statement"),
    ("COPY meta TO 'x.csv'", "this is a COPY statement"),
])
def test_a_refused_statement_is_named_with_its_article(seeded, sql, said):
    """The refusal read "this is a ATTACH statement"."""
    with pytest.raises(QueryError, match=said):
        sandbox.run_query(sql)


def test_the_store_file_itself_cannot_be_read(seeded):
    """With external access off DuckDB still reads its own file: the raw store, deleted
    rows in free blocks included, must not come out."""
    from core import config

    for function in ("read_blob", "read_text"):
        with pytest.raises(QueryError, match=function):
            sandbox.run_query(f"SELECT * FROM {function}('{config.db_path()}')")


def test_file_functions_inside_select_are_refused_by_the_connection(seeded):
    # A SELECT passes the statement check, so the connection itself must refuse files.
    with pytest.raises(QueryError, match="disabled"):
        sandbox.run_query("SELECT * FROM read_csv('/etc/passwd')")


def test_runaway_query_is_interrupted(seeded):
    with pytest.raises(QueryError, match="limit"):
        sandbox.run_query(ENDLESS, timeout_s=0.5)
    assert store.table_counts() == seeded


def test_empty_and_unparsable(seeded):
    for empty in ("   ", ";", "-- nothing here\n;"):  # `;` "holds 0 statements"
        with pytest.raises(QueryError, match="empty"):
            sandbox.run_query(empty)
    with pytest.raises(QueryError, match="parsed"):
        sandbox.run_query("SELEC nonsense")


def test_examples_run(seeded):
    for title in sandbox.EXAMPLE_QUERIES:
        sandbox.run_query(sandbox.example_query(title, "demo", 1))


def _rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


class PeakRss:
    """This process's peak resident-memory growth while the block runs, sampled."""

    def __enter__(self) -> PeakRss:
        self.start = self.peak = _rss_mb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, _rss_mb())

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_mb())

    @property
    def growth_mb(self) -> float:
        return self.peak - self.start


def test_long_query_does_not_make_other_readers_wait(seeded):
    sandbox.run_query("SELECT 1")  # a warm spare worker, as in a running app
    outcome: dict[str, object] = {}

    def long_query() -> None:
        try:
            sandbox.run_query(ENDLESS, timeout_s=8)
        except QueryError as err:
            outcome["error"] = err
        outcome["ended"] = time.perf_counter()

    worker = threading.Thread(target=long_query)
    worker.start()
    time.sleep(1.5)  # the query is running in its worker now
    started = time.perf_counter()
    models = registry.list_models()
    counts = store.table_counts()
    finished = time.perf_counter()
    worker.join()
    assert models.empty and counts == seeded
    # Timed against the query itself, not a wall-clock figure, so a loaded machine does
    # not decide the outcome: the reads ended while the query was still running.
    assert finished < outcome["ended"], (
        f"list_models took {finished - started:.1f} s and ended after the SQL query")
    assert "limit" in str(outcome["error"])


def test_result_is_capped_by_bytes_with_a_notice(seeded):
    # 1 GB of text in 100,000 rows of 10 kB: streamed and cut at the byte cap.
    with PeakRss() as rss:
        result = sandbox.run_query("SELECT repeat('x', 10000) AS s FROM range(100000)",
                                   byte_cap=8 * 2**20)
    assert result.truncated and result.capped_by == "bytes"
    assert 0 < len(result.frame) < 1000 and result.result_bytes <= 8 * 2**20
    assert "capped at 8 MB" in result.notice
    assert rss.growth_mb < 50, f"this process grew by {rss.growth_mb:.0f} MB"
    assert result.worker_peak_mb < 512 + sandbox.WORKER_BASE_MB


def test_a_worker_that_dies_while_sending_rows_gives_one_clear_message(seeded, monkeypatch):
    """Seen once on a loaded machine: the worker answered `ok`, then stopped part-way
    through the Arrow stream, and the user got pyarrow's "Expected to be able to read …
    bytes" instead of a message. A real process plays the worker: a good header and half
    of a real stream, then it exits as a worker over its memory limit does."""
    import subprocess
    import sys

    sink = pa.BufferOutputStream()
    table = pa.table({"s": ["x" * 1000] * 200})
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    stream = sink.getvalue().to_pybytes()
    header = json.dumps({"ok": True, "capped": None, "seconds": 0.1, "bytes": len(stream),
                         "peak_mb": 90.0})
    answer = header.encode() + b"\n" + stream[:len(stream) // 2]
    script = (f"import sys; sys.stdin.read(); out = sys.stdout.buffer; out.write({answer!r}); "
              "out.flush(); sys.stderr.write('MemoryError'); sys.exit(1)")
    monkeypatch.setattr(sandbox, "_take_worker", lambda keep_spare: subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE))
    with pytest.raises(QueryError) as caught:
        sandbox.run_query("SELECT repeat('x', 1000) FROM range(200)")
    assert "memory budget" in str(caught.value) and "Expected" not in str(caught.value)


def test_row_cap_notice(seeded):
    result = sandbox.run_query("SELECT * FROM range(50)", row_cap=10)
    assert result.capped_by == "rows" and "10 rows" in result.notice
    assert sandbox.run_query("SELECT 1").notice is None


def test_huge_values_stop_within_the_memory_budget(seeded):
    # The query: 100 values of 10 MB, which DuckDB builds as one 1 GB chunk, so
    # no streaming can cap it; the worker's memory limit stops it instead, in time, and
    # this process never sees the gigabyte.
    started = time.perf_counter()
    with PeakRss() as rss, pytest.raises(QueryError, match="memory budget") as err:
        sandbox.run_query("SELECT repeat('x', 10000000) FROM range(100)", timeout_s=10)
    assert time.perf_counter() - started < 10 + sandbox.WORKER_START_S
    assert rss.growth_mb < 50, f"this process grew by {rss.growth_mb:.0f} MB"
    assert "TOPICLAB_SQL_MEMORY_MB" in str(err.value)
    assert err.value.worker_peak_mb < 512 + sandbox.WORKER_BASE_MB


def test_memory_hungry_cross_join_stops_within_budget_and_time(seeded):
    # Sorting 10^10 sums would take 80 GB; the issue saw 5.8 GB used within the timeout.
    started = time.perf_counter()
    with pytest.raises(QueryError, match=r"256 MB memory budget|limit") as err:
        sandbox.run_query("SELECT a.range + b.range AS s FROM range(100000) a, "
                          "range(100000) b ORDER BY s DESC", timeout_s=5, memory_mb=256)
    assert time.perf_counter() - started < 5 + sandbox.KILL_GRACE_S + sandbox.WORKER_START_S
    assert err.value.worker_peak_mb < 256 + sandbox.WORKER_BASE_MB


def test_endless_cross_join_is_interrupted_in_time(seeded):
    started = time.perf_counter()
    with pytest.raises(QueryError, match="1 s limit") as err:
        sandbox.run_query(ENDLESS, timeout_s=1)
    assert time.perf_counter() - started < 1 + sandbox.KILL_GRACE_S + sandbox.WORKER_START_S
    assert err.value.worker_peak_mb < 512 + sandbox.WORKER_BASE_MB


@pytest.mark.parametrize("sql", [
    "SELECT * FROM duckdb_settings()",
    "SELECT current_setting('temp_directory')",
    "SELECT * FROM pragma_database_list",
    "SELECT * FROM duckdb_databases()",
    "SELECT path FROM duckdb_databases",
    "SELECT (SELECT max(path) FROM duckdb_databases()) AS p",
    "SELECT * FROM query('SELECT * FROM duckdb_settings()')",
    "SELECT * FROM pg_settings",
    "EXPLAIN SELECT * FROM duckdb_databases()",
])
def test_server_paths_are_not_shown(seeded, home, sql):
    with pytest.raises(QueryError, match="not available in the SQL editor") as err:
        sandbox.run_query(sql)
    assert str(home) not in str(err.value)


def test_settings_that_remain_hold_no_paths(seeded, home):
    # What a query can still see of the worker's configuration holds no server paths.
    result = sandbox.run_query(
        "SELECT database_name, schema_name, table_name FROM duckdb_tables()")
    assert "meta" in set(result.frame["table_name"])
    assert not any(str(home) in str(v) for v in result.frame.to_numpy().ravel())


def test_a_misspelt_table_or_column_is_named_with_duckdb_s_suggestion(seeded):
    """DuckDB's hint line (`Did you mean "meta"?`, `Candidate bindings: "key"`) was cut
    off with everything after the message's first line: the CLI said only that the table
    did not exist."""
    with pytest.raises(QueryError, match=r'does not exist.* Did you mean "meta"'):
        sandbox.run_query("SELECT * FROM metaa")
    with pytest.raises(QueryError, match=r'not found.* Candidate bindings: "key"') as err:
        sandbox.run_query("SELECT kye FROM meta")
    assert "LINE 1" not in str(err.value) and "\n" not in str(err.value)
