"""What the lab learned, for contributors: the challenge, its ideas and what the lab team
concluded, as the public learning report shows them, the report to download, and each
idea's discussion (where contributors may comment)."""

import streamlit as st

from app import discussion, learning_view, ui
from tracker import vocab
from tracker.community.comments import Topic
from tracker.errors import InputError, PermissionDenied

db = ui.get_db()
scope = ui.scope()
challenge = ui.challenge_or_welcome(db)
ui.flash()
view = ui.readable(db)  # as the public reads it
st.title("What the lab learned")
st.markdown(f"**{ui.esc(view.challenge['title'])}**")
if isinstance(view.challenge.get("question"), str):
    st.markdown(ui.esc(view.challenge["question"]))
st.caption("This is what the lab shares in public: organisations are named only where they "
           "agreed, and no one is named.")

ideas = view.ideas
if ideas.empty:
    st.info("No change ideas yet.")
    st.stop()
st.header("The change ideas")
ui.table(ideas.assign(Status=ideas["status"].map(vocab.IDEA_STATUSES))[["title", "Status"]]
         .rename(columns={"title": "Idea"}), hide_index=True, width="stretch")

if st.button("Prepare the public learning report (HTML)"):
    bar, move = ui.progress_bar("Gathering what the lab shares...")
    try:
        data, _ = learning_view.learning_file(db, scope, public=True, ideas=[], kind="HTML",
                                              progress=move)
    except (InputError, PermissionDenied) as exc:
        bar.empty()
        st.error(ui.esc(exc))
    else:
        bar.empty()
        st.download_button("Download the public learning report", data=data,
                           file_name="learning_report_public.html", mime="text/html",
                           on_click="ignore")

st.header("Discuss an idea")
titles = ui.options(ideas, "title")
idea_id = st.selectbox("Idea", list(titles), format_func=titles.get, key="shared_idea")
discussion.show(db, scope, Topic.idea(int(idea_id)), key=f"idea_{idea_id}")
