"""How long does a drift check take at millions of term rows? Prints medians.

`core.ops.drift` counts a version's words per distinct term with numpy (it once profiled
every term row token by token in Python: minutes on a 51.7M-row store). This script
measures the check on one synthetic store:

1. builds a scratch TOPICLAB_HOME (or reuses `--home`): dataset `big` v1 = the committed
   demo replicated `--copies` times (default 20, about 3.1M term rows), v2 = a drifted next
   month (`core.data.demo.generate(shift=0.6)`) replicated the same way (about 3.3M rows);
   a K=20 tomotopy model trained on one copy of v1 and scored on all of it, as promotion
   does (so its encoded counts of v1 are saved);
2. runs `drift.drift_report("big", 2, model)` `--repeats` times, each in a fresh process.
   A process's peak resident memory is its VmHWM, imports included.

Prints the median wall time of the whole check and of its two profiles, the peak memory
(`peak_mb`), and whether every run gave the same report (JSON text, so NaN compares
equal). The machines are shared: the figures are from this one run.

The per-row loop the table in docs/benchmarks.md compares with was kept here as a second
variant until the OOV share came to count the campaigns each word is in, which that loop
never did: its reports would differ, and its figures (32.8 s, 3.68 GB) are recorded there.
A test (`test_drift_word_counts_equal_a_row_by_row_count`) checks the counts against a plain
row-by-row count instead; `git show 4a55c97:bench/drift.py` has the loop.

    .venv/bin/python -m bench.drift [--copies 20] [--repeats 3] [--home DIR] [--json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd

REPO_ROOT = Path(__file__).resolve().parent.parent
K = 20
SHIFT = 0.6


def replicated(frame: pd.DataFrame, copies: int) -> pd.DataFrame:
    """`copies` copies of the rows, each with its own campaign ids."""
    parts = []
    for copy in range(copies):
        part = frame.copy()
        part["campaign_id"] = part["campaign_id"].astype(str) + f"-{copy}"
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def build(home: Path, copies: int) -> str:
    """Import `big` v1 and v2 and train the model; returns its id (kept in the home)."""
    from core.data import demo, ingest
    from core.model.corpus import Corpus
    from core.model.text import TextConfig
    from core.ops import train
    from core.serve import score

    marker = home / "bench-drift-model.txt"
    if marker.exists():
        return marker.read_text().strip()
    base = pd.read_parquet(demo.DEFAULT_PATH)
    folder = home / "bench-input"
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in (("v1.parquet", base),
                        ("v2.parquet", demo.generate(shift=SHIFT))):
        replicated(frame, copies).to_parquet(folder / name)
        ingest.import_paths([folder / name], "big")
    corpus = Corpus.from_frame(replicated(base, 1), TextConfig())
    result = train.train(train.TrainSpec(dataset="big", version=1, k=K,
                                         params={"iterations": 100}), corpus=corpus)
    score.score_dataset(result.model_id)
    marker.write_text(result.model_id)
    return result.model_id


def child(model_id: str) -> dict[str, Any]:
    """One timed drift check in this process (run by `main` in a fresh one)."""
    from core.ops import drift

    profiled, depth = [0.0], [0]

    def timed(profile):
        def run(*args: Any) -> dict[str, Any]:   # a profile within a profile counts once
            started = time.perf_counter()
            depth[0] += 1
            try:
                return profile(*args)
            finally:
                depth[0] -= 1
                if not depth[0]:
                    profiled[0] += time.perf_counter() - started
        return run

    drift._profile, drift._training_profile = (timed(drift._profile),
                                               timed(drift._training_profile))
    started = time.perf_counter()
    report = drift.drift_report("big", 2, model_id)
    seconds = time.perf_counter() - started
    text = json.dumps(report.to_dict(), sort_keys=True)
    return {"seconds": seconds, "profile_seconds": profiled[0],
            "peak_mb": peak_mb(),
            "report_sha1": hashlib.sha1(text.encode()).hexdigest(),
            "retrain": report.retrain_recommended, "new_terms": len(report.new_terms)}


def peak_mb() -> float:
    """Peak resident memory of this process: VmHWM, which a new program starts afresh.
    `getrusage`'s maxrss keeps the forking parent's size across exec (the bench parent
    holds GBs after building the store), so it is only the fallback off Linux."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--home", type=Path, help="a scratch home to build in or reuse")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO_ROOT))
    from core.data import auth, datasets

    auth.set_user(auth.User("bench", auth.DATA_SCIENTIST))
    if args.child:
        print(json.dumps(child(args.model)))
        return {}

    home = args.home or Path(tempfile.mkdtemp(prefix="topiclab-bench-drift-"))
    os.environ["TOPICLAB_HOME"] = str(home)
    started = time.perf_counter()
    model_id = build(home, args.copies)
    rows = {v: datasets.get("big", v).rows for v in (1, 2)}
    figures: dict[str, Any] = {"home": str(home), "rows_v1": rows[1], "rows_v2": rows[2],
                               "build_s": round(time.perf_counter() - started, 1),
                               "model": model_id, "runs": []}
    for _ in range(args.repeats):
        done = subprocess.run(
            [sys.executable, "-m", "bench.drift", "--child", "--model", model_id],
            cwd=REPO_ROOT, env={**os.environ, "TOPICLAB_HOME": str(home)},
            capture_output=True, text=True, check=True)
        figures["runs"].append(json.loads(done.stdout.strip().splitlines()[-1]))
    runs = figures["runs"]
    figures.update(
        median_s=round(statistics.median(r["seconds"] for r in runs), 2),
        median_profile_s=round(statistics.median(r["profile_seconds"] for r in runs), 2),
        peak_mb=round(max(r["peak_mb"] for r in runs)),
        same_report=len({r["report_sha1"] for r in runs}) == 1)
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        print(f"store {home}: big v1 {rows[1]:,} rows, v2 {rows[2]:,} rows; model {model_id}")
        print(f"drift check {figures['median_s']} s (profiles {figures['median_profile_s']} "
              f"s), peak {figures['peak_mb']} MB: medians of {args.repeats} runs; same "
              f"report: {figures['same_report']}")
    return figures


if __name__ == "__main__":
    main()
