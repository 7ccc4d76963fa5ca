"""For you: comments that mention you, replies to yours, new comments where you wrote; for
the lab team, the open questions (threads no one in the lab has answered)."""

import datetime as dt

import streamlit as st

from app import ui
from tracker.community import comments, mail, submissions
from tracker.intake import templates

db = ui.get_db()
scope = ui.scope()
challenge = ui.challenge_or_welcome(db)
ui.flash()
st.title("For you")

view = ui.readable(db)
known_cycles = None if scope.is_contributor else ui.cycles(db, int(challenge["id"]))


def open_thread(topic: comments.Topic) -> None:
    """Go to the page where the thread stands, opened on its idea, cycle or chart."""
    if topic.about == "cycle":
        st.session_state["progress_cycle"] = topic.cycle_id
        st.session_state["cycles_tab"] = "Record Do, Study and Act"
        st.switch_page("app_pages/cycles.py")
    if topic.about == "chart":
        ui.open_chart(topic.measure_id, topic.organisation_id)
    if topic.about == "learning":
        st.session_state["learning_idea"] = topic.idea_id
        st.switch_page("app_pages/learning.py")
    st.session_state["idea_wanted"] = topic.idea_id
    st.switch_page("app_pages/ideas.py")


def listing(items, key: str, empty: str) -> None:
    if items.empty:
        st.caption(empty)
        return
    for row in items.to_dict("records"):
        where = comments.topic_label(row["topic"], view, known_cycles)
        with st.container(border=True):
            st.caption(ui.esc(f"{row['author']} {row['why']} · {where} · "
                              f"{row['written_at']:%d %b %Y %H:%M}"))
            (st.caption if row["withheld"] else st.markdown)(ui.esc(row["text"]))
            if st.button("Open the discussion", key=f"{key}_{row['id']}"):
                open_thread(row["topic"])


if scope.is_admin:
    st.header("Open questions")
    st.caption("Threads begun outside the lab team that no one in the lab has answered yet, "
               "the longest waiting first.")
    listing(comments.open_questions(db, scope).assign(why="asked"), "question",
            "None: every question has an answer from the lab.")

if scope.is_partner:  # the organisation's results due
    due = templates.entry_rows(db, scope, scope.organisation)
    late = int((due["due"] == "overdue").sum()) if len(due) else 0
    if late:
        st.warning(f"{late} result{'s are' if late != 1 else ' is'} overdue for "
                   f"{ui.esc(scope.organisation)}.", icon=":material/schedule:")
        st.page_link("app_pages/enter.py", label="Enter them", icon=":material/edit_note:")

decided = submissions.decided_since(db, scope, dt.datetime.now() - dt.timedelta(
    days=comments.FOR_YOU_DAYS))
if len(decided):
    st.header("Ideas you sent")
    for row in decided.to_dict("records"):
        with st.container(border=True):
            st.caption(ui.esc(f"The lab team decided on {row['decided_at']:%d %b %Y}"))
            st.markdown(ui.esc(f"{row['what_to_try'][:200]}: {row['status_words'].lower()}"
                               + (f" (now the idea '{row['idea_title']}')"
                                  if isinstance(row["idea_title"], str) else "")
                               + (f". Reason: {row['reason']}"
                                  if isinstance(row["reason"], str) and row["reason"] else "")))
    st.page_link("app_pages/ideas_sent_in.py", label="Every idea you sent")

st.header("Mentions, replies and discussions you joined")
st.caption(f"The last {comments.FOR_YOU_DAYS} days, newest first.")
listing(comments.for_you(db, scope), "mine",
        "Nothing yet. When someone mentions you (@" + ui.esc(scope.actor) + "), replies to "
        "you, or writes where you wrote, it is listed here.")

if scope.account_id is not None:
    st.header("Mail you receive")
    st.caption("Sent to the e-mail address of your account, when the lab admin has set mail "
               "up. Plain text and HTML; nothing in them reports back.")
    off = mail.opted_out(db, scope.account_id)
    for kind, words in mail.KINDS.items():
        if kind == "reminder" and not scope.is_partner:
            continue
        wanted = st.checkbox(words, value=kind not in off, key=f"mail_{kind}")
        if wanted != (kind not in off) and ui.run_write(
                lambda k=kind, w=wanted: mail.set_preference(db, scope, k, w),
                "Your mail choices are saved."):
            st.rerun()
