"""Outcomes: one measure at one organisation as an SPC chart, with its PDSA cycles."""


import pandas as pd
import streamlit as st

from app import discussion, ui
from tracker import clock, vocab
from tracker.community.comments import Topic
from tracker.records import observations, reader_view, repo
from tracker.reports import charts

db = ui.get_db()
scope = ui.scope()
challenge = ui.challenge_or_welcome(db)
ui.flash()
st.title("Outcomes")

shared = ui.readable(db)  # every name and text as this user may read it
measures = shared.measures[shared.measures["retired_at"].isna()]
orgs = repo.list_organisations(db, scope, include_retired=False)
if measures.empty or orgs.empty:
    st.info("Add measures and organisations, and upload results, to see charts here.")
    st.stop()
measure_options = {int(r.id): f"{r.name} ({r.measure_type})" for r in measures.itertuples()}
org_options = ui.options(orgs)
c1, c2 = st.columns(2)
for key, choices in (("outcome_measure", measure_options), ("outcome_org", org_options)):
    if st.session_state.get(key) not in choices:  # e.g. opened from the Summary
        st.session_state.pop(key, None)
measure_id = c1.selectbox("Measure", list(measure_options), format_func=measure_options.get,
                          key="outcome_measure")
org_id = c2.selectbox("Organisation", list(org_options), format_func=org_options.get,
                      key="outcome_org")
measure = measures.set_index("id").loc[measure_id]
kinds = {"value": "XmR chart", "proportion": "p chart", "rate": "u chart"}
c3, c4, c5, c6 = st.columns([3, 3, 2, 2])
run_only = c3.toggle("Run chart instead", help="Median and Anhøj's run rules, no limits.")
laney = c4.toggle("Laney adjustment (p′ / u′)", disabled=measure["data_kind"] == "value",
                  help="For large denominators, where ordinary p or u limits are too tight.")
start = challenge["start_date"]
period = c5.date_input("From", value=start, format="DD/MM/YYYY")
until = c6.date_input("To", value=max(clock.today(), period), format="DD/MM/YYYY")
if until < period:
    st.error("The 'To' date is before the 'From' date: choose a 'To' date on or after "
             f"{ui.fmt_date(period)}.")
    st.stop()


def in_period(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of the chosen period (limits are computed from these points only)."""
    periods = pd.to_datetime(frame["period"])
    return frame[(periods >= pd.Timestamp(period)) & (periods <= pd.Timestamp(until))]


results = observations.load_results(db, scope, measure_id=measure_id, organisation_ids=[org_id])
results = in_period(results)
if results.empty:
    st.info("No results for this measure and organisation in this period yet.")
    st.stop()
notes = reader_view.chart_notes(shared, observations.list_annotations(db, scope, measure_id,
                                                                   org_id))
phases = pd.to_datetime(notes.loc[notes["kind"] == "phase", "on_date"]).tolist()
frame = charts.outcome_frame(results, measure["data_kind"], improvement=measure["direction"],
                             phase_dates=phases, laney=laney, run_chart=run_only)
cycles = ui.cycles(db, challenge["id"], organisation_id=org_id, measure_id=measure_id)
cycles = cycles[(pd.to_datetime(cycles["end_date"]) >= pd.Timestamp(period))
                & (pd.to_datetime(cycles["start_date"]) <= pd.Timestamp(until))]
kind = "Run chart" if run_only else kinds[measure["data_kind"]] + ("′" if laney else "")
title = f"{measure['name']} — {org_options[org_id]}"
ui.chart(
    charts.spc_chart(frame, title=title, unit=measure["unit"], target=measure["target"],
                     cycles=cycles, notes=notes[notes["kind"] == "note"],
                     percent=measure["data_kind"] == "proportion"),
    width="content")
bands = ("Shaded bands are the PDSA cycles that ran here and target this measure."
         if not cycles.empty else "No PDSA cycle that targets this measure ran here in this "
         "period.")
st.caption(f"{kind}. {vocab.DIRECTIONS[measure['direction']]}. {bands} Gaps are periods with "
           "no result.")
if not cycles.empty:
    st.markdown(f"**PDSA cycles on this chart** ({len(cycles)}): the shaded bands, in words.")
    ui.table(pd.DataFrame({
        "On the chart": cycles["idea"].map(charts.cycle_keys(cycles))
        + cycles["cycle_no"].astype(str),
        "Idea": cycles["idea"], "Cycle": cycles["cycle_no"],
        "From": pd.to_datetime(cycles["start_date"]), "To": pd.to_datetime(cycles["end_date"]),
        "Prediction": cycles["prediction"],
        "Decision": cycles["decision"].map(vocab.DECISIONS).fillna("In progress")}),
        hide_index=True, width="stretch", key="chart_cycles",
        column_config={"From": st.column_config.DateColumn(format="DD MMM YYYY"),
                       "To": st.column_config.DateColumn(format="DD MMM YYYY"),
                       "Prediction": st.column_config.TextColumn(width="large")})
st.subheader("Signals")
now, earlier = charts.signals_in_time(frame)
if now:
    for sentence in now:
        st.markdown(f"- **Now:** {ui.esc(sentence)}")
else:
    st.write("Now: no special cause in the latest points; the variation is what this process "
             "usually shows.")
rebase_from = frame.attrs.get("rebase_from")
if rebase_from is not None and not run_only:
    st.info(f"The points since {ui.fmt_date(rebase_from)} sit on one side of the mean: the "
            "process has shifted, so these limits no longer describe it. When the change "
            "behind it is adopted, the lab team starts a new phase from that date and the "
            "limits are worked out again from the new points.")
    if scope.is_admin and st.button(f"Start a new phase from {ui.fmt_date(rebase_from)}"):
        ui.run_write(lambda: observations.add_annotation(
            db, scope, measure_id=measure_id, organisation_id=org_id,
            on_date=rebase_from.date(), kind="phase",
            text="New phase after a sustained shift"), "New phase started.")
        st.rerun()
if earlier:
    st.caption("Earlier signals (history):")
    for sentence in earlier:
        st.markdown(f"- {ui.esc(sentence)}")
if scope.can_write:
    what = "Add a note or a new phase to this chart" if scope.is_admin else \
        "Add a note to this chart"
    with st.expander(what), st.form("annotate"):
        kinds = ["note", "phase"] if scope.is_admin else ["note"]  # rebasing: lab team only
        kind_choice = st.radio("What", kinds, horizontal=True,
                               format_func={"note": "A note",
                                            "phase": "A new phase (limits recalculated from "
                                                     "this date, e.g. after adopting a change)"}
                               .get)
        on = st.date_input("Date", value=clock.today(), format="DD/MM/YYYY")
        text = st.text_input("Note", placeholder="Welcome call adopted as usual practice")
        if st.form_submit_button("Save", type="primary") and ui.run_write(
                lambda: observations.add_annotation(db, scope, measure_id=measure_id,
                                            organisation_id=org_id, on_date=on,
                                            kind=kind_choice, text=text),
                "Saved on the chart."):
            st.rerun()

if measure["data_kind"] == "proportion":
    st.subheader("Fair comparison across organisations")
    totals = observations.proportion_totals(db, scope, measure_id, since=period, until=until)
    if len(totals) >= 2:
        ui.chart(charts.funnel_chart(totals, title=f"{measure['name']}, "
                                                          f"{ui.fmt_date(period)} to "
                                                          f"{ui.fmt_date(until)}"),
                        width="content")
        st.caption("Each organisation's proportion against how many people it counted. "
                   "The funnel narrows as numbers grow: a small partner far from the line "
                   "may still be within what chance allows.")

discussion.show(db, scope, Topic.chart(measure_id, org_id), key=f"chart_{measure_id}_{org_id}",
                org_label=org_options[org_id], heading="Discussion of this chart")

st.subheader("Small multiples")
MAX_PANELS = 12
compare = st.radio("Compare", ["none", "orgs", "measures"], horizontal=True,
                   format_func={"none": "Nothing", "orgs": f"{ui.esc(measure['name'])} at other "
                                "organisations", "measures": f"Every measure at "
                                f"{ui.esc(org_options[org_id])}"}.get)
if compare == "orgs":
    others = [o for o in org_options if o != org_id]
    default = [org_id, *others[: MAX_PANELS - 1]]
    picked = st.multiselect("Organisations", list(org_options), default=default,
                            format_func=org_options.get, max_selections=24,
                            help="Up to 24 side by side; each chart has its own limits.")
    everyone = observations.load_results(db, scope, measure_id=measure_id, organisation_ids=picked)
    if scope.is_partner:  # the others as one unnamed series, never one by one
        everyone = pd.concat([everyone, observations.others_series(db, scope, measure_id)],
                             ignore_index=True)
    everyone = in_period(everyone)
    panels = [(name, charts.outcome_frame(group, measure["data_kind"],
                                          improvement=measure["direction"]))
              for name, group in everyone.groupby("organisation")]
    if panels:
        ui.chart(charts.small_multiples(panels, unit=measure["unit"], columns=2,
                                               percent=measure["data_kind"] == "proportion"),
                        width="content")
elif compare == "measures":
    mine = observations.load_results(db, scope, organisation_ids=[org_id])
    mine = in_period(mine)
    by_id = measures.set_index("id")
    panels = []
    for mid, group in mine.groupby("measure_id"):
        if mid not in by_id.index:
            continue  # a retired measure
        m = by_id.loc[mid]
        panels.append((m["name"], charts.outcome_frame(group, m["data_kind"],
                                                      improvement=m["direction"]),
                       m["unit"], m["data_kind"] == "proportion"))
    if panels:
        ui.chart(charts.small_multiples(panels, columns=2), width="content")
