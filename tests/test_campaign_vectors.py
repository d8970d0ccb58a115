"""Campaign vectors (SIF over word2vec learnt on the corpus): the arithmetic against a
direct reference, and end to end through training, saving, loading and pasted keywords."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import scipy.sparse as sp

from core.errors import InputError
from core.model import campaign_vectors
from core.model.campaign_model import CampaignModel
from core.model.campaign_vectors import CampaignVectors
from core.model.corpus import Corpus
from core.model.engines import bow_matrix
from core.model.neighbors import NeighborIndex
from core.model.term_vectors import DIMENSIONS
from tests.test_term_vectors import _CONFIG, _frame

_TEXT = replace(_CONFIG, soft_terms=False)  # word vectors are on by default


def _random(n: int = 300, v: int = 60, d: int = 16, seed: int = 0):
    rng = np.random.default_rng(seed)
    counts = sp.random(n, v, density=0.08, random_state=seed, format="csr",
                       data_rvs=lambda size: rng.integers(1, 4, size)).astype(np.float64)
    return counts, rng.standard_normal((v, d)).astype(np.float32)


def test_vectors_match_sif_written_out_with_scikit_learn() -> None:
    from sklearn.decomposition import TruncatedSVD
    from sklearn.preprocessing import normalize

    counts, words = _random()
    a = campaign_vectors.SMOOTHING
    share = np.asarray(counts.sum(axis=0)).ravel() / counts.sum()
    means = normalize(counts, norm="l1") @ sp.diags(a / (a + share)) @ words
    direction = TruncatedSVD(1, algorithm="arpack").fit(means).components_
    expected = normalize(means - (means @ direction.T) @ direction)

    model = CampaignVectors(words).fit(counts)
    got = model.transform(counts)
    assert got.dtype == np.float32 and got.shape == (300, 16)
    np.testing.assert_allclose(got, expected, atol=2e-4)
    # the removed direction is gone from every row
    assert np.abs(got @ model.components_.T).max() < 1e-5
    # a frequent word weighs less than a rare one
    freq = np.asarray(counts.sum(axis=0)).ravel()
    assert model.weights_[freq.argmax()] < model.weights_[freq.argmin()]


def test_rows_are_unit_length_or_zero_and_shapes_are_checked() -> None:
    counts, words = _random()
    words[:5] = 0  # words word2vec never saw
    counts = sp.vstack([counts, sp.csr_matrix(([1.0, 2.0], ([0, 0], [0, 3])), shape=(1, 60)),
                        sp.csr_matrix((1, 60))]).tocsr()
    rows = CampaignVectors(words).fit(counts).transform(counts)
    norms = np.linalg.norm(rows, axis=1)
    assert np.allclose(norms[:-2][norms[:-2] > 0], 1.0, atol=1e-5)
    assert (rows[-2:] == 0).all()  # only unseen words, or no words at all
    assert np.isfinite(rows).all()
    with pytest.raises(ValueError, match="60 words"):
        CampaignVectors(words[:10]).fit(counts)
    with pytest.raises(InputError, match="word_vectors are"):
        NeighborIndex().fit(np.full((302, 2), 0.5), [f"c{i}" for i in range(302)], counts,
                            None, words[:10])


def test_campaign_vectors_link_campaigns_that_share_no_word() -> None:
    """"emergency" alone finds the "urgent" campaigns, which never use the word, when only
    vectors rank (identical fingerprints, no term part)."""
    corpus = Corpus.from_frame(_frame(), _TEXT)
    assert corpus.encoder.word_vectors is not None
    assert corpus.encoder.word_vectors.shape[0] == len(corpus.dictionary)
    counts = bow_matrix(corpus.bow, len(corpus.dictionary))
    flat = np.full((len(corpus), 2), 0.5)
    index = NeighborIndex(term_weight=0, vector_weight=1).fit(
        flat, corpus.campaign_ids, counts, None, corpus.encoder.word_vectors)
    assert index.weights_ == (0.0, 0.0, 1.0)
    query = np.zeros((1, len(corpus.dictionary)))
    query[0, corpus.dictionary.token2id["emergency"]] = 1
    own = [c for c in corpus.campaign_ids if c.startswith("emergency")]
    found = index.query(flat[0], 10, terms=query, exclude=own)
    assert [n.campaign_id.split("-")[0] for n in found] == ["urgent"] * 10
    assert all(0 < n.vector_similarity <= 1 and n.term_similarity is None for n in found)
    # deterministic: the same corpus learns the same vectors
    again = Corpus.from_frame(_frame(), _TEXT).encoder.word_vectors
    assert np.array_equal(again, corpus.encoder.word_vectors)


def test_weights_of_missing_parts_go_to_the_others_in_proportion() -> None:
    counts, words = _random()
    fps = np.random.default_rng(1).dirichlet(np.ones(5), 300)
    ids = [f"c{i}" for i in range(300)]
    assert NeighborIndex().fit(fps, ids, counts, None, words).weights_ == pytest.approx(
        (0.2, 0.4, 0.4))
    assert NeighborIndex().fit(fps, ids, counts).weights_ == pytest.approx((1 / 3, 2 / 3, 0))
    assert NeighborIndex().fit(fps, ids).weights_ == (1.0, 0.0, 0.0)
    assert NeighborIndex(term_weight=0.6, vector_weight=0).fit(
        fps, ids, counts, None, words).weights_ == pytest.approx((0.4, 0.6, 0.0))
    with pytest.raises(InputError, match="at most 1"):
        NeighborIndex(term_weight=0.7, vector_weight=0.4).fit(fps, ids, counts)


def test_word_vectors_are_saved_with_the_model_and_used_for_pasted_keywords(tmp_path) -> None:
    model = CampaignModel(k=4, text=_TEXT, engine_params={"iterations": 60, "workers": 1})
    model.fit(_frame())
    vectors = model.encoder_.word_vectors
    assert vectors is not None and vectors.shape == (len(model.vocabulary_), DIMENSIONS)
    model.save(tmp_path / "m")
    assert (tmp_path / "m" / "encoder" / campaign_vectors.FILE).is_file()
    again = CampaignModel.load(tmp_path / "m")
    assert np.array_equal(again.encoder_.word_vectors, vectors)
    assert again.index_.vectors_ is not None
    table = again._keyword_neighbors(again.fingerprint(["urgent leak"]), 5)
    assert table["campaign_id"].str.startswith(("urgent", "emergency")).all()
    w_topic, w_term, w_vec = again.index_.weights_
    blend = (w_topic * table["topic_similarity"] + w_term * table["term_similarity"]
             + w_vec * table["vector_similarity"])
    g = again.index_.group_weight   # the pasted keywords' groups: their nearest's
    np.testing.assert_allclose(table["similarity"],
                               (1 - g) * blend + g * table["group_similarity"], atol=1e-5)

    plain = CampaignModel(k=4, text=replace(_TEXT, word_vectors=False),
                          engine_params={"iterations": 60, "workers": 1}).fit(_frame())
    assert plain.encoder_.word_vectors is None and plain.index_.vectors_ is None
    plain.save(tmp_path / "p")
    assert not (tmp_path / "p" / "encoder" / campaign_vectors.FILE).exists()
    assert CampaignModel.load(tmp_path / "p").index_.weights_ == pytest.approx((1 / 3, 2 / 3, 0))
