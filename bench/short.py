"""Short campaigns: the biterm engine against the default at the same K. Prints a table.

A synthetic corpus of `--campaigns` campaigns (`core.data.demo.generate`, default 50,000) cut
to the first `--keywords` keyword rows of each campaign (default 3, ~6 tokens: the size
of a title in M10), tokenised with the default text settings. For each engine
(`--engines`, default tomotopy and btm with their DEFAULTS, K=20): training wall and CPU
seconds, NPMI (gensim c_npmi, top 10, on a sample of `--npmi-docs` campaigns), topic
diversity, and precision@10 of same-vertical neighbours (topic-only and the default
blend) on a sample of `--queries` campaigns as queries against all of them.

    .venv/bin/python -m bench.short [--campaigns 50000] [--keywords 3] [--engines btm]
        [--param spare_share=0.4]  # adds a row: the default engine with these params

One run at the defaults (50,000 campaigns, median 8 tokens, machine load 8-23; CPU s
counts both of tomotopy's threads): tomotopy 112 CPU s, NPMI 0.010, TD 0.910, P@10
topic 0.722 / blend 0.898; btm 72 CPU s, NPMI 0.089, TD 0.815, P@10 0.713 / 0.900.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
import pandas as pd

from bench.quality import parse_param
from core.data import demo
from core.model import term_vectors
from core.model.corpus import Corpus
from core.model.engines import DEFAULT_ENGINE, bow_matrix, make_engine
from core.model.metrics import coherence, topic_diversity
from core.model.neighbors import NeighborIndex
from core.model.text import TextConfig

SEED = 0


def short_campaigns(n_campaigns: int, keywords: int) -> pd.DataFrame:
    """The first `keywords` keyword rows of each generated campaign."""
    rows = demo.generate(n_campaigns)
    rows = rows[rows["term_type"] == "keyword"] if "term_type" in rows else rows
    return rows.groupby("campaign_id", sort=False).head(keywords).reset_index(drop=True)


def precision_at_10(index: NeighborIndex, labels: np.ndarray, ids: list[str],
                    queries: np.ndarray) -> float:
    """Mean share of same-vertical campaigns among each query campaign's 10 neighbours."""
    hits = []
    for i in queries:
        found = [index.position_[n.campaign_id] for n in index.query_id(ids[i], 10)]
        hits.append(float(np.mean(labels[found] == labels[i])))
    return float(np.mean(hits))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--campaigns", type=int, default=50_000)
    parser.add_argument("--keywords", type=int, default=3)
    parser.add_argument("--engines", default=f"{DEFAULT_ENGINE},btm")
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--npmi-docs", type=int, default=50_000)
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--param", action="append", default=[],
                        help="KEY=VALUE (JSON): add a row of the default engine with it")
    parser.add_argument("--soft-terms", action="store_true",
                        help="also the blend with soft terms (`TextConfig(soft_terms=True)`)")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    rows = short_campaigns(args.campaigns, args.keywords)
    corpus = Corpus.from_frame(rows, TextConfig(language="en"))
    lengths = np.array([len(t) for t in corpus.tokens])
    print(f"{len(corpus):,} campaigns, {len(rows):,} keywords, median {np.median(lengths):.0f} "
          f"tokens, vocabulary {len(corpus.dictionary):,}; built in "
          f"{time.perf_counter() - started:.0f} s; load average {os.getloadavg()[0]:.1f}",
          flush=True)
    labels = rows.groupby("campaign_id", sort=False)["vertical"].first()
    labels = labels.loc[corpus.campaign_ids].to_numpy()
    rng = np.random.default_rng(SEED)
    sample = corpus.subset(sorted(rng.choice(len(corpus), min(args.npmi_docs, len(corpus)),
                                             replace=False)))
    queries = rng.choice(len(corpus), min(args.queries, len(corpus)), replace=False)
    counts = bow_matrix(corpus.bow, len(corpus.dictionary))
    ids = list(corpus.campaign_ids)
    words = None
    if args.soft_terms:
        took = time.perf_counter()
        words = term_vectors.similar_words(corpus.encoder.word_vectors)
        print(f"word similarity learnt in {time.perf_counter() - took:.1f} s", flush=True)
    plan = [(name, {}) for name in args.engines.split(",")]
    if args.param:
        plan.append((DEFAULT_ENGINE, dict(parse_param(p) for p in args.param)))
    for name, params in plan:
        engine = make_engine(name, **{**params, "k": args.k})
        wall, cpu = time.perf_counter(), time.process_time()
        engine.fit(corpus)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        top = engine.topics(10)
        fingerprints = engine.transform(counts)
        topic_p = precision_at_10(NeighborIndex(term_weight=0).fit(fingerprints, ids),
                                  labels, ids, queries)
        vectors = corpus.encoder.word_vectors  # TextConfig(): learnt with the corpus
        blend_p = precision_at_10(NeighborIndex().fit(fingerprints, ids, counts, None, vectors),
                                  labels, ids, queries)
        two_p = precision_at_10(NeighborIndex(term_weight=0.6, vector_weight=0).fit(
            fingerprints, ids, counts), labels, ids, queries)
        soft = "" if words is None else " soft {:.3f}".format(precision_at_10(
            NeighborIndex().fit(fingerprints, ids, counts, words, vectors), labels, ids,
            queries))
        label = f"{name} {json.dumps(params)}" if params else name
        print(f"{label:<9} K={args.k} train {wall:6.1f} s wall {cpu:6.1f} s cpu  "
              f"NPMI {coherence(top, sample, 'c_npmi'):.4f}  TD {topic_diversity(top):.3f}  "
              f"P@10 topic {topic_p:.3f} topics+terms {two_p:.3f} default {blend_p:.3f}"
              f"{soft}  "
              f"(load {os.getloadavg()[0]:.1f})", flush=True)


if __name__ == "__main__":
    main()
