"""What a topic is called: the name people gave it, else one made from its words.

`describe(model)` is the one place that names topics; the CLI `topics`, every page and
the lookup use it. A topic's automatic name is its three most *relevant* words
(`core.model.relevance`), leaving out the brand and place words of the model's dataset
(`core.model.namewords`). The words the topic shows (`core.model.shown_words`) stay
with every topic.

A human name carried over from a previous model (`core.ops.carry`) keeps `carried_from`
and is unconfirmed until someone confirms it (it keeps `carried_from`) or names the topic
otherwise (it is then theirs).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache

import numpy as np

from core.model import namewords
from core.model.relevance import automatic_names, encoder_word_share


@dataclass(frozen=True)
class TopicName:
    """One topic's name and words."""

    topic: int
    name: str                    # the label when given, else `automatic`
    automatic: str               # "T3: word, word, word" from the most relevant words
    label: str | None            # the human name, if any
    carried_from: str | None     # model id the label was carried from, if it was
    confirmed: bool              # False only for a carried label nobody confirmed yet
    words: list[str]             # the words it shows (`Engine.top_words`: picked for coherence)
    relevant_words: list[str]    # top words by relevance, brand/place words left out

    def to_dict(self) -> dict:
        return asdict(self)


def word_share(model) -> np.ndarray:
    """p(w): each word's share of the training corpus (document counts for artifacts that
    kept no corpus counts)."""
    return encoder_word_share(model.encoder)


def name_words(model) -> namewords.NameWords:
    """The brand and place words of a model's dataset: saved with the model at training,
    detected from its dataset version for models saved before that (once per process)."""
    saved = model.manifest.get("name_words")
    if saved is not None:
        return namewords.NameWords.from_dict(saved)
    return _detected(model.model_id)


@lru_cache(maxsize=8)
def _detected(model_id: str) -> namewords.NameWords:
    from core.serve import registry
    model = registry.load(model_id)
    return detect_for(model.encoder, model.manifest["dataset"]["name"],
                      int(model.manifest["dataset"]["version"]))


def detect_for(encoder, dataset: str, version: int) -> namewords.NameWords:
    """Brand and place words of a dataset version over an encoder's vocabulary."""
    from core.data import datasets
    ids, counts, _ = encoder.encode_batches(
        datasets.term_batches(dataset, version, encoder.columns))
    campaigns = datasets.campaigns(dataset, version, ids)
    return namewords.detect(counts, encoder.vocabulary, campaigns["campaign_name"].tolist(),
                            campaigns["account"].tolist(), encoder.tokenizer)


def label_rows(model_id: str) -> dict[int, dict]:
    """Human labels of a model's topics: {topic: {label, carried_from, confirmed}}."""
    from core.data import store
    frame = store.query("SELECT topic, label, carried_from, confirmed FROM topic_labels "
                        "WHERE model_id = ?", [model_id])
    return {int(r.topic): {"label": r.label,
                           "carried_from": r.carried_from if isinstance(r.carried_from, str)
                           else None,
                           "confirmed": bool(r.confirmed) if r.confirmed is not None
                           and r.confirmed == r.confirmed else True}
            for r in frame.itertuples()}


def describe(model, n_words: int = 10, labels: dict[int, dict] | None = None
             ) -> list[TopicName]:
    """Every topic of a model with its name (human, else automatic) and word lists."""
    auto = automatic_names(model.engine.topic_term_, word_share(model), model.vocabulary,
                           name_words(model), n_words)
    labels = label_rows(model.model_id) if labels is None else labels
    out = []
    for t, (automatic, words, relevant) in enumerate(auto):
        given = labels.get(t) or {}
        label = given.get("label") or None
        out.append(TopicName(
            topic=t, name=label or automatic, automatic=automatic, label=label,
            carried_from=given.get("carried_from") if label else None,
            confirmed=bool(given.get("confirmed", True)) if label else True,
            words=model.engine.top_words(t, len(words)), relevant_words=relevant))
    return out
