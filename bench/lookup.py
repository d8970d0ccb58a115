"""How fast is campaign lookup at scale? Prints a table of figures beside their targets.

One run, on a synthetic corpus of `--campaigns` campaigns (`core.data.demo.generate`, default
100,000 campaigns, about 5M term rows; `--quick` = 10,000) in a temporary TOPICLAB_HOME:

1. import (`core.data.ingest.import_paths` of a Parquet file) and training of a K=50 tomotopy
   model (`core.ops.train.train`, `--iterations` Gibbs iterations, default 20: training speed
   is not a target here, and the timings include the model's metrics);
2. batch scoring throughput of `core.serve.score.score_dataset`, with its breakdown (read the
   term rows, tokenise + encode, fold-in, write to DuckDB) — target >= 5,000 campaigns/s;
3. `Lookup(...)` load time (one-off) with the encoded counts saved at training time and,
   in the same run, without them (encoding the term rows again, as before), medians of 3
   interleaved loads — target >= 3x faster; then the latency of `Lookup.neighbors` (target p95
   <= 50 ms) and of the full `Lookup.campaign` (neighbours + actions; no target, the
   issue named the neighbour query) for `--queries` random stored campaigns;
4. `Lookup.keywords` of 5 pasted keywords (4 terms of a random campaign + 1 noise word)
   — target p95 <= 100 ms;
5. the Lookup page under Streamlit's AppTest: the first run (loads the cached `Lookup`),
   then the median rerun after picking another campaign ("lookup_campaign") and after
   pasting other keywords in "New campaign" mode ("lookup_keywords").

Medians and ratios come from this one run; the machines are shared, so absolute figures
move with the load. A missed target is marked, not an error (exit status 0).

    .venv/bin/python -m bench.lookup [--quick | --campaigns N] [--iterations 20]
        [--skip-page] [--skip-metrics] [--json] [--home DIR]   # DIR: a bench.serve store
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent

K = 50
SEED = 0
LOAD_ROUNDS = 3
NOISE_WORDS = ("zxqv", "flurble", "near me", "best price 2027", "qwertyuiop")
TARGETS = {  # figure -> (comparison, target)
    "score_campaigns_per_s": (">=", 5000.0),
    "neighbors_p95_ms": ("<=", 50.0),
    "keywords_p95_ms": ("<=", 100.0),
    "lookup_load_speedup": (">=", 3.0),
}


def seconds(fn: Callable[[], object]) -> tuple[float, object]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


CPU_MS: dict[str, list[float]] = {}


def timed(name: str, fn: Callable[[], object]) -> float:
    """Wall seconds of one query; its CPU milliseconds go to CPU_MS[name] (this process's
    CPU time hardly moves with the machine's load, unlike the wall time)."""
    cpu = time.process_time()
    took, _ = seconds(fn)
    CPU_MS.setdefault(name, []).append(1000 * (time.process_time() - cpu))
    return took


def percentiles_ms(samples: list[float]) -> tuple[float, float]:
    values = np.asarray(samples) * 1000
    return float(np.percentile(values, 50)), float(np.percentile(values, 95))


def build_store(n_campaigns: int, iterations: int, home: Path, figures: dict,
                metrics: bool = True) -> str:
    """Generate, import and train; returns the model id (also the production model).
    `metrics=False` fits and registers the model as training does but without its
    coherence metrics (minutes at this size; nothing measured here depends on them)."""
    from core.data import auth, demo, ingest
    from core.ops import train
    from core.serve import registry

    auth.set_user(auth.local_user())  # core refuses work for which nobody is named
    took, frame = seconds(lambda: demo.generate(n_campaigns, SEED))
    figures.update(campaigns=n_campaigns, term_rows=len(frame), generate_s=took)
    print(f"generated {n_campaigns:,} campaigns, {len(frame):,} term rows in {took:.1f} s",
          flush=True)
    path = home / "campaigns.parquet"
    frame.to_parquet(path, index=False)
    del frame
    figures["import_s"], _ = seconds(lambda: ingest.import_paths([path], "bench"))
    print(f"imported in {figures['import_s']:.1f} s", flush=True)
    spec = train.TrainSpec(dataset="bench", k=K, params={"iterations": iterations})
    took, result = seconds(lambda: train.train(spec) if metrics else _train_only(spec))
    figures.update(train_s=took, train_iterations=iterations,
                   **{f"train_{stage}_s": v for stage, v in result.timings.items()},
                   vocabulary=result.metrics.get("vocabulary_size"))
    print(f"trained {result.model_id} ({iterations} iterations) in {took:.1f} s "
          f"{ {k: round(v, 1) for k, v in result.timings.items()} }", flush=True)
    registry.set_alias("production", result.model_id)
    return result.model_id


def existing_store(figures: dict) -> str:
    """The production model of the store in TOPICLAB_HOME, and its size, for `--home`."""
    from core.data import auth, store
    from core.serve import registry

    auth.set_user(auth.local_user())
    model_id = registry.resolve("production")
    figures.update(campaigns=store.query_one("SELECT count(DISTINCT campaign_id) FROM terms")[0],
                   term_rows=store.query_one("SELECT count(*) FROM terms")[0],
                   train_iterations=registry.load(model_id).manifest["params"]["iterations"])
    print(f"measuring {model_id} in {os.environ['TOPICLAB_HOME']} ({figures['campaigns']:,} "
          f"campaigns, {figures['term_rows']:,} term rows)", flush=True)
    return model_id


def _train_only(spec):
    """`train.train` without the metrics: the same corpus, engine and artifact."""
    from core.model.engines import make_engine
    from core.ops import train
    from core.serve import registry

    timings = {}
    timings["tokenize"], (corpus, info) = seconds(
        lambda: train.build_corpus(spec.dataset, spec.version, spec.text))
    engine = make_engine(spec.engine, k=spec.k, **spec.params)
    timings["fit"], _ = seconds(lambda: engine.fit(corpus))
    model_id = registry.register(
        engine=engine, engine_name=spec.engine, encoder=corpus.encoder,
        params={"k": spec.k, **train.engine_params(engine)}, dataset=info.name,
        version=info.version, dataset_hash=info.content_hash, metrics={}, timings=timings,
        counts=corpus.encoded_counts())
    return train.TrainResult(model_id, info.name, info.version, spec.engine, spec.k, {},
                             timings)


def bench_scoring(model_id: str, figures: dict) -> None:
    from core.serve import score

    result = score.score_dataset(model_id)
    figures.update(score_s=result.seconds,
                   score_campaigns_per_s=result.campaigns / result.seconds,
                   **{f"score_{part}_s": v for part, v in result.timings.items()})
    print(f"scored {result.campaigns:,} campaigns in {result.seconds:.1f} s "
          f"{result.timings}", flush=True)


def bench_load(model_id: str, figures: dict, *, compare_encode: bool = True):
    """Lookup's load time (median of `LOAD_ROUNDS`); returns the last Lookup loaded.

    With `compare_encode`, also the load as it was before models carried their encoded
    counts (encoding every row again), interleaved with today's; at a million campaigns
    that comparison alone is beyond a 23 GB machine, so `bench.scale` leaves it out."""
    from core.serve import registry
    from core.serve.lookup import Lookup

    saved = registry.model_dir(model_id) / "counts.npz"
    aside = saved.with_name("counts.npz.aside")
    before, after = [], []
    compare_encode = compare_encode and saved.exists()  # Spark models keep theirs in Parquet
    lookup = None
    for _ in range(LOAD_ROUNDS if compare_encode else 1):
        if compare_encode:
            saved.rename(aside)
            try:
                before.append(seconds(lambda: Lookup(model_id))[0])
            finally:
                aside.rename(saved)
        lookup = None  # the previous round's, freed before the next is built
        took, lookup = seconds(lambda: Lookup(model_id))
        after.append(took)
    figures["lookup_load_s"] = statistics.median(after)
    if before:
        figures["lookup_load_encode_s"] = statistics.median(before)
        figures["lookup_load_speedup"] = figures["lookup_load_encode_s"] / figures["lookup_load_s"]
    print(f"Lookup loaded in {', '.join(f'{t:.1f}' for t in after)} s" + (
        f" (encoding the rows again: {', '.join(f'{t:.1f}' for t in before)} s)"
        if before else ""), flush=True)
    return lookup


def bench_queries(lookup, n_queries: int, figures: dict) -> dict:
    """Query latencies of a loaded Lookup; returns sample campaigns/keywords for the page."""
    rng = np.random.default_rng(SEED)
    ids = lookup.fingerprints.campaign_ids
    sample = [ids[i] for i in rng.choice(len(ids), size=n_queries, replace=False)]
    lookup.campaign(sample[0])  # warm-up: first-call costs (spaCy, pandas) are not latency
    # One BLAS thread, as the scoring service runs (`core.serve.service.serve`): on a busy
    # 2-core machine two threads made the neighbour sweep ~4x slower, not faster.
    from threadpoolctl import threadpool_limits
    threadpool_limits(1)
    for name, query in (("neighbors", lookup.neighbors), ("campaign", lookup.campaign)):
        times = [timed(name, lambda c=c, q=query: q(c, 10)) for c in sample]
        figures[f"{name}_p50_ms"], figures[f"{name}_p95_ms"] = percentiles_ms(times)
        figures[f"{name}_cpu_p50_ms"] = statistics.median(CPU_MS[name])
    rows = lookup._rows_of(sample)   # not `lookup.terms`: every row, in memory
    terms_of = rows.groupby("campaign_id")["term"].agg(lambda t: sorted(set(t)))
    pastes = []
    for cid in sample:
        chosen = rng.choice(terms_of[cid], size=min(4, len(terms_of[cid])), replace=False)
        pastes.append([*map(str, chosen), str(rng.choice(NOISE_WORDS))])
    lookup.keywords(pastes[0], 10)
    times = [timed("keywords", lambda p=p: lookup.keywords(p, 10)) for p in pastes]
    figures["keywords_p50_ms"], figures["keywords_p95_ms"] = percentiles_ms(times)
    figures["keywords_cpu_p50_ms"] = statistics.median(CPU_MS["keywords"])
    print("queries: " + ", ".join(f"{k} {figures[k]:.1f}" for k in figures
                                  if k.endswith("_ms")), flush=True)
    return {"campaigns": sample, "pastes": pastes}


def bench_page(samples: dict, reruns: int, figures: dict) -> None:
    """Rerun times of the Lookup page under AppTest (the first run fills the cache)."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    st.cache_data.clear()
    st.cache_resource.clear()
    os.chdir(REPO_ROOT)  # pages are referenced relative to the app's folder
    at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=900)
    at.run()
    at.switch_page("app_pages/lookup.py")
    figures["page_first_run_s"], _ = seconds(at.run)
    _check(at)

    def rerun(change: Callable[[], object]) -> float:
        took, _ = seconds(change)
        _check(at)
        return took

    times = [rerun(lambda c=c: at.selectbox(key="lookup_campaign").set_value(c).run())
             for c in samples["campaigns"][:reruns + 1]]
    figures["page_campaign_first_s"] = times[0]
    figures["page_campaign_rerun_s"] = statistics.median(times[1:])
    at.segmented_control(key="lookup_mode").set_value("New campaign").run()
    times = [rerun(lambda p=p: at.text_area(key="lookup_keywords").set_value("\n".join(p)).run())
             for p in samples["pastes"][:reruns + 1]]
    figures["page_keywords_first_s"] = times[0]
    figures["page_keywords_rerun_s"] = statistics.median(times[1:])
    print(f"page: first run {figures['page_first_run_s']:.1f} s, campaign rerun "
          f"{figures['page_campaign_rerun_s']:.2f} s, keywords rerun "
          f"{figures['page_keywords_rerun_s']:.2f} s", flush=True)


def _check(at) -> None:
    problems = [e.value for e in at.exception] + [e.value for e in at.error]
    if problems:
        raise RuntimeError(f"the Lookup page failed: {problems}")


def mark(name: str, value: float) -> str:
    if name not in TARGETS:
        return ""
    op, target = TARGETS[name]
    ok = value >= target if op == ">=" else value <= target
    return f"{op} {target:g}  {'pass' if ok else 'MISS'}"


ROWS = [  # (figure, label, unit, format)
    ("term_rows", "term rows", "", "{:,.0f}"),
    ("generate_s", "generate corpus (core.data.demo)", "s", "{:.1f}"),
    ("import_s", "import (Parquet -> DuckDB)", "s", "{:.1f}"),
    ("train_s", "train K=50 (incl. metrics unless skipped)", "s", "{:.1f}"),
    ("train_tokenize_s", "  tokenise corpus", "s", "{:.1f}"),
    ("train_fit_s", "  tomotopy fit", "s", "{:.1f}"),
    ("train_evaluate_s", "  metrics (coherence, perplexity)", "s", "{:.1f}"),
    ("score_campaigns_per_s", "batch scoring throughput", "campaigns/s", "{:,.0f}"),
    ("score_s", "  batch scoring total", "s", "{:.1f}"),
    ("score_read_s", "  read term rows", "s", "{:.2f}"),
    ("score_encode_s", "  tokenise + encode", "s", "{:.2f}"),
    ("score_fold_in_s", "  fold-in", "s", "{:.2f}"),
    ("score_groups_s", "  groups of campaigns (up to 20,000)", "s", "{:.2f}"),
    ("score_write_s", "  write to DuckDB", "s", "{:.2f}"),
    ("lookup_load_encode_s", "Lookup(...) load, encoding the rows (before), median", "s", "{:.1f}"),
    ("lookup_load_s", "Lookup(...) load, saved encoded counts, median", "s", "{:.1f}"),
    ("lookup_load_speedup", "  load speed-up", "x", "{:.1f}"),
    ("neighbors_p50_ms", "Lookup.neighbors p50", "ms", "{:.1f}"),
    ("neighbors_p95_ms", "Lookup.neighbors p95", "ms", "{:.1f}"),
    ("neighbors_cpu_p50_ms", "Lookup.neighbors CPU p50", "ms", "{:.1f}"),
    ("campaign_p50_ms", "Lookup.campaign (+ actions) p50", "ms", "{:.1f}"),
    ("campaign_p95_ms", "Lookup.campaign (+ actions) p95", "ms", "{:.1f}"),
    ("campaign_cpu_p50_ms", "Lookup.campaign CPU p50", "ms", "{:.1f}"),
    ("keywords_p50_ms", "Lookup.keywords (5 pasted) p50", "ms", "{:.1f}"),
    ("keywords_p95_ms", "Lookup.keywords (5 pasted) p95", "ms", "{:.1f}"),
    ("keywords_cpu_p50_ms", "Lookup.keywords CPU p50", "ms", "{:.1f}"),
    ("page_first_run_s", "page: first run (loads Lookup)", "s", "{:.1f}"),
    ("page_campaign_rerun_s", "page: rerun, other campaign (median)", "s", "{:.2f}"),
    ("page_keywords_rerun_s", "page: rerun, other keywords (median)", "s", "{:.2f}"),
    ("total_s", "bench total", "s", "{:.0f}"),
]


def print_table(figures: dict) -> None:
    rows = [(label, fmt.format(figures[key]), unit, mark(key, figures[key]))
            for key, label, unit, fmt in ROWS if figures.get(key) is not None]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    print(f"\nlookup bench: {figures['campaigns']:,} campaigns, K={K}, "
          f"{figures['train_iterations']} Gibbs iterations, {figures['queries']} queries")
    print(f"{'figure':<{widths[0]}}  {'value':>{widths[1]}}  {'unit':<{widths[2]}}  target")
    for label, value, unit, target in rows:
        print(f"{label:<{widths[0]}}  {value:>{widths[1]}}  {unit:<{widths[2]}}  {target}")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--campaigns", type=int, default=100_000)
    parser.add_argument("--quick", action="store_true", help="10,000 campaigns")
    parser.add_argument("--iterations", type=int, default=20, help="Gibbs iterations")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--reruns", type=int, default=5, help="page reruns per mode")
    parser.add_argument("--skip-page", action="store_true", help="no AppTest page figures")
    parser.add_argument("--skip-metrics", action="store_true",
                        help="train without coherence metrics (minutes at 100k)")
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON")
    parser.add_argument("--home", type=Path, default=None,
                        help="measure on the store in this folder (built by an earlier "
                             "`bench.serve --home`, the same generator and K): no "
                             "generating, importing or training, and no page figures")
    args = parser.parse_args(argv)
    n_campaigns = 10_000 if args.quick else args.campaigns
    figures: dict = {"queries": args.queries}
    started = time.perf_counter()
    with contextlib.ExitStack() as stack:
        if args.home is None:
            tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="topiclab-bench-"))
            os.environ["TOPICLAB_HOME"] = tmp
            model_id = build_store(n_campaigns, args.iterations, Path(tmp), figures,
                                   metrics=not args.skip_metrics)
        else:
            os.environ["TOPICLAB_HOME"] = str(args.home.resolve())
            model_id = existing_store(figures)
            n_campaigns = figures["campaigns"]
        bench_scoring(model_id, figures)
        lookup = bench_load(model_id, figures)
        samples = bench_queries(lookup, min(args.queries, n_campaigns), figures)
        del lookup
        # A bench.serve model has no coherence metrics, which the app's Home page shows.
        if not args.skip_page and args.home is None:
            bench_page(samples, args.reruns, figures)
    figures["total_s"] = time.perf_counter() - started
    print_table(figures)
    if args.json:
        print(json.dumps({k: round(v, 4) if isinstance(v, float) else v
                          for k, v in figures.items()}, indent=1))
    return figures


if __name__ == "__main__":
    main()
