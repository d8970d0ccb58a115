"""Promote search terms: a small planted case."""

from __future__ import annotations

import pandas as pd

from core.model import promote


def planted() -> pd.DataFrame:
    rows = [  # term, term_type, ad_group, clicks, cost, conversions
        ("emergency plumber", "keyword", "Emergency", 50, 100.0, 5.0),
        ("boiler repair", "keyword", "Boilers", 40, 80.0, 4.0),
        # planted: converts cheaply, not a keyword
        ("burst pipe repair", "search_term", "Emergency", 20, 30.0, 3.0),
        # close variants of keywords: plural, function word, order
        ("emergency plumbers", "search_term", "Emergency", 20, 20.0, 2.0),
        ("repair of boiler", "search_term", "Boilers", 10, 10.0, 1.0),
        # converts, but dearer than the campaign's cost per conversion
        ("plumber salary", "search_term", "Emergency", 30, 120.0, 1.0),
        # never converted
        ("free boiler", "search_term", "Boilers", 30, 60.0, 0.0),
    ]
    frame = pd.DataFrame(rows, columns=["term", "term_type", "ad_group", "clicks", "cost",
                                        "conversions"])
    return frame.assign(campaign_id="C1", impressions=frame["clicks"] * 10)


def test_close_variants_share_a_key():
    assert promote.variant_key("[Emergency Plumbers]") == promote.variant_key("emergency plumber")
    assert promote.variant_key("repair of boiler") == promote.variant_key("boiler repair")
    assert promote.variant_key("boiler repair") != promote.variant_key("boiler install")


def test_only_the_planted_term_is_promoted_in_its_ad_group():
    action = promote.promote_search_terms(planted())
    assert action is not None and action.kind == "promote_search_terms"
    evidence = action.evidence
    assert evidence["term"].tolist() == ["burst pipe repair"]
    assert evidence.loc[0, "ad_group"] == "Emergency"
    assert evidence.loc[0, "cost_per_conversion"] == 10.0
    assert "burst pipe repair" in action.reason and "'Emergency'" in action.reason


def test_nothing_to_promote_without_conversions():
    assert promote.promote_search_terms(planted().assign(conversions=0.0)) is None
