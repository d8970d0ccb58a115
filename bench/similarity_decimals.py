"""How many decimals of a neighbour's similarity mean something? Prints; asserts nothing.

The neighbour index scores in float32 (`core.model.neighbors`), and every answer shows a
similarity to `core.jsonable.SIMILARITY_DECIMALS`. This bench takes every campaign's 10
nearest campaigns by the index's float32 similarities (project defaults: tomotopy,
default `TextConfig`, the default blend) and prints

- the float32 error: each similarity and part against the same sum computed in float64
  from the same fingerprints, TF-IDF rows and campaign vectors;
- how many consecutive neighbours with different scores read equal at 3 to 7 decimals
  (their order is then the score's, unseen), and how many are exact ties.

    .venv/bin/python -m bench.similarity_decimals [--corpus demo bbc m10] [--k 50]
"""

from __future__ import annotations

import argparse
import itertools
import time

import numpy as np

from bench.neighbors import demo_corpus, load_octis
from core.model.corpus import Corpus
from core.model.engines import bow_matrix, make_engine
from core.model.neighbors import NeighborIndex

NEIGHBOURS = 10


def corpus_of(name: str) -> Corpus:
    if name == "demo":
        return demo_corpus(None)[1]
    ids, docs, _, config = load_octis({"bbc": "octis_bbc_news", "m10": "octis_m10"}[name], None)
    return Corpus.from_texts(docs, ids=ids, config=config)


def measure(name: str, k: int, seed: int = 0) -> None:
    started = time.process_time()
    corpus = corpus_of(name)
    fingerprints = make_engine("tomotopy", k=k, seed=seed).fit(corpus).transform(corpus.bow)
    counts = bow_matrix(corpus.bow, len(corpus.dictionary)).tocsr()
    index = NeighborIndex().fit(fingerprints, corpus.campaign_ids, counts, None,
                                corpus.encoder.word_vectors)
    weights = np.asarray(index.weights_)
    sqrt64 = np.sqrt(index.fingerprints_.astype(np.float64))
    terms64 = index.terms_.astype(np.float64)
    vectors64 = index.vectors_.astype(np.float64)
    errors: dict[str, list[np.ndarray]] = {"similarity": [], "topic": [], "term": [],
                                           "vector": []}
    lists = []
    for i in range(len(corpus.campaign_ids)):
        scores = index.similarities(index.fingerprints_[i], counts[i])
        combined = scores[0].copy()
        combined[i] = -np.inf
        top = np.lexsort((np.arange(combined.size), -combined))[:NEIGHBOURS]
        topic = 1 - np.sqrt(np.clip(1 - sqrt64[top] @ sqrt64[i], 0, 1))
        term = (terms64[top] @ terms64[i].T).toarray().ravel()
        vector = np.maximum(vectors64[top] @ vectors64[i], 0)
        exact = weights @ np.vstack([topic, term, vector])
        for part, got, want in (("similarity", scores[0], exact), ("topic", scores[1], topic),
                                ("term", scores[2], term), ("vector", scores[3], vector)):
            errors[part].append(np.abs(got[top].astype(np.float64) - want))
        lists.append(scores[0][top].astype(np.float64).tolist())
    print(f"== {name}: {len(lists)} campaigns, tomotopy K = {k} seed {seed}, {NEIGHBOURS} "
          f"neighbours each ({time.process_time() - started:.0f} s CPU)")
    for part, found in errors.items():
        e = np.concatenate(found)
        print(f"  float32 error of {part:10s}: median {np.median(e):.1e}  "
              f"p99 {np.quantile(e, 0.99):.1e}  max {e.max():.1e}")
    pairs = [pair for s in lists for pair in itertools.pairwise(s)]
    print(f"  consecutive neighbours: {len(pairs)}, exact ties {sum(a == b for a, b in pairs)}")
    for d in range(3, 8):
        equal = sum(a != b and round(a, d) == round(b, d) for a, b in pairs)
        print(f"  different scores that read equal at {d} decimals: {equal}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", nargs="+", default=["demo", "bbc"],
                        choices=["demo", "bbc", "m10"])
    parser.add_argument("--k", type=int, default=50)
    args = parser.parse_args(argv)
    for name in args.corpus:
        measure(name, args.k)


if __name__ == "__main__":
    main()
