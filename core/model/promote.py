"""Promote search terms: converting search terms of a campaign that are not yet its
keywords, as keyword candidates in the ad group that served them (Google Ads' "add as
keyword" from the search terms report).

"Not yet a keyword" is judged on a close-variant key, as Google matches keywords: match
marks stripped, lower case, function words dropped ("plumber in london" = "plumber
london"), plurals folded ("plumbers" = "plumber") and word order ignored. A term is a
candidate when it converted at least `min_conversions` (3) times at a cost per conversion
no higher than `max_cpa_ratio` x the campaign's own (it converts at least about as
cheaply as the campaign does, so adding it is unlikely to raise the cost per conversion).

Why 3 conversions, and the cost per conversion judged on `conversions - cpa_sigmas x
sqrt(conversions)` (one Poisson standard error below the count): a term with one or two
conversions, or a cheap cost per conversion resting on a lucky count, is as likely noise
as a keyword worth its bid. Measured on the demo's planted truth (`bench/actions.py`,
where the generator knows each term's true conversion rate): the old rule (1 conversion,
plain CPA) fired on 95% of campaigns and half of its terms did not truly convert at the
campaign's cost per conversion; this one keeps precision above 0.9. On the Sony exports
it lists the few terms with several conversions and leaves the one-off converters alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.errors import counted, plural
from core.model.actions import Action
from core.model.negatives import words
from core.model.ngrams import stop_words

KIND = "promote_search_terms"


@dataclass(frozen=True)
class PromoteSettings:
    min_conversions: float = 3.0   # fewer conversions are not evidence (module docstring)
    max_cpa_ratio: float = 1.0     # cost per conversion <= this x the campaign's
    cpa_sigmas: float = 1.0        # ... judged on conversions minus this many sqrt(conv)
    score_weight: float = 0.5      # the conversions happen already: a keyword adds control
    listed: int = 20


def _singular(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def variant_key(term: object) -> tuple[str, ...]:
    """The close-variant key of a keyword or search term (see the module docstring)."""
    stop = stop_words()
    kept = [_singular(w) for w in words(term) if w not in stop] or list(words(term))
    return tuple(sorted(kept))


def promote_search_terms(campaign_terms: pd.DataFrame, settings: PromoteSettings | None = None,
                         notes: list[str] | None = None) -> Action | None:
    """The `promote_search_terms` action of a campaign, or None."""
    s = settings or PromoteSettings()
    notes = notes if notes is not None else []
    if "term_type" not in campaign_terms or "conversions" not in campaign_terms:
        return None
    kinds = campaign_terms["term_type"].fillna("keyword")
    searches = campaign_terms[kinds == "search_term"]
    if searches.empty:
        return None
    keys = {variant_key(t) for t in campaign_terms.loc[kinds != "search_term", "term"]}
    table = pd.DataFrame({
        "term": searches["term"].map(lambda t: " ".join(words(t))).to_numpy(),
        "ad_group": (searches["ad_group"].fillna("") if "ad_group" in searches
                     else pd.Series("", index=searches.index)).to_numpy(),
        **{c: pd.to_numeric(searches[c], errors="coerce").to_numpy() if c in searches
           else np.nan for c in ("impressions", "clicks", "cost", "conversions")}})
    total_cost, total_conv = table["cost"].sum(min_count=1), table["conversions"].sum(min_count=1)
    if pd.isna(total_conv) or total_conv <= 0 or pd.isna(total_cost):
        return None
    campaign_cpa = float(total_cost / total_conv)
    table = table.groupby(["term", "ad_group"], sort=False).sum(min_count=1).reset_index()
    table["cost_per_conversion"] = (table["cost"] / table["conversions"]).where(
        table["conversions"] > 0)
    new = ~table["term"].map(variant_key).isin(keys)
    sure = table["conversions"] - s.cpa_sigmas * np.sqrt(table["conversions"].clip(lower=0))
    pessimistic_cpa = (table["cost"] / sure).where(sure > 0, np.inf)
    good = ((table["conversions"] >= s.min_conversions)
            & (pessimistic_cpa.fillna(np.inf) <= s.max_cpa_ratio * campaign_cpa + 1e-9))
    picks = table[new & good].sort_values(["conversions", "term"], ascending=[False, True])
    if picks.empty:
        return None
    picks = picks.drop_duplicates("term")  # one ad group per term: where it converted most
    share = float(picks["conversions"].sum() / total_conv)
    top = picks.iloc[0]
    where = f" in ad group '{top['ad_group']}'" if top["ad_group"] else ""
    return Action(
        kind=KIND,
        title=f"Add {counted(len(picks), 'converting search term')} as keywords",
        reason=(f"{counted(len(picks), 'search term')} brought "
                f"{picks['conversions'].sum():,.1f} "
                f"conversions ({share:.0%} of the campaign's) at a cost per conversion <= "
                f"{s.max_cpa_ratio:g}x the campaign's ({campaign_cpa:,.2f}) and "
                f"{plural(len(picks), 'is not a keyword', 'are not keywords')} yet, even as "
                f"close variants; top: '{top['term']}'{where}"),
        score=float(s.score_weight * min(1.0, share)),
        evidence=picks.head(s.listed).assign(match_type="exact").reset_index(drop=True))
