"""How long does an Excel download take to read, beside the same rows as CSV?

    .venv/bin/python -m bench.read_workbook [--rows N] [--runs 3]

Writes the committed demo's term rows (its first N; all 157,107 by default) as a Google
Ads keyword report twice, as UTF-16 tab-separated CSV (the download as it comes) and as
.xlsx (`tests/workbook.py`: a part per worksheet, numbers as number cells), then reads
each with `readers.read_bytes` `--runs` times in this process and prints the file sizes,
the median wall and CPU seconds, and the ratio. Both give the same frame (checked).
"""

from __future__ import annotations

import argparse
import statistics
import time

import pandas as pd

from core.data import readers
from tests.conftest import DEMO_FILE
from tests.workbook import xlsx

COLUMNS = {"term": "Keyword", "campaign_id": "Campaign ID", "ad_group": "Ad group",
           "match_type": "Match type", "impressions": "Impr.", "clicks": "Clicks",
           "cost": "Cost", "conversions": "Conversions"}


def report_rows(rows: int) -> list[list[object]]:
    frame = pd.read_parquet(DEMO_FILE, columns=list(COLUMNS)).head(rows)
    body = frame.astype(object).where(frame.notna(), "").values.tolist()
    return [["Search keyword report"], ["May 1, 2024"], list(COLUMNS.values()), *body]


def timed(data: bytes, name: str, runs: int) -> tuple[float, float, pd.DataFrame]:
    walls, cpus, frame = [], [], None
    for _ in range(runs):
        wall, cpu = time.perf_counter(), time.process_time()
        frame = readers.read_bytes(data, name).frame
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus), frame


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    rows = report_rows(args.rows or 10**9)
    text = "\n".join("\t".join(str(cell) for cell in row) for row in rows) + "\n"
    files = {"report.csv": text.encode("utf-16"), "report.xlsx": xlsx({"Report": rows})}
    print(f"{len(rows) - 3:,} term rows")
    print("| file | MB | wall s | CPU s |")
    print("|---|---|---|---|")
    results = {}
    for name, data in files.items():
        wall, cpu, frame = timed(data, name, args.runs)
        results[name] = (wall, cpu, frame.drop(columns="source_file"))
        print(f"| {name} | {len(data) / 2**20:.1f} | {wall:.2f} | {cpu:.2f} |", flush=True)
    pd.testing.assert_frame_equal(results["report.csv"][2], results["report.xlsx"][2])
    print(f"xlsx / csv: wall {results['report.xlsx'][0] / results['report.csv'][0]:.1f}x, "
          f"CPU {results['report.xlsx'][1] / results['report.csv'][1]:.1f}x (same frame)")


if __name__ == "__main__":
    main()
