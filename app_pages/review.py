"""Review: campaigns the production model is unsure about, for people to decide on."""

import streamlit as st

import ui
from core.data import auth
from core.serve import registry, review

st.title("Review queue")

model_id = ui.production_or_stop()

threshold = st.slider(
    "List campaigns whose strongest topic weighs less than", 0.05, 1.0,
    review.LOW_CONFIDENCE, 0.05, key="review_threshold",
    help=f"{review.LOW_CONFIDENCE} is the confidence the Monitor page and the scoring "
         "service count as low; raise it to review the least confident campaigns when the "
         "queue is empty.")
with st.spinner("Loading the production model and its review queue…"):
    model = ui.model(model_id)
    topic_names = registry.topic_names(model)
# Under a model with hidden spare topics, campaigns mostly on them come first (flat over
# the topics shown) and can fill the queue before any campaign the model is unsure of.
mostly_hidden = not model.engine.hidden_topics or st.toggle(
    "Include campaigns mostly on hidden topics", value=True, key="review_mostly_hidden",
    help="Half or more of such a campaign is on spare topics this model keeps hidden (Topics "
         "lists them): its shown fingerprint is flat whatever it is about. Off, the queue "
         "lists only the campaigns the model is unsure of.")
queue = review.review_queue(model_id, max_confidence=threshold, mostly_hidden=mostly_hidden)
st.caption(f"Campaigns under {ui.markdown_text(ui.model_label(model_id))} whose strongest "
           f"topic weighs less than {threshold:g} or whose words are mostly unknown to the model "
           f"(> {review.HIGH_OOV:.0%}), not yet reviewed"
           + ("" if mostly_hidden else ", leaving out those mostly on hidden topics") + ".")
if queue.empty:
    lowest = review.least_confident(model_id, mostly_hidden=mostly_hidden)
    if lowest is None:
        st.success("Nothing to review: every scored campaign has been reviewed.")
    else:
        st.success(f"Nothing to review: every campaign not yet reviewed has a strongest "
                   f"topic of at least {threshold:g} (the least confident: {lowest:.2f}). "
                   "Raise the threshold above to review the least confident ones.")
        widened = review.threshold_listing(lowest)
        st.button(f"List the least confident (threshold {widened:g})", key="review_widen",
                  on_click=lambda: st.session_state.update(review_threshold=widened))
    st.stop()
if (queue["reason"] == "mostly on hidden topics").any():
    st.caption("*Mostly on hidden topics*: half or more of the campaign is on spare topics "
               "this model keeps hidden (Topics lists them), so its shown fingerprint is flat "
               "and its confidence low whatever it is about.")
# Models without hidden topics have none: the column would be 0 on every row.
unused = ui.names_adding_nothing(queue) + ([] if queue["hidden_share"].any() else ["hidden_share"])
# In percent points with two decimals: the "percent" preset drops trailing zeros, and
# Sony's queue read "100%" above "60.99%".
st.dataframe(ui.as_percent_points(queue.drop(columns=unused), ("oov_share", "hidden_share")),
             hide_index=True, column_config={
    "confidence": st.column_config.NumberColumn(format="%.3f"),
    "oov_share": st.column_config.NumberColumn("unknown words", format=ui.PERCENT),
    "hidden_share": st.column_config.NumberColumn("on hidden topics", format=ui.PERCENT)})

if not auth.current_user().can("review"):
    st.caption("Your role may see the queue but not decide on it.")
    st.stop()

# A note is about one campaign: after a decision is saved the box starts empty (it kept
# the note, to be saved with the next campaign's decision). A refused note stays.
if st.session_state.pop("review_saved", False):
    st.session_state["review_note"] = ""
with st.form("review"):
    labels = ui.campaign_labels(queue["campaign_id"], queue["campaign_name"])
    campaign_id = st.selectbox("Campaign", queue["campaign_id"].tolist(), key="review_campaign",
                               format_func=labels.get)
    decision = st.radio("Decision", review.DECISIONS, horizontal=True, key="review_decision",
                        format_func=lambda d: d.replace("_", " "))
    topic = ui.selectbox("Topic (for 'assign topic')", list(range(model.k)),
                         key="review_topic", format_func=lambda t: topic_names[t])
    note = st.text_input("Note (optional)", key="review_note", max_chars=review.MAX_NOTE)
    if st.form_submit_button("Save decision", type="primary"):
        with ui.friendly_errors():
            review.record_review(model_id, campaign_id, decision,
                                 topic=topic if decision == "assign_topic" else None,
                                 note=note or None)
            st.session_state["review_saved"] = True
            ui.flash(f"Saved: {ui.markdown_text(campaign_id)} — "
                     f"{decision.replace('_', ' ')}.")
            st.rerun()
