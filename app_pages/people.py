"""People: the participants of the challenge and its events. Names and e-mails are the lab
admin's only; a partner sees its own organisation's participants by name; everyone else sees
counts (the data layer enforces it)."""


import pandas as pd
import streamlit as st

from app import ui
from tracker import clock
from tracker.community import events, participants, people_import
from tracker.records import repo
from tracker.reports import charts

db = ui.get_db()
scope = ui.scope()
challenge = ui.challenge_or_welcome(db)
cid = challenge["id"]
ui.flash()
KINDS = participants.TAKING_PART

st.title("People")
st.caption("The people who take part in the challenge: patients and people with lived "
           "experience, carers, clinicians, peer supporters, charity and housing staff, "
           "commissioners, researchers, designers.")
counted = participants.counts(db, scope, cid)
c1, c2, c3 = st.columns(3)
c1.metric("Participants", int(counted["participants"].sum()), border=True)
c2.metric("New this month", int(counted["new_this_month"].sum()), border=True)
c3.metric("Without an organisation", int(counted["without_organisation"].sum()), border=True,
          help="Many patients and carers take part on their own account.")
if not counted.empty:
    left, right = st.columns([2, 3])
    with left:
        ui.table(pd.DataFrame({"Takes part as": counted["taking_part"].map(KINDS),
                               "Participants": counted["participants"],
                               "New this month": counted["new_this_month"]}),
                 hide_index=True, width="stretch")
    joined = events.community_over_time(db, cid)
    with right:
        ui.chart(charts.community_chart(joined, KINDS, width=520), width="content")

st.subheader("Events")
held = events.list_events(db, scope, cid)
if held.empty:
    st.write("No workshop or meeting recorded yet.")
else:
    shared = ui.readable(db)  # names as this user may read them
    phases = shared.phases.set_index("id")["name"]
    ui.table(pd.DataFrame({
        "Date": pd.to_datetime(held["on_date"]),
        "Event": [shared.audience.title(n, "an event", int(i))
                  for n, i in zip(held["name"], held["id"], strict=True)],
        "Phase": held["phase_id"].map(phases), "People who came": held["came"]}),
                 hide_index=True, width="stretch",
                 column_config={"Date": st.column_config.DateColumn(format="DD MMM YYYY")})

if scope.role == "viewer":
    st.caption("Viewers see participants as counts only: names and e-mails stay with the lab "
               "team.")
    st.stop()

people = participants.list_participants(db, scope, cid, include_retired=scope.is_admin)
st.subheader("Participants" if scope.is_admin else f"Participants of {ui.esc(scope.organisation)}")
if scope.is_partner:
    st.caption("Other organisations' participants are counted above, never named.")
if people.empty:
    st.write("No participant yet.")
else:
    table = {"Name": people["name"], "Takes part as": people["taking_part"].map(KINDS),
             "Organisation": people["organisation"].fillna("—"), "Region": people["region"]}
    if scope.is_admin:
        table |= {"E-mail": people["email"],
                  "May be contacted": people["may_contact"],
                  "May be named": people["may_name"],
                  "Ideas": people["idea_ids"].map(len),
                  "Cycles": people["cycle_ids"].map(len),
                  "Events": people["events"],
                  "Status": [("Erased" if pd.notna(e) else "Retired" if pd.notna(r)
                              else "Active") for e, r in zip(people["erased_at"],
                                                             people["retired_at"], strict=True)]}
    ui.table(pd.DataFrame(table), hide_index=True, width="stretch")
if not scope.is_admin:
    st.stop()

orgs = repo.list_organisations(db, scope, include_retired=False)
org_options = ui.options(orgs)
ideas = repo.list_ideas(db, cid)
idea_options = ui.options(ideas, "title")
all_cycles = repo.list_cycles(db, scope, cid)
cycle_options = {int(c.id): f"{c.idea} · {c.organisation} · cycle {c.cycle_no}"
                 for c in all_cycles.itertuples()}


def person_form(key: str, row=None, problems=()):
    """The fields of a participant; returns their values."""
    name = st.text_input("Name *", value="" if row is None else row["name"], key=f"{key}_name")
    ui.field_problem(problems, "Name")
    kinds = list(KINDS)
    taking_part = st.selectbox("Takes part as *", kinds, format_func=KINDS.get,
                               index=None if row is None else kinds.index(row["taking_part"]),
                               key=f"{key}_kind")
    ui.field_problem(problems, "How they take part")
    org_ids = [None, *org_options]
    current = None if row is None or pd.isna(row["organisation_id"]) else \
        int(row["organisation_id"])
    org = st.selectbox("Organisation", org_ids, key=f"{key}_org",
                       index=org_ids.index(current) if current in org_ids else 0,
                       format_func=lambda o: "None (takes part on their own account)"
                       if o is None else org_options[o])
    ui.field_problem(problems, "That organisation")
    region = st.text_input("Region", key=f"{key}_region",
                           value="" if row is None else (row["region"] or ""))
    email = st.text_input("E-mail", key=f"{key}_email",
                          value="" if row is None else (row["email"] or ""))
    ui.field_problem(problems, "E-mail")
    stored = clock.today() if row is None or pd.isna(row["joined_on"]) else \
        pd.Timestamp(row["joined_on"]).date()
    joined = st.date_input("Joined on", format="DD/MM/YYYY", key=f"{key}_joined", value=stored,
                           max_value=max(clock.today(), stored))  # later: a clock set back
    ui.field_problem(problems, "Joined on")
    linked = [] if row is None else [int(i) for i in row["idea_ids"] if int(i) in idea_options]
    chosen = st.multiselect("Ideas they are involved in", list(idea_options), default=linked,
                            format_func=idea_options.get, key=f"{key}_ideas")
    took_part = [] if row is None else [int(c) for c in row["cycle_ids"]
                                        if int(c) in cycle_options]
    cycles_chosen = st.multiselect("PDSA cycles they took part in", list(cycle_options),
                                   default=took_part, format_func=cycle_options.get,
                                   key=f"{key}_cycles")
    st.markdown("**Consent** (both off until the person agrees; each is recorded with who "
                "recorded it and when)")
    contact = st.checkbox(participants.CONSENTS["may_contact"], key=f"{key}_contact",
                          value=False if row is None else bool(row["may_contact"]))
    named = st.checkbox(participants.CONSENTS["may_name"], key=f"{key}_named",
                        value=False if row is None else bool(row["may_name"]))
    return {"name": name, "taking_part": taking_part, "organisation_id": org,
            "region": region, "email": email, "joined_on": joined, "idea_ids": chosen,
            "cycle_ids": cycles_chosen,
            "may_contact": contact, "may_name": named}


labels = {int(r.id): f"{r.name} ({KINDS[r.taking_part].lower()})" for r in people.itertuples()}
tab_add, tab_import, tab_edit, tab_event = st.tabs(
    ["Add a participant", "Import a list", "Edit, retire, export or erase", "Record an event"],
    key="people_tab")
with tab_add, st.form("add_person"):
    problems = ui.form_problems("add_person")
    values = person_form(f"add{st.session_state.get('person_round', 0)}", problems=problems)
    if st.form_submit_button("Add participant", type="primary") and ui.run_write(
            lambda: participants.add_participant(db, scope, cid, **values),
            "Participant added.", form="add_person"):
        st.session_state["person_round"] = st.session_state.get("person_round", 0) + 1
        st.rerun()

with tab_edit:
    if people.empty:
        st.write("Nobody to edit yet.")
    else:
        pid = st.selectbox("Participant", list(labels), format_func=labels.get, key="person")
        row = people.set_index("id").loc[pid]
        erased = pd.notna(row["erased_at"])
        if erased:
            st.info("This participant was erased on request: their name and e-mail are gone; "
                    "their links to ideas, cycles and events are kept, so counts stay true.")
        else:
            with st.form(f"edit_person_{pid}"):
                problems = ui.form_problems(f"edit_person_{pid}")
                values = person_form(f"edit{pid}", row, problems)
                for consent in ("may_contact", "may_name"):
                    by, at = row[f"{consent}_recorded_by"], row[f"{consent}_recorded_at"]
                    if isinstance(by, str):
                        st.caption(ui.esc(f"{participants.CONSENTS[consent]}: last recorded by "
                                          f"{by} on {ui.fmt_date(at)}."))
                if st.form_submit_button("Save changes", type="primary") and ui.run_write(
                        lambda: participants.update_participant(db, scope, pid, **values),
                        "Participant saved.", form=f"edit_person_{pid}"):
                    st.rerun()
            ui.retire_toggle(row["retired_at"], "participant",
                             lambda retire: participants.set_retired(db, scope, pid, retire),
                             "Retiring keeps the person's record and links; they leave the "
                             "lists of active participants. Nothing is deleted.")
            left, right = st.columns(2)
            with left:
                if st.button("Prepare this person's data (JSON)", key=f"export_{pid}",
                             help="Everything the tracker holds about them, for a subject "
                                  "access request. The export is written to the audit log."):
                    st.session_state["person_export"] = (
                        scope, pid, participants.export_one(db, scope, pid))
                ready = st.session_state.get("person_export")
                if ready and ready[0] == scope and ready[1] == pid:
                    st.download_button("Download their data (JSON)", ready[2].encode("utf-8"),
                                       file_name=f"participant-{pid}.json",
                                       mime="application/json", key=f"download_{pid}")
            with right:
                sure = st.checkbox("They asked to be erased: replace their name and e-mail "
                                   "with \"erased\" (cannot be undone)", key=f"erase_ok_{pid}")
                held: list = []
                if st.button("Erase their personal data", disabled=not sure,
                             key=f"erase_{pid}") and ui.run_write(
                        lambda: held.extend(participants.erase(db, scope, pid)),
                        "Participant erased."):
                    if held:  # the backups made before the erase still hold them, for a time
                        st.session_state["flash"] = (
                            f"Participant erased from the database. {len(held)} backup"
                            f"{'s' if len(held) != 1 else ''} made before today still hold "
                            "their name and e-mail; they are deleted as newer backups replace "
                            "them (after 14 daily backups unless TRACKER_BACKUP_KEEP says "
                            "otherwise). Admin → Backups lists them.")
                    st.rerun()

with tab_event, st.form(ui.form_key("add_event")):
    problems = ui.form_problems("add_event")
    name = st.text_input("Event *", placeholder="Co-design workshop: first contact")
    ui.field_problem(problems, "Event name")
    on = st.date_input("Date *", value=clock.today(), format="DD/MM/YYYY")
    phases = repo.list_phases(db, cid)
    phase_options = ui.options(phases)
    phase = st.selectbox("Phase", [None, *phase_options],
                         format_func=lambda p: "—" if p is None else phase_options[p])
    active = people[people["retired_at"].isna()] if not people.empty else people
    who = st.multiselect("Who came", active["id"].astype(int).tolist() if len(active) else [],
                         format_func=lambda p: labels.get(p, str(p)))
    if st.form_submit_button("Record the event", type="primary") and ui.run_write(
            lambda: events.add_event(db, scope, cid, on_date=on, name=name, phase_id=phase,
                                     participant_ids=who),
            "Event recorded.", form="add_event"):
        ui.form_saved("add_event")
        st.rerun()

with tab_import:
    st.caption("A CSV or Excel list, one person a row: name, taking part, organisation (blank "
               "for someone on their own account), region, email, joined on (YYYY-MM-DD or "
               "DD/MM/YYYY), may be contacted, may be named (yes / no). Every row is checked "
               "and shown before anything is stored; a list with a problem stores nothing.")
    st.download_button("Download an empty list (CSV)", key="people_template",
                       data=(b"name,taking part,organisation,region,email,joined on,"
                             b"may be contacted,may be named\n"),
                       file_name="participants.csv", mime="text/csv",
                       icon=":material/download:")
    upload = st.file_uploader("List of participants (CSV or Excel)", type=["csv", "xlsx"],
                              key=f"people_file_{st.session_state.get('people_round', 0)}")
    if upload is not None:
        data = upload.getvalue()
        report = people_import.check(db, scope, cid, data, upload.name)
        if not report.ok:
            ui.show_refused_list(report, upload.name)
        else:
            plan = report.plan
            st.info(f"Ready: {report.new} new participant{'s' if report.new != 1 else ''}"
                    + (f"; {report.unchanged} already stored (same e-mail), left as they are"
                       if report.unchanged else "") + ".")
            ui.table(pd.DataFrame({
                "Row": plan["row"], "Name": plan["name"],
                "Takes part as": plan["taking_part"].map(KINDS),
                "Organisation": plan["organisation"].fillna("—"), "E-mail": plan["email"],
                "Joined on": pd.to_datetime(plan["joined_on"]),
                "May be contacted": plan["may_contact"], "May be named": plan["may_name"],
                "Status": plan["status"]}), hide_index=True, width="stretch",
                column_config={"Joined on": st.column_config.DateColumn(format="DD MMM YYYY")})
            if report.new and st.button(f"Add {report.new} participants", type="primary",
                                        key="people_import"):
                done = people_import.commit(db, scope, cid, data, upload.name)
                if done.ok:
                    st.session_state["people_round"] = st.session_state.get("people_round",
                                                                            0) + 1
                    st.session_state["flash"] = f"{done.new} participants added from the list."
                    st.rerun()
                else:
                    ui.show_problems([str(p) for p in done.errors])
