"""Should spare topics kept hidden for neighbours (`spare_share` with `hidden_spares`, an
option, off by default) be the default? Prints figures; asserts nothing
(docs/benchmarks.md, *Spare topics*, stops 31, 45 and 46).

The option trains K + S topics, shows the K that `core.model.spare_topics.keep_best` keeps
(most coherent and distinct) and gives the neighbour index every campaign's proportions
over all K + S topics (the spares as hidden dimensions). For comparison, the fingerprints
over the K kept alone (renormalised: what `spare_share` alone does) and with the S spares
summed into one visible *other* topic (K + 1, as BERTopic's outlier topic).

For each seed the default (K topics) and the K + S model train one after the other, both
through the product's engine:
- on `bench/quality.py`'s corpora, NPMI / TD of the topics shown, fit CPU, and how many
  of the spares dropped were still the strongest topic of CAMPAIGNS_PER_TOPIC or more
  documents ("themes dropped", `spare_topics.dropped_themes`: what training warns of);
- on `bench/neighbors.py`'s labelled corpora, precision@10 of same-label neighbours
  (topic only / the default blend), `bench.demo_k`'s merged labels, and the labels left
  without a shown topic (their median campaign has less than half its weight on the K
  shown: the topic lists, fingerprints and Map have nothing of theirs).

    nice -n 10 .venv/bin/python -m bench.hidden_spares [--k 20] [--share 0.4]
        [--seeds 0,1,2] [--datasets bbc,m10] [--neighbours octis_bbc_news,octis_m10,demo]
        [--neighbour-seeds 0]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from bench.demo_k import merged_labels
from bench.neighbors import labelled_corpus
from bench.quality import load_corpus
from core.model import spare_topics
from core.model.corpus import Corpus
from core.model.engines import bow_matrix, make_engine
from core.model.metrics import coherence, topic_diversity
from core.model.neighbors import NeighborIndex, label_precision


def fit_both(corpus: Corpus, k: int, share: float, seed: int):
    """(the default engine, its fit CPU s, the hidden-spares engine, its fit CPU s). Both
    name their spare settings, so that the comparison holds whatever the defaults are."""
    cpu = time.process_time()
    plain = make_engine("tomotopy", k=k, seed=seed, spare_share=0.0,
                        hidden_spares=False).fit(corpus)
    plain_cpu, cpu = time.process_time() - cpu, time.process_time()
    spared = make_engine("tomotopy", k=k, seed=seed, spare_share=share,
                         hidden_spares=True).fit(corpus)
    return plain, plain_cpu, spared, time.process_time() - cpu


def topic_quality(datasets: list[str], k: int, share: float, seeds: list[int]) -> None:
    for name in datasets:
        corpus = load_corpus(name)
        rows: dict[str, list] = {"default": [], "hidden spares": []}
        for seed in seeds:
            plain, plain_cpu, spared, spared_cpu = fit_both(corpus, k, share, seed)
            spares = spared.hidden_topics
            for variant, engine, cpu in (("default", plain, plain_cpu),
                                         ("hidden spares", spared, spared_cpu)):
                words = engine.topics(10)
                row = (coherence(words, corpus, "c_npmi"), topic_diversity(words), cpu)
                rows[variant].append(row)
                print(f"{name} seed {seed} {variant:13s} npmi {row[0]:.4f} td {row[1]:.3f} "
                      f"fit cpu {cpu:.1f} s", flush=True)
            print(f"{name} seed {seed} themes among the {spares} spares dropped: "
                  f"{len(spare_topics.dropped_themes(spared))}", flush=True)
        print(f"{name} K = {k} (+ {spares} spares), seeds {seeds}: NPMI mean (range) / TD "
              "mean, fit CPU s median")
        for variant, values in rows.items():
            a = np.array(values)
            print(f"  {variant:13s} {a[:, 0].mean():.4f} ({a[:, 0].min():.3f}-"
                  f"{a[:, 0].max():.3f}) / {a[:, 1].mean():.3f}  cpu {np.median(a[:, 2]):.1f}")


def labels_without_a_topic(proportions: np.ndarray, k: int, labels: np.ndarray) -> list:
    """Labels whose campaigns (the median one) have less than half their weight on the K
    topics shown: topics lists, fingerprints and the Map have no topic of theirs."""
    shown = proportions[:, :k].sum(axis=1)
    return [label for label in np.unique(labels) if np.median(shown[labels == label]) < 0.5]


def neighbour_quality(names: list[str], k: int, share: float, seeds: list[int]) -> None:
    for name in names:
        corpus, labels = labelled_corpus(name)
        y = np.asarray(labels, dtype=object)
        counts = bow_matrix(corpus.bow, len(corpus.dictionary))
        ids, vectors = corpus.campaign_ids, corpus.encoder.word_vectors
        for seed in seeds:
            plain, _, spared, _ = fit_both(corpus, k, share, seed)
            full = spared.transform_all(corpus.bow)   # the K shown, then the S hidden
            spares = full.shape[1] - k
            kept = full[:, :k]
            variants = {
                "default": plain.transform(corpus.bow),
                "hidden spares": full,
                "kept K only": kept / kept.sum(axis=1, keepdims=True),
                "K + one other": np.column_stack([kept, full[:, k:].sum(axis=1)]),
            }
            for variant, fingerprints in variants.items():
                topic = label_precision(NeighborIndex(term_weight=0).fit(fingerprints, ids),
                                        labels)
                blend = label_precision(NeighborIndex().fit(fingerprints, ids, counts, None,
                                                            vectors), labels)
                print(f"{name} K = {k} (+ {spares}) seed {seed} {variant:13s} p@10 topic "
                      f"only {topic:.4f} default blend {blend:.4f}", flush=True)
            orphans = labels_without_a_topic(full, k, y)
            print(f"{name} K = {k} (+ {spares}) seed {seed}: {len(np.unique(y))} labels; "
                  f"merged: default {merged_labels(variants['default'], y)}, hidden spares "
                  f"{merged_labels(spared.transform(corpus.bow), y)}; themes dropped "
                  f"{len(spare_topics.dropped_themes(spared))}; labels without a shown "
                  f"topic {len(orphans)} {orphans}", flush=True)


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
