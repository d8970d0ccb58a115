"""Groups of campaigns found in their own neighbour graph: the fourth part of neighbour
similarity, for campaigns that sit in the same region of the corpus.

The blend of `core.model.neighbors` scores each pair alone. Where a campaign's words fall
between two regions (a business article on the politics of a merger, a plumber's campaign
that also sells heaters), the pair scores of the wrong region's members can beat those of
its own. Which region a campaign belongs to shows in the graph of every campaign's ten
nearest: its neighbours' neighbours. So the graph is cut into groups by spectral
clustering (the top eigenvectors of its normalised adjacency, Ng, Jordan & Weiss 2001;
each row assigned by the pivoted QR of Damle, Minden & Ying 2019, scikit-learn's
`cluster_qr`) at eleven sizes, 2 to 64 groups. No size is right for every corpus, so each
pair's group similarity is the share of the sizes at which the two fall in one group, and
the index ranks by `(1 - group_weight) * blend + group_weight * that share`.

Measured by `bench/neighbors.py` (precision@10 of same-label neighbours, every campaign
a query; seeds 0 / 1 / 2 of the topic model; docs/benchmarks.md, *Neighbour groups*),
`group_weight` 0.2: BBC 0.948 / 0.946 / 0.946 -> 0.953 / 0.949 / 0.951, M10 0.706 /
0.708 / 0.707 -> 0.711 / 0.713 / 0.712, the demo 0.990 -> 0.991. One size alone was no
better than the eleven on every corpus (5 groups, the number of BBC's sections, helps BBC
and costs the demo, with its 46 verticals); re-ranking by shared neighbours, diffusion over
the same graph (manifold ranking) and hubness corrections had moved BBC by less than 0.001
(docs/benchmarks.md, stops 26-34): the hard cut into groups is what helps.

Groups are found once per scoring (`find_groups`, from the index's own blend) and stored
with the fingerprints; a campaign the index has not seen (pasted keywords) takes, at each
size, the group most of its ten nearest are in (`vote`). Datasets of more than
`GROUPS_UP_TO` campaigns are not grouped: finding the groups would take minutes there.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import numpy as np
import scipy.linalg
import scipy.sparse as sp
from scipy.sparse.linalg import eigsh

if TYPE_CHECKING:
    from core.model.neighbors import NeighborIndex

# Groups at each size; a size needs at least MIN_PER_GROUP campaigns a group on average.
SIZES = (2, 3, 4, 6, 8, 11, 16, 23, 32, 45, 64)
MIN_PER_GROUP = 5
GRAPH_NEIGHBOURS = 10   # each campaign's nearest that make the graph (and a new one's vote)
# Groups are found for datasets up to this many campaigns. The graph's similarities grow
# with the square of the campaigns: at 20,000 demo campaigns the groups took 7.7 s on the
# 2-core machine, where scoring's fold-in takes 0.5 s (docs/benchmarks.md, *Neighbour
# groups*). Larger ones rank by the blend alone.
GROUPS_UP_TO = 20_000
NO_GROUP = -1           # a campaign with no neighbour at all shares no group
DEFAULT_GROUP_WEIGHT = 0.2
_DENSE_UP_TO = 1500     # campaigns: a dense eigensolver below, ARPACK above
_BLOCK = 512            # query rows per block of the graph's similarity products
_THREADS = 2


def sizes_for(n_campaigns: int) -> tuple[int, ...]:
    """The group counts used for `n_campaigns`: those of `SIZES` leaving at least
    `MIN_PER_GROUP` campaigns a group (none below 2 x MIN_PER_GROUP campaigns)."""
    return tuple(s for s in SIZES if s * MIN_PER_GROUP <= n_campaigns)


def neighbour_graph(index: NeighborIndex, k: int = GRAPH_NEIGHBOURS) -> sp.csr_matrix:
    """The symmetric graph of each fitted campaign's `k` nearest by the index's blend
    (without groups), edges weighted by that similarity (halved where only one of the two
    is among the other's nearest). Blocks of rows are scored at once, two at a time
    (numpy and the compiled term loop release the GIL)."""
    n = len(index)
    k = min(k, n - 1)
    blocks = [np.arange(start, min(start + _BLOCK, n)) for start in range(0, n, _BLOCK)]
    with ThreadPoolExecutor(max_workers=_THREADS) as pool:
        found = list(pool.map(lambda rows: index.nearest_rows(rows, k), blocks))
    cols = np.concatenate([top for top, _ in found]).ravel()
    vals = np.maximum(np.concatenate([sims for _, sims in found]).ravel(), 0)
    graph = sp.csr_matrix((vals, (np.repeat(np.arange(n), k), cols)),
                          shape=(n, n), dtype=np.float64)
    graph.eliminate_zeros()
    return ((graph + graph.T) / 2).tocsr()


def _assign(vectors: np.ndarray) -> np.ndarray:
    """Each row's group from an n-column spectral embedding: scikit-learn's `cluster_qr`
    (Damle, Minden & Ying 2019), deterministic, no k-means restarts."""
    n = vectors.shape[1]
    _, _, pivots = scipy.linalg.qr(vectors.T, pivoting=True)
    ut, _, v = scipy.linalg.svd(vectors[pivots[:n], :].T)
    return np.abs(vectors @ (ut @ v.conj())).argmax(axis=1)


class NeighborGroups:
    """Spectral groups of a neighbour graph at several sizes, scikit-learn style:
    `NeighborGroups().fit(graph).memberships_` is N x len(sizes_) int16, each campaign's
    group at each size (`NO_GROUP` where it has no edge)."""

    def __init__(self, sizes: tuple[int, ...] = SIZES) -> None:
        self.sizes = sizes

    def fit(self, graph: sp.spmatrix) -> NeighborGroups:
        graph = sp.csr_matrix(graph, dtype=np.float64)
        n = graph.shape[0]
        self.sizes_ = tuple(s for s in self.sizes if s in sizes_for(n))
        degree = np.asarray(graph.sum(axis=1)).ravel()
        linked = degree > 0
        self.memberships_ = np.full((n, len(self.sizes_)), NO_GROUP, dtype=np.int16)
        if not self.sizes_ or np.count_nonzero(linked) <= max(self.sizes_):
            return self
        scale = sp.diags(np.where(linked, 1 / np.sqrt(np.where(linked, degree, 1)), 0))
        adjacency = scale @ graph @ scale
        dims = max(self.sizes_)
        if n <= _DENSE_UP_TO:
            values, vectors = scipy.linalg.eigh(adjacency.toarray(),
                                                subset_by_index=[n - dims, n - 1])
        else:  # a fixed start vector: the same groups on every run
            values, vectors = eigsh(adjacency, k=dims, which="LA",
                                    v0=np.full(n, 1 / np.sqrt(n)), tol=1e-6)
        vectors = vectors[:, np.argsort(-values)]
        for j, size in enumerate(self.sizes_):
            self.memberships_[linked, j] = _assign(vectors[linked, :size])
        return self


def find_groups(index: NeighborIndex) -> np.ndarray | None:
    """The memberships of the index's campaigns (N x sizes, int16), or None where there
    are too few campaigns for two groups or more than `GROUPS_UP_TO`, the index has no
    term part to blend, or its fingerprints hold NaN (a broken model, which promotion
    refuses)."""
    if (not sizes_for(len(index)) or len(index) > GROUPS_UP_TO or not index.blends_terms
            or not np.isfinite(index.fingerprints_).all()):
        return None
    return NeighborGroups().fit(neighbour_graph(index)).memberships_


def shares(memberships: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Per campaign, the share of sizes at which it is in the query's group (float32; a
    size where either has no group counts as apart)."""
    same = (memberships == query) & (query != NO_GROUP)
    return same.sum(axis=1, dtype=np.float32) / np.float32(max(memberships.shape[1], 1))


def vote(memberships: np.ndarray, rows: np.ndarray) -> np.ndarray | None:
    """A new campaign's group at each size: the one most of `rows` (its nearest) are in,
    ties to the nearer; None without any."""
    if len(rows) == 0:
        return None
    picked = memberships[rows]
    out = np.full(memberships.shape[1], NO_GROUP, dtype=np.int16)
    for j in range(picked.shape[1]):
        column = picked[:, j][picked[:, j] != NO_GROUP]
        if column.size:
            groups, first, counts = np.unique(column, return_index=True, return_counts=True)
            out[j] = groups[np.lexsort((first, -counts))[0]]
    return out
