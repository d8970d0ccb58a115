"""How long does a drift check take at millions of term rows? Prints medians before and after.

`core.ops.drift` profiled the words of every term row in a per-row, per-token Python loop
(minutes on a 51.7M-row store); it now counts them per distinct term with numpy. This
script measures both on one synthetic store, in one run:

1. builds a scratch TOPICLAB_HOME (or reuses `--home`): dataset `big` v1 = the committed
   demo replicated `--copies` times (default 20, about 3.1M term rows), v2 = a drifted next
   month (`core.data.demo.generate(shift=0.6)`) replicated the same way (about 3.3M rows);
   a K=20 tomotopy model trained on one copy of v1 and scored on all of it, as promotion
   does (so its encoded counts of v1 are saved);
2. runs `drift.drift_report("big", 2, model)` `--repeats` times per variant, the variants
   interleaved, each run in a fresh process. "loop" is the check as it was (kept below:
   `loop_profile` over every column of both versions, batch by batch), "vectorised" the
   current one (words counted per distinct term; the training version's by one DuckDB
   GROUP BY). A process's peak resident memory is its VmHWM, imports included.

Prints the median wall time of the whole check and of its two profiles per variant, their
ratio, the peak memory (`peak_mb`), and whether both variants gave the same report (JSON
text, so NaN compares equal). The machines are shared: the figures are from this one run.

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
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

REPO_ROOT = Path(__file__).resolve().parent.parent
VARIANTS = ("loop", "vectorised")
K = 20
SHIFT = 0.6


def loop_profile(model, batches: Iterable[pd.DataFrame], counts=None) -> dict[str, Any]:
    """`core.ops.drift._profile` as it was before it was vectorised (commit 20990e1)."""
    tokenizer = model.encoder.tokenizer
    vocabulary = model.encoder.dictionary.token2id
    total = unknown_count = 0
    token_volume: Counter[str] = Counter()
    token_rows: Counter[str] = Counter()
    ids: list[str] = []
    parts = []
    for terms in batches:
        terms = terms[terms["term"].notna()]
        if counts is None:
            batch_ids, bows, _ = model.encoder.encode_frame(terms, as_matrix=True)
            ids += batch_ids
            parts.append(model.engine.transform(bows))
        unique_terms = terms["term"].astype(str).unique().tolist()
        per_term = dict(zip(unique_terms, tokenizer.tokenize_terms(unique_terms), strict=True))
        volume = (pd.to_numeric(terms.get("impressions"), errors="coerce").fillna(0)
                  if "impressions" in terms else pd.Series(0, index=terms.index))
        for term, vol in zip(terms["term"].astype(str), volume, strict=True):
            for token in per_term[term]:
                total += 1
                unknown_count += token not in vocabulary
                token_volume[token] += float(vol)
                token_rows[token] += 1
    if counts is not None:
        ids, parts = counts.campaign_ids, [model.engine.transform(counts.matrix)]
    fingerprints = np.vstack(parts)
    confidence = fingerprints.max(axis=1)
    return {"oov_share": unknown_count / total if total else 1.0,
            "mean_fingerprint": fingerprints.mean(axis=0), "confidence": confidence,
            "token_volume": token_volume, "token_rows": token_rows, "campaigns": len(ids)}


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


def child(variant: str, model_id: str) -> dict[str, Any]:
    """One timed drift check in this process (run by `main` in a fresh one)."""
    from core.data import datasets
    from core.ops import drift
    from core.serve import registry

    if variant == "loop":
        every_column = datasets.term_batches

        def training_profile(model_id: str, model) -> dict[str, Any]:
            trained_on = model.manifest["dataset"]
            return loop_profile(model, every_column(trained_on["name"],
                                                    int(trained_on["version"])),
                                registry.encoded_counts(model_id))

        drift._profile, drift._training_profile = loop_profile, training_profile
        datasets.term_batches = lambda name, version, columns=None: every_column(name, version)
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
    return {"variant": variant, "seconds": seconds, "profile_seconds": profiled[0],
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
    parser.add_argument("--child", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO_ROOT))
    from core.data import auth, datasets

    auth.set_user(auth.User("bench", auth.DATA_SCIENTIST))
    if args.child:
        print(json.dumps(child(args.child, args.model)))
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
        for variant in VARIANTS:
            done = subprocess.run(
                [sys.executable, "-m", "bench.drift", "--child", variant, "--model", model_id],
                cwd=REPO_ROOT, env={**os.environ, "TOPICLAB_HOME": str(home)},
                capture_output=True, text=True, check=True)
            figures["runs"].append(json.loads(done.stdout.strip().splitlines()[-1]))
    for variant in VARIANTS:
        runs = [r for r in figures["runs"] if r["variant"] == variant]
        figures[variant] = {
            "median_s": round(statistics.median(r["seconds"] for r in runs), 2),
            "median_profile_s": round(statistics.median(r["profile_seconds"] for r in runs), 2),
            "peak_mb": round(max(r["peak_mb"] for r in runs)),
        }
    figures["speedup"] = round(figures["loop"]["median_s"] / figures["vectorised"]["median_s"], 2)
    figures["profile_speedup"] = round(figures["loop"]["median_profile_s"]
                                       / figures["vectorised"]["median_profile_s"], 2)
    figures["same_report"] = len({r["report_sha1"] for r in figures["runs"]}) == 1
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        print(f"store {home}: big v1 {rows[1]:,} rows, v2 {rows[2]:,} rows; model {model_id}")
        print(f"{'variant':<11} {'drift check s':>14} {'profiles s':>11} {'peak MB':>8}")
        for variant in VARIANTS:
            f = figures[variant]
            print(f"{variant:<11} {f['median_s']:>14} {f['median_profile_s']:>11} "
                  f"{f['peak_mb']:>8}")
        print(f"medians of {args.repeats} runs each; loop / vectorised: "
              f"{figures['speedup']}x (check), {figures['profile_speedup']}x (profiles); "
              f"same report: {figures['same_report']}")
    return figures


if __name__ == "__main__":
    main()
