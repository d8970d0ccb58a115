"""How long does one short-lived store connection take?

Every store operation opens a connection and ends it (`core.data.store.connect`), so the
app's reruns, a model load and every CLI command pay this many times over. Prints the
median of `--rounds` connections that run one small query, read-only and read-write, on
the store in TOPICLAB_HOME (e.g. the demo store of `python -m core init`), taking turns
with the way before stop 49 (a DuckDB instance of the file's own per connection,
`duckdb.connect(path)`), so both come from one session on the same load of a shared
machine.

    TOPICLAB_HOME=... .venv/bin/python -m bench.store_open [--rounds 200] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import duckdb

from core import config
from core.data import store

QUERY = "SELECT count(*) FROM meta"


def attached(read_only: bool) -> None:
    with store.connect(read_only=read_only) as con:
        con.execute(QUERY).fetchall()


def own_instance(read_only: bool) -> None:
    con = duckdb.connect(str(config.db_path()), read_only=read_only,
                         config={"memory_limit": f"{config.store_memory_mb()}MB"})
    try:
        con.execute(QUERY).fetchall()
    finally:
        con.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    store.ensure_schema()
    ways = {"attached": attached, "own instance": own_instance}
    times: dict[str, list[float]] = {f"{way}, {mode}": [] for way in ways
                                     for mode in ("read-only", "read-write")}
    for _ in range(args.rounds):            # interleaved: the machine's load hits both alike
        for way, run in ways.items():
            for mode in ("read-only", "read-write"):
                start = time.perf_counter()
                run(mode == "read-only")
                times[f"{way}, {mode}"].append(time.perf_counter() - start)
    medians = {name: round(statistics.median(t) * 1000, 2) for name, t in times.items()}
    if args.json:
        print(json.dumps({"median_ms": medians, "rounds": args.rounds}))
        return
    print(f"store {config.db_path()}, {args.rounds} connections each, median ms:")
    for name, ms in medians.items():
        print(f"  {name:28s} {ms:6.2f}")


if __name__ == "__main__":
    main()
