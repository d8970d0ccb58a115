"""Map: every campaign of a model in 2-D by its fingerprint, and clusters of campaigns."""

import plotly.express as px
import streamlit as st
from pandas.api.types import is_numeric_dtype

import ui
from core.errors import counted
from core.serve import campaign_map

st.title("Campaign map")

scored = ui.scored_model_ids()
if not scored:
    ui.no_models_notice()
    st.stop()


@st.cache_data(show_spinner=False, max_entries=4)
def load_map(model_id: str, generation: str) -> campaign_map.CampaignMap:
    """Per store generation, so a topic's new name shows; the projection itself is read
    from the model's folder (computed once per model)."""
    return campaign_map.campaign_map(model_id)


with st.sidebar:
    model_id = ui.selectbox("Model", scored, key="map_model", format_func=ui.model_label,
                            help="Any batch-scored model; the production model first.")
if ui.production_model_id() is None:
    st.caption("No model is in production yet; showing a scored model.")
with st.spinner("Placing the campaigns (the first time for a model takes a while; "
                "then it is read from the model's folder)…"):
    result = load_map(model_id, ui.generation())
money = ui.currency(ui.models_table().set_index("model_id").at[model_id, "dataset"])

st.caption(f"{counted(result.total, 'campaign')} of model "
           f"{ui.markdown_text(ui.model_label(model_id))}: campaigns close "
           "together have similar fingerprints (t-SNE of the Hellinger distance). "
           "Click a campaign to open it in Lookup, or box-select several to list them.")
if result.note:
    st.info(ui.message_text(result.note))

points = result.points
colour_options = {"Dominant topic": "topic_name", "Cluster": "cluster", "Account": "account",
                  "Label": "label", "CTR": "ctr", "CPC": "cpc",
                  "Conversion rate": "conversion_rate"}
colour_options = {k: v for k, v in colour_options.items()
                  if v in points and points[v].notna().any()}
colour = st.segmented_control("Colour by", list(colour_options), default="Dominant topic",
                              key="map_colour", required=True) or "Dominant topic"
column = colour_options[colour]
drawn = points.assign(**{c: ui.chart_text(points[c]) for c in (
    "campaign_name", "top_topics", column) if c in points and not is_numeric_dtype(points[c])})
figure = px.scatter(
    drawn, x="x", y="y", color=column, hover_name="campaign_name",
    hover_data={"x": False, "y": False, "campaign_id": True, "top_topics": True,
                column: ui.hover_format(column, money)},
    custom_data=["campaign_id"], opacity=0.75, height=620,
    # CPC's colour bar and hover named as the clusters table does: `CPC (JPY)`, not `cpc`.
    labels={"topic_name": "dominant topic", "top_topics": "top topics",
            "cpc": ui.money_label("CPC", money)},
    color_continuous_scale="Viridis",
    category_orders={column: ui.chart_text(result.legend_order(column))},
)
figure.update_traces(marker={"size": 6})
if is_numeric_dtype(points[column]):  # its colour bar as the hover and tables show it
    figure.update_coloraxes(colorbar_tickformat=".1%" if column in ui.RATES
                            else ui.money_axis(money))
figure.update_xaxes(visible=False)
figure.update_yaxes(visible=False)
if points[column].nunique() > 30:
    figure.update_layout(showlegend=False)


def open_in_lookup(campaign_id: str) -> None:
    """Lookup reads its model and campaign from session state on its next run."""
    active = ui.active_dataset()
    st.session_state[f"lookup_model:{active}"] = model_id
    st.session_state["lookup_mode"] = "Existing campaign"
    st.session_state["lookup_campaign"] = campaign_id
    st.session_state["map_open_lookup"] = True


def selected() -> list[str]:
    event = st.session_state.get("map_chart")
    chosen = event.selection.points if event else []
    return [p["customdata"][0] for p in chosen if p.get("customdata")]


def chart_selected() -> None:
    chosen = selected()
    if len(chosen) == 1:
        open_in_lookup(chosen[0])


def picked() -> None:
    if st.session_state.get("map_open"):
        open_in_lookup(st.session_state["map_open"])


st.plotly_chart(figure, key="map_chart", on_select=chart_selected,
                selection_mode=("points", "box", "lasso"), width="stretch")

chosen = selected()
shown = points[points["campaign_id"].isin(chosen)] if len(chosen) > 1 else points
offered = ui.campaign_labels(shown["campaign_id"], shown["campaign_name"],
                             shown.loc[shown["topic"] == campaign_map.UNKNOWN_CLUSTER,
                                       "campaign_id"])
st.selectbox(f"Open in Lookup ({len(shown):,} campaigns"
             + (" selected)" if len(chosen) > 1 else ")"),
             list(offered), index=None, key="map_open", on_change=picked,
             format_func=offered.get, placeholder="type an id or part of a name")
if st.session_state.pop("map_open_lookup", False):
    st.switch_page("app_pages/lookup.py")

st.subheader("Clusters of campaigns")
st.caption("One cluster per dominant topic; topics that lead only a few campaigns are merged "
           "into the nearest cluster. Rates are the medians of the cluster's campaigns.")
if (result.clusters["cluster"] == campaign_map.HIDDEN_CLUSTER).any():
    st.caption(f"*{campaign_map.ON_HIDDEN}*: campaigns with half or more of their fingerprint "
               "on the spare topics this model keeps hidden (placed by them, as their "
               "neighbours are found); their shown topics are nearly flat.")
clusters = result.clusters.drop(columns=ui.empty_columns(result.clusters))  # no metrics
st.dataframe(ui.as_percent_points(clusters, ("median_ctr", "median_conversion_rate")),
             hide_index=True, column_config={
                 "cluster": None,
                 "name": st.column_config.TextColumn("cluster", pinned=True),
                 **ui.count_columns(),
                 "campaigns": st.column_config.NumberColumn("campaigns", format=ui.COUNT),
                 "top_topics": st.column_config.TextColumn("top topics (mean weight)"),
                 "median_ctr": st.column_config.NumberColumn("median CTR", format=ui.PERCENT),
                 "median_cpc": ui.money_column("median CPC", money),
                 "median_conversion_rate": st.column_config.NumberColumn(
                     "median conv. rate", format=ui.PERCENT),
                 "cost": ui.money_column("cost", money),
             })
