"""A discussion thread on a page: the comments as the reader may read them (plain text,
escaped), replies under the comment they answer, and the form to add one. The rules (who
reads, mentions, the edit window, limits) are in tracker/community/comments.py."""

from __future__ import annotations

import streamlit as st

from app import ui
from tracker.community import comments
from tracker.community.comments import Topic
from tracker.errors import PermissionDenied

PREVIEW = 60  # characters of a comment named in "Reply to"


def _readers(topic: Topic, scope, org_label: str | None) -> str:
    if topic.about == "idea":
        return ("Read by everyone signed in to the lab. Other organisations see your "
                "organisation's name only if it agreed to be named.")
    if topic.about == "learning":
        return "Read by the lab team, leadership viewers and the organisations testing this idea."
    return f"Read by the lab team, leadership viewers and {org_label or 'the organisation'} only."


def _when(value) -> str:
    return value.strftime("%d %b %Y %H:%M") if hasattr(value, "strftime") else str(value)


def show(db, scope, topic: Topic, *, key: str, org_label: str | None = None,
         heading: str = "Discussion") -> None:
    """The thread of `topic`, and (for those who may write) the form to add to it."""
    try:
        shown = comments.thread(db, scope, topic)
    except PermissionDenied:
        return
    live = int((~shown["deleted"]).sum())
    st.subheader(f"{heading} ({live})" if live else heading)
    st.caption(_readers(topic, scope, org_label) + " Plain text; write @username to tell "
               "someone (they see it under For you).")
    for depth, row in comments.ordered(shown):
        holder = st.columns([1, 14])[1] if depth else st
        box = holder.container(border=True)
        said = f"{row['author']} · {_when(row['written_at'])}" + \
            (" · edited" if row["edited"] else "")
        box.caption(ui.esc(said))
        if row["deleted"] or row["withheld"]:
            box.caption(ui.esc(row["text"]))
        else:
            box.markdown(ui.esc(row["text"]))
        if row["may_edit"] or row["may_delete"]:
            _actions(db, scope, box, row, key)
    if not comments.may_write(db, scope, topic):
        return
    replies = {None: "Nothing: a new comment"} | {
        r["id"]: f"{r['author']}: {r['text'][:PREVIEW]}" for r in shown.to_dict("records")
        if not r["deleted"]}
    with st.form(ui.form_key(f"comment_{key}")):
        text = st.text_area("Add to the discussion", max_chars=comments.MAX_COMMENT,
                            placeholder="Ask, answer or share what you saw. @username tells "
                                        "someone.")
        reply_to = st.selectbox("In reply to", list(replies), format_func=replies.get)
        if st.form_submit_button("Post the comment") and ui.run_write(
                lambda: comments.post(db, scope, topic, text, reply_to=reply_to),
                "Comment posted."):
            ui.form_saved(f"comment_{key}")
            st.rerun()


def _actions(db, scope, box, row: dict, key: str) -> None:
    edit_col, delete_col, _ = box.columns([1, 1, 6])
    if row["may_edit"]:
        with edit_col.popover("Edit"), st.form(f"edit_comment_{key}_{row['id']}"):
            changed = st.text_area("Your comment", value=row["text"],
                                   max_chars=comments.MAX_COMMENT)
            st.caption(f"A comment can be edited for "
                       f"{int(comments.EDIT_WINDOW.total_seconds() // 60)} minutes.")
            if st.form_submit_button("Save the change") and ui.run_write(
                    lambda: comments.edit(db, scope, row["id"], changed), "Comment changed."):
                st.rerun()
    if row["may_delete"]:
        with delete_col.popover("Delete"):
            st.write("The text goes; a line saying a comment was deleted stays.")
            if st.button("Delete this comment", key=f"delete_comment_{key}_{row['id']}",
                         type="primary") and ui.run_write(
                    lambda: comments.delete(db, scope, row["id"]), "Comment deleted."):
                st.rerun()
