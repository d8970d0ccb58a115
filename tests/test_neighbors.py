"""NeighborIndex: similarity properties, filters, and neighbour quality on real corpora."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from core.errors import InputError, NotFoundError
from core.model import neighbor_groups, term_vectors
from core.model.corpus import Corpus
from core.model.engines import bow_matrix, make_engine
from core.model.neighbor_groups import NO_GROUP, NeighborGroups, shares, sizes_for, vote
from core.model.neighbors import (
    NeighborIndex,
    hellinger_similarity,
    jensen_shannon_similarity,
    label_precision,
    neighbors_frame,
)
from core.model.text import TextConfig
from tests.conftest import shared_data


def _octis(name: str, n: int, k: int, seed: int = 0) -> dict:
    """A seeded sample of an OCTIS corpus with a small real tomotopy model."""
    frame = pd.read_csv(shared_data(f"{name}/corpus.tsv"), sep="\t", header=None,
                        names=["text", "split", "label"], quoting=3, keep_default_na=False,
                        dtype=str)
    rows = frame.iloc[np.sort(np.random.default_rng(seed).choice(len(frame), n, replace=False))]
    ids = [f"d{i}" for i in rows.index]
    corpus = Corpus.from_texts(rows["text"].tolist(), ids=ids,
                               config=TextConfig(pretokenized=True))
    engine = make_engine("tomotopy", k=k, iterations=200, seed=seed, workers=1).fit(corpus)
    return {"ids": ids, "labels": rows["label"].tolist(),
            "fingerprints": engine.transform(corpus.bow),
            "counts": bow_matrix(corpus.bow, len(corpus.dictionary)),
            "vectors": term_vectors.word_vectors(corpus.tokens, corpus.vocabulary)}


@pytest.fixture(scope="module")
def bbc() -> dict:
    return _octis("octis_bbc_news", 600, k=10)


@pytest.fixture(scope="module")
def m10() -> dict:
    return _octis("octis_m10", 1500, k=20)


# -- similarity properties ---------------------------------------------------------------
def test_hellinger_and_js_similarity_properties() -> None:
    rng = np.random.default_rng(1)
    p, q = rng.dirichlet(np.ones(8)), rng.dirichlet(np.ones(8))
    for sim in (hellinger_similarity, jensen_shannon_similarity):
        assert sim(p, p) == pytest.approx(1.0)
        assert sim(p, q) == pytest.approx(sim(q, p))
        assert 0.0 < sim(p, q) < 1.0
        assert sim([0.5, 0.5, 0, 0], [0, 0, 0.3, 0.7]) == pytest.approx(0.0, abs=1e-7)
    # Hellinger by its definition: 1 - ||sqrt p - sqrt q|| / sqrt 2
    expected = 1 - np.linalg.norm(np.sqrt(p) - np.sqrt(q)) / np.sqrt(2)
    assert hellinger_similarity(p, q) == pytest.approx(expected)


@pytest.mark.parametrize("metric", ["hellinger", "jensen_shannon"])
def test_index_topic_similarities_match_pairwise(metric: str) -> None:
    rng = np.random.default_rng(2)
    fps = rng.dirichlet(np.full(6, 0.3), size=40)
    index = NeighborIndex(metric=metric, term_weight=0).fit(fps, [f"c{i}" for i in range(40)])
    pairwise = hellinger_similarity if metric == "hellinger" else jensen_shannon_similarity
    sims = index.topic_similarities(fps[3])
    assert sims.dtype == np.float32
    assert sims[3] == pytest.approx(1.0, abs=1e-3)
    np.testing.assert_allclose(sims, [pairwise(fps[3], f) for f in fps], atol=2e-3)


# -- queries and filters ----------------------------------------------------------------
def test_query_id_excludes_itself_and_excluded_ids(bbc: dict) -> None:
    index = NeighborIndex().fit(bbc["fingerprints"], bbc["ids"], bbc["counts"])
    cid = bbc["ids"][5]
    found = index.query_id(cid, k=10)
    assert len(found) == 10 and cid not in [n.campaign_id for n in found]
    sims = [n.similarity for n in found]
    assert sims == sorted(sims, reverse=True)
    banned = [n.campaign_id for n in found[:3]]
    again = index.query_id(cid, k=10, exclude=banned)
    assert not set(banned) & {n.campaign_id for n in again}
    assert [n.campaign_id for n in again[:7]] == [n.campaign_id for n in found[3:]]


def test_query_matches_query_id_and_reports_parts(bbc: dict) -> None:
    index = NeighborIndex().fit(bbc["fingerprints"], bbc["ids"], bbc["counts"], None,
                                bbc["vectors"])
    i = 17
    by_id = index.query_id(bbc["ids"][i], k=8)
    by_vector = index.query(bbc["fingerprints"][i], k=8, terms=bbc["counts"][i],
                            exclude=[bbc["ids"][i]])
    assert [n.campaign_id for n in by_id] == [n.campaign_id for n in by_vector]
    for n in by_id:
        assert n.similarity == pytest.approx(0.2 * n.topic_similarity + 0.4 * n.term_similarity
                                             + 0.4 * n.vector_similarity, abs=1e-5)
        assert 0 <= n.vector_similarity <= 1
        j = index.position_[n.campaign_id]
        both = np.minimum(index.fingerprints_[i], index.fingerprints_[j])
        assert all(both[t] >= index.shared_topic_min for t in n.shared_topics)
        assert list(n.shared_topics) == sorted(n.shared_topics, key=lambda t: -both[t])
        assert set(np.flatnonzero(both >= index.shared_topic_min)) == set(n.shared_topics)
    table = neighbors_frame(by_id)
    assert list(table.columns) == ["campaign_id", "similarity", "topic_similarity",
                                   "term_similarity", "vector_similarity", "group_similarity",
                                   "shared_topics"]
    assert len(table) == 8


def test_similarities_are_shown_to_six_decimals_and_floors_compare_what_is_shown(bbc: dict
                                                                                ) -> None:
    """The index scores in float32; its neighbours carry float64 to SIMILARITY_DECIMALS
    (0.7185765504837036 was printed), rounded before any floor reads them: a campaign
    scored 0.2999995 reads 0.3, and is at a 0.3 floor (it read 0.29999953508377075, below
    it, and would have shown as 0.3 in a table of three decimals)."""
    from core.jsonable import SIMILARITY_DECIMALS

    index = NeighborIndex().fit(bbc["fingerprints"], bbc["ids"], bbc["counts"], None,
                                bbc["vectors"])
    found = index.query_id(bbc["ids"][17], k=10)
    for n in found:
        for value in (n.similarity, n.topic_similarity, n.term_similarity,
                      n.vector_similarity):
            assert type(value) is float and value == round(value, SIMILARITY_DECIMALS)
            assert len(repr(value).partition(".")[2]) <= SIMILARITY_DECIMALS, value

    # two topics: [a, 1 - a] against [1, 0] scores 1 - sqrt(1 - sqrt(a)); the a whose
    # float32 score is just under 0.3
    shares = np.linspace(0.26009, 0.26010, 2001)
    index = NeighborIndex(term_weight=0, vector_weight=0).fit(
        np.column_stack([shares, 1 - shares]), [f"c{i}" for i in range(shares.size)])
    raw = index.topic_similarities(np.array([1.0, 0.0]))
    under = np.flatnonzero((raw < np.float32(0.3)) & (raw > np.float32(0.3) - 5e-7))
    assert under.size, raw
    allowed = np.zeros(shares.size, dtype=bool)
    allowed[under[0]] = True
    [neighbour] = index.query(np.array([1.0, 0.0]), k=1, allowed=allowed)
    assert float(raw[under[0]]) < 0.3 and neighbour.similarity == 0.3
    assert neighbour.similarity >= 0.3    # as `neighbors --min-similarity 0.3` compares


def test_allowed_mask_and_small_result(bbc: dict) -> None:
    index = NeighborIndex().fit(bbc["fingerprints"], bbc["ids"], bbc["counts"])
    labels = np.array(bbc["labels"])
    allowed = labels == "sport"  # e.g. "same account excluded" or "minimum size" masks
    found = index.query_id(bbc["ids"][0], k=10, allowed=allowed)
    assert found and all(labels[index.position_[n.campaign_id]] == "sport" for n in found)
    only_two = np.zeros(len(labels), dtype=bool)
    only_two[[3, 9]] = True
    assert {n.campaign_id for n in index.query_id(bbc["ids"][0], k=10, allowed=only_two)} == {
        bbc["ids"][3], bbc["ids"][9]}
    assert index.query_id(bbc["ids"][3], k=10, allowed=only_two)[0].campaign_id == bbc["ids"][9]
    assert index.query_id(bbc["ids"][0], k=5, allowed=np.zeros(len(labels), bool)) == []


def test_topic_only_query_without_terms(bbc: dict) -> None:
    index = NeighborIndex().fit(bbc["fingerprints"], bbc["ids"])
    found = index.query(bbc["fingerprints"][2], k=5)
    assert found[0].campaign_id == bbc["ids"][2]  # itself, as nothing excludes it
    assert all(n.term_similarity is None and n.similarity == n.topic_similarity for n in found)


def test_errors_name_the_problem(bbc: dict) -> None:
    index = NeighborIndex().fit(bbc["fingerprints"], bbc["ids"], bbc["counts"])
    with pytest.raises(NotFoundError, match="nope"):
        index.query_id("nope")
    with pytest.raises(InputError, match="topics"):
        index.query(np.ones(3))
    with pytest.raises(InputError, match="allowed"):
        index.query_id(bbc["ids"][0], allowed=np.ones(3, bool))
    with pytest.raises(InputError, match="metric"):
        NeighborIndex(metric="cosine").fit(bbc["fingerprints"], bbc["ids"])
    with pytest.raises(InputError, match="unique"):
        NeighborIndex().fit(bbc["fingerprints"][:2], ["a", "a"])


# -- quality ----------------------------------------------------------------------------
def test_neighbours_are_mostly_same_label_on_bbc(bbc: dict) -> None:
    # 5 balanced labels: chance is about 0.2; a broken similarity stays near it.
    topic_only = NeighborIndex(term_weight=0).fit(bbc["fingerprints"], bbc["ids"])
    assert label_precision(topic_only, bbc["labels"]) >= 0.7
    default = NeighborIndex().fit(bbc["fingerprints"], bbc["ids"], bbc["counts"])
    assert label_precision(default, bbc["labels"]) >= 0.75
    js = NeighborIndex(metric="jensen_shannon", term_weight=0).fit(bbc["fingerprints"], bbc["ids"])
    assert label_precision(js, bbc["labels"]) >= 0.7


def test_blend_beats_topic_only_and_vectors_lift_it_on_short_docs(m10: dict) -> None:
    topic_only = NeighborIndex(term_weight=0).fit(m10["fingerprints"], m10["ids"])
    blend = NeighborIndex(term_weight=0.6, vector_weight=0).fit(m10["fingerprints"],
                                                                m10["ids"], m10["counts"])
    default = NeighborIndex().fit(m10["fingerprints"], m10["ids"], m10["counts"], None,
                                  m10["vectors"])
    p_topic = label_precision(topic_only, m10["labels"])
    p_blend = label_precision(blend, m10["labels"])
    assert p_blend >= p_topic
    assert p_blend >= 0.4  # 10 labels: chance is about 0.1
    # campaign vectors: 0.51 -> 0.60 on this sample (seeds 0 and 1: +0.08 to +0.09)
    assert label_precision(default, m10["labels"]) >= p_blend + 0.03


def test_shared_topics_are_the_strong_common_topics_strongest_first():
    """Shared topics of all neighbours at once equal the definition row by row: topics at
    or above the floor in both fingerprints, by the smaller weight, ties by topic id."""
    rng = np.random.default_rng(4)
    k = 12
    fingerprints = rng.dirichlet(np.full(k, 0.3), size=40)
    fingerprints[3] = fingerprints[0]                  # identical rows: every tie kept
    fingerprints[5, :4] = [0.25, 0.25, 0.25, 0.25]     # equal weights: by topic id
    fingerprints[5, 4:] = 0
    index = NeighborIndex(shared_topic_min=0.1).fit(fingerprints, [f"c{i}" for i in range(40)])
    for i in (0, 5, 7):
        q = index.fingerprints_[i].astype(np.float64)
        q = q / q.sum()
        rows = np.arange(40)
        expected = []
        for j in rows:
            both = np.minimum(q, index.fingerprints_[j])
            strong = [t for t in range(k) if both[t] >= 0.1]
            expected.append(tuple(sorted(strong, key=lambda t: (-both[t], t))))
        assert index._shared_topics(q, rows) == expected
        assert any(len(t) > 1 for t in expected)
        found = index.query_id(f"c{i}", 5)
        assert [n.shared_topics for n in found] == [
            expected[index.position_[n.campaign_id]] for n in found]


def test_query_tfidf_row_is_scikit_learns_to_the_bit(bbc: dict) -> None:
    """A query's TF-IDF row is computed without scikit-learn's checks (`_tfidf_row`): the
    same indices and float32 values as `TfidfTransformer.transform` + `expand`, so a
    pasted keyword list ranks exactly as before."""
    import scipy.sparse as sp

    from core.model import term_vectors

    index = NeighborIndex().fit(bbc["fingerprints"], bbc["ids"], bbc["counts"])
    counts = sp.csr_matrix(bbc["counts"], dtype=np.float64)
    for i in range(0, counts.shape[0], 7):
        row = counts[i]
        expected = term_vectors.expand(index.tfidf_.transform(row), None)
        got = index._tfidf_row(row)
        assert got.dtype == expected.dtype == np.float32
        assert np.array_equal(got.indices, expected.indices)
        assert np.array_equal(got.data, expected.data)
        assert np.array_equal(counts[i].toarray(), row.toarray())   # the input is kept


def test_compiled_term_part_is_scipys_column_product_to_the_bit(bbc: dict) -> None:
    """A stored campaign's term similarities come from `core.model.term_kernel` (the
    columns read in place): the same float32 values as scipy's column slice times the
    row, which the index computed before."""
    index = NeighborIndex().fit(bbc["fingerprints"], bbc["ids"], bbc["counts"])
    for i in range(0, len(bbc["ids"]), 13):
        row = index.terms_[i]
        expected = np.zeros(len(bbc["ids"]), dtype=np.float32)
        expected += index.terms_csc_[:, row.indices] @ row.data
        got = index._stored_term_similarities(i)
        assert got.dtype == np.float32 and np.array_equal(got, expected)
        assert np.count_nonzero(got) > 1


def test_largest_picks_the_positions_argpartition_picks():
    """The top-k search (`_largest`: a sampled threshold, argpartition only on a tie at the
    k-th place) returns the same positions as argpartition over all scores: distinct
    scores, many ties, dropped campaigns (-inf)."""
    from core.model.neighbors import _largest

    rng = np.random.default_rng(2)
    for trial in range(300):
        n, k = int(rng.choice([7, 2000, 30000])), int(rng.integers(1, 40))
        scores = rng.random(n).astype(np.float32)
        if trial % 3 == 1:
            scores = np.round(scores, 2)                      # ties across the k-th place
        if trial % 3 == 2:
            scores[rng.integers(0, n, n // 3)] = -np.inf
        k = min(k, int(np.isfinite(scores).sum()))
        expected = np.argpartition(-scores, k - 1)[:k] if k < n else np.arange(n)
        assert np.array_equal(np.sort(_largest(scores, k)), np.sort(expected))


class _CountingIndex(NeighborIndex):
    """The real index, noting how many campaigns each topic- and vector-similarity call
    scored."""

    def topic_similarities(self, vector, rows=None):
        self.scored.append(len(self.ids_) if rows is None else len(rows))
        return super().topic_similarities(vector, rows)

    def _vector_scores(self, query, rows=None):
        self.vectors_scored.append(len(self.ids_) if rows is None else len(rows))
        return super()._vector_scores(query, rows)


@pytest.mark.parametrize(("metric", "groups"), [("hellinger", None), ("jensen_shannon", None),
                                               ("hellinger", "find")])
def test_pruned_search_finds_what_the_full_sweep_finds(m10: dict, metric: str,
                                                       groups: str | None) -> None:
    """Blended queries score topics only where the term bound lets a campaign reach the
    answer: the same neighbours in the same order as sweeping every campaign, with
    exclusions, masks and k from 1 to 200, while scoring a fraction of the campaigns.
    With groups their share is in every bound, and the sweep ranks by it too."""
    index = _CountingIndex(metric).fit(m10["fingerprints"], m10["ids"], m10["counts"], None,
                                       m10["vectors"], groups)
    assert (index.groups_ is not None) == (groups is not None)
    rng = np.random.default_rng(0)
    n = len(index)
    pruned = vectors_pruned = 0
    for j, i in enumerate(rng.choice(n, 60, replace=False)):
        k = (1, 10, 50, 200)[j % 4]
        exclude = [index.ids_[x] for x in rng.choice(n, 20)] if j % 3 == 0 else []
        allowed = rng.random(n) > 0.3 if j % 5 == 0 else None
        index.scored, index.vectors_scored = [], []
        found = index.query_id(index.ids_[i], k, exclude=exclude, allowed=allowed)
        pruned += k <= 10 and max(index.scored) < n
        vectors_pruned += k <= 10 and max(index.vectors_scored) < n
        term = index._stored_term_similarities(i)
        topic = NeighborIndex.topic_similarities(index, index.fingerprints_[i])
        vec = index._vector_scores(index.vectors_[i])
        share = None if groups is None else shares(index.groups_, index.groups_[i])
        swept = index._top(index.fingerprints_[i],
                           index._ranking(index._blend(topic, term, vec), share), topic,
                           term, vec, share, k, [*exclude, index.ids_[i]], allowed)
        assert len(found) == len(swept) == min(k, n - 1 - len(set(exclude) - {index.ids_[i]})
                                               if allowed is None else len(found))
        # float32 sums in another order may move a similarity by ~1e-6 (near 1, the square
        # root magnifies it); only campaigns that close may swap places
        got = np.array([x.similarity for x in found])
        want = np.array([x.similarity for x in swept])
        np.testing.assert_allclose(got, want, atol=2e-5)
        for a, b in zip(found, swept, strict=True):
            assert a.campaign_id == b.campaign_id or abs(a.similarity - b.similarity) < 2e-5
            assert a.topic_similarity == pytest.approx(b.topic_similarity, abs=5e-5)
            assert a.term_similarity == b.term_similarity or a.campaign_id != b.campaign_id
            assert a.vector_similarity == pytest.approx(b.vector_similarity, abs=1e-5) \
                or a.campaign_id != b.campaign_id
            assert a.shared_topics == b.shared_topics or a.campaign_id != b.campaign_id
            assert a.group_similarity == b.group_similarity or a.campaign_id != b.campaign_id
    # At 1,500 titles, of 30 queries with k <= 10: the term bound alone, then the topics
    # of what it leaves, spare vector scoring for 10; where the term bound leaves too
    # many, every vector is scored and topics are scored for few: topics are spared for
    # 29 (12+ before campaign vectors, with the term bound alone).
    assert pruned >= 24, pruned
    assert vectors_pruned >= 6, vectors_pruned


# -- groups in the neighbour graph -------------------------------------------------------
def test_groups_split_two_communities_and_leave_an_unlinked_campaign_out() -> None:
    """Two groups of 12 joined by one weak edge, and a campaign with no edge at all."""
    graph = np.zeros((25, 25))
    graph[:12, :12] = graph[12:24, 12:24] = 0.8
    np.fill_diagonal(graph, 0)
    graph[0, 12] = graph[12, 0] = 0.05
    groups = NeighborGroups().fit(sp.csr_matrix(graph))
    assert groups.sizes_ == sizes_for(25) == (2, 3, 4)   # at least 5 campaigns a group
    two = groups.memberships_[:, 0]
    assert len(set(two[:12])) == len(set(two[12:24])) == 1 and two[0] != two[12]
    assert (groups.memberships_[24] == NO_GROUP).all()
    share = shares(groups.memberships_, groups.memberships_[1])
    assert share[2] == 1 and share[13] < 1 and share[24] == 0
    # a new campaign whose nearest are 13, 14 and 1 joins 13's groups (ties: the nearer)
    assert vote(groups.memberships_, np.array([13, 14, 1])).tolist() == \
        groups.memberships_[13].tolist()
    assert vote(groups.memberships_, np.array([], dtype=np.intp)) is None
    assert sizes_for(9) == () and NeighborGroups().fit(sp.csr_matrix((9, 9))).memberships_.shape \
        == (9, 0)


def test_groups_lift_bbc_neighbours_and_rank_by_their_share(bbc: dict) -> None:
    parts = (bbc["fingerprints"], bbc["ids"], bbc["counts"], None, bbc["vectors"])
    plain = NeighborIndex().fit(*parts)
    grouped = NeighborIndex().fit(*parts, groups="find")
    assert plain.groups_ is None
    assert grouped.groups_.shape == (600, len(sizes_for(600)))
    assert label_precision(grouped, bbc["labels"]) > label_precision(plain, bbc["labels"])
    # the graph's edges are each campaign's ten nearest by the blend, as a query finds them
    rows = np.arange(0, 600, 37)
    top, sims = plain.nearest_rows(rows, 10)
    for i, row, row_sims in zip(rows, top, sims, strict=True):
        found = plain.query_id(bbc["ids"][i], 10)
        assert {n.campaign_id for n in found} == set(plain.ids_[row])
        # a block's products sum in another order: near 1 the square root magnifies it
        np.testing.assert_allclose(sorted(row_sims, reverse=True),
                                   [n.similarity for n in found], atol=2e-5)
    i = 17
    for n in grouped.query_id(bbc["ids"][i], k=8):
        blend = 0.2 * n.topic_similarity + 0.4 * n.term_similarity + 0.4 * n.vector_similarity
        assert n.similarity == pytest.approx(0.8 * blend + 0.2 * n.group_similarity, abs=1e-5)
        j = grouped.position_[n.campaign_id]
        assert n.group_similarity == pytest.approx(
            np.mean(grouped.groups_[i] == grouped.groups_[j]), abs=1e-6)
    # groups given to an index of topics alone rank with the topics, which stay as they are
    topic_only = NeighborIndex(term_weight=0, vector_weight=0).fit(
        bbc["fingerprints"], bbc["ids"], groups=grouped.groups_)
    topics = topic_only.topic_similarities(bbc["fingerprints"][i])
    for n in topic_only.query_id(bbc["ids"][i], k=5):
        assert n.topic_similarity == pytest.approx(topics[topic_only.position_[n.campaign_id]],
                                                   abs=1e-6)
        assert n.similarity == pytest.approx(0.8 * n.topic_similarity
                                             + 0.2 * n.group_similarity, abs=1e-5)
    # pasted again, the campaign finds itself first and takes its own groups by the vote
    twin = grouped.query(bbc["fingerprints"][i], k=3, terms=bbc["counts"][i])
    assert twin[0].campaign_id == bbc["ids"][i] and twin[0].group_similarity == 1.0
    # without terms there is nothing to vote with: the topics rank alone
    alone = grouped.query(bbc["fingerprints"][i], k=3)
    assert alone[0].group_similarity is None and alone[0].term_similarity is None
    assert NeighborIndex(group_weight=0).fit(*parts, groups="find").groups_ is None
    with pytest.MonkeyPatch.context() as patch:   # a dataset too large to group
        patch.setattr(neighbor_groups, "GROUPS_UP_TO", 599)
        assert NeighborIndex().fit(*parts, groups="find").groups_ is None
    for bad, message in ((1, "group_weight must be"), (float("nan"), "group_weight must be")):
        with pytest.raises(InputError, match=message):
            NeighborIndex(group_weight=bad).fit(*parts)
    with pytest.raises(InputError, match="groups must be"):
        NeighborIndex().fit(*parts, groups="yes")
    with pytest.raises(InputError, match="groups must be N x sizes with N = 600"):
        NeighborIndex().fit(*parts, groups=grouped.groups_[:10])
    with pytest.raises(InputError, match=r"groups must be whole numbers .* not float64"):
        NeighborIndex().fit(*parts, groups=np.full(grouped.groups_.shape, np.nan))
