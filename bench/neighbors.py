"""How good and how fast are similar-campaign lookups? Prints a table; asserts nothing.

Quality: precision@10 of same-label neighbours (every campaign is a query, itself
excluded) on three labelled corpora — OCTIS M10 (8,355 paper titles, ~6 words each),
OCTIS BBC News (2,225 articles) and the demo campaigns (label = vertical) — for

- `tfidf`: scikit-learn `TfidfVectorizer` defaults + cosine k-NN (the baseline to beat);
- `topic`: topic-only Hellinger similarity of the fingerprints;
- `topics + terms`: the blend of topic and term similarity alone (terms matched exactly;
  the default before campaign vectors, term weight 0.6);
- `blend`: topics, terms and campaign vectors (`core.model.campaign_vectors`, word2vec
  learnt on the corpus as `TextConfig()` does), the default before groups;
- `default`: the project's default `NeighborIndex`: the blend and the campaigns' groups in
  the graph of their nearest (`core.model.neighbor_groups`, found as scoring finds them);
- `soft terms`: the default with the word similarity the corpus learns when
  `TextConfig(soft_terms=True)` (`core.model.term_vectors`);

all from one training run per corpus with the project defaults (`core.model.corpus` with the
default `TextConfig`, `core.model.engines.make_engine()` with `DEFAULTS`, fingerprints from
`Engine.transform_all`, over every topic the product's index ranks by: with `--param
spare_share=0.4 --param hidden_spares=true` the hidden spares too). `--weights 0.3,0.5`
adds rows for other term weights (vector weight kept at its default, with groups);
`--param seed=1` trains the other seeds.

Speed: query latency (p50/p95) of `NeighborIndex.query` at N = 100,000, K = 50 on
synthetic fingerprints (Dirichlet 0.1) and a synthetic keyword matrix (40 terms per
campaign, Zipf over 20,000 words), topic-only and blended, with groups drawn at random
(11 sizes): the cost of their share, not its quality (scoring groups datasets of up to
20,000 campaigns only).

    .venv/bin/python -m bench.neighbors [--quick] [--engine gensim] [--weights 0.5,0.7]
        [--param diversify=true] [--corpus PATH]

`--corpus PATH` measures a labelled corpus of your own instead of the three (an OCTIS
folder, or a CSV/TSV/Parquet file with a text and a `label` column: `bench.quality.read_own`;
`--quick` samples 2,000 of it), through the product's own text pipeline.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO_ROOT = Path(__file__).resolve().parent.parent

from sklearn.feature_extraction.text import TfidfVectorizer  # noqa: E402

from bench.quality import parse_param, read_own  # noqa: E402
from core.model import term_vectors  # noqa: E402
from core.model.corpus import Corpus  # noqa: E402
from core.model.engines import DEFAULT_ENGINE, DEFAULTS, bow_matrix, make_engine  # noqa: E402
from core.model.neighbor_groups import SIZES  # noqa: E402
from core.model.neighbors import (  # noqa: E402
    DEFAULT_GROUP_WEIGHT,
    DEFAULT_TERM_WEIGHT,
    DEFAULT_VECTOR_WEIGHT,
    NeighborIndex,
    label_precision,
)
from core.model.text import TextConfig  # noqa: E402

SEED = 0
K_NEIGHBORS = 10


def shared_data() -> Path:
    """The shared data folder, defined once for tests and benches: `TOPICLAB_SHARED_DATA`
    or `../shared/data` beside the repository (tests/conftest.py)."""
    from tests.conftest import SHARED_DATA
    return SHARED_DATA


def sample(n_total: int, n: int | None, seed: int = SEED) -> np.ndarray:
    if n is None or n >= n_total:
        return np.arange(n_total)
    return np.sort(np.random.default_rng(seed).choice(n_total, n, replace=False))


def load_octis(name: str, n: int | None) -> tuple[list[str], list[str], list[str], TextConfig]:
    """(ids, documents, labels, text config): OCTIS text is already preprocessed tokens."""
    frame = pd.read_csv(shared_data() / name / "corpus.tsv", sep="\t", header=None,
                        names=["text", "split", "label"], quoting=3, keep_default_na=False,
                        dtype=str)
    frame = frame.iloc[sample(len(frame), n)]
    ids = [f"d{i}" for i in frame.index]
    return ids, frame["text"].tolist(), frame["label"].tolist(), TextConfig(pretokenized=True)


def load_own(path: str, n: int | None) -> tuple[list[str], list[str], list[str], TextConfig]:
    """(ids, documents, labels, text config) of a labelled corpus of your own."""
    texts, labels, tokenised = read_own(path)
    if labels is None:
        raise SystemExit(f"{Path(path).name}: no labels: neighbour precision needs a "
                         "`label` column (an OCTIS folder's third field)")
    keep = sample(len(texts), n)
    return ([f"d{i}" for i in keep], [texts[i] for i in keep], [labels[i] for i in keep],
            TextConfig(pretokenized=tokenised))


def load_demo(n: int | None) -> tuple[pd.DataFrame, list[str], list[str]]:
    """Demo term rows (committed parquet, else regenerated), one campaign = one document."""
    path = REPO_ROOT / "data" / "demo" / "campaigns.parquet"
    if path.exists():
        rows = pd.read_parquet(path)
    else:
        from core.data.demo import generate

        print(f"(note: {path.relative_to(REPO_ROOT)} not found; regenerated with core.data.demo)")
        rows = generate()
    campaigns = rows["campaign_id"].drop_duplicates().to_numpy()
    keep = set(campaigns[sample(len(campaigns), n)])
    rows = rows[rows["campaign_id"].isin(keep)]
    labels = rows.groupby("campaign_id", sort=False)["vertical"].first()
    return rows, labels.index.astype(str).tolist(), labels.astype(str).tolist()


def demo_corpus(n: int | None) -> tuple[pd.DataFrame, Corpus, list[str]]:
    """`load_demo(n)` as a Corpus with the project's default text settings: its term
    rows, the corpus and each campaign's vertical in the corpus's order."""
    rows, ids, labels = load_demo(n)
    corpus = Corpus.from_frame(rows, TextConfig())
    by_id = dict(zip(ids, labels, strict=True))
    return rows, corpus, [by_id[c] for c in corpus.campaign_ids]


def labelled_corpus(name: str, n: int | None = None) -> tuple[Corpus, list[str]]:
    """A labelled corpus by name, `demo` or an OCTIS folder, with its labels in corpus
    order (what the variant benches measure neighbours on)."""
    if name == "demo":
        _, corpus, labels = demo_corpus(n)
        return corpus, labels
    ids, docs, labels, config = load_octis(name, n)
    return Corpus.from_texts(docs, ids=ids, config=config), labels


def tfidf_precision(docs: list[str], labels: list[str], k: int = K_NEIGHBORS) -> float:
    """Baseline: TfidfVectorizer defaults (L2 rows), cosine k-NN, self excluded."""
    x = TfidfVectorizer().fit_transform(docs).astype(np.float32).tocsr()
    y = np.asarray(labels, dtype=object)
    hits = []
    for start in range(0, x.shape[0], 1000):
        stop = min(start + 1000, x.shape[0])
        sims = (x[start:stop] @ x.T).toarray()
        sims[np.arange(stop - start), np.arange(start, stop)] = -np.inf
        top = np.argpartition(-sims, k, axis=1)[:, :k]
        hits.append((y[top] == y[start:stop, None]).mean(axis=1))
    return float(np.concatenate(hits).mean())


def quality(name: str, corpus: Corpus, docs: list[str], labels: list[str], engine_name: str,
            weights: list[float], params: dict | None = None) -> list[dict]:
    rows = []

    def timed(method: str, fn) -> None:
        started = time.perf_counter()
        value = fn()
        rows.append({"corpus": name, "method": method, "p@10": value,
                     "seconds": time.perf_counter() - started})

    timed("tfidf (sklearn cosine)", lambda: tfidf_precision(docs, labels))
    started = time.perf_counter()
    engine = make_engine(engine_name, **(params or {})).fit(corpus)
    fit_s = time.perf_counter() - started
    # what the product's index ranks by: every topic, hidden spares too (`hidden_spares`)
    fingerprints = engine.transform_all(corpus.bow)
    transform_s = time.perf_counter() - started - fit_s
    counts = bow_matrix(corpus.bow, len(corpus.dictionary))
    ids, y = corpus.campaign_ids, labels  # callers pass docs and labels in corpus order
    timed("topic only (hellinger)",
          lambda: label_precision(NeighborIndex(term_weight=0).fit(fingerprints, ids), y))
    timed("topics + terms (tw=0.6, no vectors)",
          lambda: label_precision(NeighborIndex(term_weight=0.6, vector_weight=0).fit(
              fingerprints, ids, counts), y))
    vectors = corpus.encoder.word_vectors  # learnt with the corpus, as TextConfig() does
    words = term_vectors.similar_words(vectors)  # what TextConfig(soft_terms=True) adds
    timed(f"blend (tw={DEFAULT_TERM_WEIGHT}, vw={DEFAULT_VECTOR_WEIGHT}, no groups)",
          lambda: label_precision(NeighborIndex().fit(fingerprints, ids, counts, None,
                                                      vectors), y))
    timed(f"default: blend + groups (gw={DEFAULT_GROUP_WEIGHT})",
          lambda: label_precision(NeighborIndex().fit(fingerprints, ids, counts, None,
                                                      vectors, "find"), y))
    timed("default + soft terms",
          lambda: label_precision(NeighborIndex().fit(fingerprints, ids, counts, words,
                                                      vectors, "find"), y))
    for w in weights:
        timed(f"default tw={w}",
              lambda w=w: label_precision(NeighborIndex(term_weight=w).fit(
                  fingerprints, ids, counts, None, vectors, "find"), y))
    print(f"  {name}: {len(corpus)} docs, vocabulary {len(corpus.dictionary)}, "
          f"{engine_name} K={engine.k} fit {fit_s:.1f} s, transform {transform_s:.1f} s",
          flush=True)
    return rows


def latency(n: int = 100_000, k: int = 50, vocab: int = 20_000, terms_per_doc: int = 40,
            queries: int = 200) -> list[dict]:
    """p50/p95 of one `query` at N x K, topic-only, with terms, with campaign vectors
    (random word vectors: the cost, not the quality)."""
    import scipy.sparse as sp

    rng = np.random.default_rng(SEED)
    fingerprints = rng.dirichlet(np.full(k, 0.1), size=n).astype(np.float32)
    zipf = 1.0 / np.arange(1, vocab + 1)
    cols = rng.choice(vocab, size=n * terms_per_doc, p=zipf / zipf.sum())
    counts = sp.csr_matrix((np.ones(n * terms_per_doc), (np.repeat(np.arange(n), terms_per_doc),
                                                         cols)), shape=(n, vocab))
    ids = [f"c{i}" for i in range(n)]
    # soft terms: every word with 10 similar words (the most core.model.term_vectors keeps)
    similar = sp.csr_matrix((np.full(vocab * 10, 0.6, dtype=np.float32),
                             (np.repeat(np.arange(vocab), 10), rng.integers(0, vocab, vocab * 10))),
                            shape=(vocab, vocab))
    vectors = rng.standard_normal((vocab, term_vectors.DIMENSIONS)).astype(np.float32)
    groups = np.stack([rng.integers(0, size, n) for size in SIZES], axis=1).astype(np.int16)
    out = []
    for label, make, use_terms in [
        ("topic only", lambda: NeighborIndex(term_weight=0).fit(fingerprints, ids), False),
        ("topics + terms (tw=0.6, no vectors)",
         lambda: NeighborIndex(term_weight=0.6, vector_weight=0).fit(fingerprints, ids,
                                                                     counts), True),
        (f"blend (tw={DEFAULT_TERM_WEIGHT}, vw={DEFAULT_VECTOR_WEIGHT}, no groups)",
         lambda: NeighborIndex().fit(fingerprints, ids, counts, None, vectors), True),
        (f"default: blend + groups (gw={DEFAULT_GROUP_WEIGHT})",
         lambda: NeighborIndex().fit(fingerprints, ids, counts, None, vectors, groups), True),
        ("default + soft terms",
         lambda: NeighborIndex().fit(fingerprints, ids, counts, similar, vectors, groups),
         True),
    ]:
        started = time.perf_counter()
        index = make()
        fit_s = time.perf_counter() - started
        picks = rng.integers(0, n, size=queries)
        allowed = np.ones(n, dtype=bool)
        allowed[::7] = False  # a filter is part of a realistic query
        times = []
        for i in picks:
            started = time.perf_counter()
            index.query(fingerprints[i], K_NEIGHBORS, terms=counts[i] if use_terms else None,
                        exclude=[ids[i]], allowed=allowed)
            times.append(time.perf_counter() - started)
        ms = np.array(times) * 1000
        out.append({"index": label, "N": n, "K": k, "fit s": fit_s,
                    "p50 ms": np.percentile(ms, 50), "p95 ms": np.percentile(ms, 95),
                    "max ms": ms.max()})
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="subsample (M10 2,000, BBC 600, demo 1,000 docs), 50 latency queries")
    parser.add_argument("--engine", default=DEFAULT_ENGINE, help="engine name (default: project's)")
    parser.add_argument("--weights", default="", help="extra term weights, e.g. 0.4,0.5,0.7")
    parser.add_argument("--param", action="append", default=[],
                        help="KEY=VALUE (JSON) engine override, e.g. diversify=true")
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--corpus", metavar="PATH",
                        help="a labelled corpus of your own instead of M10, BBC and the demo")
    args = parser.parse_args(argv)
    weights = [float(w) for w in args.weights.split(",") if w]
    params = dict(parse_param(p) for p in args.param)
    n_m10, n_bbc, n_demo = (2000, 600, 1000) if args.quick else (None, None, None)
    print(f"engine {args.engine} {DEFAULTS[args.engine] | params}", flush=True)

    results = []
    corpora = ([(Path(args.corpus).name, load_own(args.corpus, n_m10))] if args.corpus else
               [(name, load_octis(name, n))
                for name, n in [("octis_m10", n_m10), ("octis_bbc_news", n_bbc)]])
    for name, (ids, docs, labels, config) in corpora:
        corpus = Corpus.from_texts(docs, ids=ids, config=config)
        results += quality(name, corpus, docs, labels, args.engine, weights, params)
    if not args.corpus:
        rows, corpus, labels = demo_corpus(n_demo)
        per_campaign = rows.groupby("campaign_id", sort=False)["term"].agg(" ".join)
        results += quality("demo", corpus, per_campaign.loc[corpus.campaign_ids].tolist(),
                           labels, args.engine, weights, params)
    table = pd.DataFrame(results)
    print("\nprecision@10 of same-label neighbours (seconds = evaluation time)")
    print(table.pivot(index="method", columns="corpus", values="p@10")
          .round(3).to_string())
    print(table.round({"p@10": 3, "seconds": 1}).to_string(index=False))

    if not args.skip_latency:
        print("\nquery latency, one query at a time (float32, exact)")
        frame = pd.DataFrame(latency(queries=50 if args.quick else 200))
        print(frame.round(2).to_string(index=False))


if __name__ == "__main__":
    main()
