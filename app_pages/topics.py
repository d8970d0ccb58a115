"""Topics: the pyLDAvis chart of a model, each topic's words and campaigns, and names."""

import plotly.express as px
import streamlit as st

import ui
from core.data import auth
from core.errors import counted
from core.model import relevance, shown_words, spare_topics
from core.ops import carry
from core.serve import naming, registry, topics

st.title("Topics")

model_id = ui.model_picker()
if model_id is None:
    ui.no_models_notice()
    st.stop()


@st.cache_data(show_spinner="Preparing the pyLDAvis topic chart…", max_entries=4)
def chart_html(model_id: str) -> str:
    model = ui.model(model_id)
    return topics.ldavis_html(model, view(model_id))


@st.cache_resource(show_spinner="Reading the model's campaigns and their topic weights…",
                   max_entries=4)
def view(model_id: str) -> topics.TopicView:
    return topics.topic_view(ui.model(model_id))


with ui.friendly_errors():
    model = ui.model(model_id)
    topic_view = view(model_id)
    described = naming.describe(model)  # the one place that names topics
    names = [t.name for t in described]
    new_topics = carry.new_topics(model, described) or set()

    def shown(t: int) -> str:
        info = described[t]
        mark = " · carried, unconfirmed" if info.carried_from and not info.confirmed else ""
        return names[t] + mark + (" · new" if t in new_topics else "")

    spares = topics.spare_topics_dropped(model)
    for warning in spare_topics.dropped_theme_warnings(model.engine):
        st.warning(ui.message_text(warning), icon=":material/warning:")
    st.caption("Topic numbers in the chart are the model's own topic ids (0-based). Each "
               "circle is a topic; its size is the topic's share of all tokens.")
    st.iframe(chart_html(model_id), height=720)
    if not spares.empty:
        with st.expander(f"{counted(len(spares), 'spare topic')} trained and not shown"):
            st.caption("Trained beyond K and left out of the topics shown as the least "
                       "coherent or distinct (spare topics, docs/models.md). "
                       + ("Kept hidden: similar campaigns are ranked by them too."
                          if model.engine.hidden_topics else
                          "Their words went to the topics shown."))
            st.dataframe(spares, hide_index=True,
                         column_config={"top_words": st.column_config.TextColumn(
                                            "top words"),
                                        "campaigns": st.column_config.NumberColumn(
                                            "campaigns", format=ui.COUNT,
                                            help="Training campaigns whose strongest "
                                                 "topic it was"),
                                        "document_npmi": st.column_config.NumberColumn(
                                            "document NPMI", format="%.3f")})

    st.subheader("One topic")
    # Keyed by model: switching models never shows the previous model's topic or name.
    topic = ui.selectbox("Topic", list(range(model.k)), format_func=shown,
                         key=f"topic_pick:{model_id}")
    info = described[topic]
    st.caption(f"Automatic name **{ui.markdown_text(info.automatic)}**: its most relevant "
               f"words (pyLDAvis relevance, λ = {relevance.LAMBDA}), leaving out brand and "
               f"place words unless most of its top words are places (then named `places:`). "
               f"The words it shows: {ui.markdown_text(', '.join(info.words))}.")
    if info.carried_from and not info.confirmed:
        st.info(f"The name {ui.markdown_text(repr(info.label))} was carried over from model "
                f"{info.carried_from} when this model was retrained (its closest topic). "
                "Confirm it, or give the topic another name below.")
        if auth.current_user().can("label_topics") and st.button(
                "Confirm name", key=f"confirm_name:{model_id}:{topic}"):
            registry.set_topic_label(model_id, topic, info.label)
            ui.flash(f"Topic {topic}: name {ui.markdown_text(repr(info.label))} confirmed.")
            st.rerun()
    if topic in new_topics:
        st.caption("New topic: no topic of the model its names came from is close to it.")
    left, right = st.columns(2)
    weights = model.engine.topic_term_[topic]
    order = model.engine.top_word_ids(topic, 10)  # the words the topic shows
    words = [model.vocabulary[i] for i in order]
    left.plotly_chart(px.bar(x=weights[order][::-1], y=ui.chart_text(words[::-1]),
                             orientation="h", labels={"x": "P(word | topic)", "y": ""},
                             title="Top words"), width="stretch")
    if model.engine.words_picked:
        left.caption(f"The {len(words)} of its {shown_words.CANDIDATES} most probable words "
                     "most used together in the same campaigns; the pyLDAvis chart above "
                     "ranks all of its words.")
    elif why := model.engine.fit_info_.get("shown_words"):
        left.caption(f"The topic shows {why}.")  # our own words: nothing to escape
    dataset = model.manifest["dataset"]
    campaign_names = ui.campaigns(dataset["name"], int(dataset["version"]))[
        ["campaign_id", "campaign_name"]]
    top = topics.top_campaigns(topic_view, topic, 15).merge(campaign_names, how="left",
                                                            on="campaign_id")
    right.markdown("**Top campaigns**")
    if unknown := topics.without_known_words(topic_view):
        right.caption(f"Left out: {counted(unknown, 'campaign')} the model knows "
                      "no word of (the same weight on every topic says nothing about them).")
    if top.empty:
        right.caption("No campaign weighs on this topic (each one's weight rounds to 0).")
    else:
        right.dataframe(top[["campaign_name", "campaign_id", "weight"]].drop(
                            columns=ui.names_adding_nothing(top)), hide_index=True,
                        column_config={
                            "campaign_name": st.column_config.TextColumn("campaign"),
                            "weight": st.column_config.ProgressColumn(
                                "weight", min_value=0.0, max_value=1.0, format="%.3f")})

    if auth.current_user().can("label_topics"):
        name_key = f"topic_name:{model_id}:{topic}"
        ui.follow_stored(name_key, registry.topic_labels(model_id).get(topic, ""))
        with st.form(f"name_topic:{model_id}"):
            st.text_input("Name this topic", key=name_key, max_chars=80,
                          help="Shown wherever this topic appears. Leave empty to remove "
                               "the name.")
            if st.form_submit_button("Save name"):
                label = st.session_state[name_key]
                registry.set_topic_label(model_id, topic, label)
                ui.flash(f"Topic {topic} is now named {ui.markdown_text(repr(label.strip()))}."
                         if label.strip()
                         else f"Topic {topic} has no name now.")
                st.rerun()
