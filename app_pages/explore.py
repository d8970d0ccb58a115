"""Explore: import files, look at a dataset version, and query the store with SQL."""

import plotly.express as px
import streamlit as st

import ui
from core import config
from core.data import auth, datasets, encodings, ingest, sandbox
from core.errors import TopicLabError, counted

st.title("Explore")

can_import = auth.current_user().can("import")


def _import() -> None:
    """The form's callback: it runs before the next script run draws anything, so the new
    version is active in the sidebar, the picker and the cards of that same run."""
    uploads = st.session_state.get(f"import_files_{st.session_state['import_round']}") or []
    try:
        with st.spinner(f"Importing {counted(len(uploads), 'file')}…"):
            summary = ingest.import_uploads([(f.name, f.getvalue()) for f in uploads],
                                            st.session_state["import_name"],
                                            encoding=st.session_state.get("import_encoding"),
                                            controls=ui.PAGE_CONTROLS)
    except TopicLabError as err:
        st.session_state["import_outcome"] = ("error", ui.message_text(err), [])
        return
    ui.set_active_dataset(summary.dataset, summary.version)
    st.session_state["import_name"] = summary.dataset
    st.session_state["import_round"] += 1  # a fresh, empty file box
    if summary.status == "unchanged":
        message = (f"Identical content is already stored as {ui.markdown_text(summary.dataset)} "
                   f"v{summary.version}; nothing new was written. It is now the active "
                   "dataset.")
        st.session_state["import_outcome"] = ("info", message, summary.warnings)
    else:
        message = (f"Imported {counted(summary.rows, 'row')} in "
                   f"{counted(summary.campaigns, 'campaign')} as "
                   f"**{ui.markdown_text(summary.dataset)} v{summary.version}**, now the "
                   "active dataset.")
        st.session_state["import_outcome"] = ("success", message, summary.warnings)
        ui.flash(f"Imported {ui.markdown_text(summary.dataset)} v{summary.version}.")


active = ui.active_dataset()
st.session_state.setdefault("import_round", 0)
st.session_state.setdefault("import_name", active[0] if active else "my-campaigns")
with st.expander("Import files as a new dataset version", expanded=active is None):
    if not can_import:
        st.caption("Your role may explore data but not import it.")
    with st.form("import"):
        st.file_uploader(
            "Keyword or search-term reports from Google Ads, Microsoft Advertising or "
            "Amazon Ads, or CSV / TSV / Excel / Parquet files",
            accept_multiple_files=True,
            type=ui.UPLOAD_TYPES,
            help="Reports as downloaded, as CSV or Excel (extract a zipped one first); a "
                 "Google Ads Editor export, or a Microsoft Advertising or Amazon Ads bulk "
                 "file (their keyword rows); a Keyword Planner download (one campaign). "
                 "Several files are one version. docs/import.md lists what is read.",
            key=f"import_files_{st.session_state['import_round']}",
        )
        st.text_input("Dataset name", key="import_name",
                      help="Importing into an existing name adds a new version.")
        st.selectbox(
            "Encoding", list(encodings.CHOICES), format_func=encodings.label,
            key="import_encoding",
            help="Of text files without a byte-order mark. Detect reads UTF-8, or Japanese "
                 "or Western files when only one reading is plausible, and otherwise asks.")
        st.form_submit_button("Import", type="primary", disabled=not can_import,
                              on_click=ui.as_user(_import))
    outcome = st.session_state.pop("import_outcome", None)
    if outcome:
        kind, message, warnings = outcome
        {"error": st.error, "info": st.info, "success": st.success}[kind](message)
        for warning in warnings:
            st.warning(ui.message_text(warning))  # they quote file names and cells

picked = ui.dataset_picker()
if picked is None:
    ui.empty_store_notice()
    st.stop()
name, version = picked
with st.spinner(f"Loading {ui.markdown_text(name)} v{version}…"):
    table = ui.campaigns(name, version)
money = ui.currency(name)

ui.summary_cards(table, money)
if table["cost"].notna().any() and money is None and can_import:
    with st.popover("Cost has no currency: set it"):
        st.caption("Google Ads exports carry a *Currency code* column and set this by "
                   "themselves; other files need it once per dataset.")
        code = st.text_input("ISO 4217 currency code", max_chars=3, key="currency_code",
                             placeholder="EUR, USD, JPY…")
        if st.button("Save currency", key="save_currency"):
            with ui.friendly_errors():
                saved = datasets.set_currency(name, code)
                ui.lookup.clear()  # its suggested actions quote amounts in the currency
                ui.flash(f"Cost of {ui.markdown_text(name)} is now shown in {saved}.")
                st.rerun()

tab_campaigns, tab_charts, tab_sql = st.tabs(["Campaigns", "Charts", "SQL"])

with tab_campaigns:
    search = st.text_input("Search campaigns", placeholder="id, name or account contains…",
                           key="campaign_search")
    shown = datasets.search_campaigns(table, search)
    st.caption(f"{len(shown):,} of {len(table):,} campaigns")
    st.dataframe(
        ui.as_percent_points(shown.drop(columns=ui.empty_columns(table)
                                        + ui.names_adding_nothing(shown))),
        hide_index=True,
        height=ui.table_height(len(shown)),
        column_config={
            "ctr": st.column_config.NumberColumn("CTR", format=ui.PERCENT),
            "conversion_rate": st.column_config.NumberColumn("Conv. rate", format=ui.PERCENT),
            **ui.metric_columns(money),
        },
    )

with tab_charts:
    left, right = st.columns(2)
    left.plotly_chart(ui.count_axis(
        px.histogram(table, x="terms", nbins=40, title="Terms per campaign"), len(table)),
        width="stretch",
    )
    if table["ctr"].notna().any():
        rated = ui.as_percent_points(table.dropna(subset=["ctr"]))  # as the table shows it
        rates = px.histogram(rated, x="ctr", nbins=40, title="Click-through rate per campaign",
                             labels={"ctr": "CTR"})
        rates.update_xaxes(ticksuffix="%")
        right.plotly_chart(ui.count_axis(rates, len(rated)), width="stretch")
    else:
        right.info("This dataset has no impressions or clicks, so no CTR chart.")
    with st.spinner("Counting the most widespread terms…"):
        top = ui.top_terms(name, version, 25)
    st.plotly_chart(ui.count_axis(
        px.bar(top.iloc[::-1].assign(term=lambda t: ui.chart_text(t["term"])), x="campaigns",
               y="term", orientation="h", height=600,
               title="Most widespread terms (number of campaigns)"),
        top["campaigns"].max() if len(top) else 0, axis="x"),
        width="stretch",
    )
    if table["cost"].notna().any() and table["label"].notna().any():
        by_label = table.groupby("label", as_index=False)[["cost", "clicks"]].sum()
        by_label["label"] = ui.chart_text(by_label["label"])
        spend = px.bar(by_label.sort_values("cost"), x="cost", y="label", orientation="h",
                       height=max(400, 18 * len(by_label) + 120), title="Spend by label",
                       labels={"cost": ui.money_label("Cost", money), "label": ""})
        spend.update_yaxes(tickmode="linear", dtick=1)  # every bar named, not every other
        spend.update_xaxes(tickformat=ui.money_axis(money))
        spend.update_traces(hovertemplate=f"%{{y}}: %{{x:{ui.money_axis(money)}}}<extra></extra>")
        st.plotly_chart(spend, width="stretch")

def _start_query_from(example: str) -> None:
    """The starting query follows the active dataset until the user edits it: kept as it
    was first set, it went on querying the demo after the Sony exports were imported."""
    if st.session_state.get("sql_text") in (None, st.session_state.get("sql_started_as")):
        st.session_state["sql_text"] = example
    st.session_state["sql_started_as"] = example


with tab_sql:
    st.caption(
        "Read-only SQL over the store (DuckDB). Tables and views: `datasets`, `terms`, "
        "`campaigns`, `models`, `fingerprints`, `audit`, … Results are capped and "
        "long queries are stopped."
    )
    def _use_example() -> None:
        title = st.session_state.get("sql_example")
        if title:
            st.session_state["sql_text"] = sandbox.example_query(title, name, version)

    _start_query_from(sandbox.example_query("Campaigns with the most spend", name, version))
    st.selectbox("Example queries", list(sandbox.EXAMPLE_QUERIES), index=None,
                 key="sql_example", on_change=_use_example,
                 placeholder="Pick an example to start from")
    sql = st.text_area("SQL", key="sql_text", height=160)
    if st.button("Run query", type="primary", key="run_sql"):
        with ui.friendly_errors(), st.spinner("Running the SQL query (stopped after "
                                              f"{config.sql_timeout_s():g} s)…"):
            result = sandbox.run_query(sql)
            st.caption(f"{counted(len(result.frame), 'row')} in {result.seconds * 1000:.0f} ms")
            if result.notice:
                st.warning(f"Result {result.notice}.", icon=":material/content_cut:")
            st.dataframe(result.frame, hide_index=True, column_config={
                **{c: ui.count_column() for c in sandbox.count_columns(result.frame)},
                **{c: ui.money_column(c, money) for c in sandbox.money_columns(result.frame)}})
