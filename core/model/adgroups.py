"""Wrong ad group: search terms that a keyword of another ad group of the same campaign
matches better than any keyword of the ad group that served them (action kind
`wrong_ad_group`).

A search term lands in the ad group whose keyword won the auction; with broad match that is
often not the ad group written for it, so it gets that group's ads and landing page.
Moving it (as a keyword of the better group, and a negative in the one that caught it)
sends the query to the ad that speaks to it.

**Why keywords, not topics.** Ad groups of one business share topics (a K=40 model of the
demo gives "sprinkler repair" and "lawn care" one topic) and share most words ("repair",
"near me"), so topic cosines and word likelihoods over whole ad groups flag terms whose
own group simply has few keywords (measured on the demo: topic + word-share rule precision
0.15, a smoothed per-ad-group naive Bayes 0.46–0.65). What an account manager checks is
the keyword: a term fits an ad group when all the content words (stop and place words
aside) of one of its keywords are in the term, the way phrase and broad match read it.

**Rule.** A search term with at least `min_clicks` clicks is in the wrong ad group when
another ad group of the campaign has a keyword that matches it with more content words
than any keyword of its own group (`min_gain`), and its own group does not already serve
the words that keyword adds (each of them in another keyword or search term of the
group: then the group demonstrably takes such queries), and its words are the campaign's
(`campaign_words_only`: unless the term converted, each of its words, place words aside,
is in a keyword or converting search term of the campaign, or in at least `recurring`
other search terms; a query with a word the campaign never bids on that never converted,
"... reddit", "how to become ...", is a negative, not a move). Terms of an ad group with
no keywords (nothing to judge it by), and brand/competitor ad groups, are left alone.

**The own group's claim.** A better keyword that is a part of the term ("dentist" of
"emergency dentist") does not make a move when the rest of the term is a theme of its own:
- *by name*: a word of the term beyond the matched keyword is a word of its own ad group's
  name and not of the other's ("emergency" in "Emergency Dental"): the advertiser built
  the group for it;
- *by topic* (with a model): a word of the term beyond the matched keyword that no term
  of the better group uses and that the topic model puts mostly in one topic (the largest
  share of its topic mix at least `theme_share`) names a product of its own ("reverse"
  mortgage, "mouse" exterminator, hotel with "meeting" rooms). Modifiers ("cheap", "for
  startups", "2026") are spread over topics and do not block a move. On the demo's
  planted truth (K=40, three generator seeds) this claim took precision from 0.85-0.88
  (name claim only) to 0.92-0.96 at a recall cost of at most 0.01; 0.5 lost rare
  modifiers ("for nonprofits") as themes, 0.8 kept almost every false move.
The topic model's fit (cosine of the term's topic mix with each group's keywords') is
shown as evidence when a model is given. `score` is 0.2 + the share of the campaign's
search-term cost that was misrouted (capped at 1).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.errors import counted, plural
from core.model.actions import Action, normalize_term

KIND = "wrong_ad_group"
_BY_NAME = re.compile(r"(?i)^\s*(?:brand|competitor)")


@dataclass(frozen=True)
class AdGroupSettings:
    min_clicks: int = 1            # a term nobody clicked sent nobody to the wrong ad
    min_gain: int = 1              # content words the better keyword matches beyond own's
    recurring: int = 2             # other search terms that make a word the campaign's
    campaign_words_only: bool = True  # every content word of a moved term is the campaign's
    theme_share: float = 0.6       # a word this much in one topic names a theme (see above)
    listed: int = 20


def _unit(rows: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(rows, axis=-1, keepdims=True)
    return np.divide(rows, norms, out=np.zeros_like(rows), where=norms > 0)


def wrong_ad_group(campaign_terms: pd.DataFrame,
                   term_topics: Callable[[Sequence[str]], np.ndarray | None] | None = None,
                   settings: AdGroupSettings | None = None,
                   notes: list[str] | None = None) -> Action | None:
    """The `wrong_ad_group` action of one campaign, or None (see the module docstring).

    term_topics: terms -> topic mixes (rows sum to 1), for the fits shown as evidence and
    the topic claim of the own group."""
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
    for c in ("clicks", "conversions"):
        table[c] = (pd.to_numeric(rows[c], errors="coerce").fillna(0).to_numpy()
                    if c in rows else 0.0)
    distinct = table.groupby(["term", "ad_group", "search"], sort=False,
                             as_index=False)[["clicks", "conversions"]].sum()
    ignore = _ignored()
    content = [frozenset(w for w in t.split() if w not in ignore) for t in distinct["term"]]
    search = distinct["search"].to_numpy()
    keywords: dict[str, dict[frozenset, str]] = {}
    served: dict[str, Counter] = {}
    for g, words, term, is_search in zip(distinct["ad_group"], content, distinct["term"],
                                         search, strict=True):
        served.setdefault(g, Counter()).update(words)
        if not is_search and words:
            keywords.setdefault(g, {}).setdefault(words, term)
    known = _campaign_words(distinct, s) if s.campaign_words_only else None
    found = []
    for i in np.flatnonzero(search & (distinct["clicks"].to_numpy() >= s.min_clicks)):
        words, own = content[i], distinct.at[i, "ad_group"]
        converted = distinct.at[i, "conversions"] > 0
        if not words or own not in keywords or not (known is None or converted or known(i)):
            continue
        best = {g: max(((len(k), t, k) for k, t in ks.items() if k <= words),
                       default=(0, "", frozenset()), key=lambda x: x[0])
                for g, ks in keywords.items()}
        better = max((g for g in best if g != own), key=lambda g: best[g][0], default=None)
        if better is None or best[better][0] - best[own][0] < s.min_gain:
            continue
        # The words the better keyword adds: when other terms of its own group use each of
        # them already, the group demonstrably serves such queries ("cheap", "rewards").
        if all(served[own][w] > 1 for w in best[better][2] - best[own][2]):
            continue
        # A word of the term that other terms of its own group use and no term of the
        # better group does ("snow" tires, "rewards" credit card): its own group's claim.
        rest = words - best[better][2]
        if any(served[own][w] > 1 and not served[better][w] for w in rest):
            continue
        if _name_claims(rest, own, better):
            continue
        found.append({"rest": rest - served[better].keys(),
                      "term": distinct.at[i, "term"], "current_ad_group": own,
                      "better_ad_group": better, "matched_keyword": best[better][1],
                      "own_keyword": best[own][1] or None})
    found = _without_theme_claims(found, term_topics, s.theme_share)
    if not found:
        return None
    found = pd.DataFrame(found).drop(columns="rest")
    found = _with_topic_fits(found, distinct, term_topics)
    figures = _figures(campaign_terms[kinds.reindex(campaign_terms.index).fillna("keyword")
                                      .eq("search_term")])
    found = found.merge(figures, how="left", left_on=["term", "current_ad_group"],
                        right_on=["term", "ad_group"]).drop(columns="ad_group")
    order = ["cost"] if "cost" in found and found["cost"].notna().any() else []
    found = found.sort_values([*order, "term"], ascending=[False] * len(order) + [True])
    total = float(figures["cost"].sum()) if "cost" in figures else 0.0
    moved = float(found["cost"].sum()) if "cost" in found else 0.0
    share = moved / total if total > 0 else 0.0
    top = found.iloc[0]
    n = len(found)
    return Action(
        kind=KIND,
        title=(f"Move {counted(n, 'search term')} to the ad group that fits "
               f"{plural(n, 'it', 'them')}"),
        reason=(f"{counted(n, 'search term')} {plural(n, 'is', 'are')} matched by a keyword "
                f"of another ad group of this campaign better than by any keyword of the one "
                f"that served {plural(n, 'it', 'them')} "
                f"({share:.0%} of its search-term cost); e.g. '{top['term']}' in "
                f"'{top['current_ad_group']}' is matched by '{top['matched_keyword']}' of "
                f"'{top['better_ad_group']}'"),
        score=float(min(1.0, 0.2 + share)),
        evidence=found.head(s.listed).reset_index(drop=True)[
            [c for c in ("term", "current_ad_group", "better_ad_group", "matched_keyword",
                         "own_keyword", "own_fit", "better_fit", "impressions", "clicks",
                         "cost", "conversions") if c in found]])


def _same_word(a: str, b: str) -> bool:
    """Same word up to a plural or a suffix ("hotel"/"hotels", "color"/"coloring")."""
    if a == b or a.rstrip("s") == b.rstrip("s"):
        return True
    short, long_ = sorted((a, b), key=len)
    return len(short) >= 4 and long_.startswith(short)


def _name_claims(rest: frozenset[str], own: str, other: str) -> bool:
    """Whether a word of `rest` is a word of the ad group name `own` and not of `other`."""
    mine, theirs = own.lower().split(), other.lower().split()
    return any(any(_same_word(w, n) for n in mine) and not any(_same_word(w, n) for n in theirs)
               for w in rest)


def _without_theme_claims(found: list[dict],
                          term_topics: Callable[[Sequence[str]], np.ndarray | None] | None,
                          theme_share: float) -> list[dict]:
    """The moves whose `rest` (words beyond the matched keyword that the better group does
    not use) holds no theme word: one the model puts mostly in one topic."""
    words = sorted({w for f in found for w in f["rest"]})
    theta = term_topics(words) if words and term_topics is not None else None
    if theta is None:
        return found
    themes = {w for w, mix in zip(words, theta, strict=True) if mix.max() >= theme_share}
    return [f for f in found if not f["rest"] & themes]


def _ignored() -> frozenset[str]:
    """Stop and place words: they say nothing about which ad group a query is for."""
    from core.model.namewords import place_words
    from core.model.ngrams import stop_words
    return stop_words() | place_words()


def _campaign_words(distinct: pd.DataFrame, s: AdGroupSettings) -> Callable[[int], bool]:
    """known(i): whether every word of term i (place words aside; stop words too) is a word
    of the campaign: in one of its keywords or converting search terms (other than term
    i), or in at least
    `s.recurring` other search terms. A query with a word the campaign never bids on nor
    converts with ("... reddit", "... jobs") is a negative candidate, not one to move."""
    from core.model.namewords import place_words
    places = place_words()
    # all words but places: "how to become …", "diy …" are off-topic by their stop words
    content = [frozenset(w for w in t.split() if w not in places) for t in distinct["term"]]
    search = distinct["search"].to_numpy()
    base_row = ~search | (distinct["conversions"].to_numpy() > 0)
    base = Counter(w for words, b in zip(content, base_row, strict=True) if b for w in words)
    anywhere = Counter(w for words, b in zip(content, search, strict=True) if b
                       for w in words)

    def known(i: int) -> bool:
        mine = 1 if base_row[i] else 0
        return all(base[w] - mine > 0 or anywhere[w] - 1 >= s.recurring for w in content[i])

    return known


def _with_topic_fits(found: pd.DataFrame, distinct: pd.DataFrame,
                     term_topics: Callable[[Sequence[str]], np.ndarray | None] | None
                     ) -> pd.DataFrame:
    """own_fit / better_fit: the cosine of the term's topic mix with the mean mix of each
    ad group's keywords (evidence only; None without a model)."""
    theta = None
    keywords = distinct[~distinct["search"]]
    if term_topics is not None:
        terms = list(dict.fromkeys([*found["term"], *keywords["term"]]))
        theta = term_topics(terms)
    if theta is None:
        return found
    row = {t: i for i, t in enumerate(terms)}
    profile = {g: _unit(theta[[row[t] for t in grp["term"]]].mean(axis=0))
               for g, grp in keywords.groupby("ad_group", sort=False)}
    mix = _unit(theta[[row[t] for t in found["term"]]])
    return found.assign(
        own_fit=[float(m @ profile[g]) for m, g in zip(mix, found["current_ad_group"],
                                                        strict=True)],
        better_fit=[float(m @ profile[g]) for m, g in zip(mix, found["better_ad_group"],
                                                           strict=True)])


def _figures(searches: pd.DataFrame) -> pd.DataFrame:
    """Impressions, clicks, cost, conversions per (normalised term, ad group)."""
    frame = pd.DataFrame({"term": searches["term"].map(normalize_term).to_numpy(),
                          "ad_group": searches["ad_group"].astype(str).to_numpy()})
    for c in ("impressions", "clicks", "cost", "conversions"):
        frame[c] = (pd.to_numeric(searches[c], errors="coerce").to_numpy() if c in searches
                    else np.nan)
    return frame.groupby(["term", "ad_group"], sort=False).sum(min_count=1).reset_index()
