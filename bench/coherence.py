"""Sliding-window coherence counting: gensim's loop against core.model.cooccurrence.

    .venv/bin/python -m bench.coherence [--runs 5] [--corpora bbc demo]

For each corpus (OCTIS BBC News, 2,225 documents, top words of a K = 20 model; the
committed demo, 3,000 campaigns, K = 30; both tomotopy with the project defaults, seed
0) and each measure (c_npmi window 10, c_v window 110), it times, interleaved `--runs`
times: gensim's `WordOccurrenceAccumulator.accumulate` against `cooccurrence.accumulator`
("count"), and gensim's whole `CoherenceModel.get_coherence_per_topic` against
`metrics.coherence_per_topic` ("score"). Prints medians of CPU seconds (and wall), the
ratio, and whether the counts and scores are identical (they must be).

Stop 41, `--runs 5`, one run of the bench, load average 2.5-4 (another job on the 2
cores), CPU s medians, gensim / ours (ratio), every count and score identical:
BBC c_npmi count 2.615 / 0.079 (33x), score 2.752 / 0.125; c_v count 1.754 / 0.082
(21x), score 1.956 / 0.227; demo c_npmi count 4.619 / 0.149 (31x), score 4.777 / 0.215;
c_v count 2.840 / 0.128 (22x), score 3.063 / 0.346.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import pandas as pd
from gensim.models.coherencemodel import CoherenceModel
from gensim.topic_coherence.text_analysis import WordOccurrenceAccumulator

from bench.quality import load_corpus
from core.model import cooccurrence, metrics
from core.model.corpus import Corpus
from core.model.engines import make_engine
from tests.conftest import DEMO_FILE

K = {"bbc": 20, "demo": 30}


def corpus_of(name: str) -> Corpus:
    return load_corpus("bbc") if name == "bbc" else Corpus.from_frame(pd.read_parquet(DEMO_FILE))


def timed(call, *args) -> tuple[float, float, object]:
    """(CPU seconds, wall seconds, result) of one call."""
    cpu, wall = time.process_time(), time.perf_counter()
    result = call(*args)
    return time.process_time() - cpu, time.perf_counter() - wall, result


def gensim_model(top, corpus: Corpus, measure: str) -> CoherenceModel:
    return CoherenceModel(topics=top, texts=corpus.tokens, dictionary=corpus.dictionary,
                          coherence=measure, topn=metrics.TOPN, processes=1)


def gensim_count(relevant: set[int], corpus: Corpus, window: int
                 ) -> WordOccurrenceAccumulator:
    return WordOccurrenceAccumulator(relevant, corpus.dictionary).accumulate(corpus.tokens,
                                                                             window)


def gensim_scores(top, corpus: Corpus, measure: str) -> list[float]:
    return [float(v) for v in gensim_model(top, corpus, measure).get_coherence_per_topic()]


def same_counts(a: WordOccurrenceAccumulator, b: WordOccurrenceAccumulator) -> bool:
    pairs = b._co_occurrences
    pairs = pairs if isinstance(pairs, np.ndarray) else pairs.toarray()
    return (a.num_docs == b.num_docs and np.array_equal(a._occurrences, b._occurrences)
            and np.array_equal(a._co_occurrences.toarray(), pairs))


def bench(name: str, runs: int) -> None:
    corpus = corpus_of(name)
    top = make_engine("tomotopy", k=K[name], seed=0).fit(corpus).topics(metrics.TOPN)
    tokens = sum(map(len, corpus.tokens))
    print(f"\n{name}: {len(corpus):,} documents, {tokens:,} tokens, K = {K[name]}, "
          f"{runs} interleaved runs, medians")
    print(f"{'measure':8} {'what':6} {'gensim cpu s':>12} {'ours cpu s':>10} {'ratio':>6} "
          f"{'gensim wall':>11} {'ours wall':>9}  identical")
    for measure in cooccurrence.WINDOWED:
        probe = gensim_model(top, corpus, measure)
        relevant = {i for topic in probe.topics for i in topic}
        window = probe.window_size
        times: dict[str, list[tuple[float, float]]] = {k: [] for k in
                                                       ("gc", "oc", "gs", "os")}
        same = True
        for _ in range(runs):
            *t, theirs = timed(gensim_count, relevant, corpus, window)
            times["gc"].append(t)
            *t, ours = timed(cooccurrence.accumulator, corpus.tokens, relevant,
                             corpus.dictionary, window)
            times["oc"].append(t)
            same &= same_counts(theirs, ours)
            *t, expected = timed(gensim_scores, top, corpus, measure)
            times["gs"].append(t)
            *t, got = timed(metrics.coherence_per_topic, top, corpus, measure)
            times["os"].append(t)
            same &= expected == got
        for what, g, o in (("count", "gc", "oc"), ("score", "gs", "os")):
            gc, gw = (statistics.median(x[i] for x in times[g]) for i in (0, 1))
            oc, ow = (statistics.median(x[i] for x in times[o]) for i in (0, 1))
            print(f"{measure:8} {what:6} {gc:12.3f} {oc:10.3f} {gc / oc:6.1f} {gw:11.3f} "
                  f"{ow:9.3f}  {'yes' if same else 'NO'}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--corpora", nargs="+", choices=sorted(K), default=["bbc", "demo"])
    args = parser.parse_args(argv)
    for name in args.corpora:
        bench(name, args.runs)


if __name__ == "__main__":
    main()
