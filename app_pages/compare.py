"""Compare: every run side by side, metrics against K, topic alignment, promotion."""

import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

import ui
from core import ab, auth, deploy, registry, sweep

st.title("Compare models")

table = registry.metrics_table()
if table.empty:
    ui.no_models_notice()
    st.stop()

st.caption("All runs; click a column header to sort.")
columns = ["model_id", "aliases", "engine", "k", "dataset", "version", "npmi", "c_v", "u_mass",
           "diversity", "perplexity", "seconds_fit", "created_at"]
st.dataframe(table[[c for c in columns if c in table]], hide_index=True,
             column_config={c: st.column_config.NumberColumn(format="%.3f")
                            for c in ("npmi", "c_v", "u_mass", "diversity")})

st.subheader("Quality against K")
chart_metric = st.segmented_control("Metric", ["npmi", "diversity", "perplexity", "c_v",
                                               "stability"], default="npmi", required=True)
if chart_metric == "stability":
    data = sweep.stability_table()
    if data.empty:
        st.info("Stability is measured across seeds in a sweep; run one on the Train page.")
    else:
        st.plotly_chart(px.line(data, x="k", y="stability", color="sweep", markers=True,
                                title="Mean best-match Jaccard of top-10 words across seeds"),
                        width="stretch")
elif chart_metric:
    data = table.dropna(subset=[chart_metric])
    st.plotly_chart(px.scatter(data, x="k", y=chart_metric, color="engine",
                               hover_data=["model_id"], title=f"{chart_metric} by K"),
                    width="stretch")

sweeps = sweep.list_sweeps()
if not sweeps.empty:
    with st.expander("Sweeps and the model each one chose"):
        for row in sweeps.itertuples():
            st.markdown(f"**{row.sweep_id}** ({row.dataset} v{row.version}) — {row.explanation}")
            st.dataframe(row.results, hide_index=True)

st.subheader("Topic alignment of two models")
ids = table["model_id"].tolist()
left, right = st.columns(2)
a = ui.selectbox("Model A", ids, index=0, key="align_a", format_func=ui.model_label,
                container=left)
b = ui.selectbox("Model B", ids, index=min(1, len(ids) - 1), key="align_b",
                 format_func=ui.model_label, container=right)
if a and b:
    with st.spinner("Loading both models and aligning their topics…"):
        model_a, model_b = ui.model(a), ui.model(b)
        aligned = ab.alignment(model_a, model_b)
    js, best = aligned["js"], aligned["best"]
    names_a = registry.topic_names(model_a)
    names_b = registry.topic_names(model_b)
    heat = go.Figure(go.Heatmap(z=js, x=names_b, y=names_a, colorscale="Viridis_r",
                                colorbar={"title": "JS distance"}))
    heat.add_trace(go.Scatter(x=[names_b[j] for j in best], y=names_a, mode="markers",
                              marker={"symbol": "x", "color": "red", "size": 9},
                              name="best match"))
    heat.update_layout(height=max(400, 22 * len(names_a)), title="Jensen–Shannon distance "
                       "between topic-word distributions (lower = more alike)")
    st.plotly_chart(heat, width="stretch")

st.subheader("Promote")
if auth.current_user().can("promote"):
    target = st.selectbox("Model", ids, key="promote_model", format_func=ui.model_label)
    alias = st.radio("Alias", registry.ALIASES, horizontal=True)
    c1, c2 = st.columns(2)
    if c1.button("Promote", type="primary"):
        with ui.friendly_errors(), st.spinner("Promoting (a new production model is scored "
                                              "first)…"):
            result = deploy.promote(target, alias, ui.StreamlitProgress("Scoring…"))
            st.success(f"{target} is now {alias}.")
            if result["scoring"]:
                st.caption(f"Scored {result['scoring']['campaigns']:,} campaigns.")
    if c2.button("Delete model"):
        with ui.friendly_errors():
            registry.delete(target)
            st.success(f"Deleted {target}.")
            st.rerun()
else:
    st.caption("Your role may compare models but not promote or delete them.")
