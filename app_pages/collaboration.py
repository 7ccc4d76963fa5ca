"""Collaboration: who works with whom (a map of organisations and the ideas they test), the
cross-sector pairs, and, for the lab team, who should talk."""


import pandas as pd
import streamlit as st

from app import ui
from tracker import clock
from tracker.community import collaboration
from tracker.records import repo
from tracker.reports import charts

db = ui.get_db()
scope = ui.scope()
challenge = ui.challenge_or_welcome(db)
cid = challenge["id"]
ui.flash()

st.title("Collaboration")
st.caption("Charities, NHS services, housing and community groups testing the same ideas. "
           "Organisations appear by name where the reader may see them named.")
shared = ui.readable(db)  # every name as this user may read it
drivers = shared.drivers
driver_options = ui.options(drivers)
phases = shared.phases
phase_options = ui.options(phases)
f1, f2, f3 = st.columns(3)
driver_id = f1.selectbox("Driver", [None, *driver_options], key="collab_driver",
                         format_func=lambda d: "Every driver" if d is None else driver_options[d])
phase_id = f2.selectbox("Phase", [None, *phase_options], key="collab_phase",
                        format_func=lambda p: "Every phase" if p is None else phase_options[p])
dates = f3.date_input("Cycles between", value=(challenge["start_date"],
                                               min(clock.today(), challenge["end_date"])),
                      format="DD/MM/YYYY", key="collab_dates")
date_from, date_to = (dates + (None, None))[:2] if isinstance(dates, tuple) else (dates, None)
filters = {"driver_id": driver_id, "phase_id": phase_id, "date_from": date_from,
           "date_to": date_to}

@st.cache_data(show_spinner="Drawing who works with whom...", max_entries=16)
def gathered(path: str, who, challenge_id: int, version: int, chosen: tuple):
    """The map, the pairs and (for the lab admin) the suggestions, once per change of the
    data and per reader and filters."""
    database = ui._database(path)
    options = dict(chosen)
    return (collaboration.network(database, who, challenge_id, **options),
            collaboration.cross_sector_pairs(database, who, challenge_id, **options),
            collaboration.suggestions(database, who, challenge_id) if who.is_admin else None)


net, pairs, found = gathered(str(db.path), scope, cid, repo.data_version(db),
                             tuple(sorted(filters.items())))
if net.nodes.empty:
    st.info("No cycles within these filters, so nobody to draw.")
else:
    ui.chart(charts.collaboration_map(net.nodes, net.edges), width="content")
    st.caption(ui.esc(net.note))

st.subheader("Cross-sector pairs")
st.caption("Two organisations of different sectors (NHS, voluntary and community, housing, "
           "local authority) testing the same idea.")
if pairs.empty:
    st.write("No two organisations of different sectors test the same idea within these "
             "filters.")
else:
    table = pd.DataFrame({"Idea": pairs["idea"], "Organisation": pairs["first"],
                          "Sector": pairs["first_sector"], "With": pairs["second"],
                          "Its sector": pairs["second_sector"],
                          "What they did": pairs["together"],
                          "From": pd.to_datetime(pairs["from"]),
                          "To": pd.to_datetime(pairs["to"])})
    ui.table(table, hide_index=True, width="stretch",
                 column_config={"From": st.column_config.DateColumn(format="DD MMM YYYY"),
                                "To": st.column_config.DateColumn(format="DD MMM YYYY")})
    ui.csv_download(table, "cross-sector-pairs.csv")

if not scope.is_admin:
    st.stop()

st.subheader("Who should talk")
st.caption("Introductions the lab team can make, each with its reason. Contact details only "
           "where people at both organisations agreed to be contacted by other participants.")
SHOWN = 20  # suggestions on the page at once
show = st.segmented_control("Show", list(collaboration.STATUSES), default="open",
                            format_func=collaboration.STATUSES.get, key="collab_show")
found = found[found["status"] == (show or "open")]
if found.empty:
    st.write("No suggestion here.")
elif len(found) > SHOWN:
    st.caption(f"The first {SHOWN} of {len(found)}, introductions to an adopter first; mark "
               "them done or not useful to see the next.")
for row in found.head(SHOWN).itertuples():
    with st.container(border=True):
        st.markdown(f"**{ui.esc(row.kind)}.** {ui.esc(row.reason)}")
        st.caption(ui.esc(row.contacts))
        left, middle, _ = st.columns([1, 1, 4])
        choices = [(left, "done", "Done"), (middle, "not_useful", "Not useful")]
        if row.status != "open":
            choices = [(left, "open", "Open again")]
        for column, status, label in choices:
            if column.button(label, key=f"{status}_{row.key}") and ui.run_write(
                    lambda s=status, k=row.key: collaboration.mark_suggestion(db, scope, k, s),
                    "Suggestion marked."):
                st.rerun()
