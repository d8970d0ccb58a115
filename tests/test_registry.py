"""The model registry: atomic artifacts, aliases, deletion rules, clear load errors."""

from __future__ import annotations

import json

import pytest

from core import config
from core.data import audit, auth, datasets, ingest, store, term_file
from core.errors import InputError, NotFoundError, PermissionDenied, TopicLabError
from core.model import actions
from core.ops import deploy, train
from core.serve import registry
from tests.conftest import FAST_K, FAST_PARAMS, cli, demo_subset, ok_json


def production_id() -> str:
    return registry.resolve("production")


def test_registered_model_has_row_manifest_and_loads(trained_home):
    model_id = production_id()
    record = registry.get(model_id)
    assert record["k"] == FAST_K and record["engine"] == "tomotopy"
    assert record["dataset"] == "demo" and record["version"] == 1
    assert {"npmi", "c_v", "u_mass", "diversity", "perplexity"} <= set(record["metrics"])
    assert "gensim" in record["library_versions"]
    manifest = json.loads((config.models_dir() / model_id / "manifest.json").read_text())
    assert manifest["text_config"] == record["text_config"]
    model = registry.load(model_id)
    assert model.engine.topic_term_.shape == (FAST_K, len(model.vocabulary))


def test_durations_stored_unrounded_are_read_to_the_millisecond(trained_home):
    """A model registered before training rounded its durations keeps them unrounded in
    its row: `models` printed `"fit_seconds": 2.05025849499998`. Rounded when read (the
    CLI, `get`, Compare's table); every other metric keeps its digits."""
    model_id = production_id()
    with store.transaction() as con:       # the row as an older release wrote it
        metrics, timings = con.execute("SELECT metrics, timings FROM models WHERE "
                                       "model_id = ?", [model_id]).fetchone()
        metrics = {**json.loads(metrics), "fit_seconds": 2.05025849499998,
                   "npmi": 0.123456789012}
        timings = {**json.loads(timings), "fit": 2.050568717000033}
        con.execute("UPDATE models SET metrics = ?, timings = ? WHERE model_id = ?",
                    [json.dumps(metrics), json.dumps(timings), model_id])
    listed = ok_json(cli("models", home=trained_home))[0]
    assert listed["model_id"] == model_id
    assert listed["metrics"]["fit_seconds"] == 2.05 and listed["metrics"]["npmi"] == 0.123456789012
    record = registry.get(model_id)
    assert (record["metrics"]["fit_seconds"], record["timings"]["fit"]) == (2.05, 2.051)
    table = registry.metrics_table().set_index("model_id")
    assert (table.at[model_id, "fit_seconds"], table.at[model_id, "seconds_fit"]) == (2.05, 2.051)


def test_a_failure_mid_save_leaves_no_model_and_a_readable_registry(trained_home):
    before = registry.list_models()
    original = registry.Encoder.save

    def broken_save(self, folder):
        original(self, folder)
        raise OSError("disk full")  # after half the artifact is written

    registry.Encoder.save = broken_save
    try:
        with pytest.raises(OSError, match="disk full"):
            train.train(train.TrainSpec(dataset="demo", k=4, params={"iterations": 20}))
    finally:
        registry.Encoder.save = original
    after = registry.list_models()
    assert after["model_id"].tolist() == before["model_id"].tolist()
    leftovers = [p.name for p in config.models_dir().iterdir()]
    assert sorted(leftovers) == sorted(before["model_id"])


def test_aliases_and_promotion_scores_first(trained_home):
    first = production_id()
    second = train.train(train.TrainSpec(dataset="demo", k=6, params=FAST_PARAMS)).model_id
    registry.set_alias("candidate", second)
    assert registry.alias("candidate") == second and registry.alias("production") == first
    outcome = deploy.promote(second, "production")
    assert outcome.previous == first and outcome.scoring.campaigns == 400
    assert registry.alias("production") == second
    actions = audit.entries()["action"].tolist()
    assert actions.count("promote") >= 2
    with pytest.raises(InputError, match="Unknown alias 'staging'"):
        registry.set_alias("staging", second)


def test_production_cannot_be_deleted_others_can(trained_home):
    import ui

    model_id = production_id()
    with pytest.raises(TopicLabError, match="production") as on_cli:
        registry.delete(model_id)
    with pytest.raises(TopicLabError, match="production") as on_page:
        registry.delete(model_id, ui.PAGE_CONTROLS)
    # the refusal says what frees it, where it is read ("promote another one first" named
    # no command, unlike the canary's refusal)
    assert "(`python -m core promote MODEL_ID`)" in str(on_cli.value)
    assert "the Model and Alias pickers above" in str(on_page.value)
    assert "python -m core" not in str(on_page.value)
    other = train.train(train.TrainSpec(dataset="demo", k=4, params={"iterations": 30}))
    registry.delete(other.model_id)
    assert other.model_id not in registry.list_models()["model_id"].tolist()
    assert not (config.models_dir() / other.model_id).exists()
    with pytest.raises(NotFoundError, match=f"No model with id '{other.model_id}'"):
        registry.get(other.model_id)


def test_the_last_model_of_a_dataset_version_takes_its_term_file_along(trained_home,
                                                                       tmp_path):
    """Lookup's copy of a version's rows (`core.data.term_file`) goes when the last model
    on that version is deleted, not while another model still uses it; other versions'
    copies stay."""
    ingest.import_paths([demo_subset(tmp_path / "d2.parquet", campaigns=60, shift=0.3)],
                        "demo")
    first, second = (train.train(train.TrainSpec(dataset="demo", version=2, k=3, params={
        "iterations": 20, "seed": seed})).model_id for seed in (0, 1))
    v1, v2 = (term_file.open_term_file("demo", v, actions.ROW_COLUMNS) for v in (1, 2))
    assert (v1.table.num_rows, len(v2.campaign_ids)) == (len(datasets.terms("demo", 1)), 60)

    def files() -> set[str]:
        return {p.name for p in term_file.root().iterdir()}

    both = files()
    assert len(both) == 4
    registry.delete(first)                 # `second` is still on v2
    assert files() == both
    registry.delete(second)                # the last model on v2
    kept = files()
    assert len(kept) == 2 and kept < both
    term_file.open_term_file("demo", 1, actions.ROW_COLUMNS)
    assert files() == kept                 # v1's copy (production's) was kept


def _counts_folder(folder) -> None:
    """Encoded counts as Spark leaves them: Parquet parts and a _SUCCESS marker."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True)
    pq.write_table(pa.table({"campaign_id": ["C00001"], "indices": [[0, 3]]}),
                   folder / "part-00000.parquet")
    (folder / "_SUCCESS").write_text("")


def test_deleting_a_model_removes_its_encoded_counts_after_the_commit(two_models_home,
                                                                      second_model, tmp_path,
                                                                      monkeypatch, capsys):
    """The counts Spark wrote for a model (export dir as a `file://` URI, and the local
    default) go once the delete committed; a refused delete keeps them; others' stay."""
    from core.cli import main as cli_main
    from core.data import spark_export

    shared = tmp_path / "shared"
    monkeypatch.setenv(spark_export.EXPORT_DIR_ENV, shared.as_uri() + "/")
    production = production_id()
    folders = [shared / "counts" / m for m in (second_model, production)]
    folders.append(two_models_home / "parquet" / "counts" / second_model)
    for folder in folders:
        _counts_folder(folder)
    with pytest.raises(TopicLabError, match="production"):
        registry.delete(production)            # refused in its transaction: nothing removed
    assert all(f.exists() for f in folders)
    assert cli_main(["delete-model", second_model]) == 0
    assert json.loads(capsys.readouterr().out) == {"deleted": second_model}
    assert [f.exists() for f in folders] == [False, True, False]
    assert second_model not in registry.list_models()["model_id"].tolist()
    # A cluster URI needs Hadoop's client: with no Spark session running it is left, and
    # said, rather than starting Spark to delete.
    assert spark_export.remove_counts("m9", "hdfs://namenode/lab/counts/m9").left == (
        "hdfs://namenode/lab/counts/m9",)
    assert spark_export.counts_locations("m9", "/elsewhere/not-counts") == [
        f"{shared.as_uri()}/counts/m9", str(two_models_home / "parquet" / "counts" / "m9")]


def test_counts_never_written_to_a_cluster_uri_are_not_reported_as_left(
        two_models_home, second_model, monkeypatch, capsys):
    """With the export dir a cluster URI and no Spark session, `delete-model` of a model
    Spark never wrote counts for listed `<uri>/counts/<model>` under `counts_left`: a guess
    it could not check. It is now said as such, apart from places Spark did write to."""
    from core.cli import main as cli_main
    from core.data import spark_export

    monkeypatch.setenv(spark_export.EXPORT_DIR_ENV, "hdfs://namenode/lab")
    assert cli_main(["delete-model", second_model]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "deleted": second_model,
        "counts_not_checked": [f"hdfs://namenode/lab/counts/{second_model}"]}
    other = production_id()       # a place a Spark run recorded is left, and said so
    left = spark_export.remove_counts(other, [f"hdfs://elsewhere/lab/counts/{other}"])
    assert left.report() == {"counts_left": [f"hdfs://elsewhere/lab/counts/{other}"],
                             "counts_not_checked": [f"hdfs://namenode/lab/counts/{other}"]}
    assert "could not be checked" in left.sentence() and "were left" in left.sentence()


def test_artifact_from_another_version_gives_a_clear_message(trained_home):
    model_id = production_id()
    path = config.models_dir() / model_id / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["artifact_format"] = 99
    path.write_text(json.dumps(manifest))
    with pytest.raises(TopicLabError, match="another version of Topic Lab"):
        registry.load(model_id)
    (config.models_dir() / model_id / "engine" / "topic_term.npy").write_bytes(b"junk")
    manifest["artifact_format"] = registry.ARTIFACT_FORMAT
    path.write_text(json.dumps(manifest))
    with pytest.raises(TopicLabError, match="could not be loaded"):
        registry.load(model_id)


def test_models_load_only_through_the_registry(trained_home):
    with pytest.raises(NotFoundError, match=r"No model with id '\.\./\.\./etc'"):
        registry.load("../../etc")


def test_topic_labels_show_in_topic_names(trained_home):
    model_id = production_id()
    registry.set_topic_label(model_id, 2, "Plumbing")
    names = registry.topic_names(registry.load(model_id))
    assert names[2] == "Plumbing" and names[0].startswith("T0: ")
    with pytest.raises(InputError, match="there is no topic 99"):
        registry.set_topic_label(model_id, 99, "x")
    with auth.use(auth.User("amy", auth.ACCOUNT_MANAGER)), \
            pytest.raises(PermissionDenied, match=r"amy \(account manager\) may not"):
        registry.set_topic_label(model_id, 1, "Nope")
    assert store.query_one("SELECT count(*) FROM topic_labels")[0] == 1


def test_a_model_trained_before_a_setting_was_added_keeps_its_identity() -> None:
    """A model trained before `TextConfig.noun_forms` (stop 55) or `noun_first` (stop 56)
    saved no such key; read back, its config says False. Its identity (what
    `register_fitted` finds a copy by) is the one it was given, and a model with the
    setting on is another."""
    import numpy as np

    from core.model.text import TextConfig

    args = ("demo", 1, ["drain", "plumbing"], np.eye(2))

    def identity(config: dict) -> str:
        return registry.model_identity("tomotopy", {"k": 2}, config, *args)

    for added in ("noun_forms", "noun_first"):
        read_back = TextConfig.from_dict(
            {k: v for k, v in TextConfig().to_dict().items() if k != added}, trained=True)
        assert getattr(read_back, added) is False
        saved = {k: v for k, v in read_back.to_dict().items() if k != added}
        assert identity(read_back.to_dict()) == identity(saved)
        assert identity(TextConfig().to_dict()) != identity(saved)
    before_both = {k: v for k, v in TextConfig().to_dict().items()
                   if k not in ("noun_forms", "noun_first")}
    assert identity(TextConfig.from_dict(before_both, trained=True).to_dict()) == \
        identity(before_both)
