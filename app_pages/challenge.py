"""Challenge: the question, aim, dates and phases; the driver diagram, drawn and edited."""

import datetime as dt

import pandas as pd
import streamlit as st

from app import ui
from tracker import vocab
from tracker.community import insights
from tracker.learning import syntheses
from tracker.records import observations, repo
from tracker.reports import charts

db = ui.get_db()
scope = ui.scope()
challenge = ui.challenge_or_welcome(db)
cid = challenge["id"]
ui.flash()

shared = ui.readable(db)  # every name and text as this user may read it
st.title("Challenge and driver diagram")
for label, key in (("Question", "question"), ("Aim", "aim")):
    if shared.challenge[key]:
        st.markdown(f"**{label}.** {ui.esc(shared.challenge[key])}")
st.caption(f"{ui.fmt_date(challenge['start_date'])} to {ui.fmt_date(challenge['end_date'])}")

# the lab admin edits retired drivers too; everyone else reads the diagram as drawn
drivers_all = repo.list_drivers(db, cid, include_retired=True) if scope.is_admin \
    else shared.drivers
drivers = drivers_all[drivers_all["retired_at"].isna()]
all_links = repo.list_driver_links(db, cid)
ideas = shared.ideas
idea_links = repo.list_idea_links(db, cid)
active_ids = set(drivers["id"])
links = all_links[all_links["primary_id"].isin(active_ids)
                  & all_links["secondary_id"].isin(active_ids)]
idea_links = idea_links[idea_links["driver_id"].isin(active_ids)]

st.subheader("Driver diagram")
if drivers.empty and ideas.empty:
    st.info("No drivers yet. Add the primary drivers (2 to 5 big areas that drive the aim) "
            "below, then the secondary drivers under them.")
else:
    # how many discovery insights stand behind each driver, in its box
    behind = insights.counts_by_driver(db, cid)
    counted = drivers.assign(name=[
        f"{n} ({behind[int(i)]} insight{'s' if behind[int(i)] != 1 else ''})"
        if behind.get(int(i)) else n for n, i in zip(drivers["name"], drivers["id"],
                                                     strict=True)])
    # Drawn at its own width: the boxes' text is wrapped for it.
    ui.chart(charts.driver_diagram(shared.challenge["aim"] or "The lab's aim", counted,
                                          links, ideas, idea_links), width="content")
    if behind:
        st.caption(f"{sum(behind.values())} links from discovery insights to drivers: the "
                   "number in a driver's box is how many insights stand behind it "
                   "(Discovery insights).")

measures = shared.measures[shared.measures["retired_at"].isna()]
measure_options = ui.options(measures)
primary = drivers[drivers["level"] == "primary"]
primary_options = ui.options(primary)

if not scope.is_admin:
    st.caption("Only the lab admin changes the challenge and its driver diagram.")
    st.stop()

tab_add, tab_edit, tab_challenge, tab_phases, tab_sharing, tab_new = st.tabs(
    ["Add a driver", "Edit or retire a driver", "Edit the challenge", "Phases", "Sharing",
     "Start a new challenge"])

with tab_add, st.form(ui.form_key("add_driver")):
    level = st.radio("Level", list(vocab.DRIVER_LEVELS), format_func=vocab.DRIVER_LEVELS.get,
                     horizontal=True, key="new_driver_level")
    name = st.text_input("Driver name", key="new_driver_name")
    description = st.text_area("Description (optional)")
    parents = st.multiselect("Serves these primary drivers (secondary drivers only)",
                             list(primary_options), format_func=primary_options.get)
    measure = st.selectbox("Measure for this driver (optional)", [None, *measure_options],
                           format_func=lambda m: "None" if m is None else measure_options[m])
    if st.form_submit_button("Add driver", type="primary") and ui.run_write(
            lambda: repo.add_driver(db, scope, cid, level=level, name=name,
                                    description=description, primary_ids=parents,
                                    measure_id=measure),
            f"Driver '{name.strip()}' added.",
            texts={"The driver's name": name, "Its description": description}):
        ui.form_saved("add_driver", "new_driver_level", "new_driver_name")
        st.rerun()

with tab_edit:
    if drivers_all.empty:
        st.write("No drivers to edit yet.")
    else:
        labels = {
            int(r.id): f"{vocab.DRIVER_LEVELS[r.level]}: {r.name}"
            + (" (retired)" if pd.notna(r.retired_at) else "")
            for r in drivers_all.itertuples()}
        chosen = st.selectbox("Driver", list(labels), format_func=labels.get)
        row = drivers_all.set_index("id").loc[chosen]
        current_parents = all_links.loc[all_links["secondary_id"] == chosen, "primary_id"].tolist()
        with st.form(f"edit_driver_{chosen}"):
            new_name = st.text_input("Driver name", value=row["name"])
            new_description = st.text_area("Description", value=row["description"] or "")
            new_parents = current_parents
            if row["level"] == "secondary":
                new_parents = st.multiselect(
                    "Serves these primary drivers", list(primary_options),
                    default=[p for p in current_parents if p in primary_options],
                    format_func=primary_options.get)
            measure_id = None if pd.isna(row["measure_id"]) else int(row["measure_id"])
            keys = [None, *measure_options]
            new_measure = st.selectbox(
                "Measure", keys, index=keys.index(measure_id) if measure_id in keys else 0,
                format_func=lambda m: "None" if m is None else measure_options[m])
            if st.form_submit_button("Save changes", type="primary") and ui.run_write(
                    lambda: repo.update_driver(db, scope, chosen, name=new_name,
                                               description=new_description,
                                               primary_ids=new_parents, measure_id=new_measure),
                    "Driver saved.", texts={"The driver's name": new_name,
                                            "Its description": new_description}):
                st.rerun()
        ui.retire_toggle(row["retired_at"], "driver",
                         lambda retire: repo.set_driver_retired(db, scope, chosen, retire),
                         "Retired drivers leave the diagram; their links and history are kept.")

with tab_challenge, st.form("edit_challenge"):
    title = st.text_input("Short title", value=challenge["title"])
    question = st.text_area("Challenge question", value=challenge["question"])
    aim = st.text_area("Aim (what, how much, for whom, by when)", value=challenge["aim"])
    start = st.date_input("Start date", value=challenge["start_date"], format="DD/MM/YYYY")
    end = st.date_input("End date", value=challenge["end_date"], format="DD/MM/YYYY")
    if st.form_submit_button("Save the challenge", type="primary") and ui.run_write(
            lambda: repo.update_challenge(db, scope, cid, title=title, question=question,
                                          aim=aim, start_date=start, end_date=end),
            "Challenge saved.", texts={"The title": title, "The question": question,
                                       "The aim": aim}):
        st.rerun()

with tab_phases:
    phases = shared.phases
    if phases.empty:
        st.write("No phases yet.")
    else:
        ui.table(pd.DataFrame({"Phase": phases["name"],
                                   "From": pd.to_datetime(phases["start_date"]),
                                   "To": pd.to_datetime(phases["end_date"])}),
                     hide_index=True, width="stretch",
                     column_config={"From": st.column_config.DateColumn(format="DD MMM YYYY"),
                                    "To": st.column_config.DateColumn(format="DD MMM YYYY")})
    with st.form(ui.form_key("add_phase")):
        st.write("Add a phase (for example discovery; developing and testing ideas; sharing).")
        phase_name = st.text_input("Phase name")
        p_start = st.date_input("From", value=challenge["start_date"], format="DD/MM/YYYY")
        p_end = st.date_input("To", value=min(challenge["end_date"],
                                              challenge["start_date"] + dt.timedelta(days=60)),
                              format="DD/MM/YYYY")
        if st.form_submit_button("Add phase") and ui.run_write(
                lambda: repo.add_phase(db, scope, cid, name=phase_name, start_date=p_start,
                                       end_date=p_end), "Phase added.",
                texts={"The phase's name": phase_name}):
            ui.form_saved("add_phase")
            st.rerun()
    if not phases.empty:
        phase_labels = ui.options(phases)
        gone = st.selectbox("Remove a phase", list(phase_labels), format_func=phase_labels.get)
        if st.button("Remove phase"):
            ui.run_write(lambda: repo.delete_phase(db, scope, gone), "Phase removed.")
            st.rerun()


with tab_sharing, st.form("sharing_rules"):
    st.write("Disclosure control: what may leave the lab team, in partners' views and the "
             "public learning report.")
    problems = ui.form_problems("sharing_rules")
    smallest = st.number_input(
        "Smallest count of people shown outside the lab", min_value=1, max_value=1000,
        step=1, value=syntheses.min_count(db, cid),
        help="Points of proportions, rates and counts of people based on fewer people are not "
             "shown to partners (for other organisations) or in the public report. NHS "
             "statistics suppress small numbers; the default is 5.")
    ui.field_problem(problems, "The smallest count", "Smallest count")
    fewest = st.number_input(
        "Fewest organisations in an unnamed aggregate", min_value=2, max_value=1000, step=1,
        value=observations.disclosure_threshold(db),
        help="A partner sees other organisations together as \"All other partners\" only "
             "when at least this many are in it; the default is 3.")
    ui.field_problem(problems, "The disclosure threshold", "Disclosure threshold")

    def save_rules():
        syntheses.set_min_count(db, scope, cid, smallest)
        repo.set_disclosure_threshold(db, scope, cid, fewest)

    if st.form_submit_button("Save sharing rules") and ui.run_write(
            save_rules, "Sharing rules saved.", form="sharing_rules"):
        st.rerun()

with tab_new:
    st.write("A lab takes a new challenge every 9 to 12 months. Starting one keeps this one, "
             "and every earlier one, readable: choose it in the sidebar. Organisations, "
             "measures, accounts and the partners' progress scores carry over; the new "
             "challenge has its own driver diagram, ideas, PDSA cycles, learning, people and "
             "events, and the results of its dates.")
    problems = ui.form_problems("new_challenge")
    with st.form("new_challenge"):
        new_title = st.text_input("Short title", key="new_challenge_title")
        ui.field_problem(problems, "Title")
        new_question = st.text_area("Challenge question", key="new_challenge_question")
        ui.field_problem(problems, "Challenge question")
        new_aim = st.text_area("Aim (what, how much, for whom, by when)",
                               key="new_challenge_aim")
        ui.field_problem(problems, "Aim")
        new_start = st.date_input("Start date", value=None, format="DD/MM/YYYY",
                                  key="new_challenge_start")
        ui.field_problem(problems, "Start date")
        new_end = st.date_input("End date", value=None, format="DD/MM/YYYY",
                                key="new_challenge_end")
        ui.field_problem(problems, "End date", "challenge")
        made = {}

        def start_new():
            made["id"] = repo.create_challenge(db, scope, title=new_title,
                                               question=new_question, aim=new_aim,
                                               start_date=new_start, end_date=new_end)

        if st.form_submit_button("Start the new challenge", type="primary") and ui.run_write(
                start_new, f"New challenge started: {new_title.strip()}.",
                form="new_challenge"):
            st.session_state[ui.CHALLENGE_KEY] = made["id"]
            st.rerun()
