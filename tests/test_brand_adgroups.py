"""Brand vs non-brand (`brand_leak`), wrong ad group (`wrong_ad_group`) and suggestions over
a whole account: small planted cases, then the real store and model."""

from __future__ import annotations

import io
import json
import time
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from core.model import actions, adgroups, brand
from core.model.actions import ActionSettings
from core.serve import brand_lists
from tests.conftest import cli


def rows(campaign: str, name: str, account: str | None, items: list[tuple],
         term_type: str = "search_term", ad_group: str | None = None) -> pd.DataFrame:
    """items: (term, cost, conversions)."""
    frame = pd.DataFrame(items, columns=["term", "cost", "conversions"])
    return frame.assign(campaign_id=campaign, campaign_name=name, account=account,
                        term_type=term_type, ad_group=ad_group, match_type=None,
                        impressions=100, clicks=10)


# Two plumbers and a dentist; "summit pro" and "acme direct" are brands (rare words the
# model's vocabulary lacks), "plumbing", "plumber", "drain" are what is sold.
VOCABULARY = ["plumbing", "plumber", "drain", "cleaning", "emergency", "reviews", "dentist",
              "teeth", "whitening", "near", "repair", "boiler"]
SUMMIT_BRAND = rows("S1", "Summit Pro Plumbing - Brand - Chicago", "Summit Pro Plumbing",
                    [("summit pro plumbing", 50.0, 5), ("summit pro reviews", 10.0, 1),
                     ("acme direct plumbing", 30.0, 0)])          # planted: competitor
SUMMIT_GENERIC = rows("S2", "Summit Pro Plumbing - Drains - Chicago", "Summit Pro Plumbing",
                      [("drain cleaning", 40.0, 2), ("emergency plumber", 60.0, 3),
                       ("summit pro plumbing near me", 20.0, 2)])  # planted: own brand
ACME = rows("A1", "Acme Direct Plumbing - Boilers - US", "Acme Direct Plumbing",
            [("boiler repair", 30.0, 1), ("summit pro boiler", 5.0, 0)])  # conquesting: fine
DENTIST = rows("D1", "Bright Smile Dental - Whitening - UK", "Bright Smile Dental",
               [("teeth whitening", 20.0, 1)])
ALL = pd.concat([SUMMIT_BRAND, SUMMIT_GENERIC, ACME, DENTIST], ignore_index=True)


def index() -> brand.BrandIndex:
    return brand.BrandIndex.build(brand.campaign_table(ALL), VOCABULARY)


def test_brand_phrases_come_from_account_names_without_what_is_sold():
    phrases = index().phrases
    assert phrases["Summit Pro Plumbing"] == ("summit pro",)
    assert phrases["Acme Direct Plumbing"] == ("acme direct",)
    # no ending shared by enough accounts here: the whole name and its first two words
    assert phrases["Bright Smile Dental"] == ("bright smile dental", "bright smile")


def test_own_brand_in_a_non_brand_campaign_is_flagged_with_its_rows():
    summit = ALL[ALL["account"] == "Summit Pro Plumbing"]
    action = brand.brand_leak(SUMMIT_GENERIC, index(), summit)
    assert action is not None and action.kind == "brand_leak"
    evidence = action.evidence
    assert evidence["term"].tolist() == ["summit pro plumbing near me"]
    assert evidence["leak"].tolist() == [brand.OWN] and evidence["brand"].iloc[0] == "summit pro"
    assert evidence["cost"].iloc[0] == 20.0
    assert "17%" in action.reason  # 20 of 120
    # a competitor's non-brand campaign may bid on Summit's brand (conquesting): not flagged
    assert brand.brand_leak(ACME, index(), ACME) is None


def test_competitor_brand_in_a_brand_campaign_is_flagged():
    action = brand.brand_leak(SUMMIT_BRAND, index(), ALL[ALL["account"] == "Summit Pro Plumbing"])
    assert action is not None
    assert action.evidence[["term", "leak", "brand", "brand_of"]].values.tolist() == [
        ["acme direct plumbing", brand.COMPETITOR, "acme direct", "Acme Direct Plumbing"]]
    assert action.score > 0.3


def test_a_brand_ad_group_inside_a_generic_campaign_is_brand():
    grouped = SUMMIT_GENERIC.assign(ad_group=["Drains", "Emergency", "Brand - Summit"])
    assert brand.brand_leak(grouped, index(), grouped) is None


def test_kana_romanisation_matches_latin_brand_names():
    assert brand.romanize("アカシ") == "akasi" and brand.romanize("あかし") == "akasi"
    assert brand.loose("akashi") == brand.loose(brand.romanize("アカシ"))
    assert brand.loose("sony") == brand.loose(brand.romanize("ソニー"))
    assert brand.loose("amulink") == brand.loose(brand.romanize("アミュリンク"))
    assert brand.loose("akashi") != brand.loose(brand.romanize("アクセス"))


# Sony's akashi exports: no account column; the brand is in the names (akashi) and, in
# katakana and hiragana, only inside the brand campaign's keywords.
AKASHI_BRAND = rows("akashi_brand", "akashi_brand", None,
                    [("akashi", 900.0, 90), ("アカシ", 100.0, 9), ("アカシ 勤怠", 50.0, 3),
                     ("あかし 勤怠", 5.0, 0), ("akashi 勤怠管理", 30.0, 4),
                     ("打刻 アプリ", 10.0, 1)], term_type="keyword")
AKASHI_GENERIC = rows("akashi_nonbrand", "akashi_nonbrand", None,
                      [("勤怠管理 システム", 500.0, 5), ("勤怠管理 クラウド", 400.0, 4),
                       ("打刻 システム", 300.0, 2), ("アカシ勤怠", 20.0, 1)],  # planted
                      term_type="keyword", ad_group="勤怠管理")
SONY_VOCABULARY = ["勤怠", "管理", "システム", "打刻", "アプリ"]  # what is sold, in every file


def test_katakana_brand_in_keywords_only_is_found_and_flagged():
    both = pd.concat([AKASHI_BRAND, AKASHI_GENERIC], ignore_index=True)
    idx = brand.BrandIndex.build(brand.campaign_table(both), SONY_VOCABULARY)
    assert idx.campaigns_of("akashi_nonbrand") == ["akashi_brand", "akashi_nonbrand"]
    phrases = brand.owner_phrases(idx, "~akashi", both)
    # 勤怠 (a word of the model, two characters) is what is sold, though this non-brand
    # campaign writes it only inside 勤怠管理
    assert {"akashi", "アカシ", "あかし"} <= set(phrases) and "勤怠" not in phrases
    action = brand.brand_leak(AKASHI_GENERIC, idx, both)
    assert action is not None and action.evidence["term"].tolist() == ["アカシ勤怠"]


def test_a_non_brand_campaign_is_not_told_to_add_its_brand_in_katakana():
    """Sony's akashi_nonbrand was told to add 'アカシ' (a keyword of akashi_brand)."""
    neighbors = pd.DataFrame({"campaign_id": ["akashi_brand"], "similarity": [0.9]})
    both = pd.concat([AKASHI_BRAND, AKASHI_GENERIC], ignore_index=True)
    result = actions.suggest(AKASHI_GENERIC, AKASHI_BRAND, neighbors, np.array([0.9, 0.1]),
                             vocab=SONY_VOCABULARY, owner_terms=both,
                             settings=ActionSettings(keyword_min_neighbors=1))
    ideas = [a for a in result.actions if a.kind == "add_keywords"]
    assert ideas and set(ideas[0].evidence["term"]) == {"打刻 アプリ"}
    leaks = [a for a in result.actions if a.kind == "brand_leak"]
    assert leaks and leaks[0].evidence["term"].tolist() == ["アカシ勤怠"]


def test_a_word_many_advertisers_use_is_not_an_own_brand_word():
    """'reviews' is in a third of Summit's brand rows and none of its others; a model whose
    vocabulary filter dropped it as too common knows it (`known_by`): not a brand."""
    summit = pd.concat([SUMMIT_BRAND, SUMMIT_GENERIC], ignore_index=True)
    vocabulary = [w for w in VOCABULARY if w != "reviews"]
    idx = brand.BrandIndex.build(brand.campaign_table(ALL), vocabulary)
    assert "reviews" in brand.owner_phrases(idx, "Summit Pro Plumbing", summit)
    idx.is_known = lambda word: word == "reviews"
    assert "reviews" not in brand.owner_phrases(idx, "Summit Pro Plumbing", summit)


def test_a_competitor_phrase_that_starts_with_the_own_brand_is_not_foreign():
    air = rows("F1", "Summit Air - Brand - US", "Summit Air",
               [("summit first class tickets", 90.0, 9), ("acme direct plumbing", 5.0, 0)])
    cars = rows("F2", "Summit First Auto Care - Repairs - US", "Summit First Auto Care",
                [("brake repair", 10.0, 1)])
    both = pd.concat([ALL, air, cars], ignore_index=True)
    sold = [*VOCABULARY, "air", "auto", "care", "class", "tickets"]  # what is sold
    idx = brand.BrandIndex.build(brand.campaign_table(both), sold)
    assert idx.phrases["Summit Air"] == ("summit",)
    assert idx.phrases["Summit First Auto Care"] == ("summit first",)
    action = brand.brand_leak(air, idx, air)
    # Summit Air's own brand followed by what it sells; Acme Direct is a competitor
    assert action is not None and action.evidence["term"].tolist() == ["acme direct plumbing"]


def test_own_brand_is_not_flagged_where_the_advertiser_keeps_no_brand_campaign():
    """Sony's product exports (sony_camera, sony_bravia): every campaign bids on 'sony' and
    none is a brand campaign, so there is no separation to keep and nowhere to move to."""
    camera = rows("sony_camera", "sony_camera", None,
                  [("sony a7", 50.0, 5), ("ミラーレス", 9.0, 1)])
    tv = rows("sony_bravia", "sony_bravia", None, [("sony tv", 40.0, 2), ("4k テレビ", 8.0, 1)])
    both = pd.concat([camera, tv], ignore_index=True)
    idx = brand.BrandIndex.build(brand.campaign_table(both), ["tv"])
    assert idx.phrases["~sony"] == ("sony",)
    assert brand.brand_leak(camera, idx, both) is None
    # once the advertiser runs a brand campaign, 'sony' in the others is a leak again
    own = rows("sony_brand", "sony_brand", None, [("sony", 90.0, 20)])
    three = pd.concat([both, own], ignore_index=True)
    idx = brand.BrandIndex.build(brand.campaign_table(three), ["tv"])
    action = brand.brand_leak(camera, idx, three)
    assert action is not None and action.evidence["term"].tolist() == ["sony a7"]


def _store_all(home) -> None:
    """ALL as a stored dataset (the brand list's account must be in the data)."""
    from core.data import ingest
    path = home.parent / "brands.parquet"
    home.mkdir(parents=True, exist_ok=True)
    ALL.to_parquet(path, index=False)
    ingest.import_paths([path], "brands")


def test_brand_list_setting_is_stored_and_used(home):
    _store_all(home)
    assert brand_lists.set_brand_list("Bright Smile Dental", ["Smile Co", " "]) == ["smile co"]
    lists = brand_lists.brand_lists()
    assert lists == {"Bright Smile Dental": ["smile co"]}
    idx = brand.BrandIndex.build(brand.campaign_table(ALL), VOCABULARY, lists=lists)
    assert "smile co" in idx.phrases["Bright Smile Dental"]
    assert brand_lists.set_brand_list("Bright Smile Dental", []) == []
    assert brand_lists.brand_lists() == {}


def test_a_brand_lists_time_is_utc_as_every_stored_time(home):
    """Its `updated_at` was DuckDB's now() cast to TIMESTAMP, the machine's local time
    (Tokyo: nine hours ahead of the audit entry written in the same transaction)."""
    from core.data import audit, store
    _store_all(home)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TZ", "Asia/Tokyo")
        time.tzset()
        try:
            brand_lists.set_brand_list("Bright Smile Dental", ["smile co"])
        finally:
            mp.undo()
            time.tzset()
    stored = store.query_one("SELECT updated_at FROM account_brands")[0]
    assert abs(stored - audit.now()) < timedelta(minutes=5), (stored, audit.now())


def test_brands_cli_sets_lists_clears_audits_and_checks_account_and_role(home):
    from core.data import audit, auth
    from core.errors import PermissionDenied
    from tests.conftest import ok_json
    _store_all(home)
    assert ok_json(cli("brands", "set", "Bright Smile Dental", "Smile Co", "smileco",
                       home=home)) == {"account": "Bright Smile Dental",
                                       "phrases": ["smile co", "smileco"]}
    # a typo of the account: nothing written, the message names the account it may be
    bad = cli("brands", "set", "Bright Smile Dentl", "x", home=home)
    assert bad.returncode == 1 and "'Bright Smile Dental'" in bad.stderr
    assert ok_json(cli("brands", "list", home=home)) == [
        {"account": "Bright Smile Dental", "phrases": ["smile co", "smileco"]}]
    assert ok_json(cli("brands", "list", "Acme Direct Plumbing", home=home))["phrases"] == []
    # a misspelt account is named as `set` names it (it was listed as [], no list set)
    typo = cli("brands", "list", "Bright Smile Dentl", home=home)
    assert typo.returncode == 1 and typo.stdout == ""
    assert "'Bright Smile Dentl' is in no stored dataset" in typo.stderr
    assert "'Bright Smile Dental'" in typo.stderr
    with auth.use(auth.User("machine", auth.SCORER)):
        try:
            brand_lists.set_brand_list("Bright Smile Dental", ["other"])
            raise AssertionError("a scorer key may not change brand lists")
        except PermissionDenied:
            pass
    with auth.use(auth.User("ama", auth.ACCOUNT_MANAGER)):  # account managers know brands
        assert brand_lists.set_brand_list("Bright Smile Dental", ["smile co"]) == ["smile co"]
    entries = audit.entries(action="set_brands")
    assert entries["actor"].tolist()[:2] == ["ama", auth.current_user().name]
    latest = json.loads(entries["details"].iloc[0])
    assert latest == {"before": ["smile co", "smileco"], "after": ["smile co"]}
    assert ok_json(cli("brands", "clear", "Bright Smile Dental", home=home))["phrases"] == []
    again = cli("brands", "clear", "Bright Smile Dental", home=home)
    assert again.returncode == 1 and "no brand list" in again.stderr
    assert brand_lists.brand_lists() == {}


def test_a_brand_list_of_an_export_without_accounts_is_keyed_by_its_name_word(home):
    from core.data import ingest
    path = home.parent / "akashi.parquet"
    home.mkdir(parents=True, exist_ok=True)
    pd.concat([AKASHI_BRAND, AKASHI_GENERIC], ignore_index=True).to_parquet(path, index=False)
    ingest.import_paths([path], "sony")
    assert brand_lists.set_brand_list("~akashi", ["アカシ"]) == ["アカシ"]
    try:
        brand_lists.set_brand_list("akashi", ["x"])
        raise AssertionError("an unknown account must be refused")
    except Exception as err:  # NotFoundError, naming the advertiser it may be
        assert "'~akashi'" in str(err)


# -- wrong ad group ----------------------------------------------------------------------
def topic_fit(terms: list[str]) -> np.ndarray:
    """Two topics: plumbing words and dental words (a stand-in for a model's fold-in)."""
    plumbing, dental = {"plumber", "drain", "boiler", "pipe"}, {"teeth", "dentist", "braces"}
    out = []
    for t in terms:
        words = set(t.split())
        out.append([len(words & plumbing), len(words & dental)])
    theta = np.asarray(out, dtype=float)
    total = theta.sum(axis=1, keepdims=True)
    return np.divide(theta, total, out=np.zeros_like(theta), where=total > 0)


def test_wrong_ad_group_on_a_planted_case():
    keywords = pd.concat([
        rows("C1", "Mixed", "A", [("emergency plumber", 0, 0), ("drain pipe", 0, 0)],
             term_type="keyword", ad_group="Plumbing"),
        rows("C1", "Mixed", "A", [("dentist near me", 0, 0), ("teeth cleaning", 0, 0)],
             term_type="keyword", ad_group="Dental")])
    searches = pd.concat([
        rows("C1", "Mixed", "A", [("plumber london", 30.0, 1),
                                  ("teeth cleaning london", 25.0, 2),   # planted
                                  ("dentist reddit", 9.0, 0)],   # a negative, not a move
             ad_group="Plumbing"),
        rows("C1", "Mixed", "A", [("dentist open now", 12.0, 1),
                                  ("emergency plumber teeth", 5.0, 1)], ad_group="Dental")])
    action = adgroups.wrong_ad_group(pd.concat([keywords, searches]), topic_fit)
    assert action is not None and action.kind == "wrong_ad_group"
    row = action.evidence.iloc[0]
    assert len(action.evidence) == 2 and row["term"] == "teeth cleaning london"
    assert (row["current_ad_group"], row["better_ad_group"]) == ("Plumbing", "Dental")
    assert row["matched_keyword"] == "teeth cleaning" and pd.isna(row["own_keyword"])
    assert row["better_fit"] > 0.9 and row["own_fit"] < 0.1 and row["cost"] == 25.0
    # matched by a Plumbing keyword and by none of Dental's: it moves the other way
    other = action.evidence.iloc[1]
    assert (other["term"], other["better_ad_group"]) == ("emergency plumber teeth", "Plumbing")
    # a term its own group's keyword matches as well as any other stays ("plumber london")
    assert "plumber london" not in set(action.evidence["term"])
    # a query with a word the campaign never bids on nor converts with is not moved
    assert "dentist reddit" not in set(action.evidence["term"])
    # one ad group only, or no search terms: nothing to move
    assert adgroups.wrong_ad_group(keywords.assign(ad_group="Plumbing"), topic_fit) is None
    assert adgroups.wrong_ad_group(keywords, topic_fit) is None


def test_a_term_its_own_ad_groups_name_or_theme_word_claims_is_not_moved():
    """A keyword of another group that is only a part of the term ("dentist") does not
    move it when the rest of the term is its own group's: named in its ad group's name
    ("emergency" in "Emergency Dental"), or a word the model puts in one topic ("reverse"
    mortgage). A spread word ("cheap") is a modifier and does not hold the term back."""
    def fit(terms: list[str]) -> np.ndarray:  # "cheap" in both topics, the rest in one
        topics = ({"mortgage", "reverse", "heloc", "cheap"}, {"dentist", "cheap", "toothache"})
        theta = np.asarray([[len(set(t.split()) & ws) for ws in topics] for t in terms], float)
        total = theta.sum(axis=1, keepdims=True)
        return np.divide(theta, total, out=np.zeros_like(theta), where=total > 0)

    frame = pd.concat([
        rows("C1", "Mixed", "A", [("dentist", 0, 0), ("mortgage", 0, 0)], term_type="keyword",
             ad_group="General"),
        rows("C1", "Mixed", "A", [("toothache", 0, 0)], term_type="keyword",
             ad_group="Emergency Dental"),
        rows("C1", "Mixed", "A", [("heloc", 0, 0)], term_type="keyword", ad_group="Home Equity"),
        rows("C1", "Mixed", "A", [("emergency dentist", 10.0, 1)], ad_group="Emergency Dental"),
        rows("C1", "Mixed", "A", [("refinance", 0, 0)], term_type="keyword",
             ad_group="Refinance"),
        rows("C1", "Mixed", "A", [("reverse mortgage", 10.0, 1)], ad_group="Home Equity"),
        rows("C1", "Mixed", "A", [("cheap mortgage", 10.0, 1)], ad_group="Refinance")])
    moved = set(adgroups.wrong_ad_group(frame, fit).evidence["term"])
    assert moved == {"cheap mortgage"}
    # without a model only the name claims: the theme word is not known as one
    assert set(adgroups.wrong_ad_group(frame).evidence["term"]) == {"cheap mortgage",
                                                                    "reverse mortgage"}
    # a theme word that the better group's own terms use does not hold the term back
    used = pd.concat([frame, rows("C1", "Mixed", "A", [("reverse mortgage rates", 5.0, 1)],
                                  ad_group="General")])
    assert "reverse mortgage" in set(adgroups.wrong_ad_group(used, fit).evidence["term"])
    renamed = frame.replace({"ad_group": {"Emergency Dental": "Urgent Care"}})
    assert "emergency dentist" in set(adgroups.wrong_ad_group(renamed, fit).evidence["term"])


def planted_campaign(lookup) -> tuple[str, pd.DataFrame, str, str, str]:
    """A demo campaign with a search term that a keyword of its ad group matches (all the
    keyword's words in it) moved into an ad group none of whose keywords does."""
    for cid in lookup.campaigns.index:
        own = lookup._rows_of([cid]).copy()
        themed = ~own["ad_group"].astype(str).str.match(r"(?i)brand|competitor")
        keywords = own[themed & (own["term_type"] == "keyword")]
        groups = keywords.groupby("ad_group")["term"].agg(lambda ts: [set(t.split()) for t in ts])
        if len(groups) < 2:
            continue
        searches = own[themed & (own["term_type"] == "search_term") & (own["conversions"] > 0)]
        for i, term in searches["term"].items():
            words = set(term.split())
            home_group = own.at[i, "ad_group"]
            if home_group not in groups or not any(k <= words for k in groups[home_group]):
                continue
            elsewhere = [g for g, ks in groups.items()
                         if g != home_group and not any(k <= words for k in ks)]
            if elsewhere:
                own.loc[i, "ad_group"] = elsewhere[0]
                return cid, own, actions.normalize_term(term), elsewhere[0], home_group
    raise AssertionError("no demo campaign to plant a misplaced search term in")


def test_wrong_ad_group_finds_a_planted_term_with_the_real_model(trained_home):
    from core.serve.lookup import Lookup

    lookup = Lookup()
    cid, own, term, wrong, right = planted_campaign(lookup)
    k = lookup.model.engine.topic_term_.shape[0]
    action = adgroups.wrong_ad_group(
        own, lambda ts: actions._term_topics(ts, k, None, None, lookup._term_fit))
    assert action is not None
    hit = action.evidence[action.evidence["term"] == term]
    assert hit[["current_ad_group", "better_ad_group"]].values.tolist() == [[wrong, right]]
    # the campaign as it was has no such problem for that term
    before = adgroups.wrong_ad_group(
        lookup._rows_of([cid]),
        lambda ts: actions._term_topics(ts, k, None, None, lookup._term_fit))
    assert before is None or term not in set(before.evidence["term"])


def test_suggest_over_an_account_ranks_every_campaign_json_and_csv(trained_home):
    from core.serve.lookup import Lookup

    lookup = Lookup()
    sizes = lookup.campaigns.groupby("account").size()
    account = sizes[sizes >= 2].index[0]
    ids = set(lookup.campaigns.index[lookup.campaigns["account"] == account])
    out = cli("suggest", "--account", account, home=trained_home)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["account"] == account and {c["campaign_id"] for c in result["campaigns"]} == ids
    ranked = result["actions"]
    assert ranked and {r["campaign_id"] for r in ranked} <= ids
    scores = [r["score"] for r in ranked]
    assert scores == sorted(scores, reverse=True)
    # counts and ids as JSON integers (pandas made them floats beside missing ones: 12.0)
    whole = [r[c] for r in ranked for c in ("rank", "topic", "keywords", "impressions",
                                            "clicks") if r.get(c) is not None]
    assert whole and all(type(v) is int for v in whole), whole
    one = lookup.campaign(next(iter(ids)))  # the same actions as campaign by campaign
    kinds = {(r["campaign_id"], r["kind"]) for r in ranked}
    assert {(one.campaign_id, a.kind) for a in one.suggestions.actions} <= kinds
    csv = cli("suggest", "--account", account, "--format", "csv", home=trained_home)
    assert csv.returncode == 0, csv.stderr
    frame = pd.read_csv(io.StringIO(csv.stdout))
    assert list(frame.columns[:3]) == ["rank", "campaign_id", "campaign_name"]
    assert set(frame["campaign_id"]) == {r["campaign_id"] for r in ranked}
    missing = cli("suggest", "--account", "No Such Account", home=trained_home)
    assert missing.returncode == 1 and "No Such Account" in missing.stderr


def test_lookup_page_edits_the_brand_list_of_the_campaigns_account(trained_home):
    from tests.test_pages import ok, page
    at = page("lookup")
    at.selectbox(key="lookup_campaign").set_value("C00002").run()
    ok(at)
    from core.data import store
    owner = store.query_one("SELECT any_value(account) FROM terms WHERE campaign_id = 'C00002'"
                            )[0]  # the page edits the list of the campaign's own account
    box = at.text_input(key=f"brand_list:{owner}")
    assert box.value == ""  # nothing set yet
    box.set_value("Acme Co, acmeco")
    at.button(key="FormSubmitter:brand_list-Save brand list").click().run()
    ok(at)
    assert brand_lists.brand_list(owner) == ["acme co", "acmeco"]
    assert any("acme co, acmeco" in s.value for s in at.success)


def test_lookup_pages_brand_box_follows_a_list_set_elsewhere(trained_home):
    """`brands set` (or another tab) while Lookup showed the campaign: the box stayed empty,
    so a phrase typed into it and saved replaced the list nobody on the page had seen."""
    from tests.test_pages import ok, page
    at = page("lookup")
    at.selectbox(key="lookup_campaign").set_value("C00002").run()
    from core.data import store
    owner = store.query_one("SELECT any_value(account) FROM terms WHERE campaign_id = 'C00002'"
                            )[0]
    assert at.text_input(key=f"brand_list:{owner}").value == ""
    brand_lists.set_brand_list(owner, ["acme co", "acmeco"])
    ok(at.run())
    assert at.text_input(key=f"brand_list:{owner}").value == "acme co, acmeco"


def test_an_owner_without_an_account_is_labelled_by_its_campaigns():
    """Lookup's brand box said "Brand list of po" for Sony's `PO_general`."""
    owner = brand.owner_name(None, "PO_general", "1")
    assert owner == "~po"  # the key brand lists are stored under is unchanged
    assert brand.owner_label(owner, "PO_general") == "PO (campaigns named PO…)"
    assert brand.owner_label(owner, "Other_x") == "po (campaigns named po…)"
    assert brand.owner_label("Acme Dental", "Acme - Brand") == "Acme Dental"
