"""Explore: import files, look at a dataset version, and query the store with SQL."""

import plotly.express as px
import streamlit as st

import ui
from core import auth, datasets, ingest, sandbox

st.title("Explore")

can_import = auth.current_user().can("import")
with st.expander("Import files as a new dataset version", expanded=ui.active_dataset() is None):
    if not can_import:
        st.caption("Your role may explore data but not import it.")
    with st.form("import", clear_on_submit=True):
        uploads = st.file_uploader(
            "CSV / TSV / Parquet files or Google Ads keyword / search-terms exports",
            accept_multiple_files=True, type=["csv", "tsv", "txt", "parquet"],
        )
        active = ui.active_dataset()
        dataset = st.text_input("Dataset name", value=active[0] if active else "my-campaigns",
                                help="Importing into an existing name adds a new version.")
        submitted = st.form_submit_button("Import", type="primary", disabled=not can_import)
    if submitted:
        with ui.friendly_errors(), st.spinner("Importing…"):
            summary = ingest.import_uploads([(f.name, f.getvalue()) for f in uploads or []],
                                            dataset)
            st.session_state["dataset"] = (summary.dataset, summary.version)
            if summary.status == "unchanged":
                st.info(f"Identical content is already stored as {summary.dataset} "
                        f"v{summary.version}; nothing new was written.")
            else:
                st.success(f"Imported {summary.rows:,} rows in {summary.campaigns:,} campaigns "
                           f"as **{summary.dataset} v{summary.version}**.")
            for warning in summary.warnings:
                st.warning(warning)

picked = ui.dataset_picker()
if picked is None:
    ui.empty_store_notice()
    st.stop()
name, version = picked
table = ui.campaigns(name, version)

ui.summary_cards(table)

tab_campaigns, tab_charts, tab_sql = st.tabs(["Campaigns", "Charts", "SQL"])

with tab_campaigns:
    search = st.text_input("Search campaigns", placeholder="id, name or account contains…")
    shown = datasets.search_campaigns(table, search)
    st.caption(f"{len(shown):,} of {len(table):,} campaigns")
    st.dataframe(
        shown, hide_index=True, height=420,
        column_config={
            "ctr": st.column_config.NumberColumn("CTR", format="percent"),
            "conversion_rate": st.column_config.NumberColumn("Conv. rate", format="percent"),
            "cpc": st.column_config.NumberColumn("CPC", format="%.2f"),
            "cost": st.column_config.NumberColumn("Cost", format="%.2f"),
        },
    )

with tab_charts:
    left, right = st.columns(2)
    left.plotly_chart(
        px.histogram(table, x="terms", nbins=40, title="Terms per campaign"),
        width="stretch",
    )
    if table["ctr"].notna().any():
        right.plotly_chart(
            px.histogram(table.dropna(subset=["ctr"]), x="ctr", nbins=40,
                         title="Click-through rate per campaign"),
            width="stretch",
        )
    else:
        right.info("This dataset has no impressions or clicks, so no CTR chart.")
    top = ui.top_terms(name, version, 25)
    st.plotly_chart(
        px.bar(top.iloc[::-1], x="campaigns", y="term", orientation="h", height=600,
               title="Most widespread terms (number of campaigns)"),
        width="stretch",
    )
    if table["cost"].notna().any() and table["label"].notna().any():
        by_label = table.groupby("label", as_index=False)[["cost", "clicks"]].sum()
        st.plotly_chart(px.bar(by_label.sort_values("cost"), x="cost", y="label",
                               orientation="h", height=700, title="Spend by label"),
                        width="stretch")

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

    st.session_state.setdefault(
        "sql_text", sandbox.example_query("Campaigns with the most spend", name, version))
    st.selectbox("Example queries", list(sandbox.EXAMPLE_QUERIES), index=None,
                 key="sql_example", on_change=_use_example,
                 placeholder="Pick an example to start from")
    sql = st.text_area("SQL", key="sql_text", height=160)
    if st.button("Run query", type="primary", key="run_sql"):
        with ui.friendly_errors():
            result = sandbox.run_query(sql)
            note = f" (capped at {result.row_cap:,})" if result.truncated else ""
            st.caption(f"{len(result.frame):,} rows{note} in {result.seconds * 1000:.0f} ms")
            st.dataframe(result.frame, hide_index=True)
