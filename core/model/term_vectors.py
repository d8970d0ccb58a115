"""Word similarity learned from the corpus itself, for soft term matching in neighbours.

The term half of the neighbour score (`core.model.neighbors`) is a cosine of TF-IDF rows, so
on its own it only matches identical words: "emergency plumber" and "24 hour plumber"
share "plumber" and nothing else. Here word2vec (gensim, CBOW) is trained on the
model's own training documents — one sentence per campaign, nothing downloaded — and
each vocabulary word keeps its `TOPN` most similar words whose cosine is at least
`THRESHOLD`. The result is a sparse V x V matrix `S` (no diagonal) saved with the
encoder (`word_similarity.npz`), and the neighbour index matches campaigns on
`normalize(r + BETA * r S)` instead of the TF-IDF row `r`, for stored campaigns and
pasted keywords alike.

Settings chosen by `bench/neighbors.py`-style runs on OCTIS M10 (precision@10 of
same-label neighbours, tomotopy defaults, term weight 0.6; exact terms 0.663): skip-gram
window 10, 20 epochs 0.688 (top 10 words at cosine >= 0.5, expansion weight 1.0),
0.681 with weight 0.3, 0.672 at cosine >= 0.7, 0.685 at cosine >= 0.4 and weight 0.5;
CBOW with the same settings 0.688 (top 5 words: 0.683) in a fraction of the time, so
CBOW it is. BM25 weighting instead of TF-IDF did not help (0.655), nor did word
similarity taken from the topic-word matrix (0.667) or a dense averaged-vector score
(0.671). On the other corpora (CBOW, term weight 0.6, one run, exact terms first):
BBC 0.943 -> 0.943 (cosine >= 0.5, weight 0.3), 0.937 (>= 0.7, weight 1.0); demo
0.987 -> 0.968 (>= 0.5, weight 1.0), 0.973 (>= 0.5, 0.3), 0.978 (>= 0.7, 0.3) —
probably because the demo's verticals share modifiers ("near me", "cheap"), so word2vec
makes their head words similar and blurs them. Hence `TextConfig.soft_terms` is off by default and
worth turning on for short titles. (Those figures are 100-dimensional vectors, 20 epochs,
before campaign vectors.) The same word vectors now also make campaign vectors
(`core.model.campaign_vectors`, on by default), which chose 32 dimensions and fewer
epochs for larger corpora (`epochs_for`). Trained on one worker with a fixed seed, so the
same corpus gives the same vectors. Corpora larger than `MAX_TOKENS` train on a fixed
random sample of campaigns.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from core.model import npz

FILE = "word_similarity.npz"
DIMENSIONS = 32  # 100 gave the same precision (campaign_vectors); 32 keep queries fast
WINDOW = 10
# Passes over the words: small corpora need more (M10, 49,000 words: campaign-vector
# precision 0.706 at 20 epochs, 0.692 at 10); from a few hundred thousand words 10 are as
# good in half the time (BBC, 267,000 words: 0.948 against 0.946; demo, 459,000: 0.990
# both). So about EPOCH_WORDS word passes, within MIN_EPOCHS..EPOCHS.
EPOCHS = 20
MIN_EPOCHS = 10
EPOCH_WORDS = 2_500_000
SKIP_GRAM = False  # CBOW: as good here as skip-gram, several times faster
TOPN = 10
THRESHOLD = 0.5
BETA = 1.0
MAX_TOKENS = 1_000_000  # word2vec cost grows with tokens; beyond this a sample suffices
_BLOCK = 2048


def word_vectors(tokens: Sequence[Sequence[str]], vocabulary: Sequence[str],
                 seed: int = 0) -> np.ndarray:
    """V x DIMENSIONS word2vec vectors (row i = `vocabulary[i]`; zeros for a word word2vec
    never saw) trained on the documents, vocabulary words only."""
    from gensim.models import Word2Vec

    known = set(vocabulary)
    sentences = [[t for t in doc if t in known] for doc in tokens]
    sentences = [s for s in sentences if len(s) > 1]
    total = sum(map(len, sentences))
    if total > MAX_TOKENS:
        order = np.random.default_rng(seed).permutation(len(sentences))
        kept, count = [], 0
        for i in order:
            if count >= MAX_TOKENS:
                break
            kept.append(sentences[i])
            count += len(sentences[i])
        sentences = kept
    out = np.zeros((len(vocabulary), DIMENSIONS), dtype=np.float32)
    if not sentences:
        return out
    epochs = epochs_for(min(total, MAX_TOKENS))
    model = Word2Vec(sentences, vector_size=DIMENSIONS, window=WINDOW, min_count=1,
                     sg=int(SKIP_GRAM), epochs=epochs, seed=seed, workers=1)
    for i, word in enumerate(vocabulary):
        if word in model.wv.key_to_index:
            out[i] = model.wv[word]
    return out


def epochs_for(words: int) -> int:
    """word2vec epochs for a corpus of this many (vocabulary) words."""
    return int(min(EPOCHS, max(MIN_EPOCHS, -(-EPOCH_WORDS // max(words, 1)))))


def similar_words(vectors: np.ndarray, topn: int = TOPN,
                  threshold: float = THRESHOLD) -> sp.csr_matrix:
    """Sparse V x V matrix: for each word, its `topn` nearest words by cosine, kept when
    the cosine is at least `threshold` (float32, no diagonal). Exact, in row blocks."""
    v = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    v = np.divide(v, norms, out=np.zeros_like(v), where=norms > 0)
    n = v.shape[0]
    m = min(topn, n - 1)
    if m <= 0:
        return sp.csr_matrix((n, n), dtype=np.float32)
    rows, cols, vals = [], [], []
    for start in range(0, n, _BLOCK):
        stop = min(n, start + _BLOCK)
        sims = v[start:stop] @ v.T
        sims[np.arange(stop - start), np.arange(start, stop)] = -1.0
        idx = np.argpartition(-sims, m - 1, axis=1)[:, :m]
        best = np.take_along_axis(sims, idx, axis=1)
        keep = best >= threshold
        rows.append(np.repeat(np.arange(start, stop), m)[keep.ravel()])
        cols.append(idx[keep])
        vals.append(best[keep])
    matrix = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                           shape=(n, n), dtype=np.float32)
    matrix.sort_indices()
    return matrix


def learn_for(tokens: Sequence[Sequence[str]], vocabulary: Sequence[str], soft_terms: bool,
              keep_vectors: bool) -> tuple[sp.csr_matrix | None, np.ndarray | None]:
    """(word similarity if `soft_terms`, word vectors if `keep_vectors`): what a model's
    text settings ask to learn of its words, with word2vec trained once for both."""
    if not (soft_terms or keep_vectors):
        return None, None
    vectors = word_vectors(tokens, vocabulary)
    return (similar_words(vectors) if soft_terms else None,
            vectors if keep_vectors else None)


def expand(rows: sp.spmatrix, similarity: sp.spmatrix | None, beta: float = BETA
           ) -> sp.csr_matrix:
    """L2-normalised `rows + beta * rows @ similarity` (rows unchanged, only normalised,
    without a similarity matrix): a word now also counts for its similar words."""
    from sklearn.preprocessing import normalize

    rows = sp.csr_matrix(rows, dtype=np.float32)
    if similarity is not None and similarity.nnz and beta:
        rows = rows + np.float32(beta) * (rows @ similarity)
    return normalize(rows).astype(np.float32).tocsr()


def save(matrix: sp.csr_matrix, folder: str | Path) -> Path:
    """Write `word_similarity.npz` (plain arrays, no pickles)."""
    path = Path(folder) / FILE
    m = sp.csr_matrix(matrix, dtype=np.float32)
    np.savez(path, indptr=m.indptr.astype(np.int64), indices=m.indices.astype(np.int32),
             data=m.data, shape=np.asarray(m.shape, dtype=np.int64))
    return path


def load(folder: str | Path) -> sp.csr_matrix | None:
    """The saved matrix, or None when the folder has none (soft terms off, older models)."""
    path = Path(folder) / FILE
    if not path.exists():
        return None
    with npz.arrays(path) as z:
        return sp.csr_matrix((z["data"], z["indices"], z["indptr"]),
                             shape=tuple(int(n) for n in z["shape"]))
