"""AppTest runs of the model pages against a real trained store."""

from __future__ import annotations

import base64
import html
import json
import re
import shutil

import numpy as np
import pandas as pd
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

import ui
from core.data import audit, datasets, ingest, store
from core.model.text import TextConfig
from core.ops import ab, deploy, drift, gate, train
from core.serve import naming, registry, review
from tests.conftest import (
    FAST_K,
    REPO,
    SECOND_K,
    SECOND_PARAMS,
    app_test,
    build_review_store,
    demo_subset,
)


@pytest.fixture(autouse=True)
def fresh_caches():
    st.cache_data.clear()
    st.cache_resource.clear()


def page(name: str) -> AppTest:
    """A page as a new app process shows it: Streamlit's caches live in this test process
    and are keyed by arguments, not by TOPICLAB_HOME, so an earlier test's store would
    show through them."""
    st.cache_data.clear()
    st.cache_resource.clear()
    at = app_test()
    at.switch_page(f"app_pages/{name}.py")  # opened directly, as a link to it is
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def picker(at: AppTest, key: str):
    """A `ui.selectbox` by its key (the widget's own key adds a digest of its labels)."""
    found = [s for s in at.selectbox if s.key and s.key.startswith(f"{key}@")]
    assert len(found) == 1, [s.key for s in at.selectbox]
    return found[0]


def promote_picker(at: AppTest):
    """Compare's *Promote* model picker (whatever its widget's key)."""
    found = [s for s in at.selectbox if s.label == "Model"]
    assert len(found) == 1, [s.label for s in at.selectbox]
    return found[0]


def plotly_array(value) -> list:
    """A data array of a chart's JSON: a list, or plotly's typed array ({dtype, bdata})."""
    if isinstance(value, dict) and "bdata" in value:
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"]).tolist()
    return list(value)


def ok(at: AppTest) -> AppTest:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def test_pages_without_models_show_friendly_notices(home, small_csv):
    ingest.import_paths([small_csv], "shop")
    for name in ("compare", "topics", "lookup", "ab", "monitor", "review"):
        at = page(name)
        notices = [i.value for i in at.info]
        expected = "A/B needs two scored models" if name == "ab" else "No model is trained yet"
        assert any(expected in n for n in notices), (name, notices)
        assert any("--dataset shop" in n for n in notices), (name, notices)  # not "demo"
        assert not at.dataframe, name  # a notice instead of the page's content


def test_the_commands_pages_suggest_quote_a_dataset_name_with_spaces(home, small_csv):
    """`python -m core train --dataset my shop` was suggested as it stands: pasted into a
    shell it trains a dataset named `my` and fails on `shop`."""
    ingest.import_paths([small_csv], "my shop")
    for name in ("lookup", "ab"):
        notices = [i.value for i in page(name).info]
        assert any("--dataset 'my shop'" in n for n in notices), (name, notices)


def test_pages_with_a_model_trained_but_not_promoted_say_to_promote_it(home, small_csv):
    """They said "No model is trained yet. Train one …" over a trained model."""
    ingest.import_paths([small_csv], "shop")
    train.train(train.TrainSpec(dataset="shop", k=2, params={"iterations": 20, "seed": 0},
                                text=TextConfig(no_below=1, no_above=1.0)))
    for name in ("home", "lookup", "map", "monitor", "review"):
        notices = [i.value for i in page(name).info]
        assert any("1 model is trained, but none is in production" in n
                   and "Compare" in n for n in notices), (name, notices)
        assert not any("No model is trained yet" in n for n in notices), name


def test_tables_leave_out_columns_the_data_holds_no_value_in(home, tmp_path):
    """Exports without accounts or labels (all 16 Sony ones) showed a column of "None"
    for each in Explore's campaign table and Lookup's neighbours."""
    from tests.conftest import write_terms_csv

    rows = [("C1", "red shoes"), ("C1", "blue shoes"), ("C2", "red boots"),
            ("C2", "blue boots"), ("C3", "red shoes sale"), ("C4", "blue boots sale")]
    ingest.import_paths([write_terms_csv(tmp_path / "plain.csv", [
        {"campaign_id": c, "campaign_name": c, "keyword": k, "clicks": 1}
        for c, k in rows])], "plain")
    model = train.train(train.TrainSpec(dataset="plain", k=2, params={"iterations": 20}))
    deploy.promote(model.model_id, "production")
    table = ok(page("explore")).dataframe[0].value
    assert "campaign_id" in table and not {"account", "label"} & set(table.columns)
    assert "search_terms" not in table  # keyword rows only: a column of zeros said nothing
    assert "campaign_name" not in table  # each is its id, as Sony's: one column, not two
    at = page("lookup")
    # Named by their ids, as the Sony exports are: offered as `C1`, not `C1 — C1`
    assert at.selectbox(key="lookup_campaign").options == ["C1", "C2", "C3", "C4"]
    # its example is one of these campaigns, not the demo's "C00042"
    assert at.selectbox(key="lookup_campaign").placeholder == "e.g. C1 …"
    ok(at.selectbox(key="lookup_campaign").set_value("C1").run())
    own_account = at.toggle[0]   # it changed nothing: no campaign names an account
    assert own_account.disabled and own_account.help.endswith("The data names no account.")
    assert own_account.label == "Other accounts only"  # fits its quarter-width column
    shown = list(at.dataframe[0].proto.column_order)
    assert "similarity" in shown and not {"account", "label"} & set(shown)
    assert shown[0] == "campaign_id" and "campaign_name" not in shown  # was `campaign`, `id`
    assert {"account", "label", "campaign_name"} <= set(at.dataframe[0].value.columns)  # CSV
    # a new campaign's example keywords are the data's own (were the demo's plumbing ones)
    ok(at.segmented_control(key="lookup_mode").set_value("New campaign").run())
    assert at.text_area(key="lookup_keywords").placeholder == "red shoes\nblue shoes"
    assert at.info[0].value.startswith("Paste the new campaign's keywords")
    clusters = ok(page("map")).dataframe[0].value  # no cost or impressions: no rate column
    assert "campaigns" in clusters and not {"median_ctr", "median_cpc", "cost"} & set(clusters)


def test_lookup_counts_reviews_made_under_a_model_deleted_since(second_model):
    """"Reviewed 1×" for a campaign reviewed twice: the review under a deleted model was
    dropped by a join on `models`. Both count, and the caption says which is which."""
    from core.serve import review, score

    production = registry.alias("production")
    campaign = score.load_fingerprints(production).campaign_ids[0]
    review.record_review(second_model, campaign, "flag")
    review.record_review(production, campaign, "dismiss", note="fine now")
    registry.delete(second_model)
    at = page("lookup")
    ok(at.selectbox(key="lookup_campaign").set_value(campaign).run())
    captions = [c.value for c in at.caption if c.value.startswith("Reviewed")]
    assert captions == ["Reviewed 2× (1 under a model since deleted); latest: dismiss — fine "
                        "now"]


def test_campaign_pickers_offer_the_id_alone_when_the_name_adds_nothing():
    labels = ui.campaign_labels(pd.Series(["C1", "C2", "C3", "C4"]),
                                pd.Series(["C1", None, " ", "Acme — shoes"]))
    assert labels == {"C1": "C1", "C2": "C2", "C3": "C3", "C4": "C4 — Acme — shoes"}
    # Tables leave the name out by the same rule, only when no row shown is named
    table = pd.DataFrame({"campaign_id": ["C1", "C2", "C3", "C4"],
                          "campaign_name": ["C1", None, " ", "Acme — shoes"]})
    assert ui.names_adding_nothing(table) == []
    assert ui.names_adding_nothing(table.head(3)) == ["campaign_name"]


def test_train_page_trains_a_model_with_progress(trained_home):
    at = page("train")
    before = len(registry.list_models())
    at.number_input(key="train_k").set_value(4)
    at.number_input(key="train_tomotopy_iterations").set_value(60)
    ok(at.button(key="train_start").click().run())
    models = registry.list_models()
    assert len(models) == before + 1
    newest = models.iloc[0]
    assert newest["k"] == 4
    assert any(f"Trained `{newest['model_id']}` (K = 4, English text)" in s.value
               for s in at.success)   # the language the text was read in, as detected
    # Nothing is left to cancel: the button stayed under "Done."
    assert not [b for b in at.button if b.label == "Cancel"]
    # word vectors (for similar campaigns) are on unless the text settings turn them off
    assert registry.load(newest["model_id"]).encoder.word_vectors is not None
    at.toggle(key="train_word_vectors").set_value(False)
    ok(at.button(key="train_start").click().run())
    plain = registry.list_models().iloc[0]["model_id"]
    assert plain != newest["model_id"]
    assert registry.load(plain).encoder.word_vectors is None
    # the words each topic shows: picked for coherence unless the form says otherwise
    assert registry.load(plain).engine.shown_words == "coherent"
    at.selectbox(key="train_tomotopy_shown_words").set_value("probable")
    ok(at.button(key="train_start").click().run())
    probable = registry.load(registry.list_models().iloc[0]["model_id"])
    assert probable.model_id != plain and probable.engine.shown_words == "probable"
    assert probable.engine.shown_words_ is None


def test_train_page_offers_the_k_a_small_dataset_holds(trained_home, tmp_path):
    """A dataset no one chose a K for was offered the default K = 20 under the page's own
    warning that its campaigns hold K <= 13; every engine now starts from that K."""
    ingest.import_paths([demo_subset(tmp_path / "few.parquet", 40)], "few")
    at = ok(page("train"))
    at.selectbox(key="dataset_picker").set_value(("few", 1)).run()
    assert ok(at).number_input(key="train_k").value == 13
    assert not [w.value for w in at.warning if "is a lot" in w.value]
    next(s for s in at.selectbox if s.label == "Engine").set_value("gensim").run()
    assert ok(at).number_input(key="train_k").value == 13
    at.toggle(key="train_fit_k").set_value(False).run()  # K as given: warned past it
    at.number_input(key="train_k").set_value(20).run()
    assert [w.value for w in ok(at).warning if "K = 20 topics for 40 campaigns" in w.value]
    # a sweep is offered K values around the dataset's K that its campaigns hold (it was
    # 10, 20 and 30 for every dataset)
    at.selectbox(key="dataset_picker").set_value(("demo", 1)).run()
    next(s for s in at.selectbox if s.label == "Engine").set_value("tomotopy").run()
    at.segmented_control(key="train_mode").set_value("Sweep").run()
    demo_k = train.saved_settings("demo").k   # production's recipe
    assert ok(at).multiselect(key="train_ks").value == [demo_k // 2, demo_k, demo_k * 3 // 2]
    at.selectbox(key="dataset_picker").set_value(("few", 1)).run()
    assert ok(at).multiselect(key="train_ks").value == [6, 13]
    assert not [w.value for w in at.warning if "is a lot" in w.value]


def test_train_page_fits_a_k_no_one_chose_as_the_pipeline_does(trained_home, tmp_path):
    """One demo vertical (94 campaigns of one industry): the page offered K = 20 by the
    campaigns alone, and Start trained it, below the diversity floor the gate holds models
    to, where the pipeline and `train` fit K to the words and lower it until the topics are
    distinct. With "Fit K to the data" (on for a dataset no one chose a K for) the page
    does the same; off, it trains exactly the K given; demo's saved K starts it off."""
    from core.ops.gate import DIVERSITY_FLOOR
    from tests.conftest import DEMO_FILE

    frame = pd.read_parquet(DEMO_FILE)
    frame[frame["vertical"] == frame["vertical"].min()].to_parquet(tmp_path / "one.parquet")
    ingest.import_paths([tmp_path / "one.parquet"], "one")
    at = ok(page("train"))
    assert at.toggle(key="train_fit_k").value is False             # demo: K saved
    at.selectbox(key="dataset_picker").set_value(("one", 1)).run()
    assert ok(at).toggle(key="train_fit_k").value is True
    assert at.number_input(key="train_k").disabled
    at.number_input(key="train_tomotopy_iterations").set_value(150)
    ok(at.button(key="train_start").click().run())
    newest = registry.list_models("one")
    kept = registry.get(at.session_state["trained_model"])
    assert len(newest) >= 2 and kept["metrics"]["diversity"] >= DIVERSITY_FLOOR
    [tried] = [c.value for c in at.caption if c.value.startswith("K tried: ")]
    assert tried.count(" → ") == len(newest) - 1 and f"{kept['k']} (diversity " in tried
    assert f"(K = {kept['k']}, English text)" in at.success[0].value
    # in the time of every model tried (it was the kept one's alone)
    # the models tried are marked with the one kept instead, on Compare too
    assert {registry.get(m)["kept_instead"] for m in newest["model_id"]} == {
        kept["model_id"], None}
    assert registry.get(kept["model_id"])["kept_instead"] is None
    compare_page = ok(page("compare"))
    compare = compare_page.dataframe[0].value.set_index("model_id")

    def charted() -> list[dict]:
        return json.loads(compare_page.get("plotly_chart")[0].proto.spec)["data"]

    # its chart against K shows one dataset at a time, the active one first (demo's)
    assert {m for t in charted() for m, *_ in t["customdata"]} == set(
        registry.list_models("demo")["model_id"])
    ok(picker(compare_page, "compare_chart_dataset").set_value("one").run())
    # ... and there the models passed over apart from those kept
    passed = {m for t in charted() if "passed over" in t["name"] for m, *_ in t["customdata"]}
    assert passed == {m for m in newest["model_id"] if m != kept["model_id"]}
    assert {m for t in charted() for m, *_ in t["customdata"]} == set(newest["model_id"])
    assert compare.loc[newest["model_id"], "kept_instead"].tolist() == [
        "" if m == kept["model_id"] else kept["model_id"] for m in newest["model_id"]]
    every = sum(sum(registry.get(m)["timings"].values()) for m in newest["model_id"])
    shown = float(re.search(r" in ([0-9.]+) s\.$", at.success[0].value).group(1))
    assert shown == pytest.approx(every, abs=0.051)
    assert shown > sum(kept["timings"].values()) + 0.05
    at.toggle(key="train_fit_k").set_value(False).run()
    at.number_input(key="train_k").set_value(kept["k"] + 1)
    ok(at.button(key="train_start").click().run())
    assert len(registry.list_models("one")) == len(newest) + 1
    assert registry.list_models("one").iloc[0]["k"] == kept["k"] + 1
    assert not [c for c in at.caption if c.value.startswith("K tried: ")]


def test_train_page_settings_follow_the_dataset_picked(trained_home, tmp_path):
    """The Train page starts from the picked dataset's saved recipe; its keyed widgets (K,
    the engine's settings) kept the previous dataset's values after a switch: a dataset of
    120 campaigns was offered demo's K and iterations."""
    ingest.import_paths([demo_subset(tmp_path / "other.parquet", 120)], "other")
    at = ok(page("train"))
    assert at.selectbox(key="dataset_picker").value == ("demo", 1)  # production's
    demo, fresh = train.saved_settings("demo"), train.saved_settings("other")
    assert (demo.k, demo.params["iterations"]) != (fresh.k, 1300)
    assert at.number_input(key="train_k").value == demo.k
    at.number_input(key="train_k").set_value(7).run()  # typed for demo, kept while on demo
    assert ok(at).number_input(key="train_k").value == 7
    at.selectbox(key="dataset_picker").set_value(("other", 1)).run()
    assert ok(at).number_input(key="train_k").value == fresh.k
    assert at.number_input(key="train_tomotopy_iterations").value == 1300
    at.selectbox(key="dataset_picker").set_value(("demo", 1)).run()
    assert ok(at).number_input(key="train_k").value == demo.k
    assert at.number_input(key="train_tomotopy_iterations").value == demo.params["iterations"]


def test_train_page_runs_a_sweep(trained_home):
    at = page("train")
    at.segmented_control(key="train_mode").set_value("Sweep").run()
    at.multiselect(key="train_ks").set_value([])
    at.button(key="train_start").click().run()
    assert [e.value for e in at.error] == ["Pick at least one K."]
    assert not [b for b in at.button if b.label == "Cancel"]
    ok(at.run())  # the next run did not say a training was cancelled: none had started
    assert not [w for w in at.warning if "cancelled" in w.value]
    at.multiselect(key="train_ks").set_value([5, 8])
    at.slider(key="train_seeds").set_value(1)
    at.number_input(key="train_tomotopy_iterations").set_value(60)
    ok(at.button(key="train_start").click().run())
    assert any("2 models trained" in s.value for s in at.success)
    assert not [b for b in at.button if b.label == "Cancel"]
    chosen = next(m.value for m in at.markdown if "Chosen model" in m.value)
    swept = registry.list_models()
    swept = swept[swept["sweep_id"].notna()]
    assert sorted(swept["k"]) == [5, 8]
    assert any(f"`{m}`" in chosen for m in swept["model_id"])


def test_compare_page_aligns_and_promotes_only_after_confirmation(two_models_home,
                                                                 second_model):
    production = registry.alias("production")
    deploy.promote(second_model, "candidate")
    at = page("compare")
    assert len(at.dataframe[0].value) == 2
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    by_k = next(c for c in charts if c["layout"]["title"]["text"] == "npmi by K")
    assert sorted(x for trace in by_k["data"] for x in plotly_array(trace["x"])) == sorted(
        [SECOND_K, FAST_K])
    heat = next(c for c in charts if c["data"][0]["type"] == "heatmap")["data"][0]
    # Model A and B are the first two models of the table, each topic named on its axis.
    axes = {tuple(heat["y"]), tuple(heat["x"])}
    assert axes == {tuple(registry.topic_names(registry.load(m)))
                     for m in (production, second_model)}
    labels = registry.model_labels()
    assert labels[production] in next(s for s in at.selectbox if s.label == "Model A").options
    assert labels[second_model] in promote_picker(at).options
    # Nothing is preselected and nothing can be promoted yet.
    assert promote_picker(at).value is None
    assert at.radio(key="promote_alias").value is None

    promote_picker(at).set_value(second_model)
    ok(at.radio(key="promote_alias").set_value("production").run())
    shown = ui.markdown_text(labels[production])  # as plain text: it names the dataset
    assert any(shown in m.value and "replaces the production model" in m.value
               for m in at.markdown)
    verdict = gate.verdict(second_model, production)  # what the pipeline would decide
    shown = [box.value for box in [*at.success, *at.warning]]
    assert any(verdict.reason in text for text in shown), shown
    confirm = at.checkbox(key=f"promote_confirm:{production}:{second_model}")
    assert production in confirm.label and second_model in confirm.label
    assert at.button(key="promote_go").disabled  # no confirmation, no promotion

    ok(confirm.check().run())
    before = promote_picker(at).key
    ok(at.button(key="promote_go").click().run())
    assert registry.alias("production") == second_model
    # The browser keeps a selectbox's shown label while its widget stays the same: the
    # new production model was still offered as `[candidate]`. A new widget, same choice.
    after = promote_picker(at)
    assert after.key != before and after.value == second_model
    assert registry.model_labels()[second_model] in after.options
    assert "[production]" in after.options[after.index]
    assert registry.alias("candidate") is None  # promoting the candidate clears it
    assert any(f"replacing {production}" in s.value for s in at.success)
    # The page is drawn again after the promotion: the sidebar and the table named the
    # replaced model as production until the next click.
    assert f"`{second_model}`" in [m.value for m in at.sidebar.markdown]
    aliases = at.dataframe[0].value.set_index("model_id")["aliases"]
    assert aliases[second_model] == "production" and aliases[production] == ""


def test_compare_page_rebinds_a_model_of_an_older_version_and_picks_it_to_promote(
        trained_home, tmp_path):
    """A v1 model answers none of v2's new campaigns in production; the page offers its
    topics on v2 as a model of its own, made with one click and picked to promote, which
    replaces production with no warning of unknown campaigns."""
    old = registry.alias("production")
    ingest.import_paths([demo_subset(tmp_path / "v2.parquet", 450)], "demo")  # demo v2
    at = page("compare")
    promote_picker(at).set_value(old)
    ok(at.run())
    assert any("answer only that version's campaigns, none new in v2" in box.value
               for box in at.info)
    ok(at.button(key=f"rebind:{old}").click().run())
    rebound = registry.get(promote_picker(at).value)
    assert (rebound["dataset"], int(rebound["version"])) == ("demo", 2)
    assert registry.load(rebound["model_id"]).manifest["rebound_from"]["model_id"] == old
    assert any(f"holds the topics of {old} on demo v2, 450 campaigns scored" in t.value
               for t in at.toast)
    assert not any("Rebind to" in b.label for b in at.button)   # it is of v2 itself
    table = at.dataframe[0].value.set_index("model_id")
    assert table.at[rebound["model_id"], "rebound_from"] == old
    assert table.at[old, "rebound_from"] == ""
    ok(at.radio(key="promote_alias").set_value("production").run())
    ok(at.checkbox(key=f"promote_confirm:{old}:{rebound['model_id']}").check().run())
    ok(at.button(key="promote_go").click().run())
    assert registry.alias("production") == rebound["model_id"]
    assert not at.warning, [w.value for w in at.warning]
    monitor = ok(page("monitor"))   # drift is measured against the topics' own version
    assert any("trained on **demo v2** (its topics learnt on v1, which drift is measured "
               "against)" in c.value for c in monitor.caption)
    home = ok(page("home"))   # it answers v2; its topics came from v1
    answers = next(m for m in home.metric if m.label == "Answers")
    assert answers.value == "demo v2" and "learnt on v1" in answers.proto.help


def test_compare_table_and_quality_gate_show_one_npmi_for_a_model(two_models_home,
                                                                  second_model):
    """The table's NPMI was counted over the training part (90% of the version), the
    gate's over all of it: 0.143 in the table, 0.148 in the gate for one demo model."""
    production = registry.alias("production")
    at = page("compare")
    table = at.dataframe[0].value.set_index("model_id")
    promote_picker(at).set_value(second_model)
    ok(at.radio(key="promote_alias").set_value("production").run())
    shown = " ".join(box.value for box in [*at.success, *at.warning])
    found = re.search(r"NPMI (-?[\d.]+) (?:vs|is worse than) production's (-?[\d.]+)", shown)
    assert found, shown
    assert found.groups() == (f"{table.at[second_model, 'npmi']:.3f}",
                              f"{table.at[production, 'npmi']:.3f}")


def test_compare_aligns_production_with_the_candidate_or_the_newest_other(
        two_models_home, second_model):
    """Model A was the newest model, so a new run stood as A and production as B."""
    production = registry.alias("production")
    at = ok(page("compare"))
    assert picker(at, "align_a").value == production
    assert picker(at, "align_b").value == second_model  # no candidate: the newest other
    table = pd.DataFrame({"model_id": ["new", "cand", "prod", "old"],
                          "aliases": ["", "candidate", "production", ""]})
    assert ab.default_pair(table) == ("prod", "cand")
    assert ab.default_pair(table.assign(aliases="")) == ("new", "cand")
    assert ab.default_pair(table.iloc[[2]]) == ("prod", None)


def test_ab_starts_with_a_model_of_productions_dataset(trained_home, tmp_path):
    """With no candidate, A/B's B was the second scored model in the list, a newer model
    of another dataset, so the page opened on "A/B compares models of one dataset"; it
    starts with the newest other scored model of production's dataset. Compare's pair too,
    which otherwise asked to confirm comparing across datasets. With one scored model per
    dataset (production on the demo, one of one's own import) it says what A/B needs."""
    from core.serve import score

    production = registry.alias("production")
    ingest.import_paths([demo_subset(tmp_path / "shop.parquet", 60)], "shop")
    other = train.train(train.TrainSpec(dataset="shop", k=2, params={"iterations": 20,
                                                                     "seed": 1})).model_id
    score.score_dataset(other)
    at = ok(page("ab"))
    assert [i.value for i in at.info] == [
        "A/B needs two scored models of one dataset: a production model and a candidate. Run "
        "the pipeline (`python -m core pipeline --dataset demo --from FILE`) or promote a "
        "model to *candidate* on the Compare page."]
    second_model = train.train(train.TrainSpec(dataset="demo", k=FAST_K,
                                               params={"iterations": 20, "seed": 2})).model_id
    score.score_dataset(second_model)
    other_again = train.train(train.TrainSpec(dataset="shop", k=2, params={
        "iterations": 20, "seed": 3})).model_id
    score.score_dataset(other_again)
    assert registry.alias("candidate") is None
    at = ok(page("ab"))
    assert (picker(at, "ab_a").value, picker(at, "ab_b").value) == (production, second_model)
    table = registry.metrics_table()
    assert ab.default_pair(table) == (production, second_model)
    assert table["model_id"].iloc[0] == other_again   # the newest, passed over


def test_compare_and_ab_picks_follow_a_promotion(two_models_home, second_model):
    """After a promotion Compare's Model A went on naming the replaced production model
    (and A/B's A the same): the picks start again from the new aliases, and say so."""
    production = registry.alias("production")
    deploy.promote(second_model, "candidate")
    at = ok(page("ab"))
    assert (picker(at, "ab_a").value, picker(at, "ab_b").value) == (production, second_model)
    at.switch_page("app_pages/compare.py")
    ok(at.run())
    assert (picker(at, "align_a").value, picker(at, "align_b").value) == (
        production, second_model)
    promote_picker(at).set_value(second_model)
    ok(at.radio(key="promote_alias").set_value("production").run())
    ok(at.checkbox(key=f"promote_confirm:{production}:{second_model}").check().run())
    ok(at.button(key="promote_go").click().run())
    assert registry.alias("production") == second_model
    a, b = picker(at, "align_a"), picker(at, "align_b")
    assert (a.value, b.value) == (second_model, production)
    assert "[production]" in a.options[a.index]
    assert any(f"production is now {second_model}" in i.value for i in at.info), [
        i.value for i in at.info]
    ok(at.run())  # said once; the picks are the user's again
    assert not any("aliases moved" in i.value for i in at.info)

    at.switch_page("app_pages/ab.py")
    ok(at.run())
    assert (picker(at, "ab_a").value, picker(at, "ab_b").value) == (second_model, production)
    assert any(f"production is now {second_model}" in i.value for i in at.info)


def test_compare_with_one_model_says_a_second_is_needed_to_align(trained_home):
    """It aligned the one model with itself: A and B were the same model."""
    at = ok(page("compare"))
    assert not [s for s in at.selectbox if s.label in ("Model A", "Model B")]
    assert any("Only one model is trained" in i.value for i in at.info)
    assert not [c for c in at.get("plotly_chart")
                if json.loads(c.proto.spec)["data"][0]["type"] == "heatmap"]


def test_compare_puts_k_ticks_only_at_the_ks_trained(trained_home):
    """With one model (the Sony store's K = 8) plotly ticked K at 7, 7.5, 8, 8.5 and 9."""
    at = page("compare")
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    by_k = next(c for c in charts if c["layout"]["title"]["text"] == "npmi by K")
    assert by_k["layout"]["xaxis"]["tickvals"] == [FAST_K]


def test_a_rerun_opens_the_store_a_few_times_not_once_per_picker_option(two_models_home,
                                                                        second_model,
                                                                        monkeypatch):
    """Each open takes the store's lock (and cost ~30 ms). The pickers' label function read the
    store once per option (Compare: 47 opens, 2.4 s per rerun on the demo store); every
    rerun follows a click, so it stays a handful (`bench/pages.py` has the times)."""
    deploy.promote(second_model, "candidate")
    opened = []
    open_store = store._open
    monkeypatch.setattr(store, "_open", lambda *a, **k: opened.append(1) or open_store(*a, **k))
    for name in ("compare", "topics", "lookup", "map"):
        at = page(name)
        opened.clear()
        ok(at.run())
        assert 0 < len(opened) <= 4, f"{len(opened)} opens in one rerun of {name}"


def test_compare_page_deletes_a_model_and_names_the_spark_counts_left(two_models_home,
                                                                     second_model,
                                                                     monkeypatch):
    """Local counts go with the model; a cluster URI with no Spark session here is named."""
    from core.data import spark_export

    monkeypatch.setenv(spark_export.EXPORT_DIR_ENV, "hdfs://namenode/lab")
    local = two_models_home / "parquet" / "counts" / second_model
    local.mkdir(parents=True)
    (local / "_SUCCESS").write_text("")
    at = page("compare")
    ok(promote_picker(at).set_value(second_model).run())
    # One click next to *Promote* deleted the model, its fingerprints and names: a delete
    # is confirmed first, like a promotion.
    assert at.button(key="promote_delete").disabled
    ok(at.checkbox(key=f"delete_confirm:{second_model}").check().run())
    assert not at.button(key="promote_delete").disabled
    ok(at.button(key="promote_delete").click().run())
    assert second_model not in registry.list_models()["model_id"].tolist()
    assert not local.exists()
    toasts = [shown_text(t.value) for t in at.toast]
    assert any(f"Deleted {second_model}" in t and
               f"hdfs://namenode/lab/counts/{second_model} could not be checked" in t
               for t in toasts), toasts


def test_compare_page_refuses_deleting_the_canary_candidate_naming_its_pickers(
        two_models_home, second_model):
    """The refusal names what the page offers to free the candidate (its Model and Alias
    pickers), where it said "promote another model to candidate" as the CLI does;
    the canary share, which no page sets, stays the CLI's command."""
    from core.serve import canary

    registry.set_alias("candidate", second_model)
    canary.set_percent(20)
    at = page("compare")
    ok(promote_picker(at).set_value(second_model).run())
    ok(at.checkbox(key=f"delete_confirm:{second_model}").check().run())
    at.button(key="promote_delete").click().run()
    [markdown] = [e.value for e in at.error]
    refusal = shown_text(markdown)
    assert "sends it 20% of traffic" in refusal and "Model and Alias pickers above" in refusal
    assert "--alias" not in refusal and "canary set 0" in refusal, refusal
    assert "`python -m core canary set 0`" in markdown  # code, not escaped backticks
    assert registry.alias("candidate") == second_model
    # Promoted to production instead, the candidate's canary stops: the page says so.
    production = registry.alias("production")
    ok(at.radio(key="promote_alias").set_value("production").run())
    ok(at.checkbox(key=f"promote_confirm:{production}:{second_model}").check().run())
    ok(at.button(key="promote_go").click().run())
    assert registry.alias("production") == second_model and canary.get_percent() == 0
    [said] = [shown_text(w.value) for w in at.warning
              if "The canary was set to 20%" in shown_text(w.value)]
    assert f"for {second_model}, which is no longer the candidate" in said, said
    # the page's own way to a new candidate, not the CLI's flag
    assert "Model and Alias pickers above" in said and "--alias" not in said, said


def test_compare_page_needs_an_explicit_yes_for_another_dataset(trained_home, tmp_path):
    """The dataset names are shown as typed (`_other_` was drawn in italics)."""
    production = registry.alias("production")
    ingest.import_paths([demo_subset(tmp_path / "other.parquet", 120)], "my _other_ data")
    other = train.train(train.TrainSpec(dataset="my _other_ data", k=6,
                                        params={"iterations": 60}))
    at = page("compare")
    promote_picker(at).set_value(other.model_id)
    ok(at.radio(key="promote_alias").set_value("production").run())
    [gate] = [w.value for w in at.warning if "serves dataset 'demo'" in w.value]
    # the page's checkbox, not the CLI's flag (it said "promote it with `python -m core
    # promote --other-dataset`" above the checkbox)
    assert "tick the confirmation below to promote it" in gate and "--other" not in gate
    ok(at.checkbox(key=f"promote_confirm:{production}:{other.model_id}").check().run())
    assert at.button(key="promote_go").disabled  # the other dataset is not confirmed yet
    yes = at.checkbox(key=f"promote_other_dataset:{production}:{other.model_id}")
    assert "'my _other_ data' instead of 'demo'" in shown_text(yes.label)
    ok(yes.check().run())
    ok(at.button(key="promote_go").click().run())
    assert registry.alias("production") == other.model_id


def test_promotion_and_drift_refusals_name_the_pages_controls(trained_home, tmp_path):
    """Refusals the pages can meet in a race (production moved to another dataset between
    the confirmation and the click; a drift check of another dataset's model) named the
    CLI's `--other-dataset` and `--model` on the Compare and Monitor pages."""
    from core.errors import TopicLabError

    ingest.import_paths([demo_subset(tmp_path / "other.parquet", 120)], "other")
    other = train.train(train.TrainSpec(dataset="other", k=6, params={"iterations": 60}))
    with pytest.raises(TopicLabError) as on_page:
        deploy.promote(other.model_id, "production", controls=ui.PAGE_CONTROLS)
    with pytest.raises(TopicLabError) as on_cli:
        deploy.promote(other.model_id, "production")
    assert "tick the confirmation below" in str(on_page.value)
    assert "--" not in str(on_page.value) and "in the app" not in str(on_page.value)
    assert "`python -m core promote --other-dataset`" in str(on_cli.value)
    production = registry.alias("production")
    with pytest.raises(TopicLabError) as on_page:
        drift.check("other", model_id=production, controls=ui.PAGE_CONTROLS)
    with pytest.raises(TopicLabError) as on_cli:
        drift.check("other", model_id=production)
    assert "Measure … anyway" in str(on_page.value) and "--" not in str(on_page.value)
    assert "`--other-dataset`" in str(on_cli.value) and "`--model`" in str(on_cli.value)


def test_topics_page_embeds_offline_ldavis_and_names_a_topic(trained_home):
    at = page("topics")
    frames = at.get("iframe")
    assert frames, "no pyLDAvis iframe"
    html = frames[0].proto.srcdoc
    assert "new LDAvis" in html and "d3" in html
    assert not re.search(r"""(src|href)\s*=\s*["']?https?://""", html)  # nothing to fetch
    model_id = registry.resolve("production")
    # Top campaigns carry their names, not only ids.
    top = at.dataframe[0].value
    assert list(top.columns[:2]) == ["campaign_name", "campaign_id"]
    assert top["campaign_name"].notna().all()
    # 360 training campaigns are too few to pick words on: the most probable, and why
    model = registry.load(model_id)
    assert top_words_charted(at) == [model.vocabulary[i] for i in np.argsort(
        -model.engine.topic_term_[0], kind="stable")[:10]]
    assert any("The topic shows its most probable words: 360 training campaigns are too few"
               in c.value for c in at.caption), [c.value for c in at.caption]

    at.text_input(key=f"topic_name:{model_id}:0").set_value("Home services")
    ok(at.button[0].click().run())
    assert registry.topic_labels(model_id)[0] == "Home services"
    # The new name shows at once, and the confirmation survives the rerun as a toast.
    assert picker(at, f"topic_pick:{model_id}").options[0] == "Home services"
    assert any("named 'Home services'" in t.value for t in at.toast)



def top_words_charted(at) -> list[str]:
    """The words of the Topics page's "Top words" chart, top first."""
    return list(next(json.loads(c.proto.spec)["data"][0]["y"] for c in at.get("plotly_chart")
                     if json.loads(c.proto.spec)["layout"]["title"]["text"] == "Top words"))[::-1]


def test_topics_page_shows_the_words_picked_for_coherence(trained_home):
    """A model of 1,200 campaigns (1,080 training, enough to pick on) shows each topic's
    words most used together, and says so under the chart."""
    from tests.conftest import demo_subset

    ingest.import_paths([demo_subset(trained_home / "big.parquet", campaigns=1200)], "big")
    model_id = train.train(train.TrainSpec(dataset="big", k=5,
                                           params={"iterations": 40, "seed": 4})).model_id
    at = page("topics")
    picker(at, "model_picker").set_value(model_id)
    ok(at.run())
    model = registry.load(model_id)
    assert model.engine.words_picked
    assert top_words_charted(at) == model.top_words(10)[0]
    assert model.top_words(10)[0] != [model.vocabulary[i] for i in np.argsort(
        -model.engine.topic_term_[0], kind="stable")[:10]]
    assert any("most used together in the same campaigns" in c.value for c in at.caption)
    described = naming.describe(model)[0]
    assert any(f"The words it shows: {', '.join(described.words)}" in c.value
               for c in at.caption)


def test_the_ldavis_chart_leaves_out_words_no_topic_holds(trained_home):
    """A word only held-out campaigns use has weight 0 in every topic (the dictionary is
    built over all campaigns); pyLDAvis took its log, "divide by zero encountered in log",
    on the demo model's Topics page."""
    import warnings

    from core.serve import ldavis, topics

    model = registry.load(registry.resolve("production"))
    view = topics.topic_view(model)
    unseen = np.zeros((model.engine.topic_term_.shape[0], 1))  # as tomotopy leaves it
    topic_term = np.hstack([model.engine.topic_term_, unseen])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        prepared = ldavis.prepare(topic_term, view.doc_topic, view.doc_lengths,
                                  [*model.vocabulary, "zzunseen"],
                                  np.append(view.term_frequency, 2))
        topics.ldavis_html(model, view)
    shown = set(prepared.topic_info["Term"])
    assert "zzunseen" not in shown and len(shown) > 30


MARKUP = "**x** [a](http://e)"


def shown_text(markdown: str) -> str:
    """What a CommonMark renderer (Streamlit's is one) draws for `markdown`, as plain text;
    fails on formatting it would draw (bold, italics, a link, an image, struck text; the
    page's own `code` is allowed)."""
    from markdown_it import MarkdownIt

    rendered = MarkdownIt("commonmark").enable("strikethrough").render(markdown).strip()
    assert rendered.startswith("<p>") and rendered.endswith("</p>"), rendered
    inner = rendered[3:-4]
    assert not re.search(r"<(strong|em|a|img|s)\b", inner), rendered
    return html.unescape(re.sub(r"</?code>", "", inner))


def test_markdown_text_shows_names_and_data_as_typed():
    from markdown_it import MarkdownIt

    import ui

    for text in [MARKUP, "![i](http://e/i.png)", "_x_ __y__ a_b_c", "`code` ~~gone~~",
                 "# heading", "- item", "1. first", "> quote", "&lt;b&gt; &#42;",
                 "<http://e> <b>x</b>", "back\\slash \\*", ":red[x] :material/home: $x$"]:
        markdown = ui.markdown_text(text)
        assert "<" not in MarkdownIt("commonmark").render(markdown).strip()[3:-4], text
        assert shown_text(markdown) == text
    # Streamlit's own directives and maths start with ':' or '$' (not CommonMark's).
    assert ui.markdown_text(":red[x] :material/home: $x$") == (
        "\\:red\\[x\\] \\:material\\/home\\: \\$x\\$")
    assert ui.markdown_text("a\nb") == "a b"  # one line: no second paragraph or heading
    assert ui.markdown_text("plain words, a_b c") == "plain words, a_b c"


def test_messages_show_their_commands_as_code_and_what_they_quote_as_typed():
    """Error and warning boxes showed core's commands with their backticks, `python -m
    core canary set 0`, as plain text; they are code now, and the rest stays as typed."""
    from markdown_it import MarkdownIt

    import ui

    def rendered(markdown: str) -> str:
        return MarkdownIt("commonmark").render(markdown)

    message = ("Model 'a_b **x** :red[y]' is the canary's: run `python -m core canary set 0` "
               "or `promote --force`.")
    markdown = ui.message_text(message)
    assert re.findall(r"<code>(.*?)</code>", rendered(markdown)) == [
        "python -m core canary set 0", "promote --force"]
    assert shown_text(markdown) == message.replace("`", "")
    assert ui.message_text("`:red[x]` :red[x]") == "`:red[x]` \\:red\\[x\\]"
    # a quoted name holding one backtick leaves an odd number: nothing is code
    odd = "No campaign 'a`b' in 'demo': search with `python -m core find`."
    assert "<code>" not in rendered(ui.message_text(odd))
    assert shown_text(ui.message_text(odd)) == odd
    assert shown_text(ui.message_text("a `` b ` ` c")) == "a `` b ` ` c"  # no text, no code
    # Streamlit reads `:material/home:` even in code (it showed `:material_home:`)
    assert ui.message_text("`:material/home:`") == "\\`\\:material\\/home\\:\\`"
    assert ui.message_text("- 1 `x`") == "\\- 1 `x`"  # no list either
    # The pages' remedies go through message_text: a control named in *italics* showed its
    # asterisks (the import's "*Dataset version*", the drift refusal's "*Measure … anyway*")
    for remedy in ui.PAGE_CONTROLS:
        shown = rendered(ui.message_text(remedy.format(version=1)))
        assert "*" not in shown and "\\" not in shown, remedy


def test_progress_bars_show_the_names_their_messages_quote_as_typed():
    """Core's progress messages quote dataset names (`Tokenising my _test_ data v1…`) and
    the cells of warnings; a progress bar's text is markdown and drew them formatted."""
    def script():
        import ui
        progress = ui.StreamlitProgress("Starting **my _test_ data**…")
        progress(1, 4, "Tokenising my _test_ data v1 [a](http://e)…")

    at = app_test(script)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    [bar] = at.get("progress")
    assert shown_text(bar.proto.text) == "Tokenising my _test_ data v1 [a](http://e)…"


def _quoted_values(path, calls: set[str]):
    """(line, source) of each value an f-string interpolates into the first argument of
    one of `calls` in a page's source."""
    import ast

    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        name = getattr(node.func, "attr", getattr(node.func, "id", None))
        if name in calls:
            for value in ast.walk(node.args[0]):
                if isinstance(value, ast.FormattedValue) and value.format_spec is None:
                    yield node.lineno, ast.unparse(value.value)


def test_spinners_and_toasts_of_the_pages_escape_the_names_they_quote():
    """A spinner or toast quoting a dataset name drew `my _test_ data` with `test` in
    italics (Home's and Explore's "Loading …" spinners). Spinners vanish before AppTest
    sees them, so their text is checked in the source: every value put into one goes
    through `ui.markdown_text` (`ui.message_text` for a message of core's), or is a count
    (with its word: `counted(n, 'file')`), a version or a generated id."""
    plain = re.compile(r"^(len\(.*\)|(\w+\.)?(version|topic|target|saved)|"
                       r"decision\.replace\(.*\)|"
                       r"(counted|plural)\((len\(.*\)|\w+), '[\w -]*'(, '[\w -]*')?\))$")
    quoted = [(path.name, line, source)
              for path in sorted((REPO / "app_pages").glob("*.py"))
              for line, source in _quoted_values(path, {"spinner", "status", "toast",
                                                        "flash", "StreamlitProgress"})]
    assert len(quoted) > 10  # the scan finds them
    unescaped = [q for q in quoted if not re.match(r"ui\.(markdown|message)_text\(", q[2])
                 and not plain.match(q[2])]
    assert not unescaped


def test_a_topic_name_with_markdown_shows_literally(trained_home):
    """A topic named `**x** [a](http://e)` was drawn bold with a link in the toast that
    confirms it, in the info box of a carried name and in the error box of a refused one."""
    model_id = registry.resolve("production")
    at = page("topics")
    at.text_input(key=f"topic_name:{model_id}:0").set_value(MARKUP)
    ok(at.button[0].click().run())
    assert registry.topic_labels(model_id)[0] == MARKUP
    assert [shown_text(t.value) for t in at.toast] == [f"Topic 0 is now named '{MARKUP}'."]
    assert picker(at, f"topic_pick:{model_id}").options[0] == MARKUP  # options: plain text

    at.text_input(key=f"topic_name:{model_id}:0").set_value(MARKUP + "\x1b")
    at.button[0].click().run()
    assert [e.value for e in at.error], "the control character was not refused"
    assert MARKUP in shown_text(at.error[0].value)
    assert registry.topic_labels(model_id)[0] == MARKUP  # kept


def test_topics_name_box_follows_the_selected_model(two_models_home, second_model):
    production = registry.resolve("production")
    registry.set_topic_label(production, 0, "Production topic zero")
    at = page("topics")
    assert at.text_input(key=f"topic_name:{production}:0").value == "Production topic zero"
    models = picker(at, "model_picker")
    assert any("[production]" in o for o in models.options)  # alias labels in the picker
    ok(models.set_value(second_model).run())
    # The other model's topic 0 has no name: its box is empty, not the previous model's.
    assert at.text_input(key=f"topic_name:{second_model}:0").value == ""
    assert len(picker(at, f"topic_pick:{second_model}").options) == SECOND_K


def test_topics_name_box_follows_a_name_given_elsewhere(trained_home):
    """A topic named from the CLI (or another tab) while the page was open got its new
    name in the picker, but the name box kept the one the page first read (empty): saving
    the form as shown put the old name back."""
    production = registry.resolve("production")
    at = ok(page("topics"))
    box = f"topic_name:{production}:0"
    assert at.text_input(key=box).value == ""
    registry.set_topic_label(production, 0, "Plumbing")
    ok(at.run())
    assert picker(at, f"topic_pick:{production}").options[0] == "Plumbing"
    assert at.text_input(key=box).value == "Plumbing"
    registry.set_topic_label(production, 0, "")  # removed elsewhere: the box empties too
    assert ok(at.run()).text_input(key=box).value == ""


def money_formats(frame) -> dict[str, tuple[str, str]]:
    """(label, printf format) of a shown table's money columns."""
    config = json.loads(frame.proto.columns)
    return {c: (config[c].get("label"), config[c]["type_config"].get("format"))
            for c in ("cpc", "cost", "median_cpc") if c in config}


def campaign_with_actions(*patterns: str) -> str:
    """A campaign of the trained store whose suggested actions' reasons match every
    pattern, as the Lookup page's defaults find them (10 neighbours, the floor). Which
    campaign has which action follows the model, so a test of an action's form finds one
    that has it."""
    from core.serve.lookup import Lookup

    lookup = Lookup()
    for campaign_id in lookup.campaigns.index:
        reasons = " ".join(a.reason for a in lookup.campaign(campaign_id).suggestions.actions)
        if all(re.search(pattern, reasons) for pattern in patterns):
            return campaign_id
    raise AssertionError(f"no campaign of the trained store has actions matching {patterns}")


def test_costs_show_in_the_datasets_currency_with_its_decimals(trained_home):
    """Sony's JPY costs showed as 12345.00 (no thousands separators, hundredths of a yen)
    in every table, and the actions' reasons quoted `spent 30.25`."""
    datasets.set_currency("demo", "JPY")
    at = ok(page("explore"))
    assert money_formats(at.dataframe[0]) == {"cpc": ("CPC (JPY)", "%,.0f"),
                                              "cost": ("Cost (JPY)", "%,.0f")}
    assert re.fullmatch(r"\d{1,3}(,\d{3})+", next(m.value for m in at.metric
                                                 if m.label == "Cost (JPY)"))
    at = page("lookup")
    spent, cpc = r"spent [\d,]+ JPY", r"CPC [\d,]+ JPY vs median [\d,]+ JPY"
    ok(at.selectbox(key="lookup_campaign").set_value(campaign_with_actions(spent, cpc)).run())
    assert money_formats(at.dataframe[0]) == {"cpc": ("CPC (JPY)", "%,.0f"),
                                              "cost": ("Cost (JPY)", "%,.0f")}
    reasons = " ".join(e.label for e in at.expander)
    assert re.search(spent, reasons) and re.search(cpc, reasons), reasons
    evidence = [money_formats(f) for f in at.dataframe[1:] if "cost" in f.value]
    assert evidence and all(e["cost"] == ("Cost (JPY)", "%,.0f") for e in evidence)
    clusters = ok(page("map")).dataframe[0]
    assert money_formats(clusters) == {"median_cpc": ("median CPC (JPY)", "%,.0f"),
                                       "cost": ("cost (JPY)", "%,.0f")}
    datasets.set_currency("demo", "EUR")  # cents, and separators
    at = ok(page("explore"))
    assert money_formats(at.dataframe[0])["cost"] == ("Cost (EUR)", "%,.2f")
    card = next(m for m in at.metric if m.label == "Cost (EUR)")  # a total in millions was
    assert re.fullmatch(r"\d{1,3}(,\d{3})*", card.value)  # cut to "15,943,7…" with cents
    assert re.fullmatch(r"Exactly \d{1,3}(,\d{3})*\.\d\d EUR", card.proto.help)


def count_formats(frame, columns=("clicks", "impressions", "terms", "conversions",
                                   "campaigns")) -> dict[str, str]:
    """printf format of a shown table's count columns (those of `columns` it has)."""
    config = json.loads(frame.proto.columns)
    return {c: config[c]["type_config"].get("format") for c in columns
            if c in config and c in frame.value}


def test_counts_show_with_thousands_separators_as_costs_do(trained_home):
    """Lookup's neighbours and Explore's campaigns showed clicks and impressions as
    2337504 beside costs' 2,547,311."""
    counts = {"clicks": ui.COUNT, "impressions": ui.COUNT, "terms": ui.COUNT,
              "conversions": ui.CONVERSIONS}
    assert ui.COUNT == "%,d" and ui.CONVERSIONS == "%,.2f"
    at = ok(page("explore"))
    assert count_formats(at.dataframe[0]) == counts
    assert at.dataframe[0].value["clicks"].max() >= 1000  # a count that needs a separator
    at = page("lookup")
    ok(at.selectbox(key="lookup_campaign").set_value("C00002").run())
    assert count_formats(at.dataframe[0]) == counts
    assert pd.api.types.is_integer_dtype(at.dataframe[0].value["clicks"])  # raw numbers
    evidence = [count_formats(f) for f in at.dataframe[1:] if "clicks" in f.value]
    assert evidence and all(e["clicks"] == ui.COUNT for e in evidence)
    # a keyword idea's neighbour counts too (read 1801 beside 1,896), and every evidence
    # header in words (`neighbor_clicks` was shown as named in the CSV)
    ideas = [json.loads(f.proto.columns) for f in at.dataframe[1:]
             if "neighbor_clicks" in f.value]
    assert ideas and all(c["neighbor_clicks"]["type_config"]["format"] == ui.COUNT and
                         c["neighbor_conversions"]["type_config"]["format"] == ui.CONVERSIONS
                         for c in ideas), ideas
    for frame in at.dataframe[1:]:
        config = json.loads(frame.proto.columns)
        headers = {c: config.get(c, {}).get("label") or c for c in frame.value.columns}
        assert not any("_" in h for h in headers.values()), headers
    assert count_formats(ok(page("map")).dataframe[0])["campaigns"] == ui.COUNT


def test_rates_show_in_percent_in_charts_and_evidence_as_in_tables(trained_home):
    """Explore's CTR histogram was of fractions (0.05) beside the table's percent (5.00%),
    the Map's CTR hover and colour bar too, and a CTR benchmark's evidence read 0.058
    under its reason's "CTR 5.75%"."""
    at = ok(page("explore"))
    shown = at.dataframe[0].value.set_index("campaign_id")
    rates = next(c for c in map(json.loads, (c.proto.spec for c in at.get("plotly_chart")))
                 if c["layout"]["title"]["text"] == "Click-through rate per campaign")
    assert max(plotly_array(rates["data"][0]["x"])) == pytest.approx(shown["ctr"].max())
    assert shown["ctr"].max() > 1 and rates["layout"]["xaxis"]["ticksuffix"] == "%"
    at = ok(page("map"))
    ok(at.segmented_control(key="map_colour").set_value("CTR").run())
    figure = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert ":.2%" in figure["data"][0]["hovertemplate"]
    assert figure["layout"]["coloraxis"]["colorbar"]["tickformat"] == ".1%"
    at = page("lookup")
    ok(at.selectbox(key="lookup_campaign").set_value(campaign_with_actions(
        r"CTR [\d.]+% vs median")).run())
    ctr = next(f for f in at.dataframe[1:] if "metric" in f.value
               and f.value["metric"].iloc[0] == "CTR")
    reason = next(e.label for e in at.expander if "CTR " in e.label)
    value = re.search(r"CTR ([\d.]+)% vs median ([\d.]+)%", reason)
    assert ctr.value["campaign_value"].iloc[0] == pytest.approx(float(value[1]), abs=0.01)
    assert ctr.value["neighbor_median"].iloc[0] == pytest.approx(float(value[2]), abs=0.01)
    assert json.loads(ctr.proto.columns)["campaign_value"]["type_config"]["format"] == \
        ui.PERCENT


def test_lookup_page_existing_and_new_campaign(trained_home):
    at = page("lookup")
    assert at.segmented_control(key="lookup_mode").value == "Existing campaign"
    at.slider(key="lookup_min_similarity").set_value(0.0)  # every neighbour (floor: below)
    at.selectbox(key="lookup_campaign").set_value("C00002").run()
    ok(at)
    neighbours = at.dataframe[0].value
    assert len(neighbours) == 10 and "C00002" not in set(neighbours["campaign_id"])
    # similarities as the CLI and the service give them (six decimals, not float32's
    # 0.7185765504837036), and shown whole: "%.3f" showed 0.2996 as 0.300 under a 0.30 floor
    from core.jsonable import SIMILARITY_DECIMALS
    from core.serve.lookup import Lookup

    given = Lookup("production").neighbors("C00002", 10)
    for column in ("similarity", "topic_similarity", "term_similarity", "vector_similarity"):
        assert neighbours[column].tolist() == given[column].tolist()
        assert all(len(repr(v).partition(".")[2]) <= SIMILARITY_DECIMALS
                   for v in neighbours[column]), neighbours[column].tolist()
        assert json.loads(at.dataframe[0].proto.columns)[column]["type_config"][
            "format"] == "plain"
    # Name, similarity and performance lead the table.
    assert list(neighbours.columns[:6]) == ["campaign_name", "campaign_id", "similarity",
                                            "ctr", "cpc", "conversion_rate"]
    assert len(at.get("download_button")) == 2  # neighbours and actions
    rated = next(s for s in at.selectbox if s.label == "Neighbour")  # `id — name`, as pickers
    first = neighbours.iloc[0]
    assert rated.options[0] == f"{first['campaign_id']} — {first['campaign_name']}"
    at.segmented_control(key="lookup_mode").set_value("New campaign").run()
    at.text_area(key="lookup_keywords").set_value(
        "emergency plumber\nblocked drain\nwater heater repair").run()
    ok(at)
    assert len(at.dataframe[0].value) == 10


def away_and_back(at, away: str, back: str) -> None:
    """Visit page `away`, then return to page `back`, as a user clicking the sidebar."""
    for name in (away, back):
        at.switch_page(f"app_pages/{name}.py")
        ok(at.run())


def test_lookup_and_ab_keep_their_campaign_over_a_visit_to_another_page(two_models_home,
                                                                        second_model):
    """Streamlit forgets a widget a run does not draw: Lookup's campaign, mode and pasted
    keywords, and A/B's campaign, were gone after a look at another page."""
    deploy.promote(second_model, "candidate")
    at = page("lookup")
    ok(at.selectbox(key="lookup_campaign").set_value("C00002").run())
    ok(at.segmented_control(key="lookup_mode").set_value("New campaign").run())
    ok(at.text_area(key="lookup_keywords").set_value("blocked drain").run())
    away_and_back(at, "map", "lookup")
    assert at.segmented_control(key="lookup_mode").value == "New campaign"
    assert at.text_area(key="lookup_keywords").value == "blocked drain"
    ok(at.segmented_control(key="lookup_mode").set_value("Existing campaign").run())
    assert at.selectbox(key="lookup_campaign").value == "C00002" and at.dataframe

    at.switch_page("app_pages/ab.py")
    ok(at.run())
    ok(at.selectbox(key="ab_campaign").set_value("C00003").run())
    away_and_back(at, "home", "ab")
    assert at.selectbox(key="ab_campaign").value == "C00003"
    assert "A status" in at.dataframe[-1].value.columns


def test_lookup_says_when_no_campaign_passes_the_filters_and_asks_no_feedback(trained_home):
    """With *Neighbours need at least … terms* above every campaign the table was empty
    with no word why, and the feedback form stayed: sending it said "Campaign None is not
    scored under model …"."""
    at = page("lookup")
    at.selectbox(key="lookup_campaign").set_value("C00002").run()
    next(n for n in at.number_input if n.label.startswith("Neighbours need")).set_value(500)
    ok(at.run())
    assert at.dataframe[0].value.empty
    assert any("No campaign has at least 500 terms" in i.value for i in at.info), [
        i.value for i in at.info]
    assert not [b for b in at.button if b.label == "Send feedback"]


def test_lookup_does_not_say_a_campaign_looks_like_neighbours_none_is_similar_to(
        trained_home):
    """Under "No campaign is similar enough … to learn from" the page said "Nothing to
    suggest: this campaign looks like its neighbours" (Sony's `amuelind_brand`, whose
    nearest campaign has similarity 0.08)."""
    at = page("lookup")
    at.slider(key="lookup_min_similarity").set_value(1.0)
    at.segmented_control(key="lookup_mode").set_value("New campaign").run()
    ok(at.text_area(key="lookup_keywords").set_value("emergency plumber\nblocked drain").run())
    assert not at.dataframe[0].value["similar_enough"].any()
    infos = [i.value for i in at.info]
    assert any(i.startswith("Nothing to suggest: no campaign is similar enough")
               for i in infos), infos
    assert not any("looks like its neighbours" in i for i in infos)


def test_lookup_names_the_words_a_stored_campaign_has_that_the_model_does_not_use(
        trained_home):
    """A stored campaign showed "Words the model does not use: 9%" and no word (its stored
    fingerprint keeps only the share); pasted keywords listed theirs."""
    from core.serve.lookup import Lookup

    lookup = Lookup("production")
    fingerprints = lookup.fingerprints
    i = int(np.argmax(fingerprints.oov_share))
    campaign_id = fingerprints.campaign_ids[i]
    assert fingerprints.oov_share[i] > 0
    at = page("lookup")
    ok(at.selectbox(key="lookup_campaign").set_value(campaign_id).run())
    shown = [c.value for c in at.caption if "vocabulary filter" in c.value
             or c.value.startswith("Never seen")]
    assert shown and lookup.unknown_of(campaign_id).unknown_words()[0] in " ".join(shown)


def odd_store(tmp_path, unknown: str = "C5") -> str:
    """Dataset `odd` and its production model (K = 2), which knows no word of C5 (or
    `unknown`): the vocabulary filter drops every word of it, as Sony's `amuelind_brand`."""
    from tests.conftest import write_terms_csv

    rows = [("C1", "red shoes"), ("C1", "blue shoes"), ("C2", "red boots"),
            ("C2", "blue boots"), ("C3", "red shoes sale"), ("C4", "blue boots sale"),
            (unknown, "zorblax quintor"), (unknown, "flimwax")]
    ingest.import_paths([write_terms_csv(tmp_path / "odd.csv", [
        {"campaign_id": c, "campaign_name": c, "keyword": k} for c, k in rows])], "odd")
    model = train.train(train.TrainSpec(dataset="odd", k=2, params={"iterations": 20}))
    deploy.promote(model.model_id, "production")
    return model.model_id


def test_topics_page_leaves_a_campaign_the_model_knows_no_word_of_out_of_top_campaigns(
        home, tmp_path):
    """Its fingerprint is the prior alone (1/K on every topic): Sony's `amuelind_brand`
    stood second among the top campaigns of most topics at 0.125. Weights shown as 0.000
    were listed too (14 of Sony's 16 campaigns under a topic one campaign holds)."""
    model_id = odd_store(tmp_path)
    at = ok(page("topics"))
    for topic in (0, 1):
        ok(picker(at, f"topic_pick:{model_id}").set_value(topic).run())
        top = at.dataframe[0].value  # C1-C4 hold both topics
        assert "C5" not in set(top["campaign_id"]) and not top.empty
        assert (top["weight"] >= 0.0005).all()  # none shown as 0.000
        assert any("Left out: 1 campaign the model knows no word of" in c.value
                   for c in at.caption)


def test_lookup_suggests_no_split_of_a_campaign_the_model_knows_no_word_of(home, tmp_path):
    """Sony's `amuelind_brand` under a K = 3 model was told to split by topic: "its
    fingerprint holds 3 topics of weight >= 0.25 … normalised entropy 1.00", the prior
    the page's own warning says nothing about it."""
    odd_store(tmp_path)
    at = ok(page("lookup"))
    ok(at.selectbox(key="lookup_campaign").set_value("C5").run())
    assert not [e for e in at.expander if "Split the campaign" in e.label]
    assert any("No split by topic" in c.value and "knows no word" in c.value for c in at.caption)
    ok(at.selectbox(key="lookup_campaign").set_value("C1").run())  # C1 is still told
    assert not any("No split by topic" in c.value for c in at.caption)


def test_map_shows_a_campaign_the_model_knows_no_word_of_as_such(home, tmp_path):
    """It was painted as topic 0's (the first maximum of its 1/K prior) and counted in
    T0's cluster; its own legend entry and cluster row say what it is."""
    odd_store(tmp_path)
    at = ok(page("map"))
    legend = [trace["name"] for trace in json.loads(at.get("plotly_chart")[0].proto.spec)[
        "data"]]
    unknown = "no word the model knows"
    assert legend[-1] == unknown  # after the topics
    clusters = at.dataframe[0].value.set_index("name")
    assert clusters.at[unknown, "campaigns"] == 1
    assert clusters.index[-1] == unknown and clusters["campaigns"].sum() == 5


def test_campaign_pickers_offer_a_campaign_no_model_word_of_last_and_say_so(home, tmp_path):
    """Sony's `amuelind_brand` was offered among the others in Lookup, A/B and the Map's
    picker, as if its neighbours meant something; the Map and Topics set it apart."""
    from core.serve import score

    first = odd_store(tmp_path, unknown="A0")   # its id sorts first
    second = train.train(train.TrainSpec(dataset="odd", k=2, params={"iterations": 20,
                                                                     "seed": 1}))
    score.score_dataset(second.model_id)
    mark = "A0 (no word the model knows)"
    at = ok(page("lookup"))
    offered = at.selectbox(key="lookup_campaign")
    assert offered.options[-1] == mark and mark not in offered.options[:-1]
    assert offered.options[0] == "C1"
    at = ok(page("map"))
    assert at.selectbox(key="map_open").options[-1] == mark
    at = ok(page("ab"))
    assert at.selectbox(key="ab_campaign").options[-1] == "A0 (no word A or B knows)"
    ok(at.selectbox(key="ab_campaign").set_value("A0").run())  # still selectable
    assert registry.alias("production") == first


def test_map_legend_lists_topics_by_number_and_clusters_by_size(trained_home):
    """Plotly listed the legend in the order the points came in (T5, T2, T0 …)."""
    from core.serve import campaign_map

    result = campaign_map.campaign_map()
    names = registry.topic_names(registry.load(result.model_id))
    at = ok(page("map"))
    legend = [t["name"] for t in json.loads(at.get("plotly_chart")[0].proto.spec)["data"]]
    assert legend == [names[t] for t in sorted(set(result.points["topic"]))]
    assert legend != list(pd.unique(result.points["topic_name"]))  # arrival order differs
    ok(at.segmented_control(key="map_colour").set_value("Cluster").run())
    legend = [t["name"] for t in json.loads(at.get("plotly_chart")[0].proto.spec)["data"]]
    assert legend == at.dataframe[0].value["name"].tolist()  # the clusters table's order
    sizes = at.dataframe[0].value["campaigns"].tolist()
    assert sizes == sorted(sizes, reverse=True)


def test_lookup_names_the_words_of_a_campaign_the_model_knows_no_word_of(home, tmp_path):
    """A Sony campaign (`amuelind_brand`) whose every word the vocabulary filter dropped
    showed "Words the model does not use: 100%" and no word (they were read by folding
    them in, which refuses a campaign with no known word); `fingerprint` printed
    `unknown_words: []`."""
    from tests.conftest import cli, ok_json

    odd_store(tmp_path)
    at = page("lookup")
    ok(at.selectbox(key="lookup_campaign").set_value("C5").run())
    assert [m.value for m in at.metric if m.label.startswith("Words")] == ["100%"]
    # its fingerprint is the prior alone (0.5 and 0.5 here): the page says so
    assert [w.value for w in at.warning if "knows no word of this campaign" in w.value]
    ok(at.selectbox(key="lookup_campaign").set_value("C1").run())
    assert not [w.value for w in at.warning if "knows no word" in w.value]
    ok(at.selectbox(key="lookup_campaign").set_value("C5").run())
    dropped = [c.value for c in at.caption if "vocabulary filter" in c.value]
    assert dropped and all(w in dropped[0] for w in ("zorblax", "quintor", "flimwax"))
    printed = ok_json(cli("fingerprint", "C5", home=home))
    assert sorted(printed["unknown_words"]) == ["flimwax", "quintor", "zorblax"]


def test_a_stored_campaigns_unknown_words_are_read_once_per_lookup(trained_home, monkeypatch):
    """The Lookup page read a stored campaign's words again on every rerun (tokenising its
    term rows: 0.2-0.7 s on a loaded machine, 3.5 s for a first Japanese one); its Lookup
    keeps the latest `UNKNOWN_CACHED` campaigns' (bench/unknown_words.py)."""
    from core.serve import lookup as lookup_module

    monkeypatch.setattr(lookup_module, "UNKNOWN_CACHED", 2)
    lookup = lookup_module.Lookup("production")
    first, *others = lookup.fingerprints.campaign_ids[:4]
    words = lookup.unknown_of(first)
    assert words is not None and lookup.unknown_of(first) is words   # not read again
    for campaign_id in others:                          # the oldest drops out
        lookup.unknown_of(campaign_id)
    again = lookup.unknown_of(first)
    assert again is not words and again.unknown_tokens == words.unknown_tokens
    from core.errors import NotFoundError

    with pytest.raises(NotFoundError):                  # an unknown id is still refused
        lookup.unknown_of("no such campaign")


def test_pasted_text_holding_no_keyword_is_told_to_paste_them(trained_home):
    """The page's own wording for no keyword (the CLI and the Python API name their
    option or argument instead): text of separators only is no keyword."""
    at = page("lookup")
    at.segmented_control(key="lookup_mode").set_value("New campaign").run()
    at.text_area(key="lookup_keywords").set_value(" , ;\n").run()
    assert not at.exception and not at.dataframe
    assert [("No keywords were given" in e.value and "paste one keyword per line" in e.value)
            for e in at.error] == [True]


def test_pasted_keywords_and_stop_words_with_control_characters_are_refused(trained_home):
    """A terminal's colour code or a NUL was kept in a pasted keyword (the word around it
    unknown to the model, shown garbled) and in a stop word (saved with the model, removing
    nothing). Both are refused naming the keyword and the characters; the text stays."""
    at = page("lookup")
    at.segmented_control(key="lookup_mode").set_value("New campaign").run()
    pasted = "emergency plumber\nblocked\x1b[31m drain\x00"
    at.text_area(key="lookup_keywords").set_value(pasted).run()
    assert not at.exception
    assert [("Keyword 2" in e.value and "U+001B, U+0000" in e.value) for e in at.error] == [
        True]
    assert not at.dataframe  # nothing was looked up
    assert at.text_area(key="lookup_keywords").value == pasted

    at = page("train")
    at.text_input(key="train_stopwords").set_value("plumber, repair\x1b[0m").run()
    assert not at.exception
    assert [("Extra stop word 2" in e.value and "U+001B" in e.value) for e in at.error] == [
        True]
    assert "train_start" not in [b.key for b in at.button]  # cannot train with it
    assert at.text_input(key="train_stopwords").value == "plumber, repair\x1b[0m"
    ok(at.text_input(key="train_stopwords").set_value("Plumber, repair").run())
    assert at.button(key="train_start")


def test_stop_words_are_checked_where_training_starts():
    from core.errors import InputError
    from core.model.text import parse_stopwords

    assert parse_stopwords(" Plumber ,, repair ") == ("plumber", "repair")
    with pytest.raises(InputError, match=r"stop word 1 'a\\u200bb'.*U\+200B"):
        train.TrainSpec(dataset="demo", text=TextConfig(extra_stopwords=("a\u200bb",)))
    with pytest.raises(InputError, match="not one string"):
        TextConfig(extra_stopwords="plumber")  # was ("p", "l", "u", …)
    TextConfig(extra_stopwords=("a\x00",))  # a model saved with one still loads


def test_saved_settings_with_a_stop_word_refused_now_still_train(trained_home):
    """A production model promoted before hidden characters were refused saved its stop
    words as the dataset's settings: `saved_settings` failed, so the pipeline stopped
    after drift and the Train page showed only "type plain words", with no box to type
    them in. The word (it matched no token) is left out; the stored row is kept."""
    import json

    from core.data import store

    with store.transaction() as con:
        raw = con.execute("SELECT settings FROM dataset_settings WHERE name = 'demo'"
                          ).fetchone()[0]
        saved = json.loads(raw)
        saved["text"]["extra_stopwords"] = ["plumber\u200b", "repair"]
        con.execute("UPDATE dataset_settings SET settings = ? WHERE name = 'demo'",
                    [json.dumps(saved)])
    assert train.saved_settings("demo").text.extra_stopwords == ("repair",)
    at = ok(page("train"))
    assert at.text_input(key="train_stopwords").value == "repair"
    assert at.button(key="train_start")
    stored = store.query_one("SELECT settings FROM dataset_settings WHERE name = 'demo'")[0]
    assert json.loads(stored)["text"]["extra_stopwords"] == ["plumber\u200b", "repair"]


def test_lookup_page_says_where_its_term_rows_could_not_be_written(trained_home):
    """A folder that cannot hold Lookup's copy of the term rows (as a full disk) is one
    error naming it (a StoreError, which the app shows as a message), not a stack trace;
    the page comes back once there is room."""
    from core.data import term_file

    shutil.rmtree(term_file.root(), ignore_errors=True)
    term_file.root().write_text("not a folder")
    at = page("lookup")
    assert [e.value for e in at.error] and "term_rows" in at.error[0].value
    assert "could not be written" in at.error[0].value
    assert "lookup_campaign" not in [s.key for s in at.selectbox]   # the page stopped there
    term_file.root().unlink()
    assert ok(page("lookup")).selectbox(key="lookup_campaign")


def test_lookup_names_the_model_of_the_active_dataset_when_another_is_picked(trained_home,
                                                                            tmp_path):
    """It said the active dataset "has no scored model yet" when it had one."""
    production = registry.resolve("production")
    ingest.import_paths([demo_subset(tmp_path / "other.parquet", 120)], "other")

    def lookup_with_other_active() -> AppTest:
        at = page("lookup")
        at.session_state["dataset"] = ("other", 1)  # as picked on Explore
        return ok(at.run())

    at = lookup_with_other_active()
    captions = " ".join(c.value for c in at.caption)
    assert "The active dataset is other v1, which has no scored model yet" in captions
    other = train.train(train.TrainSpec(dataset="other", k=6, params={"iterations": 60}))
    deploy.promote(other.model_id, "candidate")  # scores it
    at = lookup_with_other_active()
    model = picker(at, "lookup_model:('other', 1)")
    assert model.value == other.model_id  # the active dataset's model by default
    ok(model.set_value(production).run())
    captions = " ".join(c.value for c in at.caption)
    assert "no scored model" not in captions
    assert f"The active dataset is other v1: pick `{other.model_id}` under *Model*" in captions


def test_lookup_mode_cannot_be_unselected(trained_home):
    at = page("lookup")
    at.segmented_control(key="lookup_mode").set_value(None).run()
    ok(at)
    assert at.selectbox(key="lookup_campaign")  # still in a mode: the campaign search
    assert not at.text_area
    assert not any("neither" in i.value for i in at.info)


def test_ab_monitor_and_audit_pages(two_models_home, second_model):
    deploy.promote(second_model, "candidate")
    at = ok(page("ab"))
    assert any(m.label == "Neighbour overlap@10" for m in at.metric)
    at.selectbox(key="ab_campaign").set_value("C00003").run()
    ok(at)
    assert "A status" in at.dataframe[-1].value.columns

    at = ok(page("monitor"))
    ok(at.button[0].click().run())
    assert store.query_one("SELECT count(*) FROM drift_reports")[0] == 1
    report = drift.history("demo")
    recorded = at.session_state["drift_report"]
    box = at.error if recorded["retrain_recommended"] else at.success
    assert [b.value for b in box] == [recorded["verdict"]]
    assert {m.label for m in at.metric} == {n.replace("_", " ") for n in recorded["measures"]}
    assert not any(m.value.startswith("-0.000") for m in at.metric)
    assert set(report["measure"]) == set(recorded["measures"])
    none_new = [c for c in at.caption if c.value.startswith("None: every word")]
    assert len(none_new) == (not recorded["new_terms"])  # a sentence, not an empty table
    # "Over time": each threshold once in the legend with its measures, no labels on the
    # chart (two measures share 0.15: their labels were printed on top of each other).
    over_time = json.loads(at.get("plotly_chart")[-1].proto.spec)["layout"]
    assert not over_time.get("annotations")
    lines = {shape["y0"]: shape["name"] for shape in over_time["shapes"]}
    assert len(lines) == len(over_time["shapes"]) and all(
        shape["showlegend"] for shape in over_time["shapes"])
    thresholds = report.groupby("threshold")["measure"].agg(", ".join)
    assert lines == {t: f"{t:g}: {names}" for t, names in thresholds.items()}
    assert list(lines) == sorted(lines, reverse=True)   # the legend lists them as they stand

    at = ok(page("audit"))
    assert len(at.dataframe[0].value) == len(audit.entries(limit=1000))


def test_monitor_over_time_ticks_only_the_versions_checked(trained_home):
    """With one version checked the version axis read 0, 1 and 2: versions 0 and 2 do not
    exist."""
    at = ok(page("monitor"))
    ok(at.button[0].click().run())
    over_time = json.loads(at.get("plotly_chart")[-1].proto.spec)["layout"]["xaxis"]
    assert over_time["tickvals"] == [1] and over_time["tickmode"] == "array"


def test_monitor_history_is_production_s_not_a_later_check_of_another_model(
        two_models_home, second_model):
    """`drift --model candidate` after the production check took the version's place in
    the Monitor page's "Over time" chart (titled "against the production model of the
    time"): a version production should be retrained for showed the other model's
    figures."""
    production = registry.alias("production")
    drift.check("demo", 1, production)
    drift.check("demo", 1, second_model)  # checked last
    assert set(drift.history("demo")["model_id"]) == {production}
    assert set(drift.history("demo", second_model)["model_id"]) == {second_model}
    at = ok(page("monitor"))
    over_time = json.loads(at.get("plotly_chart")[-1].proto.spec)
    hovered = {c for trace in over_time["data"] for c in
               np.array(trace.get("customdata", [])).ravel().tolist()}
    assert hovered == {production}


def test_monitor_asks_again_for_each_other_dataset(trained_home, tmp_path, small_csv):
    """The tick confirming a check of another dataset than production's carried over to
    the next dataset picked: its *Check drift* button showed without a new confirmation.
    The key names the dataset and the production model, as Compare's confirmations do."""
    ingest.import_paths([demo_subset(tmp_path / "other.parquet", 120)], "other")
    ingest.import_paths([small_csv], "shop")
    at = ok(page("monitor"))
    datasets_box = next(s for s in at.selectbox if s.label == "Dataset")
    datasets_box.set_value("other").run()
    production = registry.alias("production")
    tick = at.checkbox(key=f"drift_other_dataset:{production}:other")
    assert "**other**" in tick.label and not at.button
    tick.check().run()
    assert [b.label for b in ok(at).button] == ["Check drift"]
    next(s for s in at.selectbox if s.label == "Dataset").set_value("shop").run()
    assert not ok(at).button  # shop is not confirmed: asked again
    assert not at.checkbox(key=f"drift_other_dataset:{production}:shop").value


def test_monitor_compares_confidence_as_shares_of_each_version_s_campaigns(trained_home,
                                                                          tmp_path):
    """The confidence chart drew campaign counts: a version with half the campaigns of the
    training data looked less confident in every bar."""
    ingest.import_paths([demo_subset(tmp_path / "v2.parquet", 200)], "demo")
    at = ok(page("monitor"))
    next(s for s in at.selectbox if s.label == "Version to check").set_value(2)
    at.button[0].click().run()
    assert not at.exception and at.session_state["drift_report"]["version"] == 2
    chart = next(json.loads(c.proto.spec) for c in at.get("plotly_chart")
                 if "Fingerprint confidence" in json.loads(c.proto.spec)["layout"]["title"]["text"])
    assert {trace["name"] for trace in chart["data"]} == {"training data", "v2"}
    for trace in chart["data"]:
        assert sum(plotly_array(trace["y"])) == pytest.approx(1.0)


def test_monitor_shows_no_check_of_the_model_production_replaced(two_models_home,
                                                                 second_model):
    """After a promotion elsewhere, the last check (against the old production) stayed
    on the page under the new production model's name."""
    at = page("monitor")
    at.button[0].click().run()
    assert at.metric  # the check's measures
    deploy.promote(second_model, "production")
    at.run()
    assert not at.exception and not at.metric
    assert second_model in at.caption[0].value


def test_ab_says_when_the_metric_deltas_mix_two_versions_of_the_data(two_models_home,
                                                                      tmp_path):
    """Each model's NPMI and perplexity are measured on its own training data: models of
    two versions get a note saying so (none for one version: the other A/B test)."""
    ingest.import_paths([demo_subset(tmp_path / "v2.parquet", 300, shift=0.3)], "demo")
    newer = train.train(train.TrainSpec(dataset="demo", k=SECOND_K, params=SECOND_PARAMS))
    deploy.promote(newer.model_id, "candidate")
    at = ok(page("ab"))
    notes = [c.value for c in at.caption if c.value.startswith("Each model's metrics")]
    assert len(notes) == 1 and "A on demo v1, B on demo v2" in notes[0]


def test_compare_tables_show_counts_with_thousands_separators(trained_home):
    """Each run's documents and vocabulary (the demo's 2,700 and 1,879; they were not in
    the table) and K, and a sweep's K and runs, are counts: separators as every table."""
    with store.transaction() as con:
        con.execute("INSERT INTO sweeps VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    ["sweep-1", "demo", 1, json.dumps({"k": [1200]}), "npmi", None, "K",
                     json.dumps([{"k": 1200, "runs": 2, "npmi": 0.1}]), audit.now()])
    at = ok(page("compare"))
    runs, sweep = at.dataframe[0], at.dataframe[1]
    assert count_formats(runs, ("k", "documents", "vocabulary_size", "version")) == {
        "k": ui.COUNT, "documents": ui.COUNT, "vocabulary_size": ui.COUNT}
    assert json.loads(runs.proto.columns)["vocabulary_size"]["label"] == "vocabulary"
    model = registry.get(registry.alias("production"))["metrics"]
    shown = runs.value.iloc[0]
    assert (shown["documents"], shown["vocabulary_size"]) == (model["documents"],
                                                              model["vocabulary_size"])
    assert count_formats(sweep, ("k", "runs", "npmi")) == {"k": ui.COUNT, "runs": ui.COUNT}
    assert sweep.value["k"].tolist() == [1200]


def test_compare_shows_a_sweeps_dataset_name_as_typed(trained_home):
    """Dataset names may hold spaces and underscores: `my _test_ data` was shown with
    `test` in italics in the list of sweeps, the one place the names were not escaped."""
    import json

    from core.data import audit, store

    with store.transaction() as con:
        con.execute("INSERT INTO sweeps VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    ["sweep-1", "my _test_ data", 1, json.dumps({"k": [3]}), "npmi", None,
                     "K = 3 *chosen*", json.dumps([{"k": 3, "npmi": 0.1}]), audit.now()])
    at = ok(page("compare"))
    shown = [m.value for m in at.markdown if "sweep-1" in m.value]
    assert shown == ["**sweep-1** (my \\_test\\_ data v1) — K = 3 \\*chosen\\*"], shown


def test_the_overlap_mask_of_common_campaigns_takes_no_time_at_scale():
    """The mask of the campaigns both models have (models of two versions) came from
    `np.isin` over object arrays, which compares every pair: 3 s for 10,000 of 30,000,
    hours at a million campaigns, before the A/B page showed its overlap."""
    import time
    from types import SimpleNamespace

    from core.model.neighbors import NeighborIndex

    n = 30_000
    ids = [f"C{i:06d}" for i in range(n)]
    index = NeighborIndex().fit(np.random.default_rng(0).random((n, 4)) + 0.01, ids)
    common = sorted(ids[i] for i in range(0, n, 3))
    started = time.perf_counter()
    mask = ab._only(SimpleNamespace(index=index), common)
    assert time.perf_counter() - started < 1.0
    assert mask.sum() == len(common) and list(index.ids_[mask]) == common
    assert ab._only(SimpleNamespace(index=index), ids) is None    # all of them: no mask
    assert not ab._only(SimpleNamespace(index=index), []).any()


def test_ab_does_not_count_neighbours_the_other_version_lacks_as_changed(two_models_home,
                                                                          tmp_path):
    """A candidate trained on a version without some campaigns cannot find them: they
    counted as the models disagreeing, in the overlap and as "only A" neighbours."""
    from core.serve.lookup import Lookup

    production = registry.resolve("production")
    ingest.import_paths([demo_subset(tmp_path / "v2.parquet", 200)], "demo")  # 200 of 400
    newer = train.train(train.TrainSpec(dataset="demo", k=SECOND_K, params=SECOND_PARAMS))
    deploy.promote(newer.model_id, "candidate")
    a, b = Lookup(production), Lookup(newer.model_id)
    common = set(ab.common_campaigns(a, b))
    assert len(common) == 200
    # A's neighbours are searched among the campaigns B has too (same sample, seed 0)
    mask = np.isin(a.index.ids_, sorted(common))
    sampled = list(np.random.default_rng(0).choice(sorted(common), 40, replace=False))
    expected = np.mean([
        len({n.campaign_id for n in a.index.query_id(c, 10, allowed=mask)}
            & {n.campaign_id for n in b.index.query_id(c, 10)}) / 10 for c in sampled])
    assert ab.overlap_at_k(a, b, k=10, sample=40)["overlap_at_k"] == pytest.approx(expected)

    campaign = next(c for c in sampled
                    if any(n.campaign_id not in common for n in a.index.query_id(c, 10)))
    table = ab.side_by_side(a, b, campaign)
    absent = ~table["A neighbour"].isin(common)
    assert absent.any() and (table.loc[absent, "A status"] == ab.NOT_IN_B).all()
    assert (table["A status"] == "only A").sum() == (
        ~table["A neighbour"].isin(table["B neighbour"]) & ~absent).sum()
    at = ok(page("ab"))
    at.selectbox(key="ab_campaign").set_value(campaign).run()
    ok(at)
    verb = "is" if absent.sum() == 1 else "are"   # "1 of A's are not" was said
    assert any(f"{absent.sum()} of A's {verb} not in B's data" in c.value for c in at.caption)


def test_alignment_rows_are_as_tall_as_the_model_id_drawn_along_them():
    """A/B of Sony's K = 3 production and K = 20 candidate: three rows of 22 px, and the
    rotated `A: tomotopy-k3-…` title ran up over the chart's title."""
    model_a = "tomotopy-k3-20261203-101253-2feb"
    spec = ui.alignment_heatmap(np.zeros((3, 20)), [f"T{t}" for t in range(3)],
                                [f"T{t}" for t in range(20)], model_a, "b", "t").to_dict()
    rows = spec["layout"]["height"] - ui.HEATMAP_MARGINS
    assert rows >= 6.5 * len(f"A: {model_a}")  # Plotly's 14 px font: ~6.5 px a character
    many = ui.alignment_heatmap(np.zeros((50, 3)), [f"T{t}" for t in range(50)],
                                ["T0", "T1", "T2"], model_a, "b", "t").to_dict()
    assert many["layout"]["height"] == ui.HEATMAP_MARGINS + 22 * 50


def test_ab_names_each_column_and_axis_by_its_model(two_models_home, second_model):
    """The neighbour columns were headed "A" and "B", as if they held the models; on data
    whose campaigns are named by their ids (the Sony exports) each neighbour showed twice,
    as "A" and "A name". The alignment, drawn under "Live traffic", labelled every other
    row and its hover said x and y: two models of one data name their topics alike."""
    production = registry.resolve("production")
    deploy.promote(second_model, "candidate")
    at = ok(page("ab"))
    at.selectbox(key="ab_campaign").set_value("C00003").run()
    shown = ok(at).dataframe[-1].value
    assert {"A neighbour", "A name", "B neighbour", "B name"} <= set(shown.columns)
    # each side's similarities as its model's neighbours give them (six decimals)
    from core.serve.lookup import Lookup
    for side, model_id in (("A", production), ("B", second_model)):
        assert shown[f"{side} similarity"].tolist() == Lookup(model_id).neighbors(
            "C00003", 10)["similarity"].tolist()
        assert all(len(repr(v).partition(".")[2]) <= 6 for v in shown[f"{side} similarity"])
    assert shown["A name"].notna().all() and "A" not in shown.columns
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert spec["data"][0]["hovertemplate"].startswith("A: %{y}<br>B: %{x}")
    assert spec["layout"]["yaxis"]["title"]["text"] == f"A: {production}"
    assert spec["layout"]["xaxis"]["title"]["text"] == f"B: {second_model}"
    assert spec["layout"]["yaxis"]["dtick"] == 1
    # 22 px a row besides the margins: 400 px in all left the rows of a small K squashed
    assert spec["layout"]["height"] == ui.HEATMAP_MARGINS + 22 * FAST_K
    blocks = [b.value if b.type == "subheader" else b.type for b in at.main]
    assert blocks.index("plotly_chart") < blocks.index("Live traffic (scoring service, last 24 h)")

    with store.transaction() as con:  # named by their ids, as Sony's campaigns are
        con.execute("UPDATE terms SET campaign_name = campaign_id")
    at = ok(page("ab"))
    at.selectbox(key="ab_campaign").set_value("C00003").run()
    assert list(ok(at).dataframe[-1].value.columns) == [
        "rank", "A neighbour", "A similarity", "A status",
        "B neighbour", "B similarity", "B status"]
    neighbour = next(s for s in at.selectbox if s.label == "Neighbour")
    assert neighbour.options[0] == f"A: {shown['A neighbour'][0]}"


def test_ab_notes_the_metric_deltas_of_models_of_two_datasets(two_models_home, tmp_path):
    """Two datasets at the same version number are still two sets of data: the note was
    left out because only the version numbers were compared."""
    production = registry.resolve("production")
    ingest.import_paths([demo_subset(tmp_path / "other.parquet", 300, shift=0.3)], "other")
    other = train.train(train.TrainSpec(dataset="other", k=SECOND_K, params=SECOND_PARAMS))
    note = ab.metrics_note(production, other.model_id)
    assert note is not None and "A on demo v1, B on other v1" in note
    assert ab.metrics_note(production, production) is None


def test_ab_feedback_sent_twice_counts_once(two_models_home, second_model):
    production = registry.resolve("production")
    deploy.promote(second_model, "candidate")
    at = ok(page("ab"))
    at.selectbox(key="ab_campaign").set_value("C00003").run()
    for _ in range(2):  # the form keeps its choice after the toast: easy to send again
        send = next(b for b in at.button if b.label == "Send feedback")
        ok(send.click().run())
    assert store.query_one("SELECT count(*) FROM neighbor_feedback")[0] == 2
    verdicts = at.dataframe[0].value.set_index("model_id")
    assert verdicts.at[production, "verdicts"] == 1
    assert verdicts.at[production, "acceptance_rate"] == 1.0



def test_ab_says_which_model_nobody_has_rated_yet(two_models_home, second_model):
    """With no verdicts the acceptance table was two rows of zeros and "None"."""
    production = registry.resolve("production")
    deploy.promote(second_model, "candidate")
    at = ok(page("ab"))
    assert not [d for d in at.dataframe if "acceptance_rate" in d.value.columns]
    assert any("No one has rated either model's" in i.value for i in at.info)
    at.selectbox(key="ab_campaign").set_value("C00003").run()
    ok(next(b for b in at.button if b.label == "Send feedback").click().run())  # A's
    tables = [d.value for d in at.dataframe if "acceptance_rate" in d.value.columns]
    assert tables[0].set_index("model_id").at[production, "verdicts"] == 1
    # The model nobody rated is named in the note, not a row whose rate shows as "None"
    # (Sony's A/B, in the browser: `tomotopy-k20-… 0 0 None`).
    assert tables[0]["model_id"].tolist() == [production]
    notes = [i.value for i in at.info if "No one has rated" in i.value]
    assert len(notes) == 1 and second_model in notes[0] and production not in notes[0]


def test_ab_traffic_marks_a_model_deleted_since_as_monitor_does(two_models_home,
                                                                second_model):
    """The service's traffic of a candidate deleted since showed as its bare id, as if it
    still existed; Monitor marks such a model "M (deleted)"."""
    production = registry.resolve("production")
    deploy.promote(second_model, "candidate")
    gone = "tomotopy-k6-20260101-000000-dead"   # the candidate before this one
    with store.transaction() as con:
        for model_id, variant in ((production, "production"), (gone, "candidate")):
            con.execute("INSERT INTO request_log VALUES (?, 'r1', '/score', 200, ?, ?, 5.0, "
                        "'k', 1, 0)", [audit.now(), model_id, variant])
    traffic = next(d.value for d in ok(page("ab")).dataframe if "p50_ms" in d.value)
    assert sorted(traffic["model_id"]) == sorted([production, f"{gone} (deleted)"])
    assert registry.marked_deleted([production, gone, None]) == {
        production: production, gone: registry.deleted_label(gone)}


def test_ab_tables_show_counts_with_thousands_separators(two_models_home, second_model):
    """The verdicts and the service's traffic showed counts as 2500 beside other tables'
    2,337,504."""
    production = registry.resolve("production")
    deploy.promote(second_model, "candidate")
    with store.transaction() as con:
        con.execute("INSERT INTO request_log VALUES (?, 'r1', '/score', 200, ?, 'production', "
                    "5.0, 'k', 2500, 1200)", [audit.now(), production])
    at = ok(page("ab"))
    at.selectbox(key="ab_campaign").set_value("C00003").run()
    ok(next(b for b in at.button if b.label == "Send feedback").click().run())
    verdicts = next(d for d in at.dataframe if "useful" in d.value)
    assert count_formats(verdicts, ("verdicts", "useful")) == {"verdicts": ui.COUNT,
                                                              "useful": ui.COUNT}
    traffic = next(d for d in at.dataframe if "p50_ms" in d.value)
    counts = ("requests", "items", "errors", "server_errors", "cache_hits", "verdicts")
    assert count_formats(traffic, counts) == dict.fromkeys(counts, ui.COUNT)
    assert traffic.value["items"].tolist() == [2500]  # a count that needs a separator, raw


def test_ab_offers_no_feedback_form_to_a_role_that_may_not_give_feedback(
        two_models_home, second_model, monkeypatch):
    """Lookup hid the form from such a role; A/B showed it, and core refused the click."""
    deploy.promote(second_model, "candidate")
    monkeypatch.setenv("TOPICLAB_ROLE", "scorer")
    at = ok(page("ab"))
    at.selectbox(key="ab_campaign").set_value("C00003").run()
    ok(at)
    assert not [b for b in at.button if b.label == "Send feedback"]
    assert any("not rate them" in c.value for c in at.caption)


@pytest.fixture(scope="module")
def review_home_template(tmp_path_factory) -> str:
    """A small store whose production model is unsure about two campaigns: they are made
    of words no other campaign uses, so the vocabulary filter leaves them mostly unknown."""
    home = tmp_path_factory.mktemp("review-home")
    build_review_store(home, 120, k=6, iterations=60, file_name="review.parquet")
    return str(home)


@pytest.fixture
def review_home(review_home_template, tmp_path, monkeypatch):
    home = tmp_path / "home"
    shutil.copytree(review_home_template, home)
    monkeypatch.setenv("TOPICLAB_HOME", str(home))
    monkeypatch.setenv("TOPICLAB_LOCK_WAIT_S", "5")
    return home


def test_review_page_lists_the_queue_and_saves_a_decision(review_home):
    production = registry.resolve("production")
    at = ok(page("review"))
    queue = at.dataframe[0].value
    assert {"X001", "X002"} <= set(queue["campaign_id"])
    # unknown words in percent points, all with two decimals ("100%" stood above "60.99%")
    shares = review.review_queue(production)["oov_share"]
    assert queue["oov_share"].tolist() == pytest.approx((shares * 100).tolist())
    assert json.loads(at.dataframe[0].proto.columns)["oov_share"]["type_config"][
        "format"] == ui.PERCENT
    # a model without hidden topics: no column of zeros, no reason that cannot apply
    assert "hidden_share" not in queue and "mostly on hidden topics" not in set(queue["reason"])
    assert not at.toggle  # nor a switch to leave them out
    assert store.query_one("SELECT count(*) FROM reviews")[0] == 0
    campaign = at.selectbox(key="review_campaign")
    assert "X002 — Odd two" in campaign.options  # campaign names, not topic names
    topic_names = registry.topic_names(registry.load(production))
    assert picker(at, "review_topic").options == topic_names

    campaign.set_value("X002")
    at.radio(key="review_decision").set_value("assign_topic")
    picker(at, "review_topic").set_value(2)
    at.text_input(key="review_note").set_value("drains")
    ok(at.button[0].click().run())

    stored = store.query("SELECT model_id, campaign_id, decision, topic, note FROM reviews")
    assert stored.to_dict("records") == [{"model_id": production, "campaign_id": "X002",
                                         "decision": "assign_topic", "topic": 2,
                                         "note": "drains"}]
    assert "X002" not in set(at.dataframe[0].value["campaign_id"])  # off the queue
    assert any("Saved: X002" in t.value for t in at.toast)  # survives the rerun
    # The note was about X002: the box is empty for the next campaign (it kept "drains",
    # saved with the next decision unless someone cleared it by hand).
    assert at.text_input(key="review_note").value == ""
    at.selectbox(key="review_campaign").set_value("X001")
    at.radio(key="review_decision").set_value("flag")
    ok(at.button[0].click().run())
    assert store.query_one("SELECT note FROM reviews WHERE campaign_id = 'X001'") == (None,)


def test_an_empty_review_queue_names_the_least_confident_and_can_be_widened(review_home):
    """The default demo's model is confident about every campaign: the page then says how
    high the threshold would have to go, and raising it lists the least confident."""
    from core.serve import review

    production = registry.resolve("production")
    for campaign in review.review_queue(production)["campaign_id"]:
        review.record_review(production, campaign, "dismiss")
    assert review.review_queue(production).empty
    lowest = review.least_confident(production)
    assert review.LOW_CONFIDENCE <= lowest < 1
    assert [review.threshold_listing(c) for c in (0.34, 0.35, 0.97, 0.999)] == [
        0.35, 0.4, 1.0, 1.0]                    # the queue lists confidence < threshold

    at = ok(page("review"))
    assert not at.dataframe
    assert f"the least confident: {lowest:.2f}" in at.success[0].value

    at = ok(at.button(key="review_widen").click().run())   # one click lists the lowest
    assert at.slider(key="review_threshold").value == review.threshold_listing(lowest)
    assert at.dataframe[0].value["confidence"].iloc[0] == pytest.approx(lowest)

    at = ok(at.slider(key="review_threshold").set_value(1.0).run())
    queue = at.dataframe[0].value
    assert queue["confidence"].iloc[0] == pytest.approx(lowest)
    assert set(queue["campaign_id"]).isdisjoint({"X001", "X002"})  # reviewed stay off
    assert at.selectbox(key="review_campaign").options  # and can be decided on


@pytest.mark.parametrize("threshold", [0, -0.1, 1.5, float("nan")])
def test_the_review_queue_refuses_a_threshold_outside_0_to_1(review_home, threshold):
    from core.errors import InputError
    from core.serve import review

    with pytest.raises(InputError, match="max_confidence must be above 0 and at most 1"):
        review.review_queue(registry.resolve("production"), max_confidence=threshold)


def test_review_page_refuses_a_garbled_note_and_keeps_what_was_typed(review_home):
    """A note with an escape sequence or a newline was stored and shown as it came."""
    at = ok(page("review"))
    at.selectbox(key="review_campaign").set_value("X002")
    at.radio(key="review_decision").set_value("flag")
    at.text_input(key="review_note").set_value("drains\x1b[31m")
    at.button[0].click().run()
    assert not at.exception
    assert ["U+001B" in e.value and "note" in e.value for e in at.error] == [True]
    assert store.query_one("SELECT count(*) FROM reviews")[0] == 0
    assert at.text_input(key="review_note").value == "drains\x1b[31m"  # nothing lost
    assert "X002" in set(at.dataframe[0].value["campaign_id"])

    at.text_input(key="review_note").set_value("   ")  # blank: no note
    ok(at.button[0].click().run())
    assert store.query_one("SELECT campaign_id, note FROM reviews") == ("X002", None)


def test_monitor_over_time_names_the_checks_of_other_models_and_shows_them(
        two_models_home, second_model):
    """Over time said "No drift checks recorded for this dataset yet" when the only checks
    were against another model (`drift --model candidate`): they were there, unshown."""
    drift.check("demo", 1, second_model)
    at = ok(page("monitor"))
    notices = [i.value for i in at.info]
    assert not any("No drift checks recorded" in n for n in notices), notices
    assert any("1 check against another model is recorded" in n for n in notices), notices
    drift.check("demo", 1, second_model)
    notices = [i.value for i in ok(page("monitor")).info]
    assert any("2 checks against another model are recorded" in n for n in notices), notices
    assert picker(at, "drift_history_model").value == second_model
    over_time = json.loads(at.get("plotly_chart")[-1].proto.spec)
    hovered = {c for trace in over_time["data"] for c in
               np.array(trace.get("customdata", [])).ravel().tolist()}
    assert hovered == {second_model}
    assert "against the chosen model" in over_time["layout"]["title"]["text"]


def test_audit_page_filters_the_whole_log_not_its_latest_page(trained_home):
    """The page read the latest 1,000 entries and filtered those: once a thousand
    feedbacks followed it, the promotion was not even an action to pick, and the page did
    not say it showed only part of the log."""
    with store.transaction() as con:
        for i in range(1000):
            audit.record(con, "feedback", f"C{i:05d}")
    at = ok(page("audit"))
    actions = at.multiselect[0]
    assert "promote" in actions.options
    assert any("latest 1,000" in c.value for c in at.caption), [c.value for c in at.caption]
    ok(actions.set_value(["promote"]).run())
    assert at.dataframe[0].value["action"].tolist() == ["promote"]
    ok(at.multiselect[0].set_value([]).run())
    assert not at.dataframe and any("Pick at least one action" in i.value for i in at.info)


def test_audit_log_is_as_tall_as_its_entries(trained_home):
    """The table was 600 px high whatever it held (three entries over a blank box), and
    an empty log said only "Nothing has happened yet."."""
    assert ui.table_height(3) == "content" and ui.table_height(ui.TABLE_ROWS) == "content"
    assert ui.table_height(1000) == (ui.TABLE_ROWS + 1) * ui.ROW_PX + 3 < 600
    at = ok(page("audit"))
    entries = len(at.dataframe[0].value)
    assert f"{entries:,} entries, newest first." in [c.value for c in at.caption]


def test_an_empty_audit_log_says_what_it_will_list(home):
    at = ok(page("audit"))
    assert not at.dataframe
    assert any("Nothing is recorded yet" in i.value and "python -m core init" in i.value
               for i in at.info), [i.value for i in at.info]


def test_audit_page_marks_a_model_deleted_since(two_models_home, second_model):
    """A deleted model's train and score entries showed its bare id, as if it still
    existed; Monitor and A/B mark such a model "M (deleted)". A dataset version or a
    campaign that happens to look like no model id is left as it is."""
    production = registry.resolve("production")
    registry.delete(second_model)
    log = ok(page("audit")).dataframe[0].value
    gone = registry.deleted_label(second_model)
    targets = log.groupby("action")["target"].agg(set)
    assert targets["train"] == {production, gone} and targets["score"] == {production, gone}
    assert targets["delete"] == {gone} and targets["promote"] == {production}
    assert targets["import"] == {"demo v1"}
    assert not (log["target"] == second_model).any()
    assert set(audit.MODEL_ACTIONS) <= set(audit.ACTIONS)
