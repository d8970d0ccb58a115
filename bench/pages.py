"""How long does each page take to redraw? Prints a table: rerun time and store opens.

Every click in the app reruns the page's script, so a page's rerun time is what its user
waits for after each click. One run, under Streamlit's AppTest, on a store given with
`--home` (default: a new demo store that `python -m core init` builds in a temporary
folder, as `make run` does). Each page is opened once (its first run fills the caches),
then rerun `--reruns` times unchanged; the table gives the median rerun and how many
DuckDB connections one rerun opened (`bench/store_open.py` measures what one costs).

    .venv/bin/python -m bench.pages [--home DIR] [--reruns 5] [--pages lookup compare …]

Medians come from this one run; the machines are shared, so absolute figures move with
the load.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
PAGES = ["home", "lookup", "map", "explore", "train", "compare", "topics", "ab", "monitor",
         "review", "audit"]


def demo_home() -> Path:
    """A new store with the demo corpus and a production model (`python -m core init`)."""
    home = Path(tempfile.mkdtemp(prefix="topiclab-bench-pages-"))
    print(f"building a demo store in {home} (python -m core init)…", flush=True)
    subprocess.run([sys.executable, "-m", "core", "init"], cwd=REPO_ROOT, check=True,
                   env={**os.environ, "TOPICLAB_HOME": str(home)}, stdout=subprocess.DEVNULL)
    return home


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, help="a store to measure (default: a new demo one)")
    parser.add_argument("--reruns", type=int, default=5)
    parser.add_argument("--pages", nargs="+", default=PAGES, choices=PAGES)
    args = parser.parse_args()
    os.environ["TOPICLAB_HOME"] = str(args.home or demo_home())
    sys.path.insert(0, str(REPO_ROOT))
    os.chdir(REPO_ROOT)  # pages are referenced relative to the app's folder

    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from core.data import store

    opened = [0]
    open_store = store._open

    def counted(*a, **k):
        opened[0] += 1
        return open_store(*a, **k)

    store._open = counted
    print(f"| page | first run | rerun (median of {args.reruns}) | store opens per rerun |")
    print("|---|---:|---:|---:|")
    for name in args.pages:
        st.cache_data.clear()
        st.cache_resource.clear()
        at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=600)
        at.switch_page(f"app_pages/{name}.py")
        started = time.perf_counter()
        at.run()
        first = time.perf_counter() - started
        if at.exception:
            raise SystemExit(f"{name}: {[e.value for e in at.exception]}")
        times, opens = [], []
        for _ in range(args.reruns):
            opened[0] = 0
            started = time.perf_counter()
            at.run()
            times.append(time.perf_counter() - started)
            opens.append(opened[0])
        print(f"| {name} | {first:.2f} s | {statistics.median(times):.2f} s | "
              f"{statistics.median(opens):g} |", flush=True)


if __name__ == "__main__":
    main()
