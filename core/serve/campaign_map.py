"""The campaign map: every campaign of a model placed in 2-D by its fingerprint, and
groups of campaigns (clusters) with their top topics and median performance.

Projection: PCA-initialised t-SNE (scikit-learn) of the square roots of the
fingerprints. Euclidean distance between square-rooted distributions is the Hellinger
distance (times sqrt 2), the same measure the neighbour search uses, so campaigns that
Lookup calls similar sit together. Why t-SNE and not PCA/TruncatedSVD: a fingerprint
lives on a K-corner simplex, and any linear 2-D view of it lays most of the K corners
on top of each other in the middle (with K=20, the first two components keep only a
few topics apart); t-SNE keeps every topic's campaigns as their own island, which is
what an account manager reads. The price is time: measured here 0.01 s (PCA) against
11 s of CPU (t-SNE, 500 iterations) for 3,000 campaigns; t-SNE grows as N log N, so
about 1.5 min of CPU for 20,000. That is paid once per model: the projection is cached
in the model's artifact folder (`models/<id>/map.parquet`, written to a temporary file
and renamed) and recomputed only when missing or when the model was scored again with
other fingerprints. Above `max_points()` campaigns (default 20,000) the map shows a
fixed random sample, and says so; the clusters always count every campaign.

Clusters: one per dominant topic (a campaign's strongest topic), small ones (under
`min_cluster_size`) merged into the nearest big one by Hellinger distance of their
mean fingerprints. Why this rule rather than KMeans with a chosen k: it needs no k,
is the same on every run, costs O(N K) for millions of campaigns, and each cluster
has a name people already know (its topic's name) that matches the map's colours.

A model with hidden spare topics (`hidden_spares`) places campaigns by every topic, as
its neighbours are ranked, and puts the campaigns mostly on hidden topics
(`score.MOSTLY_HIDDEN`) in a group of their own: their shown fingerprint is flat, so
its strongest topic says nothing about them.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from threadpoolctl import threadpool_limits

from core import config
from core.data import datasets
from core.data.currencies import shown_sums
from core.serve import registry, score

CACHE_FILE = "map.parquet"
_SEED = 0


def max_points() -> int:
    """Most campaigns the map draws (`TOPICLAB_MAP_MAX_POINTS`, default 20,000; at least
    2), checked as every number of the environment is (`abc` was a ValueError traceback)."""
    return max(config.env_whole("TOPICLAB_MAP_MAX_POINTS", 20_000), 2)


@dataclass
class CampaignMap:
    """What the map page draws: points (one row per drawn campaign) and clusters."""

    model_id: str
    points: pd.DataFrame        # campaign_id, x, y, names, dominant topic, cluster, rates
    clusters: pd.DataFrame      # cluster, name, campaigns, top_topics, median rates
    total: int                  # campaigns with a fingerprint
    method: str
    cached: bool                # the projection came from the model's folder

    def legend_order(self, column: str) -> list:
        """The values of a categorical `column` of `points` in the order a legend lists
        them (plotly's own was the order the points came in, T5 before T0): dominant
        topics by topic number, clusters as the clusters table (biggest first), accounts
        and labels by campaigns drawn, most first; campaigns the model knows no word of
        last. A numeric column has no legend: empty."""
        points = self.points
        if column not in points or pd.api.types.is_numeric_dtype(points[column]):
            return []
        if column == "topic_name":   # the groups last, hidden topics before no word known
            ordered = points.sort_values("topic", key=lambda t: t.where(
                t >= 0, np.iinfo(np.int64).max + t), kind="stable")[column]
        elif column == "cluster":
            ordered = self.clusters["name"]
        else:
            counts = points[column].dropna().value_counts()
            ordered = counts.rename_axis("value").reset_index().sort_values(
                ["count", "value"], ascending=[False, True], kind="stable")["value"]
        drawn = set(points[column].dropna())
        return [v for v in pd.unique(ordered) if v in drawn]

    @property
    def note(self) -> str | None:
        """Why fewer points than campaigns are drawn, if they are."""
        if len(self.points) < self.total:
            return (f"The map shows a random sample of {len(self.points):,} of {self.total:,} "
                    "campaigns (fixed per model); the clusters count every campaign.")
        return None

    def to_dict(self) -> dict:
        """The CLI's JSON: counts, how the map was made, clusters and the drawn points."""
        return {"model_id": self.model_id, "campaigns": self.total,
                "drawn": len(self.points), "method": self.method, "cached": self.cached,
                "note": self.note, "clusters": self.clusters.to_dict(orient="records"),
                "points": self.points[["campaign_id", "x", "y", "topic", "cluster"]]
                .to_dict(orient="records")}


def hellinger_coordinates(weights: np.ndarray) -> np.ndarray:
    """Square roots of fingerprints: Euclidean distance between them is Hellinger's."""
    return np.sqrt(np.clip(np.asarray(weights, dtype=np.float64), 0.0, None))


def project(weights: np.ndarray, seed: int = _SEED) -> np.ndarray:
    """N x 2 coordinates of fingerprints (PCA-initialised t-SNE on Hellinger coordinates)."""
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    coords = hellinger_coordinates(weights)
    n = len(coords)
    if n < 5:  # t-SNE needs a few points for its perplexity; PCA (or nothing) is enough
        if n < 3:
            return np.zeros((n, 2)) if n < 2 else np.array([[-1.0, 0.0], [1.0, 0.0]])
        return PCA(2, random_state=seed).fit_transform(coords)
    perplexity = float(min(30.0, (n - 1) / 3))
    # One OpenMP thread: on these shared 2-core machines t-SNE's threads spun against each
    # other (80 campaigns: 12 s with the default threads, 0.6 s with one).
    with threadpool_limits(1):
        return TSNE(2, init="pca", perplexity=perplexity, max_iter=500, random_state=seed,
                    n_jobs=1).fit_transform(coords)


def _digest(campaign_ids: list[str], weights: np.ndarray) -> str:
    """Identifies the fingerprints a projection was computed from."""
    h = hashlib.blake2b(digest_size=16)
    h.update("\x1f".join(campaign_ids).encode("utf-8"))
    h.update(np.ascontiguousarray(weights, dtype=np.float32).tobytes())
    return h.hexdigest()


def _read_cache(path, digest: str) -> pd.DataFrame | None:
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException):
        return None
    meta = table.schema.metadata or {}
    if meta.get(b"digest", b"").decode() != digest:
        return None  # scored again with other fingerprints (or another max_points)
    return table.to_pandas()


def _write_cache(path, frame: pd.DataFrame, digest: str) -> bool:
    """Temporary file + rename, so a reader never sees half a file; False if the model's
    folder cannot be written (a read-only home): the map is then just not cached."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.replace_schema_metadata({b"digest": digest.encode(),
                                           b"method": b"tsne-hellinger"})
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        pq.write_table(table, tmp)
        os.replace(tmp, path)
        return True
    except OSError:
        tmp.unlink(missing_ok=True)
        return False


def projection(model_id: str | None = None) -> tuple[pd.DataFrame, int, bool]:
    """(campaign_id, x, y) of the drawn campaigns, the number of scored campaigns, and
    whether the projection came from the cache. Computed once per model and cached."""
    model_id = registry.resolve(model_id)
    prints = score.load_fingerprints(model_id)
    ids, weights = prints.campaign_ids, prints.for_neighbours   # hidden topics included
    limit = max_points()
    digest = _digest(ids, weights) + f"-{limit}"
    path = registry.model_dir(model_id) / CACHE_FILE
    cached = _read_cache(path, digest)
    if cached is not None:
        return _coordinates_shown(cached), len(ids), True
    rows = np.arange(len(ids))
    if len(ids) > limit:
        rows = np.sort(np.random.default_rng(_SEED).choice(len(ids), limit, replace=False))
    xy = project(weights[rows])
    frame = pd.DataFrame({"campaign_id": [ids[i] for i in rows],
                          "x": xy[:, 0].astype(np.float32), "y": xy[:, 1].astype(np.float32)})
    if path.parent.is_dir():
        _write_cache(path, frame, digest)
    return _coordinates_shown(frame), len(ids), False


COORDINATE_DECIMALS = 3


def _coordinates_shown(frame: pd.DataFrame) -> pd.DataFrame:
    """x and y as float64 to COORDINATE_DECIMALS, as the map's JSON and tables give them:
    kept as float32 (half the cache), they read back as float noise, `"x":
    -18.791154861450195`. t-SNE's units are arbitrary and a map spans ~100 of them, so a
    thousandth is far below a drawn pixel."""
    return frame.assign(**{c: frame[c].astype(np.float64).round(COORDINATE_DECIMALS)
                           for c in ("x", "y")})


# The cluster, dominant topic and top topics of a campaign the model knows no word of,
# and of one mostly on the topics a `hidden_spares` model keeps hidden.
UNKNOWN_CLUSTER, NO_KNOWN_WORD = -1, "no word the model knows"
HIDDEN_CLUSTER, ON_HIDDEN = -2, "mostly on hidden topics"
_GROUPS = {UNKNOWN_CLUSTER: NO_KNOWN_WORD, HIDDEN_CLUSTER: ON_HIDDEN}


def dominant_clusters(weights: np.ndarray, min_cluster_size: int | None = None,
                      known: np.ndarray | None = None) -> np.ndarray:
    """Cluster id (a topic id) of every campaign: its dominant topic, with topics that
    dominate fewer than `min_cluster_size` campaigns (default max(5, 1% of them)) merged
    into the nearest bigger cluster by Hellinger distance of the mean fingerprints. With
    fewer than 5 campaigns a topic on average, a topic dominating its share (n / K) is big
    enough: the 16 Sony campaigns (K = 8, 2 each) were all one cluster.

    `known`: False for a campaign the model knows no word of, which gets UNKNOWN_CLUSTER.
    Its fingerprint is the prior alone, 1/K on every topic, whose first maximum is topic
    0: Sony's `amuelind_brand` made T0 a cluster of two, and a T3 campaign merged into it
    named "T0" with T3 its strongest topic."""
    weights = np.asarray(weights, dtype=np.float64)
    labels = np.full(len(weights), UNKNOWN_CLUSTER, dtype=np.int64)
    known = np.ones(len(weights), dtype=bool) if known is None else np.asarray(known, bool)
    labels[known] = _merged_dominant(weights[known], min_cluster_size)
    return labels


def _merged_dominant(weights: np.ndarray, min_cluster_size: int | None) -> np.ndarray:
    """`dominant_clusters` of campaigns the model knows words of."""
    n = len(weights)
    if n == 0:
        return np.empty(0, dtype=np.int64)
    floor = (min(max(5, n // 100), max(1, n // weights.shape[1]))
             if min_cluster_size is None else min_cluster_size)
    labels = weights.argmax(axis=1)
    sizes = np.bincount(labels, minlength=weights.shape[1])
    big = np.flatnonzero(sizes >= floor)
    if big.size == 0:  # nothing is big enough: the single biggest group takes all
        big = np.array([int(sizes.argmax())])
    centres = {t: hellinger_coordinates(weights[labels == t].mean(axis=0))
               for t in np.flatnonzero(sizes)}
    merged = labels.copy()
    for topic in np.flatnonzero((sizes > 0) & (sizes < floor)):
        if topic in big:
            continue
        distances = [np.linalg.norm(centres[topic] - centres[b]) for b in big]
        merged[labels == topic] = big[int(np.argmin(distances))]
    return merged


def _top_topics(mean: np.ndarray, names: list[str], n: int = 3) -> str:
    """The `n` strongest topics with their share, leaving out any that would show as 0%:
    a Sony cluster of one topic at 99% listed two more topics at "(0%)" as its top ones.
    The strongest is always named."""
    order = np.argsort(-mean, kind="stable")[:n]
    shown = [t for i, t in enumerate(order) if i == 0 or mean[t] >= 0.005]
    return "; ".join(f"{names[t]} ({mean[t]:.0%})" for t in shown)


def clusters_frame(weights: np.ndarray, labels: np.ndarray, campaigns: pd.DataFrame,
                   names: list[str], currency: str | None = None) -> pd.DataFrame:
    """One row per cluster, biggest first: its size, top topics (of the mean fingerprint)
    and the median CTR, CPC and conversion rate of its campaigns (NaN without metrics).
    `campaigns` is the per-campaign table in the same order as `weights`; its cost's
    `currency` rounds the CPC and cost to its minor unit."""
    rows = []
    for cluster in pd.unique(labels):
        members = labels == cluster
        mean = np.asarray(weights, dtype=np.float64)[members].mean(axis=0)
        part = campaigns.loc[members]
        group = _GROUPS.get(int(cluster))
        rows.append({
            "cluster": int(cluster), "name": group or names[int(cluster)],
            "campaigns": int(members.sum()),
            "top_topics": group or _top_topics(mean, names),
            **{f"median_{c}": float(pd.to_numeric(part[c], errors="coerce").median())
               if c in part else float("nan") for c in ("ctr", "cpc", "conversion_rate")},
            "cost": float(pd.to_numeric(part["cost"], errors="coerce").sum(min_count=1))
            if "cost" in part else float("nan"),
        })
    frame = pd.DataFrame(rows, columns=["cluster", "name", "campaigns", "top_topics",
                                        "median_ctr", "median_cpc", "median_conversion_rate",
                                        "cost"])
    frame = shown_sums(frame, currency, money=("median_cpc", "cost"), counts=())
    frame = frame.assign(last=frame["cluster"] < 0)   # the groups after the topics
    return frame.sort_values(["last", "campaigns", "cluster"], ascending=[True, False, True],
                             ignore_index=True).drop(columns="last")


def campaign_map(model_id: str | None = None) -> CampaignMap:
    """Points and clusters of a scored model's campaigns (default: production)."""
    model_id = registry.resolve(model_id)
    model = registry.load(model_id)
    names = registry.topic_names(model)
    info = model.manifest["dataset"]
    prints = score.load_fingerprints(model_id)
    table = datasets.campaigns(info["name"], int(info["version"]), prints.campaign_ids)
    known = ~prints.knows_no_word()
    shares = (np.zeros(len(known)) if prints.hidden is None   # on hidden topics
              else prints.hidden.sum(axis=1))
    on_hidden = known & (shares >= score.MOSTLY_HIDDEN)
    labels = dominant_clusters(prints.weights, known=known & ~on_hidden)
    labels[on_hidden] = HIDDEN_CLUSTER
    clusters = clusters_frame(prints.weights, labels, table.reset_index(drop=True), names,
                              datasets.currency(info["name"]))
    xy, total, cached = projection(model_id)
    rows = pd.Index(prints.campaign_ids).get_indexer(xy["campaign_id"])
    weights = prints.weights[rows]
    dominant = np.where(known[rows], weights.argmax(axis=1), UNKNOWN_CLUSTER)
    dominant[on_hidden[rows]] = HIDDEN_CLUSTER
    names_of = dict(enumerate(names)) | _GROUPS
    detail = table.iloc[rows].reset_index(drop=True)
    points = xy.assign(
        campaign_name=detail["campaign_name"].to_numpy() if "campaign_name" in detail else None,
        account=detail["account"].to_numpy() if "account" in detail else None,
        label=detail["label"].to_numpy() if "label" in detail else None,
        topic=dominant, topic_name=[names_of[t] for t in dominant],
        weight=weights.max(axis=1),
        top_topics=[f"{ON_HIDDEN} ({shares[row]:.0%})" if t == HIDDEN_CLUSTER
                    else _GROUPS.get(int(t)) or _top_topics(w, names)
                    for row, w, t in zip(rows, weights, dominant, strict=True)],
        cluster=[names_of[c] for c in labels[rows]],
        **{c: pd.to_numeric(detail[c], errors="coerce").to_numpy()
           for c in ("ctr", "cpc", "conversion_rate", "cost") if c in detail},
    )
    return CampaignMap(model_id, points, clusters, total, "tsne-hellinger", cached)
