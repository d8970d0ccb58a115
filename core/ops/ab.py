"""A/B comparison of two scored models (production vs candidate): how their neighbour
lists differ for one campaign and across the data, how their topics line up, how their
metrics differ, and how people rated each model's suggested neighbours."""

from __future__ import annotations

from collections.abc import Container

import numpy as np
import pandas as pd

from core.errors import TopicLabError
from core.model import metrics
from core.serve import registry, review
from core.serve.lookup import Lookup

METRICS = ("npmi", "c_v", "u_mass", "diversity", "perplexity")


def check_comparable(a: Lookup, b: Lookup) -> None:
    """Campaign ids only mean the same campaign within one dataset."""
    if a.dataset != b.dataset:
        raise TopicLabError(f"A/B compares models of one dataset; {a.model_id} is on "
                            f"{a.dataset!r} and {b.model_id} on {b.dataset!r}.")


def common_campaigns(a: Lookup, b: Lookup) -> list[str]:
    """Campaigns both models have fingerprints for (versions of a dataset can differ)."""
    check_comparable(a, b)
    return sorted(set(a.fingerprints.campaign_ids) & set(b.fingerprints.campaign_ids))


NOT_IN_B, NOT_IN_A = "not in B's data", "not in A's data"
# Each side's (neighbour id, name) columns of `side_by_side`.
NEIGHBOUR_COLUMNS = (("A neighbour", "A name"), ("B neighbour", "B name"))


def side_by_side(a: Lookup, b: Lookup, campaign_id: str, n: int = 10) -> pd.DataFrame:
    """Rank by rank: each model's neighbour and whether the other model also found it.
    A neighbour the other model has no fingerprint for (models of two versions of the
    data) is marked `not in B's data`, not `only A`: the other model could not find it.
    The neighbours' columns say whose they are ("A neighbour"): headed "A" and "B", a
    column of campaign ids read as the models' ids or topics."""
    check_comparable(a, b)
    left = a.neighbors(campaign_id, n)
    right = b.neighbors(campaign_id, n)
    in_a, in_b = set(left["campaign_id"]), set(right["campaign_id"])
    # Each index's {campaign id: row}: a set of every campaign id, built per call, cost
    # ~0.1 s per model at 1M campaigns on every run of the A/B page, for 20 look-ups.
    data_a, data_b = a.index.position_, b.index.position_

    def status(neighbour: str, found: set[str], data: Container[str], only: str,
               absent: str) -> str:
        return "both" if neighbour in found else only if neighbour in data else absent

    rows = []
    for rank in range(max(len(left), len(right))):
        ra = left.iloc[rank] if rank < len(left) else None
        rb = right.iloc[rank] if rank < len(right) else None
        rows.append({
            "rank": rank + 1,
            "A neighbour": None if ra is None else ra["campaign_id"],
            "A name": None if ra is None else ra["campaign_name"],
            "A similarity": None if ra is None else ra["similarity"],
            "A status": None if ra is None else status(ra["campaign_id"], in_b, data_b,
                                                       "only A", NOT_IN_B),
            "B neighbour": None if rb is None else rb["campaign_id"],
            "B name": None if rb is None else rb["campaign_name"],
            "B similarity": None if rb is None else rb["similarity"],
            "B status": None if rb is None else status(rb["campaign_id"], in_a, data_a,
                                                       "only B", NOT_IN_A),
        })
    return pd.DataFrame(rows)


def overlap_at_k(a: Lookup, b: Lookup, k: int = 10, sample: int | None = 500,
                 seed: int = 0) -> dict[str, float]:
    """Mean share of common neighbours in the top k, over campaigns both models scored.
    Both search only those campaigns: with models of two versions of the data, a
    neighbour one model has no fingerprint for counted as the models disagreeing."""
    common = common_campaigns(a, b)
    allowed_a, allowed_b = _only(a, common), _only(b, common)
    if sample and len(common) > sample:
        common = list(np.random.default_rng(seed).choice(common, sample, replace=False))
    overlaps = []
    for campaign_id in common:
        na = {n.campaign_id for n in a.index.query_id(campaign_id, k, allowed=allowed_a)}
        nb = {n.campaign_id for n in b.index.query_id(campaign_id, k, allowed=allowed_b)}
        overlaps.append(len(na & nb) / max(1, min(len(na), len(nb))))
    return {"overlap_at_k": float(np.mean(overlaps)) if overlaps else float("nan"),
            "k": k, "campaigns": len(common)}


def _only(lookup: Lookup, campaign_ids: list[str]) -> np.ndarray | None:
    """A mask over `lookup`'s neighbour index keeping `campaign_ids` (all among its ids);
    None keeps all. Set from the index's {id: row} map: `np.isin` over object arrays
    compares every pair (numpy does not sort objects), 3 s at 20,000 campaigns and hours
    at a million."""
    position = lookup.index.position_
    if len(campaign_ids) == len(position):  # all of them: no mask
        return None
    mask = np.zeros(len(position), dtype=bool)
    mask[[position[c] for c in campaign_ids]] = True
    return mask


def alignment(a: registry.LoadedModel, b: registry.LoadedModel) -> dict:
    """Jensen–Shannon distances between the two models' topics, with best matches."""
    pa, pb, _ = metrics.align_vocabularies(a.engine.topic_term_, a.vocabulary,
                                        b.engine.topic_term_, b.vocabulary)
    js, best = metrics.topic_alignment(pa, pb)
    return {"js": js, "best": best,
            "mean_best_js": float(js[np.arange(len(best)), best].mean())}


def default_pair(table: pd.DataFrame) -> tuple[str | None, str | None]:
    """Which two models of `registry.metrics_table` (newest first) a comparison starts
    with: A the production model, B the candidate, else the newest other model of A's
    dataset, else the newest other model. Compare started with the newest model as A, so
    a new candidate stood as A against itself or an old run; and A/B started against a
    newer model of another dataset, with the error that it compares one dataset's models.
    (None, None) without models; B is None with one model."""
    if table.empty:
        return None, None
    ids = table["model_id"].tolist()
    dataset = (table.set_index("model_id")["dataset"].to_dict() if "dataset" in table
               else dict.fromkeys(ids))

    def holding(alias: str) -> str | None:
        named = table.loc[table["aliases"].str.split(", ").map(lambda a: alias in a),
                          "model_id"]
        return str(named.iloc[0]) if not named.empty else None

    a = holding("production") or ids[0]
    b = holding("candidate")
    if b is None or b == a:
        others = [m for m in ids if m != a]
        b = next((m for m in others if dataset[m] == dataset[a]), others[0] if others else None)
    return a, b


def metric_deltas(model_a: str, model_b: str) -> pd.DataFrame:
    """Each headline metric of both models and the difference B − A."""
    ma, mb = registry.get(model_a)["metrics"], registry.get(model_b)["metrics"]
    rows = [{"metric": m, "A": ma.get(m), "B": mb.get(m),
             "B − A": (mb[m] - ma[m]) if ma.get(m) is not None and mb.get(m) is not None
             else None} for m in METRICS]
    return pd.DataFrame(rows)


def metrics_note(model_a: str, model_b: str) -> str | None:
    """What the metric deltas compare, when the two models were trained on different data
    (another version, or another dataset): each metric is measured on the model's own
    training data."""
    a, b = registry.get(model_a), registry.get(model_b)
    if (a["dataset"], int(a["version"])) == (b["dataset"], int(b["version"])):
        return None
    return (f"Each model's metrics are measured on its own training data (A on "
            f"{a['dataset']} v{int(a['version'])}, B on {b['dataset']} v{int(b['version'])}), "
            "so their differences mix the models with the data. The quality gate (Compare "
            "page, promote) measures both on one version.")


def acceptance(model_a: str, model_b: str) -> pd.DataFrame:
    """People's verdicts on each model's neighbours: count, useful, acceptance rate."""
    return review.acceptance([model_a, model_b])


def acceptance_note(verdicts: pd.DataFrame) -> str | None:
    """Which models of `acceptance`'s table nobody has rated yet: they have no rate, and
    the table showed it as "None". None when every model has verdicts."""
    unrated = verdicts.loc[verdicts["verdicts"] == 0, "model_id"].tolist()
    if not unrated:
        return None
    if len(unrated) == len(verdicts):
        return ("No one has rated either model's suggested neighbours yet, so neither has "
                "an acceptance rate. Rate them in the One campaign part below or on Lookup.")
    return (f"No one has rated {unrated[0]}'s suggested neighbours yet, so it has no "
            "acceptance rate. Rate them in the One campaign part below or on Lookup.")
