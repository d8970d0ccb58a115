"""Suggested actions learn only from campaigns similar enough (issue #9.3), and keyword
ideas never carry another advertiser's name or a place."""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.model import actions
from core.model.actions import ActionSettings
from core.model.neighbors import MIN_SIMILARITY
from tests.conftest import FIXTURES


def rows(cid: str, name: str, terms: list[tuple], account: str | None = None) -> pd.DataFrame:
    """terms: (term, impressions, clicks, cost, conversions)."""
    frame = pd.DataFrame(terms, columns=["term", "impressions", "clicks", "cost", "conversions"])
    return frame.assign(campaign_id=cid, campaign_name=name, account=account or name,
                        term_type="keyword")


def test_benchmarks_and_ideas_use_only_neighbours_at_or_above_the_floor() -> None:
    own = rows("C0", "Acme Plumbing", [("emergency plumber", 10_000, 100, 500.0, 5)])
    close = [rows(f"N{i}", f"Plumbers {i}", [("emergency plumber", 10_000, 500, 500.0, 50),
                                              ("drain cleaning", 1000, 50, 50.0, 5)])
             for i in (1, 2)]
    far = [rows(f"F{i}", f"Far {i}", [("emergency plumber", 10_000, 600, 400.0, 60),
                                       ("dog grooming", 5000, 300, 100.0, 30)])
           for i in (1, 2, 3)]
    neighbor_terms = pd.concat(close + far, ignore_index=True)
    neighbors = pd.DataFrame({"campaign_id": ["N1", "N2", "F1", "F2", "F3"],
                              "similarity": [0.9, 0.8, 0.2, 0.15, 0.1]})
    fingerprint = np.array([0.9, 0.1])

    floored = actions.suggest(own, neighbor_terms, neighbors, fingerprint)
    assert not [a for a in floored.actions if a.kind == "benchmark_gap"]
    assert any("Only 2 campaigns are similar enough to benchmark against" in n
               for n in floored.notes)
    ideas = [a for a in floored.actions if a.kind == "add_keywords"]
    assert ideas and set(ideas[0].evidence["term"]) == {"drain cleaning"}

    everyone = actions.suggest(own, neighbor_terms, neighbors, fingerprint,
                               settings=ActionSettings(min_similarity=0.0))
    gaps = [a for a in everyone.actions if a.kind == "benchmark_gap"]
    assert gaps and gaps[0].evidence["neighbors"].iloc[0] == 5   # all five were used
    assert "dog grooming" in set(next(a for a in everyone.actions
                                      if a.kind == "add_keywords").evidence["term"])


def test_keyword_ideas_never_carry_another_advertisers_name_or_a_place() -> None:
    own = rows("C0", "Mersey Movers - Removals - Liverpool",
               [("removals liverpool", 100, 10, 20.0, 1), ("house movers", 100, 10, 20.0, 1)],
               account="Mersey Movers")
    n1 = rows("N1", "Bright Removals - Nottingham",
              [("packing services nottingham", 900, 90, 50.0, 9),
               ("packing services", 500, 50, 40.0, 5),
               ("bright removals reviews", 800, 80, 10.0, 8),
               ("storage liverpool", 300, 30, 10.0, 3)], account="Bright Removals")
    n2 = rows("N2", "Summit Moving - Leeds",
              [("packing services nottingham", 700, 70, 50.0, 7),
               ("packing services", 400, 40, 40.0, 4),
               ("bright removals reviews", 100, 10, 10.0, 1),
               ("summit moving quote", 600, 60, 10.0, 6),
               ("storage liverpool", 200, 20, 10.0, 2)], account="Summit Moving")
    neighbors = pd.DataFrame({"campaign_id": ["N1", "N2"], "similarity": [0.9, 0.8]})
    result = actions.suggest(own, pd.concat([n1, n2], ignore_index=True), neighbors,
                             np.array([1.0]))
    ideas = set(next(a for a in result.actions if a.kind == "add_keywords").evidence["term"])
    assert "packing services" in ideas
    assert "storage liverpool" in ideas          # its own city is fine
    assert not {t for t in ideas if "nottingham" in t or "bright" in t or "summit" in t}
    assert any("advertiser's name or a place" in n for n in result.notes)


def test_on_real_sony_exports_no_action_learns_from_campaigns_below_the_floor(home) -> None:
    """The five Sony fixtures: every campaign's actions use only neighbours >= the floor,
    and the notes say so when fewer were similar enough."""
    from core.data import ingest
    from core.ops import deploy, train
    from core.serve.lookup import Lookup

    ingest.import_paths(sorted(FIXTURES.glob("sony/*.csv")), "sony")
    model = train.train(train.TrainSpec(dataset="sony", k=2, params={"iterations": 100,
                                                                      "seed": 0}))
    deploy.promote(model.model_id, "production")
    lookup = Lookup()
    checked_notes = 0
    for campaign_id in lookup.fingerprints.campaign_ids:
        everyone = lookup.neighbors(campaign_id, 10, min_similarity=0.0)
        close = everyone[everyone["similarity"] >= MIN_SIMILARITY]
        result = lookup.campaign(campaign_id, 10)
        marked = result.neighbors[result.neighbors["similar_enough"]]
        assert marked["campaign_id"].tolist() == close["campaign_id"].tolist()
        assert result.below_floor == len(everyone) - len(close)
        for action in result.suggestions.actions:
            if action.kind == "benchmark_gap":
                assert action.evidence["neighbors"].iloc[0] <= len(close)
            if action.kind == "add_keywords":
                close_terms = set(lookup._rows_of(close["campaign_id"].tolist())["term"]
                                  .map(actions.normalize_term))
                assert set(action.evidence["term"]) <= close_terms
        if result.below_floor:
            assert any("similar enough" in n for n in result.suggestions.notes)
            checked_notes += 1
    assert checked_notes  # the real exports do have campaigns below the floor


def test_a_non_brand_campaign_is_not_told_to_add_its_own_brand() -> None:
    """Sony's akashi_nonbrand was told to add 'akashi', the keyword of akashi_brand."""
    own = rows("akashi_nonbrand", "akashi_nonbrand",
               [("勤怠 管理", 1000, 50, 500.0, 5), ("勤怠 システム", 800, 40, 400.0, 4)],
               account="akashi")
    brand = rows("akashi_brand", "akashi_brand",
                 [("akashi", 9000, 900, 300.0, 90), ("akashi 勤怠", 900, 90, 30.0, 9),
                  ("打刻 アプリ", 500, 50, 50.0, 5)], account="akashi")
    neighbors = pd.DataFrame({"campaign_id": ["akashi_brand"], "similarity": [0.9]})
    result = actions.suggest(own, brand, neighbors, np.array([0.9, 0.1]),
                             settings=ActionSettings(keyword_min_neighbors=1))
    ideas = [a for a in result.actions if a.kind == "add_keywords"]
    assert ideas and set(ideas[0].evidence["term"]) == {"打刻 アプリ"}
    assert any("akashi" in note for note in result.notes)
    # the brand campaign itself may keep its own name's words
    kept = actions.suggest(brand, own, neighbors.assign(campaign_id="akashi_nonbrand"),
                           np.array([0.9, 0.1]), settings=ActionSettings(keyword_min_neighbors=1))
    assert not any("akashi" in note for note in kept.notes)


def test_neighbors_mark_similar_enough_at_the_floor_given(trained_home) -> None:
    """`neighbors --min-similarity 0.3` kept the neighbours from 0.3 up but marked
    `similar_enough` at 0.55 still, unlike the Lookup page, which marks at its slider's
    floor. Without a floor (0, all n) the mark stays at the one actions use."""
    from core.serve.lookup import Lookup

    lookup = Lookup()
    rows = [(cid, lookup.neighbors(cid, 10)) for cid in lookup.fingerprints.campaign_ids[:40]]
    campaign_id, everyone = next((cid, t) for cid, t in rows
                                 if (t["similarity"] < MIN_SIMILARITY).any()
                                 and (t["similarity"] >= MIN_SIMILARITY).any())
    assert everyone["similar_enough"].tolist() == (everyone["similarity"]
                                                   >= MIN_SIMILARITY).tolist()
    floor = float(everyone["similarity"].min())
    kept = lookup.neighbors(campaign_id, 10, min_similarity=floor)
    assert len(kept) == len(everyone) and kept["similar_enough"].all()
