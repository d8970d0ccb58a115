"""How good is a topic model: coherence, diversity, held-out perplexity, stability, alignment.

Coherence is gensim's `CoherenceModel` on the top 10 words with the training texts as
reference: the setting of the published OCTIS / BERTopic figures (BERTopic paper,
arXiv:2203.05794, Table 1, BBC News: LDA NPMI 0.014, TD 0.577, mean over K = 10..50;
`bench/quality.py` prints them beside ours). Its sliding-window counting (c_npmi, c_v)
is `core.model.cooccurrence`: gensim's own counts, vectorised.
Perplexity is engine-agnostic "document completion" through the shared fold-in, so
gensim and tomotopy models are compared on the same footing.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from core.model.engines import Engine, bow_matrix, fewer_topics

TOPN = 10
MEASURES = ("c_npmi", "c_v", "u_mass")
# Names of the measures in `evaluate`'s result.
_METRIC_NAMES = {"c_npmi": "npmi", "c_v": "c_v", "u_mass": "u_mass"}


# Topic diversity below this means topics repeat each other's top words: sweeps do not
# choose such a model and the promotion gate refuses it.
DIVERSITY_FLOOR = 0.7


def topic_diversity(top_words: Sequence[Sequence[str]], topn: int = TOPN) -> float:
    """Share of unique words among the top `topn` words of all topics (Dieng et al. 2020)."""
    words = [w for topic in top_words for w in list(topic)[:topn]]
    return len(set(words)) / len(words) if words else 0.0


def coherence_per_topic(top_words: Sequence[Sequence[str]], corpus, measure: str = "c_npmi",
                        topn: int = TOPN) -> list[float]:
    """Coherence of each topic; `corpus` is a `core.model.corpus.Corpus` (the reference texts).

    measure: "c_npmi" (in [-1, 1], window 10), "c_v" (in [0, 1], window 110) or
    "u_mass" (<= 0, document co-occurrence). Top words the reference texts never contain
    are left out; a topic left with fewer than 2 words is NaN.
    """
    return [float("nan") if v is None else v
            for v in _scores(top_words, corpus, measure, topn)]


def coherence(top_words: Sequence[Sequence[str]], corpus, measure: str = "c_npmi",
              topn: int = TOPN) -> float:
    """Mean coherence over the topics that can be scored (see `coherence_per_topic`)."""
    values = [v for v in _scores(top_words, corpus, measure, topn) if v is not None]
    return float(np.mean(values)) if values else float("nan")


def coherence_of_each(topic_sets: Sequence[Sequence[Sequence[str]]], corpus,
                      measure: str = "c_npmi", topn: int = TOPN) -> list[float]:
    """`coherence` of each set of topics (one per model), with one pass of gensim's
    counting over the reference texts for all of them. A topic's score does not depend on
    the topics scored beside it: gensim counts every window of the whole texts, only the
    words it tallies change, so each equals `coherence` of its set alone. (The gate scored
    production and the new model one after the other, two passes over the same texts,
    when gensim's counting loop was nearly all of the time.)"""
    flat = [topic for topics in topic_sets for topic in topics]
    scores = _scores(flat, corpus, measure, topn)
    means, start = [], 0
    for topics in topic_sets:
        values = [v for v in scores[start:start + len(topics)] if v is not None]
        means.append(float(np.mean(values)) if values else float("nan"))
        start += len(topics)
    return means


def _scores(top_words: Sequence[Sequence[str]], corpus, measure: str, topn: int
            ) -> list[float | None]:
    """gensim's coherence of each topic over the words the reference texts contain; None
    for a topic left with fewer than 2 of them (the gate leaves such words out too).

    A word the texts never hold made gensim's NPMI inf and c_v NaN: a Spark model's
    vocabulary spans every campaign while its metrics' reference is a sample of them, and
    MLlib gives an unused topic random top words, so such a model "could not
    serve"."""
    from gensim.models.coherencemodel import CoherenceModel

    from core.model import cooccurrence  # imports gensim's coherence, as above

    if measure not in MEASURES:
        raise ValueError(f"measure must be one of {MEASURES}")
    seen: set[str] = set()
    for doc in corpus.tokens:
        seen.update(doc)
    topics = [[w for w in list(t)[:topn] if w in seen] for t in top_words]
    usable = [i for i, topic in enumerate(topics) if len(topic) >= 2]
    values: list[float | None] = [None] * len(topics)
    if usable:
        model = CoherenceModel(topics=[topics[i] for i in usable], texts=corpus.tokens,
                               dictionary=corpus.dictionary, coherence=measure, topn=topn,
                               processes=1)
        if measure in cooccurrence.WINDOWED:
            cooccurrence.count_for(model)
        for i, value in zip(usable, model.get_coherence_per_topic(), strict=True):
            values[i] = float(value)
    return values


def perplexity(engine: Engine, heldout_bow) -> float:
    """Held-out perplexity by document completion (lower is better).

    Each held-out document's tokens are split alternately into two halves; topic
    proportions are folded in from the first half and the second half is scored:
    exp(-sum log p(w | theta, phi) / number of scored tokens). Tokens no topic gives any
    probability (removed words) are not scored. `heldout_bow` is a Corpus or bow list.
    """
    bows = getattr(heldout_bow, "bow", heldout_bow)
    observed, scored = [], []
    for doc in bows:
        ids = [i for i, c in doc for _ in range(round(c))]
        observed.append(_counts(ids[0::2]))
        scored.append(_counts(ids[1::2]))
    phi = engine.topic_term_
    theta = engine.transform(observed)
    held = bow_matrix(scored, phi.shape[1]).tocoo()
    probs = np.einsum("ik,ki->i", theta[held.row], phi[:, held.col])
    ok = probs > 0
    total = held.data[ok].sum()
    if total == 0:
        return float("nan")
    return float(np.exp(-(held.data[ok] * np.log(probs[ok])).sum() / total))


def _counts(ids: list[int]) -> list[tuple[int, int]]:
    values, counts = np.unique(np.asarray(ids, dtype=np.int64), return_counts=True)
    return list(zip(values.tolist(), counts.tolist(), strict=True))


def _jaccard(a: Sequence[str], b: Sequence[str]) -> float:
    sa, sb = set(a), set(b)
    return len(sa & sb) / len(sa | sb) if sa | sb else 1.0


def stability(runs: Sequence[Sequence[Sequence[str]]], topn: int = TOPN) -> float:
    """Mean best-match Jaccard of top words between runs (e.g. seeds), in [0, 1].

    For every pair of runs, each topic is matched to its most similar topic (Jaccard of
    the top `topn` words) in the other run, in both directions; the result is the mean
    of those best matches over all pairs. 1.0 means every run found the same topics.
    """
    if len(runs) < 2:
        raise ValueError("stability needs at least two runs")
    pair_scores = []
    for a, b in itertools.combinations(runs, 2):
        sim = np.array([[_jaccard(list(x)[:topn], list(y)[:topn]) for y in b] for x in a])
        pair_scores.append((sim.max(axis=1).mean() + sim.max(axis=0).mean()) / 2)
    return float(np.mean(pair_scores))


def align_vocabularies(topic_term_a: np.ndarray, vocabulary_a: Sequence[str],
                       topic_term_b: np.ndarray, vocabulary_b: Sequence[str],
                       ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Both models' topic-word matrices over the union of their vocabularies.

    Columns follow the returned union vocabulary (a's words first, then b's new words);
    a word a model does not know gets probability 0 there. Rows still sum to 1.
    """
    union = list(dict.fromkeys([*vocabulary_a, *vocabulary_b]))
    position = {w: i for i, w in enumerate(union)}

    def widen(matrix: np.ndarray, vocabulary: Sequence[str]) -> np.ndarray:
        out = np.zeros((matrix.shape[0], len(union)))
        out[:, [position[w] for w in vocabulary]] = matrix
        return out

    return widen(topic_term_a, vocabulary_a), widen(topic_term_b, vocabulary_b), union


def js_distance_matrix(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Jensen–Shannon distance (scipy's, base 2, in [0, 1]) between every row of p and
    of q."""
    from scipy.spatial.distance import jensenshannon

    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    distances = jensenshannon(p[:, None, :], q[None, :, :], base=2, axis=2)
    return np.clip(np.nan_to_num(distances, nan=0.0), 0.0, 1.0)


def topic_alignment(topic_term_a: np.ndarray, topic_term_b: np.ndarray,
                    ) -> tuple[np.ndarray, np.ndarray]:
    """(Ka x Kb Jensen–Shannon distances, best match in b for each topic of a).

    Both matrices must have the same columns in the same word order: models trained on
    the same corpus dictionary already do; otherwise pass them through
    `align_vocabularies` first. `best_matches[i]` is the index of b's closest topic to
    a's topic i (not forced one-to-one).
    """
    if topic_term_a.shape[1] != topic_term_b.shape[1]:
        raise ValueError("topic-term matrices have different vocabularies: use "
                         "align_vocabularies() first")
    js = js_distance_matrix(topic_term_a, topic_term_b)
    return js, js.argmin(axis=1)


def evaluate(engine: Engine, corpus, heldout=None,
             measures: Sequence[str] = MEASURES, reference=None) -> dict[str, Any]:
    """Every metric of a fitted engine on its training corpus, with the seconds each took.

    Keys: k, documents, vocabulary_size, npmi, c_v, u_mass, diversity, perplexity (None
    without `heldout`, a Corpus or bow list), fit_seconds, and `<metric>_seconds`.
    `reference`: the texts coherence is counted over (default `corpus`); training passes
    the whole dataset version, the texts the promotion gate scores the model on, so the
    Compare table and the gate show one NPMI for a model.
    """
    top = engine.topics(TOPN)
    result: dict[str, Any] = {"k": len(top), "documents": len(corpus),
                              "vocabulary_size": len(corpus.dictionary),
                              "fit_seconds": _seconds(getattr(engine, "fit_seconds_", None))}
    for measure in measures:
        started = time.perf_counter()
        name = _METRIC_NAMES[measure]
        result[name] = coherence(top, corpus if reference is None else reference, measure)
        result[f"{name}_seconds"] = _seconds(time.perf_counter() - started)
    result["diversity"] = topic_diversity(top)
    result["perplexity"] = None
    if heldout is not None:
        started = time.perf_counter()
        result["perplexity"] = perplexity(engine, heldout)
        result["perplexity_seconds"] = _seconds(time.perf_counter() - started)
    return result


def _seconds(value: float | None) -> float | None:
    """A duration to the millisecond, as the registry's timings are: `train` printed
    `"fit_seconds": 2.05025849499998`."""
    return None if value is None else round(float(value), 3)


def npmi_note(npmi: float) -> str:
    """A poor NPMI (below 0.05) in words: "negative" whenever it is below 0 (the pipeline
    said "NPMI is low (-0.017; 0 means chance)" of a score `train` called negative at
    -0.06), with the advice that fits how far below chance it is."""
    if npmi < 0:
        advice = ("so the topics mix unrelated words. Usually K is too large for the data "
                  "(too few campaigns per topic) or the data is too small; try fewer topics "
                  "or more campaigns." if npmi < -0.05 else
                  "so the topics are no better than chance. Compare a few values of K (a "
                  "sweep), or add more campaigns.")
        return (f"NPMI is negative ({npmi:.3f}; 0 means chance): the top words of a typical "
                f"topic appear together in these campaigns less often than by chance, "
                f"{advice}")
    return (f"NPMI is low ({npmi:.3f}; 0 means chance): the top words of a topic occur "
            "together hardly more often than unrelated words would, so the topics are "
            "weak. Compare a few values of K (a sweep), or add more campaigns.")


def explain(scores: dict[str, Any], k: int | None = None) -> list[str]:
    """Poor scores in words, for pages and the CLI (empty when nothing looks poor); `k`,
    the model's K, makes the advice on low diversity a K to try.

    NPMI (top-10 words, in [-1, 1]) is 0 when a topic's top words occur together as
    often as by chance; the BBC reference here scores 0.12-0.15, the demo at K = 40 0.26.
    Diversity below the sweep floor (0.7) means topics repeat each other's top words.
    """
    notes = []
    npmi = scores.get("npmi")
    if isinstance(npmi, int | float) and npmi == npmi and npmi < 0.05:
        notes.append(npmi_note(npmi))
    diversity = scores.get("diversity")
    if isinstance(diversity, int | float) and diversity < DIVERSITY_FLOOR:
        notes.append(
            f"Topic diversity is {diversity:.2f} (below {DIVERSITY_FLOOR}): many topics "
            "share their top words, so several topics say the same thing; fewer topics "
            "usually help" + (f" (try K = {fewer_topics(k)})." if k and fewer_topics(k) < k
                              else "."))
    return notes
