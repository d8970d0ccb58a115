"""Soft term similarity (word2vec on the corpus) and phrases as tokens, end to end."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.model import term_vectors
from core.model.campaign_model import CampaignModel
from core.model.corpus import Corpus
from core.model.engines import bow_matrix
from core.model.neighbors import NeighborIndex
from core.model.text import TextConfig

# Two words used in the same contexts ("emergency" / "urgent" plumbing) and two unrelated
# verticals. No campaign has both synonyms, so only learnt similarity can link them.
_CONTEXT = {
    "emergency": ["plumber", "drain", "leak", "pipe", "boiler", "repair"],
    "urgent": ["plumber", "drain", "leak", "pipe", "boiler", "repair"],
    "running": ["shoe", "trail", "sneaker", "marathon", "sock", "store"],
    "cheap": ["flight", "hotel", "holiday", "ticket", "airport", "deal"],
}


def _frame(campaigns_per_word: int = 40, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for lead, context in _CONTEXT.items():
        for c in range(campaigns_per_word):
            cid = f"{lead}-{c}"
            for word in rng.permutation(context)[:4]:
                rows.append({"campaign_id": cid, "term": f"{lead} {word}"})
            rows.append({"campaign_id": cid, "term": " ".join(rng.permutation(context)[:3])})
    return pd.DataFrame(rows)


_CONFIG = TextConfig(language="en", no_below=1, no_above=1.0, soft_terms=True)


def _corpus(soft: bool) -> Corpus:
    from dataclasses import replace

    return Corpus.from_frame(_frame(), replace(_CONFIG, soft_terms=soft))


def test_word_similarity_links_words_used_in_the_same_contexts() -> None:
    corpus = _corpus(soft=True)
    words = corpus.encoder.word_similarity
    ids = corpus.dictionary.token2id
    assert words.shape == (len(ids), len(ids))
    assert words.diagonal().sum() == 0
    assert words[ids["emergency"], ids["urgent"]] > words[ids["emergency"], ids["sneaker"]]
    assert words[ids["emergency"], ids["urgent"]] >= term_vectors.THRESHOLD
    # deterministic: the same corpus learns the same matrix
    assert (abs(_corpus(soft=True).encoder.word_similarity - words)).max() == 0
    assert _corpus(soft=False).encoder.word_similarity is None


def test_soft_terms_rank_the_synonym_campaign_above_an_unrelated_one() -> None:
    corpus = _corpus(soft=True)
    counts = bow_matrix(corpus.bow, len(corpus.dictionary))
    flat = np.full((len(corpus), 2), 0.5)  # identical fingerprints: only terms can rank
    query = np.zeros((1, len(corpus.dictionary)))
    query[0, corpus.dictionary.token2id["emergency"]] = 1  # "emergency" alone
    own = [c for c in corpus.campaign_ids if c.startswith("emergency")]
    urgent = [i for i, c in enumerate(corpus.campaign_ids) if c.startswith("urgent")]
    other = [i for i, c in enumerate(corpus.campaign_ids) if c.startswith(("running", "cheap"))]

    hard = NeighborIndex(term_weight=1.0, vector_weight=0).fit(flat, corpus.campaign_ids, counts)
    _, _, hard_terms, _ = hard.similarities(flat[0], query)
    assert hard_terms[urgent].max() == 0  # exact matching cannot see the synonym

    soft = NeighborIndex(term_weight=1.0, vector_weight=0).fit(flat, corpus.campaign_ids, counts,
                                             corpus.encoder.word_similarity)
    _, _, soft_terms, _ = soft.similarities(flat[0], query)
    assert soft_terms[urgent].min() > soft_terms[other].max()
    found = soft.query(flat[0], 5, terms=query, exclude=own)
    assert all(n.campaign_id.startswith("urgent") for n in found)


def test_word_similarity_is_saved_with_the_model_and_used_for_pasted_keywords(tmp_path
                                                                               ) -> None:
    terms = _frame()
    model = CampaignModel(k=4, text=_CONFIG, engine_params={"iterations": 60, "workers": 1})
    model.fit(terms)
    words = model.encoder_.word_similarity
    assert words is not None and words.nnz > 0
    model.save(tmp_path / "m")
    assert (tmp_path / "m" / "encoder" / term_vectors.FILE).is_file()
    again = CampaignModel.load(tmp_path / "m")
    assert abs(again.encoder_.word_similarity - words).max() == 0
    assert again.index_.words_ is not None  # the loaded index matches terms softly
    fingerprint = again.fingerprint(["urgent leak"])
    table = again._keyword_neighbors(fingerprint, 5)
    assert table["campaign_id"].str.startswith(("urgent", "emergency")).all()
    # the loaded index matches terms softly: an "emergency" campaign scores on "urgent"
    # although the two never share that word
    scores = dict(zip(table["campaign_id"], table["term_similarity"], strict=True))
    assert any(c.startswith("emergency") and s > 0 for c, s in scores.items()) or all(
        c.startswith("urgent") for c in scores)


def test_phrases_become_one_token_through_training_save_load_and_fold_in(tmp_path) -> None:
    rows = [{"campaign_id": f"hp-{c}", "term": t} for c in range(10)
            for t in ("heat pump", "heat pump installer", "air source heat pump", "boiler")]
    rows += [{"campaign_id": f"pi-{c}", "term": t} for c in range(10)
             for t in ("personal injury", "personal injury lawyer", "injury claim", "solicitor")]
    config = TextConfig(language="en", no_below=1, no_above=1.0, bigrams=True,
                        bigram_min_count=3, bigram_threshold=0.3)
    model = CampaignModel(k=2, text=config, engine_params={"iterations": 60, "workers": 1})
    model.fit(pd.DataFrame(rows))
    assert {"heat_pump", "personal_injury"} <= set(model.vocabulary_)
    model.save(tmp_path / "m")
    again = CampaignModel.load(tmp_path / "m")
    pasted = again.fingerprint(["heat pump repair", "cheap heat pump"])
    assert pasted.known_tokens.count("heat_pump") == 2
    assert "heat" not in pasted.known_tokens + pasted.unknown_tokens
    assert again.transform(pd.DataFrame(rows[:4])).shape == (1, 2)


def test_expand_without_similarity_only_normalises() -> None:
    import scipy.sparse as sp

    rows = sp.csr_matrix(np.array([[3.0, 4.0, 0.0]]))
    assert np.allclose(term_vectors.expand(rows, None).toarray(), [[0.6, 0.8, 0.0]])
    words = sp.csr_matrix(np.array([[0, 0, 1.0], [0, 0, 0], [1.0, 0, 0]], dtype=np.float32))
    out = term_vectors.expand(rows, words, beta=1.0).toarray()
    assert out[0, 2] > 0 and np.linalg.norm(out) == pytest.approx(1.0)
