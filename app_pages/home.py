"""Home: what the store holds and where to go next."""

import streamlit as st

import ui

st.title("Topic Lab")
st.write(
    "Topic models over the keywords and search terms of your ad campaigns: a topic "
    "*fingerprint* for every campaign, its most similar campaigns, and suggested actions."
)

active = ui.active_dataset()
if active is None:
    ui.empty_store_notice()
    st.stop()

name, version = active
table = ui.campaigns(name, version)
cols = st.columns(4)
cols[0].metric("Dataset", f"{name} v{version}")
cols[1].metric("Campaigns", f"{len(table):,}")
cols[2].metric("Terms", f"{int(table['terms'].sum()):,}")
cols[3].metric("Spend", f"{table['cost'].sum():,.0f}" if table["cost"].notna().any() else "—")

st.subheader("Where next")
st.page_link("app_pages/explore.py", label="Explore the corpus with charts and SQL",
             icon=":material/table_view:")
