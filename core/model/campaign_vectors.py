"""Dense campaign vectors: what a campaign's words mean, not only which words they are.

The term part of the neighbour score (`core.model.neighbors`) matches identical words, and
the topic part sees a campaign only through K topics; short campaigns ("emergency
plumber", "24 hour plumber") share few words and fold in to noisy topic mixes. A third
part compares campaigns by the word vectors of their words: word2vec trained on the
model's own corpus at training time (`core.model.term_vectors.word_vectors`, CBOW, nothing
downloaded; `TextConfig(word_vectors=True)`, the default), saved with the encoder as
`word_vectors.npy`.

A campaign's vector is SIF (Arora, Liang & Ma, "A simple but tough-to-beat baseline for
sentence embeddings", ICLR 2017): the mean of its words' vectors weighted by
`a / (a + p(w))`, `p(w)` the word's share of all counted words, minus the projection on
the first principal direction of all campaigns' vectors (what every campaign has in
common), L2-normalised. The neighbour index learns `p(w)` and that direction from the
campaigns it is fitted on (as it learns the idf), and applies the same to pasted keywords.

Chosen on `bench/neighbors.py`'s corpora (precision@10 of same-label neighbours, project
defaults, seed 0, blend topic / terms / vectors 0.2 / 0.4 / 0.4; M10, BBC, demo):
`a` = 0.001 (the paper's), 0.003, 0.01 and 0.03 gave M10 0.698, 0.701, 0.704 and 0.706
and the demo 0.989-0.990 (BBC 0.943 at 0.001, 0.946 at 0.01); at the final 32 dimensions
(stop 43) 0.03-1 lift BBC by at most 0.0004 and M10 by up to 0.002, and take the demo
below 0.99 (0.9893-0.9897 against 0.9901). Removing the common
direction lifts short titles (at `a` = 0.001: M10 0.687 without, 0.698 with; BBC and demo
within 0.001); a second direction did not help (0.703 / 0.990). TF-IDF weights instead of
SIF's: M10 0.708, BBC 0.947, but the demo 0.980. Word vectors: 32 dimensions (the
default, `term_vectors.DIMENSIONS`) 0.706 / 0.946 / 0.990, as good as 100 (0.704 / 0.946 /
0.990), 50 or 200, with a third of the memory of 100 and half the time wherever a query
scores every campaign (1,000,000 campaigns on one core: 17 ms at 32, 36 ms at 100);
16 dimensions 0.703 / 0.944 / 0.988; window 5 0.704 / 0.946 / 0.990; 10 epochs 0.688 on
M10 (too few passes over ~50,000 words, hence `term_vectors.epochs_for`); skip-gram
0.698 / 0.942 / 0.990 at 3-6x the time. Soft terms use the same
vectors (at 32 dimensions their precision moved by at most 0.004), so a model trains
word2vec once for both. fastText (gensim, same settings, character 3-6-grams, 20,000 or
100,000 buckets) instead of word2vec: 0.696 / 0.945 / 0.991 at 4-5x word2vec's time and a
2.6-12.8 MB n-gram table (docs/benchmarks.md, stop 37), so word2vec stays.
All-but-the-top (Mu & Viswanath 2018: word vectors centred, their top 1-3 principal
directions removed) and 2 or 3 common directions removed here both lose on BBC and M10
(D = 1: 0.934 / 0.697; 2 directions: 0.944 / 0.703; stop 38): in 32 dimensions learnt on
the corpus the top directions are what tells campaigns apart, so COMPONENTS stays 1.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.sparse as sp

FILE = "word_vectors.npy"
SMOOTHING = 0.01     # SIF's a
COMPONENTS = 1       # common directions removed
_BLOCK = 65_536      # campaigns per block: N x D float32 is built in slices of this


class CampaignVectors:
    """SIF vectors of campaigns from their term counts, scikit-learn style.

    `CampaignVectors(word_vectors).fit(counts)` learns the word weights `weights_`
    (length V) and the removed directions `components_` (COMPONENTS x D) from N x V raw
    counts; `transform(counts)` gives N x D float32 rows of unit length (zero rows for
    campaigns none of whose words has a vector).
    """

    def __init__(self, word_vectors: np.ndarray, smoothing: float = SMOOTHING,
                 components: int = COMPONENTS) -> None:
        self.word_vectors = word_vectors
        self.smoothing = smoothing
        self.components = components

    def fit(self, counts: sp.spmatrix) -> CampaignVectors:
        self._fit(sp.csr_matrix(counts))
        return self

    def fit_transform(self, counts: sp.spmatrix) -> np.ndarray:
        """`fit(counts).transform(counts)`, building the campaigns' means once."""
        return self._finish(self._fit(sp.csr_matrix(counts)))

    def transform(self, counts: sp.spmatrix) -> np.ndarray:
        return self._finish(self._weighted_means(sp.csr_matrix(counts)))

    def _fit(self, counts: sp.csr_matrix) -> np.ndarray:
        """Learn the word weights and the common directions; the weighted means they
        were learnt from (N x D float32)."""
        vectors = np.asarray(self.word_vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[0] != counts.shape[1]:
            raise ValueError(f"word vectors are {vectors.shape}; the counts have "
                             f"{counts.shape[1]} words")
        frequency = np.asarray(counts.sum(axis=0), dtype=np.float64).ravel()
        share = frequency / max(frequency.sum(), 1.0)
        self.weights_ = (self.smoothing / (self.smoothing + share)).astype(np.float32)
        self.components_ = np.zeros((0, vectors.shape[1]), dtype=np.float32)
        mean = self._weighted_means(counts)
        if self.components and mean.shape[0] > self.components:
            # the top right singular vectors of the N x D means, from their D x D Gram
            # matrix: exact, and no N x D copy
            gram = mean.T.astype(np.float64) @ mean.astype(np.float64)
            _, eigenvectors = np.linalg.eigh(gram)
            self.components_ = eigenvectors[:, ::-1][:, :self.components].T.astype(np.float32)
        return mean

    def _finish(self, out: np.ndarray) -> np.ndarray:
        """Weighted means without the common directions, L2-normalised, in place."""
        if self.components_.shape[0]:
            out -= (out @ self.components_.T) @ self.components_
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        np.divide(out, norms, out=out, where=norms > 0)
        return out

    def _weighted_means(self, counts: sp.csr_matrix) -> np.ndarray:
        """Per campaign: sum of count * weight * word vector over its words, divided by
        its number of counted words (float32, built in blocks of campaigns)."""
        vectors = np.asarray(self.word_vectors, dtype=np.float32)
        out = np.empty((counts.shape[0], vectors.shape[1]), dtype=np.float32)
        scale = sp.diags(self.weights_)
        for start in range(0, counts.shape[0], _BLOCK):
            block = sp.csr_matrix(counts[start:start + _BLOCK], dtype=np.float32)
            totals = np.asarray(block.sum(axis=1)).ravel()
            means = np.asarray((block @ scale) @ vectors)
            np.divide(means, totals[:, None], out=means, where=totals[:, None] > 0)
            out[start:start + block.shape[0]] = means
        return out


def save(vectors: np.ndarray, folder: str | Path) -> Path:
    """Write `word_vectors.npy` (V x D float32, no pickles)."""
    path = Path(folder) / FILE
    np.save(path, np.asarray(vectors, dtype=np.float32), allow_pickle=False)
    return path


def load(folder: str | Path) -> np.ndarray | None:
    """The saved word vectors, or None when the folder has none (older models, or
    `TextConfig(word_vectors=False)`)."""
    path = Path(folder) / FILE
    return np.load(path, allow_pickle=False) if path.exists() else None
