"""Which similarity is high enough to learn from? Prints tables; asserts nothing.

Suggested actions (keyword ideas, benchmark gaps) only use neighbours at or above a
similarity floor (`core.model.neighbors.MIN_SIMILARITY`). This bench measures it on
labelled corpora: every campaign is a query, its 50 most similar campaigns (project
defaults: tomotopy, default `TextConfig`, the default neighbour blend) are binned by
similarity, and for each bin we print the share of neighbours with the query's own label
("local precision") and the share at or above the bin ("cumulative"). The floor is the
lower edge of the lowest bin such that it and every bin above it hold >= 90% same-label
neighbours: a neighbour right at the floor is still nine times in ten a campaign of the
same kind.

Corpora (`--corpus`, several allowed): `demo` (label = vertical; the campaigns the floor
is for), `m10` (OCTIS M10, 8,355 paper titles of ~6 words: how short documents fare) and
`bbc` (OCTIS BBC News, 2,225 articles). `--pasted 1,3,10` also looks up, on the demo,
lists of that many keywords drawn from each campaign (as an account manager pastes a new
one; the campaign itself excluded), binned the same way for each list size.

    .venv/bin/python -m bench.similarity_floor [--corpus demo m10 bbc] [--k 40]
        [--campaigns 3000] [--pasted 1,2,3,5,10]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from bench.neighbors import load_demo, load_octis
from core.model.campaign_model import fold_in_keyword_lists
from core.model.corpus import Corpus
from core.model.engines import bow_matrix, make_engine
from core.model.neighbors import MIN_SIMILARITY, NeighborIndex
from core.model.text import TextConfig

TARGET = 0.9
BIN = 0.05
NEIGHBORS = 50
OCTIS = {"m10": "octis_m10", "bbc": "octis_bbc_news"}


def floor_from(similarity: np.ndarray, same: np.ndarray, target: float = TARGET,
               width: float = BIN) -> tuple[float, pd.DataFrame]:
    """(floor, per-bin table) from neighbour similarities and same-label flags."""
    edges = np.arange(0, 1 + width, width)
    bins = np.clip(np.digitize(similarity, edges) - 1, 0, len(edges) - 2)
    rows = []
    for b in range(len(edges) - 1):
        inside = bins == b
        above = bins >= b
        if not inside.any():
            continue
        rows.append({"from": round(edges[b], 2), "to": round(edges[b + 1], 2),
                     "neighbours": int(inside.sum()),
                     "local_precision": float(same[inside].mean()),
                     "cumulative_precision": float(same[above].mean())})
    table = pd.DataFrame(rows)
    floor = 1.0
    for row in table.sort_values("from", ascending=False).itertuples():
        if row.local_precision < target:
            break
        floor = row._1  # "from"
    return float(floor), table


def fitted(corpus: Corpus, k: int, iterations: int | None):
    """(engine, neighbour index) with the project's defaults, as `core train` makes them
    and scoring groups them."""
    params = {} if iterations is None else {"iterations": iterations}
    engine = make_engine("tomotopy", k=k, seed=0, **params).fit(corpus)
    counts = bow_matrix(corpus.bow, len(corpus.vocabulary))
    index = NeighborIndex().fit(engine.transform(counts), corpus.campaign_ids, counts, None,
                                corpus.encoder.word_vectors, "find")
    return engine, index


def stored_neighbours(index: NeighborIndex, labels: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray]:
    """(similarities, same-label flags) of every fitted campaign's 50 neighbours."""
    sims, same = [], []
    for i, cid in enumerate(index.ids_):
        for n in index.query_id(cid, NEIGHBORS):
            sims.append(n.similarity)
            same.append(labels[index.position_[n.campaign_id]] == labels[i])
    return np.asarray(sims), np.asarray(same)


def pasted_neighbours(corpus: Corpus, engine, index: NeighborIndex, labels: np.ndarray,
                      rows: pd.DataFrame, size: int, seed: int = 0
                      ) -> tuple[np.ndarray, np.ndarray]:
    """(similarities, same-label flags) of the neighbours of `size` keywords drawn from
    each demo campaign and folded in as pasted text, that campaign excluded."""
    rng = np.random.default_rng(seed)
    keywords = rows[rows["term_type"] == "keyword"].groupby("campaign_id")["term"].apply(list)
    label_of = dict(zip(index.ids_, labels, strict=True))
    ids = [c for c in corpus.campaign_ids if c in keywords.index]
    lists = [list(rng.choice(keywords[c], min(size, len(keywords[c])), replace=False))
             for c in ids]
    sims, same = [], []
    for cid, fp in zip(ids, fold_in_keyword_lists(corpus.encoder, engine, lists, "bench"),
                       strict=True):
        if isinstance(fp, Exception):  # no known word: Lookup shows no neighbours either
            continue
        terms = bow_matrix([fp.bow], len(corpus.vocabulary))
        for n in index.query(fp.weights, NEIGHBORS, terms=terms, exclude=[cid]):
            sims.append(n.similarity)
            same.append(label_of[n.campaign_id] == label_of[cid])
    return np.asarray(sims), np.asarray(same)


def report(title: str, sims: np.ndarray, same: np.ndarray) -> dict:
    """Print one bin table; return the summary row."""
    floor, table = floor_from(sims, same)
    above = sims >= MIN_SIMILARITY
    print(f"\n{title}")
    print(table.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    return {"queries": title, "floor (>= 90% per bin)": floor,
            f"share >= {MIN_SIMILARITY:g}": float(above.mean()),
            f"precision >= {MIN_SIMILARITY:g}": float(same[above].mean()) if above.any()
            else float("nan")}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", nargs="+", default=["demo"], choices=["demo", *OCTIS])
    parser.add_argument("--k", type=int, default=40, help="topics (make run uses 40)")
    parser.add_argument("--campaigns", type=int, default=3000, help="demo campaigns")
    parser.add_argument("--iterations", type=int, default=None,
                        help="Gibbs iterations (default: the project's)")
    parser.add_argument("--pasted", default="",
                        help="demo only: keyword-list sizes to paste, e.g. 1,2,3,5,10")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.pasted.split(",") if s]
    pd.set_option("display.width", 120)
    summary = []
    for name in args.corpus:
        started = time.perf_counter()
        if name == "demo":
            rows, ids, label_list = load_demo(None)
            keep = rows["campaign_id"].drop_duplicates().head(args.campaigns)
            rows = rows[rows["campaign_id"].isin(keep)]
            corpus = Corpus.from_frame(rows, TextConfig())
        else:
            ids, docs, label_list, config = load_octis(OCTIS[name], None)
            corpus = Corpus.from_texts(docs, ids=ids, config=config)
        labels = pd.Series(label_list, index=ids).reindex(corpus.campaign_ids).to_numpy()
        engine, index = fitted(corpus, args.k, args.iterations)
        print(f"{name}: trained K={args.k} on {len(corpus)} campaigns in "
              f"{time.perf_counter() - started:.0f} s", flush=True)
        summary.append(report(f"{name}, stored campaigns", *stored_neighbours(index, labels)))
        if name == "demo":
            for size in sizes:
                summary.append(report(f"demo, {size} pasted keywords",
                                      *pasted_neighbours(corpus, engine, index, labels, rows,
                                                        size)))
    print(f"\nfloor: the lowest similarity above which every {BIN:g}-wide bin holds >= "
          f"{TARGET:.0%} same-label neighbours; core.model.neighbors.MIN_SIMILARITY is "
          f"{MIN_SIMILARITY:g}")
    print(pd.DataFrame(summary).to_string(index=False, float_format=lambda x: f"{x:.3f}"))


if __name__ == "__main__":
    main()
