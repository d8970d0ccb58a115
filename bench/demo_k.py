"""Which K for the demo's first production model? Prints a table; asserts nothing.

`make run` trains the demo's first model at `core.ops.bootstrap.DEMO_K`. The demo has 46
verticals, and a topic model tells two verticals apart only if they do not share a
topic. For each K and seed this trains the project's default engine on the whole demo
(`bench.neighbors`' demo corpus, default `TextConfig`) and prints:

- NPMI (gensim `c_npmi` of the top 10 words) and TD (unique share of the top 10 words);
- precision@10 of same-vertical neighbours, topic only and the default blend (what the
  Lookup page ranks by), every campaign a query;
- `merged`: how many verticals share their main topic with another vertical (a
  vertical's main topic: the commonest strongest topic of its campaigns);
- `low`: campaigns whose strongest topic weighs < 0.3 (what the Review queue lists);
- the fit's wall and CPU seconds.

    .venv/bin/python -m bench.demo_k [--k 40,50,60] [--seeds 0,1,2]
"""

from __future__ import annotations

import argparse
import time
from collections import Counter

import numpy as np
import pandas as pd

from bench.neighbors import demo_corpus
from core.model.engines import DEFAULT_ENGINE, bow_matrix, make_engine
from core.model.metrics import coherence, topic_diversity
from core.model.neighbors import NeighborIndex, label_precision
from core.serve.score import LOW_CONFIDENCE


def merged_labels(fingerprints: np.ndarray, labels: np.ndarray) -> int:
    """How many labels have a main topic (their campaigns' commonest strongest topic)
    that another label's is too."""
    strongest = fingerprints.argmax(axis=1)
    main = [Counter(strongest[labels == label]).most_common(1)[0][0]
            for label in np.unique(labels)]
    return sum(n for n in Counter(main).values() if n > 1)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", default="40,50,60", help="comma-separated K values")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds")
    args = parser.parse_args(argv)
    _, corpus, truth = demo_corpus(None)
    campaign_ids = corpus.campaign_ids
    y = np.array(truth, dtype=object)
    counts = bow_matrix(corpus.bow, len(corpus.dictionary))
    vectors = corpus.encoder.word_vectors
    print(f"demo: {len(corpus)} campaigns, {len(set(y))} verticals, "
          f"{len(corpus.dictionary)} words; engine {DEFAULT_ENGINE}", flush=True)
    out = []
    for k in (int(v) for v in args.k.split(",")):
        for seed in (int(v) for v in args.seeds.split(",")):
            wall, cpu = time.perf_counter(), time.process_time()
            engine = make_engine(DEFAULT_ENGINE, k=k, seed=seed).fit(corpus)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            fingerprints = engine.transform(corpus.bow)
            top = engine.topics(10)
            row = {
                "K": k, "seed": seed, "NPMI": coherence(top, corpus, "c_npmi"),
                "TD": topic_diversity(top),
                "P@10 topic": label_precision(
                    NeighborIndex(term_weight=0).fit(fingerprints, campaign_ids), truth),
                "P@10 blend": label_precision(
                    NeighborIndex().fit(fingerprints, campaign_ids, counts, None, vectors), truth),
                "merged": merged_labels(fingerprints, y),
                "low": int((fingerprints.max(axis=1) < LOW_CONFIDENCE).sum()),
                "fit s": wall, "cpu s": cpu}
            out.append(row)
            print("  " + "  ".join(f"{key} {value:.4f}" if isinstance(value, float)
                                   else f"{key} {value}" for key, value in row.items()),
                  flush=True)
    print(pd.DataFrame(out).round(4).to_string(index=False))


if __name__ == "__main__":
    main()
