"""Summary for leadership: every measure at every organisation, Making Data Count style."""

import pandas as pd
import streamlit as st

from app import ui
from tracker import vocab

db = ui.get_db()
scope = ui.scope()
challenge = ui.challenge_or_welcome(db)
st.title("Summary")
st.caption("The latest value of every measure at every organisation, with the Making Data Count "
           "icons: variation (is something unusual happening?) and assurance (will the target "
           "be met?). Select a row to open its chart.")

table = ui.summary_table(scope)
if table.empty:
    st.info("No results yet.")
    st.stop()
c1, c2, c3, c4 = st.columns([1, 2, 2, 2])
kinds = c1.multiselect("Type of measure", sorted(table["measure_type"].unique()),
                       format_func=str.capitalize, placeholder="All")
names = c2.multiselect("Measure", sorted(table["measure"].unique()), placeholder="All")
where = c3.multiselect("Organisation", sorted(table["organisation"].unique()),
                       placeholder="All")
focus = c4.radio("Show", ["All", "Improvement", "Concern"], horizontal=True)
filtered = table
if kinds:
    filtered = filtered[filtered["measure_type"].isin(kinds)]
if names:
    filtered = filtered[filtered["measure"].isin(names)]
if where:
    filtered = filtered[filtered["organisation"].isin(where)]
shown = filtered
if focus == "Improvement":
    shown = shown[shown["improving"]]
elif focus == "Concern":
    shown = shown[shown["concern"]]
shown = shown.reset_index(drop=True)

# the tiles count what the filters choose (the "Show" choice picks among these)
m1, m2, m3 = st.columns(3)
m1.metric("Measure × organisation series", f"{len(filtered):,}",
          help=None if len(filtered) == len(table) else f"of {len(table):,} in all")
m2.metric("Showing improvement now", f"{int(filtered['improving'].sum()):,}")
m3.metric("Showing concern now", f"{int(filtered['concern'].sum()):,}")


def latest(row) -> str:
    if row.percent:
        return f"{row.latest:.0%}"
    return f"{row.latest:,.3g} {vocab.unit_for(row.latest, row.unit)}"


target = [("" if pd.isna(r.target) else (f"{r.target:.0%}" if r.percent else f"{r.target:g}"))
          for r in shown.itertuples()]
signal = ["Now: " + now if now else ("Earlier: " + then if then else "")
          for now, then in zip(shown["signal_now"], shown["signal_earlier"], strict=True)]
view = pd.DataFrame({
    "Measure": shown["measure"], "Organisation": shown["organisation"],
    "Latest": [latest(r) for r in shown.itertuples()],
    "Period": pd.to_datetime(shown["latest_period"]), "Target": target,
    # categoricals travel as Arrow dictionaries: a few distinct icons, not 5,000 copies
    "Variation": shown["variation_icon"].astype("category"),
    "Assurance": shown["assurance_icon"].astype("category"),
    "In words": (shown["variation"] + " · " + shown["assurance"]).astype("category"),
    "Signal": signal})
# Fixed widths that fit a 1,366-pixel screen beside the menu; a cell's whole text shows on
# hover, and the CSV below has every word.
picked = ui.table(
    view, hide_index=True, width="stretch", on_select="rerun", selection_mode="single-row",
    key="summary_table", height=min(38 + 35 * max(len(view), 1), 760),  # rows, not a slit
    column_config={
        "Measure": st.column_config.TextColumn(width=170),
        "Organisation": st.column_config.TextColumn(width=150),
        "Latest": st.column_config.TextColumn(width=92),
        "Period": st.column_config.DateColumn(format="DD MMM YY", width=78),
        "Target": st.column_config.TextColumn(width=52),
        "Variation": st.column_config.ImageColumn("V", width=34,
                                                  help="Variation (the latest point)"),
        "Assurance": st.column_config.ImageColumn("A", width=34,
                                                  help="Assurance (against the target)"),
        "In words": st.column_config.TextColumn(width=130),
        "Signal": st.column_config.TextColumn(width=140)})
ui.csv_download(pd.DataFrame({
    "measure": shown["measure"], "organisation": shown["organisation"],
    "latest": view["Latest"], "period": view["Period"].dt.date, "target": target,
    "variation": shown["variation"], "assurance": shown["assurance"],
    "signal_now": shown["signal_now"], "earlier_signal": shown["signal_earlier"]}),
    "summary.csv")
rows = picked.selection.rows if picked is not None else []
if rows:
    row = shown.iloc[rows[0]]
    ui.open_chart(row["measure_id"], row["organisation_id"])
st.caption("Icons: ~ common cause; H / L high or low (blue improvement, orange concern, purple "
           "when no direction is set); P passes, F fails, ? hit and miss; – too few points "
           "(fewer than 13) or no target.")
