"""Test cycles: plan a PDSA cycle, move it through Do, Study and Act; timeline, filters, search."""

import datetime as dt

import pandas as pd
import streamlit as st

from app import discussion, files, ui
from tracker import clock, vocab
from tracker.community.comments import Topic
from tracker.errors import InputError
from tracker.records import repo
from tracker.records.cycles import MAX_SEARCH_CHARS
from tracker.reports import charts

db = ui.get_db()
scope = ui.scope()
challenge = ui.challenge_or_welcome(db)
cid = challenge["id"]
ui.flash()

st.title("Test cycles (PDSA)")
shared = ui.readable(db)  # every name and text as this user may read it
ideas = shared.ideas
orgs = repo.list_organisations(db, scope, include_retired=False)
measures = shared.measures[shared.measures["retired_at"].isna()]
idea_options, org_options = ui.options(ideas, "title"), ui.options(orgs)
measure_options = ui.options(measures)
ANY = None


def any_or(labels):
    return lambda v: "Any" if v is ANY else labels[v]


# ---------------------------------------------------------------- filters, timeline and table
f1, f2, f3, f4 = st.columns(4)
f_idea = f1.selectbox("Idea", [ANY, *idea_options], format_func=any_or(idea_options))
f_org = f2.selectbox("Organisation", [ANY, *org_options], format_func=any_or(org_options))
stage_labels = {k: v for k, v in vocab.STAGES.items() if k != "plan"}
f_stage = f3.selectbox("Stage", [ANY, *stage_labels], format_func=any_or(stage_labels))
f_decision = f4.selectbox("Decision", [ANY, *vocab.DECISIONS], format_func=any_or(vocab.DECISIONS))
search = st.text_input("Search all cycle notes", placeholder="e.g. volunteer, text reminder",
                       max_chars=MAX_SEARCH_CHARS)

try:
    cycles = ui.cycles(db, cid, idea_id=f_idea, organisation_id=f_org, stage=f_stage,
                       decision=f_decision, search=search)
    searched = True
except InputError as exc:  # a search too long to run
    st.error(ui.esc(exc))
    cycles = ui.cycles(db, cid, idea_id=f_idea, organisation_id=f_org, stage=f_stage,
                       decision=f_decision)
    searched = False
st.caption(f"{len(cycles)} cycle{'s' if len(cycles) != 1 else ''} match"
           + ("." if searched else " the filters; the search was not run."))
if not cycles.empty:
    with st.expander("Timeline of cycles by organisation", expanded=True):
        ui.chart(charts.cycle_timeline(cycles, lane="idea_short", group="organisation"),
                        width="content")
    listed = pd.DataFrame({
        "Idea": cycles["idea"], "Cycle": cycles["cycle_no"],
        "Organisation": cycles["organisation"], "Stage": cycles["stage"].map(vocab.STAGES),
        "Start": pd.to_datetime(cycles["start_date"]), "End": pd.to_datetime(cycles["end_date"]),
        "Decision": cycles["decision"].map(vocab.DECISIONS), "Scale": cycles["scale"],
        "Prediction": cycles["prediction"], "Measures": cycles["measures"]})
    ui.table(listed, hide_index=True, width="stretch",
                 column_config={"Start": st.column_config.DateColumn(format="DD MMM YYYY"),
                                "End": st.column_config.DateColumn(format="DD MMM YYYY")})
    ui.csv_download(listed, "cycles.csv")

if not scope.can_write:
    st.caption("Viewers see every cycle but change nothing.")
    st.stop()

# keyed, so a save (which reruns the page) keeps the tab and the cycle the person was on
tab_plan, tab_progress = st.tabs(["Plan a new cycle", "Record Do, Study and Act"],
                                 key="cycles_tab", on_change="rerun")

# ---------------------------------------------------------------- Plan
with tab_plan:
    if not idea_options or not org_options:
        st.info("Add at least one change idea and one organisation before planning a cycle.")
    else:
        c1, c2 = st.columns(2)
        idea_id = c1.selectbox("Change idea being tested", list(idea_options),
                               format_func=idea_options.get, key="plan_idea")
        org_id = c2.selectbox("Organisation where it runs", list(org_options),
                              format_func=org_options.get, key="plan_org")
        earlier = ui.cycles(db, cid, idea_id=idea_id)
        earlier_options = {int(r.id): f"Cycle {r.cycle_no} at {r.organisation} "
                                      f"({vocab.STAGES[r.stage]})" for r in earlier.itertuples()}
        here = earlier[earlier["organisation_id"] == org_id]
        # The ramp usually continues at the same organisation: suggest its latest cycle there.
        suggested = [None, *earlier_options].index(int(here["id"].iloc[-1])) if len(here) else 0
        with st.form(ui.form_key("plan_cycle")):
            builds_on = st.selectbox(
                "Builds on (the earlier cycle in this idea's ramp)", [None, *earlier_options],
                index=suggested,
                format_func=lambda v: "Nothing: this is a first test" if v is None
                else earlier_options[v])
            objective = st.text_area("Objective: what is this cycle for?")
            question = st.text_input("Question: if we do x, will y happen?")
            prediction = st.text_area(
                "Prediction (required): what do you expect to happen, with a number if you can?",
                help="Writing the prediction down before the test is what makes it a PDSA cycle: "
                     "at Study you compare what happened with it.")
            c3, c4 = st.columns(2)
            who = c3.text_input("Who will do it")
            where = c4.text_input("Where")
            scale = c3.text_input("Scale", placeholder="e.g. 5 people, one clinic session")
            data = c4.text_input("Data to collect")
            targets = st.multiselect("Measures it should move", list(measure_options),
                                     format_func=measure_options.get)
            today = clock.today()
            start = c3.date_input("Start date", value=today, format="DD/MM/YYYY")
            end = c4.date_input("Planned end date", value=today + dt.timedelta(days=13),
                                format="DD/MM/YYYY")
            def save_plan():
                # the new cycle is the one the Record tab opens on (its selector comes later
                # in this run, so its state may still be set here)
                st.session_state["progress_cycle"] = repo.plan_cycle(
                    db, scope, idea_id=idea_id, organisation_id=org_id, objective=objective,
                    question=question, prediction=prediction, start_date=start, end_date=end,
                    plan_who=who, plan_where=where, data_collection=data, scale=scale,
                    measure_ids=targets, builds_on_id=builds_on)

            if st.form_submit_button("Save the plan", type="primary") and ui.run_write(
                    save_plan,
                    "Cycle planned. Record what happened under 'Record Do, Study and Act'.",
                    texts={"The objective": objective, "The question": question,
                           "The prediction": prediction, "Who will do it": who,
                           "Where": where, "The scale": scale, "Data to collect": data}):
                ui.form_saved("plan_cycle")
                st.rerun()

# ---------------------------------------------------------------- Do, Study, Act
with tab_progress:
    every = ui.cycles(db, cid)
    open_first = every.assign(closed=every["stage"].eq("done")).sort_values(
        ["closed", "start_date", "id"], ascending=[True, False, False])
    if open_first.empty:
        st.write("No cycles yet.")
        st.stop()
    cycle_options = {int(r.id): f"{r.idea}: cycle {r.cycle_no} at {r.organisation} "
                                f"({vocab.STAGES[r.stage]})" for r in open_first.itertuples()}
    if st.session_state.get("progress_cycle") not in cycle_options:
        st.session_state.pop("progress_cycle", None)
    saved = st.session_state.get("next_step")
    if saved and saved[0] in cycle_options:
        # set again, so the browser redraws the cycle's label with its new stage (a selectbox
        # keeps showing the label it was chosen by, "(Do)", when only the label changes)
        st.session_state["progress_cycle"] = saved[0]
    cycle_id = st.selectbox("Cycle", list(cycle_options), format_func=cycle_options.get,
                            help="Open cycles come first.", key="progress_cycle")
    cycle = repo.get_cycle(db, scope, cycle_id)
    cycle["measures"] = every.set_index("id").loc[cycle_id, "measures"]  # names as read
    st.markdown(
        f"**Plan.** {ui.esc(cycle['objective'])}  \n**Question.** {ui.esc(cycle['question'])}"
        f"  \n**Prediction.** {ui.esc(cycle['prediction'])}  \n"
        f"**When.** {ui.fmt_date(cycle['start_date'])} to {ui.fmt_date(cycle['end_date'])}"
        + (f"  \n**Scale.** {ui.esc(cycle['scale'])}" if cycle["scale"] else "")
        + (f"  \n**Measures.** {ui.esc(cycle['measures'])}" if cycle["measures"] else ""))
    order = ["do", "study", "act"]
    reached = order if cycle["stage"] == "done" else order[: order.index(cycle["stage"]) + 1]
    pending = st.session_state.pop("next_step", None)  # after a save: the next stage
    if pending and pending[0] == cycle_id and pending[1] in reached:
        st.session_state[f"step_{cycle_id}"] = pending[1]
    step = st.radio("Record", reached, index=len(reached) - 1, horizontal=True,
                    format_func=vocab.STAGES.get, key=f"step_{cycle_id}")

    def text(value):
        return "" if value is None or pd.isna(value) else str(value)

    if step == "do":
        with st.form(f"do_{cycle_id}"):
            do_notes = st.text_area("What happened?", value=text(cycle["do_notes"]))
            planned = st.radio("Did it go as planned?", [True, False],
                               index=None if pd.isna(cycle["went_as_planned"])
                               else (0 if cycle["went_as_planned"] else 1),
                               format_func=lambda v: "Yes" if v else "No", horizontal=True)
            observations = st.text_area("Anything you noticed that was not planned?",
                                        value=text(cycle["observations"]))
            if st.form_submit_button("Save Do", type="primary") and ui.run_write(
                    lambda: repo.record_do(db, scope, cycle_id, do_notes=do_notes,
                                           went_as_planned=planned, observations=observations),
                    "Do recorded. Next: Study.",
                    texts={"What happened": do_notes, "What you noticed": observations}):
                st.session_state["next_step"] = (cycle_id, "study")
                st.rerun()
    elif step == "study":
        with st.form(f"study_{cycle_id}"):
            st.caption(f"Your prediction was: {ui.esc(cycle['prediction'])}")
            study = st.text_area("Results compared with the prediction",
                                 value=text(cycle["study_notes"]))
            learning = st.text_area("What did you learn?", value=text(cycle["learning"]))
            if st.form_submit_button("Save Study", type="primary") and ui.run_write(
                    lambda: repo.record_study(db, scope, cycle_id, study_notes=study,
                                              learning=learning),
                    "Study recorded. Next: Act.",
                    texts={"The results": study, "What you learned": learning}):
                st.session_state["next_step"] = (cycle_id, "act")
                st.rerun()
    else:
        with st.form(f"act_{cycle_id}"):
            choices = list(vocab.DECISIONS)
            decision = st.radio("Decision", choices, horizontal=True,
                                index=choices.index(cycle["decision"]) if cycle["decision"] in
                                choices else None, format_func=vocab.DECISIONS.get)
            next_steps = st.text_area("Next steps: what is the next cycle?",
                                      value=text(cycle["next_steps"]))
            end_date = st.date_input(
                "Actual end date", format="DD/MM/YYYY", max_value=clock.today(),
                value=min(cycle["end_date"], clock.today()) if cycle["stage"] == "done"
                else clock.today())
            if st.form_submit_button("Save Act", type="primary") and ui.run_write(
                    lambda: repo.record_act(db, scope, cycle_id, decision=decision,
                                            next_steps=next_steps, end_date=end_date),
                    "Act recorded: the cycle is complete.",
                    texts={"Next steps": next_steps}):
                st.session_state["next_step"] = (cycle_id, "act")
                st.rerun()

    st.divider()
    files.show(db, scope, Topic.cycle(db, cycle_id), key=f"cycle_{cycle_id}")
    discussion.show(db, scope, Topic.cycle(db, cycle_id), key=f"cycle_{cycle_id}",
                    org_label=cycle.get("organisation"))
