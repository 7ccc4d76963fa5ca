"""The tracker's entry point: page setup, the menu (st.navigation) and the sidebar."""

import streamlit as st

import ui
from tracker import repo

st.set_page_config(page_title="Improvement lab tracker", page_icon=":material/monitoring:",
                   layout="wide")

PAGES = {
    "Challenge": [
        st.Page("app_pages/overview.py", title="Overview", icon=":material/home:", default=True),
        st.Page("app_pages/challenge.py", title="Challenge and drivers", icon=":material/flag:"),
        st.Page("app_pages/ideas.py", title="Change ideas", icon=":material/lightbulb:"),
        st.Page("app_pages/cycles.py", title="Test cycles (PDSA)", icon=":material/autorenew:"),
    ],
    "Results": [
        st.Page("app_pages/upload.py", title="Upload results", icon=":material/upload_file:"),
    ],
    "Set-up": [
        st.Page("app_pages/organisations.py", title="Organisations", icon=":material/apartment:"),
        st.Page("app_pages/measures.py", title="Measures", icon=":material/straighten:"),
    ],
}

page = st.navigation(PAGES)

db = ui.get_db()
challenge = repo.get_challenge(db)
with st.sidebar:
    if challenge is not None:
        st.markdown(f"**{challenge['title']}**")
        if challenge["is_demo"]:
            st.warning("Demo data: every organisation, person and number here is invented.",
                       icon=":material/science:")
    st.caption(f"Local mode: you are the lab admin; the app listens on this computer only. "
               f"Database: `{db.path}`")

page.run()
