"""A/B: production against candidate, campaign by campaign and across the data."""

import shlex

import pandas as pd
import streamlit as st

import ui
from core.data import auth
from core.errors import plural
from core.ops import ab
from core.serve import canary, registry, request_log, review

st.title("A/B: production vs candidate")

# Counts of the service's traffic table: a busy service answers millions of requests.
TRAFFIC_COUNTS = ("requests", "items", "errors", "server_errors", "cache_hits", "verdicts")


@st.cache_data(show_spinner="Comparing neighbour lists…", max_entries=8)
def neighbour_overlap(model_a: str, model_b: str) -> dict:
    return ab.overlap_at_k(ui.lookup(model_a), ui.lookup(model_b), k=10, sample=300)


scored = ui.scored_model_ids()
models = ui.models_table()
scored_models = models[models["model_id"].isin(scored)]
# two scored models of one dataset: production on the demo and a model of one's own import
# opened on "A/B compares models of one dataset"
if scored_models.empty or scored_models.groupby("dataset").size().max() < 2:
    active = ui.active_dataset()
    st.info("A/B needs two scored models of one dataset: a production model and a "
            "candidate. Run the pipeline (`python -m core pipeline --dataset "
            f"{shlex.quote(active[0]) if active else 'NAME'} "
            "--from FILE`) or promote a model to *candidate* on the Compare page.")
    st.stop()

held = ui.aliases()
if moved := ui.follow_aliases(("ab_a", "ab_b"), (held.get("production"),
                                                 held.get("candidate"))):
    st.info(ui.message_text(moved))
first, second = ab.default_pair(scored_models)
left, right = st.columns(2)
model_a = ui.selectbox("A (production)", scored, index=scored.index(first), key="ab_a",
                       format_func=ui.model_label, container=left)
model_b = ui.selectbox("B (candidate)", scored, index=scored.index(second), key="ab_b",
                       format_func=ui.model_label, container=right)
if model_a == model_b:
    st.warning("Pick two different models.")
    st.stop()

with ui.friendly_errors():
    with st.spinner("Loading both models, their fingerprints and campaigns…"):
        a, b = ui.lookup(model_a), ui.lookup(model_b)
    names_a, names_b = registry.topic_names(a.model), registry.topic_names(b.model)

    st.subheader("Across the data")
    ab.check_comparable(a, b)
    overlap = neighbour_overlap(model_a, model_b)
    cards = st.columns(2)
    cards[0].metric("Neighbour overlap@10", f"{overlap['overlap_at_k']:.0%}",
                    help=f"Mean share of common top-10 neighbours over {overlap['campaigns']} "
                         "campaigns both models scored.")
    aligned = ab.alignment(a.model, b.model)
    cards[1].metric("Mean best-match topic distance", f"{aligned['mean_best_js']:.2f}",
                    help="Jensen–Shannon distance of each A topic to its closest B topic "
                         "(0 = identical topics).")
    st.caption("People's verdicts on each model's suggested neighbours")
    verdicts = ab.acceptance(model_a, model_b)
    unrated = ab.acceptance_note(verdicts)
    if verdicts["verdicts"].any():  # a table of zeros and "None" says nothing
        # Only the rated models: the note names the other, whose rate showed as "None".
        st.dataframe(verdicts[verdicts["verdicts"] > 0], hide_index=True, column_config={
            **ui.count_columns("verdicts", "useful"),
            "acceptance_rate": st.column_config.NumberColumn("acceptance", format="percent")})
    if unrated:
        st.info(ui.message_text(unrated))
    st.dataframe(ab.metric_deltas(model_a, model_b), hide_index=True)
    if note := ab.metrics_note(model_a, model_b):
        st.caption(ui.message_text(note))  # it names datasets
    # Under "Across the data", which it is about (it was drawn under the live traffic)
    st.plotly_chart(ui.alignment_heatmap(
        aligned["js"], names_a, names_b, model_a, model_b,
        "Topic alignment (rows A, columns B; lower = more alike)"), width="stretch")

    st.subheader("Live traffic (scoring service, last 24 h)")
    traffic = request_log.traffic(hours=24)
    share = canary.get_percent()
    if traffic.empty:
        st.info(f"No scoring-service traffic in the last 24 hours (canary share {share:g}%). "
                "Start the service with `make serve`; set the candidate's share with "
                "`python -m core canary set PERCENT`.")
    else:
        st.caption(f"Canary share: {share:g}% of requests go to the candidate. Acceptance is "
                   "people's feedback on each model's neighbours (app and service).")
        shown = registry.marked_deleted(traffic["model_id"])  # a candidate deleted since
        traffic = traffic.assign(model_id=traffic["model_id"].map(lambda m: shown.get(m, m)))
        st.dataframe(traffic, hide_index=True, column_config={
            **ui.count_columns(*TRAFFIC_COUNTS),
            "p50_ms": st.column_config.NumberColumn("p50 ms", format="%.1f"),
            "p95_ms": st.column_config.NumberColumn("p95 ms", format="%.1f"),
            "acceptance_rate": st.column_config.NumberColumn("acceptance", format="percent")})

    st.subheader("One campaign")
    common = ab.common_campaigns(a, b)
    names = a.campaigns["campaign_name"].reindex(common)
    labels = ui.campaign_labels(pd.Series(common, dtype=object), names,
                                a.fingerprints.without_known_words()
                                | b.fingerprints.without_known_words(),
                                " (no word A or B knows)")
    common = list(labels)  # those A or B knows no word of last
    campaign_id = st.selectbox("Campaign", common, index=None,
                               key=ui.kept("ab_campaign", common),
                               format_func=labels.get,
                               placeholder="type an id or part of a name")
    if campaign_id:
        table = ab.side_by_side(a, b, campaign_id)
        # Sony's campaigns are named by their ids: each neighbour was shown twice
        st.dataframe(table.drop(columns=ui.names_adding_nothing(table, ab.NEIGHBOUR_COLUMNS)),
                     hide_index=True)
        changed = (table["A status"] == "only A").sum()
        absent = (table["A status"] == ab.NOT_IN_B).sum()
        st.caption(f"{changed} of {len(table)} neighbours changed between the models."
                   + (f" {absent} of A's {plural(absent, 'is', 'are')} not in B's data (B was "
                      f"trained on another version), so B could not find "
                      f"{plural(absent, 'it', 'them')}." if absent else ""))
        if not auth.current_user().can("feedback"):  # as Lookup: no form core refuses
            st.caption("Your role may compare the neighbours but not rate them.")
        else:
            with st.form("ab_feedback"):
                st.caption("Rate suggested neighbours; each verdict is stored with its model.")
                found = [(side, x) for side in "AB" for x in table[f"{side} neighbour"].dropna()]
                pick = st.selectbox("Neighbour", found,  # named as the campaign picker names
                                    format_func=lambda o: f"{o[0]}: {labels.get(o[1], o[1])}")
                useful = st.radio("Verdict", ["useful", "not useful"], horizontal=True)
                if st.form_submit_button("Send feedback"):
                    side, neighbor = pick
                    review.record_feedback(model_a if side == "A" else model_b, campaign_id,
                                           neighbor, useful == "useful")
                    ui.flash("Feedback recorded.")
                    st.rerun()
