"""Would a guided start (NMF, or a short run of its own) make the default LDA better?

A measurement of variants that are NOT in the product (issue #14; docs/benchmarks.md, stops
40 and 50). Prints figures; asserts nothing.

The variant: scikit-learn NMF of the corpus's sublinear TF-IDF matrix (K components,
NNDSVD start, `random_state` 0, 200 iterations, one BLAS thread), then the `top` words of
each component get the word prior eta x `boost` in "its" topic through tomotopy's
`set_word_prior` (eta in every other topic), and the default `TomotopyLDA` trains as
usual. tomotopy's topic-word distribution includes the word priors, so the product's
fold-in (`Engine.transform`, used for neighbours) sees them too. NMF's CPU counts in the
variant's fit CPU.

For each seed the default and the variant run one after the other (interleaved):
NPMI / TD of the top 10 words and fit CPU seconds on `bench/quality.py`'s corpora;
then precision@10 of same-label neighbours (topic only, and the default blend; seed 0
unless `--neighbour-seeds`) on `bench/neighbors.py`'s corpora and parts.

    nice -n 10 .venv/bin/python -m bench.guided_start [--seeds 0,1,2] [--top 10]
        [--boost 10] [--datasets bbc,m10] [--neighbours octis_bbc_news,octis_m10,demo]
        [--neighbour-seeds 0] [--guide self]

`--guide self` (stop 50) takes the guide from the model itself instead of NMF: a short run
at K + 40% spare topics (`--pre-iterations`, default 400, the same seed) keeps its best K
topics by `spare_share`'s rule, and their top words get the priors; its CPU counts in the
variant's fit too.
"""

from __future__ import annotations

import argparse
import json
import time
import types
import warnings

import numpy as np

from bench.neighbors import labelled_corpus
from bench.quality import load_corpus
from core.model import engines
from core.model.corpus import Corpus
from core.model.engines import TomotopyLDA, bow_matrix, make_engine
from core.model.metrics import coherence, topic_diversity
from core.model.neighbors import NeighborIndex, label_precision


def nmf_top_words(corpus: Corpus, k: int, top: int) -> list[list[int]]:
    """The `top` word ids of each of K NMF components (deterministic: NNDSVD start)."""
    from sklearn.decomposition import NMF
    from sklearn.feature_extraction.text import TfidfTransformer
    from threadpoolctl import threadpool_limits

    counts = bow_matrix(corpus.bow, len(corpus.vocabulary))
    tfidf = TfidfTransformer(sublinear_tf=True).fit_transform(counts)
    # one BLAS thread: with two, OpenMP spin-waits cost ~10x the CPU on a shared machine
    with warnings.catch_warnings(), threadpool_limits(1):
        warnings.simplefilter("ignore")  # ConvergenceWarning at 200 iterations
        components = NMF(n_components=k, init="nndsvd", random_state=0,
                         max_iter=200).fit(tfidf).components_
    return [np.argsort(-row)[:top].tolist() for row in components]


def own_top_words(corpus: Corpus, k: int, top: int, seed: int,
                  iterations: int) -> list[list[int]]:
    """The `top` word ids of each of the K topics a short run with spare topics keeps."""
    short = make_engine("tomotopy", k=k, seed=seed, spare_share=0.4, iterations=iterations)
    return [np.argsort(-row)[:top].tolist() for row in short.fit(corpus).topic_term_]


class GuidedLDA(TomotopyLDA):
    """The default engine with word priors set before sampling: from NMF, or (`guide`
    "self") from a short run of its own with spare topics."""

    def __init__(self, top: int = 10, boost: float = 10.0, guide: str = "nmf",
                 pre_iterations: int = 400, **params) -> None:
        super().__init__(**params)
        self.top, self.boost = top, boost
        self.guide, self.pre_iterations = guide, pre_iterations

    def get_params(self) -> dict:
        return {**TomotopyLDA.get_params(self), "top": self.top, "boost": self.boost,
                "guide": self.guide, "pre_iterations": self.pre_iterations}

    def _guide_words(self, corpus: Corpus) -> list[list[int]]:
        if self.guide == "self":
            return own_top_words(corpus, self.k, self.top, int(self.seed),
                                 self.pre_iterations)
        return nmf_top_words(corpus, self.k, self.top)

    def _train(self, corpus, progress):
        vocabulary, prior = corpus.vocabulary, self.eta * self.boost
        priors: dict[str, dict[int, float]] = {}
        for topic, ids in enumerate(self._guide_words(corpus)):
            for i in ids:
                priors.setdefault(vocabulary[i], {})[topic] = prior
        tp = engines.tomotopy()

        def lda_model(**kwargs):
            model = tp.LDAModel(**kwargs)
            for word, by_topic in priors.items():
                model.set_word_prior(word, by_topic)
            return model

        # TomotopyLDA._train builds its model through engines.tomotopy(): hand it one
        # whose LDAModel has the priors set, and put the real one back afterwards.
        guided = types.SimpleNamespace(LDAModel=lda_model, TermWeight=tp.TermWeight,
                                       ParallelScheme=tp.ParallelScheme)
        real = engines.tomotopy
        engines.tomotopy = lambda: guided
        try:
            return super()._train(corpus, progress)
        finally:
            engines.tomotopy = real


def engine(variant: str, seed: int, top: int, boost: float, guide: dict):
    if variant == "default":
        return make_engine("tomotopy", seed=seed)
    return GuidedLDA(top=top, boost=boost, seed=seed, **guide)


def topic_quality(datasets: list[str], seeds: list[int], top: int, boost: float,
                  guide: dict) -> dict:
    results: dict = {}
    for name in datasets:
        corpus = load_corpus(name)
        for seed in seeds:
            for variant in ("default", "guided"):
                cpu = time.process_time()
                fitted = engine(variant, seed, top, boost, guide).fit(corpus)
                cpu = time.process_time() - cpu
                words = fitted.topics(10)
                row = (coherence(words, corpus, "c_npmi"), topic_diversity(words), cpu)
                results.setdefault(name, {}).setdefault(variant, []).append(row)
                print(f"{name} seed {seed} {variant:8s} npmi {row[0]:.4f} td {row[1]:.3f} "
                      f"fit cpu {cpu:.1f} s", flush=True)
    return results


def neighbour_quality(names: list[str], seeds: list[int], top: int, boost: float,
                      guide: dict) -> dict:
    results: dict = {}
    for name in names:
        corpus, labels = labelled_corpus(name)
        counts = bow_matrix(corpus.bow, len(corpus.dictionary))
        vectors = corpus.encoder.word_vectors
        for seed in seeds:
            for variant in ("default", "guided"):
                fitted = engine(variant, seed, top, boost, guide).fit(corpus)
                fingerprints, ids = fitted.transform(corpus.bow), corpus.campaign_ids
                topic = label_precision(NeighborIndex(term_weight=0).fit(fingerprints, ids),
                                        labels)
                blend = label_precision(NeighborIndex().fit(fingerprints, ids, counts, None,
                                                            vectors), labels)
                results.setdefault(name, {}).setdefault(variant, []).append((topic, blend))
                print(f"{name} seed {seed} {variant:8s} p@10 topic only {topic:.4f} "
                      f"default blend {blend:.4f}", flush=True)
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--top", type=int, default=10, help="guide words per topic")
    parser.add_argument("--boost", type=float, default=10.0, help="their prior, x eta")
    parser.add_argument("--datasets", default="bbc,m10", help="bench/quality.py corpora")
    parser.add_argument("--neighbours", default="octis_bbc_news,octis_m10,demo",
                        help="bench/neighbors.py corpora ('' to skip)")
    parser.add_argument("--neighbour-seeds", default="0")
    parser.add_argument("--guide", choices=("nmf", "self"), default="nmf")
    parser.add_argument("--pre-iterations", type=int, default=400,
                        help="iterations of the short run that --guide self learns from")
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    guide = {"guide": args.guide, "pre_iterations": args.pre_iterations}
    topics = topic_quality([d for d in args.datasets.split(",") if d], seeds, args.top,
                           args.boost, guide)
    if topics:
        print(f"\nK = 20, seeds {args.seeds}, top {args.top} {args.guide} words at eta x "
              f"{args.boost:g}: NPMI mean (range) / TD mean, fit CPU s median")
    for name, variants in topics.items():
        for variant, rows in variants.items():
            a = np.array(rows)
            print(f"{name:4s} {variant:8s} {a[:, 0].mean():.4f} ({a[:, 0].min():.3f}-"
                  f"{a[:, 0].max():.3f}) / {a[:, 1].mean():.3f}  cpu {np.median(a[:, 2]):.1f}")
        ratios = [g[2] / d[2] for d, g in zip(variants["default"], variants["guided"],
                                               strict=True)]
        print(f"{name:4s} CPU guided/default per seed: "
              + " ".join(f"{r:.2f}" for r in ratios))
    neighbours = neighbour_quality([n for n in args.neighbours.split(",") if n],
                                   [int(s) for s in args.neighbour_seeds.split(",")],
                                   args.top, args.boost, guide)
    print(json.dumps({"topics": topics, "neighbours": neighbours}))


if __name__ == "__main__":
    main()
