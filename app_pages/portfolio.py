"""Portfolio of ideas: where each idea was tested, what was decided, and what its measures
showed afterwards; how fast the lab is testing."""


import pandas as pd
import streamlit as st

from app import ui
from tracker import clock
from tracker.analysis import portfolio
from tracker.reports import charts

MAX_COLUMNS = 12  # organisations in the matrix before it stops fitting the page

db = ui.get_db()
scope = ui.scope()
challenge = ui.challenge_or_welcome(db)
st.title("Portfolio of ideas")
st.caption("Each change idea at each organisation that tested it: the cycles run, the latest "
           "decision, and whether the measures the idea targets showed special cause "
           "improvement on their SPC chart from its first cycle there to 26 weeks after its "
           "last. Several ideas tested at one place at the same time can share an improvement: "
           "open the chart to see which cycles came before it.")

pairs = ui.portfolio_pairs(scope)
ideas = ui.readable(db).ideas  # titles as this user may read them
if pairs.empty:
    st.info("No PDSA cycles yet. Log cycles on **Test cycles (PDSA)** to see the portfolio.")
    st.stop()
per_idea = portfolio.idea_summary(pairs, ideas)
tested = per_idea[per_idea["organisations"] > 0]
m1, m2, m3, m4 = st.columns(4)
m1.metric("Ideas tested", f"{len(tested)} of {len(per_idea)}")
m2.metric("Organisations testing", f"{pairs['organisation_id'].nunique()}")
m3.metric("Idea × organisation tests", f"{len(pairs)}")
m4.metric("Tests followed by improvement", f"{int((pairs['outcome'] == 'improved').sum())}")

st.subheader("Reach of each idea")
ui.chart(charts.idea_reach(tested), width="content")

st.subheader("Ideas × organisations")
org_names = sorted(pairs["organisation"].unique())
c1, c2 = st.columns(2)
chosen_orgs = c1.multiselect(
    "Organisations", org_names, placeholder=(
        "All" if len(org_names) <= MAX_COLUMNS else
        f"The {MAX_COLUMNS} that ran most cycles"))
chosen_ideas = c2.multiselect("Ideas", sorted(pairs["idea"].unique()), placeholder="All")
of_ideas = pairs[pairs["idea"].isin(chosen_ideas)] if chosen_ideas else pairs
busiest = of_ideas.groupby("organisation")["cycles"].sum().nlargest(MAX_COLUMNS).index
shown = of_ideas[of_ideas["organisation"].isin(chosen_orgs or busiest)]
if len(chosen_orgs) > MAX_COLUMNS:
    st.warning(f"The matrix shows {MAX_COLUMNS} organisations at a time; the table below has "
               "them all.")
    shown = shown[shown["organisation"].isin(chosen_orgs[:MAX_COLUMNS])]
if shown.empty:
    st.info("No tests for this choice.")
else:
    testing = of_ideas["organisation"].nunique()
    if not chosen_orgs and testing > MAX_COLUMNS:
        st.caption(f"Showing the {MAX_COLUMNS} organisations that ran most cycles, of "
                   f"{testing}: choose organisations above to see others.")
    ui.chart(charts.portfolio_matrix(shown), width="content")
    st.caption("Each cell: cycles run, the latest decision (✓ adopt, ↻ adapt, ✗ abandon, "
               "… in progress) and what the targeted measures showed from the first cycle to "
               "26 weeks after the last (▲ improvement, ▼ concern, – no signal yet, … too few "
               "points). Empty: not tested there.")

st.subheader("Every test")
table = pairs if not (chosen_orgs or chosen_ideas) else pairs[
    (pairs["organisation"].isin(chosen_orgs) if chosen_orgs else True)
    & (pairs["idea"].isin(chosen_ideas) if chosen_ideas else True)]
table = table.reset_index(drop=True)
every_test = pd.DataFrame({
    "Idea": table["idea"], "Organisation": table["organisation"], "Cycles": table["cycles"],
    "Latest decision": table["latest_decision"],
    "First cycle": pd.to_datetime(table["first_start"]),
    "Measures after testing": table["outcome_words"], "Measures": table["measures"]})
picked = ui.table(
    every_test, hide_index=True, width="stretch", on_select="rerun", selection_mode="single-row",
    key="portfolio_table",
    column_config={"First cycle": st.column_config.DateColumn(format="DD MMM YYYY"),
                   "Measures": st.column_config.TextColumn(width="large")})
st.caption("Select a row to open the chart of the measure that shows it.")
ui.csv_download(every_test, "portfolio.csv")
rows = picked.selection.rows if picked is not None else []
if rows:
    row = table.iloc[rows[0]]
    if pd.notna(row["measure_id"]):
        ui.open_chart(row["measure_id"], row["organisation_id"])
    else:
        st.info("This test targets no measure, so there is no chart to open.")

st.subheader("Cycle velocity")
cycles = ui.cycles(db, challenge["id"])
today = clock.today()
velocity = charts.weekly_velocity(cycles, challenge["start_date"],
                                  min(today, challenge["end_date"]))
ui.chart(charts.velocity_chart(velocity), width="stretch")
st.caption("PDSA cycles started and completed each week over the challenge: a lab that keeps "
           "testing keeps both lines above zero.")
