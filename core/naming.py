"""What a topic is called: the name people gave it, else one made from its words.

`describe(model)` is the one place that names topics; the CLI `topics`, every page and
the lookup use it. A topic's automatic name is its three most *relevant* words, as
pyLDAvis ranks them (Sievert & Shirley 2014):

    relevance(w | t) = λ · log p(w | t) + (1 − λ) · log(p(w | t) / p(w)),   λ = 0.6

(0.6 is the value their user study found best for interpreting topics), leaving out brand
and place words (`core.namewords`): raw probability puts frequent words shared by many
topics first ("hotel, mover, resort"), and brand words name an advertiser rather than
what it sells ("gym, bright, peak"). The full word list, by probability, stays with every
topic.

A human name carried over from a previous model (`core.carry`) keeps `carried_from`
and is unconfirmed until someone names or confirms the topic.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache

import numpy as np

from core import namewords

LAMBDA = 0.6
NAME_WORDS = 3
_EPS = 1e-12


@dataclass(frozen=True)
class TopicName:
    """One topic's name and words."""

    topic: int
    name: str                    # the label when given, else `automatic`
    automatic: str               # "T3: word, word, word" from the most relevant words
    label: str | None            # the human name, if any
    carried_from: str | None     # model id the label was carried from, if it was
    confirmed: bool              # False only for a carried label nobody confirmed yet
    words: list[str]             # top words by probability (the full list shown)
    relevant_words: list[str]    # top words by relevance, brand/place words left out

    def to_dict(self) -> dict:
        return asdict(self)


def relevance(topic_term: np.ndarray, word_share: np.ndarray, lam: float = LAMBDA
              ) -> np.ndarray:
    """K x V relevance of every word to every topic (pyLDAvis' formula above)."""
    phi = np.asarray(topic_term, dtype=np.float64)
    phi = phi / np.maximum(phi.sum(axis=1, keepdims=True), _EPS)
    p = np.asarray(word_share, dtype=np.float64)
    p = p / max(p.sum(), _EPS)
    log_phi = np.log(np.maximum(phi, _EPS))
    return lam * log_phi + (1 - lam) * (log_phi - np.log(np.maximum(p, _EPS)))


def word_share(model) -> np.ndarray:
    """p(w): each word's share of the training corpus (document counts for artifacts that
    kept no corpus counts)."""
    return encoder_word_share(model.encoder)


def encoder_word_share(encoder) -> np.ndarray:
    """p(w) from an encoder's dictionary: corpus counts, else document counts."""
    dictionary = encoder.dictionary
    counts = dictionary.cfs if dictionary.cfs else dictionary.dfs
    return np.array([counts.get(i, 0) for i in range(len(dictionary))], dtype=np.float64)


def name_words(model) -> namewords.NameWords:
    """The brand and place words of a model's dataset: saved with the model at training,
    detected from its dataset version for models saved before that (once per process)."""
    saved = model.manifest.get("name_words")
    if saved is not None:
        return namewords.NameWords.from_dict(saved)
    return _detected(model.model_id)


@lru_cache(maxsize=8)
def _detected(model_id: str) -> namewords.NameWords:
    from core import registry
    model = registry.load(model_id)
    return detect_for(model.encoder, model.manifest["dataset"]["name"],
                      int(model.manifest["dataset"]["version"]))


def detect_for(encoder, dataset: str, version: int) -> namewords.NameWords:
    """Brand and place words of a dataset version over an encoder's vocabulary."""
    from core import datasets
    terms = datasets.terms(dataset, version)
    ids, counts, _ = encoder.encode_frame(terms, as_matrix=True)
    campaigns = datasets.campaigns(dataset, version).set_index("campaign_id").reindex(ids)
    return namewords.detect(counts, encoder.vocabulary, campaigns["campaign_name"].tolist(),
                            campaigns["account"].tolist(), encoder.tokenizer)


def label_rows(model_id: str) -> dict[int, dict]:
    """Human labels of a model's topics: {topic: {label, carried_from, confirmed}}."""
    from core import store
    frame = store.query("SELECT topic, label, carried_from, confirmed FROM topic_labels "
                        "WHERE model_id = ?", [model_id])
    return {int(r.topic): {"label": r.label,
                           "carried_from": r.carried_from if isinstance(r.carried_from, str)
                           else None,
                           "confirmed": bool(r.confirmed) if r.confirmed is not None
                           and r.confirmed == r.confirmed else True}
            for r in frame.itertuples()}


def automatic_names(topic_term: np.ndarray, share: np.ndarray, vocabulary: Sequence[str],
                    excluded: namewords.NameWords, n_words: int = 10
                    ) -> list[tuple[str, list[str], list[str]]]:
    """Per topic: (automatic name, top words by probability, top words by relevance
    without brand/place words)."""
    phi = np.asarray(topic_term, dtype=np.float64)
    rel = relevance(phi, share)
    allowed = np.array([w not in excluded for w in vocabulary], dtype=bool)
    out = []
    for t in range(phi.shape[0]):
        words = [vocabulary[j] for j in np.argsort(-phi[t], kind="stable")[:n_words]]
        scores = np.where(allowed, rel[t], -np.inf)
        order = np.argsort(-scores, kind="stable")
        relevant = [vocabulary[j] for j in order[:n_words] if np.isfinite(scores[j])]
        if len(relevant) < NAME_WORDS:  # only brand/place words: say so rather than hide
            relevant += [w for w in words if w not in relevant][:NAME_WORDS - len(relevant)]
        out.append((f"T{t}: " + ", ".join(relevant[:NAME_WORDS]), words, relevant))
    return out


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
            words=words, relevant_words=relevant))
    return out
