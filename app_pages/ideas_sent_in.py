"""Ideas sent in: anyone signed in sends the lab team an idea and follows what became of
it; the lab admin accepts, merges, parks or declines each (tracker/community/submissions)."""

import pandas as pd
import streamlit as st

from app import ui
from tracker.community import submissions

db = ui.get_db()
scope = ui.scope()
challenge = ui.challenge_or_welcome(db)
cid = int(challenge["id"])
ui.flash()
st.title("Ideas sent in")
st.write("Seen something that could help more people get peer support? Send it to the lab "
         "team: they read every idea, and you will see here (and under For you) what they "
         "decided, and why.")

view = ui.readable(db)  # driver names as this person may read them
drivers = {int(d.id): d.name for d in view.drivers.itertuples() if pd.isna(d.retired_at)}
with st.form(ui.form_key("send_idea")):
    problem = st.text_area("The problem: what gets in the way today?",
                           max_chars=submissions.TEXT_LIMIT)
    who_for = st.text_input("Who is it for?", max_chars=submissions.TEXT_LIMIT,
                            placeholder="e.g. people newly diagnosed with diabetes")
    what_to_try = st.text_area("What to try", max_chars=submissions.TEXT_LIMIT)
    came_from = st.text_input("Where the idea came from (optional)",
                              max_chars=submissions.TEXT_LIMIT,
                              placeholder="e.g. a conversation at a peer group")
    driver = st.selectbox("The driver it might serve (optional)", [None, *drivers],
                          format_func=lambda d: "Not sure" if d is None else drivers[d])
    if st.form_submit_button("Send the idea", type="primary") and ui.run_write(
            lambda: submissions.send(db, scope, cid, problem=problem, who_for=who_for,
                                     what_to_try=what_to_try, came_from=came_from,
                                     driver_id=driver),
            "Idea sent to the lab team. You will see their decision here."):
        ui.form_saved("send_idea")
        st.rerun()

st.header("Ideas you sent")
sent = submissions.mine(db, scope, cid)
if sent.empty:
    st.caption("None yet.")
else:
    ui.table(pd.DataFrame({
        "Sent": pd.to_datetime(sent["sent_at"]), "What to try": sent["what_to_try"],
        "Status": sent["status_words"],
        "The lab team's reason": sent["reason"].fillna(""),
        "Now the idea": sent["idea_title"].fillna("")}),
        hide_index=True, width="stretch",
        column_config={"Sent": st.column_config.DateColumn(format="DD MMM YYYY")})

if not scope.is_admin:
    st.stop()

st.header("To decide (lab team)")
everything = submissions.every(db, scope, cid)
waiting = everything[everything["status"].isin(["sent", "parked"])]
if waiting.empty:
    st.caption("Nothing waiting: every idea sent in has a decision.")
ideas = ui.options(view.ideas, "title")
for row in waiting.to_dict("records"):
    with st.container(border=True):
        st.caption(ui.esc(f"Sent in by {row['sent_in_by']} ({row['sent_by']}) on "
                          f"{row['sent_at']:%d %b %Y}" + (" · parked" if row["status"] ==
                                                          "parked" else "")))
        for label, key in (("Problem", "problem"), ("For", "who_for"),
                           ("What to try", "what_to_try"), ("Came from", "came_from"),
                           ("Driver", "driver")):
            if isinstance(row[key], str) and row[key]:
                st.markdown(f"**{label}.** {ui.esc(row[key])}")
        with st.form(ui.form_key(f"triage_{row['id']}")):
            action = st.radio("Decision", list(submissions.ACTIONS), horizontal=True,
                              format_func=submissions.ACTIONS.get)
            title = st.text_input("Title of the new idea (to accept)",
                                  value=row["what_to_try"][:120])
            into = st.selectbox("The idea to merge it into (to merge)", [None, *ideas],
                                format_func=lambda i: "Choose an idea" if i is None
                                else ideas[i])
            reason = st.text_area("Reason (required to decline; the sender reads it)")
            if st.form_submit_button("Save the decision") and ui.run_write(
                    lambda r=row, a=action, t=title, i=into, why=reason: submissions.triage(
                        db, scope, r["id"], a, title=t, idea_id=i, reason=why),
                    "Decision saved: the sender sees it."):
                ui.form_saved(f"triage_{row['id']}")
                st.rerun()
decided = everything[~everything["status"].isin(["sent", "parked"])]
if len(decided):
    with st.expander(f"Decided ({len(decided)})"):
        ui.table(pd.DataFrame({
            "Sent": pd.to_datetime(decided["sent_at"]), "By": decided["sent_in_by"],
            "What to try": decided["what_to_try"], "Status": decided["status_words"],
            "Idea": decided["idea_title"].fillna(""), "Reason": decided["reason"].fillna("")}),
            hide_index=True, width="stretch",
            column_config={"Sent": st.column_config.DateColumn(format="DD MMM YYYY")})
