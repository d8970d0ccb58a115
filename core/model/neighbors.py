"""Similar campaigns: exact nearest neighbours over topic fingerprints (numpy only).

A campaign's fingerprint is its topic distribution (length K, sums to 1). Similarity
between two fingerprints is `1 - Hellinger distance` (default) or `1 - Jensen-Shannon
distance` (base 2); both are in [0, 1], 1 for identical and 0 for disjoint fingerprints.

Topic similarity alone is a weak neighbour signal for short documents: a campaign of a
few dozen keywords folds in to a noisy topic mix. When the index is also given the
campaigns' term counts (and the word vectors the model learnt), the similarity it ranks
by is a blend

    similarity = w_topic * topic_similarity + w_term * term_cosine + w_vector * vector_cosine

`term_cosine` is the cosine between sublinear TF-IDF rows (1 + log tf, smoothed idf,
L2-normalised) of the same bag-of-words the model was trained on: shared rare words.
`vector_cosine` is the cosine (at least 0) of the campaigns' SIF vectors
(`core.model.campaign_vectors`: their words' vectors, word2vec learnt on the model's own
corpus), which also matches words of alike meaning. With the word similarity the model
learnt from its corpus (`TextConfig(soft_terms=True)`, off by default;
`core.model.term_vectors`), each TF-IDF row first also weighs each word's similar words.
The fingerprint stays what the app shows and explains; the other parts sharpen the
ranking. Every part is returned with every neighbour.

Scored models also store each campaign's groups in the graph of every campaign's ten
nearest by that blend (`core.model.neighbor_groups`), and the index ranks by

    similarity = (1 - group_weight) * blend + group_weight * group_share

`group_share` is the share of 11 group sizes (2 to 64 groups) at which the two campaigns
fall in one group; `group_weight` 0.2. It lifted precision@10 on every corpus and seed
measured (BBC 0.948 -> 0.953 at seed 0; the figures in that module).

Defaults `term_weight = 0.4`, `vector_weight = 0.4` (so `w_topic = 0.2`), chosen by
`bench/neighbors.py`: precision@10 of same-label neighbours, every campaign a query,
project defaults (`TextConfig()`, tomotopy K=20, fingerprints from `Engine.transform`),
weights on a 0.1 grid, seed 0, then seeds 1 and 2 for the leading weights:

| weights topic/term/vector | M10 (8,355 titles) | BBC (2,225 news)  | demo (3,000)      |
|---------------------------|--------------------|-------------------|-------------------|
| TF-IDF kNN (baseline)     | 0.608              | 0.878             | 0.973             |
| 0.4 / 0.6 / 0 (before)    | 0.663 0.668 0.662  | 0.943 0.941 0.939 | 0.986 0.987 0.987 |
| **0.2 / 0.4 / 0.4**       | 0.704 0.708 0.706  | 0.946 0.944 0.944 | 0.990 0.990 0.990 |
| 0.3 / 0.4 / 0.3           | 0.699 0.704 0.701  | 0.947 0.945 0.945 | 0.989 0.990 0.990 |
| 0.2 / 0.5 / 0.3           | 0.705 0.708 0.706  | 0.946 0.944 0.944 | 0.989 0.990 0.990 |
| 0.3 / 0.3 / 0.4           | 0.698 0.701 0.699  | 0.946 0.945 0.944 | 0.990 0.990 0.990 |
| vectors alone (seed 0)    | 0.670              | 0.937             | 0.986             |

(Seeds 0, 1, 2 of the topic model and of word2vec, 100-dimensional word vectors and 20
epochs; TF-IDF kNN = scikit-learn `TfidfVectorizer` defaults + cosine.) With the final
word2vec settings (32 dimensions, 10-20 epochs) 0.2 / 0.4 / 0.4 gave M10 0.706 0.709
0.707, BBC 0.948 0.946 0.947, demo 0.990 0.991 0.990. No weight reached BBC 0.95 (best on
the grid 0.948). 0.2 / 0.4 / 0.4 is within 0.003 of the best row on every corpus and
seed. Without word vectors (older models, `TextConfig(word_vectors=False)`), the weights
become 1/3 / 2/3, close to the earlier default 0.4 / 0.6 (term weights 0.6 and 0.7 were
within 0.006 of each other on every corpus when that default was chosen).
Earlier findings that still hold: fold-in fingerprints (`Engine.transform`) beat
tomotopy's own document-topic estimates for short texts (M10 topic-only 0.567 vs 0.51);
K=50 did not help on M10; sublinear TF lifts the term part on long texts (BBC 0.915 vs
0.878); the gensim engine's blend beat TF-IDF as well (M10 0.628, BBC 0.929, demo 0.987,
topics and terms only).

Speed: a blended query computes every campaign's term cosine (a sparse column product),
then topic and vector similarity only for the campaigns whose term part lets them reach
the answer (`NeighborIndex._blended_top`; ~1% of them at 100,000 campaigns with topics
and terms alone; the vector part loosens the bound, see docs/benchmarks.md), then `argpartition`. At
N = 100,000, K = 50 (bench store, quiet 2-core machine): 1.7 ms of CPU for a stored
campaign's ten neighbours, against 3.7 ms sweeping every fingerprint. A topic-only query
sweeps all N x K in one float32 matrix-vector product (~1.3 ms). No ANN index is needed at
that size.
"""

from __future__ import annotations

import numbers
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from core import jsonable
from core.errors import InputError, NotFoundError, shown
from core.model import neighbor_groups, term_vectors
from core.model.campaign_vectors import CampaignVectors
from core.model.neighbor_groups import DEFAULT_GROUP_WEIGHT

METRICS = ("hellinger", "jensen_shannon")
DEFAULT_METRIC = "hellinger"
DEFAULT_TERM_WEIGHT = 0.4
DEFAULT_VECTOR_WEIGHT = 0.4
# A topic is "shared" by two campaigns when it holds at least this share of both.
SHARED_TOPIC_MIN = 0.1
# Suggested actions learn only from neighbours at or above this similarity (the blended
# similarity above). Measured by `python -m bench.similarity_floor` on the demo (3,000
# campaigns, K = 40, 50 neighbours each, vertical = ground truth): 0.55 is the lowest
# similarity above which every 0.05-wide bin holds >= 90% same-vertical neighbours
# (0.55-0.60: 95%, 0.50-0.55: 87%, 0.45-0.50: 77%, 0.40-0.45: 57%; the same floor at
# K = 50, the demo model since stop 29: 94% and 88%). Campaign vectors
# raised every similarity; with topics and terms alone it was 0.50 (0.50-0.55: 95%).
# It holds for pasted lists of 1-10 of a campaign's keywords (93-98.5% of the neighbours
# at or above it are of its vertical) and for BBC News (99.6%); on ~6-word paper titles
# (M10) 0.55-0.60 is only 79% right, and 0.65 would be needed (docs/benchmarks.md).
# Groups (`core.model.neighbor_groups`, stop 57) lift the similarity of campaigns in one
# coarse group: the same bench then held 0.55-0.60 at 88.8% (0.60-0.65: 94.7%) for stored
# campaigns and 89.7% for 10 pasted keywords, so the floor is 0.60. 1 and 3 pasted
# keywords and BBC News hold at 0.50.
MIN_SIMILARITY = 0.60
_EPS = 1e-12
# A blended query scores this many campaigns (those with the most term similarity) in
# full first; their k-th best bounds which others need a topic similarity at all.
PRUNE_SAMPLE = 256


@dataclass(frozen=True)
class Neighbor:
    """One similar campaign: the ranking similarity and the parts it is made of.

    Similarities are float64 to `jsonable.SIMILARITY_DECIMALS` (`shown_similarities`):
    the index scores in float32, whose noise printed as 0.7185765504837036.
    `term_similarity` is None when no terms took part (topic-only index or query),
    `vector_similarity` when no campaign vectors did (no terms, or a model without word
    vectors), `group_similarity` (the share of group sizes at which the two are in one
    group, `core.model.neighbor_groups`) when the index has no groups or the query none.
    `shared_topics` are topic ids holding >= the index's `shared_topic_min` in
    both fingerprints, strongest (largest smaller weight) first.
    """

    campaign_id: str
    similarity: float
    topic_similarity: float
    term_similarity: float | None
    shared_topics: tuple[int, ...]
    vector_similarity: float | None = None
    group_similarity: float | None = None


# -- pairwise similarities (for explanations and tests) --------------------------------
def _as_distribution(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), 0, None)
    total = p.sum(axis=-1, keepdims=True)
    if np.any(total <= 0):
        raise InputError("a fingerprint must have a positive total weight")
    return p / total


def hellinger_similarity(p: np.ndarray, q: np.ndarray) -> float:
    """1 - Hellinger distance, with H = sqrt(1 - sum sqrt(p q)) in [0, 1]."""
    bc = float(np.sqrt(_as_distribution(p) * _as_distribution(q)).sum())
    return 1.0 - float(np.sqrt(max(0.0, 1.0 - bc)))


def jensen_shannon_similarity(p: np.ndarray, q: np.ndarray) -> float:
    """1 - Jensen-Shannon distance (scipy's: square root of the base-2 divergence), in
    [0, 1]."""
    from scipy.spatial.distance import jensenshannon

    distance = float(jensenshannon(_as_distribution(p), _as_distribution(q), base=2))
    return 1.0 - min(1.0, max(0.0, distance))


def _hellinger_in_place(out: np.ndarray) -> np.ndarray:
    """1 - sqrt(1 - BC) of Bhattacharyya coefficients, in place (float32)."""
    np.subtract(np.float32(1), out, out=out)
    np.clip(out, 0.0, 1.0, out=out)
    np.sqrt(out, out=out)
    return np.subtract(np.float32(1), out, out=out)


def _entropy(p: np.ndarray) -> np.ndarray:
    """Natural-log entropy along the last axis, 0 log 0 = 0."""
    return -np.sum(np.where(p > 0, p * np.log(np.where(p > 0, p, 1)), 0), axis=-1)


# -- the index --------------------------------------------------------------------------
def check_weights(term_weight: object, vector_weight: object,
                  group_weight: object = DEFAULT_GROUP_WEIGHT) -> None:
    """The shares of term and campaign-vector similarity: numbers from 0 to 1 (not
    "0.4", None or nan) that leave the topic part a share (sum at most 1); the group
    part's share, of the whole, from 0 to below 1."""
    if (isinstance(group_weight, bool) or not isinstance(group_weight, numbers.Real)
            or not 0 <= group_weight < 1):
        raise InputError(f"group_weight must be a number from 0 to below 1, not "
                         f"{shown(group_weight)}")
    for name, value in (("term_weight", term_weight), ("vector_weight", vector_weight)):
        if (isinstance(value, bool) or not isinstance(value, numbers.Real)
                or not 0 <= value <= 1):
            raise InputError(f"{name} must be a number from 0 to 1, not {shown(value)}")
    if term_weight + vector_weight > 1 + 1e-9:  # type: ignore[operator]
        raise InputError(f"term_weight + vector_weight must be at most 1, not "
                         f"{term_weight} + {vector_weight}")


class NeighborIndex:
    """Exact k-NN over fingerprints, scikit-learn style.

    `NeighborIndex(metric, term_weight, vector_weight).fit(fingerprints, ids, term_matrix,
    word_vectors=...)` then `query(vector, k, terms=...)` or `query_id(campaign_id, k)`.
    `term_matrix` holds raw term counts (N x V, the model's bag-of-words, e.g.
    `core.model.engines.bow_matrix`); the index learns the idf from it.
    `word_similarity` (V x V, `core.model.term_vectors`) makes the term match soft: every
    TF-IDF row, stored or queried, also weighs similar words. `word_vectors` (V x D,
    `core.model.campaign_vectors`) adds the campaign-vector part, learnt from the same
    counts. The topic part weighs `1 - term_weight - vector_weight`; a part the index
    lacks (no term matrix, no word vectors, or weight 0) gives its weight to the others
    in proportion (`weights_`), so without word vectors the defaults blend topics and
    terms 1 : 2, and without terms similarity is the topic similarity alone.

    `groups` (N x sizes, `core.model.neighbor_groups`; "find" finds them from the blend
    here) adds the group part: the index ranks by `(1 - group_weight) * blend +
    group_weight * group share`. A new campaign's groups are those of its nearest by the
    blend; without groups (an index fitted without them, a query with no neighbour) the
    blend ranks alone.
    """

    def __init__(self, metric: str = DEFAULT_METRIC, term_weight: float = DEFAULT_TERM_WEIGHT,
                 vector_weight: float = DEFAULT_VECTOR_WEIGHT,
                 shared_topic_min: float = SHARED_TOPIC_MIN,
                 shown_topics: int | None = None,
                 group_weight: float = DEFAULT_GROUP_WEIGHT) -> None:
        self.metric = metric
        self.term_weight = term_weight
        self.vector_weight = vector_weight
        self.group_weight = group_weight
        self.shared_topic_min = shared_topic_min
        self.shown_topics = shown_topics  # the first topics, the ones users see (hidden
                                          # spares after them rank but are never shared)

    def fit(self, fingerprints: np.ndarray, ids: Sequence[str],
            term_matrix: sp.spmatrix | None = None,
            word_similarity: sp.spmatrix | None = None,
            word_vectors: np.ndarray | None = None,
            groups: np.ndarray | str | None = None) -> NeighborIndex:
        if self.metric not in METRICS:
            raise InputError(f"metric must be one of {METRICS}, not {shown(self.metric)}")
        check_weights(self.term_weight, self.vector_weight, self.group_weight)
        fp = np.asarray(fingerprints, dtype=np.float32)
        if fp.ndim != 2 or fp.shape[0] != len(ids):
            raise InputError(f"fingerprints must be N x K with N = {len(ids)} ids; "
                             f"got shape {fp.shape}")
        fp = np.clip(fp, 0, None)
        totals = fp.sum(axis=1, keepdims=True)
        if np.any(totals <= 0):
            raise InputError("every fingerprint needs a positive total weight")
        self.fingerprints_ = fp / totals
        self.ids_ = np.array([str(i) for i in ids], dtype=object)
        self.position_ = {cid: i for i, cid in enumerate(self.ids_)}
        if len(self.position_) != len(self.ids_):
            raise InputError("campaign ids must be unique")
        if self.metric == "hellinger":
            self.sqrt_ = np.sqrt(self.fingerprints_)
        else:
            self.entropy_ = _entropy(self.fingerprints_.astype(np.float64)).astype(np.float32)
        self.terms_ = self.vectors_ = None
        use_terms = term_matrix is not None and self.term_weight > 0
        use_vectors = (term_matrix is not None and word_vectors is not None
                       and self.vector_weight > 0)
        if use_terms or use_vectors:
            counts = sp.csr_matrix(term_matrix, dtype=np.float64)
            if counts.shape[0] != len(ids):
                raise InputError(f"term_matrix has {counts.shape[0]} rows for {len(ids)} ids")
            self.n_words_ = counts.shape[1]
        if use_terms:
            # imported here: the CLI's parser reads this module
            from sklearn.feature_extraction.text import TfidfTransformer

            self.words_ = None
            if word_similarity is not None:
                self.words_ = sp.csr_matrix(word_similarity, dtype=np.float32)
                if self.words_.shape != (counts.shape[1], counts.shape[1]):
                    raise InputError(f"word_similarity is {self.words_.shape}; the term "
                                     f"matrix has {counts.shape[1]} columns")
            self.tfidf_ = TfidfTransformer(sublinear_tf=True).fit(counts)
            rows = term_vectors.expand(self.tfidf_.transform(counts), self.words_)
            self.terms_ = rows.tocsr()
            self.terms_csc_ = rows.tocsc()  # column slices make a query cost O(its terms)
        if use_vectors:
            vectors = np.asarray(word_vectors, dtype=np.float32)
            if vectors.ndim != 2 or vectors.shape[0] != counts.shape[1]:
                raise InputError(f"word_vectors are {vectors.shape}; the term matrix has "
                                 f"{counts.shape[1]} columns")
            self.vectorizer_ = CampaignVectors(vectors)
            self.vectors_ = self.vectorizer_.fit_transform(counts)
        parts = np.array([1 - self.term_weight - self.vector_weight,
                          self.term_weight if self.terms_ is not None else 0.0,
                          self.vector_weight if self.vectors_ is not None else 0.0])
        parts = np.clip(parts, 0, None)
        self.weights_ = tuple(float(w) for w in (parts / parts.sum() if parts.sum() > 0
                                                 else np.array([1.0, 0.0, 0.0])))
        self.groups_ = None
        if isinstance(groups, str):
            if groups != "find":
                raise InputError(f"groups must be an N x sizes array, \"find\" or None, not "
                                 f"{shown(groups)}")
            groups = neighbor_groups.find_groups(self) if self.group_weight > 0 else None
        if groups is not None and self.group_weight > 0:
            groups = np.asarray(groups)
            if groups.ndim != 2 or groups.shape[0] != len(ids):
                raise InputError(f"groups must be N x sizes with N = {len(ids)} ids; got "
                                 f"shape {groups.shape}")
            if not np.issubdtype(groups.dtype, np.integer):
                raise InputError(f"groups must be whole numbers (group ids), not "
                                 f"{groups.dtype}")
            self.groups_ = groups.astype(np.int16)
        return self

    @property
    def blends_terms(self) -> bool:
        """Whether the index has a term part (what its groups are found from)."""
        self._check_fitted()
        return self.terms_ is not None

    def nearest_rows(self, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(positions, similarities), each len(rows) x k: the k nearest other fitted
        campaigns of the campaigns at `rows` by the blend (without groups; any order within
        a row), all scored at once (`neighbor_groups.neighbour_graph`)."""
        self._check_fitted()
        combined = self.blend_rows(rows)
        combined[np.arange(len(rows)), rows] = -np.inf
        top = np.stack([_largest(row, k) for row in combined])
        return top, np.take_along_axis(combined, top, axis=1)

    def blend_rows(self, rows: np.ndarray) -> np.ndarray:
        """The blend (without groups) of the fitted campaigns at `rows` with every
        campaign, len(rows) x N float32: the same numbers as their queries' (the term part
        by the compiled loop `query_id` uses, row by row: 5x scipy's sparse product)."""
        self._check_fitted()
        w_topic, w_term, w_vec = (np.float32(w) for w in self.weights_)
        if self.metric == "hellinger":
            combined = _hellinger_in_place(self.sqrt_[rows] @ self.sqrt_.T)
        else:
            combined = np.stack([self.topic_similarities(self.fingerprints_[i]) for i in rows])
        combined *= w_topic
        if self.terms_ is not None:
            term = np.stack([self._stored_term_similarities(i) for i in rows])
            term *= w_term
            combined += term
        if self.vectors_ is not None:
            vec = self.vectors_[rows] @ self.vectors_.T
            np.maximum(vec, np.float32(0), out=vec)
            vec *= w_vec
            combined += vec
        return combined

    def _groups_of(self, i: int | None, vector: np.ndarray, term: np.ndarray | None,
                   query: np.ndarray | None) -> np.ndarray | None:
        """A query's groups: a fitted campaign's own (`i`), else those most of its
        `GRAPH_NEIGHBOURS` nearest by the blend are in; None without groups, and for a
        query without terms (ranked by its topics alone, as the blend is then)."""
        if self.groups_ is None or (i is None and term is None):
            return None
        if i is not None:
            return self.groups_[i]
        nearest = self._ranked(vector, term, query, neighbor_groups.GRAPH_NEIGHBOURS, (), None,
                               None)
        return neighbor_groups.vote(self.groups_,
                                    np.array([self.position_[n.campaign_id] for n in nearest],
                                             dtype=np.intp))

    # -- similarity vectors -------------------------------------------------------------
    def topic_similarities(self, vector: np.ndarray, rows: np.ndarray | None = None
                           ) -> np.ndarray:
        """Topic similarity of `vector` (length K) to every fitted campaign, or to those at
        positions `rows` (float32)."""
        self._check_fitted()
        q = np.clip(np.asarray(vector, dtype=np.float32).ravel(), 0, None)
        if q.shape[0] != self.fingerprints_.shape[1]:
            raise InputError(f"fingerprint has {q.shape[0]} topics; the index has "
                             f"{self.fingerprints_.shape[1]}")
        if q.sum() <= 0:
            raise InputError("the query fingerprint has no weight")
        q = q / q.sum()
        if self.metric == "hellinger":
            # 1 - sqrt(1 - BC), in place on the one product's result (each temporary over
            # 100,000 campaigns cost ~0.2 ms, a third of the sweep).
            return _hellinger_in_place(
                (self.sqrt_ if rows is None else self.sqrt_[rows]) @ np.sqrt(q))
        # The same distance as scipy's `jensenshannon` (test_neighbors compares them), but
        # with each campaign's entropy computed once at fit: one log per query instead of
        # two, in float32, ~10x faster than scipy over 100,000 campaigns.
        fingerprints, entropy = ((self.fingerprints_, self.entropy_) if rows is None else
                                 (self.fingerprints_[rows], self.entropy_[rows]))
        m = (fingerprints + q) * np.float32(0.5)
        h_m = -np.einsum("nk,nk->n", m, np.log(np.maximum(m, _EPS)))
        h_q = float(_entropy(q.astype(np.float64)))
        divergence = (h_m - (entropy + h_q) / 2) / np.float32(np.log(2))
        return 1.0 - np.sqrt(np.clip(divergence, 0.0, 1.0))

    def term_similarities(self, terms: sp.spmatrix | np.ndarray) -> np.ndarray | None:
        """Cosine of the query's TF-IDF row with every campaign's (both expanded by the
        word similarity when the index has one); None without terms."""
        self._check_fitted()
        if self.terms_ is None or terms is None:
            return None
        row = self._tfidf_row(self._query_counts(terms))
        out = np.zeros(self.terms_.shape[0], dtype=np.float32)
        if row.nnz:
            out += self.terms_csc_[:, row.indices] @ row.data.astype(np.float32)
        return out

    def _query_counts(self, terms: sp.spmatrix | np.ndarray) -> sp.csr_matrix:
        """A query's raw term counts as one float64 CSR row over the index vocabulary."""
        counts = sp.csr_matrix(terms, dtype=np.float64).reshape(1, -1)
        if counts.shape[1] != self.n_words_:
            raise InputError(f"terms have {counts.shape[1]} columns; the index vocabulary "
                             f"has {self.n_words_}")
        return counts

    def _tfidf_row(self, counts: sp.csr_matrix) -> sp.csr_matrix:
        """`term_vectors.expand(tfidf_.transform(counts), words_)` of one query row. Without
        word similarity, the same arithmetic on the row's few entries directly: sublinear
        tf times idf, L2-normalised, to float32 and normalised again (scikit-learn's input
        and parameter checks cost ~1 ms a pasted-keyword query; a test compares them)."""
        if self.words_ is not None or not self._plain_tfidf():
            return term_vectors.expand(self.tfidf_.transform(counts), self.words_)
        from sklearn.utils.sparsefuncs_fast import inplace_csr_row_normalize_l2

        row = sp.csr_matrix(counts, dtype=np.float64, copy=True)
        np.log(row.data, row.data)                 # TfidfTransformer(sublinear_tf=True)
        row.data += 1.0
        row.data *= self.tfidf_.idf_[row.indices]
        inplace_csr_row_normalize_l2(row)          # its norm="l2"
        row = sp.csr_matrix(row, dtype=np.float32)  # term_vectors.expand: float32, then
        inplace_csr_row_normalize_l2(row)          # normalised again
        return row

    def _plain_tfidf(self) -> bool:
        t = self.tfidf_
        return (t.sublinear_tf and t.use_idf and t.norm == "l2"
                and getattr(t, "idf_", None) is not None)

    def vector_similarities(self, terms: sp.spmatrix | np.ndarray | None,
                            rows: np.ndarray | None = None) -> np.ndarray | None:
        """Cosine (at least 0) of the query's campaign vector with every campaign's, or
        with those at positions `rows`; None without campaign vectors or terms."""
        query = self._query_vector(terms)
        return None if query is None else self._vector_scores(query, rows)

    def _query_vector(self, terms: sp.spmatrix | np.ndarray | None) -> np.ndarray | None:
        """The campaign vector of a query's raw term counts (1 x V), or None."""
        self._check_fitted()
        if self.vectors_ is None or terms is None:
            return None
        return self.vectorizer_.transform(self._query_counts(terms))[0]

    def _vector_scores(self, query: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        out = (self.vectors_ if rows is None else self.vectors_[rows]) @ query
        return np.maximum(out, np.float32(0), out=out)

    def similarities(self, vector: np.ndarray, terms: sp.spmatrix | np.ndarray | None = None
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
        """(blend of the three parts, topic similarity, term similarity or None, vector
        similarity or None), each length N; without the group part, which only ranks
        whole queries (`query`, `query_id`)."""
        topic = self.topic_similarities(vector)
        term = self.term_similarities(terms)
        vec = self.vector_similarities(terms)
        return self._blend(topic, term, vec), topic, term, vec

    # -- queries ------------------------------------------------------------------------
    def query(self, vector: np.ndarray, k: int = 10, *,
              terms: sp.spmatrix | np.ndarray | None = None, exclude: Collection[str] = (),
              allowed: np.ndarray | None = None) -> list[Neighbor]:
        """The k most similar campaigns to a fingerprint, best first.

        `terms`: the query's raw term counts over the index vocabulary (1 x V), used
        when the index has terms or campaign vectors. `exclude`: campaign ids never
        returned (e.g. the campaign's own account). `allowed`: boolean mask over the
        fitted campaigns (e.g. a minimum size); False rows are never returned.
        """
        self._check_fitted()
        if terms is not None and (self.terms_ is not None or self.vectors_ is not None):
            terms = self._query_counts(terms)  # once for both parts
        term, query = self.term_similarities(terms), self._query_vector(terms)
        return self._ranked(vector, term, query, k, exclude, allowed,
                            self._groups_of(None, vector, term, query))

    def query_id(self, campaign_id: str, k: int = 10, *, exclude: Collection[str] = (),
                 allowed: np.ndarray | None = None) -> list[Neighbor]:
        """Neighbours of a fitted campaign (never itself), using its stored terms."""
        self._check_fitted()
        i = self.position_.get(str(campaign_id))
        if i is None:
            raise NotFoundError(f"campaign {campaign_id!r} is not in this neighbour index")
        vector, exclude = self.fingerprints_[i], [*map(str, exclude), self.ids_[i]]
        term = None if self.terms_ is None else self._stored_term_similarities(i)
        query = None if self.vectors_ is None else self.vectors_[i]
        return self._ranked(vector, term, query, k, exclude, allowed,
                            self._groups_of(i, vector, term, query))

    def _ranked(self, vector: np.ndarray, term: np.ndarray | None, query: np.ndarray | None,
                k: int, exclude: Collection[str], allowed: np.ndarray | None,
                groups: np.ndarray | None) -> list[Neighbor]:
        """The k best for a fingerprint, its term similarities to every campaign, its
        campaign vector and its groups (each may be None): pruned by the term part when
        there is one, else one sweep."""
        share = None if groups is None else neighbor_groups.shares(self.groups_, groups)
        if term is not None:
            return self._blended_top(vector, term, query, share, k, exclude, allowed)
        topic = self.topic_similarities(vector)
        vec = None if query is None else self._vector_scores(query)
        return self._top(vector, self._ranking(self._blend(topic, None, vec), share), topic,
                         None, vec, share, k, exclude, allowed)

    def warm(self) -> None:
        """Load the compiled term loop now (numba, ~0.3 s once per process), not in the
        first query (a long-running service calls this when it loads a model)."""
        if self.terms_ is not None and len(self.ids_):
            self._stored_term_similarities(0)

    def _stored_term_similarities(self, i: int) -> np.ndarray:
        """Cosine of fitted campaign i's TF-IDF row (already expanded and normalised) with
        every campaign's: `terms_csc_[:, row.indices] @ row.data`, computed in place by
        `core.model.term_kernel` (the same float32 values)."""
        from core.model.term_kernel import add_columns_dot  # numba: loaded on first use

        rows = self.terms_
        start, stop = rows.indptr[i], rows.indptr[i + 1]
        out = np.zeros(len(self.ids_), dtype=np.float32)
        if stop > start:
            csc = self.terms_csc_
            add_columns_dot(csc.indptr, csc.indices, csc.data, rows.indices[start:stop],
                            rows.data[start:stop], out)
        return out

    def _blend(self, topic: np.ndarray, term: np.ndarray | None,
               vec: np.ndarray | None) -> np.ndarray:
        """The weighted sum of the parts given, in float32 (topic itself when it is the
        only one). A part the index has but a query lacks (no terms) leaves the topic
        similarity alone: the weights are the index's."""
        if term is None and vec is None:
            return topic
        w_topic, w_term, w_vec = (np.float32(w) for w in self.weights_)
        combined = topic * w_topic
        if term is not None:
            combined += term * w_term
        if vec is not None:
            combined += vec * w_vec
        return combined

    def _ranking(self, blend: np.ndarray, share: np.ndarray | None,
                 rows: np.ndarray | None = None) -> np.ndarray:
        """What the index ranks by: the blend, with the group share (of `rows`, or of
        every campaign) at `group_weight` when the query has groups."""
        if share is None:
            return blend
        ranked = blend * np.float32(1 - self.group_weight)  # not in place: the blend may be
        ranked += (share if rows is None else share[rows]) * np.float32(self.group_weight)
        return ranked                                       # the topic part itself

    def _blended_top(self, vector: np.ndarray, term: np.ndarray, query: np.ndarray | None,
                     share: np.ndarray | None, k: int, exclude: Collection[str],
                     allowed: np.ndarray | None) -> list[Neighbor]:
        """The k best by blended similarity, computing topic (and vector) similarity only
        where it can change the answer.

        A campaign's blend is at most `w_term * term + (w_topic + w_vector)` (topic and
        vector similarity are at most 1). The `PRUNE_SAMPLE` campaigns with the most term
        similarity are scored in full; their k-th best blend is a floor that the answer
        reaches, so only campaigns whose bound reaches the floor can be in it, and only
        theirs are scored. At 100,000 campaigns that was 0.6% of them on average (p90
        1.8%) with topics and terms alone, instead of one sweep of the 20 MB fingerprint
        matrix per query. With campaign vectors, the topics of the rows left tighten
        their bound to `w_topic * topic + w_term * term + w_vector`, and only the rows that
        still reach the floor get a vector similarity. Where more than a quarter remain
        (weak term matches: a few pasted keywords), every campaign's vector similarity is
        computed first (32 numbers a campaign against K = 50 topics: 17 against 33 ms at
        1,000,000 campaigns), which leaves only `w_topic` to bound; where still more than
        a quarter remain, every campaign's topics are scored. Same neighbours in the same
        order as the sweep, but for campaigns within float32 rounding of each other: BLAS
        may sum a row of a smaller product in another order, and near identical
        fingerprints the square root magnifies that last bit to ~1e-5 of topic similarity
        (a test compares them). With groups (`share`, known for every campaign at once)
        the blend's parts count at `1 - group_weight` of their weights and the share is
        in every bound from the start.
        """
        self.topic_similarities(vector, np.zeros(0, dtype=np.intp))  # checks the vector
        of_blend = np.float32(1 if share is None else 1 - self.group_weight)
        w_topic, w_term, w_vector = (np.float32(w) * of_blend for w in self.weights_)
        rest = w_topic + w_vector               # all that topics and vectors can add
        bound = term * w_term
        if share is not None:
            bound += share * np.float32(self.group_weight)
        self._mask(bound, exclude, allowed)
        k = min(int(k), int(np.count_nonzero(np.isfinite(bound))))
        if k <= 0:
            return []

        sample = _largest(bound, min(max(PRUNE_SAMPLE, 4 * k), bound.size))
        sample = sample[np.isfinite(bound[sample])]
        blend = self._ranking(self._blend(
            self.topic_similarities(vector, sample), term[sample],
            None if query is None else self._vector_scores(query, sample)), share, sample)
        floor = np.partition(blend, blend.size - k)[blend.size - k]
        # 1e-6: the float32 roundings of the blend, so that no campaign at the floor is lost
        rows = np.flatnonzero(bound >= floor - rest - np.float32(1e-6))
        swept = None
        if rows.size > bound.size // 4 and query is not None:
            # Too many left: every campaign's vector similarity (D numbers each, fewer than
            # the K of its topics) tightens the bound to what topics can add.
            swept = self._vector_scores(query)
            bound += swept * w_vector
            rows = np.flatnonzero(bound >= floor - w_topic - np.float32(1e-6))
        if rows.size > bound.size // 4:
            everywhere = self.topic_similarities(vector)
            if query is None:
                return self._top(vector, self._ranking(self._blend(everywhere, term, None),
                                                       share), everywhere, term, None, share,
                                 k, exclude, allowed)
            topic = everywhere[rows]
        else:
            topic = self.topic_similarities(vector, rows)
        term, vec = term[rows], None
        if swept is not None:
            vec = swept[rows]
        elif query is not None:
            # now that topics are known, vectors can add at most their weight
            partial = self._ranking(self._blend(topic, term, None), share, rows)
            keep = np.flatnonzero(partial >= floor - w_vector - np.float32(1e-6))
            rows, topic, term = rows[keep], topic[keep], term[keep]
            vec = self._vector_scores(query, rows)
        combined = self._ranking(self._blend(topic, term, vec), share, rows)
        order = np.lexsort((rows, -combined))[:k]  # best first; ties in fitted order
        return self._neighbors(vector, rows[order], combined[order], topic[order],
                               term[order], None if vec is None else vec[order],
                               None if share is None else share[rows[order]])

    def _mask(self, scores: np.ndarray, exclude: Collection[str],
              allowed: np.ndarray | None) -> None:
        """-inf in place where a campaign may not be returned."""
        if allowed is not None:
            mask = np.asarray(allowed, dtype=bool)
            if mask.shape != scores.shape:
                raise InputError(f"allowed mask has {mask.size} entries for "
                                 f"{scores.size} campaigns")
            scores[~mask] = -np.inf
        drop = [self.position_[c] for c in map(str, exclude) if c in self.position_]
        if drop:
            scores[drop] = -np.inf

    def _top(self, vector: np.ndarray, combined: np.ndarray, topic: np.ndarray,
             term: np.ndarray | None, vec: np.ndarray | None, share: np.ndarray | None,
             k: int, exclude: Collection[str], allowed: np.ndarray | None
             ) -> list[Neighbor]:
        """The k best of a sweep over every campaign."""
        scores = combined.copy()
        self._mask(scores, exclude, allowed)
        k = min(int(k), int(np.count_nonzero(np.isfinite(scores))))  # 3x faster than sum
        if k <= 0:
            return []
        top = _largest(scores, k)
        top = top[np.isfinite(scores[top])]
        top = top[np.lexsort((top, -scores[top]))]  # best first; ties in fitted order
        return self._neighbors(vector, top, combined[top], topic[top],
                               None if term is None else term[top],
                               None if vec is None else vec[top],
                               None if share is None else share[top])

    def _neighbors(self, vector: np.ndarray, rows: np.ndarray, combined: np.ndarray,
                   topic: np.ndarray, term: np.ndarray | None,
                   vec: np.ndarray | None, share: np.ndarray | None = None) -> list[Neighbor]:
        """The found rows as `Neighbor`s, their similarities as shown (`shown_similarities`:
        the floors of the CLI, the service, Lookup and the actions compare these)."""
        q = np.clip(np.asarray(vector, dtype=np.float64).ravel(), 0, None)
        q = q / q.sum()
        shared = self._shared_topics(q, rows)
        # rounded in one call: ~4 us of CPU for 10 neighbours, where a call per part took ~33
        parts = [p for p in (combined, topic, term, vec, share) if p is not None]
        flat, n = shown_similarities(np.concatenate(parts)), len(rows)
        values = iter([flat[j * n:(j + 1) * n] for j in range(len(parts))])
        combined, topic = next(values), next(values)
        none = [None] * len(rows)
        terms = none if term is None else next(values)
        vecs = none if vec is None else next(values)
        groups = none if share is None else next(values)
        return [Neighbor(campaign_id=str(self.ids_[i]), similarity=c, topic_similarity=t,
                         term_similarity=s, shared_topics=topics, vector_similarity=v,
                         group_similarity=g)
                for i, c, t, s, v, g, topics in zip(rows, combined, topic, terms, vecs,
                                                    groups, shared, strict=True)]

    def _shared_topics(self, q: np.ndarray, rows: np.ndarray) -> list[tuple[int, ...]]:
        """Per fitted row: the topics holding at least `shared_topic_min` in both `q` and
        the row, strongest (largest smaller weight) first, ties by topic id. One numpy
        call for all rows, then plain Python over their few strong topics."""
        both = np.minimum(q, self.fingerprints_[rows])[:, :self.shown_topics]
        strong = both >= self.shared_topic_min
        result = []
        for weights, keep in zip(both.tolist(), strong.tolist(), strict=True):
            topics = [t for t, kept in enumerate(keep) if kept]
            topics.sort(key=lambda t: -weights[t])  # stable, as argsort(kind="stable")
            result.append(tuple(topics))
        return result

    def __len__(self) -> int:
        self._check_fitted()
        return len(self.ids_)

    def _check_fitted(self) -> None:
        if not hasattr(self, "fingerprints_"):
            raise RuntimeError("NeighborIndex is not fitted: call fit(fingerprints, ids) first")


def shown_similarities(values: np.ndarray) -> list[float]:
    """float32 similarities as every answer shows them: float64 to
    `jsonable.SIMILARITY_DECIMALS` (why six: there). Rounded where a `Neighbor` is made,
    not where it is printed, so that a floor is compared with the number shown: kept at
    0.2999996 under a 0.3 floor, a neighbour would have read 0.3 and been left out (or
    marked not *similar enough*). Rounding keeps the order (it never reverses two
    scores); neighbours closer than a millionth may read equal."""
    return jsonable.rounded(values, jsonable.SIMILARITY_DECIMALS)


def _largest(scores: np.ndarray, k: int) -> np.ndarray:
    """Positions of the k largest scores (any order): `np.argpartition(-scores, k - 1)[:k]`,
    which took ~0.4 ms of a query over 100,000 campaigns, usually without it. A strided
    sample's k-th largest value t has at least k scores at or above it, so those few
    candidates hold the k largest; when exactly k scores reach the k-th largest value the
    answer is that set, whatever picks it. A tie across the k-th place (or no finite t)
    goes to argpartition itself, so the same positions come out either way."""
    n = scores.size
    if k >= n:
        return np.arange(n)
    step = n // (20 * k)
    if step >= 4:
        sample = scores[::step]
        t = np.partition(sample, sample.size - k)[sample.size - k]
        if np.isfinite(t):
            candidates = np.flatnonzero(scores >= t)
            values = scores[candidates]
            picked = np.argpartition(-values, k - 1)[:k]
            # every score at or above the k-th largest is a candidate (it is >= t)
            if np.count_nonzero(values >= values[picked].min()) == k:
                return candidates[picked]
    return np.argpartition(-scores, k - 1)[:k]


def shared_topic_names(topics: Sequence[int], topic_names: Sequence[str] | None = None
                       ) -> str:
    """Shared topics as one string of names ("topic 3" where a topic has no name)."""
    def name(t: int) -> str:
        given = topic_names[t] if topic_names is not None and t < len(topic_names) else None
        return str(given) if given and str(given).strip() else f"topic {t}"

    return ", ".join(name(t) for t in topics)


def neighbors_frame(neighbors: Sequence[Neighbor],
                    topic_names: Sequence[str] | None = None) -> pd.DataFrame:
    """Neighbours as a table (one row each); shared topics as names when given."""
    def names(topics: tuple[int, ...]) -> str:
        return shared_topic_names(topics, topic_names)

    return pd.DataFrame({
        "campaign_id": [n.campaign_id for n in neighbors],
        "similarity": [n.similarity for n in neighbors],
        "topic_similarity": [n.topic_similarity for n in neighbors],
        "term_similarity": [n.term_similarity for n in neighbors],
        "vector_similarity": [n.vector_similarity for n in neighbors],
        "group_similarity": [n.group_similarity for n in neighbors],
        "shared_topics": [names(n.shared_topics) for n in neighbors],
    })


def label_precision(index: NeighborIndex, labels: Sequence[str], k: int = 10,
                    queries: Sequence[int] | None = None) -> float:
    """Mean share of each campaign's k neighbours with its own label (precision@k).

    Checks neighbour quality against any ground-truth column (e.g. the demo's vertical).
    `queries`: positions to use as queries (default: all fitted campaigns).
    """
    labels = np.asarray([str(x) for x in labels], dtype=object)
    if len(labels) != len(index):
        raise InputError(f"{len(labels)} labels for {len(index)} campaigns")
    positions = range(len(labels)) if queries is None else queries
    scores = []
    for i in positions:
        found = index.query_id(index.ids_[i], k)
        if found:
            same = [labels[index.position_[n.campaign_id]] == labels[i] for n in found]
            scores.append(float(np.mean(same)))
    return float(np.mean(scores)) if scores else float("nan")
