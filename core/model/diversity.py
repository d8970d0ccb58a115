"""Diversity step after training: merge topics that repeat each other's top words, re-split another.

Gibbs LDA on short texts often ends with two topics that share many of their top words
("gene expression datum …" twice on M10) while a broad topic mixes several themes. This
step, run on the fitted topic-word matrix, repeats a guarded move:

1. take a pair of topics whose top-10 words share at least `min_overlap` words;
2. merge them: the two topics' expected word counts over the training documents
   (fold-in responsibilities) are summed into one topic;
3. re-split another topic into two: a 2-topic tomotopy LDA, same priors and term weights,
   on the tokens whose most likely topic it is; the two sub-topics take its slot and
   the freed one, so K stays what the user asked for;
4. keep the move only if it is a Pareto improvement of topic diversity and the mean
   document-level NPMI of the top-10 words (co-occurrence within a campaign, computed
   here from the training counts): neither falls and at least one rises. Of all pairs ×
   split candidates the kept move has the highest NPMI. (The first version asked
   diversity to rise; accepting moves that only raise NPMI at equal diversity lifted
   BBC K=20 from 0.144 to 0.154 over seeds 0-2, docs/benchmarks.md, *Diversity step*.)

It stops when no move passes the guard or after `max_rounds` moves. The top words
users see stay the most probable words of each topic: this changes the model, not the
ranking. Measured figures are in docs/benchmarks.md (*Diversity step*).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from core.model.engines import fold_in, tomotopy

TOPN = 10
MIN_OVERLAP = 1          # shared top-10 words that make two topics a merge candidate
SPLIT_ITERATIONS = 200   # Gibbs iterations of each 2-topic re-split


def top_word_ids(topic_term: np.ndarray, n: int = TOPN) -> np.ndarray:
    """K x n column ids of each topic's most probable words (stable order)."""
    return np.argsort(-topic_term, axis=1, kind="stable")[:, :n]


def diversity(top: np.ndarray) -> float:
    """Share of unique ids among all topics' top words (topic diversity)."""
    return len(set(top.ravel().tolist())) / top.size


def overlaps(top: np.ndarray) -> list[tuple[int, int, int]]:
    """(shared words, i, j) of every topic pair, most shared first."""
    sets = [set(row.tolist()) for row in top]
    pairs = [(len(sets[i] & sets[j]), i, j)
             for i in range(len(sets)) for j in range(i + 1, len(sets))]
    return sorted(pairs, key=lambda p: (-p[0], p[1], p[2]))


def document_npmi(ids: np.ndarray, present: sp.csc_matrix) -> float:
    """Mean NPMI of the word pairs of `ids`, counting co-occurrence within a document.

    `present` is the N x V binary document-word matrix; a pair never seen together counts
    −1 (gensim's c_npmi convention)."""
    n_docs = present.shape[0]
    sub = present[:, ids]
    co = (sub.T @ sub).toarray()
    df = np.diag(co)
    upper = np.triu_indices(len(ids), 1)
    joint = co[upper] / n_docs
    marginal = df[upper[0]] * df[upper[1]] / n_docs**2
    with np.errstate(divide="ignore", invalid="ignore"):
        values = np.where(joint > 0, np.log(joint / np.maximum(marginal, 1e-300))
                          / -np.log(np.where(joint > 0, joint, 0.5)), -1.0)
    return float(values.mean())


def _responsibilities(topic_term: np.ndarray, alpha: np.ndarray, counts: sp.csr_matrix,
                      term_weights: np.ndarray | None) -> tuple[sp.coo_matrix, np.ndarray]:
    """Weighted counts (coo) and, per non-zero entry, each topic's share of it (nnz x K)."""
    theta = fold_in(topic_term, alpha, counts, term_weights)
    entries = counts.tocoo()
    if term_weights is not None:
        entries.data = entries.data * np.asarray(term_weights)[entries.col]
    share = theta[entries.row] * topic_term[:, entries.col].T
    share /= np.maximum(share.sum(axis=1, keepdims=True), 1e-300)
    return entries, share


def _split(tokens: list[list[int]], n_terms: int, params: dict[str, Any], seed: int
           ) -> np.ndarray | None:
    """Two sub-topics (2 x V) of the given token lists, or None if there is too little."""
    tp = tomotopy()

    weights = {"one": tp.TermWeight.ONE, "idf": tp.TermWeight.IDF, "pmi": tp.TermWeight.PMI}
    model = tp.LDAModel(tw=weights[params["term_weight"]], k=2, alpha=params["alpha"],
                        eta=params["eta"], seed=int(seed))
    added = 0
    for doc in tokens:
        if doc:
            model.add_doc([str(i) for i in doc])
            added += 1
    if added < 2 or sum(map(len, tokens)) < 2 * TOPN:
        return None
    model.train(SPLIT_ITERATIONS, workers=1, parallel=tp.ParallelScheme.NONE)
    columns = np.array([int(w) for w in model.used_vocabs], dtype=np.int64)
    sizes = np.asarray(model.get_count_by_topics(), dtype=np.float64)
    out = np.zeros((2, n_terms))
    for t in range(2):
        out[t, columns] = np.asarray(model.get_topic_word_dist(t)) * sizes[t]
    out += params["eta"]
    return out / out.sum(axis=1, keepdims=True)


def _topic_tokens(entries: sp.coo_matrix, raw: np.ndarray, share: np.ndarray, topic: int
                  ) -> list[list[int]]:
    """Per document, the word ids (repeated by count) whose most likely topic is `topic`."""
    mine = share.argmax(axis=1) == topic
    rows, cols, reps = entries.row[mine], entries.col[mine], raw[mine]
    docs: dict[int, list[int]] = {}
    for row, col, rep in zip(rows.tolist(), cols.tolist(), reps.tolist(), strict=True):
        docs.setdefault(row, []).extend([col] * max(1, round(rep)))
    return list(docs.values())


def diversify(topic_term: np.ndarray, alpha: np.ndarray, counts: sp.csr_matrix,
              term_weights: np.ndarray | None, params: dict[str, Any], seed: int = 0,
              min_overlap: int = MIN_OVERLAP, max_rounds: int | None = None
              ) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """The topic-word matrix after guarded merge / re-split moves, and the moves made.

    `counts`: N x V raw training counts; `term_weights`: the engine's per-word weights
    (None = 1); `params`: the engine's `term_weight`, `alpha`, `eta` (used for the
    re-splits and to smooth merged topics). `max_rounds` defaults to K // 2.
    """
    phi = np.asarray(topic_term, dtype=np.float64).copy()
    k, n_terms = phi.shape
    alpha = np.broadcast_to(np.asarray(alpha, dtype=np.float64), (k,))
    counts = counts.tocsr()
    present = (counts > 0).astype(np.float64).tocsc()
    rounds = k // 2 if max_rounds is None else max_rounds
    top = top_word_ids(phi)
    npmi = np.array([document_npmi(row, present) for row in top])
    raw = counts.tocoo().data
    # re-split of each untouched topic, cached across rounds: (sub-topics, their top ids,
    # their document NPMI), or None when the topic has too few tokens to split
    splits: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray] | None] = {}
    moves: list[dict[str, Any]] = []
    for step in range(rounds):
        pairs = [(n, i, j) for n, i, j in overlaps(top) if n >= min_overlap]
        if not pairs or k < 3:
            break
        entries, share = _responsibilities(phi, alpha, counts, term_weights)
        base_npmi, base_td = float(npmi.mean()), diversity(top)
        for b in range(k):
            if b not in splits:
                sub = _split(_topic_tokens(entries, raw, share, b), n_terms, params,
                             seed + 1000 * step + b)
                sub_top = None if sub is None else top_word_ids(sub)
                splits[b] = None if sub is None else (
                    sub, sub_top, np.array([document_npmi(row, present) for row in sub_top]))
        topic_counts: dict[int, np.ndarray] = {}
        best = None
        for _, i, j in pairs:
            for t in (i, j):
                if t not in topic_counts:
                    topic_counts[t] = np.bincount(entries.col, minlength=n_terms,
                                                  weights=entries.data * share[:, t])
            merged = topic_counts[i] + topic_counts[j] + params["eta"]
            merged /= merged.sum()
            merged_top = top_word_ids(merged[None, :])[0]
            merged_npmi = document_npmi(merged_top, present)
            for b in range(k):
                if b in (i, j) or splits[b] is None:
                    continue
                sub, sub_top, sub_npmi = splits[b]
                new_npmi = npmi.copy()
                new_npmi[i], new_npmi[[j, b]] = merged_npmi, sub_npmi
                mean = float(new_npmi.mean())
                if mean < base_npmi or (best is not None and mean <= best[0]):
                    continue
                new_top = top.copy()
                new_top[i], new_top[[j, b]] = merged_top, sub_top
                td = diversity(new_top)
                if td > base_td or (td == base_td and mean > base_npmi):
                    best = (mean, td, i, j, b, merged, new_top, new_npmi)
        if best is None:
            break
        mean, td, i, j, b, merged, top, npmi = best
        phi[i] = merged
        phi[[j, b]] = splits[b][0]
        for t in (i, j, b):
            splits.pop(t, None)
        moves.append({"merged": [int(i), int(j)], "split": int(b),
                      "npmi_before": round(base_npmi, 4), "npmi_after": round(mean, 4),
                      "diversity_before": round(base_td, 3), "diversity_after": round(td, 3)})
    return phi, moves
