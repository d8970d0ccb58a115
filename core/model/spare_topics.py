"""Spare topics: train more topics than asked for, keep the K that are coherent and distinct.

A Gibbs-sampled LDA typically ends with a few topics that explain tokens without telling
a theme (everyday words shared by many documents, fragments of two themes) and a few that
repeat another topic's top words. Which ones depends on the seed, and they pull the mean
coherence and the topic diversity down. So `round(K × share)` spare topics are trained and
then dropped one at a time: of the topics whose document NPMI is at most the median of
those still kept, the one whose removal leaves the highest

    mean document NPMI of the kept topics + DIVERSITY_WEIGHT × their topic diversity

(document NPMI: of the top-10 words, co-occurrence within a training document, as
`core.model.diversity` measures it; diversity: the unique share of the top-10 words). The
median guard keeps a coherent topic that repeats a few of another's words: without it,
BBC News K = 20 lost NPMI (0.161 → 0.153 over seeds 0-2) for diversity it did not need.
The dropped topics' tokens go to the kept topics when campaigns are folded in, or, with
`hidden_spares`, to the dropped topics kept hidden. A dropped topic that is still many
documents' theme leaves them with no shown topic of their own: `dropped_theme_warnings`
says so after training. Measured figures, and the share and weight they justify, are in
docs/benchmarks.md (*Spare topics*).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from core.model.diversity import TOPN, diversity, document_npmi, top_word_ids
from core.model.engines import CAMPAIGNS_PER_TOPIC, WORDS_PER_TOPIC, Engine

DIVERSITY_WEIGHT = 1.0   # the plain sum; docs/benchmarks.md, *Spare topics*: 0.5-2 all
                         # met the BBC and M10 targets


def spare_count(k: int, share: float, documents: int, vocabulary: int) -> int:
    """How many topics to train beyond `k`: `round(k × share)`, but never so many that
    the data holds fewer than CAMPAIGNS_PER_TOPIC documents or WORDS_PER_TOPIC words per
    topic (on the 16 Sony exports, 14 documents, document NPMI cannot tell a theme from
    one campaign's words, and a demand-forecasting theme was dropped)."""
    room = min(documents // CAMPAIGNS_PER_TOPIC, vocabulary // WORDS_PER_TOPIC) - k
    return max(0, min(round(k * share), room))


def main_documents(proportions: np.ndarray) -> np.ndarray:
    """For each topic (column of the N x T `proportions`), how many documents have it as
    their strongest topic."""
    proportions = np.asarray(proportions)
    return np.bincount(proportions.argmax(axis=1), minlength=proportions.shape[1])


def keep_best(topic_term: np.ndarray, counts: sp.spmatrix, k: int,
              diversity_weight: float = DIVERSITY_WEIGHT) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the `k` topics (rows of `topic_term`) to keep, in their original order,
    and every topic's document NPMI. `counts`: N x V raw training counts (only presence
    matters)."""
    present = (sp.csr_matrix(counts) > 0).astype(np.float64).tocsc()
    top = top_word_ids(topic_term, TOPN)
    npmi = np.array([document_npmi(row, present) for row in top])
    keep = list(range(len(top)))
    while len(keep) > k:
        def left(drop: int) -> float:
            rest = [t for t in keep if t != drop]
            return float(npmi[rest].mean()) + diversity_weight * diversity(top[rest])
        median = np.median(npmi[keep])
        keep.remove(max((t for t in keep if npmi[t] <= median), key=left))  # ties: the first
    return np.array(keep), npmi


def dropped_themes(engine: Engine) -> list[dict]:
    """The spare topics a trained engine dropped (`fit_info_`'s `spare_topics_dropped`)
    that were still the theme of many documents (`main_documents` at least
    CAMPAIGNS_PER_TOPIC), the largest first."""
    return sorted((d for d in engine.fit_info_.get("spare_topics_dropped", ())
                   if d.get("main_documents", 0) >= CAMPAIGNS_PER_TOPIC),
                  key=lambda d: -d["main_documents"])


def dropped_theme_warnings(engine: Engine) -> list[str]:
    """What a trained engine says when spare topics it dropped were still themes
    (`dropped_themes`), naming the largest."""
    themes = dropped_themes(engine)
    if not themes:
        return []
    named = "; ".join(f"\"{' '.join(d['top_words'][:5])} …\" ({d['main_documents']:,})"
                      for d in themes[:3])
    where = ("are shown spread over the K topics kept" if not engine.hidden_topics else
             "have little or no weight on any topic shown (their neighbours still use the "
             "hidden topics)")
    return [f"{len(themes)} of the spare topics dropped were the strongest topic of "
            f"{CAMPAIGNS_PER_TOPIC} or more training campaigns each: {named}. Those "
            f"campaigns {where}. A larger K, or a smaller spare share, keeps such themes."]
