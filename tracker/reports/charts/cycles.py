"""PDSA cycles over time: the timeline by organisation, cycle velocity, ideas by status."""

from __future__ import annotations

import altair as alt
import pandas as pd

from tracker import vocab
from tracker.reports.charts.style import DECISION_COLOURS, FONT_SIZE, STATUS_COLOURS, quick, style

# --------------------------------------------------------------------------- cycles


DECISION_MARKS = {"Adopt": "✓", "Adapt": "↻", "Abandon": "✗", "In progress": "…"}


def _cycle_frame(cycles: pd.DataFrame) -> pd.DataFrame:
    frame = cycles.copy()
    frame["outcome"] = frame["decision"].map(vocab.DECISIONS).fillna("In progress")
    frame["outcome_label"] = frame["outcome"] + " " + frame["outcome"].map(DECISION_MARKS)
    frame["stage_label"] = frame["stage"].map(vocab.STAGES)
    frame["label"] = "C" + frame["cycle_no"].astype(str) + frame["outcome"].map(DECISION_MARKS)
    frame["start"] = pd.to_datetime(frame["start_date"])
    frame["finish"] = pd.to_datetime(frame["end_date"]) + pd.Timedelta(days=1)
    frame["idea_short"] = frame["idea"].map(lambda t: t if len(t) <= 42 else t[:41] + "…")
    return frame


def _unpiled(frame: pd.DataFrame, lanes: list[str], pixels_per_day: float) -> list[str]:
    """The cycles' labels with those that would overlap the one before in their lane left
    out (about 6.5 px a character at 10 px type): short cycles close together piled their
    labels on top of each other. Every bar keeps its tooltip."""
    labels = frame["label"].astype(str).tolist()
    shown = [""] * len(frame)
    order = frame.assign(pos=range(len(frame))).sort_values([*lanes, "start"])
    ends: dict = {}
    for row in order.itertuples():
        key = tuple(getattr(row, c) for c in lanes)
        x = (row.start - frame["start"].min()).days * pixels_per_day
        if x >= ends.get(key, -1e9):
            shown[row.pos] = labels[row.pos]
            ends[key] = x + 6.5 * len(labels[row.pos]) + 4
    return shown


@quick
def cycle_timeline(cycles: pd.DataFrame, *, lane: str = "organisation", group: str | None = None,
                   title: str = "", width: int = 640) -> alt.TopLevelMixin:
    """Each cycle as a bar from its start to its end date, one lane per `lane` value
    (organisation, or idea_short), in one panel per `group` value when given. Bars are coloured
    by decision and labelled with the cycle number and a decision mark (✓ adopt, ↻ adapt,
    ✗ abandon, … in progress), so the colour is never the only cue."""
    frame = _cycle_frame(cycles)
    legend_order = [f"{k} {v}" for k, v in DECISION_MARKS.items()]
    first, last = frame["start"].min() - pd.Timedelta(days=7), \
        frame["finish"].max() + pd.Timedelta(days=14)
    frame["label"] = _unpiled(frame, [c for c in (group, lane) if c],
                              width / max((last - first).days, 1))
    base = alt.Chart(frame).encode(
        x=alt.X("start:T", title="Date the cycle ran", axis=alt.Axis(format="%d %b %Y"),
                scale=alt.Scale(domain=[first, last])),
        x2="finish:T",
        y=alt.Y(f"{lane}:N", title=None, sort="ascending",
                axis=alt.Axis(labelLimit=300, labelFontSize=FONT_SIZE - 1)))
    bars = base.mark_bar(height=14, cornerRadius=3, stroke="#212b32", strokeWidth=0.4).encode(
        color=alt.Color("outcome_label:N", title="Decision",
                        scale=alt.Scale(domain=legend_order, range=list(DECISION_COLOURS.values()))),
        tooltip=[alt.Tooltip("idea:N", title="Idea"),
                 alt.Tooltip("organisation:N", title="Organisation"),
                 alt.Tooltip("cycle_no:Q", title="Cycle"),
                 alt.Tooltip("scale:N", title="Scale"),
                 alt.Tooltip("start_date:T", title="Start", format="%d %b %Y"),
                 alt.Tooltip("end_date:T", title="End", format="%d %b %Y"),
                 alt.Tooltip("stage_label:N", title="Stage"),
                 alt.Tooltip("outcome:N", title="Decision"),
                 alt.Tooltip("prediction:N", title="Prediction")])
    text = base.mark_text(align="left", dx=1, dy=-12, fontSize=10, color="#212b32").encode(
        x="start:T", text="label:N")
    layered = alt.layer(bars, text).properties(width=width, height=alt.Step(34))
    if group:
        chart = layered.facet(
            row=alt.Row(f"{group}:N", title=None, header=alt.Header(
                labelAngle=0, labelAlign="left", labelAnchor="start", labelFontSize=FONT_SIZE,
                labelFontWeight="bold", labelOrient="top")),
            spacing=6).resolve_scale(y="independent")
    else:
        chart = layered
    chart = chart.properties(title=title) if title else chart
    return style(chart, orient="top")


def weekly_velocity(cycles: pd.DataFrame, start, end) -> pd.DataFrame:
    """Cycles started and completed in each week (Monday) from start to end."""
    weeks = pd.date_range(pd.Timestamp(start) - pd.Timedelta(days=pd.Timestamp(start).weekday()),
                          pd.Timestamp(end), freq="7D")
    out = pd.DataFrame({"week": weeks})
    if cycles.empty:
        out["Started"] = 0
        out["Completed"] = 0
        return out
    started = pd.to_datetime(cycles["start_date"]).dt.to_period("W-SUN").dt.start_time
    done = cycles["stage"] == "done"
    completed = pd.to_datetime(cycles.loc[done, "end_date"]).dt.to_period("W-SUN").dt.start_time
    out["Started"] = out["week"].map(started.value_counts()).fillna(0).astype(int)
    out["Completed"] = out["week"].map(completed.value_counts()).fillna(0).astype(int)
    return out


@quick
def velocity_chart(velocity: pd.DataFrame, width: int = 1000) -> alt.TopLevelMixin:
    """Cycles started and completed per week: two lines told apart by colour, dash and shape."""
    long = velocity.melt("week", var_name="What", value_name="Cycles")
    top = long["Cycles"].max()  # NaN when the challenge has not started yet
    order = ["Started", "Completed"]
    chart = alt.Chart(long).mark_line(point=alt.OverlayMarkDef(size=50, filled=True)).encode(
        x=alt.X("week:T", title="Week starting", axis=alt.Axis(format="%d %b %Y")),
        y=alt.Y("Cycles:Q", title="PDSA cycles in the week",
                axis=alt.Axis(tickMinStep=1, format="d"),  # counts: 0, 1, 2 (not 0.000000)
                scale=alt.Scale(domain=[0, 1 if pd.isna(top) else max(1, int(top))],
                                nice=True)),
        color=alt.Color("What:N", title=None, sort=order,
                        scale=alt.Scale(domain=order, range=["#41b6e6", "#003087"])),
        strokeDash=alt.StrokeDash("What:N", sort=order, title=None,
                                  scale=alt.Scale(domain=order, range=[[1, 0], [6, 3]])),
        shape=alt.Shape("What:N", sort=order, title=None,
                        scale=alt.Scale(domain=order, range=["circle", "square"])),
        tooltip=[alt.Tooltip("week:T", title="Week starting", format="%d %b %Y"), "What:N",
                 "Cycles:Q"],
    ).properties(width=width, height=220)
    return style(chart, orient="top")


@quick
def ideas_by_status(ideas: pd.DataFrame, width: int = 500) -> alt.TopLevelMixin:
    counts = ideas["status"].map(vocab.IDEA_STATUSES).value_counts()
    frame = pd.DataFrame({"Status": list(STATUS_COLOURS)})
    frame["Ideas"] = frame["Status"].map(counts).fillna(0).astype(int)
    base = alt.Chart(frame).encode(
        y=alt.Y("Status:N", sort=list(STATUS_COLOURS), title=None),
        # whole ideas on the axis, from 0 to at least 1 (no idea yet read "0.000000")
        x=alt.X("Ideas:Q", title="Number of change ideas",
                axis=alt.Axis(tickMinStep=1, format="d"),
                scale=alt.Scale(domain=[0, max(int(frame["Ideas"].max()), 1)], nice=True)))
    bars = base.mark_bar().encode(
        color=alt.Color("Status:N", legend=None, scale=alt.Scale(
            domain=list(STATUS_COLOURS), range=list(STATUS_COLOURS.values()))))
    labels = base.mark_text(align="left", dx=4, fontSize=FONT_SIZE).encode(text="Ideas:Q")
    return style(alt.layer(bars, labels).properties(width=width, height=200))
