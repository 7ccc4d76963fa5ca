"""A discussion thread on a page: the comments as the reader may read them (plain text,
escaped), replies under the comment they answer, and the form to add one. The rules (who
reads, mentions, the edit window, limits) are in tracker/community/comments.py."""

from __future__ import annotations

import html

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


def _thread_html(shown) -> str:
    """The whole thread as one block of HTML (every text escaped): one element for the
    page to send however long the discussion, with replies indented under what they
    answer."""
    parts = []
    for depth, row in comments.ordered(shown):
        box = ("border:1px solid rgba(49,51,63,0.2);border-radius:0.5rem;"
               f"padding:0.5rem 0.75rem;margin:0 0 0.5rem {'2.5rem' if depth else '0'}")
        said = f"{row['author']} · {_when(row['written_at'])}" + \
            (" · edited" if row["edited"] else "")
        quiet = "font-style:italic;color:#4a4a4a;" if row["deleted"] or row["withheld"] else ""
        text = html.escape(str(row["text"])).replace("\n", "<br>")
        parts.append(f'<article style="{box}"><p style="margin:0;font-size:0.85rem;'
                     f'color:#4a4a4a">{html.escape(said)}</p><p style="margin:0.25rem 0 0;'
                     f'{quiet}">{text}</p></article>')
    return "".join(parts)


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
    if len(shown):
        st.html(_thread_html(shown))
    mine = shown[shown["may_edit"] | shown["may_delete"]]
    if len(mine):
        _change(db, scope, mine, key)
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


def _change(db, scope, mine, key: str) -> None:
    """Edit (the writer, for 15 minutes) or delete (the writer, the lab admin) a comment:
    one control under the thread, not one per comment."""
    choices = {int(r["id"]): f"{r['author']}: {r['text'][:PREVIEW]}"
               for r in mine.to_dict("records")}
    with st.expander("Edit or delete a comment"):
        chosen = st.selectbox("Comment", list(choices), format_func=choices.get,
                              key=f"change_comment_{key}")
        row = mine.set_index("id").loc[chosen]
        with st.form(f"change_comment_{key}_{chosen}"):
            changed = st.text_area("Its text", value=row["text"], disabled=not row["may_edit"],
                                   max_chars=comments.MAX_COMMENT,
                                   help=f"A comment can be edited for "
                                        f"{int(comments.EDIT_WINDOW.total_seconds() // 60)} "
                                        "minutes after it is written.")
            left, right = st.columns(2)
            save = left.form_submit_button("Save the change", disabled=not row["may_edit"])
            delete = right.form_submit_button("Delete it", disabled=not row["may_delete"],
                                              help="The text goes; a line saying a comment "
                                                   "was deleted stays.")
            if save and ui.run_write(lambda: comments.edit(db, scope, chosen, changed),
                                     "Comment changed."):
                st.rerun()
            if delete and ui.run_write(lambda: comments.delete(db, scope, chosen),
                                       "Comment deleted."):
                st.rerun()
