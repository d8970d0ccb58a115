"""What each topic of a model is: its words, its campaigns, its name, and its chart.

Reads the model's own dataset version; uses the stored fingerprints when the model has
been batch-scored and folds the campaigns in on the fly otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.data import datasets
from core.serve import ldavis, registry, score


@dataclass
class TopicView:
    model_id: str
    names: list[str]
    top_words: list[list[str]]
    campaign_ids: list[str]
    doc_topic: np.ndarray          # N × K
    doc_lengths: np.ndarray        # tokens per campaign in the vocabulary
    term_frequency: np.ndarray     # corpus count per vocabulary word


def topic_view(model: registry.LoadedModel) -> TopicView:
    saved = registry.encoded_counts(model.model_id)  # encoded at training time
    if saved is not None:
        ids, matrix = saved.campaign_ids, saved.matrix
    else:
        info = model.manifest["dataset"]
        ids, matrix, _ = model.encoder.encode_batches(
            datasets.term_batches(info["name"], int(info["version"]), model.encoder.columns))
    if score.is_scored(model.model_id):
        stored = score.load_fingerprints(model.model_id)
        doc_topic = stored.weights[[stored.index_of(c) for c in ids]]
    else:
        doc_topic = model.engine.transform(matrix)
    return TopicView(model.model_id, registry.topic_names(model), model.top_words(10), ids,
                     np.asarray(doc_topic), np.asarray(matrix.sum(axis=1)).ravel(),
                     np.asarray(matrix.sum(axis=0)).ravel())


# A weight the Topics page shows as 0.000 (three decimals): not a campaign of the topic.
SHOWN_AS_ZERO = 0.0005


def top_campaigns(view: TopicView, topic: int, n: int = 10) -> pd.DataFrame:
    """Campaigns with the highest weight on one topic. Left out: those the model knows no
    word of (`without_known_words`: their fingerprint is the prior alone, 1/K on every
    topic, so Sony's `amuelind_brand` stood second among the top campaigns of most topics
    at 0.125), and weights shown as 0.000 (a topic of 16 campaigns listed 14 more)."""
    weights = np.where(view.doc_lengths > 0, view.doc_topic[:, topic], 0.0)
    order = np.argsort(-weights, kind="stable")[:n]
    order = order[weights[order] >= SHOWN_AS_ZERO]
    return pd.DataFrame({"campaign_id": [view.campaign_ids[i] for i in order],
                         "weight": weights[order]})


def spare_topics_dropped(model: registry.LoadedModel) -> pd.DataFrame:
    """The spare topics a model trained and did not show (`spare_share`): each one's top
    words, document NPMI and how many training campaigns had it as their strongest topic
    (`campaigns`; NA for models trained before stop 46); whether they were kept hidden is
    the engine's `hidden_topics`. Empty for a model trained without spares."""
    dropped = model.engine.fit_info_.get("spare_topics_dropped", [])
    return pd.DataFrame({
        "top_words": [", ".join(d["top_words"]) for d in dropped],
        "campaigns": pd.array([d.get("main_documents") for d in dropped], dtype="Int64"),
        "document_npmi": [d["document_npmi"] for d in dropped]})


def without_known_words(view: TopicView) -> int:
    """How many campaigns have no word in the model's vocabulary (left out of the top
    campaigns of every topic)."""
    return int((view.doc_lengths == 0).sum())


def ldavis_html(model: registry.LoadedModel, view: TopicView) -> str:
    """The offline pyLDAvis page of a model, topic ids equal to the model's."""
    prepared = ldavis.prepare(model.engine.topic_term_, view.doc_topic, view.doc_lengths,
                              model.vocabulary, view.term_frequency)
    return ldavis.to_html(prepared, title=f"Topics of {model.model_id}")
