"""Training, sweeps, cancellation, batch and real-time scoring on a real demo subset."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.data import datasets, store
from core.errors import Cancelled, InputError
from core.model.engines import DEFAULTS
from core.ops import sweep, train
from core.serve import registry, score
from core.serve.lookup import Lookup


def test_a_sweep_is_suggested_around_the_datasets_k_within_what_it_holds() -> None:
    """The Train page offered K = 10, 20, 30 to every dataset, the 16 Sony exports too."""
    assert sweep.suggested_ks(20, 3000) == [10, 20, 30]    # what it offered: the default's
    assert sweep.suggested_ks(50, 3000) == [25, 50, 75]    # the demo's production K
    assert sweep.suggested_ks(5, 16) == [2, 5]             # Sony: 16 campaigns hold 5
    assert sweep.suggested_ks(2, 5) == [2]                 # nothing smaller to try


def test_sweep_registers_every_run_and_explains_its_choice(trained_home):
    before = len(registry.list_models())
    seen = []
    result = sweep.sweep(train.TrainSpec(dataset="demo", params={"iterations": 60}),
                         ks=[4, 8], seeds=[0, 1],
                         progress=lambda done, total, msg: seen.append((done, total)))
    assert len(result.runs) == 4 and len(registry.list_models()) == before + 4
    assert result.table["k"].tolist() == [4, 8]
    assert result.table["stability"].between(0, 1).all()
    chosen = result.table.sort_values("npmi").iloc[-1]
    assert result.best_model_id in {r.model_id for r in result.runs}
    assert f"K={int(chosen['k'])}" in result.explanation
    assert seen[-1][0] == seen[-1][1]  # progress reached the end
    stored = sweep.list_sweeps("demo")
    assert stored["best_model_id"].iloc[0] == result.best_model_id
    # the alpha the runs used, not `[null]` (no --alphas: the engine's default)
    assert result.to_dict()["grid"]["alpha"] == [DEFAULTS["tomotopy"]["alpha"]]
    assert json.loads(stored["grid"].iloc[0])["alpha"] == [DEFAULTS["tomotopy"]["alpha"]]
    # each configuration names that alpha too (it said "default" beside the grid's 0.05)
    configurations = result.to_dict()["configurations"]
    assert [c["alpha"] for c in configurations] == [DEFAULTS["tomotopy"]["alpha"]] * 2
    assert stored["results"].iloc[0]["alpha"].tolist() == [DEFAULTS["tomotopy"]["alpha"]] * 2
    assert sweep.alphas_used(train.TrainSpec(dataset="demo", engine="btm", k=4),
                             [None, 0.5]) == ["50/K (BTM's default)", 0.5]


def test_cancelled_training_writes_nothing(trained_home):
    before = store.table_counts()

    def cancel_halfway(done: int, total: int, message: str) -> None:
        if done > total / 2:
            raise Cancelled("stop")

    with pytest.raises(Cancelled, match="stop"):
        train.train(train.TrainSpec(dataset="demo", k=5, params={"iterations": 200}),
                    cancel_halfway)
    assert store.table_counts() == before


def test_fingerprints_sum_to_one_and_rescoring_is_stable(trained_home):
    model_id = registry.resolve("production")
    first = score.load_fingerprints(model_id)
    assert first.weights.shape[0] == 400
    np.testing.assert_allclose(first.weights.sum(axis=1), 1.0, atol=1e-5)
    score.score_dataset(model_id)
    second = score.load_fingerprints(model_id)
    assert second.campaign_ids == first.campaign_ids
    np.testing.assert_allclose(second.weights, first.weights, atol=1e-6)


def test_local_scoring_names_each_step_and_reaches_100_only_when_stored(trained_home):
    """Local scoring's bar was the fold-in's alone: it reached 100% at the last batch and
    sat there while the fingerprints were written. One bar now, as Spark scoring's, that
    only moves forward and ends once they are stored; a model without saved counts says
    it reads and encodes the campaigns first."""
    from core.data import audit
    from core.model.corpus import EncodedCounts

    model_id = registry.resolve("production")
    for encoded in (True, False):
        if not encoded:
            (registry.model_dir(model_id) / EncodedCounts.FILE).unlink()
        scorings, lines = len(audit.entries(action="score")), []

        def report(done, total, message, scorings=scorings, lines=lines):
            if done == total:
                assert len(audit.entries(action="score")) == scorings + 1, message
            lines.append((done / total, message))

        score.score_dataset(model_id, report)
        shares, messages = [s for s, _ in lines], [m for _, m in lines]
        assert messages[-2:] == ["Writing 400 fingerprints to the store…",
                                 "Scored 400 campaigns"], messages
        assert "Folded in 400 of 400 campaigns" in messages
        assert messages[0].startswith("Reading and encoding") is not encoded, messages
        assert shares == sorted(shares) and shares[-1] == 1 and shares[-2] < 1, lines


def test_fold_in_of_a_campaigns_own_terms_lands_closest_to_it(trained_home):
    lookup = Lookup()
    terms = datasets.terms("demo", 1)
    hits = 0
    sample = lookup.fingerprints.campaign_ids[:20]
    for campaign_id in sample:
        own = terms.loc[terms["campaign_id"] == campaign_id, "term"].tolist()
        result = lookup.keywords(own, 3)
        hits += result.neighbors["campaign_id"].iloc[0] == campaign_id
        stored = lookup.fingerprints.weights[lookup.fingerprints.index_of(campaign_id)]
        np.testing.assert_allclose(result.fingerprint.weights, stored, atol=1e-3)
    assert hits >= 18


def test_neighbours_are_mostly_from_the_same_vertical(trained_home):
    lookup = Lookup()
    labels = lookup.campaigns["label"]
    precision = []
    for campaign_id in lookup.fingerprints.campaign_ids[:60]:
        table = lookup.neighbors(campaign_id, 10)
        assert campaign_id not in set(table["campaign_id"])
        assert table["similarity"].is_monotonic_decreasing
        precision.append((table["label"] == labels[campaign_id]).mean())
    assert np.mean(precision) > 0.7  # chance is about 1/46


def test_neighbour_filters(trained_home):
    lookup = Lookup()
    campaign_id = lookup.fingerprints.campaign_ids[0]
    account = lookup.campaigns.at[campaign_id, "account"]
    table = lookup.neighbors(campaign_id, 20, exclude_account=True, min_terms=40)
    assert account not in set(table["account"])
    assert (table["terms"] >= 40).all()


def test_pasted_keywords_report_unknown_words_and_refuse_all_unknown(trained_home):
    lookup = Lookup()
    result = lookup.keywords(["emergency plumber", "zxqv flurble"], 5)
    assert 0 < result.fingerprint.oov_share < 1
    assert "zxqv" in result.fingerprint.unknown_tokens
    assert result.fingerprint.weights.sum() == pytest.approx(1.0)
    with pytest.raises(InputError, match="None of the words"):
        lookup.keywords(["zxqv flurble"], 5)
    with pytest.raises(InputError, match="No keywords"):
        lookup.keywords(["  ", ""], 5)
