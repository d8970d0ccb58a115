"""Lookup: a campaign's fingerprint, its most similar campaigns and suggested actions."""

import pandas as pd
import plotly.express as px
import streamlit as st

import ui
from core import actions, auth, review, score

st.title("Campaign lookup")

scored = ui.scored_model_ids()
if not scored:
    ui.no_models_notice()
    st.stop()


production = ui.production_model_id()
with st.sidebar:
    model_id = st.selectbox("Model", scored, index=scored.index(production)
                            if production in scored else 0, key="lookup_model",
                            help="Production by default; any batch-scored model can be used.")
lookup = ui.lookup(model_id)

mode = st.segmented_control("Look up", ["Existing campaign", "New campaign"],
                            default="Existing campaign", key="lookup_mode")
options = st.columns(3)
n = options[0].slider("Neighbours", 5, 50, 10)
min_terms = options[1].number_input("Neighbours need at least … terms", 0, 500, 0)
exclude_account = options[2].toggle("Leave out the campaign's own account",
                                    disabled=mode != "Existing campaign")

result = None
with ui.friendly_errors():
    if mode == "Existing campaign":
        table = lookup.campaigns.reset_index()
        labels = dict(zip(table["campaign_id"],
                          table["campaign_id"] + " — " + table["campaign_name"].fillna(""),
                          strict=True))
        campaign_id = st.selectbox("Campaign (type an id or part of a name)", list(labels),
                                   format_func=labels.get, index=None,
                                   placeholder="e.g. plumbing, C00042 …", key="lookup_campaign")
        if campaign_id:
            result = lookup.campaign(campaign_id, n, exclude_account=exclude_account,
                                     min_terms=int(min_terms))
    else:
        text = st.text_area("Keywords of the new campaign (one per line, or comma separated)",
                            height=140, key="lookup_keywords",
                            placeholder="emergency plumber\nblocked drain\nwater heater repair")
        if text.strip():
            result = lookup.keywords(score.split_keywords(text), n, min_terms=int(min_terms))

if result is None:
    st.info("Pick a campaign, or switch to *New campaign* and paste its keywords.")
    st.stop()

fingerprint = result.fingerprint_frame(lookup.topic_names)
left, right = st.columns([2, 1])
chart = fingerprint.sort_values("weight").tail(12)
left.plotly_chart(px.bar(chart, x="weight", y="name", orientation="h", range_x=[0, 1],
                         title="Fingerprint: strongest topics", labels={"name": ""}),
                  width="stretch")
right.metric("Confidence (strongest topic)", f"{result.fingerprint.confidence:.2f}")
right.metric("Words unknown to the model", f"{result.fingerprint.oov_share:.0%}")
if result.fingerprint.unknown_tokens:
    right.caption("Unknown: " + ", ".join(dict.fromkeys(result.fingerprint.unknown_tokens))[:300])
if result.campaign_id:
    past = review.reviews_of(result.campaign_id, lookup.dataset)
    if not past.empty:
        latest = past.iloc[0]
        note = f" — {latest['note']}" if pd.notna(latest["note"]) else ""
        right.caption(f"Reviewed {len(past)}×; latest: {latest['decision']}{note}")

st.subheader("Most similar campaigns")
st.dataframe(result.neighbors, hide_index=True, column_config={
    "similarity": st.column_config.ProgressColumn("similarity", min_value=0.0, max_value=1.0,
                                                  format="%.2f"),
    "ctr": st.column_config.NumberColumn("CTR", format="percent"),
    "conversion_rate": st.column_config.NumberColumn("Conv. rate", format="percent"),
    "cpc": st.column_config.NumberColumn("CPC", format="%.2f"),
})
st.download_button("Download neighbours (CSV)", result.neighbors.to_csv(index=False),
                   file_name=f"neighbours-{result.campaign_id or 'new'}.csv", mime="text/csv")

if result.campaign_id and auth.current_user().can("feedback"):
    with st.expander("Was a suggested neighbour useful? Tell us"), st.form("feedback"):
        neighbor = st.selectbox("Neighbour", result.neighbors["campaign_id"].tolist())
        useful = st.radio("Verdict", ["useful", "not useful"], horizontal=True)
        if st.form_submit_button("Send feedback"):
            with ui.friendly_errors():
                review.record_feedback(model_id, result.campaign_id, neighbor,
                                       useful == "useful")
                st.success("Thanks — recorded with this model's id.")

st.subheader("Suggested actions")
for note in result.suggestions.notes:
    st.caption(note)
if not result.suggestions.actions:
    st.info("Nothing to suggest: this campaign looks like its neighbours.")
for action in result.suggestions.actions:
    with st.expander(f"**{action.title}** — {action.reason}"):
        st.dataframe(action.evidence, hide_index=True)
st.download_button("Download actions (CSV)",
                   actions.to_frame(result.suggestions.actions).to_csv(index=False),
                   file_name=f"actions-{result.campaign_id or 'new'}.csv", mime="text/csv")
