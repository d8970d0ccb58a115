"""gensim's sliding-window word counts (c_npmi, c_v), vectorised.

gensim's `WordOccurrenceAccumulator` slides the window one token at a time in Python,
in every training run's metrics, the promotion gate and every sweep. This module counts
the same windows with numpy and scipy and hands the counts to gensim in a real
`WordOccurrenceAccumulator`, so gensim still segments, confirms and aggregates: only the
counting loop is replaced. `bench/coherence.py` (stop 41, CPU s, medians of 5
interleaved runs, load 2.5-4): counting BBC News for K = 20 top words 2.615 -> 0.079 s
(c_npmi) and 1.754 -> 0.082 s (c_v); the full demo, K = 30, 4.619 -> 0.149 s and
2.840 -> 0.128 s; a demo training run's `npmi_seconds` ~5.5 -> ~0.3 (docs/benchmarks.md,
*Coherence counting*).

The counts are gensim's, quirk included, because our figures are compared with
published OCTIS / BERTopic ones that gensim computed. When gensim slides the window it
marks the token leaving at the left edge absent even if another occurrence of it is
still inside. So for a document of L tokens and window w (windows j = 0 .. max(0, L-w)),
an occurrence of word v at position p makes v present in windows
[max(0, p-w+1), q], where q is the first occurrence of v at a position >= max(0, p-w+1)
(q <= p), not in [p-w+1, p]. A document no longer than the window is one window of the
whole document (an empty one is a window holding nothing), and tokens the dictionary
does not know, or that no topic uses, are counted in no window.
Then the number of windows holding each word is a column sum, and each pair's count is
Bᵀ·B, of a sparse windows x words boolean matrix built a chunk of documents at a time.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
from gensim.models.coherencemodel import CoherenceModel
from gensim.topic_coherence.probability_estimation import unique_ids_from_segments
from gensim.topic_coherence.text_analysis import WordOccurrenceAccumulator

# The measures gensim counts over sliding windows (u_mass counts documents, already fast).
WINDOWED = ("c_npmi", "c_v")

# Documents are counted in chunks of about this many (token, window) entries, so memory
# stays bounded on 100k+ documents (each token is present in at most w windows).
CHUNK_ENTRIES = 4_000_000

# Up to this many relevant words the pair counts are a dense array (64 MB at most).
DENSE_UP_TO = 4096


def count_for(model: CoherenceModel) -> None:
    """Give a c_npmi or c_v `CoherenceModel` (built from texts) its window counts, so its
    `get_coherence_per_topic` skips gensim's counting loop and returns the same figures."""
    if model.coherence not in WINDOWED:
        raise ValueError(f"count_for counts sliding windows ({', '.join(WINDOWED)}), "
                         f"not {model.coherence!r}")
    relevant = unique_ids_from_segments(model.segment_topics())
    model._accumulator = accumulator(model.texts, relevant, model.dictionary,
                                     model.window_size)


def accumulator(texts: Sequence[Sequence[str]], relevant_ids: set[int], dictionary,
                window_size: int) -> WordOccurrenceAccumulator:
    """A gensim `WordOccurrenceAccumulator` holding exactly the counts its own
    `accumulate(texts, window_size)` would (occurrences, symmetric co-occurrences with the
    occurrences on the diagonal, number of windows), counted without its Python loop."""
    if window_size < 1:
        raise ValueError(f"window_size must be at least 1, not {window_size}")
    acc = WordOccurrenceAccumulator(relevant_ids, dictionary)
    size = acc._vocab_size
    # Tokens to contiguous ids as gensim's `_iter_texts` turns them.
    position = {w: acc.id2contiguous[acc.token2id[w]] for w in acc.relevant_words}
    occurrences = np.zeros(size, dtype=np.int64)
    co_occurrences = sp.csr_matrix((size, size), dtype=np.int64)
    windows = 0
    start = 0
    while start < len(texts):
        stop, entries = start, 0
        while stop < len(texts) and (stop == start or entries < CHUNK_ENTRIES):
            entries += len(texts[stop]) * window_size
            stop += 1
        present, count = _presence(texts[start:stop], position, size, window_size)
        occurrences += np.asarray(present.sum(axis=0)).ravel()
        co_occurrences = co_occurrences + (present.T @ present).tocsr()
        windows += count
        start = stop
    acc._occurrences = occurrences.astype(np.uint32)
    co_occurrences = co_occurrences.astype(np.uint32)
    # gensim looks each pair up one at a time (`_co_occurrences[i, j]`): a dense array
    # answers the same uint32 several times faster than a sparse matrix.
    acc._co_occurrences = (co_occurrences.toarray() if size <= DENSE_UP_TO
                           else co_occurrences.tocsr())
    acc._num_docs = windows
    return acc


def _presence(texts: Sequence[Sequence[str]], position: dict[str, int], size: int,
              window_size: int) -> tuple[sp.csr_matrix, int]:
    """(windows x relevant words 0/1 matrix of these documents, number of windows)."""
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    per_doc = np.maximum(1, lengths - window_size + 1)  # a short document is one window
    first_window = np.concatenate(([0], np.cumsum(per_doc)[:-1]))
    total = int(per_doc.sum())
    words = np.fromiter(map(position.get, itertools.chain.from_iterable(texts),
                            itertools.repeat(-1)), dtype=np.int64, count=int(lengths.sum()))
    doc = np.repeat(np.arange(len(texts)), lengths)
    pos = np.arange(len(words)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    keep = words >= 0
    words, doc, pos = words[keep], doc[keep], pos[keep]
    if not len(words):
        return sp.csr_matrix((total, size), dtype=np.int64), total
    # Occurrences grouped by (document, word), in position order.
    order = np.lexsort((pos, words, doc))
    words, doc, pos = words[order], doc[order], pos[order]
    group = np.concatenate(([0], np.cumsum((np.diff(doc) != 0) | (np.diff(words) != 0))))
    added = np.maximum(0, pos - window_size + 1)
    # First occurrence of the same word in the same document at or after `added`: the
    # window where gensim's slide takes the word away again (keys sort by group, then pos).
    span = int(lengths.max()) + 1
    keys = group * span + pos
    until = pos[np.searchsorted(keys, group * span + added)]
    until = np.minimum(until, per_doc[doc] - 1)
    # Union of a word's intervals in a document: `until` never decreases within a group,
    # so each interval starts after the previous one's end.
    begin = added.copy()
    same = np.concatenate(([False], group[1:] == group[:-1]))
    begin[same] = np.maximum(added[same], until[:-1][same[1:]] + 1)
    length = np.maximum(0, until - begin + 1)
    rows = np.repeat(first_window[doc] + begin - np.cumsum(length) + length, length)
    rows += np.arange(len(rows))
    cols = np.repeat(words, length)
    present = sp.csr_matrix((np.ones(len(rows), dtype=np.int64), (rows, cols)),
                            shape=(total, size))
    return present, total
