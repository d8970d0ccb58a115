"""Duplicate keywords: the same keyword (same words, same match type) in several ad groups
or campaigns of one account. They compete in the same auctions, split the keyword's
history and make bids hard to reason about (Google Ads Editor's "find duplicate
keywords"). Words are compared after NFKC, lower-casing and stripping match marks.

The action lists, for each of this campaign's keywords that is duplicated, every place
it is used with its figures side by side, so a person can keep the better one.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.data.schema import METRIC_COLUMNS
from core.errors import counted, plural
from core.model.actions import Action
from core.model.negatives import words

KIND = "duplicate_keywords"
LISTED = 30   # evidence rows at most


def _keywords(rows: pd.DataFrame) -> pd.DataFrame:
    kinds = (rows["term_type"].fillna("keyword") if "term_type" in rows
             else pd.Series("keyword", index=rows.index))
    rows = rows[kinds != "search_term"]
    return pd.DataFrame({
        "keyword": rows["term"].map(lambda t: " ".join(words(t))).to_numpy(),
        "match_type": (rows["match_type"].fillna("") if "match_type" in rows
                       else pd.Series("", index=rows.index)).to_numpy(),
        "campaign_id": rows["campaign_id"].astype(str).to_numpy(),
        "ad_group": (rows["ad_group"].fillna("") if "ad_group" in rows
                     else pd.Series("", index=rows.index)).to_numpy(),
        **{c: pd.to_numeric(rows[c], errors="coerce").to_numpy() if c in rows else np.nan
           for c in METRIC_COLUMNS}})


def duplicate_keywords(campaign_terms: pd.DataFrame,
                       account_terms: pd.DataFrame | None = None) -> Action | None:
    """This campaign's keywords that also sit in another ad group of it, or in another
    campaign of its account (`account_terms`: the account's rows, this campaign's may be
    among them). None when there are none."""
    own = _keywords(campaign_terms)
    if own.empty or "campaign_id" not in campaign_terms:
        return None
    campaign = own["campaign_id"].iloc[0]
    places = own
    if account_terms is not None and len(account_terms):
        others = account_terms[account_terms["campaign_id"].astype(str) != campaign]
        places = pd.concat([own, _keywords(others)], ignore_index=True)
    # Which of this campaign's keywords sit in more than one place, in plain Python first:
    # most campaigns have none, and pandas' group-bys cost ~5 ms even on a pasted handful.
    row_keys = list(zip(places["keyword"].tolist(), places["match_type"].tolist(), strict=True))
    mine = set(row_keys[:len(own)])
    where: dict[tuple[str, str], set[tuple[str, str]]] = {k: set() for k in mine}
    for key, place in zip(row_keys, zip(places["campaign_id"].tolist(), places["ad_group"].tolist(),
                                    strict=True), strict=True):
        if key in where:
            where[key].add(place)
    duplicated_keys = {k for k, found in where.items() if len(found) > 1}
    if not duplicated_keys:
        return None
    duplicated = places[[k in duplicated_keys for k in row_keys]]
    duplicated = (duplicated.groupby(["keyword", "match_type", "campaign_id", "ad_group"],
                                     sort=False).sum(min_count=1).reset_index())
    keys = duplicated[["keyword", "match_type"]].drop_duplicates()
    here = duplicated[duplicated["campaign_id"] == campaign]
    cost_here = float(pd.to_numeric(here["cost"], errors="coerce").sum())
    total = float(pd.to_numeric(own["cost"], errors="coerce").sum())
    share = cost_here / total if total > 0 else 0.0
    evidence = duplicated.sort_values(["keyword", "match_type", "campaign_id", "ad_group"])
    other_campaigns = duplicated.loc[duplicated["campaign_id"] != campaign, "campaign_id"]
    top = evidence.iloc[0]
    return Action(
        kind=KIND,
        title=f"Resolve {counted(len(keys), 'duplicate keyword')}",
        reason=(f"{counted(len(keys), 'keyword')} of this campaign ({share:.0%} of its "
                f"keyword cost) also {plural(len(keys), 'sits', 'sit')} in another ad group "
                f"or in {counted(other_campaigns.nunique(), 'other campaign')} of the "
                f"account with the same match type, so "
                f"{plural(len(keys), 'it competes', 'they compete')} in the same auctions; "
                f"e.g. '{top['keyword']}' "
                f"({top['match_type'] or 'no match type'})"),
        score=float(min(1.0, 0.5 * share + 0.1)),
        evidence=evidence.head(LISTED).reset_index(drop=True))
