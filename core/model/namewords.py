"""Words that name an advertiser or a place rather than what is advertised.

Topic names and keyword ideas leave them out: "gym, bright, peak" names a topic after two
gyms' brands, and "packing services nottingham" is no idea for a mover in Liverpool.

**Place words** come from a list shipped with the code (`core/data/place_words.txt`, from
GeoNames; its header says how it was made): tokens of city, state and country names that
are not ordinary English words. A list, because nothing in keyword data tells a city
from a modifier: "nottingham" and "cheap" are both spread thinly over every vertical.

**Brand words** are detected per dataset from the account and campaign names. A word of
a name is a brand word when

1. the campaigns whose names hold it are mostly unrelated to each other: fewer than
   `BRAND_RELATED_SHARE` (60%) of their pairs are related, a pair being related when the
   cosine of their keyword TF-IDF rows is at least `RELATED_COSINE` (0.1). A vertical
   word such as "plumbing" joins campaigns of one kind; "frontier" or "peak" join a
   landscaper, a dentist and a gym. Or
2. it is held by the names of at most two owners (accounts, else campaigns) and at least
   90% of the campaigns that use it in keywords are those holders: the advertiser's
   own name ("akashi" in Sony's akashi_brand and akashi_nonbrand), or
3. fewer than `HOLDERS_USING` (80%) of the campaigns whose names hold it use it in their
   keywords: a business says what it sells in nearly every campaign (dental 0.92,
   solar 1.00, software 1.00, car 1.00 on the demo), its own name only in brand
   campaigns (aspen 0.67, valley 0.57, vista 0.39, titan 0.35; these brand names sit in
   one vertical, so rule 1 cannot see them).

Measured on the committed demo (3,000 campaigns): the corpus-wide mean cosine of two
campaigns is 0.04, of two campaigns of one vertical 0.3-0.6, so 0.1 separates related
pairs. Related-pair shares of words in names: vertical words plumbing 0.99, dental 1.00,
moving 1.00, software 1.00, law 0.89, storage 0.76; brand words peak 0.11, elite 0.17,
bright 0.23, frontier 0.43, zenith 0.51 (brand names of the demo cluster in a few
verticals); targeting words national 0.07, uk 0.10. 0.6 sits between the two groups.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

PLACE_FILE = Path(__file__).parent.parent / "data" / "place_words.txt"
RELATED_COSINE = 0.1        # two campaigns are related at this keyword cosine or above
BRAND_RELATED_SHARE = 0.6   # a name word joining fewer related pairs than this is a brand
HOLDERS_USING = 0.8         # rule 3: share of holders using the word in keywords
MAX_HOLDERS = 300           # holders sampled per word to measure it (cost ~ holders^2)
OWNED_SHARE = 0.9           # share of a word's users that are its holders (rule 2)
OWNED_MAX_OWNERS = 2        # rule 2 applies to words in at most this many owners' names
_NAME_SEPARATORS = re.compile(r"[_\-–—|/.:,()\[\]]+")


@cache
def place_words() -> frozenset[str]:
    """The shipped place-word list (lower-case tokens)."""
    lines = PLACE_FILE.read_text("utf-8").splitlines()
    return frozenset(w.strip() for w in lines if w.strip() and not w.startswith("#"))


@dataclass(frozen=True)
class NameWords:
    """Brand and place words of one dataset's vocabulary."""

    brand: frozenset[str] = frozenset()
    place: frozenset[str] = frozenset()

    def __contains__(self, word: object) -> bool:
        return word in self.brand or word in self.place

    def to_dict(self) -> dict[str, list[str]]:
        return {"brand": sorted(self.brand), "place": sorted(self.place)}

    @classmethod
    def from_dict(cls, data: dict | None) -> NameWords:
        data = data or {}
        return cls(frozenset(data.get("brand", ())), frozenset(data.get("place", ())))


def name_tokens(tokenizer, names: Iterable[object]) -> list[list[str]]:
    """Tokens of account or campaign names, split on `_ - | / .` as well (file names)."""
    texts = [_NAME_SEPARATORS.sub(" ", str(n)) if n is not None and not pd.isna(n) else ""
             for n in names]
    return tokenizer.tokenize_terms(texts)


def detect(counts: sp.spmatrix, vocabulary: Sequence[str], campaign_names: Sequence[object],
           accounts: Sequence[object], tokenizer) -> NameWords:
    """Brand and place words among `vocabulary` (see the module docstring).

    counts: campaigns x vocabulary term counts; campaign_names, accounts: one per row
    (None where unknown); tokenizer: the model's, so names split as keywords do.
    """
    counts = sp.csr_matrix(counts, dtype=np.float64)
    n, v = counts.shape
    column = {w: j for j, w in enumerate(vocabulary)}
    places = place_words()
    place = frozenset(w for w in vocabulary if w in places)
    if n == 0:
        return NameWords(frozenset(), place)
    owners = np.array([str(a) if a is not None and not pd.isna(a) else f"campaign:{i}"
                       for i, a in enumerate(accounts)], dtype=object)
    holder_rows, holder_cols = [], []
    for i, (a, c) in enumerate(zip(name_tokens(tokenizer, accounts),
                                   name_tokens(tokenizer, campaign_names), strict=True)):
        for w in set(a) | set(c):
            j = column.get(w)
            if j is not None:
                holder_rows.append(i)
                holder_cols.append(j)
    if not holder_rows:
        return NameWords(frozenset(), place)
    holders = sp.csc_matrix((np.ones(len(holder_rows)), (holder_rows, holder_cols)),
                            shape=(n, v))
    holders.data[:] = 1.0
    users = counts.tocsc()
    # scikit-learn here, not at the top: every command that reads the registry imports
    # this module, and scikit-learn took ~0.9 s of `python -m core models`' 2.7 s.
    from sklearn.feature_extraction.text import TfidfTransformer
    from sklearn.preprocessing import normalize

    rows = normalize(TfidfTransformer(sublinear_tf=True).fit_transform(counts)).tocsr()
    brand = set()
    for j in np.flatnonzero(np.diff(holders.indptr)):
        held = holders.indices[holders.indptr[j]:holders.indptr[j + 1]]
        held = np.unique(held)
        n_owners = len(set(owners[held]))
        if len(held) >= 2 and n_owners >= 2:
            sample = held
            if len(held) > MAX_HOLDERS:
                sample = np.sort(np.random.default_rng(j).choice(held, MAX_HOLDERS,
                                                                 replace=False))
            pairs = (rows[sample] @ rows[sample].T).toarray()
            upper = pairs[np.triu_indices(len(sample), 1)]
            if (upper >= RELATED_COSINE).mean() < BRAND_RELATED_SHARE:
                brand.add(vocabulary[j])
                continue
        used = users.indices[users.indptr[j]:users.indptr[j + 1]]
        owned = (n_owners <= OWNED_MAX_OWNERS and len(used) > 0
                 and np.isin(used, held).mean() >= OWNED_SHARE)
        if owned or np.isin(held, used).mean() < HOLDERS_USING:
            brand.add(vocabulary[j])
    return NameWords(frozenset(brand), place)


def foreign_words(tokenizer, source_names: Iterable[object],
                  own_words: Iterable[str]) -> set[str]:
    """Words of another campaign's account and campaign names that this campaign does
    not use itself: an idea carrying one of them carries that advertiser's name."""
    own = set(own_words)
    return {w for tokens in name_tokens(tokenizer, source_names) for w in tokens} - own
