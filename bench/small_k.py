"""Which K suits a small dataset? NPMI and diversity by K on small samples of four corpora.

A dataset no one has chosen a K for starts from `core.model.engines.fitting_k`: the largest
K up to 20 that its campaigns hold at `CAMPAIGNS_PER_TOPIC` (3) per topic and its words at
`WORDS_PER_TOPIC` (10), as the pipeline trains it. This prints,
for samples of n documents of the demo campaigns, OCTIS BBC News and M10 (a fixed random
sample each, `bench.neighbors`' sampling) and the 16 real Sony keyword reports, the mean
NPMI (gensim c_npmi of the top 10 words over the sample itself, as a model's metrics count
it) and topic diversity of the default engine over seeds, for every K up to n / 2 and the
engine's default K (20, what such a dataset trained before the rule); then the K a sweep
would pick among them (highest mean NPMI among those with mean diversity >= 0.7, the
sweep's objective) and the rule's K, with what each scores.

    .venv/bin/python -m bench.small_k [--sizes 16 30 60 120] [--seeds 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

from bench.neighbors import demo_corpus, load_octis
from bench.quality import load_corpus
from core.model.corpus import Corpus
from core.model.engines import (
    CAMPAIGNS_PER_TOPIC,
    DEFAULT_ENGINE,
    DEFAULTS,
    WORDS_PER_TOPIC,
    fitting_k,
    make_engine,
)
from core.model.metrics import DIVERSITY_FLOOR, coherence, topic_diversity

KS = (2, 3, 4, 5, 6, 8, 10, 12, 16, 20)
DEFAULT_K = DEFAULTS[DEFAULT_ENGINE]["k"]


def sample_corpus(name: str, n: int) -> Corpus:
    """n documents of corpus `name` as the product would tokenise them."""
    if name == "demo":
        return demo_corpus(n)[1]
    ids, docs, _, config = load_octis({"bbc": "octis_bbc_news", "m10": "octis_m10"}[name], n)
    return Corpus.from_texts(docs, ids=ids, config=config)


def scores(corpus: Corpus, k: int, seeds: int) -> tuple[float, float]:
    """Mean NPMI and topic diversity of the default engine at K over `seeds` seeds."""
    npmi, td = [], []
    for seed in range(seeds):
        top = make_engine(k=k, seed=seed).fit(corpus).topics(10)
        npmi.append(coherence(top, corpus, "c_npmi"))
        td.append(topic_diversity(top))
    return statistics.mean(npmi), statistics.mean(td)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[16, 30, 60, 120])
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args(argv)
    cases = [(name, n) for name in ("demo", "bbc", "m10") for n in args.sizes]
    cases.append(("sony", 16))
    print(f"K by NPMI / TD, mean of {args.seeds} seeds; rule: {CAMPAIGNS_PER_TOPIC} "
          f"campaigns and {WORDS_PER_TOPIC} words per topic, at most {DEFAULT_K}")
    for name, n in cases:
        started = time.perf_counter()
        corpus = load_corpus("sony") if name == "sony" else sample_corpus(name, n)
        rule = fitting_k(DEFAULT_K, len(corpus), len(corpus.dictionary))
        ks = sorted({k for k in KS if k <= max(2, len(corpus) // 2)} | {rule, DEFAULT_K})
        rows = {k: scores(corpus, k, args.seeds) for k in ks}
        line = "  ".join(f"K{k} {npmi:+.3f}/{td:.2f}" for k, (npmi, td) in rows.items())
        fit = [k for k, (_, td) in rows.items() if td >= DIVERSITY_FLOOR and k in KS]
        pick = max(fit, key=lambda k: rows[k][0]) if fit else None
        ruled = rows[rule]
        print(f"{name} n={len(corpus)} ({len(corpus.dictionary)} words, "
              f"{time.perf_counter() - started:.0f} s): {line}")
        old = rows[DEFAULT_K]
        print(f"    sweep pick K={pick}"
              + (f" ({rows[pick][0]:+.3f}/{rows[pick][1]:.2f})" if pick else "")
              + f"; rule K={rule} ({ruled[0]:+.3f}/{ruled[1]:.2f})"
              + f"; default K={DEFAULT_K} ({old[0]:+.3f}/{old[1]:.2f})", flush=True)


if __name__ == "__main__":
    main()
