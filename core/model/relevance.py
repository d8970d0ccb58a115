"""How relevant a word is to a topic, and the automatic topic names built from it.

Sievert & Shirley (2014), as pyLDAvis ranks words:

    relevance(w | t) = λ · log p(w | t) + (1 − λ) · log(p(w | t) / p(w)),   λ = 0.6

(0.6 is the value their user study found best for interpreting topics). Raw probability
puts frequent words shared by many topics first ("hotel, mover, resort"); brand and place
words (`core.model.namewords`) are left out of names because they name an advertiser rather than
what it sells. A topic that is itself about places (at least half of its top words by
probability are place words, as when campaigns are copied per city) is named by them,
after `places:`, since the words left after them say nothing ("lnodon, football, career"
on the demo). Pure functions of a topic-word matrix: no store (`core.serve.naming` adds
labels).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from core.model import namewords

LAMBDA = 0.6
NAME_WORDS = 3
PLACE_TOPIC_SHARE = 0.5   # a topic whose top words are at least this share place words
_EPS = 1e-12


def relevance(topic_term: np.ndarray, word_share: np.ndarray, lam: float = LAMBDA
              ) -> np.ndarray:
    """K x V relevance of every word to every topic (pyLDAvis' formula above)."""
    phi = np.asarray(topic_term, dtype=np.float64)
    phi = phi / np.maximum(phi.sum(axis=1, keepdims=True), _EPS)
    p = np.asarray(word_share, dtype=np.float64)
    p = p / max(p.sum(), _EPS)
    log_phi = np.log(np.maximum(phi, _EPS))
    return lam * log_phi + (1 - lam) * (log_phi - np.log(np.maximum(p, _EPS)))


def encoder_word_share(encoder) -> np.ndarray:
    """p(w) from an encoder's dictionary: corpus counts, else document counts."""
    dictionary = encoder.dictionary
    counts = dictionary.cfs if dictionary.cfs else dictionary.dfs
    return np.array([counts.get(i, 0) for i in range(len(dictionary))], dtype=np.float64)


def automatic_names(topic_term: np.ndarray, share: np.ndarray, vocabulary: Sequence[str],
                    excluded: namewords.NameWords, n_words: int = 10
                    ) -> list[tuple[str, list[str], list[str]]]:
    """Per topic: (automatic name, top words by probability, top words by relevance
    without brand/place words)."""
    phi = np.asarray(topic_term, dtype=np.float64)
    rel = relevance(phi, share)
    allowed = np.array([w not in excluded for w in vocabulary], dtype=bool)
    place = np.array([w in excluded.place for w in vocabulary], dtype=bool)
    out = []
    for t in range(phi.shape[0]):
        top = np.argsort(-phi[t], kind="stable")[:n_words]
        words = [vocabulary[j] for j in top]
        scores = np.where(allowed, rel[t], -np.inf)
        order = np.argsort(-scores, kind="stable")
        relevant = [vocabulary[j] for j in order[:n_words] if np.isfinite(scores[j])]
        if len(top) and place[top].mean() >= PLACE_TOPIC_SHARE:
            places = [vocabulary[j] for j in np.argsort(-np.where(place, rel[t], -np.inf),
                                                        kind="stable")[:NAME_WORDS]]
            name = "places: " + ", ".join(places)
        else:
            if len(relevant) < NAME_WORDS:  # only brand/place words: say so, not hide
                relevant += [w for w in words if w not in relevant][:NAME_WORDS - len(relevant)]
            name = ", ".join(relevant[:NAME_WORDS])
        out.append((f"T{t}: {name}", words, relevant))
    return out
