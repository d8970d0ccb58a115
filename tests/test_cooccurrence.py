"""Vectorised sliding-window counts (core/model/cooccurrence.py) against gensim's own
`WordOccurrenceAccumulator` and `CoherenceModel`, on real text: BBC News, the committed
demo corpus, and hand-made documents where gensim's left-edge quirk shows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from gensim.corpora import Dictionary
from gensim.models.coherencemodel import CoherenceModel
from gensim.topic_coherence.text_analysis import WordOccurrenceAccumulator

from core.model import cooccurrence, metrics
from core.model.corpus import Corpus
from core.model.engines import make_engine
from tests.conftest import DEMO_FILE, bbc_corpus

FAST = {"k": 12, "iterations": 60, "seed": 0, "workers": 1}

# Repeated words inside a window (where gensim's slide drops a word that is still
# there), a document shorter than the window, one exactly as long, an empty one, and
# tokens that are not relevant or not in the dictionary at all.
HAND_MADE = [text.split() for text in (
    "a b a c d a b e a a f b c", "c a", "", "b d b d b d",
    "unknown a unknown b a c unknown unknown c a", "f", "e e e e e e e e a e e e e e b")]


def _pairs(acc) -> np.ndarray:
    co = acc._co_occurrences
    return co if isinstance(co, np.ndarray) else co.toarray()


def _same_counts(texts, relevant_ids, dictionary, window, theirs=None
                 ) -> WordOccurrenceAccumulator:
    """Ours, after checking every count equals gensim's own accumulator's (`theirs`, or
    counted here)."""
    if theirs is None:
        theirs = WordOccurrenceAccumulator(relevant_ids, dictionary).accumulate(texts, window)
    ours = cooccurrence.accumulator(texts, relevant_ids, dictionary, window)
    assert isinstance(ours, WordOccurrenceAccumulator)
    assert ours.id2contiguous == theirs.id2contiguous
    assert ours.num_docs == theirs.num_docs
    assert ours._occurrences.dtype == theirs._occurrences.dtype == np.uint32
    np.testing.assert_array_equal(ours._occurrences, theirs._occurrences)
    np.testing.assert_array_equal(_pairs(ours), theirs._co_occurrences.toarray())
    return ours


def _naive_occurrences(texts, word, window) -> int:
    """Windows holding `word`, counted as a reader would (gensim does not)."""
    count = 0
    for text in texts:
        spans = [text] if len(text) <= window else [
            text[i:i + window] for i in range(len(text) - window + 1)]
        count += sum(word in span for span in spans)
    return count


@pytest.mark.parametrize("window", [1, 2, 3, 4, 10, 110])
def test_hand_made_counts_are_gensims_quirk_included(window, monkeypatch) -> None:
    dictionary = Dictionary(text for text in HAND_MADE if "unknown" not in text)
    relevant = {dictionary.token2id[w] for w in "abcde"}  # f is not relevant
    _same_counts(HAND_MADE, relevant, dictionary, window)
    # One document per chunk, and pair counts kept sparse: the same counts.
    monkeypatch.setattr(cooccurrence, "CHUNK_ENTRIES", 1)
    monkeypatch.setattr(cooccurrence, "DENSE_UP_TO", 0)
    ours = _same_counts(HAND_MADE, relevant, dictionary, window)
    if window == 3:  # "a b a": gensim's slide drops "a" from "b a c" though it is there
        a = ours.id2contiguous[dictionary.token2id["a"]]
        assert ours._occurrences[a] < _naive_occurrences(HAND_MADE, "a", window)


def test_nothing_to_count() -> None:
    dictionary = Dictionary([["a", "b"]])
    relevant = {dictionary.token2id["a"], dictionary.token2id["b"]}
    _same_counts([[], ["z"], []], relevant, dictionary, 10)
    with pytest.raises(ValueError, match="window_size must be at least 1, not 0"):
        cooccurrence.accumulator([["a"]], relevant, dictionary, 0)
    model = CoherenceModel(topics=[["a", "b"]], texts=[["a", "b"]], dictionary=dictionary,
                           coherence="u_mass")
    with pytest.raises(ValueError, match="not 'u_mass'"):
        cooccurrence.count_for(model)


def _check_corpus(corpus: Corpus) -> None:
    """Each topic's c_npmi and c_v through `metrics` equals gensim's own unpatched
    computation, and the counts equal those gensim's accumulator made for it."""
    top = make_engine("tomotopy", **FAST).fit(corpus).topics(10)
    for measure in cooccurrence.WINDOWED:
        gensims = CoherenceModel(topics=top, texts=corpus.tokens,
                                 dictionary=corpus.dictionary, coherence=measure, topn=10,
                                 processes=1)
        expected = [float(v) for v in gensims.get_coherence_per_topic()]
        ours = metrics.coherence_per_topic(top, corpus, measure)
        np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-12)
        theirs = gensims._accumulator
        _same_counts(corpus.tokens, theirs.relevant_ids, corpus.dictionary,
                     gensims.window_size, theirs)


def test_bbc_scores_and_counts_are_gensims() -> None:
    _check_corpus(bbc_corpus(300))


def test_demo_scores_and_counts_are_gensims() -> None:
    frame = pd.read_parquet(DEMO_FILE)
    keep = frame["campaign_id"].drop_duplicates().head(100)
    _check_corpus(Corpus.from_frame(frame[frame["campaign_id"].isin(keep)]))
