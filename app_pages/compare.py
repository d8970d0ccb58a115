"""Compare: every run side by side, metrics against K, topic alignment, promotion."""

import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

import ui
from core.data import auth, datasets
from core.errors import counted
from core.ops import ab, deploy, drift, gate, rebind, sweep
from core.serve import registry


def k_axis(figure: go.Figure, ks) -> go.Figure:
    """Ticks at the K values trained, and only there: plotly put its own at 7, 7.5, 8,
    8.5 and 9 around the one model of the Sony store (K = 8), as if half a topic could
    be trained."""
    figure.update_xaxes(tickmode="array", tickvals=sorted({int(k) for k in ks}))
    return figure


st.title("Compare models")

table = registry.metrics_table()
if table.empty:
    ui.no_models_notice()
    st.stop()

# The first model serves whatever its diversity: say so while it does (the table has the
# figure; the store is read again only for a model below the floor).
serving = table[table["aliases"].str.split(", ").map(lambda names: "production" in names)]
if not serving.empty and gate.below_floor(float(serving.iloc[0].get("diversity", 1.0))):
    floor = gate.production_floor_note(str(serving.iloc[0]["model_id"]), ui.PAGE_CONTROLS)
    if floor:
        st.warning(ui.message_text(floor))
st.caption("All runs; click a column header to sort.")
columns = ["model_id", "aliases", "kept_instead", "rebound_from", "engine", "k", "dataset",
           "version", "documents", "vocabulary_size", "npmi", "c_v", "u_mass", "diversity",
           "perplexity", "seconds_fit", "created_at"]
for optional in ("kept_instead", "rebound_from"):
    if table[optional].isna().all():
        columns.remove(optional)
shown_table = table.assign(kept_instead=table["kept_instead"].fillna(""),  # blank, as aliases
                           rebound_from=table["rebound_from"].fillna(""))
st.dataframe(shown_table[[c for c in columns if c in table]], hide_index=True,
             column_config={**{c: st.column_config.NumberColumn(format="%.3f")
                               for c in ("npmi", "c_v", "u_mass", "diversity")},
                            **ui.count_columns("k", "documents"),
                            "vocabulary_size": ui.count_column("vocabulary"),
                            "kept_instead": st.column_config.TextColumn(
                                "kept instead", help="Tried when K was fitted to the data "
                                "(Fit K to the data, the pipeline): its topics repeated "
                                "each other's words, and this model was kept instead."),
                            "rebound_from": st.column_config.TextColumn(
                                "rebound from", help="The model whose topics this one holds "
                                "on another version of its dataset (Rebind, below).")})

st.subheader("Quality against K")
chart_metric = st.segmented_control("Metric", ["npmi", "diversity", "perplexity", "c_v",
                                               "stability"], default="npmi", required=True)
if chart_metric == "stability":
    data = sweep.stability_table()
    if data.empty:
        st.info("Stability is measured across seeds in a sweep; run one on the Train page.")
    else:
        st.plotly_chart(k_axis(px.line(
            data, x="k", y="stability", color="sweep", markers=True,
            title="Mean best-match Jaccard of top-10 words across seeds"), data["k"]),
            width="stretch")
elif chart_metric:
    data = shown_table.dropna(subset=[chart_metric])
    # One dataset at a time: NPMI and perplexity are counted on a dataset's own texts, and
    # one chart set the demo's K = 50 at 0.38 beside a 85-campaign client's K = 13 at -0.04.
    names = sorted(data["dataset"].unique())
    if len(names) > 1:
        active = (ui.active_dataset() or ("",))[0]
        shown = ui.selectbox("Dataset", names, key="compare_chart_dataset",
                             index=names.index(active) if active in names else 0)
        data = data[data["dataset"] == shown]
    # Models a K ladder tried and passed over are marked apart: no one chose them.
    passed_over = data["kept_instead"] != ""
    marks = ({"symbol": "K ladder", "hover_data": ["model_id", "kept_instead"]}
             if passed_over.any() else {"hover_data": ["model_id"]})
    data = data.assign(**{"K ladder": passed_over.map({True: "passed over for a smaller K",
                                                       False: "kept"})})
    st.plotly_chart(k_axis(px.scatter(data, x="k", y=chart_metric, color="engine", **marks,
                                      title=f"{chart_metric} by K"),
                           data["k"]), width="stretch")

sweeps = sweep.list_sweeps()
if not sweeps.empty:
    with st.expander("Sweeps and the model each one chose"):
        for row in sweeps.itertuples():
            st.markdown(f"**{row.sweep_id}** ({ui.markdown_text(row.dataset)} v{row.version}) "
                        f"— {ui.markdown_text(row.explanation)}")
            st.dataframe(row.results, hide_index=True, column_config=ui.count_columns("k", "runs"))

st.subheader("Topic alignment of two models")
ids = table["model_id"].tolist()
labels = ui.model_labels()
first, second = ab.default_pair(table)
a = b = None
if second is None:
    st.info(f"Only one model is trained ({ui.markdown_text(first)}): train a second one on "
            "the Train page to compare their topics.")
else:
    held = ui.aliases()
    moved = ui.follow_aliases(("align_a", "align_b"),
                              (held.get("production"), held.get("candidate")))
    if moved:
        st.info(moved)
    left, right = st.columns(2)
    a = ui.selectbox("Model A", ids, index=ids.index(first), key="align_a",
                     format_func=ui.model_label, container=left)
    b = ui.selectbox("Model B", ids, index=ids.index(second), key="align_b",
                     format_func=ui.model_label, container=right)
    if a == b:
        st.warning("Model A and B are the same model: pick another for one of them.")
if a and b and a != b:
    with st.spinner("Loading both models and aligning their topics…"):
        model_a, model_b = ui.model(a), ui.model(b)
        aligned = ab.alignment(model_a, model_b)
    js, best = aligned["js"], aligned["best"]
    names_a, names_b = registry.topic_names(model_a), registry.topic_names(model_b)
    heat = ui.alignment_heatmap(js, names_a, names_b, a, b, "Jensen–Shannon distance "
                                "between topic-word distributions (lower = more alike)")
    shown_b = ui.chart_text(names_b)
    heat.add_trace(go.Scatter(x=[shown_b[j] for j in best], y=ui.chart_text(names_a),
                              mode="markers", name="best match",
                              marker={"symbol": "x", "color": "red", "size": 9},
                              hovertemplate="A: %{y}<br>best match in B: %{x}<extra></extra>"))
    st.plotly_chart(heat, width="stretch")

st.subheader("Promote")
if not auth.current_user().can("promote"):
    st.caption("Your role may compare models but not promote or delete them.")
    st.stop()

# Nothing is preselected: promoting is a decision, not a default. `ui.selectbox`: after a
# promotion the browser went on showing the new production model as `[candidate]`.
target = ui.selectbox("Model", ids, index=None, key="promote_model", format_func=labels.get,
                      placeholder="Choose a model to promote or delete")
alias = st.radio("Alias", registry.ALIASES, index=None, horizontal=True, key="promote_alias")
if target is None:
    st.stop()

# A model of an older version answers only that version's campaigns: offered its topics on
# the newest version as a model of its own (`core.ops.rebind`), which the pickers then hold.
by_id = table.set_index("model_id")
trained_on = by_id.loc[target, ["dataset", "version"]]
newest = datasets.get(trained_on["dataset"])
if newest.version > int(trained_on["version"]) and auth.current_user().can("train"):
    st.info(f"{target} was trained on {ui.markdown_text(trained_on['dataset'])} "
            f"v{int(trained_on['version'])}: in production it would answer only that "
            f"version's campaigns, none new in v{newest.version}. Rebinding registers its "
            f"topics and names on v{newest.version} as a new model, scored, to promote "
            "instead.")
    if st.button(f"Rebind to v{newest.version}", key=f"rebind:{target}"):
        with ui.friendly_errors(), st.spinner(f"Rebinding {target} to v{newest.version}…"):
            rebound = rebind.rebind(target, newest.version, ui.StreamlitProgress("Rebinding…"))
            st.session_state["promote_model"] = rebound.model_id
            scored = rebound.scoring.campaigns if rebound.scoring else None
            ui.flash(f"{ui.markdown_text(rebound.model_id)} holds the topics of {target} on "
                     f"{ui.markdown_text(rebound.dataset)} v{newest.version}"
                     + (" (rebound before)." if scored is None else
                        f", {counted(scored, 'campaign')} scored.")
                     + " It is picked below, to promote.")
            st.rerun()

production = ui.production_model_id()
ready, other_dataset = alias is not None, False
if alias == "production" and target != production:
    if production:
        st.markdown("This **replaces the production model** "
                    f"{ui.markdown_text(labels.get(production))}.")
    verdict = None
    with ui.friendly_errors(), st.spinner("Checking the quality gate (both models' NPMI on "
                                          "the new model's training data)…"):
        verdict = ui.gate_verdict(target, production)
        box = st.success if verdict["passes"] else st.warning
        box(f"Quality gate (as the pipeline judges it): "
            f"{'passes' if verdict['passes'] else 'does not pass'} — {verdict['reason']}.")
    if verdict is None:
        st.stop()
    # The keys name both models: a confirmation never carries over to another pair.
    if verdict["other_dataset"]:
        other_dataset = st.checkbox(
            "Yes: production should serve dataset "
            f"{ui.markdown_text(repr(by_id.at[target, 'dataset']))} instead of "
            f"{ui.markdown_text(repr(by_id.at[production, 'dataset']))}",
            key=f"promote_other_dataset:{production}:{target}")
    question = (f"Yes, replace {production} with {target} in production" if production
                else f"Yes, make {target} the production model")
    confirmed = st.checkbox(question, key=f"promote_confirm:{production}:{target}")
    ready = confirmed and (other_dataset or not verdict["other_dataset"])
elif alias == "production":
    st.info(f"{target} is already the production model.")
    ready = False

c1, c2 = st.columns(2)
clicked = c1.button("Promote", type="primary", disabled=not ready, key="promote_go")
if clicked and not ready:
    st.warning("Production changed meanwhile: look at the model it replaces and confirm again.")
elif clicked:
    with ui.friendly_errors(), st.spinner("Promoting (the model is scored first)…"):
        result = deploy.promote(target, alias, ui.StreamlitProgress("Scoring…"),
                                expected=production if alias == "production"
                                else registry.ANY_PREVIOUS,
                                other_dataset=other_dataset, controls=ui.PAGE_CONTROLS)
        # Shown after a rerun: the sidebar, the table's aliases and the pickers were drawn
        # before the promotion and went on naming the replaced model as production.
        st.session_state["promote_outcome"] = (
            f"{target} is now {alias}"
            + (f" (replacing {result.previous})." if result.previous else "."),
            ui.message_text(result.warning) if result.warning else None,
            f"Scored {counted(result.scoring.campaigns, 'campaign')}." if result.scoring else None)
        st.rerun()
if outcome := st.session_state.pop("promote_outcome", None):
    done, warning, scored = outcome
    st.success(done)
    if warning:
        st.warning(warning)
    if scored:
        st.caption(scored)
# Deleting takes the model's fingerprints and topic names with it: confirmed first, as a
# promotion is (one click beside *Promote* deleted it).
sure = c2.checkbox(f"Yes, delete {target} and its fingerprints and topic names",
                   key=f"delete_confirm:{target}")
if c2.button("Delete model", key="promote_delete", disabled=not sure):
    with ui.friendly_errors():
        left = registry.delete(target, ui.PAGE_CONTROLS)
        kept = drift.kept_sentence(target)
        ui.flash(f"Deleted {target}." + (f" {ui.message_text(left.sentence())}" if left else "")
                 + (f" {ui.message_text(kept)}" if kept else ""))
        st.rerun()
