"""Suggested actions: each rule fires on a campaign that should trigger it, and only then."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.data.demo import generate
from core.data.schema import METRIC_COLUMNS
from core.model.actions import (
    KINDS,
    Action,
    ActionSettings,
    campaign_totals,
    normalize_term,
    suggest,
    term_topic_fit_from,
    to_frame,
)
from core.model.corpus import Corpus
from core.model.engines import bow_matrix, make_engine
from core.model.neighbors import MIN_SIMILARITY, NeighborIndex, neighbors_frame

# A small explicit topic model: topic 0 = plumbing, topic 1 = shoes, topic 2 = flights.
VOCAB = ["plumber", "emergency", "drain", "leak", "shoes", "running", "trainers", "free",
         "flights", "cheap", "airline"]
TOPIC_TERM = np.array([
    [0.40, 0.20, 0.20, 0.17, 0.00, 0.00, 0.00, 0.01, 0.00, 0.01, 0.01],
    [0.00, 0.00, 0.00, 0.00, 0.40, 0.25, 0.20, 0.10, 0.00, 0.05, 0.00],
    [0.00, 0.01, 0.00, 0.00, 0.00, 0.00, 0.00, 0.04, 0.50, 0.15, 0.30],
])
PLUMBING = np.array([0.9, 0.05, 0.05])


def term_rows(campaign_id: str, rows: list[tuple], term_type: str = "keyword") -> pd.DataFrame:
    """rows: (term, impressions, clicks, cost, conversions)."""
    frame = pd.DataFrame(rows, columns=["term", "impressions", "clicks", "cost", "conversions"])
    return frame.assign(campaign_id=campaign_id, term_type=term_type)


def neighbours_with(counts: dict[str, list[tuple]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    terms = pd.concat([term_rows(cid, rows) for cid, rows in counts.items()], ignore_index=True)
    sims = pd.DataFrame({"campaign_id": list(counts), "similarity":
                         np.linspace(0.9, 0.6, len(counts))})
    return terms, sims


def by_kind(result, kind: str) -> list[Action]:
    return [a for a in result.actions if a.kind == kind]


# -- add keywords -----------------------------------------------------------------------
def test_add_keywords_suggests_common_missing_terms_weighted_by_conversions() -> None:
    own = term_rows("C0", [("Plumber  Near Me", 100, 5, 10.0, 1), ("drain repair", 80, 4, 8, 0)])
    neighbor_terms, neighbors = neighbours_with({
        "N1": [("emergency plumber", 500, 50, 60, 9), ("plumber near me", 300, 20, 30, 2),
               ("leak detection", 100, 30, 20, 1), ("only here", 900, 90, 50, 30)],
        "N2": [("Emergency Plumber", 400, 40, 50, 6), ("plumber near me", 200, 10, 10, 1),
               ("leak detection", 100, 30, 20, 1)],
        "N3": [("emergency plumber", 100, 5, 5, 1), ("leak detection", 50, 40, 10, 0)],
    })
    result = suggest(own, neighbor_terms, neighbors, PLUMBING, TOPIC_TERM, VOCAB)
    [action] = by_kind(result, "add_keywords")
    terms = action.evidence["term"].tolist()
    assert terms == ["emergency plumber", "leak detection"]  # conversion-weighted order
    assert "plumber near me" not in terms  # already there, whatever the case and spacing
    assert "only here" not in terms  # one neighbour is not "common"
    first = action.evidence.iloc[0]
    assert first["neighbors"] == 3 and first["neighbor_conversions"] == 16
    assert first["weighted_score"] == pytest.approx(0.9 * 9 + 0.75 * 6 + 0.6 * 1)
    assert "emergency plumber" in action.reason and "3 most similar" in action.reason


def test_add_keywords_reason_names_what_its_two_counts_count() -> None:
    """Sony's PO_brand: "(used by 1, 322 conversions)" read as 1,322 conversions; the count
    of campaigns says what it counts."""
    own = term_rows("C0", [("drain repair", 80, 4, 8, 0)])
    neighbor_terms, neighbors = neighbours_with({
        "N1": [("emergency plumber", 500, 50, 60, 300)],
        "N2": [("emergency plumber", 400, 40, 50, 22)]})
    [action] = by_kind(suggest(own, neighbor_terms, neighbors, PLUMBING, TOPIC_TERM, VOCAB),
                       "add_keywords")
    assert "'emergency plumber' (used by 2 similar campaigns, 322 conversions)" in action.reason
    alone = ActionSettings(keyword_min_neighbors=1)
    one = suggest(own, neighbor_terms.iloc[:1], neighbors.iloc[:1], PLUMBING, TOPIC_TERM, VOCAB,
                  settings=alone)
    [action] = by_kind(one, "add_keywords")
    assert "(used by 1 similar campaign, 300 conversions)" in action.reason


def test_add_keywords_silent_when_neighbours_add_nothing_new() -> None:
    own = term_rows("C0", [("emergency plumber", 10, 1, 1, 0), ("leak detection", 10, 1, 1, 0)])
    neighbor_terms, neighbors = neighbours_with({
        "N1": [("emergency plumber", 500, 50, 60, 9)], "N2": [("Leak  Detection", 1, 1, 1, 1)]})
    result = suggest(own, neighbor_terms, neighbors, PLUMBING, TOPIC_TERM, VOCAB)
    assert by_kind(result, "add_keywords") == []
    assert "No keyword ideas: this campaign has every term the 2 similar campaigns use." in (
        result.notes)


def test_no_keyword_idea_says_no_term_is_shared_by_enough_similar_campaigns() -> None:
    """Sony, pasting `勤怠管理 システム`: two similar campaigns, no term used by both, so
    Lookup showed no idea and no word why."""
    own = term_rows("C0", [("plumber", 10, 1, 1, 0)])
    neighbor_terms, neighbors = neighbours_with({
        "N1": [("emergency plumber", 500, 50, 60, 9), ("drain repair", 50, 5, 5, 1)],
        "N2": [("leak detection", 400, 40, 50, 6)]})
    result = suggest(own, neighbor_terms, neighbors, PLUMBING, TOPIC_TERM, VOCAB)
    assert by_kind(result, "add_keywords") == []
    assert ("No keyword ideas: none of the 3 terms of the 2 similar campaigns that this "
            "campaign lacks is used by both (an idea needs 2 campaigns).") in result.notes
    three = suggest(own, *neighbours_with({"N1": [("drain repair", 5, 1, 1, 0)],
                                           "N2": [("drain repair", 5, 1, 1, 0)],
                                           "N3": [("leak", 5, 1, 1, 0)]}),
                    PLUMBING, TOPIC_TERM, VOCAB, settings=ActionSettings(
                        keyword_min_neighbors=3))
    assert any("is used by 3 of them (an idea needs 3" in n for n in three.notes), three.notes
    # Lookup said "this campaign looks like its neighbours" under that note
    assert result.nothing_to_suggest(neighbors.assign(similar_enough=True)) == (
        "Nothing to suggest: the notes above say why.")
    assert "no campaign is similar enough" in result.nothing_to_suggest(
        neighbors.assign(similar_enough=False))
    quiet = type(result)(actions=[], notes=[])
    assert "looks like its neighbours" in quiet.nothing_to_suggest(
        neighbors.assign(similar_enough=True))


def test_add_keywords_leave_out_what_a_neighbours_name_abbreviates() -> None:
    """Sony's PO_brand was told to add "neural network console", the product that its one
    similar neighbour, nnc_old_brand_alltime, abbreviates in its name."""
    from core.model.actions import _spelled_out

    own = term_rows("PO_brand", [("prediction one", 100, 5, 10, 1)]).assign(
        campaign_name="PO_brand")
    nnc = [("neural network console", 500, 50, 60, 9), ("sony neural network console", 90,
            9, 9, 2), ("nnc download", 50, 5, 5, 1), ("sony deep learning", 300, 20, 30, 3)]
    hvac = [("emergency plumber", 200, 9, 9, 2), ("sony deep learning", 30, 2, 3, 1)]
    neighbor_terms, neighbors = neighbours_with({"nnc_old_brand_alltime": nnc, "N2": hvac})
    names = {"nnc_old_brand_alltime": "nnc_old_brand_alltime", "N2": "Plumbing Co - Drains"}
    neighbor_terms["campaign_name"] = neighbor_terms["campaign_id"].map(names)
    result = suggest(own, neighbor_terms, neighbors, PLUMBING, TOPIC_TERM, VOCAB,
                     settings=ActionSettings(keyword_min_neighbors=1))
    [action] = by_kind(result, "add_keywords")
    assert set(action.evidence["term"]) == {"sony deep learning", "emergency plumber"}
    assert any("neural network console" in note for note in result.notes)
    # One or two chance spellings in a campaign's many terms are not its name.
    many = [f"word{i} term" for i in range(30)]
    assert _spelled_out({"air"}, ["ac installation reviews", "best ac installation reviews",
                                  *many]) == set()
    assert _spelled_out({"air"}, ["ac installation reviews", "best ac installation reviews"]
                        ) == {"ac", "installation", "reviews"}


def test_add_keywords_aggregates_as_the_pandas_group_by_it_replaced() -> None:
    """The plain-Python aggregation (per term: similarity x the neighbour's conversions,
    neighbours, summed clicks and conversions; NaN only where no neighbour reported) gives
    the same ideas as the pandas group-bys it replaced, on demo rows with gaps."""
    from core.model.actions import _add_keywords

    rows = generate(40, seed=11, plant=False)
    ids = rows["campaign_id"].drop_duplicates().tolist()
    rng = np.random.default_rng(0)
    neighbor_terms = rows[rows["campaign_id"].isin(ids[1:13])].drop(
        columns=["campaign_name", "account"]).reset_index(drop=True)  # no names to leave out
    gaps = rng.random(len(neighbor_terms))
    neighbor_terms.loc[gaps < 0.3, "conversions"] = np.nan
    neighbor_terms.loc[gaps > 0.8, "clicks"] = np.nan
    neighbors = pd.DataFrame({"campaign_id": ids[1:13], "similarity": rng.uniform(0.5, 1, 12)})
    own = {normalize_term(t) for t in rows.loc[rows["campaign_id"] == ids[0], "term"]}
    every_word = {w for t in neighbor_terms["term"] for w in normalize_term(t).split()}
    settings = ActionSettings(keyword_max=1000)
    action = _add_keywords(own, neighbor_terms, neighbors, settings, [], every_word)

    table = pd.DataFrame({"term": neighbor_terms["term"].map(normalize_term),
                          "campaign_id": neighbor_terms["campaign_id"],
                          "clicks": neighbor_terms["clicks"],
                          "conversions": neighbor_terms["conversions"]})
    per_use = table.groupby(["term", "campaign_id"]).sum(min_count=1).reset_index()
    per_use["similarity"] = per_use["campaign_id"].map(
        neighbors.set_index("campaign_id")["similarity"])
    per_use["weighted_score"] = per_use["similarity"] * per_use["conversions"].fillna(0)
    expected = per_use.groupby("term").agg(
        weighted_score=("weighted_score", "sum"), neighbors=("campaign_id", "nunique"),
        neighbor_clicks=("clicks", lambda v: v.sum(min_count=1)),
        neighbor_conversions=("conversions", lambda v: v.sum(min_count=1))).reset_index()
    expected = expected[~expected["term"].isin(own) & (expected["neighbors"] >= 2)
                        & (expected["weighted_score"] > 0)]
    expected = expected.sort_values(["weighted_score", "neighbors", "term"],
                                    ascending=[False, False, True]).reset_index(drop=True)
    assert len(expected) > 20  # enough ideas to compare
    pd.testing.assert_frame_equal(action.evidence, expected, check_dtype=False, rtol=1e-12)
    assert f"{len(expected)} terms used by at least" in action.reason

# -- negative keywords ------------------------------------------------------------------
def test_add_negatives_flags_costly_off_topic_non_converting_search_terms() -> None:
    keywords = term_rows("C0", [("emergency plumber", 5000, 200, 300.0, 10)])
    searches = term_rows("C0", [
        ("free running shoes", 300, 20, 25.0, 0),    # off-topic, spent, no conversion -> flag
        ("cheap flights", 100, 5, 6.0, 0),           # off-topic -> flag
        ("drain leak plumber", 200, 15, 40.0, 0),    # on-topic: keep
        ("running trainers", 100, 9, 12.0, 2),       # converted: keep
        ("shoes", 50, 0, 0.0, 0),                    # cost nothing: keep
    ], term_type="search_term")
    own = pd.concat([keywords, searches], ignore_index=True)
    neighbor_terms, neighbors = neighbours_with({"N1": [("plumber", 1, 1, 1, 1)]})
    result = suggest(own, neighbor_terms, neighbors, PLUMBING, TOPIC_TERM, VOCAB)
    [action] = by_kind(result, "add_negatives")
    assert action.evidence["term"].tolist() == ["free running shoes", "cheap flights"]
    assert (action.evidence["fit"] < ActionSettings().negative_fit_max).all()
    assert "31.00" in action.reason and "(10% of the campaign's cost)" in action.reason

    on_topic = pd.concat([keywords, searches.iloc[[2, 3, 4]]], ignore_index=True)
    result = suggest(on_topic, neighbor_terms, neighbors, PLUMBING, TOPIC_TERM, VOCAB)
    assert by_kind(result, "add_negatives") == []


def test_add_negatives_uses_the_callers_term_topic_fit() -> None:
    searches = term_rows("C0", [("zzz unknown", 10, 2, 5.0, 0)], term_type="search_term")
    neighbor_terms, neighbors = neighbours_with({"N1": [("plumber", 1, 1, 1, 1)]})

    def plumbing_fit(terms: list[str]) -> np.ndarray:  # a caller that says "on topic"
        return np.tile(PLUMBING, (len(terms), 1))

    kept = suggest(searches, neighbor_terms, neighbors, PLUMBING, term_topic_fit=plumbing_fit)
    assert by_kind(kept, "add_negatives") == []
    flagged = suggest(searches, neighbor_terms, neighbors, PLUMBING, TOPIC_TERM, VOCAB)
    [action] = by_kind(flagged, "add_negatives")  # no known word: fit 0
    assert not action.evidence["known_words"].iloc[0]


# -- benchmark gaps ---------------------------------------------------------------------
def _peers(ctr: float, n: int = 5) -> pd.DataFrame:
    return pd.DataFrame({"campaign_id": [f"N{i}" for i in range(n)],
                         "similarity": np.linspace(0.9, MIN_SIMILARITY, n),  # all close
                         "impressions": 10_000, "clicks": [ctr * 10_000] * n,
                         "cost": [ctr * 10_000 * 1.0] * n, "conversions": [ctr * 500] * n})


def test_benchmark_gap_fires_on_low_ctr_only_with_enough_volume() -> None:
    neighbor_terms = term_rows("N0", [("plumber", 1, 1, 1, 1)])
    low = term_rows("C0", [("plumber", 20_000, 200, 200.0, 10)])  # CTR 1% vs 5%
    result = suggest(low, neighbor_terms, _peers(0.05), PLUMBING, TOPIC_TERM, VOCAB)
    gaps = {a.evidence["metric"].iloc[0]: a for a in by_kind(result, "benchmark_gap")}
    assert set(gaps) == {"CTR"}  # CPC 1.00 and conversion rate 5% match the peers
    row = gaps["CTR"].evidence.iloc[0]
    assert row["campaign_value"] == pytest.approx(0.01)
    assert row["neighbor_median"] == pytest.approx(0.05) and row["neighbors"] == 5
    assert gaps["CTR"].score == pytest.approx(0.8)
    assert "CTR 1.00% vs median 5.00% of 5 similar campaigns" in gaps["CTR"].reason

    fine = term_rows("C0", [("plumber", 20_000, 900, 900.0, 45)])  # CTR 4.5%: within 0.7x
    assert by_kind(suggest(fine, neighbor_terms, _peers(0.05), PLUMBING), "benchmark_gap") == []

    small = term_rows("C0", [("plumber", 500, 1, 1.0, 0)])  # too few impressions to judge
    result = suggest(small, neighbor_terms, _peers(0.05), PLUMBING)
    assert by_kind(result, "benchmark_gap") == []
    assert any("CTR was not compared" in n and "minimum 1,000" in n for n in result.notes)
    assert any(n.startswith("Conversion rate was not compared: this campaign has 1 clicks")
               for n in result.notes)   # a sentence, as its neighbours (was lower case)


def test_campaign_totals_do_not_double_count_search_terms() -> None:
    rows = pd.concat([term_rows("A", [("plumber", 100, 10, 5.0, 1)]),
                      term_rows("A", [("plumber cheap", 100, 10, 5.0, 1)], "search_term"),
                      term_rows("B", [("shoes", 50, 5, 2.0, None)], "search_term")])
    totals = campaign_totals(rows)
    assert totals.loc["A", "clicks"] == 10 and totals.loc["B", "clicks"] == 5
    assert np.isnan(totals.loc["B", "conversions"])



def test_campaign_totals_match_a_group_by_in_order_with_gaps() -> None:
    """Sums per campaign in the order of its first counted row, NaN only where no counted
    row reported the metric, and keyword rows alone where a campaign's keywords report."""
    rows = generate(30, seed=5, plant=False).sample(frac=1, random_state=1)
    rng = np.random.default_rng(1)
    rows.loc[rng.random(len(rows)) < 0.2, "cost"] = np.nan
    only_searches = rows["campaign_id"] == rows["campaign_id"].iloc[0]
    rows.loc[only_searches & (rows["term_type"] == "keyword"), list(METRIC_COLUMNS)] = np.nan
    silent = rows["campaign_id"] == rows["campaign_id"].iloc[-1]
    rows.loc[silent, "conversions"] = np.nan
    totals = campaign_totals(rows)

    reported = rows[list(METRIC_COLUMNS)].notna().any(axis=1)
    keyword_based = (reported & (rows["term_type"] == "keyword")).groupby(
        rows["campaign_id"]).transform("any")
    counted = rows[~keyword_based | (rows["term_type"] == "keyword")]
    expected = counted.groupby("campaign_id", sort=False)[list(METRIC_COLUMNS)].sum(min_count=1)
    pd.testing.assert_frame_equal(totals, expected, check_index_type=False, rtol=1e-12)
    first = rows["campaign_id"].iloc[0]
    assert totals.loc[first, "clicks"] == rows.loc[only_searches, "clicks"].sum()  # all rows
    assert np.isnan(totals.loc[rows["campaign_id"].iloc[-1], "conversions"])

# -- split ------------------------------------------------------------------------------
def test_split_names_the_strong_topics() -> None:
    own = term_rows("C0", [("emergency plumber", 1, 1, 1, 0), ("running shoes", 1, 1, 1, 0),
                           ("drain leak", 1, 1, 1, 0)])
    neighbor_terms, neighbors = neighbours_with({"N1": [("plumber", 1, 1, 1, 1)]})
    spread = np.array([0.5, 0.42, 0.08])
    result = suggest(own, neighbor_terms, neighbors, spread, TOPIC_TERM, VOCAB)
    [action] = by_kind(result, "split_campaign")
    assert action.evidence["name"].tolist() == ["topic 0: plumber, emergency, drain",
                                                "topic 1: shoes, running, trainers"]
    assert action.evidence["keywords"].tolist() == [2, 1]
    named = suggest(own, neighbor_terms, neighbors, spread, TOPIC_TERM, VOCAB,
                    topic_names=["Plumbing", "Shoes", "Flights"])
    assert "'Plumbing' (0.50) and 'Shoes' (0.42)" in by_kind(named, "split_campaign")[0].reason
    focused = suggest(own, neighbor_terms, neighbors, PLUMBING, TOPIC_TERM, VOCAB)
    assert by_kind(focused, "split_campaign") == []


# -- no metrics, export -----------------------------------------------------------------
def test_no_metrics_skips_metric_actions_with_notes() -> None:
    own = pd.DataFrame({"campaign_id": "C0", "term": ["plumber", "free shoes"],
                        "term_type": ["keyword", "search_term"]})
    neighbor_terms = pd.DataFrame({"campaign_id": ["N1", "N2", "N2"],
                                   "term": ["emergency plumber", "emergency plumber", "drain"]})
    neighbors = pd.DataFrame({"campaign_id": ["N1", "N2"], "similarity": [0.9, 0.8]})
    result = suggest(own, neighbor_terms, neighbors, PLUMBING, TOPIC_TERM, VOCAB)
    assert {a.kind for a in result.actions} == {"add_keywords"}
    assert result.actions[0].evidence["term"].tolist() == ["emergency plumber"]
    assert result.actions[0].evidence["weighted_score"].iloc[0] == pytest.approx(1.7)
    assert any("metric-based actions" in n and "skipped" in n for n in result.notes)
    assert any("ranked by how many similar campaigns use them" in n for n in result.notes)


def test_to_frame_has_one_row_per_evidence_item(tmp_path) -> None:
    actions = [Action("add_keywords", "Add", "because", 0.5,
                      pd.DataFrame({"term": ["a", "b"], "score": [2.0, 1.0]})),
               Action("split_campaign", "Split", "spread", 0.4, [{"topic": 3, "weight": 0.4}]),
               Action("benchmark_gap", "CTR", "low", 0.3, pd.DataFrame())]
    table = to_frame(actions)
    assert list(table.columns[:5]) == ["rank", "kind", "title", "reason", "score"]
    assert {"term", "evidence_score", "topic", "weight"} <= set(table.columns)
    assert table["rank"].tolist() == [1, 1, 2, 3]
    path = tmp_path / "actions.csv"
    table.to_csv(path, index=False)
    assert pd.read_csv(path)["term"].tolist()[:2] == ["a", "b"]
    assert list(to_frame([]).columns) == ["rank", "kind", "title", "reason", "score"]


def test_normalize_term() -> None:
    assert normalize_term("  Emergency\tPLUMBER  near me ") == "emergency plumber near me"
    assert normalize_term("ＡＢＣ") == "abc"


# -- end to end on a real model ---------------------------------------------------------
def test_end_to_end_on_demo_campaigns() -> None:
    rows = generate(200)
    corpus = Corpus.from_frame(rows)
    engine = make_engine("tomotopy", k=12, iterations=150, workers=1).fit(corpus)
    fingerprints = engine.transform(corpus.bow)
    index = NeighborIndex().fit(fingerprints, corpus.campaign_ids,
                                bow_matrix(corpus.bow, len(corpus.dictionary)))
    fit = term_topic_fit_from(corpus.encoder, engine)
    totals = campaign_totals(rows)
    seen_kinds = set()
    for i in range(0, 40, 4):
        cid = corpus.campaign_ids[i]
        neighbors = neighbors_frame(index.query_id(cid, 10)).join(totals, on="campaign_id")
        result = suggest(rows[rows["campaign_id"] == cid],
                         rows[rows["campaign_id"].isin(neighbors["campaign_id"])], neighbors,
                         fingerprints[i], engine.topic_term_, engine.vocabulary_, fit)
        scores = [a.score for a in result.actions]
        assert scores == sorted(scores, reverse=True)
        for action in result.actions:
            assert action.kind in KINDS and len(action.evidence) > 0 and action.reason
            assert 0 <= action.score <= 1
        seen_kinds |= {a.kind for a in result.actions}
    assert "add_keywords" in seen_kinds
    # The real fold-in fit: a campaign's own keywords fit it better than another vertical's.
    i = 0
    own_terms = rows.loc[rows["campaign_id"] == corpus.campaign_ids[i], "term"].unique()[:20]
    other = rows.loc[rows["vertical"] != rows.loc[rows["campaign_id"] == corpus.campaign_ids[i],
                                                  "vertical"].iloc[0], "term"].unique()[:20]
    f = fingerprints[i]
    assert (fit(list(own_terms)) @ f).mean() > 2 * (fit(list(other)) @ f).mean()


def test_name_words_take_each_campaigns_first_known_name_as_groupby_first_does():
    from core.model import actions

    rows = pd.DataFrame({"campaign_id": ["C2", "C1", "C2", "C3"],
                         "campaign_name": [None, "Acme Plumbing - Drains", "Best Boilers UK",
                                           None],
                         "account": ["Best Co", "Acme", None, None]})
    words = actions._name_words_by_campaign(
        rows["campaign_id"].tolist(), {c: rows[c].tolist() for c in ("campaign_name", "account")})
    assert words == {"C2": {"best", "boilers"}, "C1": {"acme", "plumbing", "drains"},
                     "C3": set()}
    assert list(words) == list(rows.groupby("campaign_id", sort=False).first().index)


def test_a_neighbours_product_words_are_ideas_its_brand_is_not() -> None:
    """Sony: "windows server" (from the campaign name `bitdrive_windows_server_alltime`)
    was left out of keyword ideas as "that advertiser's name"; its brand is "bitdrive"."""
    from core.model import brand

    own = term_rows("PO_general", [("prediction one", 100, 5, 10, 1)]).assign(
        campaign_name="PO_general")
    bitdrive = [("windows server", 500, 50, 60, 9), ("bitdrive backup", 90, 9, 9, 2)]
    neighbor_terms, neighbors = neighbours_with({"bitdrive_windows_server_alltime": bitdrive})
    neighbor_terms["campaign_name"] = "bitdrive_windows_server_alltime"
    brands = brand.BrandIndex.build(brand.campaign_table(pd.concat([own, neighbor_terms])),
                                    VOCAB)
    assert brands.phrases["~bitdrive"] == ("bitdrive",)
    result = suggest(own, neighbor_terms, neighbors, PLUMBING, TOPIC_TERM, VOCAB,
                     settings=ActionSettings(keyword_min_neighbors=1), brands=brands)
    [action] = by_kind(result, "add_keywords")
    assert set(action.evidence["term"]) == {"windows server"}   # was: none
    assert any("'bitdrive backup'" in note for note in result.notes)
