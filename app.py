"""Topic Lab: the Streamlit entry point. Sign-in, navigation and the sidebar."""

import streamlit as st

import ui
from core.data import auth, orphans

st.set_page_config(page_title="Topic Lab", page_icon="🧭", layout="wide")


def signed_in_user() -> auth.User:
    """The local user, or the signed-in one when login is configured; otherwise the page
    asks to sign in, or says there is no role, and the run stops."""
    user = ui.session_user()
    if user is not None:
        return user
    if not st.user.is_logged_in:
        st.title("Topic Lab")
        st.write("Sign in to look up campaigns and work with topic models.")
        st.button("Sign in", type="primary", on_click=st.login)
        st.stop()
    st.error(f"{ui.markdown_text(st.user.get('email'))} is signed in but has no role in "
             "Topic Lab; ask an administrator to add you to `[topiclab.roles]`.")
    st.button("Sign out", on_click=st.logout)
    st.stop()


@st.cache_resource(show_spinner=False)
def clean_at_start() -> list[str]:
    """Once per server: remove model folders a crashed save left (see core.data.orphans)."""
    return orphans.clean()


with ui.friendly_errors():
    clean_at_start()

try:
    user = signed_in_user()
except auth.IdentityError as err:  # a blank TOPICLAB_USER, an unknown role: no fallback
    st.error(f"Topic Lab cannot tell who you are: {ui.markdown_text(err)}")
    st.stop()
auth.set_user(user)  # explicit for this run's thread (callbacks: ui.as_user)

pages = {
    "Topic Lab": [
        st.Page("app_pages/home.py", title="Home", icon=":material/home:", default=True),
        st.Page("app_pages/lookup.py", title="Lookup", icon=":material/travel_explore:"),
        st.Page("app_pages/map.py", title="Map", icon=":material/scatter_plot:"),
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

with st.sidebar, ui.friendly_errors():
    active = ui.active_dataset()
    st.caption("Active dataset")
    st.markdown(f"**{ui.markdown_text(active[0])} v{active[1]}**" if active else "_none yet_")
    production = ui.production_model_id()
    if production:
        st.caption("Production model")
        st.markdown(f"`{production}`")
    role = user.role.replace("_", " ")
    if not ui.login_configured():
        st.caption(f"Single local user ({role}): no login is configured.")
    else:
        st.caption(f"Signed in as {ui.markdown_text(user.name)} ({role})")
        st.button("Sign out", on_click=st.logout)

ui.show_flashes()  # confirmations of the previous run (saved before an st.rerun)
with ui.friendly_errors():  # a user-fixable problem anywhere shows as a message
    page.run()
