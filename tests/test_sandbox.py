"""User SQL: reads work; every hostile statement fails clearly and changes nothing."""

from __future__ import annotations

import pytest

from core import sandbox, store
from core.errors import QueryError


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


@pytest.mark.parametrize("sql, needle", [
    ("SELECT * FROM read_csv('/etc/passwd')", "passwd"),
    ("SELECT * FROM read_text('/etc/hostname')", "hostname"),
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


def test_file_functions_inside_select_are_refused_by_the_connection(seeded):
    # A SELECT passes the statement check, so the connection itself must refuse files.
    with pytest.raises(QueryError, match="disabled"):
        sandbox.run_query("SELECT * FROM read_csv('/etc/passwd')")


def test_runaway_query_is_interrupted(seeded):
    with pytest.raises(QueryError, match="limit"):
        sandbox.run_query("SELECT count(*) FROM range(100000000) a, range(100000000) b",
                          timeout_s=0.5)
    assert store.table_counts() == seeded


def test_empty_and_unparsable(seeded):
    with pytest.raises(QueryError, match="empty"):
        sandbox.run_query("   ")
    with pytest.raises(QueryError, match="parsed"):
        sandbox.run_query("SELEC nonsense")


def test_examples_run(seeded):
    for title in sandbox.EXAMPLE_QUERIES:
        sandbox.run_query(sandbox.example_query(title, "demo", 1))
