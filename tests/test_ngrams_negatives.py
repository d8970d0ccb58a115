"""N-gram waste and safe negatives, each on a small planted case."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.model import negatives, ngrams
from core.model.actions import suggest


def rows(*items: tuple) -> pd.DataFrame:
    """items: (term, term_type, clicks, cost, conversions)."""
    frame = pd.DataFrame(items, columns=["term", "term_type", "clicks", "cost", "conversions"])
    return frame.assign(campaign_id="C1", impressions=frame["clicks"] * 10)


PLANTED = rows(
    ("emergency plumber", "keyword", 0, 0.0, 0.0),
    ("free plumber course", "keyword", 0, 0.0, 0.0),
    ("emergency plumber london", "search_term", 200, 400.0, 20.0),
    ("plumber near me", "search_term", 100, 200.0, 8.0),
    # planted waste: "jobs" never converts, 100 clicks (~6 conversions at the rest's
    # rate, beyond chance across the campaign's fragments), 140 spent
    ("plumber jobs", "search_term", 50, 70.0, 0.0),
    ("plumber jobs london", "search_term", 50, 70.0, 0.0),
    # "free" wastes too, but would block the keyword "free plumber course"
    ("free plumber advice", "search_term", 50, 50.0, 0.0),
    ("free drain tips", "search_term", 60, 80.0, 0.0),
    # below the click threshold: not judged
    ("plumber salary", "search_term", 5, 20.0, 0.0),
)


def test_ngram_table_adds_each_term_once_per_fragment():
    table = ngrams.ngram_table(PLANTED).set_index("ngram")
    assert table.at["jobs", "clicks"] == 100 and table.at["jobs", "search_terms"] == 2
    assert table.at["plumber jobs", "cost"] == 140.0
    assert table.at["plumber", "conversions"] == 28.0  # keyword rows are not counted
    assert table.at["plumber jobs london", "n"] == 3
    assert table["n"].max() == 3
    assert table.at["emergency plumber", "cost_per_conversion"] == pytest.approx(20.0)


def test_ngram_waste_finds_the_planted_fragment_and_drops_the_conflict():
    notes: list[str] = []
    action = ngrams.ngram_waste(PLANTED, notes=notes)
    assert action is not None and action.kind == "ngram_waste"
    evidence = action.evidence.set_index("negative")
    safe = evidence[evidence["status"] == "safe"]
    assert "jobs" in safe.index and safe.at["jobs", "match_type"] == "broad"
    assert safe.at["jobs", "cost"] == 140.0
    assert "plumber jobs" not in safe.index  # "jobs" already blocks its search terms
    assert "plumber" not in safe.index and "salary" not in safe.index
    assert evidence.at["free", "status"].startswith("dropped: conflicts with keyword")
    assert "free plumber course" in evidence.at["free", "blocks"]
    # The reason states the thresholds it used.
    searches = PLANTED[PLANTED["term_type"] == "search_term"]
    rate = searches["conversions"].sum() / searches["clicks"].sum()
    assert str(ngrams.clicks_needed(rate, ngrams.NgramSettings())) in action.reason


def test_no_conversions_at_all_is_a_note_not_a_suggestion():
    dead = PLANTED.assign(conversions=0.0)
    notes: list[str] = []
    assert ngrams.ngram_waste(dead, notes=notes) is None
    assert any("no conversions" in n for n in notes)


def test_clicks_needed_follows_the_conversion_rate():
    s = ngrams.NgramSettings()
    assert ngrams.clicks_needed(0.05, s) == 45  # 0.95^45 < 0.1 <= 0.95^44
    assert ngrams.clicks_needed(0.5, s) == s.min_clicks
    assert ngrams.clicks_needed(0.0, s) == s.min_clicks


@pytest.mark.parametrize(("negative", "match_type", "term", "blocked"), [
    ("plumber jobs", "exact", "plumber jobs", True),
    ("plumber jobs", "exact", "plumber jobs london", False),
    ("plumber jobs", "phrase", "london plumber jobs", True),
    ("plumber jobs", "phrase", "jobs plumber", False),
    ("plumber jobs", "broad", "jobs for a plumber", True),
    ("plumber jobs", "broad", "plumber london", False),
    ('"Free"', "broad", "[free plumber course]", True),
])
def test_negative_match_types_block_as_google_does(negative, match_type, term, blocked):
    assert negatives.blocks(negatives.words(negative), match_type,
                            negatives.words(term)) is blocked


def test_conflict_check_lists_keywords_and_converting_search_terms():
    candidates = pd.DataFrame({"negative": ["london", "jobs", "course"],
                               "match_type": ["broad", "broad", "phrase"]})
    check = negatives.check_conflicts(candidates, PLANTED)
    assert check.safe["negative"].tolist() == ["jobs"]
    blocked = check.conflicts.set_index("blocked")
    assert blocked.at["emergency plumber london", "blocked_type"] == "converting search term"
    assert blocked.at["emergency plumber london", "conversions"] == 20.0
    assert blocked.at["free plumber course", "blocked_type"] == "keyword"


def test_suggest_carries_ngram_waste_and_match_types_on_negatives():
    neighbours = pd.DataFrame({"campaign_id": ["C2"], "similarity": [0.9]})
    neighbour_terms = rows(("emergency plumber", "keyword", 10, 20.0, 1.0)).assign(
        campaign_id="C2")
    vocab = ["plumber", "emergency", "london", "jobs", "free", "drain", "tips", "salary"]
    topic_term = np.array([[0.4, 0.3, 0.2, 0.02, 0.02, 0.02, 0.02, 0.02],
                           [0.02, 0.02, 0.02, 0.3, 0.2, 0.2, 0.2, 0.04]])
    result = suggest(PLANTED, neighbour_terms, neighbours, np.array([0.95, 0.05]),
                     topic_term=topic_term, vocab=vocab)
    kinds = {a.kind: a for a in result.actions}
    assert "ngram_waste" in kinds
    assert "jobs" in set(kinds["ngram_waste"].evidence["negative"])
    # "free drain tips" wasted money and fits topic 1, not the campaign's topic 0.
    negatives = kinds["add_negatives"].evidence
    assert "free drain tips" in set(negatives["term"])
    assert set(negatives["match_type"]) == {"exact"}


def test_cli_ngrams_of_a_campaign_and_of_its_account(trained_home):
    from core.data import datasets
    from tests.conftest import cli, ok_json

    campaigns = datasets.campaigns("demo", 1)
    one = ok_json(cli("ngrams", "C00001", home=trained_home))
    assert one["campaigns"] == 1 and one["ngrams"]
    costs = [g["cost"] for g in one["ngrams"]]
    counts = [g[c] for g in one["ngrams"] for c in ("n", "search_terms", "impressions",
                                                    "clicks")]
    assert all(type(v) is int for v in counts), one["ngrams"][0]   # was 5634.0
    # sums in the currency's minor unit (cents, the demo's currency being unknown), with
    # no float noise (was 7697.5599999999995)
    money = [g[c] for g in one["ngrams"] for c in ("cost", "cost_per_conversion")
             if g[c] is not None]
    assert money and all(v == round(v, 2) for v in money), money
    assert costs == sorted(costs, reverse=True)
    # The largest accounts; not every one wastes money on a fragment, some must.
    sizes = campaigns["account"].value_counts()
    with_action = []
    for account in sorted(sizes.index[:5]):
        whole = ok_json(cli("ngrams", "--account", account, "--top", "5", home=trained_home))
        assert whole["campaigns"] == sizes[account] > 1
        assert len(whole["ngrams"]) == 5
        if whole["action"]:
            with_action.append(whole["action"])
    assert with_action, "no large demo account has an n-gram waste action"
    for action in with_action:
        assert action["kind"] == "ngram_waste"
        safe = [e for e in action["evidence"] if e["status"] == "safe"]
        assert safe and all(e["conversions"] == 0 and e["cost"] > 0 for e in safe)
    account = sizes.index[0]
    for bad in (["ngrams"], ["ngrams", "C00001", "--account", account],
                ["ngrams", "NOPE"], ["ngrams", "C00001", "--top", "0"]):
        result = cli(*bad, home=trained_home)
        assert result.returncode == 1 and result.stderr.startswith("error: "), bad


def test_shown_sums_drop_float_noise_and_keep_what_is_stored_elsewhere():
    """Sums of floats as reports show them: `ngrams` printed 1486.0000000000005 for a sum
    of counts and 7697.5599999999995 for a cost; a fractional conversion is kept."""
    from core.data.currencies import shown_sums

    sums = pd.DataFrame({"impressions": [sum([0.1] * 10) * 1486], "conversions": [0.1 + 0.2],
                         "cost": [7697.5599999999995], "term": ["kept"]})
    assert sums["impressions"].iloc[0] != 1486 and sums["conversions"].iloc[0] != 0.3
    shown = shown_sums(sums, None)
    assert shown.to_dict(orient="records") == [{"impressions": 1486.0, "conversions": 0.3,
                                                "cost": 7697.56, "term": "kept"}]
    assert shown_sums(sums, "JPY")["cost"].iloc[0] == 7698
    assert shown_sums(sums.assign(conversions=1 / 3), None)["conversions"].iloc[0] == 0.333333
    assert sums["cost"].iloc[0] == 7697.5599999999995  # the frame given is left as it was


def test_cli_ngrams_trims_the_campaign_id_as_every_command_does(trained_home):
    """`ngrams " C00001 "` was "No campaign id ' C00001 '" while `neighbors` and `suggest`
    trim the id, as an import trims every id it stores; a blank one is refused."""
    from tests.conftest import cli, ok_json

    plain = ok_json(cli("ngrams", "C00001", "--top", "3", home=trained_home))
    padded = ok_json(cli("ngrams", " C00001 ", "--top", "3", home=trained_home))
    assert padded == plain and padded["campaign_id"] == "C00001"
    blank = cli("ngrams", "   ", home=trained_home)
    assert blank.returncode == 1
    assert blank.stderr.startswith("error: The campaign id '   ' is blank"), blank.stderr


def test_a_campaign_id_in_another_case_is_named_by_every_command(trained_home):
    """`c00001` for C00001 said "unknown" with no hint (ngrams, neighbors, suggest,
    fingerprint); the stored spelling is looked up only on a miss."""
    from tests.conftest import cli

    for command in ("ngrams", "neighbors", "suggest", "fingerprint"):
        missed = cli(command, "c00001", home=trained_home)
        assert missed.returncode == 1, command
        assert "Did you mean 'C00001'? Campaign ids are case-sensitive." in missed.stderr, \
            (command, missed.stderr)
        unknown = cli(command, "ZZ00001", home=trained_home)
        assert unknown.returncode == 1 and "Did you mean" not in unknown.stderr, command


def test_an_account_in_another_case_is_named_by_ngrams(trained_home):
    """`ngrams --account` of an account in another case said "No account" with no hint,
    while a campaign id got one (`datasets.campaign_case_hint`, now of either column)."""
    import pytest

    from core.data import datasets
    from core.errors import NotFoundError
    from core.serve import ngram_report

    account = datasets.campaigns("demo", 1)["account"].value_counts().index[0]
    with pytest.raises(NotFoundError, match=rf"Did you mean '{account}'\? Account names are "
                                            "case-sensitive."):
        ngram_report.report(account=account.swapcase(), dataset="demo", version=1)
    with pytest.raises(NotFoundError) as unknown:
        ngram_report.report(account="no such account", dataset="demo", version=1)
    assert "Did you mean" not in str(unknown.value)


def test_a_blank_account_is_refused_not_answered_with_unrelated_accounts(trained_home):
    """`suggest --account ""` (a shell variable left empty) was "No account '' … Accounts
    like it:" and the first accounts of the dataset, which all contain the empty text."""
    from tests.conftest import cli

    for args in (["suggest", "--account", ""], ["ngrams", "--account", "  "]):
        result = cli(*args, home=trained_home)
        assert result.returncode == 1, args
        assert result.stderr.startswith(f"error: The account name {args[-1]!r} is blank"), \
            result.stderr
        assert "like it" not in result.stderr


def test_lookup_page_shows_the_ngram_waste_action(trained_home):
    import streamlit as st

    from tests.test_pages import ok, page

    st.cache_data.clear()
    st.cache_resource.clear()
    from core.data import datasets, demo
    truth = pd.read_parquet(demo.planted_path())
    stored = set(datasets.campaigns("demo", 1)["campaign_id"])
    waste = truth[(truth["kind"] == "ngram_waste") & (truth["origin"] == "planted")
                  & truth["campaign_id"].isin(stored)]
    at = page("lookup")
    at.selectbox(key="lookup_campaign").set_value(waste["campaign_id"].iloc[0]).run()
    ok(at)
    labels = [e.label for e in at.expander]
    assert any("wasteful search-term fragment" in label for label in labels), labels


def test_cli_ngrams_reads_the_production_models_dataset_and_says_when_it_has_no_searches(
        trained_home):
    """`ngrams akashi_nonbrand` looked in demo while production served sony (`No campaign
    id 'akashi_nonbrand' in demo v2`), and a keywords-only campaign gave `ngrams: []` with
    no word of why."""
    from core.data import ingest
    from core.ops import deploy, train
    from tests.conftest import FAST_PARAMS, FIXTURES, cli, ok_json

    ingest.import_paths([FIXTURES / "sony"], "sony")
    model = train.train(train.TrainSpec(dataset="sony", k=2, params=FAST_PARAMS))
    deploy.promote(model.model_id, "production", other_dataset=True)
    report = ok_json(cli("ngrams", "akashi_nonbrand", home=trained_home))
    assert (report["dataset"], report["ngrams"]) == ("sony", [])
    assert report["notes"][0].startswith("No search terms for this campaign")
    assert ok_json(cli("ngrams", "C00001", "--dataset", "demo", home=trained_home))["ngrams"]
