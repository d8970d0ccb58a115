"""The case-insensitive campaign-id query of a miss (`datasets.campaign_case_hint`) at 100k
and 1M campaigns, 50 rows each, on a scratch DuckDB file: `python bench/case_hint.py FILE`
(the file is replaced; put it outside the clone)."""

from __future__ import annotations

import os
import sys
import time

import duckdb

ROWS_PER_CAMPAIGN = 50


def timed(con: duckdb.DuckDBPyConnection, table: str, where: str, params: list) -> str:
    """Best and worst of three runs of the hint's query for 'c0000042' (stored 'C0000042')."""
    sql = (f"SELECT DISTINCT campaign_id FROM {table} WHERE {where} AND "
           "lower(campaign_id) = lower(?) ORDER BY campaign_id LIMIT 3")
    runs = []
    for _ in range(3):
        started = time.perf_counter()
        found = con.execute(sql, [*params, "c0000042"]).fetchall()
        runs.append(time.perf_counter() - started)
    rows = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    return (f"{table} ({rows:,} rows): {min(runs) * 1000:.0f}-{max(runs) * 1000:.0f} ms "
            f"-> {found}")


def main(path: str) -> None:
    if os.path.exists(path):
        os.remove(path)
    con = duckdb.connect(path)
    con.execute("SET threads TO 2")
    for campaigns in (100_000, 1_000_000):
        con.execute("DROP TABLE IF EXISTS terms; DROP TABLE IF EXISTS fingerprints")
        con.execute(f"CREATE TABLE terms AS SELECT 'demo' AS dataset, 1 AS version, "
                    f"'C' || lpad(CAST(i // {ROWS_PER_CAMPAIGN} AS VARCHAR), 7, '0') AS "
                    f"campaign_id, 'term ' || (i % 977) AS term "
                    f"FROM range({campaigns * ROWS_PER_CAMPAIGN}) t(i) ORDER BY campaign_id")
        con.execute(f"CREATE TABLE fingerprints AS SELECT 'm1' AS model_id, "
                    f"'C' || lpad(CAST(i AS VARCHAR), 7, '0') AS campaign_id "
                    f"FROM range({campaigns}) t(i)")
        con.execute("CHECKPOINT")
        print(f"{campaigns:>9,} campaigns:",
              timed(con, "terms", "dataset = ? AND version = ?", ["demo", 1]), "|",
              timed(con, "fingerprints", "model_id = ?", ["m1"]))


if __name__ == "__main__":
    main(sys.argv[1])
