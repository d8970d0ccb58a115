"""The diversity step (core/model/diversity.py): real tomotopy training on 1,500 M10 titles."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from core.model import diversity
from core.model.corpus import Corpus
from core.model.engines import Engine, bow_matrix, make_engine
from core.model.metrics import coherence, topic_diversity
from tests.conftest import m10_titles

# Training settings small enough for seconds; the same seed and one worker make the two
# fits below identical up to the diversity step (tomotopy is deterministic then).
FAST = {"k": 20, "iterations": 200, "seed": 0, "workers": 1}
# Allowed drop of the mean c_npmi (gensim, training texts as reference): the step's own
# guard is on document co-occurrence NPMI, which on ~6-word titles is nearly the same.
NPMI_MARGIN = 0.005


@pytest.fixture(scope="module")
def titles() -> Corpus:
    return m10_titles()


@pytest.fixture(scope="module")
def pair(titles: Corpus) -> tuple[Engine, Engine]:
    plain = make_engine("tomotopy", **FAST).fit(titles)
    diverse = make_engine("tomotopy", diversify=True, **FAST).fit(titles)
    return plain, diverse


def test_step_raises_diversity_without_losing_coherence(titles, pair) -> None:
    plain, diverse = pair
    moves = diverse.fit_info_["diversity_moves"]
    assert moves, "the plain model repeats top words here, so at least one move is expected"
    before, after = plain.topics(10), diverse.topics(10)
    assert topic_diversity(after) > topic_diversity(before)
    assert coherence(after, titles) >= coherence(before, titles) - NPMI_MARGIN
    # K stays what was asked, rows stay distributions, and the fold-in still works
    assert diverse.topic_term_.shape == plain.topic_term_.shape
    np.testing.assert_allclose(diverse.topic_term_.sum(axis=1), 1.0)
    theta = diverse.transform(titles.bow[:50])
    np.testing.assert_allclose(theta.sum(axis=1), 1.0)


def test_moves_follow_the_guard(pair) -> None:
    """Each move merged a pair sharing top words, re-split a third topic and was a Pareto
    improvement (diversity and document NPMI: neither fell, one rose); the topics no
    move touched are the plain model's."""
    plain, diverse = pair
    moves = diverse.fit_info_["diversity_moves"]
    touched = set()
    for move in moves:
        i, j = move["merged"]
        assert move["split"] not in (i, j)
        assert move["diversity_after"] >= move["diversity_before"]
        assert move["npmi_after"] >= move["npmi_before"]
        assert (move["diversity_after"] > move["diversity_before"]
                or move["npmi_after"] > move["npmi_before"])
        touched |= {i, j, move["split"]}
    for t in set(range(plain.k)) - touched:
        np.testing.assert_allclose(diverse.topic_term_[t], plain.topic_term_[t])
    # diversity figures chain from one move to the next
    for first, second in itertools.pairwise(moves):
        assert second["diversity_before"] == first["diversity_after"]


def test_merge_sums_the_pair_and_split_separates_a_topic(titles, pair) -> None:
    """One move by hand: the merged topic is the pair's summed expected counts; the two
    re-split halves of a topic share fewer top words than the merged pair did."""
    plain, _ = pair
    counts = bow_matrix(titles.bow, len(titles.dictionary))
    params = {"term_weight": plain.term_weight, "alpha": plain.alpha, "eta": plain.eta}
    phi, moves = diversity.diversify(plain.topic_term_, plain.alpha_, counts,
                                     plain.term_weights_, params, seed=0, max_rounds=1)
    assert len(moves) == 1
    i, j = moves[0]["merged"]
    entries, share = diversity._responsibilities(plain.topic_term_, plain.alpha_,
                                                 counts, plain.term_weights_)
    summed = sum(np.bincount(entries.col, weights=entries.data * share[:, t],
                             minlength=counts.shape[1]) for t in (i, j)) + plain.eta
    np.testing.assert_allclose(phi[i], summed / summed.sum())
    top = diversity.top_word_ids(phi)
    before = diversity.top_word_ids(plain.topic_term_)
    shared_pair = len(set(before[i]) & set(before[j]))
    assert shared_pair >= diversity.MIN_OVERLAP
    b = moves[0]["split"]
    assert len(set(top[j]) & set(top[b])) < diversity.TOPN // 2


def test_saved_model_keeps_the_setting(tmp_path, pair) -> None:
    _, diverse = pair
    loaded = Engine.load(diverse.save(tmp_path / "m"))
    assert loaded.diversify is True
    np.testing.assert_allclose(loaded.topic_term_, diverse.topic_term_)
    assert loaded.fit_info_["diversity_moves"] == diverse.fit_info_["diversity_moves"]


def test_cli_flag_reaches_the_engine_params() -> None:
    from core import cli

    parser = cli.build_parser()
    on = cli._spec(parser.parse_args(["train", "--dataset", "d", "--diversify"]))
    off = cli._spec(parser.parse_args(["sweep", "--dataset", "d", "--ks", "5", "10"]))
    assert on.params["diversify"] is True and "diversify" not in off.params
