"""Duplicate keywords: a small planted case, and Lookup passing the account's rows."""

from __future__ import annotations

import pandas as pd

from core.model import duplicates


def rows(campaign: str, items: list[tuple]) -> pd.DataFrame:
    """items: (term, match_type, ad_group, cost)."""
    frame = pd.DataFrame(items, columns=["term", "match_type", "ad_group", "cost"])
    return frame.assign(campaign_id=campaign, account="Acme", term_type="keyword",
                        clicks=10, impressions=100, conversions=1.0)


OWN = rows("C1", [("emergency plumber", "exact", "Emergency", 50.0),
                  ("[Boiler Repair]", "exact", "Boilers", 30.0),
                  ("boiler repair", "exact", "Heating", 20.0),   # planted: two ad groups
                  ("drain cleaning", "phrase", "Drains", 10.0)])
OTHER = rows("C2", [("emergency plumber", "exact", "Plumbing", 70.0),  # planted: across
                    ("drain cleaning", "broad", "Drains", 5.0)])       # other match type


def test_duplicates_within_the_campaign_and_across_the_account():
    action = duplicates.duplicate_keywords(OWN, pd.concat([OWN, OTHER]))
    assert action is not None and action.kind == "duplicate_keywords"
    evidence = action.evidence
    assert set(zip(evidence["keyword"], evidence["match_type"], strict=True)) == {
        ("boiler repair", "exact"), ("emergency plumber", "exact")}
    plumber = evidence[evidence["keyword"] == "emergency plumber"]
    assert sorted(plumber["campaign_id"]) == ["C1", "C2"]  # side by side
    assert plumber["cost"].tolist() == [50.0, 70.0]
    assert "2 keywords of this campaign" in action.reason


def test_without_account_rows_only_its_own_ad_groups_count():
    action = duplicates.duplicate_keywords(OWN)
    assert set(action.evidence["keyword"]) == {"boiler repair"}
    assert duplicates.duplicate_keywords(OTHER) is None


def test_titles_count_with_separators_and_agreement():
    """Titles spelled their counts `{n} keyword{'s' * (n > 1)}`: no thousands separator
    ("Resolve 1200 duplicate keywords") and "0 keyword" for a zero; they use `counted`."""
    many = rows("C1", [(f"kw {i}", "exact", group, 1.0)
                       for i in range(1200) for group in ("A", "B")])
    assert duplicates.duplicate_keywords(many).title == "Resolve 1,200 duplicate keywords"
    assert duplicates.duplicate_keywords(OWN).title == "Resolve 1 duplicate keyword"


def test_no_count_agrees_by_multiplying_an_s():
    """The idiom `'s' * (n > 1)` gives "0 keyword" and no separators; `core.errors.counted`
    and `plural` say it for every count."""
    import re
    from pathlib import Path
    repo = Path(__file__).resolve().parent.parent
    sources = [*repo.joinpath("core").rglob("*.py"), *repo.joinpath("app_pages").glob("*.py"),
               repo / "ui.py", repo / "app.py"]
    found = [f"{p.name}:{n}" for p in sources
             for n, line in enumerate(p.read_text("utf-8").splitlines(), 1)
             if re.search(r"""['"]s['"] \* \(""", line)]
    assert found == []


def test_lookup_suggests_duplicates_across_the_account(trained_home):
    from core.serve.lookup import Lookup

    lookup = Lookup()
    result = lookup.campaign("C00001")
    found = [a for a in result.suggestions.actions if a.kind == "duplicate_keywords"]
    assert found, [a.kind for a in result.suggestions.actions]
    evidence = found[0].evidence
    account = lookup.campaigns.at["C00001", "account"]
    same = set(lookup.campaigns.index[lookup.campaigns["account"] == account])
    assert set(evidence["campaign_id"]) <= same and len(set(evidence["campaign_id"])) > 1
