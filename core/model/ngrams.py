"""N-gram waste: 1-, 2- and 3-word fragments of search terms that spent and never converted
(Opteo's n-gram finder, Optmyzr's non-converting queries), as negative-keyword candidates.

Every search term adds its impressions, clicks, cost and conversions to each distinct
fragment it contains. A fragment is waste when, with no conversion at all:
- it had at least `clicks_needed` clicks, the number after which the campaign's own
  conversion rate r would have produced a conversion with probability 1 - alpha
  (zero conversions in c clicks has probability (1 - r)^c; c >= ln(alpha) / ln(1 - r),
  alpha = 0.1, at least `min_clicks`): fewer clicks without a conversion is chance;
- and it cost at least the campaign's cost per conversion: it spent what a conversion
  costs here, which is "material" in the campaign's own currency and scale;
- and its zero is beyond chance across the campaign: a campaign has ~100 material
  fragments, so single tests at alpha flag chance runs in most campaigns. A fragment
  counts when (1 - r)^c < family_alpha / (material fragments), r the conversion rate of
  the rest of the campaign (Bonferroni, family_alpha = 0.05). Measured on the demo's
  planted truth (`bench/actions.py`): the single test flagged fragments that did convert
  elsewhere in half of its suggestions; this one keeps precision above 0.9 and finds the
  planted waste of ~10 conversions' worth of clicks.
Fragments made only of stop words ("for the") are not candidates. A fragment whose
search terms costlier wasteful fragments already block is left out (it adds nothing).
Candidates go through `core.model.negatives.check_conflicts`: a fragment that would block one
of the campaign's keywords or converting search terms is not suggested, and the rows it
would block are shown.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

import numpy as np
import pandas as pd

from core.data.currencies import format_money, shown_sums
from core.data.schema import METRIC_COLUMNS
from core.errors import counted, plural
from core.model.actions import Action
from core.model.negatives import check_conflicts, match_type_for, words

KIND = "ngram_waste"


@dataclass(frozen=True)
class NgramSettings:
    max_n: int = 3            # longest fragment, in words
    alpha: float = 0.1        # chance of zero conversions accepted as "just luck"
    min_clicks: int = 10      # never judge a fragment on fewer clicks
    family_alpha: float = 0.05  # chance of any false flag among a campaign's fragments
    listed: int = 20          # fragments listed in the evidence
    examples: int = 5         # search terms shown per fragment


@cache
def stop_words() -> frozenset[str]:
    """spaCy's English stop words: fragments made only of them are never negatives."""
    try:
        from spacy.lang.en.stop_words import STOP_WORDS
    except ImportError:  # spaCy is a dependency; this only guards a trimmed install
        return frozenset()
    return frozenset(STOP_WORDS)


def fragments(term_words: tuple[str, ...], max_n: int = 3) -> set[tuple[str, ...]]:
    """The distinct 1- to max_n-word fragments (contiguous) of a term."""
    return {term_words[i:i + n] for n in range(1, max_n + 1)
            for i in range(len(term_words) - n + 1)}


def ngram_table(rows: pd.DataFrame, max_n: int = 3) -> pd.DataFrame:
    """Metrics per fragment over the search-term rows of `rows` (a campaign, or a whole
    account): ngram, n, search_terms, impressions, clicks, cost, conversions,
    cost_per_conversion, and `terms` (the search terms containing it)."""
    columns = ["ngram", "n", "search_terms", *METRIC_COLUMNS, "cost_per_conversion", "terms"]
    if "term_type" in rows:
        rows = rows[rows["term_type"] == "search_term"]
    if rows.empty:  # keywords only (a pasted campaign, a keyword report): nothing to sum
        return pd.DataFrame(columns=columns)
    metrics = pd.DataFrame({c: pd.to_numeric(rows[c], errors="coerce") if c in rows
                            else np.nan for c in METRIC_COLUMNS}, index=rows.index)
    metrics["term"] = rows["term"].map(lambda t: " ".join(words(t))).to_numpy()
    per_term = metrics.groupby("term", sort=False).sum(min_count=1).reset_index()
    per_term = per_term[per_term["term"] != ""]
    # Plain dicts: a campaign has tens to hundreds of search terms, where pandas' per-group
    # overhead cost 4x more than the sums themselves.
    sums: dict[str, list[float]] = {}
    terms: dict[str, list[str]] = {}
    values = per_term[list(METRIC_COLUMNS)].to_numpy(dtype=float)
    for term, row in zip(per_term["term"], values, strict=True):
        for fragment in fragments(tuple(term.split()), max_n):
            gram = " ".join(fragment)
            if gram not in sums:
                sums[gram] = [np.nan] * len(METRIC_COLUMNS)
                terms[gram] = []
            total = sums[gram]
            for j, value in enumerate(row):
                if value == value:  # not NaN: a metric never reported stays NaN
                    total[j] = value if total[j] != total[j] else total[j] + value
            terms[gram].append(term)
    if not sums:
        return pd.DataFrame(columns=columns)
    table = pd.DataFrame.from_dict(sums, orient="index", columns=list(METRIC_COLUMNS))
    table.index.name = "ngram"
    table = table.reset_index()
    table["terms"] = [terms[g] for g in table["ngram"]]
    table["search_terms"] = table["terms"].map(len)
    table["n"] = table["ngram"].str.count(" ") + 1
    conversions = table["conversions"]
    table["cost_per_conversion"] = (table["cost"] / conversions).where(conversions > 0)
    return table[columns]


def clicks_needed(conversion_rate: float, s: NgramSettings) -> int:
    """Clicks after which zero conversions is unlikely (< alpha) at this conversion rate."""
    if not 0 < conversion_rate < 1:
        return s.min_clicks
    return max(s.min_clicks, math.ceil(math.log(s.alpha) / math.log(1 - conversion_rate)))


def ngram_waste(campaign_terms: pd.DataFrame, settings: NgramSettings | None = None,
                notes: list[str] | None = None, currency: str | None = None) -> Action | None:
    """The `ngram_waste` action of a campaign (or an account's rows), or None. `currency`:
    the cost's, whose minor unit the reason and evidence show amounts in (a model in JPY
    said "spent 360.29", its evidence 200.23000000000002)."""
    s = settings or NgramSettings()
    notes = notes if notes is not None else []
    table = ngram_table(campaign_terms, s.max_n)
    if table.empty:
        return None
    searches = campaign_terms[campaign_terms["term_type"] == "search_term"] \
        if "term_type" in campaign_terms else campaign_terms
    totals = {c: pd.to_numeric(searches[c], errors="coerce").sum(min_count=1)
              if c in searches else np.nan for c in METRIC_COLUMNS}
    if pd.isna(totals["cost"]) or pd.isna(totals["conversions"]) or pd.isna(totals["clicks"]):
        notes.append("N-gram waste needs the search terms' clicks, cost and conversions.")
        return None
    if totals["conversions"] <= 0 or totals["clicks"] <= 0:
        notes.append("N-gram waste was not judged: the search terms have no conversions at "
                     "all (is conversion tracking on?).")
        return None
    rate = float(totals["conversions"] / totals["clicks"])
    cpa = float(totals["cost"] / totals["conversions"])
    need = clicks_needed(rate, s)
    stop = stop_words()
    material = table[(table["cost"] >= cpa)
                     & ~table["ngram"].map(lambda g: set(g.split()) <= stop)]
    wasteful = material[(material["conversions"].fillna(0) == 0)
                        & (material["clicks"] >= need)]
    wasteful = wasteful[_significant(wasteful, totals, len(material), s.family_alpha)]
    if wasteful.empty:
        return None
    wasteful = wasteful.assign(
        negative=wasteful["ngram"],
        match_type=[match_type_for(g, whole_search_term=False) for g in wasteful["ngram"]])
    check = check_conflicts(wasteful[["negative", "match_type"]], campaign_terms)
    safe = wasteful[wasteful["negative"].isin(set(check.safe["negative"]))]
    safe = _without_redundant(safe.sort_values(["cost", "n", "ngram"],
                                               ascending=[False, True, True]))
    blocked = {t for terms in safe["terms"] for t in terms}
    wasted = float(sum(_term_costs(searches).get(t, 0.0) for t in blocked))
    evidence = pd.DataFrame({
        "negative": safe["negative"], "match_type": safe["match_type"], "n": safe["n"],
        "status": "safe", "search_terms": safe["search_terms"],
        "impressions": safe["impressions"], "clicks": safe["clicks"], "cost": safe["cost"],
        "conversions": safe["conversions"],
        "blocks": safe["terms"].map(lambda ts: ", ".join(sorted(ts)[:s.examples])),
    }).head(s.listed)
    if not check.conflicts.empty:
        dropped = check.conflicts.groupby(["negative", "match_type"], sort=False).agg(
            blocked=("blocked", lambda b: ", ".join(list(b)[:s.examples])),
            blocked_type=("blocked_type", lambda b: ", ".join(sorted(set(b))))).reset_index()
        evidence = pd.concat([evidence, pd.DataFrame({
            "negative": dropped["negative"], "match_type": dropped["match_type"],
            "status": "dropped: conflicts with " + dropped["blocked_type"],
            "blocks": dropped["blocked"]})], ignore_index=True)
    evidence = shown_sums(evidence.astype({"n": "Int64", "search_terms": "Int64"}), currency)
    if safe.empty:
        n = len(check.conflicts['negative'].unique())
        notes.append(f"{counted(n, 'wasteful fragment')} {plural(n, 'was', 'were')} not "
                     "suggested as negatives: each would block a keyword or a converting "
                     "search term.")
        return None
    share = wasted / float(totals["cost"]) if totals["cost"] > 0 else 1.0
    top = safe.iloc[0]
    return Action(
        kind=KIND,
        title=f"Block {counted(len(safe), 'wasteful search-term fragment')}",
        reason=(f"{counted(len(safe), 'fragment')} of 1-{s.max_n} words spent "
                f"{format_money(wasted, currency)} ({share:.0%} of search-term cost) on "
                f"{counted(len(blocked), 'search term')} without a "
                f"conversion, each with >= {need} clicks (conversion rate {rate:.1%}) and "
                f">= {format_money(cpa, currency)} cost (the cost per conversion); top: "
                f"'{top['ngram']}' ({top['match_type']}, {format_money(top['cost'], currency)})"),
        score=float(np.sqrt(min(1.0, share))), evidence=evidence.reset_index(drop=True))


def _significant(table: pd.DataFrame, totals: dict, tested: int, alpha: float) -> np.ndarray:
    """Which zero-conversion fragments are waste beyond chance: c clicks without a
    conversion, where the rest of the campaign's search terms convert at rate r, happen
    with probability (1 - r)^c; a fragment counts when that is below `alpha / tested`
    (Bonferroni over the campaign's material fragments: with ~100 of them, single tests
    at 0.1 flag chance runs in most campaigns). The rest, not the whole, sets r: a large
    wasteful fragment would otherwise lower the very rate it is judged against."""
    clicks = table["clicks"].to_numpy(dtype=float)
    rest = np.maximum(float(totals["clicks"]) - clicks, 1.0)
    rate = np.clip(float(totals["conversions"]) / rest, 0.0, 1.0 - 1e-9)
    return np.power(1.0 - rate, clicks) <= alpha / max(tested, 1)


def _term_costs(searches: pd.DataFrame) -> dict[str, float]:
    costs = pd.to_numeric(searches["cost"], errors="coerce").fillna(0)
    keys = searches["term"].map(lambda t: " ".join(words(t)))
    return costs.groupby(keys.to_numpy()).sum().to_dict()


def _without_redundant(table: pd.DataFrame) -> pd.DataFrame:
    """Costliest first, keep a fragment only if it blocks a search term that no kept
    fragment blocks yet (a longer fragment containing a kept one never does)."""
    covered: set[str] = set()
    keep = []
    for terms in table["terms"]:
        new = set(terms) - covered
        keep.append(bool(new))
        covered |= new
    return table.loc[np.array(keep, dtype=bool)]
