"""Wrong ad group: search terms whose topic fits another ad group of the same campaign much
better than the one that served them (action kind `wrong_ad_group`).

A search term lands in the ad group whose keyword matched it; with broad match that is
often not the ad group written for it, so it gets that group's ads and landing page.
Moving it (as a keyword of the better group, and a negative in the one that caught it)
sends the query to the ad that speaks to it.

**Fit.** Each search term's topic mix is the model's fold-in of the term
(`core.model.actions.term_topic_fit_from`). Each ad group's fingerprint is the mean topic mix
of its distinct keywords; an ad group with fewer than `min_profile_terms` keywords uses
its search terms, leaving out the term being judged. The fit of a term to an ad group
is the cosine of the two mixes (1: the same topics, 0: none in common).

**Word fit.** Ad groups of one business often share a topic (a K=40 model of the demo
gives "sprinkler repair" and "lawn care" one topic), so words decide too: the IDF-weighted
share of the term's words that an ad group's profile terms use (words every ad group
uses weigh little).

**Rule.** A search term is in the wrong ad group when another ad group of the campaign
fits it by topic at least `min_fit` (0.6) and `min_gain` (0.4) more than its own, or by
words at least `min_word_fit` (0.5) and `min_word_gain` (0.5) more than its own without
losing more than `topic_slack` (0.1) topic fit; and all its words (stop and place words
aside) occur in the campaign's keywords or converting search terms (`campaign_words_only`:
a query with a word the campaign never bids on, "… reddit", is a negative, not a move).
Terms of an ad group with no profile, and brand/competitor ad groups, are left alone.
Measured by moving two search terms between themed ad groups of 56 demo campaigns: the
defaults give precision 0.74, recall 0.40 (0.4/0.4 word thresholds: 0.68/0.42; without
the campaign-words rule 0.59/0.55). `score` is 0.2 + the share of the campaign's
search-term cost that was misrouted (capped at 1).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.model.actions import Action, normalize_term

KIND = "wrong_ad_group"
_BY_NAME = re.compile(r"(?i)^\s*(?:brand|competitor)")


@dataclass(frozen=True)
class AdGroupSettings:
    min_fit: float = 0.6           # cosine of the term with the better ad group
    min_gain: float = 0.4          # better fit minus own fit
    min_profile_terms: int = 2     # keywords an ad group needs to be profiled by them
    min_word_fit: float = 0.5      # word fit of the term with the better ad group
    min_word_gain: float = 0.5     # better word fit minus own
    topic_slack: float = 0.1       # a word-fit move may lose at most this much topic fit
    campaign_words_only: bool = True  # every word of a moved term is a word of the campaign
    listed: int = 20


def _unit(rows: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(rows, axis=-1, keepdims=True)
    return np.divide(rows, norms, out=np.zeros_like(rows), where=norms > 0)


def wrong_ad_group(campaign_terms: pd.DataFrame,
                   term_topics: Callable[[Sequence[str]], np.ndarray | None],
                   settings: AdGroupSettings | None = None,
                   notes: list[str] | None = None) -> Action | None:
    """The `wrong_ad_group` action of one campaign, or None (see the module docstring).

    term_topics: terms -> topic mixes (rows sum to 1, zero rows for unknown words)."""
    s = settings or AdGroupSettings()
    if "ad_group" not in campaign_terms or "term_type" not in campaign_terms:
        return None
    named = campaign_terms["ad_group"].astype(str).str.strip()
    # Brand and competitor ad groups are organised by whose name a term holds, not by
    # topic (core.model.brand): terms are not moved into or out of them.
    rows = campaign_terms[campaign_terms["ad_group"].notna() & (named != "")
                          & ~named.str.contains(_BY_NAME)]
    kinds = rows["term_type"].fillna("keyword")
    if rows["ad_group"].nunique() < 2 or not (kinds == "search_term").any():
        return None
    table = pd.DataFrame({"term": rows["term"].map(normalize_term).to_numpy(),
                          "ad_group": rows["ad_group"].astype(str).to_numpy(),
                          "search": (kinds == "search_term").to_numpy()})
    distinct = table.drop_duplicates(["term", "ad_group", "search"]).reset_index(drop=True)
    theta = term_topics(list(dict.fromkeys(distinct["term"])))
    if theta is None:
        if notes is not None:
            notes.append("No topic model was given: wrong ad group checks need each term's "
                         "topic fit and were skipped.")
        return None
    position = {t: i for i, t in enumerate(dict.fromkeys(distinct["term"]))}
    mix = theta[[position[t] for t in distinct["term"]]]
    groups = list(dict.fromkeys(distinct["ad_group"]))
    k = theta.shape[1]
    sums, counts, by_keywords = np.zeros((len(groups), k)), np.zeros(len(groups)), []
    for g, name in enumerate(groups):
        mine = (distinct["ad_group"] == name).to_numpy()
        keywords = mine & ~distinct["search"].to_numpy()
        use_keywords = keywords.sum() >= s.min_profile_terms
        chosen = keywords if use_keywords else mine & distinct["search"].to_numpy()
        sums[g], counts[g] = mix[chosen].sum(axis=0), chosen.sum()
        by_keywords.append(use_keywords)
    searches = distinct[distinct["search"]].reset_index(drop=True)
    s_mix = mix[distinct["search"].to_numpy()]
    known = s_mix.sum(axis=1) > 0
    # Fingerprints as each term sees them: its own group's without itself when the group
    # is profiled by its search terms.
    group_of = np.array([groups.index(g) for g in searches["ad_group"]])
    profiles = np.repeat(sums[None, :, :], len(searches), axis=0)
    counts_seen = np.repeat(counts[None, :], len(searches), axis=0)
    for i, g in enumerate(group_of):
        if not by_keywords[g]:
            profiles[i, g] -= s_mix[i]
            counts_seen[i, g] -= 1
    profiled = counts_seen > 0
    fits = np.einsum("ik,igk->ig", _unit(s_mix), _unit(profiles))
    fits = np.where(profiled, fits, np.nan)
    own_fit = fits[np.arange(len(searches)), group_of]
    others = fits.copy()
    others[np.arange(len(searches)), group_of] = np.nan
    has_other = np.isfinite(others).any(axis=1)
    best = np.where(has_other, np.nanargmax(np.where(np.isfinite(others), others, -1), axis=1),
                    -1)
    best_fit = np.where(has_other, others[np.arange(len(searches)), np.maximum(best, 0)], np.nan)
    own_fit_or_zero = np.nan_to_num(own_fit, nan=0.0)
    by_topic = (known & has_other & (best_fit >= s.min_fit)
                & (best_fit - own_fit_or_zero >= s.min_gain))
    words = _word_fits(distinct, groups, by_keywords, s)
    w_fits = np.array([[words(t, g, own_g) for g in groups]
                       for t, own_g in zip(searches["term"], searches["ad_group"], strict=True)]
                      ).reshape(len(searches), len(groups))
    w_own = w_fits[np.arange(len(searches)), group_of]
    w_others = w_fits.copy()
    w_others[np.arange(len(searches)), group_of] = -1
    w_best = np.argmax(w_others, axis=1) if len(groups) > 1 else np.zeros(len(searches), int)
    w_best_fit = w_others[np.arange(len(searches)), w_best]
    topic_there = np.nan_to_num(fits[np.arange(len(searches)), w_best], nan=0.0)
    by_words = ((w_best_fit >= s.min_word_fit) & (w_best_fit - w_own >= s.min_word_gain)
                & (topic_there >= own_fit_or_zero - s.topic_slack))
    # the word fit names the better group when it decides; topic otherwise
    best = np.where(by_words, w_best, best)
    best_fit = np.where(by_words, topic_there, best_fit)
    by_topic &= (w_fits[np.arange(len(searches)), np.maximum(best, 0)] >= w_own)
    # A term whose own ad group has no profile (no keywords, no other search terms)
    # cannot be said to fit it worse.
    flagged = (by_topic | by_words) & np.isfinite(own_fit)
    if s.campaign_words_only:
        flagged &= _in_campaign_words(searches["term"], campaign_terms, kinds)
    if not flagged.any():
        return None
    figures = _figures(campaign_terms[kinds.reindex(campaign_terms.index).fillna("keyword")
                                      .eq("search_term")])
    found = searches[flagged].assign(
        better_ad_group=[groups[b] for b in best[flagged]],
        own_fit=own_fit[flagged], better_fit=best_fit[flagged],
        own_word_fit=w_own[flagged],
        better_word_fit=w_fits[np.arange(len(searches)), np.maximum(best, 0)][flagged])
    found = found.rename(columns={"ad_group": "current_ad_group"}).drop(columns="search")
    found = found.merge(figures, how="left", left_on=["term", "current_ad_group"],
                        right_on=["term", "ad_group"]).drop(columns="ad_group")
    found["gain"] = found["better_fit"] - found["own_fit"].fillna(0)
    order = ["cost", "gain"] if "cost" in found and found["cost"].notna().any() else ["gain"]
    found = found.sort_values([*order, "term"], ascending=[False] * len(order) + [True])
    total = float(figures["cost"].sum()) if "cost" in figures else 0.0
    moved = float(found["cost"].sum()) if "cost" in found else 0.0
    share = moved / total if total > 0 else 0.0
    top = found.iloc[0]
    n = len(found)
    own_top = 0.0 if pd.isna(top["own_fit"]) else float(top["own_fit"])
    return Action(
        kind=KIND,
        title=(f"Move {n} search term{'s' * (n > 1)} to the ad group that fits "
               f"{'them' if n > 1 else 'it'}"),
        reason=(f"{n} search term(s) fit another ad group of this campaign much better than "
                f"the one that served them (topic fit >= {s.min_fit:g} and >= {s.min_gain:g} "
                f"above their own; {share:.0%} of its search-term cost); e.g. '{top['term']}' "
                f"in '{top['current_ad_group']}' fits '{top['better_ad_group']}' "
                f"({top['better_fit']:.2f} vs {own_top:.2f})"),
        score=float(min(1.0, 0.2 + share)),
        evidence=found.head(s.listed).reset_index(drop=True)[
            [c for c in ("term", "current_ad_group", "better_ad_group", "own_fit", "better_fit",
                         "gain", "own_word_fit", "better_word_fit", "impressions", "clicks",
                         "cost", "conversions") if c in found]])


def _in_campaign_words(terms: pd.Series, rows: pd.DataFrame, kinds: pd.Series) -> np.ndarray:
    """Whether each term's words (stop and place words aside) all occur in the campaign's
    keywords or converting search terms: a query with a word the campaign never bids on
    nor converts with ("… reddit", "… jobs") is a negative candidate, not one to move."""
    from core.model.namewords import place_words
    from core.model.ngrams import stop_words
    ignore = stop_words() | place_words()
    conversions = pd.to_numeric(rows.get("conversions", pd.Series(0, index=rows.index)),
                                errors="coerce").fillna(0)
    kinds = kinds.reindex(rows.index).fillna("keyword")
    base = rows[(kinds != "search_term") | (conversions > 0)]["term"].map(normalize_term)
    vocabulary = {w for t in base for w in t.split()}
    return np.array([set(t.split()) - ignore <= vocabulary for t in terms], dtype=bool)


def _word_fits(distinct: pd.DataFrame, groups: list[str], by_keywords: list[bool],
               s: AdGroupSettings) -> Callable[[str, str, str], float]:
    """fit(term, group, own group): the IDF-weighted share of the term's words that the
    group's profile terms use (words every ad group uses weigh nothing; the term itself
    is left out of its own group's search-term profile)."""
    from core.model.ngrams import stop_words
    stop = stop_words()
    profile: dict[str, dict[str, int]] = {}
    for g, use_keywords in zip(groups, by_keywords, strict=True):
        mine = distinct[(distinct["ad_group"] == g) & (distinct["search"] != use_keywords)]
        counts: dict[str, int] = {}
        for t in mine["term"]:
            for w in set(t.split()) - stop:
                counts[w] = counts.get(w, 0) + 1
        profile[g] = counts
    n = len(groups)
    in_groups: dict[str, int] = {}
    for counts in profile.values():
        for w in counts:
            in_groups[w] = in_groups.get(w, 0) + 1

    def fit(term: str, group: str, own: str) -> float:
        words = set(term.split()) - stop
        weights = {w: np.log((n + 1) / in_groups[w]) for w in words if in_groups.get(w)}
        total = sum(weights.values())
        if total <= 0:
            return 0.0
        counts = profile[group]
        leave_out = group == own and not by_keywords[groups.index(group)]
        hit = sum(v for w, v in weights.items()
                  if counts.get(w, 0) - (1 if leave_out else 0) > 0)
        return float(hit / total)

    return fit


def _figures(searches: pd.DataFrame) -> pd.DataFrame:
    """Impressions, clicks, cost, conversions per (normalised term, ad group)."""
    frame = pd.DataFrame({"term": searches["term"].map(normalize_term).to_numpy(),
                          "ad_group": searches["ad_group"].astype(str).to_numpy()})
    for c in ("impressions", "clicks", "cost", "conversions"):
        frame[c] = (pd.to_numeric(searches[c], errors="coerce").to_numpy() if c in searches
                    else np.nan)
    return frame.groupby(["term", "ad_group"], sort=False).sum(min_count=1).reset_index()
