"""User SQL over the store, on a connection that cannot change it or leave it.

Three layers, each enough on its own for the common attacks: only single read
statements are accepted; the connection is read-only with external access off and
its configuration locked (no files, no ATTACH, no INSTALL/LOAD, no SET); and a timer
interrupts a runaway query. Results are capped at a row limit.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import duckdb
import pandas as pd

from core import config, store
from core.errors import QueryError

_ALLOWED = {
    duckdb.StatementType.SELECT: "SELECT",
    duckdb.StatementType.EXPLAIN: "EXPLAIN",
}

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


@dataclass(frozen=True)
class QueryResult:
    frame: pd.DataFrame
    truncated: bool
    seconds: float
    row_cap: int


def _check_statement(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    if not sql or not sql.strip():
        raise QueryError("The query is empty: write a SELECT statement.")
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as err:
        raise QueryError(f"The query could not be parsed: {err}") from err
    if len(statements) != 1:
        raise QueryError(
            f"Run one statement at a time; this text holds {len(statements)} statements."
        )
    kind = statements[0].type
    if kind not in _ALLOWED:
        name = statements[0].query.split(None, 1)[0].upper()
        raise QueryError(
            f"Only read queries (SELECT, WITH … SELECT, EXPLAIN) are allowed here; "
            f"this is a {name} statement. The store cannot be changed from the SQL editor."
        )


def run_query(sql: str, *, row_cap: int | None = None,
              timeout_s: float | None = None) -> QueryResult:
    """Run one read-only statement with a row cap and a time limit."""
    row_cap = row_cap or config.sql_row_cap()
    timeout_s = timeout_s if timeout_s is not None else config.sql_timeout_s()
    with store.connect(read_only=True) as con:
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
        _check_statement(con, sql)
        timer = threading.Timer(timeout_s, con.interrupt)
        started = time.perf_counter()
        timer.start()
        try:
            cursor = con.execute(sql)
            columns = [d[0] for d in cursor.description or []]
            rows = cursor.fetchmany(row_cap + 1)
        except duckdb.InterruptException as err:
            raise QueryError(
                f"The query ran longer than the {timeout_s:g} s limit and was stopped."
            ) from err
        except duckdb.Error as err:
            message = str(err).split("\n")[0]
            raise QueryError(f"The query failed: {message}") from err
        finally:
            timer.cancel()
        seconds = time.perf_counter() - started
    truncated = len(rows) > row_cap
    frame = pd.DataFrame(rows[:row_cap], columns=_unique(columns))
    return QueryResult(frame=frame, truncated=truncated, seconds=seconds, row_cap=row_cap)


def _unique(columns: list[str]) -> list[str]:
    """pandas and Arrow need distinct column names; `SELECT 1, 1` gives two '1's."""
    seen: dict[str, int] = {}
    out = []
    for name in columns:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name}_{seen[name]}")
    return out
