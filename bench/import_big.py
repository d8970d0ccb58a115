"""An import of one big keyword CSV end to end, and per step, with its peak memory.

1. writes `--rows` rows (default 2M, about 140 MB) of a Google Ads-like keyword file to
   `--file` unless it exists (never commit it: put it in a scratch folder);
2. imports it `--repeats` times, each in a fresh process with its own scratch store, and
   prints the median wall and CPU time of the whole import, the CPU time of its steps
   (decoding, the CSV parse and row checks `readers._rows_at_once`, the rest of the
   delimited read, the cleaning `readers._canonical_frame` and the transaction
   `ingest._store`; CPU, since wall time on a shared machine is mostly waiting), and the
   peak resident memory (VmHWM) beside the file's size.

The machines are shared: run it niced, one at a time, and compare medians of
interleaved runs (`--label` names a run in the JSON lines it prints).

    nice .venv/bin/python -m bench.import_big --file /scratch/big.csv [--rows N] [--repeats 3]
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
HEADER = "Keyword,Campaign ID,Campaign,Ad group,Match type,Clicks,Impr.,Cost,Conversions\n"
STEPS = ("decode", "rows_at_once", "read_delimited", "canonical_frame", "store")


def write_file(path: Path, rows: int) -> None:
    """`rows` keyword rows of 20,000 campaigns, three words each from 5,000, fixed seed."""
    rng = np.random.default_rng(0)
    words = np.array([f"w{i}" for i in range(5000)], dtype=object)
    kw = rng.integers(0, 5000, size=(rows, 3))
    campaign = rng.integers(0, 20_000, size=rows)
    clicks = rng.integers(0, 50, size=rows)
    impressions = clicks * 10 + rng.integers(0, 100, size=rows)
    cost = np.round(clicks * rng.random(rows) * 3, 2)
    match = np.array(["Exact match", "Phrase match", "Broad match"])[rng.integers(0, 3, rows)]
    with path.open("w") as out:
        out.write(HEADER)
        for start in range(0, rows, 100_000):
            part = slice(start, start + 100_000)
            terms = words[kw[part, 0]] + " " + words[kw[part, 1]] + " " + words[kw[part, 2]]
            out.writelines(
                f"{t},{c},Campaign {c},AG {c % 97},{m},{k},{i},{s},{k % 3}\n"
                for t, c, m, k, i, s in zip(terms, campaign[part], match[part], clicks[part],
                                            impressions[part], cost[part], strict=True))


def peak_mb() -> float:
    """This process's peak resident memory (VmHWM, which a new program starts afresh)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def child(path: Path) -> dict[str, Any]:
    """One import of `path` into the scratch store of TOPICLAB_HOME, timed per step."""
    from core.data import auth, ingest, readers

    spent = dict.fromkeys(STEPS, 0.0)
    peaks: dict[str, float] = {}

    def timed(module, attribute: str, step: str) -> None:
        original = getattr(module, attribute)

        @functools.wraps(original)
        def run(*args, **kwargs):
            started = time.process_time()
            try:
                return original(*args, **kwargs)
            finally:
                spent[step] += time.process_time() - started
                peaks[step] = peak_mb()  # the peak so far: where it grows is the step's
        setattr(module, attribute, run)

    timed(readers, "_decode", "decode")
    timed(readers, "_rows_at_once", "rows_at_once")
    timed(readers, "_read_delimited", "read_delimited")
    timed(readers, "_canonical_frame", "canonical_frame")
    timed(ingest, "_store", "store")
    auth.set_user(auth.local_user())
    started, cpu = time.perf_counter(), time.process_time()
    summary = ingest.import_paths([path], "big")
    total, cpu = time.perf_counter() - started, time.process_time() - cpu
    spent["read_delimited"] -= spent["rows_at_once"]  # the rest of the delimited read
    return {"seconds": total, "cpu_seconds": cpu, **spent, "peak_mb": peak_mb(),
            "peak_mb_by_step": peaks, "rows": summary.rows, "hash": summary.content_hash}


def run_once(path: Path) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="import-big-", dir=path.parent) as home:
        env = {**os.environ, "TOPICLAB_HOME": home,
               "TOPICLAB_MAX_UPLOAD_MB": str(path.stat().st_size // 2**20 + 100)}
        done = subprocess.run([sys.executable, "-m", "bench.import_big", "--child", str(path)],
                              cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                              check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", type=Path, required=False)
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--label", default="")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child)))
        return
    if args.file is None:
        parser.error("--file is required")
    if not args.file.exists():
        write_file(args.file, args.rows)
    runs = []
    for _ in range(args.repeats):
        runs.append(run_once(args.file))
        print(json.dumps({"label": args.label, **runs[-1]}), flush=True)
    size_mb = args.file.stat().st_size / 2**20
    medians = {key: statistics.median(run[key] for run in runs)
               for key in ("seconds", "cpu_seconds", *STEPS, "peak_mb")}
    steps = ", ".join(f"{step} {medians[step]:.1f}" for step in STEPS)
    print(f"{args.label or args.file.name}: {runs[0]['rows']:,} rows, {size_mb:.0f} MB: import "
          f"{medians['seconds']:.1f} s, CPU {medians['cpu_seconds']:.1f} s ({steps} s); peak "
          f"{medians['peak_mb']:,.0f} MB = "
          f"{medians['peak_mb'] / size_mb:.1f}x the file (medians of {len(runs)})")


if __name__ == "__main__":
    main()
