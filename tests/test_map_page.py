"""AppTest runs of the Map page: chart, clusters table, opening a campaign in Lookup."""

from __future__ import annotations

import json

import pytest
import streamlit as st

from core.data import datasets, ingest
from core.serve import campaign_map, registry
from tests.test_pages import ok, page


@pytest.fixture(autouse=True)
def fresh_caches():
    st.cache_data.clear()
    st.cache_resource.clear()


def test_map_page_shows_the_chart_and_the_clusters(trained_home):
    at = ok(page("map"))
    assert len(at.get("plotly_chart")) == 1
    clusters = at.dataframe[0].value
    expected = campaign_map.campaign_map().clusters
    assert clusters["campaigns"].sum() == expected["campaigns"].sum() == 400
    assert list(clusters["name"]) == list(expected["name"])
    # The projection was cached in the production model's folder by the page's run.
    model_id = registry.resolve("production")
    assert (registry.model_dir(model_id) / campaign_map.CACHE_FILE).exists()
    at.segmented_control(key="map_colour").set_value("CTR").run()
    ok(at)
    assert len(at.get("plotly_chart")) == 1


def test_map_page_opens_a_campaign_in_lookup(trained_home):
    at = ok(page("map"))
    at.selectbox(key="map_open").set_value("C00002").run()
    ok(at)
    assert at.title[0].value == "Campaign lookup" and not at.warning
    assert at.selectbox(key="lookup_campaign").value == "C00002"
    assert len(at.dataframe[0].value) == 10  # its neighbours are shown


def test_map_page_without_a_model_is_friendly(home, small_csv):
    ingest.import_paths([small_csv], "shop")
    at = ok(page("map"))
    assert any("No model is trained yet" in i.value for i in at.info)
    assert not at.get("plotly_chart") and not at.dataframe


def test_map_page_cpc_colour_bar_names_the_currency_as_the_clusters_table(trained_home):
    """The colour bar was titled `cpc` beside the table's `median CPC (JPY)`."""
    datasets.set_currency("demo", "JPY")
    at = ok(page("map"))
    ok(at.segmented_control(key="map_colour").set_value("CPC").run())
    chart = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert chart["layout"]["coloraxis"]["colorbar"]["title"]["text"] == "CPC (JPY)"
    assert "CPC (JPY)=" in chart["data"][0]["hovertemplate"]
