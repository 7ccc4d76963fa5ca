"""Audit log (lab admin): every change, who made it, when, before and after."""

import datetime as dt

import streamlit as st

from app import ui
from tracker import clock
from tracker.intake import export
from tracker.records import repo

db = ui.get_db()
scope = ui.scope()
st.title("Audit log")
ui.admin_only("reads the audit log")
st.caption("Every change is written here and nothing can edit or delete it.")

everything = repo.list_audit(db, scope, limit=None)
c1, c2, c3, c4 = st.columns(4)
actor = c1.selectbox("Who", [None, *sorted(everything["actor"].unique())],
                     format_func=lambda v: "Anyone" if v is None else v)
entity = c2.selectbox("What", [None, *sorted(everything["entity"].unique())],
                      format_func=lambda v: "Anything" if v is None else v)
action = c3.selectbox("Action", [None, *sorted(everything["action"].unique())],
                      format_func=lambda v: "Any" if v is None else v)
today = clock.today()
days = c4.date_input("Between", value=(today - dt.timedelta(days=30), today),
                     format="DD/MM/YYYY")
since = until = None
if isinstance(days, tuple) and len(days) == 2:
    since = dt.datetime.combine(days[0], dt.time())
    until = dt.datetime.combine(days[1] + dt.timedelta(days=1), dt.time())
log = repo.list_audit(db, scope, limit=None, actor=actor, entity=entity, action=action,
                      since=since, until=until)
st.caption(f"{len(log):,} entries.")
ui.table(log.head(2000), hide_index=True, width="stretch",
             column_config={"happened_at": st.column_config.DatetimeColumn(
                 "When", format="DD MMM YYYY HH:mm:ss")})
st.download_button("Export these entries (CSV)",
                   export.neutralise(log).to_csv(index=False).encode("utf-8"),
                   file_name=f"audit-{today:%Y-%m-%d}.csv", mime="text/csv")
