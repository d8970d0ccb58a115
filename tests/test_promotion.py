"""Broken models never reach an alias; the promote safety net in core (issue #8.2, #9.2)."""

from __future__ import annotations

import numpy as np
import pytest

from core.data import audit, ingest, store
from core.errors import InputError, NotFoundError, TopicLabError
from core.model.engines import DEFAULTS, make_engine
from core.ops import deploy, drift, gate, train
from core.serve import naming, registry, score
from tests.conftest import FAST_PARAMS, cli, demo_subset, ok_json

NAN, INF = float("nan"), float("inf")


@pytest.mark.parametrize(("engine", "params", "named"), [
    ("tomotopy", {"alpha": NAN}, "alpha"),
    ("tomotopy", {"eta": INF}, "eta"),
    ("tomotopy", {"alpha": -INF}, "alpha"),
    ("tomotopy", {"alpha": 0.0}, "alpha"),
    ("tomotopy", {"eta": -0.1}, "eta"),
    ("tomotopy", {"iterations": 0}, "iterations"),
    ("tomotopy", {"iterations": 10**9}, "iterations"),
    ("tomotopy", {"seed": -1}, "seed"),
    ("tomotopy", {"seed": 2.5}, "seed"),
    ("tomotopy", {"workers": 0}, "workers"),
    ("tomotopy", {"rm_top": -3}, "rm_top"),
    ("tomotopy", {"term_weight": "bm25"}, "term_weight"),
    ("tomotopy", {"alpha": "auto"}, "alpha"),
    ("gensim", {"alpha": NAN}, "alpha"),
    ("gensim", {"eta": INF}, "eta"),
    ("gensim", {"passes": 0}, "passes"),
    ("gensim", {"decay": 2.0}, "decay"),
    ("gensim", {"chunksize": 0}, "chunksize"),
    ("gensim", {"alpha": "sometimes"}, "alpha"),
])
def test_train_spec_refuses_non_finite_and_out_of_range_parameters(engine, params, named):
    value = next(iter(params.values()))
    with pytest.raises(InputError) as err:
        train.TrainSpec(dataset="demo", engine=engine, k=5, params=params)
    assert named in str(err.value) and repr(value) in str(err.value)


def test_train_spec_keeps_accepting_sound_parameters():
    train.TrainSpec(dataset="d", engine="gensim", k=5,
                    params={"alpha": "auto", "eta": None, "passes": 2, "decay": 0.7})
    train.TrainSpec(dataset="d", k=5, params={"alpha": 0.05, "eta": 1, "iterations": 10,
                                              "seed": 2**32 - 1, "term_weight": "one"})
    for engine, defaults in DEFAULTS.items():  # saved settings carry every default
        train.TrainSpec(dataset="d", engine=engine, k=5,
                        params={k: v for k, v in defaults.items() if k != "k"})
    with pytest.raises(InputError, match="heldout_share"):
        train.TrainSpec(dataset="d", k=5, heldout_share=NAN)


def test_cli_refuses_nan_and_inf_training_parameters(trained_home):
    before = len(registry.list_models())
    for args, needle in [(("--alpha", "nan"), "alpha must be a finite number, not nan"),
                         (("--eta", "inf"), "eta must be a finite number, not inf")]:
        result = cli("train", "--dataset", "demo", "--k", "5", *args, home=trained_home)
        assert result.returncode == 1 and needle in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
    assert len(registry.list_models()) == before


def _register_nan_model() -> str:
    """What `train --alpha nan` used to make: TrainSpec is bypassed on purpose."""
    corpus, info = train.build_corpus("demo", None, train.TextConfig())
    engine = make_engine("tomotopy", k=6, alpha=NAN, iterations=30, seed=0)
    engine.fit(corpus)
    return registry.register(engine=engine, engine_name="tomotopy", encoder=corpus.encoder,
                             params={"k": 6, "alpha": "nan"}, dataset=info.name,
                             version=info.version, dataset_hash=info.content_hash,
                             metrics={"npmi": NAN, "diversity": 0.2}, timings={})


def test_promotion_refuses_a_model_with_nan_and_keeps_production(trained_home):
    production = registry.alias("production")
    broken = _register_nan_model()
    for alias in ("production", "candidate"):
        with pytest.raises(TopicLabError, match="cannot be promoted") as err:
            deploy.promote(broken, alias)
        assert "npmi=nan" in str(err.value) and "NaN or infinite" in str(err.value)
    assert registry.alias("production") == production and registry.alias("candidate") is None
    assert not score.is_scored(broken)  # refused before any scoring
    verdict = gate.verdict(broken, production)
    assert not verdict.passes and "cannot serve" in verdict.reason


def test_alias_refuses_a_model_whose_fingerprints_hold_nan(trained_home):
    broken = _register_nan_model()
    store.execute("UPDATE models SET metrics = '{\"npmi\": 0.1}' WHERE model_id = ?", [broken])
    score.score_dataset(broken)  # fold-in with a NaN alpha: every fingerprint is NaN
    weights = score.load_fingerprints(broken).weights
    assert np.isnan(weights).all()
    with pytest.raises(TopicLabError, match="fingerprints hold NaN"):
        registry.set_alias("candidate", broken)
    assert registry.alias("candidate") is None


def test_promotion_refuses_degenerate_topics(home, tmp_path):
    """K=30 on 7 campaigns: most topics are empty and share one top-word list."""
    ingest.import_paths([demo_subset(tmp_path / "seven.parquet", 7)], "seven")
    model_id = train.train(train.TrainSpec(dataset="seven", k=30,
                                           params={"iterations": 60})).model_id
    with pytest.raises(TopicLabError, match=r"degenerate: topics .* identical top-10"):
        deploy.promote(model_id, "production")
    assert registry.alias("production") is None


def test_another_dataset_needs_confirmation_and_candidate_is_cleared(trained_home, tmp_path):
    production = registry.alias("production")
    ingest.import_paths([demo_subset(tmp_path / "other.parquet", 120)], "other")
    other = train.train(train.TrainSpec(dataset="other", k=6, params=FAST_PARAMS)).model_id
    with pytest.raises(TopicLabError, match=r"serves dataset 'demo'.*other-dataset"):
        deploy.promote(other, "production")
    assert registry.alias("production") == production and not score.is_scored(other)

    deploy.promote(other, "candidate")
    with pytest.raises(TopicLabError, match="changed while you were deciding"):
        deploy.promote(other, "production", expected="someone-else", other_dataset=True)
    outcome = deploy.promote(other, "production", expected=production, other_dataset=True)
    assert outcome.previous == production
    assert registry.aliases() == {"production": other}  # the candidate alias is cleared
    entry = audit.entries(action="promote")["details"].iloc[0]
    assert '"cleared": "candidate"' in entry
    saved = audit.entries(action="save_settings")
    assert saved["target"].iloc[0] == "other"


def test_model_label_names_alias_dataset_k_npmi_and_date(trained_home):
    production = registry.alias("production")
    row = registry.list_models().iloc[0]
    label = registry.model_label(row)
    npmi = row["metrics"]["npmi"]
    assert label.startswith(production) and "[production]" in label
    assert "demo v1" in label and f"K={row['k']}" in label and f"NPMI {npmi:.3f}" in label
    assert row["created_at"].strftime("%Y-%m-%d") in label
    table_row = registry.metrics_table().iloc[0]
    assert registry.model_label(table_row) == label
    assert registry.model_labels() == {production: label}


def test_the_gate_measures_the_diversity_of_a_model_registered_without_metrics(
        two_models_home, second_model):
    """`registry.register(metrics={})` from Python (bench/serve.py's models): `promote`
    was a KeyError traceback at the gate; its diversity is measured on its topics, as
    training records it, and the gate judges it."""
    recorded = registry.get(second_model)["metrics"]["diversity"]
    store.execute("UPDATE models SET metrics = '{}' WHERE model_id = ?", [second_model])
    verdict = gate.verdict(second_model, registry.alias("production"))
    assert verdict.evaluation["new_diversity"] == round(recorded, 4)


def test_rolling_back_to_a_model_of_an_older_version_warns_of_its_new_campaigns(
        trained_home, tmp_path):
    """`promote candidate` after the pipeline moved production to demo v2 put back a v1
    model, whose production then answered v2's new campaigns 404, without a word."""
    old = registry.alias("production")
    ingest.import_paths([demo_subset(tmp_path / "v2.parquet", 450)], "demo")  # demo v2
    new = train.train(train.TrainSpec(dataset="demo", k=6, params=FAST_PARAMS)).model_id
    assert deploy.promote(new, "production").warning is None  # trained on the newest
    back = deploy.promote(old, "production")
    assert back.previous == new and registry.alias("production") == old
    assert back.warning is not None
    assert f"{old} was trained on demo v1, and demo v2 is newer" in back.warning
    assert "campaigns new in v2 are unknown to it" in back.warning
    assert deploy.promote(new, "candidate").warning is None  # only production answers


def test_a_rolled_back_model_rebound_to_the_newest_version_answers_its_new_campaigns(
        trained_home, tmp_path):
    """Rolled back to a v1 model, production answered none of v2's new campaigns, and the
    only way on was to train another model. `rebind` registers the same topics on v2 as a
    new model: its names copied, v2's fingerprints; promoted, it answers a new campaign.
    The CLI prints it; rebinding again finds it; its own version is refused."""
    from core.ops import rebind
    from core.serve.lookup import Lookup

    old = registry.alias("production")
    registry.set_topic_label(old, 0, "Pipes and drains")
    ingest.import_paths([demo_subset(tmp_path / "v2.parquet", 450)], "demo")  # demo v2
    campaigns = {version: set(store.query(
        "SELECT DISTINCT campaign_id FROM terms WHERE dataset = 'demo' AND version = ?",
        [version])["campaign_id"]) for version in (1, 2)}
    new_campaign = sorted(campaigns[2] - campaigns[1])[0]
    with pytest.raises(InputError, match="answers that version's campaigns already"):
        rebind.rebind(old, 1)
    printed = ok_json(cli("rebind", old, home=trained_home))
    rebound = printed["model_id"]
    assert (printed["from"], printed["dataset"], printed["labels_copied"]) == \
        (old, "demo v2", 1)
    assert printed["scoring"]["campaigns"] == len(campaigns[2]) == 450
    record = registry.get(rebound)
    assert (record["dataset"], int(record["version"])) == ("demo", 2)
    a, b = registry.load(old), registry.load(rebound)
    assert np.array_equal(a.engine.topic_term_, b.engine.topic_term_)
    assert a.vocabulary == b.vocabulary and b.manifest["rebound_from"]["model_id"] == old
    # its topics were learnt on v1: drift is measured against v1, as the old model's is
    assert drift.drift_report("demo", 2, rebound).measures == \
        drift.drift_report("demo", 2, old).measures
    assert naming.label_rows(rebound)[0]["label"] == "Pipes and drains"
    assert rebind.rebind(old).model_id == rebound and rebind.rebind(old).scoring is None
    listed = ok_json(cli("models", home=trained_home))
    assert {m["model_id"]: m["rebound_from"] for m in listed} == {old: None, rebound: old}
    with pytest.raises(NotFoundError, match=f"No campaign '{new_campaign}' in demo v1"):
        Lookup(old).check(new_campaign)   # the old model does not know it
    result = deploy.promote(rebound, "production")
    assert result.warning is None and registry.alias("production") == rebound
    assert len(Lookup().neighbors(new_campaign, 5)) > 0
