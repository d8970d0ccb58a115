"""The repeated-header check of a CSV import (`readers._without_repeated_header`) at 2M
rows (in Arrow), beside the Python pass over every row it replaced, best of three runs each; then,
with `--whole`, the whole read of the same 2M rows (`readers.read_bytes`).

    .venv/bin/python bench/read_csv.py [--rows N] [--whole]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import pyarrow as pa

from core.data import readers

HEADER = ["Keyword", "Campaign ID", "Clicks", "Impressions"]


def best_ms(fn) -> float:
    """The best of three runs of `fn`, in milliseconds (the machines are shared)."""
    runs = []
    for _ in range(3):
        started = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - started)
    return min(runs) * 1000


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--whole", action="store_true", help="also time the whole read")
    args = parser.parse_args(argv)
    rows = [[f"kw {i % 50_000}", f"C{i % 1_000}", str(i % 7), str(i % 100)]
            for i in range(args.rows)]
    lines = np.arange(2, args.rows + 2)
    columns = [pa.chunked_array([pa.array(cells, pa.large_string())])
               for cells in zip(*rows, strict=True)]
    layout = readers._Layout(name="big.csv", skip=0, delimiter=",", width=len(HEADER),
                             term_index=0, report=False, header_end=1)
    term = HEADER[0]
    python_pass = best_ms(lambda: [i for i, row in enumerate(rows)
                                   if row[0] == term and row == HEADER])
    check = best_ms(lambda: readers._without_repeated_header(columns, lines, HEADER, layout))
    print(f"{args.rows:,} rows: repeated-header check {check:.0f} ms "
          f"(the Python pass over every row it replaced: {python_pass:.0f} ms)")
    if args.whole:
        data = ("\n".join([",".join(HEADER), *(",".join(row) for row in rows)]) + "\n").encode()
        del rows, columns
        started = time.perf_counter()
        readers.read_bytes(data, "big.csv")
        print(f"whole read: {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
