"""Streamlit AppTest runs of the pages: real scripts, real store, no browser."""

from __future__ import annotations

import html
import json

import pandas as pd
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from core.data import datasets, ingest
from tests.conftest import FIXTURES, REPO, app_test, write_terms_csv

APP = str(REPO / "app.py")


@pytest.fixture(autouse=True)
def fresh_caches():
    st.cache_data.clear()
    st.cache_resource.clear()
    yield


def run_page(page: str | None = None) -> AppTest:
    at = app_test(default_timeout=60)
    if page:
        at.switch_page(page)  # opened directly, as a link to it is
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_empty_store_shows_friendly_notices(home):
    at = run_page()
    assert any("holds no data yet" in i.value for i in at.info)
    at = run_page("app_pages/explore.py")
    assert any("holds no data yet" in i.value for i in at.info)


def test_home_shows_the_active_dataset(home, small_csv):
    ingest.import_paths([small_csv], "shop")
    at = run_page()
    metrics = {m.label: m.value for m in at.metric}
    assert any(s.value == "Dataset shop v1" for s in at.subheader)
    assert metrics["Campaigns"] == "3"
    assert any("shop v1" in m.value for m in at.sidebar.markdown)


def test_explore_tables_and_sql(home, small_csv):
    ingest.import_paths([small_csv], "shop")
    at = run_page("app_pages/explore.py")
    assert at.metric[0].value == "3"
    table = at.dataframe[0].value
    assert set(table["campaign_id"]) == {"C1", "C2", "C3"}

    at.text_input(key="campaign_search").set_value("shoes").run()
    assert at.dataframe[0].value["campaign_id"].tolist() == ["C2"]

    at.text_area(key="sql_text").set_value(
        "SELECT campaign_id, clicks FROM campaigns ORDER BY clicks DESC").run()
    at.button(key="run_sql").click().run()
    assert not at.error, [e.value for e in at.error]
    result = at.dataframe[-1].value
    assert result["campaign_id"].tolist() == ["C2", "C1", "C3"]
    assert any("3 rows" in c.value for c in at.caption)



def test_explore_sql_shows_whole_numbers_with_separators_but_not_ids_or_years(home,
                                                                               small_csv):
    """A result's counts showed as 2337504 where every other table shows 2,337,504; an id
    or a year is a name (2024, not 2,024), a float keeps its value."""
    ingest.import_paths([small_csv], "shop")
    at = run_page("app_pages/explore.py")
    at.text_area(key="sql_text").set_value(
        "SELECT 2337504 AS clicks, count(*) * 1000 AS n, sum(terms) * 1000 AS terms, "
        "2024 AS year, 2024 AS campaign_id, 2024 AS \"Campaign ID\", 2024 AS modelId, "
        "2024 AS version, 1234.5 AS cost, 2500.25::DOUBLE AS spend, true AS flag "
        "FROM campaigns").run()
    at.button(key="run_sql").click().run()
    assert not at.error and not at.exception, [e.value for e in [*at.error, *at.exception]]
    shown = at.dataframe[-1]
    config = json.loads(shown.proto.columns)
    formats = {c: config.get(c, {}).get("type_config", {}).get("format")
               for c in shown.value.columns}
    assert formats == {"clicks": "%,d", "n": "%,d", "terms": "%,d", "year": None,
                       "campaign_id": None, "Campaign ID": None, "modelId": None,
                       "version": None, "cost": "%,.2f", "spend": "%,.2f", "flag": None}
    [row] = shown.value.to_dict("records")  # the values themselves stay raw
    assert (row["clicks"], row["n"], int(row["terms"]), float(row["spend"])) == (
        2337504, 3000, 8000, 2500.25)
    assert any(c.value.startswith("1 row in ") for c in at.caption), [  # was "1 rows in"
        c.value for c in at.caption]


def test_explore_sql_shows_amounts_of_money_in_the_dataset_currency(home, small_csv):
    """Sony's `sum(cost)` (a DOUBLE) showed as 10400688 where the campaigns table shows
    10,400,688; floats not named as amounts, and shares of a cost, keep their value."""
    ingest.import_paths([small_csv], "shop")
    datasets.set_currency("shop", "JPY")
    at = run_page("app_pages/explore.py")
    at.text_area(key="sql_text").set_value(
        "SELECT sum(cost) * 1000, max(cost) AS cost, avg(cost / clicks) AS avg_cpc, "
        "0.25::DOUBLE AS cost_share, 2500.25::DOUBLE AS spend, 12.50 AS \"Cost\", "
        "2500 AS totalCost, sum(clicks)::DECIMAL(18, 0) AS budget, 7 AS costRank, "
        "sum(clicks) AS clicks FROM campaigns").run()
    at.button(key="run_sql").click().run()
    assert not at.error and not at.exception, [e.value for e in [*at.error, *at.exception]]
    shown = at.dataframe[-1]
    config = json.loads(shown.proto.columns)
    formats = {c: (config.get(c, {}).get("label"),
                   config.get(c, {}).get("type_config", {}).get("format"))
               for c in shown.value.columns}
    # One rule whatever the type: a DOUBLE, a DECIMAL literal with a fraction, an integer
    # and a sum read as DECIMAL(18, 0) named as money are all amounts (the last three, and
    # `spend`, showed as they were, or as counts).
    assert formats == {"(sum(\"cost\") * 1000)": ("(sum(\"cost\") * 1000) (JPY)", "%,.0f"),
                       "cost": ("cost (JPY)", "%,.0f"), "avg_cpc": ("avg_cpc (JPY)", "%,.0f"),
                       "cost_share": (None, None), "spend": ("spend (JPY)", "%,.0f"),
                       "Cost": ("Cost (JPY)", "%,.0f"), "totalCost": ("totalCost (JPY)", "%,.0f"),
                       "budget": ("budget (JPY)", "%,.0f"), "costRank": (None, "%,d"),
                       "clicks": (None, "%,d")}
    [row] = shown.value.to_dict("records")  # the values themselves stay raw
    assert row["(sum(\"cost\") * 1000)"] == 224000.0 and row["cost_share"] == 0.25


def test_explore_search_finds_names_typed_in_full_or_half_width(home, tmp_path):
    """A Japanese input method left on types full-width `ＡＫＡＳＨＩ`, which found none
    of Sony's `akashi_…` campaigns; half-width `ｱｶｼ` did not find `アカシ` either."""
    rows = [{"campaign_id": "akashi_brand", "campaign_name": "akashi_brand", "keyword": "a"},
            {"campaign_id": "C2", "campaign_name": "アカシ 勤怠", "keyword": "b"},
            {"campaign_id": "C3", "campaign_name": "other", "keyword": "c"}]
    ingest.import_paths([write_terms_csv(tmp_path / "wide.csv", rows)], "wide")
    at = run_page("app_pages/explore.py")
    for typed, found in [("ＡＫＡＳＨＩ", ["akashi_brand"]), ("ｱｶｼ", ["C2"]),
                         ("アカシ", ["C2"]), ("akashi", ["akashi_brand"])]:
        at.text_input(key="campaign_search").set_value(typed).run()
        assert at.dataframe[0].value["campaign_id"].tolist() == found, typed


def test_explore_charts_count_few_campaigns_in_whole_numbers(home, small_csv):
    """On the 16 Sony campaigns plotly ticked 0, 0.5, 1 … campaigns on the histograms and
    on *Most widespread terms*."""
    ingest.import_paths([small_csv], "shop")
    at = run_page("app_pages/explore.py")
    charts = {c["layout"]["title"]["text"]: c["layout"]
              for c in (json.loads(p.proto.spec) for p in at.get("plotly_chart"))}
    for title, axis in [("Terms per campaign", "yaxis"),
                        ("Click-through rate per campaign", "yaxis"),
                        ("Most widespread terms (number of campaigns)", "xaxis")]:
        assert charts[title][axis]["dtick"] == 1, title


def test_explore_refuses_hostile_sql_with_a_message(home, small_csv):
    ingest.import_paths([small_csv], "shop")
    at = run_page("app_pages/explore.py")
    at.text_area(key="sql_text").set_value("DROP TABLE terms").run()
    at.button(key="run_sql").click().run()
    assert "DROP" in at.error[0].value
    assert len(datasets.terms("shop", 1)) == 8


def test_explore_upload_creates_a_version_that_becomes_active(home, small_csv):
    ingest.import_paths([small_csv], "shop")
    at = run_page("app_pages/explore.py")
    assert at.selectbox(key="dataset_picker").value == ("shop", 1)
    assert "dataset = 'shop' AND version = 1" in at.text_area(key="sql_text").value
    sony = FIXTURES / "sony" / "PO_brand.csv"
    at.file_uploader[0].upload(sony.name, sony.read_bytes(), "text/csv")
    at.text_input(key="import_name").set_value("sony")
    at.button[0].click().run()  # the form's submit button
    assert not at.error, [e.value for e in at.error]
    assert any("sony v1" in s.value for s in at.success)
    assert datasets.get("sony").campaigns == 1
    # Active everywhere in the same run: picker, cards, sidebar; the name field kept.
    assert at.selectbox(key="dataset_picker").value == ("sony", 1)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Campaigns"] == "1"
    assert [m.value for m in at.sidebar.markdown if " v" in m.value] == ["**sony v1**"]
    assert at.text_input(key="import_name").value == "sony"
    assert any("Imported sony v1" in t.value for t in at.toast)
    # The export's "Currency code" column gives the cost a currency.
    assert datasets.currency("sony") == "JPY"
    assert metrics["Cost (JPY)"] != "—"
    # The starting query follows the active dataset until it is edited: after the import of
    # the Sony exports it still queried the demo (`WHERE dataset = 'demo'`).
    assert "dataset = 'sony' AND version = 1" in at.text_area(key="sql_text").value

    # Picking another version moves the sidebar in the same run, not one step later.
    at.selectbox(key="dataset_picker").set_value(("shop", 1)).run()
    assert [m.value for m in at.sidebar.markdown if " v" in m.value] == ["**shop v1**"]
    assert {m.label: m.value for m in at.metric}["Campaigns"] == "3"
    assert "dataset = 'shop' AND version = 1" in at.text_area(key="sql_text").value
    at.text_area(key="sql_text").set_value("SELECT 42 AS mine").run()
    at.selectbox(key="dataset_picker").set_value(("sony", 1)).run()
    assert at.text_area(key="sql_text").value == "SELECT 42 AS mine"  # edited: kept
    at.selectbox(key="dataset_picker").set_value(("shop", 1)).run()
    at.switch_page("app_pages/home.py")
    at.run()
    assert any(s.value == "Dataset shop v1" for s in at.subheader)


def test_explore_sets_a_currency_for_files_without_one(home, small_csv):
    ingest.import_paths([small_csv], "shop")
    at = run_page("app_pages/explore.py")
    assert "Cost" in {m.label for m in at.metric}
    at.text_input(key="currency_code").set_value("eur")
    at.button(key="save_currency").click().run()
    assert not at.error, [e.value for e in at.error]
    assert datasets.currency("shop") == "EUR"
    assert "Cost (EUR)" in {m.label for m in at.metric}
    assert "currency_code" not in [t.key for t in at.text_input]  # gone once set


AUTH_SECRETS = {
    "auth": {"redirect_uri": "http://127.0.0.1:8501/oauth2callback", "cookie_secret": "x",
             "client_id": "id", "client_secret": "secret",
             "server_metadata_url": "https://idp.example.com/.well-known/openid-configuration"},
    "topiclab": {"roles": {"data_scientist": ["ana@example.com"],
                           "account_manager": ["*@example.com"]}},
}


def login_app(user: dict) -> AppTest:
    at = app_test(default_timeout=60)
    at.secrets = AUTH_SECRETS
    at.user = user
    return at


def test_login_required_when_configured(home, small_csv):
    ingest.import_paths([small_csv], "shop")
    at = login_app({"is_logged_in": False})
    at.run()
    assert [b.label for b in at.button] == ["Sign in"]
    assert not at.metric  # nothing of the data shows before sign-in


def test_signed_in_roles_come_from_the_role_map(home, small_csv):
    ingest.import_paths([small_csv], "shop")
    at = login_app({"is_logged_in": True, "email": "bob@example.com", "name": "Bob"})
    at.run()
    assert any("bob@example.com (account manager)" in c.value for c in at.sidebar.caption)
    at.switch_page("app_pages/train.py")
    at.run()
    assert any("may look at models but not train" in w.value for w in at.warning)
    at.switch_page("app_pages/explore.py")
    at.run()
    at.text_area(key="sql_text").set_value("SELECT 1 AS one").run()
    at.button(key="run_sql").click().run()
    assert not at.error  # reading is open to every role

    at = login_app({"is_logged_in": True, "email": "ana@example.com", "name": "Ana"})
    at.run()
    assert any("(data scientist)" in c.value for c in at.sidebar.caption)

    at = login_app({"is_logged_in": True, "email": "eve@elsewhere.org"})
    at.run()
    assert "has no role" in at.error[0].value


def test_a_signed_in_name_with_markdown_shows_literally(home, small_csv):
    """The sidebar's "Signed in as" and the no-role error drew an e-mail holding Markdown
    as bold text and a link."""
    from tests.test_pages import shown_text
    ingest.import_paths([small_csv], "shop")
    email = "**bob**[x](http://e)@example.com"
    at = login_app({"is_logged_in": True, "email": email})
    at.run()
    signed_in = [c.value for c in at.sidebar.caption if "Signed in as" in c.value]
    assert [shown_text(c) for c in signed_in] == [f"Signed in as {email} (account manager)"]
    at = login_app({"is_logged_in": True, "email": "**eve**@elsewhere.org"})
    at.run()
    assert shown_text(at.error[0].value).startswith("**eve**@elsewhere.org is signed in")


def test_explore_reimport_of_identical_content_names_the_dataset_as_typed(home, small_csv):
    """The "identical content is already stored" notice was the one import message that
    quoted the dataset name unescaped: `my _shop_ data` showed `shop` in italics."""
    from tests.test_pages import shown_text

    ingest.import_paths([small_csv], "my _shop_ data")
    at = run_page("app_pages/explore.py")
    at.file_uploader[0].upload(small_csv.name, small_csv.read_bytes(), "text/csv")
    at.text_input(key="import_name").set_value("my _shop_ data")
    at.button[0].click().run()
    assert not at.error and not at.exception, [e.value for e in [*at.error, *at.exception]]
    [notice] = [i.value for i in at.info if "Identical content" in i.value]
    assert "already stored as my _shop_ data v1;" in shown_text(notice)
    assert datasets.list_versions()["version"].tolist() == [1]


def test_explore_upload_under_a_full_width_or_spaced_name_adds_to_the_stored_one(home,
                                                                                 small_csv):
    """"ｓｈｏｐ " typed with an IME (or "my  shop") was refused as not valid (or made a
    second dataset): the page's name goes through the import's normalisation."""
    ingest.import_paths([small_csv], "shop")
    at = run_page("app_pages/explore.py")
    at.file_uploader[0].upload(small_csv.name, small_csv.read_bytes(), "text/csv")
    at.text_input(key="import_name").set_value("ｓｈｏｐ ")
    at.button[0].click().run()
    assert not at.error and not at.exception, [e.value for e in [*at.error, *at.exception]]
    assert any("already stored as shop v1;" in i.value for i in at.info)
    assert at.text_input(key="import_name").value == "shop"
    assert datasets.list_versions()["name"].tolist() == ["shop"]


def test_explore_refused_upload_says_why_and_keeps_the_active_dataset(home, small_csv):
    ingest.import_paths([small_csv], "shop")
    at = run_page("app_pages/explore.py")
    at.file_uploader[0].upload("empty.csv", b"", "text/csv")
    at.text_input(key="import_name").set_value("broken")
    at.button[0].click().run()
    assert not at.exception
    assert ["empty.csv" in e.value and "empty" in e.value for e in at.error] == [True]
    assert at.selectbox(key="dataset_picker").value == ("shop", 1)
    assert at.text_input(key="import_name").value == "broken"  # what was typed stays
    assert datasets.list_versions()["name"].tolist() == ["shop"]


def test_explore_shows_sql_intervals_and_blobs(home, small_csv):
    """INTERVAL and BLOB columns are shown as the CLI prints them (ISO-8601, base64), in
    lists too (they showed as `<DateOffset: …>` and `b'ab'`), and dates of any year."""
    ingest.import_paths([small_csv], "shop")
    at = run_page("app_pages/explore.py")
    at.text_area(key="sql_text").set_value(
        "SELECT INTERVAL 5 SECOND AS i, 'ab'::BLOB AS b, NULL::INTERVAL AS n, "
        "[INTERVAL 1 MONTH] AS li, ['ab'::BLOB] AS lb, DATE '200000-01-01' AS d").run()
    at.button(key="run_sql").click().run()
    assert not at.error and not at.exception, [e.value for e in [*at.error, *at.exception]]
    [row] = at.dataframe[-1].value.to_dict("records")
    assert (row["i"], row["b"]) == ("PT5S", "YWI=") and pd.isna(row["n"])
    assert (list(row["li"]), list(row["lb"]), row["d"]) == (["P1M"], ["YWI="], "200000-01-01")


def test_explore_shows_sql_times_with_their_offset_and_bits_as_bits(home, small_csv):
    """A TIMETZ showed without its offset (12:34:56 for 12:34:56+05:30) and a BIT as the
    base64 of DuckDB's storage (`BPU=` for 0101), in lists too."""
    ingest.import_paths([small_csv], "shop")
    at = run_page("app_pages/explore.py")
    at.text_area(key="sql_text").set_value(
        "SELECT TIMETZ '12:34:56+05:30' AS t, '0101'::BIT AS b, NULL::BIT AS n, "
        "[TIMETZ '01:00:00-02'] AS lt, 'ab'::BLOB AS blob, TIME '10:00:00' AS plain, "
        "3 AS t").run()
    at.button(key="run_sql").click().run()
    assert not at.error and not at.exception, [e.value for e in [*at.error, *at.exception]]
    [row] = at.dataframe[-1].value.to_dict("records")
    assert (row["t"], row["b"], row["blob"], row["t_2"]) == ("12:34:56+05:30", "0101", "YWI=", 3)
    assert pd.isna(row["n"]) and str(row["plain"]) == "10:00:00"
    assert list(row["lt"]) == ["01:00:00-02"]


def test_explore_shows_a_sql_map_as_keys_and_values(home, small_csv):
    """`histogram()` returns a MAP: it showed as `[('C1', 3)]`, and the struct beside it as
    its Python text too."""
    ingest.import_paths([small_csv], "shop")
    at = run_page("app_pages/explore.py")
    at.text_area(key="sql_text").set_value(
        "SELECT histogram(campaign_id) AS h, {'k': 1} AS s FROM terms").run()
    at.button(key="run_sql").click().run()
    assert not at.error and not at.exception, [e.value for e in [*at.error, *at.exception]]
    [row] = at.dataframe[-1].value.to_dict("records")
    assert row["h"] == {"C1": 3, "C2": 2, "C3": 3} and row["s"] == {"k": 1}


def test_explore_shows_a_sql_union_column_instead_of_a_traceback(home, small_csv):
    ingest.import_paths([small_csv], "shop")
    at = run_page("app_pages/explore.py")
    at.text_area(key="sql_text").set_value(
        "SELECT campaign_id, UNION_VALUE(n := terms) AS u FROM campaigns "
        "ORDER BY campaign_id").run()
    at.button(key="run_sql").click().run()
    assert not at.error and not at.exception, [e.value for e in [*at.error, *at.exception]]
    shown = at.dataframe[-1].value
    assert shown.to_dict("records") == [{"campaign_id": "C1", "u": "3"},
                                        {"campaign_id": "C2", "u": "2"},
                                        {"campaign_id": "C3", "u": "3"}]


def test_explore_says_when_a_sql_result_is_capped(home, small_csv, monkeypatch):
    ingest.import_paths([small_csv], "shop")
    monkeypatch.setenv("TOPICLAB_SQL_RESULT_MB", "1")
    at = run_page("app_pages/explore.py")
    at.text_area(key="sql_text").set_value(
        "SELECT repeat('x', 1000) AS s FROM range(100000)").run()
    at.button(key="run_sql").click().run()
    assert not at.error
    assert 0 < len(at.dataframe[-1].value) < 2000
    assert any("capped at 1 MB" in w.value for w in at.warning)


def test_explore_charts_draw_imported_markup_as_text(home, tmp_path):
    """Plotly reads <b>, <br> and <a href> in labels: an imported keyword holding a link
    was drawn as one. The charts get the text escaped (Plotly shows &lt; as <)."""
    link = '<a href="https://example.com">deal</a>'
    rows = pd.DataFrame({"campaign_id": ["C1", "C1", "C2"], "keyword": [link, "plumber", link],
                         "label": ["<b>bold</b>", "<b>bold</b>", "plain"],
                         "clicks": [3, 4, 5], "impressions": [30, 40, 50], "cost": [1.0, 2, 3]})
    path = tmp_path / "markup.csv"
    rows.to_csv(path, index=False)
    ingest.import_paths([path], "markup")
    at = run_page("app_pages/explore.py")
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    drawn = {str(v) for spec in specs for trace in spec["data"] for v in trace.get("y", [])}
    assert html.escape(link, quote=False) in drawn and "&lt;b&gt;bold&lt;/b&gt;" in drawn
    assert not any("<a " in v or "<b>" in v for v in drawn)
