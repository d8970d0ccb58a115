"""Negative keywords, safely: a match type for every suggested negative, and Google's
"negative keyword conflicts" check before anything is suggested.

How a negative blocks a search term (Google Ads' rules for negatives, which unlike
keywords do not extend to close variants):
- exact `[a b]`: the search term is exactly `a b`;
- phrase `"a b"`: the words `a b` appear in the search term, in this order, together;
- broad `a b`: every word of the negative appears in the search term, in any order.
Words are compared after NFKC, lower-casing and stripping match-type marks.

A suggested negative *conflicts* when it would block one of the campaign's own keywords
(the ads would stop showing for what the advertiser bids on) or a search term that
converted (it would cut conversions). Conflicting negatives are dropped from the
suggestion and the rows they would have blocked are listed, so a person can see why.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

from core.model.actions import normalize_term

MATCH_TYPES = ("exact", "phrase", "broad")
_MARKS = re.compile(r'[\[\]"+]')


def words(text: object) -> tuple[str, ...]:
    """Comparable words of a keyword, search term or negative (match marks stripped)."""
    return tuple(_MARKS.sub(" ", normalize_term(text)).split())


def match_type_for(negative: str, *, whole_search_term: bool) -> str:
    """The match type a suggested negative gets. A whole search term: exact (blocks that
    query only, the narrowest safe choice). A fragment of several words: phrase (blocks
    queries containing the fragment as written). A one-word fragment: broad (blocks
    every query with that word, which is what a wasteful single word means)."""
    if whole_search_term:
        return "exact"
    return "phrase" if len(words(negative)) > 1 else "broad"


def blocks(negative: tuple[str, ...], match_type: str, term: tuple[str, ...]) -> bool:
    """Whether a negative (as words) blocks a search term or keyword (as words)."""
    if not negative:
        return False
    if match_type == "exact":
        return negative == term
    if match_type == "phrase":
        n = len(negative)
        return any(term[i:i + n] == negative for i in range(len(term) - n + 1))
    if match_type == "broad":
        return set(negative) <= set(term)
    raise ValueError(f"unknown match type {match_type!r}; expected one of {MATCH_TYPES}")


@dataclass
class ConflictCheck:
    """Negatives that are safe to add, and what the others would have blocked."""

    safe: pd.DataFrame          # the candidates without conflicts (same columns)
    conflicts: pd.DataFrame     # negative, match_type, blocked, blocked_type, conversions


def protected_rows(campaign_terms: pd.DataFrame) -> pd.DataFrame:
    """What a negative must never block: the campaign's keywords and its search terms
    that converted (term, kind, conversions)."""
    kind = (campaign_terms["term_type"].fillna("keyword") if "term_type" in campaign_terms
            else pd.Series("keyword", index=campaign_terms.index))
    conversions = (pd.to_numeric(campaign_terms["conversions"], errors="coerce")
                   if "conversions" in campaign_terms
                   else pd.Series(float("nan"), index=campaign_terms.index))
    table = pd.DataFrame({"term": campaign_terms["term"].map(normalize_term),
                          "kind": kind.to_numpy(), "conversions": conversions.to_numpy()})
    table = (table.groupby(["term", "kind"], sort=False)["conversions"].sum(min_count=1)
             .reset_index())
    keep = (table["kind"] != "search_term") | (table["conversions"].fillna(0) > 0)
    return table[keep].reset_index(drop=True)


def check_conflicts(candidates: pd.DataFrame, campaign_terms: pd.DataFrame) -> ConflictCheck:
    """Split candidate negatives (columns `negative`, `match_type`) into safe ones and
    conflicts with the campaign's keywords or converting search terms."""
    protected = protected_rows(campaign_terms)
    protected_words = [words(t) for t in protected["term"]]
    found = []
    for negative, match_type in zip(candidates["negative"], candidates["match_type"],
                                    strict=True):
        neg = words(negative)
        for i, term in enumerate(protected_words):
            if blocks(neg, match_type, term):
                row = protected.iloc[i]
                found.append({"negative": negative, "match_type": match_type,
                              "blocked": row["term"],
                              "blocked_type": ("keyword" if row["kind"] != "search_term"
                                               else "converting search term"),
                              "conversions": row["conversions"]})
    conflicts = pd.DataFrame(found, columns=["negative", "match_type", "blocked",
                                             "blocked_type", "conversions"])
    safe = candidates[~candidates["negative"].isin(set(conflicts["negative"]))]
    return ConflictCheck(safe.reset_index(drop=True), conflicts)


def safeguard(action, campaign_terms: pd.DataFrame):
    """An `add_negatives` action with a match type per search term (exact: the whole
    term) and conflicting ones removed; None when every one of them conflicts."""
    evidence = action.evidence
    candidates = pd.DataFrame({"negative": evidence["term"],
                               "match_type": [match_type_for(t, whole_search_term=True)
                                              for t in evidence["term"]]})
    check = check_conflicts(candidates, campaign_terms)
    kept = evidence[evidence["term"].isin(set(check.safe["negative"]))]
    if kept.empty:
        return None
    action.evidence = kept.assign(match_type="exact").reset_index(drop=True)
    if not check.conflicts.empty:
        action.reason += (f"; {check.conflicts['negative'].nunique()} more left out: they "
                          "would block a keyword or a converting search term")
    return action
