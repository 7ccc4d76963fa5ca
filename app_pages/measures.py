"""Measures: what is collected, with its operational definition. Add, edit, retire."""

import pandas as pd
import streamlit as st

from app import ui
from tracker import vocab
from tracker.records import repo

db = ui.get_db()
scope = ui.scope()
ui.flash()
st.title("Measures")
st.caption("IHI suggests 4 to 10 measures per project: outcome, process and balancing.")
shared = ui.readable(db)  # names as this user may read them (the lab admin: as written)
measures = repo.list_measures(db, include_retired=True) if shared is None else shared.measures

if measures.empty:
    st.info("No measures yet. Add the first one below.")
else:
    ui.table(
        pd.DataFrame({
            "Code": measures["code"], "Measure": measures["name"],
            "Type": measures["measure_type"].str.capitalize(),
            "Data": measures["data_kind"].map({"value": "Value", "proportion": "Proportion",
                                               "rate": "Rate"}),
            "Unit": measures["unit"], "Better when": measures["direction"].map(vocab.DIRECTIONS),
            "Target": measures["target"], "Frequency": measures["frequency"].map(vocab.FREQUENCIES),
            "Results": measures["results"],
            "Status": measures["retired_at"].isna().map({True: "Active", False: "Retired"}),
            "Definition": measures["definition"]}),
        hide_index=True, width="stretch")


def pick(label, choices: dict, key, current=None):
    keys = list(choices)
    return st.selectbox(label, keys, format_func=choices.get, key=key,
                        index=None if current is None else keys.index(current))


def measure_form(key: str, row=None, problems=()):
    def get(field, default=""):
        if row is None or row[field] is None or (not isinstance(row[field], str)
                                                 and pd.isna(row[field])):
            return default
        return row[field]

    c1, c2 = st.columns([1, 3])
    code = c1.text_input("Short code *", value=get("code"), key=f"{key}_code",
                         help="Letters and digits, no spaces: used in upload files.")
    name = c2.text_input("Name *", value=get("name"), key=f"{key}_name")
    with c1:
        ui.field_problem(problems, "Short code")
    with c2:
        ui.field_problem(problems, "Measure name")
    c3, c4, c5 = st.columns(3)
    mtype = pick("Type *", vocab.MEASURE_TYPES, f"{key}_type", get("measure_type", None))
    ui.field_problem(problems, "Type of measure")
    with c3:
        kind = pick("Kind of data *", vocab.DATA_KINDS, f"{key}_kind", get("data_kind", None))
        ui.field_problem(problems, "Kind of data")
    with c4:
        direction = pick("Improvement direction *", vocab.DIRECTIONS, f"{key}_dir",
                         get("direction", None))
        ui.field_problem(problems, "Improvement direction")
    with c5:
        frequency = pick("Frequency *", vocab.FREQUENCIES, f"{key}_freq",
                         get("frequency", "week"))
        ui.field_problem(problems, "Frequency")
    definition = st.text_area("Operational definition * (what is counted, inclusions, "
                              "exclusions, who collects it, how often)",
                              value=get("definition"), key=f"{key}_def")
    ui.field_problem(problems, "Operational definition")
    c6, c7 = st.columns(2)
    numerator = c6.text_input("Numerator (proportions and rates)", value=get("numerator"),
                              key=f"{key}_num")
    denominator = c7.text_input("Denominator (proportions and rates)", value=get("denominator"),
                                key=f"{key}_den")
    unit = c6.text_input("Unit *", value=get("unit"), key=f"{key}_unit",
                         placeholder="people per week, days, score")
    with c6:
        ui.field_problem(problems, "Numerator", "Proportion", "Rate", "Unit")
    target = c7.text_input("Target (optional; for a proportion 80% or 0.8)",
                           value="" if get("target", None) is None else f"{get('target'):g}",
                           key=f"{key}_target")
    with c7:
        ui.field_problem(problems, "Target", "The target")
    def shown(field):
        value = get(field, None)
        return "" if value is None else f"{value:g}"

    c8, c9 = st.columns(2)
    low = c8.text_input("Plausible range, lowest (optional)", value=shown("plausible_low"),
                        key=f"{key}_low", help="Results outside the range are flagged in the "
                        "upload preview and the entry grid, and stored only when confirmed.")
    high = c9.text_input("Plausible range, highest (optional)", value=shown("plausible_high"),
                         key=f"{key}_high", placeholder="e.g. 50 for a rate per 100 people")
    return {"code": code, "name": name, "measure_type": mtype, "data_kind": kind,
            "direction": direction, "frequency": frequency, "definition": definition,
            "numerator": numerator, "denominator": denominator, "unit": unit, "target": target,
            "plausible_low": low, "plausible_high": high}


if not scope.is_admin:
    st.stop()

tab_add, tab_edit = st.tabs(["Add a measure", "Edit or retire"], key="measures_tab")
# The form keeps what was typed when something is wrong (only the problem needs fixing);
# after a save, new widget keys give an empty form for the next measure.
with tab_add, st.form("add_measure"):
    problems = ui.form_problems("add_measure")
    values = measure_form(f"add{st.session_state.get('measure_round', 0)}", problems=problems)
    st.caption("\\* required")
    if st.form_submit_button("Add measure", type="primary") and ui.run_write(
            lambda: repo.add_measure(db, scope, **values),
            f"Measure '{values['name'].strip()}' added.", form="add_measure"):
        st.session_state["measure_round"] = st.session_state.get("measure_round", 0) + 1
        st.rerun()

with tab_edit:
    if measures.empty:
        st.write("Nothing to edit yet.")
    else:
        labels = {int(r.id): f"{r.code}: {r.name}" + (" (retired)" if pd.notna(r.retired_at)
                                                      else "") for r in measures.itertuples()}
        measure_id = st.selectbox("Measure", list(labels), format_func=labels.get)
        row = measures.set_index("id").loc[measure_id]
        with st.form(f"edit_measure_{measure_id}"):
            values = measure_form(f"edit{measure_id}", row)
            if st.form_submit_button("Save changes", type="primary") and ui.run_write(
                    lambda: repo.update_measure(db, scope, measure_id, **values),
                    "Measure saved."):
                st.rerun()
        ui.retire_toggle(row["retired_at"], "measure",
                         lambda retire: repo.set_measure_retired(db, scope, measure_id, retire),
                         "Retiring keeps every result of the measure; nothing is deleted.")
