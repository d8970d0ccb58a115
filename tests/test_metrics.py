"""Metrics on hand-made cases whose answer is known, and on a real small model."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from core.model.corpus import Corpus
from core.model.engines import make_engine
from core.model.metrics import (
    align_vocabularies,
    coherence,
    coherence_per_topic,
    evaluate,
    js_distance_matrix,
    perplexity,
    stability,
    topic_alignment,
    topic_diversity,
)
from core.model.text import TextConfig
from tests.conftest import bbc_corpus

PRETOKENIZED = TextConfig(pretokenized=True, no_below=1, no_above=1.0)


@pytest.fixture(scope="module")
def bbc() -> Corpus:
    return bbc_corpus(300)


@pytest.fixture(scope="module")
def toy() -> Corpus:
    """Fruit words always appear together, animal words together, never fruit with animal."""
    texts = ["apple banana cherry", "dog cat mouse", "apple cherry banana", "mouse dog cat",
             "sun rain wind", "banana apple cherry", "cat dog mouse", "wind sun rain"] * 3
    return Corpus.from_texts(texts, config=PRETOKENIZED)


def test_topic_diversity_hand_cases():
    assert topic_diversity([["a", "b"], ["c", "d"]]) == 1.0
    assert topic_diversity([["a", "b"], ["b", "c"]]) == 0.75
    assert topic_diversity([["a", "b"], ["a", "b"], ["a", "b"]]) == pytest.approx(1 / 3)
    # only the top 10 of each topic count
    long = [[f"w{i}" for i in range(20)], [f"w{i}" for i in range(10, 30)]]
    assert topic_diversity(long) == 1.0
    assert topic_diversity(long, topn=15) == pytest.approx(25 / 30)


def test_npmi_positive_when_words_co_occur_negative_when_they_never_do(toy):
    together = [["apple", "banana", "cherry"], ["dog", "cat", "mouse"]]
    apart = [["apple", "dog", "sun"], ["banana", "cat", "wind"]]
    assert coherence(together, toy, "c_npmi") > 0.5
    assert coherence(apart, toy, "c_npmi") < -0.5
    per_topic = coherence_per_topic([together[0], apart[0]], toy, "c_npmi")
    assert per_topic[0] > 0 > per_topic[1]
    assert coherence(together, toy, "u_mass") > coherence(apart, toy, "u_mass")
    assert coherence(together, toy, "c_v") > coherence(apart, toy, "c_v")
    with pytest.raises(ValueError, match="measure"):
        coherence(together, toy, "c_uci_typo")


def test_top_words_the_reference_lacks_are_left_out_not_inf(toy):
    """A Spark model's vocabulary spans every campaign, its metrics' reference only a
    sample's training part: a top word the reference never holds made NPMI inf and c_v
    NaN, and the model "could not serve". Such words are left out, as the gate does."""
    no_weather = toy.subset([i for i, doc in enumerate(toy.tokens) if "sun" not in doc])
    topics = [["apple", "banana", "cherry", "sun"], ["dog", "cat", "mouse", "rain"],
              ["sun", "wind", "rain"]]
    for measure in ("c_npmi", "c_v", "u_mass"):
        per_topic = coherence_per_topic(topics, no_weather, measure)
        assert np.isfinite(per_topic[:2]).all() and np.isnan(per_topic[2]), per_topic
        assert per_topic[:2] == pytest.approx(coherence_per_topic(
            [["apple", "banana", "cherry"], ["dog", "cat", "mouse"]], no_weather, measure))
        assert coherence(topics, no_weather, measure) == pytest.approx(np.mean(per_topic[:2]))
    assert coherence(topics, no_weather, "c_npmi") > 0.5
    assert np.isnan(coherence([["sun", "rain"]], no_weather))


def test_stability_identical_runs_and_different_runs():
    run = [["a", "b", "c"], ["d", "e", "f"]]
    assert stability([run, copy.deepcopy(run), run[::-1]]) == 1.0
    shifted = [["a", "b", "x"], ["d", "e", "f"]]
    value = stability([run, shifted])
    # a->a,b,x: 2/4, d->d: 1 => mean best match 0.75 both ways
    assert value == pytest.approx(0.75)
    assert stability([run, [["p", "q", "r"], ["s", "t", "u"]]]) == 0.0
    with pytest.raises(ValueError, match="at least two runs"):
        stability([run])


def test_alignment_recovers_a_permutation():
    rng = np.random.default_rng(1)
    topics = rng.dirichlet(np.full(200, 0.05), size=8)
    order = rng.permutation(8)
    js, best = topic_alignment(topics, topics[order])
    assert js.shape == (8, 8)
    assert (topics[order][best] == topics).all()  # a's topic i is b's topic best[i]
    np.testing.assert_allclose(np.diag(js[:, best]), 0.0, atol=1e-7)
    assert js.min() >= 0 and js.max() <= 1
    assert js_distance_matrix(np.eye(2), np.eye(2))[0, 1] == pytest.approx(1.0)


def test_align_vocabularies_matches_words_across_models():
    rng = np.random.default_rng(2)
    vocab_a = [f"w{i}" for i in range(50)]
    topics = rng.dirichlet(np.full(50, 0.1), size=4)
    shuffle = rng.permutation(50)
    vocab_b = [vocab_a[i] for i in shuffle] + ["extra"]
    topics_b = np.hstack([topics[:, shuffle], np.zeros((4, 1))])
    a, b, union = align_vocabularies(topics, vocab_a, topics_b, vocab_b)
    assert union[:50] == vocab_a and union[50] == "extra"
    np.testing.assert_allclose(a, b)
    _js, best = topic_alignment(a, b)
    assert list(best) == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="align_vocabularies"):
        topic_alignment(topics, topics_b)


def test_perplexity_and_evaluate_on_a_real_model(bbc):
    train, heldout = bbc.split(test_share=0.2, seed=0)
    engine = make_engine("tomotopy", k=5, iterations=300, seed=1).fit(train)
    value = perplexity(engine, heldout)
    vocab_size = len(bbc.dictionary)
    assert 1 < value < vocab_size
    uniform = copy.copy(engine)
    uniform.topic_term_ = np.full_like(engine.topic_term_, 1 / vocab_size)
    assert perplexity(uniform, heldout) == pytest.approx(vocab_size)

    result = evaluate(engine, train, heldout)
    assert result["k"] == 5 and result["documents"] == len(train)
    assert -1 <= result["npmi"] <= 1 and 0 <= result["c_v"] <= 1 and result["u_mass"] <= 0
    assert result["diversity"] == topic_diversity(engine.topics(10))
    assert result["perplexity"] == pytest.approx(value)
    # A trained model on real news beats random word lists from the same vocabulary.
    rng = np.random.default_rng(0)
    random_topics = [list(rng.choice(train.vocabulary, 10, replace=False)) for _ in range(5)]
    assert result["npmi"] > coherence(random_topics, train) + 0.05
    for key in ("npmi_seconds", "c_v_seconds", "u_mass_seconds", "perplexity_seconds"):
        assert result[key] >= 0
    assert evaluate(engine, train)["perplexity"] is None
