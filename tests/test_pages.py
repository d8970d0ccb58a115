"""AppTest runs of the model pages against a real trained store."""

from __future__ import annotations

import re

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from core import audit, deploy, registry, review, store, train
from tests.conftest import REPO


@pytest.fixture(autouse=True)
def fresh_caches():
    st.cache_data.clear()
    st.cache_resource.clear()


def page(name: str) -> AppTest:
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
    at.run()
    at.switch_page(f"app_pages/{name}.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def ok(at: AppTest) -> AppTest:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def test_pages_without_models_show_friendly_notices(home, small_csv):
    from core import ingest
    ingest.import_paths([small_csv], "shop")
    for name in ("compare", "topics", "lookup", "ab", "monitor", "review"):
        at = page(name)
        assert at.info, name


def test_train_page_trains_a_model_with_progress(trained_home):
    at = page("train")
    before = len(registry.list_models())
    at.number_input(key="train_k").set_value(4)
    at.number_input(key="train_iterations").set_value(60)
    ok(at.button(key="train_start").click().run())
    assert any("Trained" in s.value for s in at.success)
    assert len(registry.list_models()) == before + 1


def test_train_page_runs_a_sweep(trained_home):
    at = page("train")
    at.segmented_control(key="train_mode").set_value("Sweep").run()
    at.multiselect(key="train_ks").set_value([5, 8])
    at.slider(key="train_seeds").set_value(1)
    at.number_input(key="train_iterations").set_value(60)
    ok(at.button(key="train_start").click().run())
    assert any("Sweep" in s.value for s in at.success)
    assert any("Chosen model" in m.value for m in at.markdown)


def test_compare_page_aligns_and_promotes(trained_home):
    other = train.train(train.TrainSpec(dataset="demo", k=5, params={"iterations": 40}))
    at = page("compare")
    assert len(at.dataframe[0].value) == 2
    assert at.get("plotly_chart")
    at.selectbox(key="promote_model").set_value(other.model_id)
    ok(at.button[0].click().run())
    assert registry.alias("production") == other.model_id


def test_topics_page_embeds_offline_ldavis_and_names_a_topic(trained_home):
    at = page("topics")
    frames = at.get("iframe")
    assert frames, "no pyLDAvis iframe"
    html = frames[0].proto.srcdoc
    assert "new LDAvis" in html and "d3" in html
    assert not re.search(r"""(src|href)\s*=\s*["']?https?://""", html)  # nothing to fetch
    at.text_input[0].set_value("Home services")
    ok(at.button[0].click().run())
    model_id = registry.resolve("production")
    assert registry.topic_labels(model_id)[0] == "Home services"


def test_lookup_page_existing_and_new_campaign(trained_home):
    at = page("lookup")
    at.selectbox(key="lookup_campaign").set_value("C00002").run()
    ok(at)
    neighbours = at.dataframe[0].value
    assert len(neighbours) == 10 and "C00002" not in set(neighbours["campaign_id"])
    assert at.get("download_button")
    at.segmented_control(key="lookup_mode").set_value("New campaign").run()
    at.text_area(key="lookup_keywords").set_value(
        "emergency plumber\nblocked drain\nwater heater repair").run()
    ok(at)
    assert len(at.dataframe[0].value) == 10


def test_ab_monitor_review_and_audit_pages(trained_home):
    candidate = train.train(train.TrainSpec(dataset="demo", k=6, params={"iterations": 60}))
    deploy.promote(candidate.model_id, "candidate")
    at = ok(page("ab"))
    assert any(m.label == "Neighbour overlap@10" for m in at.metric)
    at.selectbox(key="ab_campaign").set_value("C00003").run()
    ok(at)
    assert "A status" in at.dataframe[-1].value.columns

    at = ok(page("monitor"))
    ok(at.button[0].click().run())
    assert at.success or at.error  # the verdict box
    assert store.query_one("SELECT count(*) FROM drift_reports")[0] == 1

    at = ok(page("review"))
    production = registry.resolve("production")
    if review.review_queue(production).empty:
        assert at.success
    else:
        ok(at.button[0].click().run())
        assert store.query_one("SELECT count(*) FROM reviews")[0] == 1

    at = ok(page("audit"))
    assert len(at.dataframe[0].value) == len(audit.entries(limit=1000))
