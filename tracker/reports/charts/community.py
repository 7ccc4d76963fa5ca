"""The community: partners' progress scores as a heat map, people over time, the collaboration map."""

from __future__ import annotations

import altair as alt
import pandas as pd

from tracker.reports.charts.style import FONT_SIZE, STATUS_COLOURS, _wrap, quick, style

# --------------------------------------------------------------------------- collaboration


@quick
def progress_heatmap(scores: pd.DataFrame, *, width: int = 900) -> alt.TopLevelMixin:
    """Each partner's IHI progress score month by month: a cell per organisation and month,
    darker for a higher score, with the score written in it."""
    data = pd.DataFrame({"organisation": scores["organisation"],
                         "month": pd.to_datetime(scores["month"]).dt.strftime("%Y-%m"),
                         "score": scores["score"].astype(float),
                         "comment": scores["comment"].fillna("")})
    months = sorted(data["month"].unique())
    base = alt.Chart(data).encode(
        x=alt.X("month:O", title="Month", sort=months, axis=alt.Axis(labelAngle=-45)),
        y=alt.Y("organisation:N", title=None, axis=alt.Axis(labelLimit=320)))
    cells = base.mark_rect(stroke="white").encode(
        color=alt.Color("score:Q", title="Progress score",
                        scale=alt.Scale(domain=[0.5, 5.0], scheme="blues")),
        tooltip=[alt.Tooltip("organisation:N", title="Organisation"),
                 alt.Tooltip("month:O", title="Month"),
                 alt.Tooltip("score:Q", title="Score", format=".1f"),
                 alt.Tooltip("comment:N", title="Comment")])
    text = base.mark_text(fontSize=FONT_SIZE - 1).encode(
        text=alt.Text("score:Q", format=".1f"),
        color=alt.condition("datum.score >= 3", alt.value("white"), alt.value("#212b32")))
    rows = max(data["organisation"].nunique(), 1)
    chart = alt.layer(cells, text).properties(
        width=width, height=min(28 * rows, 1400),
        # a row per organisation at its own height, the labels beside it (Streamlit would
        # otherwise fit the whole picture into the plot's size)
        autosize=alt.AutoSizeParams(type="pad", contains="padding"),
        title=alt.Title("IHI progress score by month",
                        subtitle="0.5 intent to participate … 2.5 changes tested, no "
                                 "improvement … 5.0 outstanding sustainable results"))
    return style(chart)


@quick
def community_chart(joined: pd.DataFrame, labels: dict, *, width: int = 900) -> alt.TopLevelMixin:
    """Participants who joined each month, stacked by how they take part."""
    data = joined.assign(month=pd.to_datetime(joined["month"]),
                         kind=joined["taking_part"].map(labels).fillna(joined["taking_part"]))
    return style(alt.Chart(data).mark_bar().encode(
        x=alt.X("yearmonth(month):T", title="Month joined"),
        y=alt.Y("joined:Q", title="Participants who joined", stack=True),
        color=alt.Color("kind:N", title="Takes part as"),
        tooltip=[alt.Tooltip("yearmonth(month):T", title="Month"),
                 alt.Tooltip("kind:N", title="Takes part as"),
                 alt.Tooltip("joined:Q", title="Joined")]).properties(
        width=width, height=260, title="The community over time"))


KIND_COLOURS = {"NHS trust": "#005eb8", "GP practice": "#41b6e6", "Charity": "#ae2573",
                "Housing association": "#ed8b00", "Community group": "#7c2855",
                "Local authority": "#8a1538", "Other": "#768692"}


@quick
def collaboration_map(nodes: pd.DataFrame, edges: pd.DataFrame, *, width: int = 900,
                      height: int = 620) -> alt.TopLevelMixin:
    """Organisations (circles, coloured by kind) joined to the ideas they test (squares,
    coloured by status), a line's width the cycles run; participants as small grey dots."""
    domain = [*KIND_COLOURS, *STATUS_COLOURS, "Participant"]
    colours = [*KIND_COLOURS.values(), *STATUS_COLOURS.values(), "#aeb7bd"]
    scale = alt.Scale(domain=domain, range=colours)
    axis_x = alt.X("x:Q", axis=None, scale=alt.Scale(zero=False, nice=False))
    axis_y = alt.Y("y:Q", axis=None, scale=alt.Scale(zero=False, nice=False))
    lines = alt.Chart(edges).mark_rule(color="#aeb7bd", opacity=0.7).encode(
        x=axis_x, y=axis_y, x2=alt.X2("x2"), y2=alt.Y2("y2"),
        strokeWidth=alt.StrokeWidth("weight:Q", title="Cycles run",
                                    scale=alt.Scale(range=[0.5, 6])),
        tooltip=[alt.Tooltip("weight:Q", title="Cycles (or a participant's link)")])
    shapes = {"Organisation": "circle", "Idea": "square", "Participant": "circle"}
    sizes = {"Organisation": 260, "Idea": 200, "Participant": 30}
    marks = []
    for group, frame in nodes.groupby("group", sort=False):
        marks.append(alt.Chart(frame).mark_point(
            shape=shapes[group], size=sizes[group], filled=True, opacity=0.95).encode(
            x=axis_x, y=axis_y,
            color=alt.Color("colour:N", title="Kind or status",
                            scale=scale),
            tooltip=[alt.Tooltip("group:N", title="Node"), alt.Tooltip("label:N", title="Name"),
                     alt.Tooltip("colour:N", title="Kind or status")]))
    labelled = nodes[nodes["group"] != "Participant"].assign(
        short=lambda f: f["label"].map(lambda t: _wrap(t, 30, 1)))
    marks.append(alt.Chart(labelled).mark_text(dy=-14, fontSize=11, color="#212b32").encode(
        x=axis_x, y=axis_y, text=alt.Text("short:N")))
    return style(alt.layer(lines, *marks).properties(
        width=width, height=height, title=alt.Title(
            "Who works with whom", subtitle="Circles: organisations · squares: change ideas · "
                                            "line width: PDSA cycles run")),
        orient="right")
