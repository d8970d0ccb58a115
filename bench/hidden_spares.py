"""Would spare topics kept hidden for neighbours give #14's topic targets at the default's
neighbours? A measurement of a variant that is NOT in the product (README, Benchmarks,
*Spare topics*, stops 31 and 45). Prints figures; asserts nothing.

`spare_share` (an option) trains K + S topics and keeps the K most coherent and distinct
(`core.model.spare_topics.keep_best`): its topics reach BBC NPMI 0.161 / TD 0.943, but
fingerprints folded in over those K alone cost BBC's and the demo's neighbours. The variant
shows users the same K topics, and gives the neighbour index every campaign's proportions
over all K + S topics (the spares as hidden dimensions). Its topic figures are therefore
`spare_share`'s; its neighbours are those of the K + S fingerprints. For comparison, the
fingerprints over the K kept alone (renormalised: what `spare_share` does) and with the S
spares summed into one visible *other* topic (K + 1, as BERTopic's outlier topic).

For each seed the default (K topics) and the K + S model train one after the other:
NPMI / TD of the topics shown and fit CPU on `bench/quality.py`'s corpora; then
precision@10 of same-label neighbours (topic only / the default blend) on
`bench/neighbors.py`'s corpora and parts.

    nice -n 10 .venv/bin/python -m bench.hidden_spares [--k 20] [--share 0.4]
        [--seeds 0,1,2] [--datasets bbc,m10] [--neighbours octis_bbc_news,octis_m10,demo]
        [--neighbour-seeds 0]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from bench.neighbors import labelled_corpus
from bench.quality import load_corpus
from core.model import spare_topics
from core.model.corpus import Corpus
from core.model.engines import bow_matrix, make_engine
from core.model.metrics import coherence, topic_diversity
from core.model.neighbors import NeighborIndex, label_precision


def fit_both(corpus: Corpus, k: int, share: float, seed: int):
    """(default engine, its fit CPU s, K + S engine, its fit CPU s, indices of the K kept
    of the K + S, S)."""
    counts = bow_matrix(corpus.bow, len(corpus.vocabulary))
    spares = spare_topics.spare_count(k, share, sum(1 for d in corpus.bow if d),
                                      len(corpus.vocabulary))
    cpu = time.process_time()
    plain = make_engine("tomotopy", k=k, seed=seed).fit(corpus)
    plain_cpu, cpu = time.process_time() - cpu, time.process_time()
    wide = make_engine("tomotopy", k=k + spares, seed=seed).fit(corpus)
    keep, _ = spare_topics.keep_best(wide.topic_term_, counts, k)
    return plain, plain_cpu, wide, time.process_time() - cpu, keep, spares


def shown_words(engine, keep: np.ndarray | None = None) -> list[list[str]]:
    topics = engine.topics(10)
    return topics if keep is None else [topics[t] for t in keep]


def topic_quality(datasets: list[str], k: int, share: float, seeds: list[int]) -> None:
    for name in datasets:
        corpus = load_corpus(name)
        rows: dict[str, list] = {"default": [], "hidden spares": []}
        for seed in seeds:
            plain, plain_cpu, wide, wide_cpu, keep, spares = fit_both(corpus, k, share, seed)
            for variant, words, cpu in (("default", shown_words(plain), plain_cpu),
                                        ("hidden spares", shown_words(wide, keep), wide_cpu)):
                row = (coherence(words, corpus, "c_npmi"), topic_diversity(words), cpu)
                rows[variant].append(row)
                print(f"{name} seed {seed} {variant:13s} npmi {row[0]:.4f} td {row[1]:.3f} "
                      f"fit cpu {cpu:.1f} s", flush=True)
        print(f"{name} K = {k} (+ {spares} spares), seeds {seeds}: NPMI mean (range) / TD "
              "mean, fit CPU s median")
        for variant, values in rows.items():
            a = np.array(values)
            print(f"  {variant:13s} {a[:, 0].mean():.4f} ({a[:, 0].min():.3f}-"
                  f"{a[:, 0].max():.3f}) / {a[:, 1].mean():.3f}  cpu {np.median(a[:, 2]):.1f}")


def neighbour_quality(names: list[str], k: int, share: float, seeds: list[int]) -> None:
    for name in names:
        corpus, labels = labelled_corpus(name)
        counts = bow_matrix(corpus.bow, len(corpus.dictionary))
        ids, vectors = corpus.campaign_ids, corpus.encoder.word_vectors
        for seed in seeds:
            plain, _, wide, _, keep, spares = fit_both(corpus, k, share, seed)
            full = wide.transform(corpus.bow)
            hidden = np.setdiff1d(np.arange(full.shape[1]), keep)
            kept = full[:, keep]
            variants = {
                "default": plain.transform(corpus.bow),
                "hidden spares": full,
                "kept K only": kept / kept.sum(axis=1, keepdims=True),
                "K + one other": np.column_stack([kept, full[:, hidden].sum(axis=1)]),
            }
            for variant, fingerprints in variants.items():
                topic = label_precision(NeighborIndex(term_weight=0).fit(fingerprints, ids),
                                        labels)
                blend = label_precision(NeighborIndex().fit(fingerprints, ids, counts, None,
                                                            vectors), labels)
                print(f"{name} K = {k} (+ {spares}) seed {seed} {variant:13s} p@10 topic "
                      f"only {topic:.4f} default blend {blend:.4f}", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--share", type=float, default=0.4, help="spares, as a share of K")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--datasets", default="bbc,m10", help="bench/quality.py corpora")
    parser.add_argument("--neighbours", default="octis_bbc_news,octis_m10,demo",
                        help="bench/neighbors.py corpora ('' to skip)")
    parser.add_argument("--neighbour-seeds", default="0")
    args = parser.parse_args(argv)
    topic_quality([d for d in args.datasets.split(",") if d], args.k, args.share,
                  [int(s) for s in args.seeds.split(",")])
    neighbour_quality([n for n in args.neighbours.split(",") if n], args.k, args.share,
                      [int(s) for s in args.neighbour_seeds.split(",")])


if __name__ == "__main__":
    main()
