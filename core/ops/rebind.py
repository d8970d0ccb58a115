"""A model's topics on another version of its dataset, registered as a model of its own.

Production answers the campaigns of its model's dataset version. Rolled back to a model of
an older version (the newer model disappointed), every campaign new since was unknown to
it: 404 in the service, absent from Lookup, the Map and Review. `rebind` registers the
same topics (engine, vocabulary, text settings, word vectors) on the other version: a new
model id whose fingerprints, neighbours and metrics are that version's, with the topic
names the model had. It is promoted as any model is (`deploy.promote`, the quality gate
against production); models stay immutable, one dataset version each.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any

from core.data import auth, datasets, store
from core.errors import InputError
from core.model import metrics
from core.model.corpus import EncodedCounts
from core.progress import Progress, part
from core.serve import registry, score


@dataclass(frozen=True)
class RebindResult:
    """The new model, the model whose topics it holds, the version it answers, and its
    batch scoring (None: it existed already, rebound before)."""

    model_id: str
    from_model_id: str
    dataset: str
    version: int
    scoring: score.ScoreResult | None
    labels: int   # topic names copied

    def to_dict(self) -> dict[str, Any]:
        return {"model_id": self.model_id, "from": self.from_model_id,
                "dataset": f"{self.dataset} v{self.version}", "labels_copied": self.labels,
                "scoring": self.scoring.to_dict() if self.scoring else None,
                **({} if self.scoring else {"existing": True})}


def rebind(model_id: str, version: int | None = None,
           progress: Progress | None = None) -> RebindResult:
    """Register `model_id`'s topics on `version` of its dataset (default: the newest) as a
    new model, copy its topic names, and score it. The same model rebound to the same
    version again returns the model made the first time."""
    auth.require("train")
    report = progress or (lambda done, total, message: None)
    source = registry.resolve(model_id)
    record = registry.get(source)
    info = datasets.get(record["dataset"], version)
    if info.version == int(record["version"]):
        raise InputError(f"{source} was trained on {info.label}, so it answers that "
                         f"version's campaigns already: name another version (--version).")
    model = registry.load(source)
    engine_name, params = model.manifest["engine"], model.manifest["params"]
    config = model.encoder.tokenizer.config
    identity = registry.model_identity(engine_name, params, config.to_dict(), info.name,
                                       info.version, model.vocabulary,
                                       model.engine.topic_term_)
    if existing := registry.registered_fitted(identity):   # before encoding and measuring
        return RebindResult(existing, source, info.name, info.version, None, 0)
    started = time.perf_counter()
    report(0, 3, f"Encoding the campaigns of {info.label} with {source}'s vocabulary…")
    ids, counts, oov = model.encoder.encode_batches(
        datasets.term_batches(info.name, info.version, model.encoder.columns))
    encode_seconds = time.perf_counter() - started
    report(1, 3, f"Measuring {source}'s topics on {info.label} (NPMI)…")
    from core.ops.train import build_corpus
    # the language the model was trained in, not one detected again
    corpus, _ = build_corpus(info.name, info.version, dataclasses.replace(
        config, language=model.encoder.tokenizer.language_))
    measured = {**metrics.evaluate(model.engine, corpus),
                "vocabulary_size": len(model.vocabulary)}
    made = registry.new_model_id(engine_name, model.k)
    # `fitted`: the check for a copy made meanwhile is in the transaction that inserts
    new_id = registry.register(
        engine=model.engine, engine_name=engine_name, encoder=model.encoder, params=params,
        dataset=info.name, version=info.version, dataset_hash=info.content_hash,
        metrics=measured, timings={"encode": round(encode_seconds, 3)},
        counts=EncodedCounts(list(ids), counts, oov),
        name_words=model.manifest.get("name_words"), model_id=made, fitted=identity,
        rebound_from={"model_id": source,
                      "learned_on": registry.learned_on(model.manifest)})
    if new_id != made:   # another call rebound it first
        return RebindResult(new_id, source, info.name, info.version, None, 0)
    labels = _copy_labels(source, new_id)
    scored = score.score_dataset(new_id, part(report, 2, 3, 3))
    return RebindResult(new_id, source, info.name, info.version, scored, labels)


def _copy_labels(source: str, target: str) -> int:
    """The source's topic names, as they are (confirmed or carried), on the same topics of
    the rebound model: they are the same topics."""
    with store.transaction() as con:
        registry.get_in(con, target)   # not deleted meanwhile
        con.execute("INSERT INTO topic_labels (model_id, topic, label, updated_at, updated_by, "
                    "carried_from, confirmed) SELECT ?, topic, label, updated_at, updated_by, "
                    "carried_from, confirmed FROM topic_labels WHERE model_id = ?",
                    [target, source])
        copied = con.execute("SELECT count(*) FROM topic_labels WHERE model_id = ?",
                             [target]).fetchone()[0]
        store.mark_serving_change()
    return int(copied)
