"""The model registry: one row per model in the store, one artifact folder per model.

A model's folder (`$TOPICLAB_HOME/models/<model_id>/`) holds `manifest.json`, the
encoder (tokenizer + vocabulary) that turns new keywords into bag-of-words, and the
engine's own files. It is written to a temporary folder and renamed into place, and the
registry row is inserted only after the rename: a crash at any point leaves either a
whole model or none. Models are only ever loaded through the registry, by id.

Aliases `production` and `candidate` point at models, MLflow-style; they move, models
do not change.
"""

from __future__ import annotations

import json
import math
import secrets
import shutil
from collections.abc import Collection, Iterable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import pandas as pd

from core import config, whole
from core.data import audit, auth, spark_export, store, term_file
from core.errors import (
    CLI,
    AliasMovedError,
    Controls,
    InputError,
    NotFoundError,
    TopicLabError,
    case_hint,
    quoted,
    shown,
)
from core.model import actions, artifact, spark_session
from core.model.corpus import EncodedCounts, Encoder
from core.model.engines import ENGINES
from core.model.text import ADDED_SETTINGS
from core.plain_text import plain_line
from core.serve import canary
from core.testpause import pause

if TYPE_CHECKING:
    from core.model.campaign_model import CampaignModel

ARTIFACT_FORMAT = artifact.FORMAT
ALIASES = ("production", "candidate")


@dataclass
class LoadedModel:
    """What scoring needs: the engine, the encoder, the manifest and the topic names."""

    model_id: str
    engine: Any
    encoder: Encoder
    manifest: dict[str, Any]

    @property
    def k(self) -> int:
        return int(self.manifest["k"])

    @property
    def vocabulary(self) -> list[str]:
        return self.encoder.vocabulary

    def top_words(self, n: int = 10) -> list[list[str]]:
        return self.engine.topics(n)


def new_model_id(engine: str, k: int) -> str:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return f"{engine}-k{k}-{stamp}-{secrets.token_hex(2)}"


def model_dir(model_id: str) -> Path:
    return config.models_dir() / model_id


def register(*, engine: Any, engine_name: str, encoder: Encoder, params: dict[str, Any],
             dataset: str, version: int, dataset_hash: str, metrics: dict[str, Any],
             timings: dict[str, Any], sweep_id: str | None = None,
             model_id: str | None = None, counts: EncodedCounts | None = None,
             name_words: dict[str, list[str]] | None = None, fitted: str | None = None,
             rebound_from: dict[str, Any] | None = None) -> str:
    """Write the artifact atomically, then its registry row (with an audit entry).

    `counts`: the encoded term matrix of the dataset version's campaigns, saved with the
    model so that scoring, Lookup and Topics need not encode the terms again.
    `name_words`: brand and place words, left out of automatic topic names.
    `fitted`: the identity of a notebook model (`register_fitted`), kept in the audit
    entry; when a registered model already has it, checked in the transaction that would
    insert the row, nothing is added and that model's id is returned.
    `rebound_from`: `{"model_id", "learned_on"}`, the model whose topics these are, on
    another version of its dataset (`core.ops.rebind`), and the dataset version they were
    learnt on; kept in the manifest, the model id in its row and audit entry too."""
    k = int(engine.topic_term_.shape[0])
    model_id = model_id or new_model_id(engine_name, k)
    text_config = encoder.tokenizer.config.to_dict()
    manifest = {
        "artifact_format": ARTIFACT_FORMAT, "model_id": model_id, "engine": engine_name,
        "params": params, "text_config": text_config, "language": encoder.tokenizer.language_,
        "dataset": {"name": dataset, "version": version, "hash": dataset_hash},
        "k": k, "vocab_size": len(encoder.vocabulary), "metrics": metrics,
        "timings": timings, "library_versions": artifact.library_versions(),
        "created_at": audit.now().isoformat(timespec="seconds"),
        "created_by": auth.current_user().name,
    }
    if name_words is not None:
        manifest["name_words"] = name_words
    if rebound_from is not None:
        manifest["rebound_from"] = rebound_from
    if counts is not None and not _covers_dataset(counts, dataset, version):
        counts = None  # trained on a sample: scoring and Lookup encode the whole version
    # every model's identity is kept, a trained one's too: register_fitted of a registry
    # model (`campaign_model(model_id)`) registered a second copy of it, unrecognised
    identity = fitted or model_identity(engine_name, params, text_config, dataset, version,
                                        encoder.vocabulary, engine.topic_term_)
    final = artifact.write(model_dir(model_id), engine=engine, encoder=encoder,
                           manifest=manifest, counts=counts)
    try:
        with store.transaction() as con:
            existing = fitted and registered_fitted(fitted, con)
            if not existing:
                con.execute(
                    "INSERT INTO models (model_id, engine, params, text_config, dataset, "
                    "version, dataset_hash, k, vocab_size, metrics, timings, "
                    "library_versions, sweep_id, created_at, created_by, rebound_from) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [model_id, engine_name, _json(params), _json(text_config), dataset,
                     version, dataset_hash, k, manifest["vocab_size"], _json(metrics),
                     _json(timings), _json(manifest["library_versions"]), sweep_id,
                     audit.now(), manifest["created_by"],
                     rebound_from["model_id"] if rebound_from else None],
                )
                audit.record(con, "train", model_id,
                             {"dataset": f"{dataset} v{version}", "engine": engine_name,
                              "k": k, "npmi": metrics.get("npmi"), FITTED_KEY: identity,
                              **({"rebound_from": rebound_from["model_id"]}
                                 if rebound_from else {})})
    except BaseException:
        shutil.rmtree(final, ignore_errors=True)
        raise
    if existing:  # registered meanwhile (another call on the same model): this copy goes
        shutil.rmtree(final, ignore_errors=True)
        return existing
    return model_id


FITTED_KEY = "fitted"  # the audit detail holding a model's identity (`model_identity`)


def registered_fitted(fitted: str, con: duckdb.DuckDBPyConnection | None = None) -> str | None:
    """The id of the registered model (not deleted) that `register_fitted` registered from
    a model of identity `fitted` (`fitted_identity`), else None; on `con` when given, so
    that the check and the insert are one transaction."""
    sql = ("SELECT a.target FROM audit a JOIN models m ON m.model_id = a.target "
           f"WHERE a.action = 'train' AND a.details->>'{FITTED_KEY}' = ? ORDER BY a.id LIMIT 1")
    row = (con.execute(sql, [fitted]).fetchone() if con is not None
           else store.query_one(sql, [fitted]))
    return None if row is None else str(row[0])


def fitted_identity(model: CampaignModel, dataset: str, version: int) -> str:
    """What makes a fitted model the same one, whichever object holds it (a pickled copy,
    or a registry model opened with `campaign_model`): `model_identity` of it."""
    return model_identity(model.manifest_["engine"], model.manifest_["params"],
                          model.encoder_.tokenizer.config.to_dict(), dataset, version,
                          model.vocabulary_, model.topic_term_)


def model_identity(engine_name: str, params: dict[str, Any], text_config: dict[str, Any],
                   dataset: str, version: int, vocabulary: Sequence[str],
                   topic_term: np.ndarray) -> str:
    """A hash of a model's engine, settings, vocabulary and learnt topic-word weights, on
    one dataset version: the same for the model `train` registers and the copy of it a
    notebook opens, so `register_fitted` of that copy finds it."""
    import hashlib

    # a model trained before a setting was added saved no such key, and tokenises without
    # it: read back, its config says so, and its identity stays the one it was given
    text_config = {key: value for key, value in text_config.items()
                   if key not in ADDED_SETTINGS or value is not ADDED_SETTINGS[key]}
    digest = hashlib.sha256()
    for part in (engine_name, _json(params), _json(text_config), dataset, str(version),
                 "\n".join(vocabulary)):
        digest.update(part.encode("utf-8") + b"\0")
    digest.update(np.ascontiguousarray(topic_term, dtype=np.float64).tobytes())
    return digest.hexdigest()


def register_fitted(model: Any, dataset: str, version: int | None = None) -> str:
    """Register a `CampaignModel` fitted outside the store (e.g. in a notebook) on the
    rows of a dataset version: refused unless its term rows are that version's content.
    Its metrics are measured here; score it (or promote it) to use it in Lookup. The same
    model registered again (a cell run twice) is not added twice: the id it has is
    returned, with a warning."""
    from core.data import ingest
    from core.data.schema import TERM_COLUMNS
    from core.model import metrics
    from core.model.campaign_model import CampaignModel
    from core.model.corpus import Corpus

    auth.require("train")
    if not isinstance(model, CampaignModel):  # a model id was "AttributeError: 'str' object
        # has no attribute '_check_fitted'"
        raise InputError(f"register_fitted takes a fitted CampaignModel, not "
                         f"{type(model).__name__} {model!r:.80} (a registered model already "
                         "has its id: `python -m core models` lists them).")
    model._check_fitted()
    if model.terms_ is None:
        raise InputError("This model holds no term rows; load it with "
                         "CampaignModel.load(path, terms=...) to register it.")
    _check_neighbor_weights(model)
    missing = [c for c in TERM_COLUMNS if c not in model.terms_.columns]
    rows_hash = None if missing else ingest.content_hash(
        _as_imported(model.terms_[list(TERM_COLUMNS)]))
    info = _version_of_rows(dataset, version, rows_hash)
    if rows_hash != info.content_hash:
        raise InputError(f"The model was fitted on other rows than {info.label} "
                         f"({info.rows} rows): fit it on read_terms of the same files.")
    fitted = fitted_identity(model, info.name, info.version)
    if existing := registered_fitted(fitted):  # before measuring and writing it again
        return _already_registered(existing, info.label)
    corpus = Corpus.from_frame(model.terms_, model.encoder_.tokenizer.config)
    if corpus.vocabulary != model.vocabulary_:
        raise InputError("Tokenising the model's rows again gave another vocabulary; "
                         "refit the model with this version of Topic Lab.")
    model_id = new_model_id(model.manifest_["engine"], int(model.manifest_["k"]))
    registered = register(engine=model.engine_, engine_name=model.manifest_["engine"],
                          encoder=model.encoder_, params=model.manifest_["params"],
                          dataset=info.name, version=info.version,
                          dataset_hash=info.content_hash,
                          metrics=metrics.evaluate(model.engine_, corpus),
                          timings=model.manifest_.get("timings", {}), counts=model.counts_,
                          name_words=model.manifest_.get("name_words"), model_id=model_id,
                          fitted=fitted)
    return registered if registered == model_id else _already_registered(registered,
                                                                         info.label)


def _already_registered(model_id: str, version: str) -> str:
    """`model_id`, the registered model a second `register_fitted` of the same model found,
    said with a warning: a notebook cell run twice registered the model twice, two
    registry rows and folders of one model."""
    import warnings

    warnings.warn(f"This model is already registered on {version}, as {model_id}: its id "
                  "is returned and nothing is added (fit another model to register one).",
                  UserWarning, stacklevel=3)
    return model_id


_IMPORTED_DTYPES = {"impressions": "Int64", "clicks": "Int64", "cost": "float64",
                    "conversions": "float64"}


def _as_imported(rows: pd.DataFrame) -> pd.DataFrame:
    """Term rows in the dtypes an import gives them, for the content hash, which is
    dtype-sensitive: the same rows with dates as None (a registry model's, read by
    `campaign_model`) or other number dtypes (a frame built by hand) hashed otherwise, and
    the model was refused as "fitted on other rows than demo v1". Rows that do not cast
    are hashed as they are (and so refused)."""
    try:
        return rows.astype(_IMPORTED_DTYPES).assign(
            date=pd.to_datetime(rows["date"]).astype("datetime64[us]"))
    except (TypeError, ValueError):
        return rows


def _version_of_rows(dataset: str, version: int | None, rows_hash: str | None) -> Any:
    """The version given, else the newest of `dataset` whose content the rows are: a model
    fitted on the files of version 1 was refused once version 2 had been imported."""
    from core.data import datasets

    if version is None and rows_hash is not None:
        versions = datasets.list_versions(dataset)
        same = versions.loc[versions["content_hash"] == rows_hash, "version"]
        version = int(same.iloc[0]) if not same.empty else None
    return datasets.get(dataset, version)


def _check_neighbor_weights(model: Any) -> None:
    """Registry models rank neighbours with the default term and vector weights (Lookup,
    the service): a model fitted with others would answer differently once registered,
    so it is refused rather than registered with its weights silently dropped."""
    from core.model.neighbors import DEFAULT_TERM_WEIGHT, DEFAULT_VECTOR_WEIGHT

    given = {"term_weight": (model.term_weight, DEFAULT_TERM_WEIGHT),
             "vector_weight": (model.vector_weight, DEFAULT_VECTOR_WEIGHT)}
    other = {name: value for name, (value, default) in given.items() if value != default}
    if other:
        shown = ", ".join(f"{name}={value!r}" for name, value in other.items())
        raise InputError(
            f"This model ranks neighbours with {shown}; registered models use term_weight="
            f"{DEFAULT_TERM_WEIGHT} and vector_weight={DEFAULT_VECTOR_WEIGHT} (the Lookup "
            "page's and the service's), so it would answer differently there. Fit it with "
            "those to register it.")


def _json(value: Any) -> str:
    return json.dumps(value, default=str, ensure_ascii=False)


def list_models(dataset: str | None = None) -> pd.DataFrame:
    """Every registered model with its aliases and headline metrics, newest first (of one
    dataset when named; "" is a name, not "every dataset")."""
    if dataset is not None:
        from core.data import datasets
        dataset = datasets.stored_name(dataset)   # "ｄｅｍｏ", "my  data" as stored
    where, params = ("WHERE m.dataset = ?", [dataset]) if dataset is not None else ("", [])
    frame = store.query(
        "SELECT m.model_id, m.engine, m.k, m.dataset, m.version, m.vocab_size, m.params, "
        "m.metrics, m.timings, m.sweep_id, m.kept_instead, m.rebound_from, m.created_at, "
        "m.created_by, coalesce(string_agg(a.alias, ', ' ORDER BY a.alias), '') AS aliases, "
        "m.model_id IN (SELECT model_id FROM fingerprints) AS scored "
        "FROM models m LEFT JOIN aliases a USING (model_id) "
        f"{where} GROUP BY ALL ORDER BY m.created_at DESC, m.model_id", params,
    )
    for column in ("params", "metrics", "timings"):
        frame[column] = frame[column].map(json.loads)
    frame["metrics"] = frame["metrics"].map(_seconds_shown)
    frame["timings"] = frame["timings"].map(lambda t: _seconds_shown(t, every=True))
    return frame


SECONDS_DECIMALS = 3   # durations to the millisecond, as training stores them now


def _seconds_shown(values: dict[str, Any], every: bool = False) -> dict[str, Any]:
    """`values` with its durations (keys ending `_seconds`; `every` number, for timings)
    to the millisecond. Models registered before training rounded them keep e.g.
    `"fit_seconds": 2.05025849499998`, which `models` and the Compare page showed as
    stored; rounded when read, the stored row is left as it is."""
    return {key: round(value, SECONDS_DECIMALS)
            if isinstance(value, float) and (every or str(key).endswith("_seconds"))
            and math.isfinite(value) else value
            for key, value in values.items()}


def deleted_label(model_id: str) -> str:
    """How pages name a model deleted since a record of it was kept (drift checks, service
    traffic, feedback): its bare id read as a model that still exists."""
    return f"{model_id} (deleted)"


def marked_deleted(model_ids: Iterable[str | None]) -> dict[str, str]:
    """Each id as pages show it next to kept records: itself, or `deleted_label` for a
    model the registry no longer holds (one read of the registry)."""
    ids = {str(m) for m in model_ids if m is not None and m == m}
    if not ids:
        return {}
    known = set(store.query("SELECT model_id FROM models WHERE list_contains(?, model_id)",
                            [sorted(ids)])["model_id"])
    return {m: m if m in known else deleted_label(m) for m in ids}


def audit_entries(limit: int = 200, action: str | Collection[str] | None = None
                  ) -> pd.DataFrame:
    """`audit.entries` as the Audit page lists them: the target of a model's entry reads
    `deleted_label` once the model is deleted, as Monitor and A/B mark it (the page showed
    a deleted model's train, promote and score entries by its bare id, as if it served)."""
    log = audit.entries(limit=limit, action=action)
    about_models = log["action"].isin(audit.MODEL_ACTIONS)
    shown = marked_deleted(log.loc[about_models, "target"])
    return log.assign(target=log["target"].where(
        ~about_models, log["target"].map(lambda target: shown.get(target, target))))


def metrics_table(dataset: str | None = None) -> pd.DataFrame:
    """One row per model with its metrics as columns: what the Compare page sorts."""
    models = list_models(dataset)
    if models.empty:
        return models
    base = models[["model_id", "aliases", "engine", "k", "dataset", "version", "sweep_id",
                   "kept_instead", "rebound_from", "created_at"]]
    shown = marked_deleted(pd.concat([base["kept_instead"], base["rebound_from"]]))
    base = base.assign(kept_instead=base["kept_instead"].map(shown.get),
                       rebound_from=base["rebound_from"].map(shown.get))
    metrics = pd.json_normalize(models["metrics"].tolist())
    metrics = metrics.drop(columns=[c for c in metrics if c in base])
    timings = pd.json_normalize(models["timings"].tolist()).add_prefix("seconds_")
    return pd.concat([base.reset_index(drop=True), metrics, timings], axis=1)


def mark_kept_instead(tried: Iterable[str], kept: str) -> None:
    """Record that `kept` was kept instead of the models `tried` on the way to it (the K
    ladder of `core.ops.train.train_fitted`): Compare shows them as such, not as models
    someone trained and left."""
    others = sorted(set(tried) - {kept})
    if others:
        with store.transaction() as con:
            con.execute("UPDATE models SET kept_instead = ? WHERE list_contains(?, model_id)",
                        [kept, others])


def get(model_id: str) -> dict[str, Any]:
    """The registry row of one model; NotFoundError when the id is unknown."""
    with store.connect(read_only=True) as con:
        return get_in(con, model_id)


def get_in(con: duckdb.DuckDBPyConnection, model_id: str, *,
           deleted_meanwhile: str | None = None) -> dict[str, Any]:
    """The row on `con`, so a caller's transaction checks and writes the same state.
    `deleted_meanwhile`: for a model the caller had found before (and worked with for
    minutes), what a delete since then leaves undone, for the message. An id that is not
    text is refused naming it (`get(True)` was DuckDB's "Could not convert string … to
    BOOL")."""
    if not isinstance(model_id, str):
        raise InputError(f"A model id is text (`python -m core models` lists them), not "
                         f"{model_id!r}.")
    cursor = con.execute("SELECT * FROM models WHERE model_id = ?", [model_id])
    rows = cursor.fetchall()
    if not rows and deleted_meanwhile:
        raise NotFoundError(f"No model with id {quoted(model_id)}: it was deleted "
                            f"{deleted_meanwhile}.")
    if not rows:
        twins = con.execute("SELECT model_id FROM models WHERE lower(model_id) = lower(?)",
                            [str(model_id)]).fetchall()
        hint = case_hint(model_id, [*ALIASES, *(row[0] for row in twins)])
        raise NotFoundError(f"No model with id {quoted(model_id)}.{hint} `python -m core "
                            "models` lists them.")
    record = dict(zip([d[0] for d in cursor.description], rows[0], strict=True))
    for column in ("params", "text_config", "metrics", "timings", "library_versions"):
        record[column] = json.loads(record[column])
    record["metrics"] = _seconds_shown(record["metrics"])
    record["timings"] = _seconds_shown(record["timings"], every=True)
    return record


def aliases() -> dict[str, str]:
    """Every alias and the model it points at."""
    frame = store.query("SELECT alias, model_id FROM aliases")
    return dict(zip(frame["alias"], frame["model_id"], strict=True))


def alias(name: str) -> str | None:
    """The model id an alias points at, or None."""
    check_alias(name)
    row = store.query_one("SELECT model_id FROM aliases WHERE alias = ?", [name])
    return row[0] if row else None


def check_alias(name: str) -> None:
    if name not in ALIASES:
        raise InputError(f"Unknown alias {name!r}; use one of: {', '.join(ALIASES)}.")


ANY_PREVIOUS: Any = object()  # "whatever the alias points at now"


def set_alias(name: str, model_id: str, *, expected: str | None = ANY_PREVIOUS) -> str | None:
    """Point an alias at a model (recorded in the audit log). Requires `promote`.

    Returns the model it pointed at before. See `move_alias` for the checks.
    """
    check_alias(name)
    auth.require("promote")
    with store.transaction() as con:
        return move_alias(con, name, model_id, expected=expected)


def move_alias(con: duckdb.DuckDBPyConnection, name: str, model_id: str, *,
               expected: str | None = ANY_PREVIOUS) -> str | None:
    """Move an alias inside the caller's transaction: every check sees the state the write
    changes, so a model deleted by another process cannot end up behind an alias.

    Refuses a model that is gone, whose metrics or stored fingerprints hold NaN/inf, and
    (with `expected`) an alias that moved since the caller looked (someone else promoted
    meanwhile), and the production model as candidate. Moving the candidate's model to
    production clears `candidate`.
    """
    check_alias(name)
    auth.require("promote")
    record = get_in(con, model_id)
    bad_metrics = non_finite_metrics(record["metrics"])
    if bad_metrics:
        raise TopicLabError(f"Model {model_id} cannot be promoted: its metrics hold "
                            f"non-finite values ({', '.join(bad_metrics)}). Retrain it.")
    bad = con.execute(
        "SELECT count(*) FROM fingerprints WHERE model_id = ? AND NOT "
        "(isfinite(confidence) AND isfinite(list_sum(weights)))", [model_id]).fetchone()[0]
    if bad:
        raise TopicLabError(f"Model {model_id} cannot be promoted: {bad:,} of its campaign "
                            "fingerprints hold NaN or infinite weights. Retrain it.")
    if name == "candidate" and con.execute(
            "SELECT 1 FROM aliases WHERE alias = 'production' AND model_id = ?",
            [model_id]).fetchone():
        # The mirror of "production clears candidate": a canary or A/B of a model with
        # itself measures nothing, and the candidate it replaced would be lost for it.
        raise TopicLabError(f"{model_id} is the production model already; the candidate "
                            "is another model to compare with it.")
    rows = con.execute("SELECT model_id FROM aliases WHERE alias = ?", [name]).fetchall()
    previous = rows[0][0] if rows else None
    if expected is not ANY_PREVIOUS and previous != expected:
        raise AliasMovedError(
            f"{name} changed while you were deciding: it now points at {previous or 'nothing'}"
            f", not {expected or 'nothing'}. Look at it again before promoting.",
            alias=name, now=previous)
    pause("set_alias")
    store.mark_serving_change()
    con.execute("INSERT OR REPLACE INTO aliases VALUES (?, ?, ?, ?)",
                [name, model_id, audit.now(), auth.current_user().name])
    cleared = None
    if name == "production":
        rows = con.execute("DELETE FROM aliases WHERE alias = 'candidate' AND model_id = ? "
                           "RETURNING model_id", [model_id]).fetchall()
        cleared = "candidate" if rows else None
    audit.record(con, "promote", model_id,
                 {"alias": name, "previous": previous, "cleared": cleared})
    return previous


def non_finite_metrics(metrics: dict[str, Any]) -> list[str]:
    """Names of metrics that are NaN or infinite (a broken model's tell-tale)."""
    return sorted(f"{key}={value}" for key, value in metrics.items()
                  if isinstance(value, float) and not math.isfinite(value))


# How a model gets each alias: "train one and promote it" led to `promote M`, which makes
# M production, when the alias missing was the candidate.
_HOW_TO_MARK = {
    "production": "train one and promote it (`python -m core promote MODEL_ID`), or run "
                  "`python -m core pipeline`.",
    "candidate": "train one and promote it with `python -m core promote MODEL_ID --alias "
                 "candidate` (the pipeline keeps a model that did not pass its gate as "
                 "candidate).",
}


def resolve(model_ref: str | None) -> str:
    """A model id from an id, an alias name, or None (= production).

    A blank id is refused, not read as "production": `label-topic "" 0 NAME` (a shell
    variable left empty) named a topic of the production model."""
    if isinstance(model_ref, str) and not model_ref.strip():
        raise InputError(f"Model id {model_ref!r} is blank: give a model id, 'production' or "
                         "'candidate' (`python -m core models` lists them).")
    ref = model_ref or "production"
    if ref in ALIASES:
        model_id = alias(ref)
        if model_id is None:
            raise NotFoundError(f"No model is marked {ref!r} yet: {_HOW_TO_MARK[ref]}")
        return model_id
    get(ref)
    return ref


def _not_an_alias(con: duckdb.DuckDBPyConnection, model_id: str) -> None:
    """`delete-model candidate` was "No model with id 'candidate'": a delete takes the id
    of the model it removes (an alias may move between a look and the delete), so an
    alias name is refused naming the model it points at now."""
    if model_id not in ALIASES:
        return
    row = con.execute("SELECT model_id FROM aliases WHERE alias = ?", [model_id]).fetchone()
    now = f"it points at {row[0]}" if row else "no model is marked so"
    raise InputError(f"{model_id!r} is an alias ({now}), not a model id: delete-model takes "
                     "the id of the model to delete (`python -m core models` lists them); "
                     "the production model is never deleted.")


def delete(model_id: str, controls: Controls = CLI) -> spark_export.CountsLeft:
    """Remove a model, its fingerprints and labels, then its files (the artifact and any
    encoded counts Spark wrote); the production model cannot be deleted, nor the
    candidate while the canary sends it traffic (the alias goes with it, audited). Returns the
    counts locations that could not be removed or looked at (a cluster URI with no Spark
    running). `controls`: how the refusals name their remedies (the Compare page's
    own pickers, or the CLI's commands)."""
    auth.require("delete")
    with store.transaction() as con:  # the checks and the delete see the same state
        _not_an_alias(con, model_id)
        record = get_in(con, model_id)
        production = con.execute("SELECT model_id FROM aliases WHERE alias = 'production'"
                                 ).fetchone()
        if production and production[0] == model_id:
            raise TopicLabError(f"{model_id} is the production model, which is never "
                                f"deleted. {controls.new_production}")
        held = [r[0] for r in con.execute(
            "SELECT alias FROM aliases WHERE model_id = ? ORDER BY alias", [model_id]).fetchall()]
        if "candidate" in held:  # the canary may send it live traffic: say so, keep it
            share = canary.read_percent(con)
            if share > 0:
                raise TopicLabError(
                    f"{model_id} is the candidate model and the scoring service sends it "
                    f"{share:g}% of traffic (canary). {controls.canary_candidate}")
        pause("delete")
        places = [r[0] for r in con.execute(
            "SELECT location FROM spark_counts WHERE model_id = ? ORDER BY recorded_at",
            [model_id]).fetchall()]
        for table in ("aliases", "fingerprints", "topic_labels", "spark_counts", "models"):
            con.execute(f"DELETE FROM {table} WHERE model_id = ?", [model_id])
        if held:  # running services drop the alias now, not at their 10 s full check
            store.mark_serving_change()
        audit.record(con, "delete", model_id, {"cleared_aliases": held} if held else None)
        last_on_version = not con.execute(
            "SELECT count(*) FROM models WHERE dataset = ? AND version = ?",
            [record["dataset"], record["version"]]).fetchone()[0]
    # Committed: now the files. A Spark model's encoded counts are where training wrote
    # them (its engine.json says) and where Spark scorings wrote them (`spark_counts`).
    recorded = [_recorded_counts(model_id), *places]
    shutil.rmtree(model_dir(model_id), ignore_errors=True)
    if last_on_version:  # Lookup's copy of the version's rows (5.4 GB at 1M campaigns)
        with suppress(TopicLabError, OSError):
            term_file.remove(record["dataset"], record["version"], actions.ROW_COLUMNS)
    return spark_export.remove_counts(model_id, recorded, spark_session.running())


def record_counts(model_id: str, location: str) -> None:
    """Remember that Spark writes `model_id`'s encoded counts at `location` (before it
    writes, so a half-written folder is known too): `delete` removes every such place,
    not only training's and the export dir in force then. A model deleted meanwhile is
    `NotFoundError` and nothing is recorded."""
    with store.transaction() as con:
        get_in(con, model_id)
        con.execute("INSERT OR IGNORE INTO spark_counts VALUES (?, ?, ?)",
                    [model_id, location, audit.now()])


def _recorded_counts(model_id: str) -> str | None:
    """Where Spark training wrote a model's encoded counts (None for other engines)."""
    try:
        meta = json.loads((model_dir(model_id) / "engine" / "engine.json").read_text("utf-8"))
    except (OSError, ValueError):
        return None
    counts = (meta.get("fit_info") or {}).get("counts")
    return counts if isinstance(counts, str) else None


def loaded(model_id: str, model: LoadedModel | None = None) -> LoadedModel:
    """`model_id`'s artifact: `model` when the caller loaded that one already (the pipeline
    passes each model through drift, the gate, scoring and names), else loaded now."""
    return model if model is not None and model.model_id == model_id else load(model_id)


def read_manifest(model_id: str) -> dict[str, Any]:
    """A registered model's manifest alone (a page caption needs no engine loaded); a clear
    message when it cannot be read."""
    get(model_id)
    folder = model_dir(model_id)
    try:
        return json.loads((folder / "manifest.json").read_text("utf-8"))
    except (OSError, ValueError) as err:
        raise TopicLabError(
            f"Model {model_id} is registered but its artifact in {folder} is missing or "
            f"unreadable ({err.__class__.__name__}). Retrain it or delete it."
        ) from err


def learned_on(manifest: dict[str, Any]) -> dict[str, Any]:
    """The dataset version a model's topics were learnt on, from its manifest: its own, or,
    rebound (`core.ops.rebind`), the one of the model it was rebound from (drift is
    measured against it)."""
    rebound = manifest.get("rebound_from")
    return dict(rebound["learned_on"] if rebound else manifest["dataset"])


def load(model_id: str) -> LoadedModel:
    """Load a registered model's artifact; a clear message when it cannot be used."""
    manifest = read_manifest(model_id)
    folder = model_dir(model_id)
    if manifest.get("artifact_format") != ARTIFACT_FORMAT:
        raise TopicLabError(
            f"Model {model_id} was saved by another version of Topic Lab (artifact format "
            f"{manifest.get('artifact_format')!r}, this version reads {ARTIFACT_FORMAT}). "
            "Retrain it with this version."
        )
    engine_cls = ENGINES.get(manifest.get("engine"))
    if engine_cls is None:
        raise TopicLabError(f"Model {model_id} uses engine {manifest.get('engine')!r}, which "
                            "this version of Topic Lab does not have.")
    try:
        engine = engine_cls.load(folder / "engine")
        encoder = Encoder.load(folder / "encoder")
    except Exception as err:  # any library's own load error becomes one clear message
        raise TopicLabError(
            f"Model {model_id} could not be loaded ({err.__class__.__name__}: {err}); it was "
            f"saved with {manifest.get('library_versions')}. Retrain it with this version."
        ) from err
    return LoadedModel(model_id, engine, encoder, manifest)


def encoded_counts(model_id: str) -> EncodedCounts | None:
    """The encoded term matrix saved with a model, or None: models from before it was, and
    counts that miss campaigns of the model's dataset version (a model trained on a sample
    saved the sample's until stop 23; scoring from them left the other campaigns without
    a fingerprint)."""
    counts = EncodedCounts.load(model_dir(model_id))
    if counts is None:
        return None
    record = get(model_id)
    return counts if _covers_dataset(counts, record["dataset"], record["version"]) else None


def _covers_dataset(counts: EncodedCounts, dataset: str, version: int) -> bool:
    """Whether counts hold every campaign of the dataset version (what scoring needs)."""
    row = store.query_one("SELECT campaigns FROM datasets WHERE name = ? AND version = ?",
                          [dataset, version])
    return row is not None and len(counts.campaign_ids) == int(row[0])


def campaign_model(model_ref: str | None = None, terms: pd.DataFrame | None = None, *,
                   with_terms: bool = True) -> CampaignModel:
    """A registry model (id or alias; default production) as a notebook's `CampaignModel`,
    with the topic names people gave it on the Topics page: loading its folder with
    `CampaignModel.load` gave the automatic names only, not those the app shows.
    `terms`: its rows; by default its dataset version's are read (without them neighbours
    had no names or performance and `suggest` was refused; 0.9 s in all against 0.4 s
    without, on the demo's 157,000 rows).
    `with_terms=False` skips them, for fingerprints and neighbour ids of a large version."""
    from core.data import datasets
    from core.model.campaign_model import CampaignModel
    with_terms = whole.flag("with_terms", with_terms)  # "no" read the rows
    model_id = resolve(model_ref)
    record = get(model_id)
    if terms is None and with_terms:
        terms = datasets.terms(record["dataset"], int(record["version"]))
    pause("campaign_model")
    try:
        model = CampaignModel._load(model_dir(model_id), terms, topic_labels(model_id),
                                    "campaign_model")
    except (TopicLabError, OSError) as err:
        _check_not_deleted(model_id, err)
        raise
    model.currency_ = datasets.currency(record["dataset"])  # as Lookup quotes amounts
    return model


def _check_not_deleted(model_id: str, err: Exception) -> None:
    """A model deleted by another process while this one read its rows (a second on the
    demo) said its folder "holds no readable Topic Lab model (manifest.json is missing …)",
    as if the artifact were broken: say that it was deleted."""
    if store.query_one("SELECT 1 FROM models WHERE model_id = ?", [model_id]) is None:
        raise NotFoundError(f"Model {model_id} was deleted (by another process) while it was "
                            "being loaded; `python -m core models` lists the models left."
                            ) from err


def topic_labels(model_id: str) -> dict[int, str]:
    frame = store.query("SELECT topic, label FROM topic_labels WHERE model_id = ?", [model_id])
    return dict(zip(frame["topic"].astype(int), frame["label"], strict=True))


def topic_names(model: LoadedModel, labels: dict[int, dict] | None = None) -> list[str]:
    """Human labels where people gave them, else 'T3: word, word, word' from the most
    relevant words (`core.serve.naming.describe`, the one place that names topics).
    `labels`: `naming.label_rows` of the model when the caller read them already."""
    from core.serve import naming
    return [t.name for t in naming.describe(model, n_words=3, labels=labels)]


def set_topic_label(model_id: str, topic: int, label: str) -> str:
    """Name a topic (empty label removes the name). Requires `label_topics`. Returns the
    name as stored (stripped; "" when removed), which the CLI prints."""
    auth.require("label_topics")
    label = _check_label(topic, label)
    with store.transaction() as con:  # a model deleted meanwhile gets no orphan label
        record = get_in(con, model_id)
        if not 0 <= topic < int(record["k"]):
            raise InputError(f"Model {model_id} has topics 0-{int(record['k']) - 1}; "
                             f"there is no topic {topic}.")
        if label:
            _check_name_free(con, model_id, topic, label)
        pause("set_topic_label")
        store.mark_serving_change()
        # a carried name confirmed as it is keeps where it came from: the Topics page marks
        # the topics that match none of that model's (all such marks went with the last
        # confirmation); a name given by a person is no longer "carried"
        kept = con.execute("SELECT carried_from FROM topic_labels WHERE model_id = ? AND "
                           "topic = ? AND label = ?", [model_id, topic, label]).fetchone()
        con.execute("DELETE FROM topic_labels WHERE model_id = ? AND topic = ?",
                    [model_id, topic])
        if label:
            con.execute("INSERT INTO topic_labels (model_id, topic, label, updated_at, "
                        "updated_by, carried_from, confirmed) VALUES (?, ?, ?, ?, ?, ?, true)",
                        [model_id, topic, label, audit.now(), auth.current_user().name,
                         kept[0] if kept else None])
        audit.record(con, "label_topic", model_id, {"topic": topic, "label": label})
    return label


MAX_LABEL = 80


def _check_name_free(con: duckdb.DuckDBPyConnection, model_id: str, topic: int,
                     label: str) -> None:
    """InputError when another topic of the model has this name (in any case): two topics
    of one name could not be told apart in the pickers, the CSVs and the API, and the
    Lookup and Compare charts drew both on one bar or row."""
    for other, name in con.execute("SELECT topic, label FROM topic_labels WHERE model_id = ? "
                                   "AND topic <> ? ORDER BY topic",
                                   [model_id, topic]).fetchall():
        if name.casefold() == label.casefold():
            raise InputError(f"Topic {other} of model {model_id} is named {quoted(name)} "
                             f"already: give topic {topic} another name (two topics of one "
                             "name cannot be told apart in pickers, charts and exports).")


def _check_label(topic: object, label: object) -> str:
    """The stripped name, or an InputError naming what is wrong. Names are shown in every
    picker, table, CSV and API answer: a bell or a newline in one would garble them, and a
    topic of 1.5 was stored as topic 2 (DuckDB rounds it into the INTEGER column)."""
    if isinstance(topic, bool) or not isinstance(topic, int | np.integer):
        raise InputError(f"A topic is a whole number (its id), not {shown(topic)}.")
    return plain_line(label, "topic name", MAX_LABEL)


def model_label(row: Mapping[str, Any]) -> str:
    """How every picker names a model: id, aliases, dataset version, K, NPMI and date.

    `row` is a row of `list_models` (metrics as a dict) or of `metrics_table` (npmi as a
    column), as a dict or a pandas Series.
    """
    metrics = row.get("metrics")
    npmi = metrics.get("npmi") if isinstance(metrics, Mapping) else row.get("npmi")
    parts = [str(row["model_id"])]
    if row.get("aliases"):
        parts.append(f"[{row['aliases']}]")
    parts.append(f"{row['dataset']} v{int(row['version'])}")
    parts.append(f"K={int(row['k'])}")
    finite = isinstance(npmi, int | float) and math.isfinite(npmi)
    parts.append(f"NPMI {npmi:.3f}" if finite else "NPMI —")
    created = row.get("created_at")
    if created is not None and not pd.isna(created):
        parts.append(pd.Timestamp(created).strftime("%Y-%m-%d %H:%M"))
    return " · ".join(parts)


def model_labels(dataset: str | None = None) -> dict[str, str]:
    """Model id -> `model_label`, newest first: what a picker's format_func looks up."""
    models = list_models(dataset)
    return {row["model_id"]: model_label(row) for row in models.to_dict(orient="records")}


def save_settings(model_id: str, con: duckdb.DuckDBPyConnection | None = None) -> None:
    """Remember a model's recipe as its dataset's settings (done when it goes to production).

    It decides how the pipeline retrains the dataset, so it needs the `promote` role and
    is audited; pass `con` to write inside the caller's transaction (promotion does).
    """
    auth.require("promote")
    if con is None:
        with store.transaction() as own:
            save_settings(model_id, own)
        return
    record = get_in(con, model_id)
    params = {k: v for k, v in record["params"].items() if k != "k"}
    settings = {"engine": record["engine"], "k": int(record["k"]), "params": params,
                "text": record["text_config"], "from_model": model_id}
    con.execute("INSERT OR REPLACE INTO dataset_settings VALUES (?, ?, ?)",
                [record["dataset"], json.dumps(settings), audit.now()])
    audit.record(con, "save_settings", record["dataset"],
                 {"from_model": model_id, "engine": record["engine"], "k": int(record["k"])})
