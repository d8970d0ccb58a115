"""Names carried on retraining (issue #9.5) and small-data warnings (issue #9.10)."""

from __future__ import annotations

import duckdb

from core import config
from core.data import store
from core.ops import carry, train
from core.serve import naming, registry, score
from tests.conftest import cli, demo_subset, ok_json

# Enough topics and iterations for topics to come back after retraining (at K = 12 on
# 400 campaigns of 46 verticals, topics mix verticals differently every run).
CARRY_K = 30
CARRY_PARAMS = {"iterations": 300, "seed": 0}


def test_pipeline_carries_human_names_to_the_retrained_model_marked_as_carried(home) -> None:
    from core.data import ingest
    from core.ops import deploy

    ingest.import_paths([demo_subset(home.parent / "demo400.parquet")], "demo")
    first = train.train(train.TrainSpec(dataset="demo", k=CARRY_K, params=CARRY_PARAMS))
    deploy.promote(first.model_id, "production")
    for topic in range(1, CARRY_K):
        registry.set_topic_label(first.model_id, topic, f"Name {topic}")
    labelled = cli("label-topic", first.model_id, "0", "Plumbing", home=home)
    assert labelled.returncode == 0, labelled.stderr

    shifted = demo_subset(home.parent / "next.parquet", shift=0.3)
    run = ok_json(cli("pipeline", "--dataset", "demo", "--from", str(shifted),
                      "--tolerance", "1", home=home))
    assert run["decision"] == "promoted", run["reason"]
    new_id = run["model_id"]
    assert registry.resolve("production") == new_id

    # The carried names are those of the aligned pairs within the threshold.
    expected = carry.align(registry.load(first.model_id), registry.load(new_id))
    expected = expected[expected["js"] <= carry.MAX_JS]
    assert len(expected) >= 1
    old_names = {0: "Plumbing", **{t: f"Name {t}" for t in range(1, CARRY_K)}}
    topics = ok_json(cli("topics", home=home))
    assert topics["model_id"] == new_id
    by_topic = {t["topic"]: t for t in topics["topics"]}
    for row in expected.itertuples():
        shown = by_topic[int(row.new_topic)]
        assert shown["name"] == old_names[int(row.old_topic)]
        assert shown["carried_from"] == first.model_id and shown["confirmed"] is False
        assert shown["new"] is False
    others = set(by_topic) - set(expected["new_topic"].astype(int))
    for topic in others:   # no name lands on a topic that only resembles an old one
        assert by_topic[topic]["label"] is None and by_topic[topic]["new"] is True
    assert sorted(run["names"]["new_topics"]) == sorted(others)
    assert len(run["names"]["carried"]) == len(expected)

    # Naming the topic again confirms it; it keeps where it came from, so the new topics
    # stay marked after the last carried name is confirmed (every mark went with it).
    for topic in expected["new_topic"].astype(int):
        registry.set_topic_label(new_id, int(topic), by_topic[int(topic)]["name"])
    topic = int(expected["new_topic"].iloc[0])
    confirmed = {t.topic: t for t in naming.describe(registry.load(new_id))}[topic]
    assert confirmed.confirmed and confirmed.carried_from == first.model_id
    assert carry.new_topics(registry.load(new_id)) == others
    # another name is a person's own: no longer carried
    registry.set_topic_label(new_id, topic, "Drain cleaning")
    renamed = {t.topic: t for t in naming.describe(registry.load(new_id))}[topic]
    assert renamed.confirmed and renamed.carried_from is None


def test_a_carried_name_never_doubles_a_name_the_new_model_has(two_models_home,
                                                               second_model) -> None:
    """Names are unique per model, but carrying wrote a topic's old name next to the
    same name a person gave another topic of the new model (or an old store's duplicate
    names twice)."""
    old_id = registry.resolve("production")
    pairs = carry.align(registry.load(old_id), registry.load(second_model)).dropna()
    (o1, n1), (o2, n2), (o3, n3), (_, n4) = pairs[["old_topic", "new_topic"]].astype(
        int).values[:4].tolist()
    registry.set_topic_label(old_id, o1, "Dentists")
    registry.set_topic_label(second_model, n4, "dentists")   # a person's name
    registry.set_topic_label(old_id, o2, "Plumbers")
    with store.transaction() as con:   # two topics of one name, as stores before this had
        con.execute("INSERT INTO topic_labels VALUES (?, ?, 'PLUMBERS', now(), 'ana', NULL, "
                    "true)", [old_id, o3])
    report = carry.carry_labels(old_id, second_model, max_js=1.0)
    names = {t: row["label"] for t, row in naming.label_rows(second_model).items()}
    _, first = sorted([(o2, (n2, "Plumbers")), (o3, (n3, "PLUMBERS"))])[0]
    assert names == {n4: "dentists", first[0]: first[1]}, names
    assert n1 not in names  # "Dentists" is n4's, as a person named it
    assert [c["name"] for c in report.carried] == [first[1]]
    skipped = {c["name"]: c["reason"] for c in report.not_carried}
    assert f"topic {n4} of the new model has this name already" in skipped["Dentists"]
    assert f"topic {first[0]} of the new model" in skipped[{"Plumbers": "PLUMBERS",
                                                            "PLUMBERS": "Plumbers"}[first[1]]]


def test_stores_made_before_carried_names_keep_their_labels(home) -> None:
    """The topic_labels table gains its two columns in place; old names stay confirmed."""
    config.home().mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(config.db_path()))
    con.execute("CREATE TABLE topic_labels (model_id VARCHAR NOT NULL, topic INTEGER NOT NULL,"
                " label VARCHAR NOT NULL, updated_at TIMESTAMP NOT NULL, updated_by VARCHAR,"
                " PRIMARY KEY (model_id, topic))")
    con.execute("INSERT INTO topic_labels VALUES ('m1', 2, 'Dentists', now(), 'ana')")
    con.close()
    store._schema_ready.clear()
    assert naming.label_rows("m1") == {2: {"label": "Dentists", "carried_from": None,
                                           "confirmed": True}}


def test_warnings_before_training_on_small_data() -> None:
    seven = train.size_warnings(30, 7)
    assert len(seven) == 1 and "7 campaigns" in seven[0] and "K <= 2" in seven[0]
    assert train.size_warnings(40, 3000, 4000) == []
    small_vocabulary = train.size_warnings(20, 3000, 150)
    assert len(small_vocabulary) == 1 and "150 words" in small_vocabulary[0]
    assert "Try K <= 15 or loosen" in small_vocabulary[0]
    smallest = train.size_warnings(2, 5, 12)  # K = 2 cannot go lower: say what can change
    assert len(smallest) == 2 and not any("Try K" in note for note in smallest)
    assert "import more campaigns" in smallest[0] and "loosen the vocabulary" in smallest[1]


def test_poor_scores_are_explained_in_words() -> None:
    from core.model.metrics import explain

    assert "negative" in explain({"npmi": -0.27, "diversity": 0.9})[0]
    # any score below chance is "negative" (the pipeline said "NPMI is low (-0.017…)")
    assert explain({"npmi": -0.017, "diversity": 0.9})[0].startswith("NPMI is negative (-0.017")
    assert explain({"npmi": 0.0, "diversity": 0.9})[0].startswith("NPMI is low (0.000")
    assert explain({"npmi": 0.2, "diversity": 0.9}) == []
    assert "diversity" in explain({"npmi": 0.2, "diversity": 0.5})[0].lower()
    # with the model's K, a K to try: the step the pipeline takes for a K no one chose
    assert explain({"npmi": 0.2, "diversity": 0.5}, 20)[0].endswith("usually help (try K = 13).")
    assert explain({"npmi": 0.2, "diversity": 0.5}, 2)[0].endswith("usually help.")


def test_unknown_words_tell_never_seen_from_dropped_by_the_filter(trained_home) -> None:
    model = registry.load(registry.resolve("production"))
    dropped = sorted(model.encoder.dropped)
    assert dropped, "the demo training data had words the vocabulary filters removed"
    rare = next(w for w in dropped if model.encoder.dropped[w] == "too rare" and w.isalpha())
    known = model.vocabulary[0]
    fp = score.fold_in(model, [known, rare, "zzqxv"])
    report = fp.unknown_report()
    assert report["never_seen"] == ["zzqxv"]
    assert report["dropped"] == {rare: "too rare"}
    assert report["never_seen_share"] > 0 and report["dropped_share"] > 0
    assert abs(report["never_seen_share"] + report["dropped_share"] - fp.oov_share) < 1e-3


def test_training_reports_its_warnings(home) -> None:
    from core.data import ingest

    ingest.import_paths([demo_subset(home.parent / "d.parquet", campaigns=20)], "tiny")
    result = train.train(train.TrainSpec(dataset="tiny", k=10, params={"iterations": 20}))
    assert any("20 campaigns" in w for w in result.warnings)
    assert registry.load(result.model_id).manifest["name_words"]["brand"]
