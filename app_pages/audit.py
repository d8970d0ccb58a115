"""Audit log: who imported, trained, promoted, deleted, named, reviewed — read only."""

import streamlit as st

from core.data import audit

st.title("Audit log")
st.caption("Every change is recorded here by the library itself; nothing in the log can be "
           "edited from the app. Also: `python -m core audit`.")
log = audit.entries(limit=1000)
if log.empty:
    st.info("Nothing has happened yet.")
    st.stop()
actions = sorted(log["action"].unique())
picked = st.multiselect("Actions", actions, default=actions)
st.dataframe(log[log["action"].isin(picked)], hide_index=True, height=600)
