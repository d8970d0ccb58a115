"""Audit log: who imported, trained, promoted, deleted, named, reviewed — read only."""

import streamlit as st

import ui
from core.data import audit
from core.errors import counted
from core.serve import registry

st.title("Audit log")
st.caption("Every change is recorded here by the library itself; nothing in the log can be "
           "edited from the app. Also: `python -m core audit`.")
LIMIT = 1000
actions = audit.recorded_actions()
if not actions:
    st.info("Nothing is recorded yet. Imports, trainings, promotions, deletions, topic "
            "names, reviews and feedback are listed here as they happen: import data on "
            "the **Explore** page or run `python -m core init` to start.")
    st.stop()
# Filtered in the store: filtering the latest entries hid an old promotion behind a
# thousand feedbacks, and left it out of the actions to pick.
picked = st.multiselect("Actions", actions, default=actions)
if not picked:
    st.info("Pick at least one action to list its entries.")
    st.stop()
log = registry.audit_entries(limit=LIMIT, action=picked)  # deleted models marked
if len(log) == LIMIT:
    st.caption(f"The latest {LIMIT:,} entries of these actions; `python -m core audit "
               "--limit N [--action A]` lists more.")
if log.empty:  # the actions were read a moment before: a deletion may have emptied them
    st.info("No entry of these actions is left in the log.")
    st.stop()
st.caption(f"{counted(len(log), 'entry', 'entries')}, newest first.")
st.dataframe(log, hide_index=True, height=ui.table_height(len(log)))
