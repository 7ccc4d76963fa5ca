"""Enter results: type a week's (or a month's) results into a grid in the browser.

For the partners who will not prepare a file. What is typed becomes a results file in the
template's layout and goes through exactly the checks, preview and commit of an upload (one
code path: tracker.ingest), and is stored as one batch that can be undone."""

import hashlib

import pandas as pd
import streamlit as st

from app import ui
from tracker import clock
from tracker.intake import ingest, templates
from tracker.records import repo

db = ui.get_db()
scope = ui.scope()
challenge = ui.challenge_or_welcome(db)
ui.flash()
st.title("Enter results")
if not scope.can_write:
    st.info("Viewers can see and export every result, but not enter them.")
    st.stop()
orgs = repo.list_organisations(db, scope, include_retired=False)
if orgs.empty:
    st.info("Add the partner organisations first (Set-up → Organisations).")
    st.stop()
org_options = ui.options(orgs)
if scope.is_partner:  # its own, said in words (a greyed-out chooser is hard to read)
    org_id = next(iter(org_options))
    st.markdown(f"**Organisation:** {ui.esc(org_options[org_id])}")
else:
    org_id = st.selectbox("Organisation", list(org_options), format_func=org_options.get,
                          key="enter_org")
org_name = org_options[org_id]

rows = templates.entry_rows(db, scope, org_name)
if rows.empty:
    st.success("Every result due is in: nothing to enter for now.")
    st.stop()
overdue = int((rows["due"] == "overdue").sum())
st.caption(f"The periods still due for each measure (the latest {8}), newest first. "
           + (f"{overdue} overdue (marked ⚠). " if overdue else "")
           + "Fill in what you have and leave the rest empty; nothing is stored until you "
           "check it and press Store. With a screen reader, or without a mouse, download this "
           "organisation's template on Upload results, fill it in, and upload it: the same "
           "checks, and the grid's rows as text below.")
# the rows name each measure, and say how to count it, as this user may read them (a
# stand-in where a name would name someone withheld); the upload's checks read them back
grid = pd.DataFrame({
    "Row": range(2, len(rows) + 2),
    "Due": rows["due"].map({"overdue": "⚠ overdue", "due": "due"}),
    "Measure": rows["measure"], "Period": pd.to_datetime(rows["period"]),
    "Last stored": rows["last"], "Value": pd.Series([None] * len(rows), dtype="Float64"),
    "Numerator": pd.Series([None] * len(rows), dtype="Float64"),
    "Denominator": pd.Series([None] * len(rows), dtype="Float64"),
    "How to fill in": rows[templates.HOW_TO],
    "Note": pd.Series([None] * len(rows), dtype="string")})
round_ = st.session_state.get("enter_round", 0)
edited = st.data_editor(
    grid, hide_index=True, width="stretch", key=f"enter_grid_{org_id}_{round_}",
    disabled=["Row", "Due", "Measure", "Period", "Last stored", "How to fill in"],
    height=min(38 + 35 * len(grid), 640), placeholder="",
    column_config={  # fixed widths: the columns to type in stay in view at 1,366 px
        "Row": st.column_config.NumberColumn(width=48),
        "Due": st.column_config.TextColumn(width=90),
        "Measure": st.column_config.TextColumn(width=260),
        "Period": st.column_config.DateColumn(format="DD MMM YYYY", width=105),
        "Last stored": st.column_config.TextColumn(width=150),
        "Value": st.column_config.NumberColumn(width=80, help="Single-value measures only"),
        "Numerator": st.column_config.NumberColumn(width=95, help="Proportions and rates"),
        "Denominator": st.column_config.NumberColumn(
            width=105, help="Proportions and rates: on the base 'How to fill in' names"),
        "How to fill in": st.column_config.TextColumn(width=420),
        "Note": st.column_config.TextColumn(width=200)})
ui.text_table(grid[["Row", "Due", "Measure", "Period", "Last stored", "How to fill in"]],
              "The rows to fill in, as text")

filled = edited[edited[["Value", "Numerator", "Denominator"]].notna().any(axis=1)]
if filled.empty:
    st.stop()
entered = pd.DataFrame({
    "organisation": org_name, "measure": rows["measure"].to_numpy(),
    "period": edited["Period"].dt.strftime("%Y-%m-%d"), "value": edited["Value"],
    "numerator": edited["Numerator"], "denominator": edited["Denominator"],
    "note": edited["Note"]})
data = templates.entered_csv(entered)
name = f"results entered in the browser on {clock.today():%d %b %Y}"
key = (hashlib.sha256(data).hexdigest(), org_name, repo.data_version(db), scope)
cached = st.session_state.get("enter_report")
if cached is not None and cached[0] == key:
    report = cached[1]
else:
    report = ingest.check(db, data, name, scope, organisation=org_name)
    st.session_state["enter_report"] = (key, report)
st.subheader(f"Check before storing: {len(filled)} row{'s' if len(filled) != 1 else ''} "
             "filled in")
if ui.preview_and_store(report, lambda progress, accept: ingest.commit(
        db, data, name, scope, organisation=org_name, progress=progress, source="form",
        accept_unusual=accept),
        key="enter", what="grid"):
    st.session_state["enter_round"] = round_ + 1  # an empty grid of what is still due
    st.session_state.pop("enter_report", None)
    st.rerun()
