"""Topic Lab: the Streamlit entry point. Navigation and the sidebar; pages do the rest."""

import streamlit as st

import ui
from core import auth

st.set_page_config(page_title="Topic Lab", page_icon="🧭", layout="wide")

user = auth.local_user()
auth.set_user(user)

pages = {
    "Topic Lab": [
        st.Page("app_pages/home.py", title="Home", icon=":material/home:", default=True),
        st.Page("app_pages/lookup.py", title="Lookup", icon=":material/travel_explore:"),
        st.Page("app_pages/explore.py", title="Explore", icon=":material/table_view:"),
    ],
    "Models": [
        st.Page("app_pages/train.py", title="Train", icon=":material/model_training:"),
        st.Page("app_pages/compare.py", title="Compare", icon=":material/compare_arrows:"),
        st.Page("app_pages/topics.py", title="Topics", icon=":material/bubble_chart:"),
    ],
    "Operations": [
        st.Page("app_pages/ab.py", title="A/B", icon=":material/difference:"),
        st.Page("app_pages/monitor.py", title="Monitor", icon=":material/monitoring:"),
        st.Page("app_pages/review.py", title="Review", icon=":material/rate_review:"),
        st.Page("app_pages/audit.py", title="Audit log", icon=":material/history:"),
    ],
}
page = st.navigation(pages)

with st.sidebar:
    active = ui.active_dataset()
    st.caption("Active dataset")
    st.markdown(f"**{active[0]} v{active[1]}**" if active else "_none yet_")
    production = ui.production_model_id()
    if production:
        st.caption("Production model")
        st.markdown(f"`{production}`")
    st.caption(f"Signed in as {user.name} ({user.role.replace('_', ' ')}) — no login "
               "configured, single local user.")

page.run()
