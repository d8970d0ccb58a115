"""The campaign map and clusters: projection, its cache in the model folder, clusters."""

from __future__ import annotations

import numpy as np
import pytest

from core.serve import campaign_map, registry, score


def test_projection_is_cached_in_the_model_folder_and_reused(trained_home, monkeypatch):
    model_id = registry.resolve("production")
    prints = score.load_fingerprints(model_id)
    path = registry.model_dir(model_id) / campaign_map.CACHE_FILE
    assert not path.exists()
    first, total, cached = campaign_map.projection()
    assert total == len(prints.campaign_ids) and not cached
    assert first.shape == (total, 3) and path.exists()
    assert np.isfinite(first[["x", "y"]].to_numpy()).all()
    assert first[["x", "y"]].std().min() > 0  # spread out, not one point
    assert not list(path.parent.glob(".*.tmp"))  # temp file renamed away

    def refuse(*args, **kwargs):
        raise AssertionError("recomputed although cached")

    monkeypatch.setattr(campaign_map, "project", refuse)
    again, _, cached = campaign_map.projection(model_id)
    assert cached and again.equals(first)
    # x and y to the thousandth, read or computed: the float32 cache read back as
    # -18.791154861450195 in `map`'s JSON
    assert (first[["x", "y"]].dtypes == np.float64).all()
    assert first[["x", "y"]].equals(first[["x", "y"]].round(campaign_map.COORDINATE_DECIMALS))
    points = campaign_map.campaign_map(model_id).to_dict()["points"]
    assert all(len(repr(abs(p[c])).split(".")[-1]) <= 3 for p in points for c in "xy"), \
        points[:3]


def test_projection_recomputed_when_missing_or_damaged(trained_home, monkeypatch):
    monkeypatch.setenv("TOPICLAB_MAP_MAX_POINTS", "60")  # a small sample keeps this quick
    model_id = registry.resolve("production")
    _, _, cached = campaign_map.projection(model_id)
    assert not cached
    path = registry.model_dir(model_id) / campaign_map.CACHE_FILE
    path.write_bytes(b"not parquet")  # a damaged cache is recomputed, not an error
    _, _, cached = campaign_map.projection(model_id)
    assert not cached
    path.unlink()
    _, _, cached = campaign_map.projection(model_id)
    assert not cached and path.exists()


def test_similar_fingerprints_land_close_together():
    rng = np.random.default_rng(1)
    a = rng.dirichlet(np.r_[np.full(1, 30.0), np.ones(7)], 40)
    b = rng.dirichlet(np.r_[np.ones(7), np.full(1, 30.0)], 40)
    xy = campaign_map.project(np.vstack([a, b]))
    assert xy.shape == (80, 2)
    centre_a, centre_b = xy[:40].mean(axis=0), xy[40:].mean(axis=0)
    spread = max(np.linalg.norm(xy[:40] - centre_a, axis=1).mean(),
                 np.linalg.norm(xy[40:] - centre_b, axis=1).mean())
    assert np.linalg.norm(centre_a - centre_b) > 2 * spread


def test_map_samples_above_the_limit_with_a_note(trained_home, monkeypatch):
    monkeypatch.setenv("TOPICLAB_MAP_MAX_POINTS", "50")
    result = campaign_map.campaign_map()
    assert len(result.points) == 50 < result.total
    assert result.note and "50" in result.note
    assert result.clusters["campaigns"].sum() == result.total  # clusters count everyone


def test_clusters_sum_to_campaigns_and_name_their_topics(trained_home):
    result = campaign_map.campaign_map()
    model = registry.load(result.model_id)
    names = registry.topic_names(model)
    clusters = result.clusters
    assert clusters["campaigns"].sum() == result.total == len(result.points)
    assert clusters["campaigns"].is_monotonic_decreasing
    assert set(clusters["name"]) <= set(names)
    assert clusters["top_topics"].str.len().gt(0).all()
    # The demo has metrics: medians are real numbers within their bounds.
    assert clusters["median_ctr"].between(0, 1).all()
    assert (clusters["median_cpc"] > 0).all()
    assert set(result.points["cluster"]) == set(clusters["name"])
    assert result.points["campaign_name"].notna().all()


def test_small_dominant_groups_merge_into_the_nearest_big_one():
    big_a = np.tile([0.8, 0.1, 0.05, 0.05], (10, 1))
    big_b = np.tile([0.05, 0.05, 0.1, 0.8], (10, 1))
    small = np.array([[0.3, 0.6, 0.05, 0.05], [0.35, 0.55, 0.05, 0.05]])  # near topic 0
    labels = campaign_map.dominant_clusters(np.vstack([big_a, big_b, small]),
                                            min_cluster_size=5)
    assert list(labels[:10]) == [0] * 10 and list(labels[10:20]) == [3] * 10
    assert list(labels[20:]) == [0, 0]
    assert np.bincount(labels).sum() == 22


def test_a_few_campaigns_keep_a_cluster_per_topic_that_holds_its_share():
    """The 16 Sony campaigns (K = 8, about 2 a topic) were one cluster: no topic reached
    the floor of 5, so the biggest group took every campaign."""
    weights = np.full((16, 8), 0.02)
    weights[np.arange(16), np.arange(16) % 8] = 0.86          # 2 campaigns a topic
    weights[15] = np.full(8, 0.02)
    weights[15, [0, 6]] = [0.46, 0.42]          # now topic 0's: topic 7 keeps 1 campaign
    labels = campaign_map.dominant_clusters(weights)
    assert list(labels[:7]) == list(range(7)) and labels[15] == 0
    assert labels[7] != 7 and len(set(labels)) == 7          # a group of 1 still merges


def test_a_campaign_the_model_knows_no_word_of_joins_no_topic_s_cluster():
    """Its fingerprint is the prior alone (1/K everywhere), whose first maximum is topic 0:
    Sony's `amuelind_brand` made T0 a cluster of two, and a campaign of T3 merged into
    "T0", whose strongest topic was then T3."""
    weights = np.full((16, 8), 0.02)
    weights[np.arange(14), np.arange(14) % 7 + 1] = 0.86     # 2 campaigns a topic, 1-7
    weights[14] = np.full(8, 0.02)
    weights[14, [0, 6]] = [0.68, 0.18]                       # topic 0 leads one campaign
    weights[15] = np.full(8, 1 / 8)                          # no word the model knows
    known = np.arange(16) != 15
    assert campaign_map.dominant_clusters(weights)[15] == 0  # what it was counted as
    labels = campaign_map.dominant_clusters(weights, known=known)
    assert labels[15] == campaign_map.UNKNOWN_CLUSTER
    assert (labels[:15] == weights[:15].argmax(axis=1)).all()  # 15 // 8: 1 is big enough
    assert campaign_map.dominant_clusters(weights[15:], known=known[15:]).tolist() == [
        campaign_map.UNKNOWN_CLUSTER]                           # none known: no topic


@pytest.mark.parametrize("n", [0, 1, 2, 4])
def test_projection_of_tiny_inputs(n):
    weights = np.random.default_rng(0).dirichlet(np.ones(5), n) if n else np.empty((0, 5))
    assert campaign_map.project(weights).shape == (n, 2)


def test_cli_map_prints_clusters_and_cached_points(trained_home):
    from tests.conftest import cli, ok_json

    clusters = ok_json(cli("map", "--clusters", home=trained_home))
    assert sum(c["campaigns"] for c in clusters) == 400
    assert {"name", "top_topics", "median_ctr", "median_cpc",
            "median_conversion_rate"} <= set(clusters[0])
    full = ok_json(cli("map", home=trained_home))
    assert full["cached"] and full["campaigns"] == len(full["points"]) == 400
    missing = cli("map", "no-such-model", home=trained_home)
    assert missing.returncode == 1 and missing.stderr.startswith("error: ")


def test_cluster_costs_are_shown_in_the_currencys_minor_unit(trained_home):
    """A cluster's summed cost read `487610.1199999999`: money is rounded to the dataset
    currency's minor unit (cents when unknown, whole yen for JPY), where it is shown."""
    from core.data import datasets

    for code, decimals in ((None, 2), ("JPY", 0)):
        if code:
            datasets.set_currency("demo", code)
        clusters = campaign_map.campaign_map().clusters
        for column in ("cost", "median_cpc"):
            values = clusters[column].dropna()
            assert len(values) and (values == values.round(decimals)).all(), (code, values)
    assert (clusters["cost"] % 1 == 0).all()


def test_top_topics_leave_out_topics_that_would_show_as_zero_percent():
    """A Sony cluster of one topic at 99% listed "T1: sony, ソニー, network (0%)" among its
    top topics (on the Map's clusters table and hover)."""
    names = ["T0: a", "T1: b", "T2: c", "T3: d"]
    assert campaign_map._top_topics(np.array([0.994, 0.004, 0.001, 0.001]), names) == (
        "T0: a (99%)")
    assert campaign_map._top_topics(np.array([0.6, 0.3, 0.006, 0.094]), names) == (
        "T0: a (60%); T1: b (30%); T3: d (9%)")
    assert campaign_map._top_topics(np.full(4, 0.25), names) == (
        "T0: a (25%); T1: b (25%); T2: c (25%)")
