"""Which ten words each topic shows: coherent ones among its most probable.

A topic's most probable words mix its theme with words that are frequent in many campaigns
("plus, personal, class" in the demo's gym topic). The ten words a topic shows are what
people read, what topic coherence and diversity measure and what the promotion gate and
sweeps compare, so by default (`shown_words="coherent"`, every engine) they are picked
from the topic's `CANDIDATES` most probable, greedily: the most probable first, then
each time the candidate with the highest

    mean NPMI with the words already picked (co-occurrence in the training campaigns)
    + PROBABILITY_WEIGHT × log(p(w | t) / p(first word | t)).

Word pairs need campaigns to be counted on: trained on fewer than `MIN_CAMPAIGNS`, a topic
shows its most probable words (`too_few`). The ten are listed in probability order. Only
the words shown change: the topic-word matrix, fingerprints and neighbours do not.
BERTopic re-picks its topics' words from their best candidates the same way
(KeyBERTInspired, MaximalMarginalRelevance), by embeddings rather than co-occurrence.

Measured (docs/benchmarks.md, *Topic quality*, stop 52; K = 20, seeds 0–2): BBC News NPMI
0.131 → 0.197 and topic diversity 0.920 → 0.945; M10's paper titles 0.025 → 0.136 (0.798
→ 0.803). Picked on a random half of a corpus and measured on the other half, the gain
holds on BBC and half of it on M10. Picked on 240 documents it is gone (M10 −0.065, BBC
−0.003, WANDS' queries −0.017 against the most probable words), on 500 it holds on BBC
(+0.035) but not on M10's titles (−0.017), on 1,000 M10 gains too (+0.038): hence
`MIN_CAMPAIGNS`.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

SHOWN = 10
CANDIDATES = 20
PROBABILITY_WEIGHT = 0.1
CHOICES = ("coherent", "probable")
MIN_CAMPAIGNS = 1000


def too_few(campaigns: int) -> str | None:
    """Why a topic model trained on `campaigns` campaigns shows its most probable words, or
    None when there are enough to pick on."""
    if campaigns >= MIN_CAMPAIGNS:
        return None
    return (f"its most probable words: {campaigns:,} training campaigns are too few to pick "
            f"the words most used together ({MIN_CAMPAIGNS:,} needed)")


def pick(topic_term: np.ndarray, counts: sp.spmatrix, n: int = SHOWN,
         candidates: int = CANDIDATES) -> np.ndarray:
    """K x n vocabulary ids each topic shows, in probability order (see above).
    `counts` is the campaigns x vocabulary term matrix the topics were trained on."""
    phi = np.asarray(topic_term, dtype=np.float64)
    n = min(n, phi.shape[1])
    order = np.argsort(-phi, axis=1, kind="stable")[:, :max(n, min(candidates, phi.shape[1]))]
    present = (sp.csc_matrix(counts) > 0).astype(np.float64)
    picked = np.empty((phi.shape[0], n), dtype=np.int64)
    for t, ids in enumerate(order):
        log_p = np.log(np.maximum(phi[t, ids], 1e-300) / max(phi[t, ids[0]], 1e-300))
        chosen = _greedy(npmi(present[:, ids]), PROBABILITY_WEIGHT * log_p, n)
        picked[t] = ids[np.sort(chosen)]  # candidates are in probability order
    return picked


def _greedy(pair: np.ndarray, score: np.ndarray, n: int) -> list[int]:
    """Indices of n candidates: the first, then each time the best mean pair score with
    those picked plus the candidate's own score."""
    chosen = [0]
    left = np.ones(len(score), dtype=bool)
    left[0] = False
    while len(chosen) < n:
        gain = np.where(left, pair[:, chosen].mean(axis=1) + score, -np.inf)
        best = int(np.argmax(gain))
        chosen.append(best)
        left[best] = False
    return chosen


def npmi(present: sp.spmatrix) -> np.ndarray:
    """Pairwise NPMI of the columns of a campaigns x words presence matrix (gensim's
    formula, document co-occurrence); a word no campaign holds is -1 with every other."""
    documents = max(present.shape[0], 1)
    together = np.asarray((present.T @ present).todense(), dtype=np.float64)
    alone = np.diag(together).copy() / documents
    joint = together / documents
    eps = 1e-12
    with np.errstate(divide="ignore", invalid="ignore"):
        value = np.log((joint + eps) / np.outer(alone, alone)) / np.maximum(
            -np.log(joint + eps), eps)
    value = np.where(np.outer(alone, alone) > 0, value, -1.0)
    np.fill_diagonal(value, 0.0)
    return np.clip(value, -1.0, 1.0)
