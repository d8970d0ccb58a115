"""Page runs for issue #9 items 3, 4, 5, 10: the similarity floor and unknown words on
Lookup, carried names on Topics, size warnings and carrying names on Train."""

from __future__ import annotations

import pytest

from core.model.neighbors import MIN_SIMILARITY
from core.ops import carry
from core.serve import naming, registry
from tests.test_pages import fresh_caches, ok, page, picker  # noqa: F401  (autouse fixture)


def test_lookup_marks_and_learns_only_from_neighbours_above_the_floor(trained_home):
    at = page("lookup")
    assert at.slider(key="lookup_min_similarity").value == MIN_SIMILARITY
    at.selectbox(key="lookup_campaign").set_value("C00002").run()
    ok(at)
    shown = at.dataframe[0].value
    assert (shown["similar_enough"] == (shown["similarity"] >= MIN_SIMILARITY)).all()
    captions = " ".join(c.value for c in at.caption)
    below = int((~shown["similar_enough"]).sum())
    assert (f"{below} of the {len(shown)} nearest" in captions) == bool(below)
    at.slider(key="lookup_min_similarity").set_value(0.95).run()
    ok(at)
    assert not at.dataframe[0].value["similar_enough"].any()
    assert any("similar enough" in i.value for i in at.info)
    notes = " ".join(c.value for c in at.caption)
    assert "similar enough" in notes   # the actions' notes say why nothing was learnt


def test_pasted_keywords_tell_never_seen_from_dropped_words(trained_home):
    model = registry.load(registry.resolve("production"))
    rare = next(w for w, why in sorted(model.encoder.dropped.items())
                if why == "too rare" and w.isalpha())
    at = page("lookup")
    at.segmented_control(key="lookup_mode").set_value("New campaign").run()
    at.text_area(key="lookup_keywords").set_value(
        f"emergency plumber\n{rare} repair\nzzqxv service").run()
    ok(at)
    captions = [c.value for c in at.caption]
    assert any(c.startswith("Never seen in training") and "zzqxv" in c for c in captions)
    assert any("dropped by the vocabulary filter" in c and rare in c for c in captions)


def test_topics_page_marks_a_carried_name_and_confirms_it(two_models_home, second_model):
    """Any second model of the dataset takes a carried name (max_js=1.0): the shared
    template's, not one trained for this test."""
    production = registry.resolve("production")
    pairs = carry.align(registry.load(production), registry.load(second_model))
    best = pairs.sort_values("js").iloc[0]
    registry.set_topic_label(production, int(best.old_topic), "Plumbing")
    report = carry.carry_labels(production, second_model, max_js=1.0)
    assert report.carried[0]["name"] == "Plumbing"
    topic = int(best.new_topic)
    # a topic that matches no old one closely is also marked new, carried name or not
    new = "" if best.js <= carry.MAX_JS else " · new"

    at = page("topics")
    ok(picker(at, "model_picker").set_value(second_model).run())
    topics = picker(at, f"topic_pick:{second_model}")
    assert topics.options[topic] == "Plumbing · carried, unconfirmed" + new
    ok(topics.set_value(topic).run())
    assert any("carried over from model" in i.value for i in at.info)
    ok(at.button(key=f"confirm_name:{second_model}:{topic}").click().run())
    confirmed = naming.describe(registry.load(second_model))[topic]
    assert confirmed.confirmed and confirmed.label == "Plumbing"
    assert picker(at, f"topic_pick:{second_model}").options[topic] == "Plumbing" + new


def test_train_page_warns_before_training_and_offers_to_carry_names(trained_home):
    production = registry.resolve("production")
    for topic in range(12):
        registry.set_topic_label(production, topic, f"Name {topic}")
    at = page("train")
    at.number_input(key="train_k").set_value(150).run()
    assert any("150 topics for 400 campaigns" in w.value for w in at.warning)
    at.number_input(key="train_k").set_value(12)
    at.number_input(key="train_tomotopy_iterations").set_value(150).run()
    assert not [w for w in at.warning if "campaigns is a lot" in w.value]
    ok(at.button(key="train_start").click().run())
    trained = at.session_state["trained_model"]
    ok(at.button(key="carry_names").click().run())
    assert any("carried" in t.value for t in at.toast)
    rows = naming.label_rows(trained)
    pairs = carry.align(registry.load(production), registry.load(trained))
    close = pairs[pairs["js"] <= carry.MAX_JS]
    assert len(close) and len(rows) == len(close)
    for pair in close.itertuples():
        row = rows[int(pair.new_topic)]
        assert row["label"] == f"Name {int(pair.old_topic)}"
        assert row["carried_from"] == production and not row["confirmed"]


def test_train_page_shows_the_k_warning_once_after_training(trained_home):
    """"K = … is a lot" showed twice once a model was trained: above Start and in the
    result, which repeats it (counted on the campaigns that kept words)."""
    at = page("train")
    at.number_input(key="train_k").set_value(140)  # 400 campaigns hold 133
    at.number_input(key="train_tomotopy_iterations").set_value(30).run()
    assert len([w for w in at.warning if "campaigns is a lot" in w.value]) == 1
    ok(at.button(key="train_start").click().run())
    assert at.session_state["trained_model"]
    assert len([w for w in at.warning if "campaigns is a lot" in w.value]) == 1, [
        w.value for w in at.warning]
    ok(at.run())  # the next run (any click) warns above Start again
    assert len([w for w in at.warning if "campaigns is a lot" in w.value]) == 1


def test_train_page_names_themes_its_spare_topics_dropped(trained_home):
    """Spare topics kept hidden (stop 45) showed a model whose hidden spares held whole
    verticals as if nothing were amiss; the result now warns, naming the dropped topics
    that were still the strongest topic of 3 or more campaigns, as `train` does."""
    at = page("train")
    at.number_input(key="train_k").set_value(10)
    at.number_input(key="train_tomotopy_iterations").set_value(60)
    at.number_input(key="train_tomotopy_spare_share").set_value(0.4)
    at.toggle(key="train_tomotopy_hidden_spares").set_value(True)
    ok(at.button(key="train_start").click().run())
    engine = registry.load(at.session_state["trained_model"]).engine
    themes = [d for d in engine.fit_info_["spare_topics_dropped"] if d["main_documents"] >= 3]
    assert engine.hidden_topics == 4 and themes
    [warning] = [w.value for w in at.warning if "spare topics dropped" in w.value]
    assert warning.startswith(f"{len(themes)} of the spare topics dropped")
    assert "little or no weight on any topic shown" in warning
    # Topics keeps saying so for that model, and lists the spares it trained and hid
    # (production, trained without spares, has neither)
    topics_page = ok(page("topics"))
    assert not [e for e in topics_page.expander if "trained and not shown" in e.label]
    ok(picker(topics_page, "model_picker").set_value(at.session_state["trained_model"]).run())
    assert [w.value for w in topics_page.warning if "spare topics dropped" in w.value] == [
        warning]
    [spares] = [e for e in topics_page.expander if "trained and not shown" in e.label]
    assert spares.label == "4 spare topics trained and not shown"
    table = spares.dataframe[0].value
    dropped = engine.fit_info_["spare_topics_dropped"]
    assert table["campaigns"].tolist() == [d["main_documents"] for d in dropped]
    assert table["top_words"].iloc[0] == ", ".join(dropped[0]["top_words"])
    assert "Kept hidden" in spares.caption[0].value
    # Lookup, once the model is scored, says how much of a campaign is on hidden topics
    from core.serve import score

    model_id = at.session_state["trained_model"]
    score.score_dataset(model_id)
    stored = score.load_fingerprints(model_id)
    shares = stored.hidden.sum(axis=1)
    most, least = (stored.campaign_ids[int(i)] for i in (shares.argmax(), shares.argmin()))
    assert shares.max() >= 0.5 > shares.min()
    lookup = ok(page("lookup"))
    ok(picker(lookup, "lookup_model:('demo', 1)").set_value(model_id).run())
    ok(lookup.selectbox(key="lookup_campaign").set_value(most).run())
    [note] = [i.value for i in lookup.info if "spare topics the model keeps hidden" in i.value]
    assert note.startswith(f"{shares.max():.0%} of this campaign")
    ok(lookup.selectbox(key="lookup_campaign").set_value(least).run())
    assert not [i for i in lookup.info if "keeps hidden" in i.value]
    # Review, with that model in production, says why such a campaign's confidence is low
    registry.set_alias("production", model_id)
    review_page = ok(page("review"))
    ok(review_page.slider(key="review_threshold").set_value(1.0).run())
    queue = review_page.dataframe[0].value.set_index("campaign_id")
    assert queue.loc[most, "reason"] == "mostly on hidden topics"
    assert queue.loc[most, "hidden_share"] == pytest.approx(100 * shares.max(), abs=1e-3)
    hidden = queue["reason"] == "mostly on hidden topics"
    assert (queue.loc[hidden, "hidden_share"] >= 50).all()
    assert (queue.loc[~hidden, "hidden_share"] < 50).all()
    assert [c for c in review_page.caption if "Mostly on hidden topics" in c.value]
    # they come first; the toggle leaves them out, to reach those the model is unsure of
    ok(review_page.toggle(key="review_mostly_hidden").set_value(False).run())
    rest = review_page.dataframe[0].value
    assert most not in set(rest["campaign_id"]) and not (rest["hidden_share"] >= 50).any()
    assert set(queue.index[~hidden]) <= set(rest["campaign_id"])  # the least sure first
    # an empty queue then names the least confident of those it would list, not of all
    others = stored.hidden.sum(axis=1) < 0.5
    lowest = float(score.load_fingerprints(model_id).confidence[others].min())
    ok(review_page.slider(key="review_threshold").set_value(0.05).run())
    if review_page.dataframe:   # a campaign the model is unsure of below 0.05: none shown
        assert (review_page.dataframe[0].value["confidence"] < 0.05).all()
    else:
        assert f"the least confident: {lowest:.2f}" in review_page.success[0].value
        ok(review_page.button(key="review_widen").click().run())
        assert review_page.dataframe[0].value["confidence"].iloc[0] == pytest.approx(lowest)
    # the Map sets them apart too, saying why, and its clusters table counts them
    map_page = ok(page("map"))
    assert [c for c in map_page.caption if "keeps hidden" in c.value]
    clusters = map_page.dataframe[0].value.set_index("name")
    assert clusters.at["mostly on hidden topics", "campaigns"] == int((shares >= 0.5).sum())
