"""The ten words each topic shows (core.model.shown_words): picked for coherence from its
most probable, on real tomotopy training over the first 1,200 BBC News documents."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.sparse as sp

from core.errors import InputError
from core.model import shown_words
from core.model.corpus import Corpus
from core.model.engines import Engine, bow_matrix, check_param, make_engine
from core.model.metrics import coherence, topic_diversity
from tests.conftest import bbc_corpus


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    return bbc_corpus(1200)


@pytest.fixture(scope="module")
def coherent(corpus):
    return make_engine("tomotopy", k=8, seed=1, iterations=300).fit(corpus)


@pytest.fixture(scope="module")
def probable(corpus):
    return make_engine("tomotopy", k=8, seed=1, iterations=300,
                       shown_words="probable").fit(corpus)


def test_the_same_topics_show_more_coherent_words(corpus, coherent, probable):
    np.testing.assert_array_equal(coherent.topic_term_, probable.topic_term_)
    np.testing.assert_array_equal(coherent.transform(corpus.bow[:50]),
                                  probable.transform(corpus.bow[:50]))
    picked, most = coherent.topics(10), probable.topics(10)
    assert picked != most
    assert coherence(picked, corpus) > coherence(most, corpus) + 0.02
    assert topic_diversity(picked) >= topic_diversity(most)


def test_shown_words_come_from_the_candidates_in_probability_order(coherent):
    phi = coherent.topic_term_
    for t in range(coherent.k):
        ids = coherent.top_word_ids(t, 10)
        order = np.argsort(-phi[t], kind="stable")
        assert ids[0] == order[0]                       # the most probable always shows
        assert set(ids) <= set(order[:shown_words.CANDIDATES])
        assert len(set(ids)) == 10 and (np.diff(phi[t, ids]) <= 0).all()
        # fewer: the most probable of the picked; more: the most probable others after
        np.testing.assert_array_equal(coherent.top_word_ids(t, 4), ids[:4])
        longer = coherent.top_word_ids(t, 15)
        assert set(ids) < set(longer) and (np.diff(phi[t, longer]) <= 0).all()
        assert set(longer) - set(ids) <= set(order[:25])


def test_too_few_campaigns_show_the_most_probable_and_say_why(corpus):
    """Word pairs counted on a few hundred campaigns pick words no better than the most
    probable on other campaigns (docs/benchmarks.md, stop 52)."""
    few = corpus.subset(range(shown_words.MIN_CAMPAIGNS - 1))
    engine = make_engine("tomotopy", k=5, seed=1, iterations=60).fit(few)
    assert engine.shown_words == "coherent" and not engine.words_picked
    assert engine.fit_info_["shown_words"] == (
        f"its most probable words: {shown_words.MIN_CAMPAIGNS - 1:,} training campaigns are "
        f"too few to pick the words most used together ({shown_words.MIN_CAMPAIGNS:,} needed)")
    for t in range(5):
        np.testing.assert_array_equal(engine.top_word_ids(t, 10),
                                      np.argsort(-engine.topic_term_[t], kind="stable")[:10])
    enough = make_engine("tomotopy", k=5, seed=1, iterations=60).fit(
        corpus.subset(range(shown_words.MIN_CAMPAIGNS)))
    assert enough.words_picked and "shown_words" not in enough.fit_info_


def test_probable_is_the_most_probable(probable):
    for t in range(probable.k):
        np.testing.assert_array_equal(probable.top_word_ids(t, 10),
                                      np.argsort(-probable.topic_term_[t], kind="stable")[:10])


def test_a_word_of_other_campaigns_and_a_stray_pair_give_way():
    """Planted: topic 0 is words 0-9 (0-4 used together in 40% of the campaigns, 5-9
    scattered) and ranks word 20 sixth, a word of the other campaigns; a pair (10, 11) seen
    together in one campaign only must not win either."""
    vocabulary = 30
    phi = np.full((3, vocabulary), 1e-4)
    phi[0, :10] = np.linspace(0.2, 0.1, 10)
    phi[0, 10:12] = 0.05
    phi[:, 20] = 0.15
    phi[1, 21:25] = phi[2, 25:29] = 0.2
    phi[0, 12:20] = 0.04
    rows = []
    rng = np.random.default_rng(0)
    for _ in range(200):
        row = np.zeros(vocabulary)
        group = rng.random() < 0.4
        row[:5] = group & (rng.random(5) < 0.9)   # used together
        row[20] = not group
        row[5:10] = rng.random(5) < 0.1           # scattered
        row[12:20] = rng.random(8) < 0.5
        rows.append(row)
    rows[0][10:12] = 1
    phi /= phi.sum(axis=1, keepdims=True)
    assert 20 in np.argsort(-phi[0], kind="stable")[:10]
    picked = shown_words.pick(phi, sp.csr_matrix(rows))
    assert set(range(5)) <= set(picked[0])
    assert 20 not in picked[0] and not {10, 11} & set(picked[0])


def test_pairs_of_words_no_campaign_holds_are_not_coherent():
    present = sp.csc_matrix(np.array([[1, 1, 0], [1, 1, 0], [0, 1, 0]], dtype=float))
    value = shown_words.npmi(present)
    assert np.isfinite(value).all() and (np.abs(value) <= 1).all()
    assert value[0, 2] == value[1, 2] == -1.0 and value[0, 1] > 0


def test_saved_with_the_model_and_old_models_show_the_most_probable(corpus, coherent, tmp_path):
    coherent.save(tmp_path / "now")
    loaded = Engine.load(tmp_path / "now")
    assert loaded.shown_words == "coherent" and loaded.topics(10) == coherent.topics(10)
    assert loaded.words_picked
    coherent.save(tmp_path / "old")  # as saved before stop 52: no picked words, no param
    (tmp_path / "old" / "shown_words.npy").unlink()
    meta = json.loads((tmp_path / "old" / "engine.json").read_text("utf-8"))
    del meta["params"]["shown_words"]
    (tmp_path / "old" / "engine.json").write_text(json.dumps(meta), "utf-8")
    old = Engine.load(tmp_path / "old")
    assert old.shown_words == "probable"
    assert old.topics(10) == [[coherent.vocabulary_[i] for i in
                               np.argsort(-coherent.topic_term_[t], kind="stable")[:10]]
                              for t in range(coherent.k)]


def test_every_engine_takes_the_setting_and_refuses_an_unknown_one():
    for name in ("tomotopy", "gensim", "btm", "spark"):
        assert make_engine(name, k=3, shown_words="probable").shown_words == "probable"
        with pytest.raises(InputError, match=r"shown_words must be one of.*'coherent'"):
            check_param(name, "shown_words", "nicest")


def test_picked_on_the_counts_it_is_given(corpus, coherent):
    """The same topics, picked on another sample of campaigns, can differ: the counts
    passed are what the pick reads (Spark passes its local sample)."""
    full = shown_words.pick(coherent.topic_term_, bow_matrix(corpus.bow, len(corpus.vocabulary)))
    np.testing.assert_array_equal(full, coherent.shown_words_)
    half = shown_words.pick(coherent.topic_term_,
                            bow_matrix(corpus.bow[:100], len(corpus.vocabulary)))
    assert half.shape == full.shape and (half != full).any()
