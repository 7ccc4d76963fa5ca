"""Change ideas: the register, each idea's status and drivers, and its ramp of cycles."""

import pandas as pd
import streamlit as st

from app import discussion, files, learning_view, ui
from tracker import vocab
from tracker.community import submissions
from tracker.community.comments import Topic
from tracker.records import repo
from tracker.reports import charts
from tracker.text import shown

db = ui.get_db()
scope = ui.scope()
challenge = ui.challenge_or_welcome(db)
cid = challenge["id"]
ui.flash()

st.title("Change ideas")
shared = ui.readable(db)  # every name and text as this user may read it
ideas = shared.ideas
drivers = shared.drivers
driver_options = {int(r.id): f"{'Primary' if r.level == 'primary' else 'Secondary'}: {r.name}"
                  for r in drivers.itertuples()}
STATUS_CHOICES = [None, *vocab.IDEA_STATUSES]


def status_label(value):
    return "Follow its cycles (automatic)" if value is None else vocab.IDEA_STATUSES[value]


if ideas.empty:
    st.info("No change ideas yet. Add the first one below.")
else:
    ui.table(
        pd.DataFrame({
            "Idea": ideas["title"], "Status": ideas["status"].map(vocab.IDEA_STATUSES),
            "Cycles": ideas["cycles"], "Organisations": ideas["organisations"],
            "First cycle": pd.to_datetime(ideas["first_cycle"]),
            "Drivers": ideas["drivers"]}),
        hide_index=True, width="stretch",
        column_config={"First cycle": st.column_config.DateColumn(format="DD MMM YYYY")})
    st.caption("Status follows the idea's latest cycle (testing while a cycle is open, then its "
               "decision) unless the lab team sets it by hand.")

if scope.is_admin:
    adding = st.expander("Add a change idea", expanded=ideas.empty)
    with adding, st.form(ui.form_key("add_idea")):
        title = st.text_input("Idea", placeholder="Peer-led welcome call within a week of referral",
                              key="new_idea_title")
        description = st.text_area("Hypothesis (if we ..., then ...)")
        chosen_drivers = st.multiselect("Drivers it acts on", list(driver_options),
                                        format_func=driver_options.get)
        if st.form_submit_button("Add idea", type="primary") and ui.run_write(
                lambda: repo.add_idea(db, scope, cid, title=title, description=description,
                                      driver_ids=chosen_drivers),
                f"Idea '{title.strip()}' added.",
                texts={"The idea's title": title, "The hypothesis": description}):
            ui.form_saved("add_idea", "new_idea_title")
            st.rerun()

if ideas.empty:
    st.stop()

st.divider()
idea_options = ui.options(ideas, "title")
wanted = st.session_state.pop("idea_wanted", None)  # from For you
if wanted in idea_options:
    st.session_state["open_idea"] = wanted
idea_id = st.selectbox("Open an idea", list(idea_options), format_func=idea_options.get,
                       key="open_idea")
idea = ideas.set_index("id").loc[idea_id]
st.header(ui.esc(idea["title"]))
st.markdown(f"**Status:** {vocab.IDEA_STATUSES[idea['status']]}"
            + (" (set by hand)" if idea["status_set_by_hand"] else ""))
if shown(idea["description"]):
    st.markdown(ui.esc(idea["description"]))
st.markdown(f"**Drivers:** {ui.esc(idea['drivers']) or 'none linked yet'}")
origin = submissions.origins(db, [int(idea_id)]).get(int(idea_id))
if origin:
    st.caption(f"Sent in by {origin} (Ideas sent in).")

cycles = ui.cycles(db, cid, idea_id=int(idea_id))
st.subheader("Ramp of cycles")
elsewhere = int(idea["cycles"]) - len(cycles)  # a partner sees its own cycles by name
if scope.is_partner and elsewhere > 0:
    st.caption(f"{elsewhere} cycle{'s' if elsewhere != 1 else ''} of this idea ran at other "
               "organisations" + ("; yours are below." if len(cycles) else "."))
if cycles.empty:
    st.write("No cycles yet at " + ui.esc(scope.organisation) + "." if scope.is_partner
             else "No cycles yet.")
else:
    ui.chart(charts.cycle_timeline(cycles, lane="organisation"), width="content")
    ui.table(
        pd.DataFrame({
            "Cycle": cycles["cycle_no"], "Organisation": cycles["organisation"],
            "Scale": cycles["scale"], "Start": pd.to_datetime(cycles["start_date"]),
            "End": pd.to_datetime(cycles["end_date"]),
            "Stage": cycles["stage"].map(vocab.STAGES),
            "Decision": cycles["decision"].map(vocab.DECISIONS),
            "Prediction": cycles["prediction"], "Learning": cycles["learning"]}),
        hide_index=True, width="stretch",
        column_config={"Start": st.column_config.DateColumn(format="DD MMM YYYY"),
                       "End": st.column_config.DateColumn(format="DD MMM YYYY")})
if scope.can_write:
    st.page_link("app_pages/cycles.py", label="Log a cycle of this idea on the Test cycles page",
                 icon=":material/add:")
st.subheader("What we learned")
if scope.is_partner and cycles.empty:
    st.caption(f"The learning record of an idea is shared with the organisations that test it; "
               f"{ui.esc(scope.organisation)} has not tested this one.")
else:
    if st.toggle("Show the learning record of this idea here", key=f"record_{idea_id}"):
        with st.container(border=True):
            learning_view.show_record(db, scope, cid, int(idea_id), editable=False)
    if st.button("Open it in What we learned (to write the synthesis or share notes)"
                 if scope.is_admin else "Open it in What we learned"):
        st.session_state["learning_idea"] = int(idea_id)
        st.switch_page("app_pages/learning.py")

files.show(db, scope, Topic.idea(int(idea_id)), key=f"idea_{idea_id}")
discussion.show(db, scope, Topic.idea(int(idea_id)), key=f"idea_{idea_id}")

if not scope.is_admin:
    st.stop()

with st.expander("Edit this idea"), st.form(f"edit_idea_{idea_id}"):
    new_title = st.text_input("Idea", value=idea["title"])
    new_description = st.text_area("Hypothesis", value=idea["description"] or "")
    current = [int(d) for d in idea["driver_ids"]]
    new_drivers = st.multiselect("Drivers it acts on", list(driver_options),
                                 default=[d for d in current if d in driver_options],
                                 format_func=driver_options.get)
    override = idea["status"] if bool(idea["status_set_by_hand"]) else None
    new_status = st.selectbox("Status", STATUS_CHOICES, index=STATUS_CHOICES.index(override),
                              format_func=status_label)
    if st.form_submit_button("Save idea", type="primary") and ui.run_write(
            lambda: repo.update_idea(db, scope, int(idea_id), title=new_title,
                                     description=new_description, driver_ids=new_drivers,
                                     status_override=new_status),
            "Idea saved.", texts={"The idea's title": new_title,
                                  "The hypothesis": new_description}):
        st.rerun()
