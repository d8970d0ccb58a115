"""Scale-out: local engines vs Spark on one large synthetic corpus. Prints a table of figures.

Designed for the 1,000,000-campaign case (`--campaigns`, default 1,000,000; about 50M term
rows), in one run and a temporary TOPICLAB_HOME:

1. generate (`core.data.demo.generate`) and import the corpus;
2. train tomotopy on a `--sample` of campaigns (default 100,000) and Spark online LDA
   (`--engine spark`, `--master`, default local[2]) on the whole set, both K=50, and report
   each model's NPMI and diversity (measured on the 20,000-campaign metrics sample);
3. batch-score every campaign with the Spark model, locally (`core.serve.score`) and in Spark
   (`core.ops.spark_engine.score`), and check the two agree;
4. write Lookup's term rows to disk (`core.data.term_file`, once per dataset version);
5. Lookup on each model: load time, stored-neighbour p95, pasted-keyword p95
   (`bench/lookup.py`'s measurement), and label precision@10 on `--queries` random
   campaigns (the demo's vertical is the label).

Every step prints wall time, CPU seconds of this process and its descendants (Spark's
JVM and Python workers, with the children they reaped), peak memory of this process and
its children sampled every 0.2 s (and at the peak, resident and anonymous memory of this
process, the Spark JVM and its Python workers: mapped files count as resident but can be
dropped), and campaigns/s.
`total_s` and `peak_gb` are the target's pipeline: import, Spark start, Spark training
and Spark scoring. The machines are shared: a figure is from this one run. Do not run
the 1M case on a busy shared machine.

    .venv/bin/python bench/scale.py [--campaigns N] [--sample N] [--master URL] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

K = 50
SEED = 0
TARGETS = {"total_s": ("<=", 1800.0), "peak_gb": ("<=", 8.0),
           "stored_p95_ms": ("<=", 50.0), "pasted_p95_ms": ("<=", 100.0)}


class PeakMemory:
    """Peak resident memory of this process and all its descendants, sampled in a thread;
    `parts` says which processes held it at the peak (`tree_parts`)."""

    def __init__(self, every_s: float = 0.2) -> None:
        self.every_s, self.peak, self._stop = every_s, 0, threading.Event()
        self.parts: dict[str, float] = {}
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            parts = tree_parts(os.getpid())
            total = sum(rss for rss, _ in parts.values())
            if total > self.peak:
                self.peak = total
                self.parts = {f"{name} {kind}": round(value / 2**30, 2)
                              for name, (rss, anon) in parts.items()
                              for kind, value in (("rss", rss), ("anon", anon))}
            self._stop.wait(self.every_s)


def tree(pid: int) -> list[int]:
    """A process and its live descendants (Spark's JVM and its Python workers)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) of a process and its live descendants, with the
    children each has reaped: the JVM's and its Python workers' work is not in this
    process's own CPU time, so a Spark step's `process_time` alone says nothing."""
    ticks = 0
    for current in tree(pid):
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile
        ticks += sum(int(v) for v in fields[11:15])  # utime stime cutime cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def tree_parts(pid: int) -> dict[str, tuple[int, int]]:
    """(resident, anonymous) bytes of a process and its descendants by kind: this process
    ("driver"), Java (Spark's JVM), other Python processes (Spark's workers), the rest.
    Resident includes mapped files (Lookup's term rows), which the kernel can drop;
    anonymous memory is what the processes need."""
    parts: dict[str, tuple[int, int]] = {}
    for current in tree(pid):
        try:
            status = dict(line.split(":", 1) for line in
                          Path(f"/proc/{current}/status").read_text().splitlines())
            name = status["Name"].strip()
        except (OSError, KeyError, ValueError):
            continue
        kb = {k: int(status.get(k, "0 kB").split()[0]) * 1024 for k in ("VmRSS", "RssAnon")}
        kind = ("driver" if current == pid else "jvm" if name == "java"
                else "python workers" if name.startswith("python") else "other")
        rss, anon = parts.get(kind, (0, 0))
        parts[kind] = (rss + kb["VmRSS"], anon + kb["RssAnon"])
    return parts


def step(figures: dict, name: str, fn: Callable[[], object], campaigns: int | None = None):
    """Run one step, record seconds, CPU seconds of the process tree, peak GB and
    campaigns/s under `name`."""
    with PeakMemory() as memory:
        started, cpu_started = time.perf_counter(), tree_cpu_seconds(os.getpid())
        result = fn()
        took = time.perf_counter() - started
        cpu = tree_cpu_seconds(os.getpid()) - cpu_started
    figures[name] = {"seconds": round(took, 1), "cpu_s": round(cpu, 1),
                     "peak_gb": round(memory.peak / 2**30, 2),
                     "campaigns_per_s": round(campaigns / took, 1) if campaigns else None,
                     "peak_parts_gb": memory.parts}
    print(f"{name}: {figures[name]}", flush=True)
    return result


def label_precision_at_10(model_id: str, queries: int) -> tuple[float, dict]:
    """Precision@10 of the label among a model's stored neighbours, and the Lookup figures
    (load, stored-neighbour and pasted-keyword latencies) from bench/lookup.py."""
    from bench.lookup import bench_load, bench_queries
    from core.model.neighbors import label_precision

    lookup_figures: dict = {}
    lookup = bench_load(model_id, lookup_figures, compare_encode=False)
    bench_queries(lookup, queries, lookup_figures)
    labels = lookup.campaigns["label"].reindex(lookup.index.ids_)  # indexed by campaign id
    rng = np.random.default_rng(SEED)
    positions = rng.choice(len(labels), size=min(queries, len(labels)), replace=False)
    return label_precision(lookup.index, labels.tolist(), 10, positions), lookup_figures


def run(args: argparse.Namespace) -> dict:
    from core.data import auth, datasets, demo, ingest, term_file
    from core.model import actions, spark_session
    from core.model.corpus import Corpus
    from core.ops import spark_engine, train
    from core.serve import registry, score

    auth.set_user(auth.local_user())  # core refuses work for which nobody is named

    figures: dict = {"campaigns": args.campaigns, "k": K, "master": args.master,
                     "tomotopy_sample": min(args.sample, args.campaigns)}
    home = Path(os.environ["TOPICLAB_HOME"])
    paths, figures["term_rows"] = step(figures, "generate",
                                       lambda: generate_parts(demo, args, home))
    step(figures, "import", lambda: ingest.import_paths(paths, "scale"), args.campaigns)
    sample_frame = sample_rows(paths, args)

    def train_tomotopy(rows):
        corpus = Corpus.from_frame(rows, train.TextConfig())
        spec = train.TrainSpec(dataset="scale", k=K, params={"iterations": args.iterations})
        return train.train(spec, corpus=corpus)

    local = step(figures, "train_tomotopy_sample", partial(train_tomotopy, sample_frame),
                 figures["tomotopy_sample"])
    del sample_frame
    spark_spec = train.TrainSpec(dataset="scale", engine="spark", k=K,
                                 params={"master": args.master,
                                         "iterations": args.spark_iterations,
                                         "subsampling_rate": args.subsampling_rate,
                                         **({"batch_documents": args.batch_documents}
                                            if args.batch_documents else {})})
    step(figures, "spark_start", lambda: spark_session.get(args.master))
    spark = step(figures, "train_spark_all", lambda: train.train(spark_spec), args.campaigns)
    for name, result in (("tomotopy", local), ("spark", spark)):
        figures[f"{name}_npmi"] = round(result.metrics["npmi"], 4)
        figures[f"{name}_diversity"] = round(result.metrics["diversity"], 3)
    figures["spark_train_timings"] = {k: round(v, 1) for k, v in spark.timings.items()}
    print({k: v for k, v in figures.items() if k.startswith(("tomotopy_", "spark_"))},
          flush=True)  # printed as soon as known: a later step may fail

    in_spark = step(figures, "score_spark",
                    lambda: spark_engine.score(spark.model_id, master=args.master),
                    args.campaigns)
    figures["score_spark_timings"] = in_spark.timings
    spark_weights = score.load_fingerprints(spark.model_id).weights.copy()
    step(figures, "score_local", lambda: score.score_dataset(spark.model_id), args.campaigns)
    figures["score_max_abs_difference"] = float(
        np.abs(score.load_fingerprints(spark.model_id).weights - spark_weights).max())
    print(f"score_max_abs_difference: {figures['score_max_abs_difference']}", flush=True)
    del spark_weights
    figures["score_overtake"] = overtake(figures)
    print(f"score_overtake: {figures['score_overtake']}", flush=True)
    # The tomotopy model's fingerprints of all 1M, for its Lookup and p@10. It was trained on
    # a sample, so it has no counts of the others: scoring encodes every row (and keeps them).
    step(figures, "score_local_tomotopy", lambda: score.score_dataset(local.model_id),
         args.campaigns)
    registry.set_alias("production", spark.model_id)
    spark_session.stop()  # Lookup runs in the app or the service, not beside Spark's JVM

    # Lookup's term rows on disk, written once per dataset version (`core.data.term_file`)
    step(figures, "term_rows_file", lambda: term_file.open_term_file(
        "scale", datasets.get("scale").version, actions.ROW_COLUMNS), args.campaigns)
    for name, model_id in (("spark", spark.model_id), ("tomotopy", local.model_id)):
        precision, lookup_figures = step(
            figures, f"lookup_{name}", partial(label_precision_at_10, model_id, args.queries))
        figures[f"{name}_label_p@10"] = round(precision, 3)
        if name == "spark":
            figures["lookup_load_s"] = round(lookup_figures["lookup_load_s"], 2)
            figures["stored_p95_ms"] = round(lookup_figures["neighbors_p95_ms"], 1)
            figures["pasted_p95_ms"] = round(lookup_figures["keywords_p95_ms"], 1)
    # The target's pipeline: import, train and score all 1M (not the comparisons beside it).
    steps = ("import", "spark_start", "train_spark_all", "score_spark")
    figures["total_s"] = round(sum(figures[s]["seconds"] for s in steps), 1)
    figures["peak_gb"] = max(figures[s]["peak_gb"] for s in steps)
    # Lookup's own need: its process's anonymous memory (its resident size also counts
    # the pages of the mapped term rows it touched, which the kernel can drop, and the
    # benchmark's idle Spark JVM, which a Lookup in the app or the service does not have).
    figures["lookup_anon_gb"] = max(figures[f"lookup_{name}"]["peak_parts_gb"]["driver anon"]
                                    for name in ("spark", "tomotopy"))
    return figures


def generate_parts(demo, args: argparse.Namespace, home: Path) -> tuple[list[Path], int]:
    """Write the demo corpus as Parquet parts of `--chunk` campaigns (part i from seed
    SEED + i, its ids prefixed "P{i}-"), without planted problems (planting grows faster
    than the corpus), so no step holds more than one part. Returns the paths and the
    number of term rows."""
    paths, rows = [], 0
    parts = -(-args.campaigns // args.chunk)
    for part in range(parts):
        n = min(args.chunk, args.campaigns - part * args.chunk)
        path = (args.parts or home) / f"campaigns-{part:03d}.parquet"
        if args.parts and path.exists():  # generated by an earlier run with the same sizes
            rows += pq.ParquetFile(path).metadata.num_rows
        else:
            frame = demo.generate(n, SEED + part, plant=False)
            if parts > 1:
                frame["campaign_id"] = f"P{part}-" + frame["campaign_id"]
            frame.to_parquet(path, index=False)
            rows += len(frame)
        paths.append(path)
    return paths, rows


def sample_rows(paths: list[Path], args: argparse.Namespace) -> pd.DataFrame:
    """The term rows of the `--sample` campaigns tomotopy trains on: the same share of
    every part, read after the import so that the import's peak is the product's own."""
    samples = []
    for path in paths:
        frame = pd.read_parquet(path)
        ids = frame["campaign_id"].drop_duplicates()
        keep = ids.sample(n=round(min(args.sample, args.campaigns) * len(ids) / args.campaigns),
                          random_state=SEED)
        samples.append(frame[frame["campaign_id"].isin(keep)])
        del frame
    return pd.concat(samples, ignore_index=True)


def overtake(figures: dict) -> str:
    """Where Spark scoring overtakes local scoring, from this run's two rates: Spark's
    fixed cost per job (scheduling, Python workers) against its per-campaign rate."""
    n = figures["campaigns"]
    spark_s, local_s = figures["score_spark"]["seconds"], figures["score_local"]["seconds"]
    folded = figures["score_spark_timings"].get("fold_in", spark_s)
    fixed = max(0.0, spark_s - folded)  # reading counts' metadata, broadcast, the write
    if spark_s <= local_s:
        return f"already at {n:,} campaigns (Spark {spark_s:.1f} s, local {local_s:.1f} s)"
    return (f"not on this machine at {n:,} campaigns: Spark {spark_s:.1f} s "
            f"({fixed:.1f} s outside the fold-in job), local {local_s:.1f} s, "
            f"ratio {spark_s / local_s:.2f}; with the same cores both are bound by the same "
            "numpy fold-in, so Spark overtakes only with more cores than one machine has "
            f"(at this ratio, from {spark_s / local_s:.1f}x the cores)")


def print_table(figures: dict) -> None:
    print(f"\n{figures['campaigns']:,} campaigns ({figures['term_rows']:,} term rows), "
          f"K={K}, Spark master {figures['master']}")
    print(f"{'step':<24}{'seconds':>10}{'cpu s':>10}{'peak GB':>10}{'campaigns/s':>14}")
    for name, value in figures.items():
        if isinstance(value, dict) and "seconds" in value:
            rate = value["campaigns_per_s"]
            print(f"{name:<24}{value['seconds']:>10.1f}{value['cpu_s']:>10.1f}"
                  f"{value['peak_gb']:>10.2f}"
                  f"{'' if rate is None else f'{rate:,.0f}':>14}")
    for name in ("tomotopy_npmi", "spark_npmi", "tomotopy_diversity", "spark_diversity",
                 "tomotopy_label_p@10", "spark_label_p@10", "score_max_abs_difference",
                 "lookup_load_s", "stored_p95_ms", "pasted_p95_ms", "lookup_anon_gb", "total_s",
                 "peak_gb", "score_overtake"):
        mark = ""
        if name not in figures:
            continue
        if name in TARGETS:
            op, target = TARGETS[name]
            ok = figures[name] <= target if op == "<=" else figures[name] >= target
            mark = f"  (target {op} {target:g}: {'met' if ok else 'MISSED'})"
        print(f"{name:<28}{figures[name]}{mark}")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--campaigns", type=int, default=1_000_000)
    parser.add_argument("--sample", type=int, default=100_000,
                        help="campaigns tomotopy trains on")
    parser.add_argument("--iterations", type=int, default=200, help="tomotopy Gibbs iterations")
    parser.add_argument("--spark-iterations", type=int, default=15)
    parser.add_argument("--subsampling-rate", type=float, default=1.0)
    parser.add_argument("--batch-documents", type=int, default=None,
                        help="Spark mini-batch cap (default: the engine's)")
    parser.add_argument("--chunk", type=int, default=100_000,
                        help="campaigns generated and written at a time")
    parser.add_argument("--parts", type=Path, default=None,
                        help="keep the generated Parquet parts in this folder and reuse "
                             "them on the next run with the same --campaigns and --chunk")
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="topiclab-scale-") as home:
        os.environ["TOPICLAB_HOME"] = home
        figures = run(args)
    print_table(figures)
    if args.json:
        print(json.dumps(figures, indent=2, default=str))
    return figures


if __name__ == "__main__":
    main()
