"""Which similarity is high enough to learn from? Prints a table; asserts nothing.

Suggested actions (keyword ideas, benchmark gaps) only use neighbours at or above a
similarity floor (`core.model.neighbors.MIN_SIMILARITY`). This bench measures it on the demo
corpus, whose `vertical` column is ground truth: every campaign is a query, its 50 most
similar campaigns (project defaults: tomotopy, default `TextConfig`, the default
topic/term blend) are binned by similarity, and for each bin we print the share of
neighbours of the query's own vertical ("local precision") and the share at or above the
bin ("cumulative"). The floor is the lower edge of the lowest bin such that it and every
bin above it hold >= 90% same-vertical neighbours: a neighbour right at the floor is
still nine times in ten a campaign of the same kind.

    .venv/bin/python bench/similarity_floor.py [--k 40] [--campaigns 3000] [--iterations N]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from core.model.corpus import Corpus  # noqa: E402
from core.model.engines import DEFAULTS, bow_matrix, make_engine  # noqa: E402
from core.model.neighbors import MIN_SIMILARITY, NeighborIndex  # noqa: E402
from core.model.text import TextConfig  # noqa: E402

TARGET = 0.9
BIN = 0.05
NEIGHBORS = 50


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--k", type=int, default=40, help="topics (make run uses 40)")
    parser.add_argument("--campaigns", type=int, default=3000)
    parser.add_argument("--iterations", type=int, default=DEFAULTS["tomotopy"]["iterations"])
    args = parser.parse_args()

    rows = pd.read_parquet(REPO_ROOT / "data" / "demo" / "campaigns.parquet")
    keep = rows["campaign_id"].drop_duplicates().head(args.campaigns)
    rows = rows[rows["campaign_id"].isin(keep)]
    started = time.perf_counter()
    corpus = Corpus.from_frame(rows, TextConfig())
    engine = make_engine("tomotopy", k=args.k, iterations=args.iterations, seed=0).fit(corpus)
    counts = bow_matrix(corpus.bow, len(corpus.vocabulary))
    index = NeighborIndex().fit(engine.transform(counts), corpus.campaign_ids, counts, None,
                                corpus.encoder.word_vectors)
    print(f"trained K={args.k} on {len(corpus)} campaigns in "
          f"{time.perf_counter() - started:.0f} s")

    labels = rows.groupby("campaign_id", sort=False)["vertical"].first()
    label_of = labels.reindex(corpus.campaign_ids).to_numpy()
    sims, same = [], []
    for i, cid in enumerate(corpus.campaign_ids):
        for n in index.query_id(cid, NEIGHBORS):
            sims.append(n.similarity)
            same.append(label_of[index.position_[n.campaign_id]] == label_of[i])
    floor, table = floor_from(np.asarray(sims), np.asarray(same))
    pd.set_option("display.width", 120)
    print(table.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    print(f"\nfloor (lowest similarity above which every {BIN:g}-wide bin holds >= "
          f"{TARGET:.0%} same-vertical neighbours): {floor:.2f}")
    print(f"core.model.neighbors.MIN_SIMILARITY is {MIN_SIMILARITY:g}")


if __name__ == "__main__":
    main()
