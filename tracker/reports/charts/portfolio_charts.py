"""The portfolio of ideas: ideas x organisations with their outcome, and each idea's reach."""

from __future__ import annotations

import altair as alt
import pandas as pd

from tracker import vocab
from tracker.reports.charts.cycles import DECISION_MARKS
from tracker.reports.charts.style import FONT_SIZE, quick, style

# --------------------------------------------------------------------------- portfolio

OUTCOME_COLOURS = {"Improvement seen": "#00b0f0", "Concern seen": "#e46c0a",
                   "No signal yet": "#c8cdd0", "Too few points to tell": "#eef1f2",
                   "No measure targeted": "#ffffff"}


@quick
def portfolio_matrix(pairs: pd.DataFrame, *, title: str = "",
                     cell: int = 64) -> alt.TopLevelMixin:
    """Ideas (rows) x organisations (columns): a cell where the idea was tested, coloured by
    what its targeted measures show after its first cycle there, and labelled with the number
    of cycles, the latest decision's mark (✓ adopt, ↻ adapt, ✗ abandon, … in progress) and
    the outcome's mark (▲ improvement, ▼ concern, – no signal, … too few points), so the
    colour is never the only cue."""
    data = pairs.copy()
    data["idea_short"] = data["idea"].map(lambda t: t if len(t) <= 48 else t[:47] + "…")
    data["label"] = (data["cycles"].astype(str) + " "
                     + data["latest_decision"].map(DECISION_MARKS).fillna("")
                     + " " + data["outcome"].map(vocab.OUTCOME_MARKS).fillna(""))
    legend = [f"{vocab.OUTCOME_MARKS[k]} {v}" for k, v in vocab.OUTCOMES.items()]
    data["legend"] = data["outcome"].map(vocab.OUTCOME_MARKS) + " " + data["outcome_words"]
    x = alt.X("organisation:N", title=None, sort="ascending",
              axis=alt.Axis(orient="top", labelAngle=-40, labelLimit=220, labelOverlap=False,
                            labelFontSize=FONT_SIZE - 1))
    y = alt.Y("idea_short:N", title=None, sort="ascending",
              axis=alt.Axis(labelLimit=340, labelFontSize=FONT_SIZE - 1))
    base = alt.Chart(data).encode(x=x, y=y)
    rects = base.mark_rect(stroke="#425563", strokeWidth=0.6).encode(
        color=alt.Color("legend:N", title="From the first cycle to 26 weeks after the last",
                        scale=alt.Scale(domain=legend,
                                        range=list(OUTCOME_COLOURS.values()))),
        tooltip=[alt.Tooltip("idea:N", title="Idea"),
                 alt.Tooltip("organisation:N", title="Organisation"),
                 alt.Tooltip("cycles:Q", title="Cycles run"),
                 alt.Tooltip("latest_decision:N", title="Latest decision"),
                 alt.Tooltip("first_start:T", title="First cycle", format="%d %b %Y"),
                 alt.Tooltip("outcome_words:N", title="Measures after it"),
                 alt.Tooltip("measures:N", title="Each measure")])
    text = base.mark_text(fontSize=FONT_SIZE - 1, color="#212b32").encode(text="label:N")
    chart = alt.layer(rects, text).properties(width=alt.Step(cell), height=alt.Step(34),
                                              title=title)
    return style(chart, orient="bottom", columns=3, labelLimit=300)


@quick
def idea_reach(summary: pd.DataFrame, *, width: int = 600) -> alt.TopLevelMixin:
    """Per idea: the organisations it was tested in (a light bar) and those where its measures
    improved after the first cycle (a dark bar inside it), with 'improved in M of N' written
    at the end, so the reading never depends on telling the two shades apart."""
    data = summary[summary["organisations"] > 0].copy()
    data["idea_short"] = data["idea"].map(lambda t: t if len(t) <= 48 else t[:47] + "…")
    data["label"] = ("improved in " + data["improved"].astype(str) + " of "
                     + data["organisations"].astype(str))
    order = data["idea_short"].tolist()
    y = alt.Y("idea_short:N", title=None, sort=order,
              axis=alt.Axis(labelLimit=340, labelFontSize=FONT_SIZE - 1))
    long = data.melt(["idea_short", "label"], ["organisations", "improved"],
                     var_name="what", value_name="count")
    long["what"] = long["what"].map({"organisations": "Organisations that tested it",
                                     "improved": "Improvement seen after testing"})
    bars = alt.Chart(long).mark_bar(height=16).encode(
        y=y, x=alt.X("count:Q", title="Organisations", axis=alt.Axis(tickMinStep=1),
                     stack=None),
        color=alt.Color("what:N", title=None, scale=alt.Scale(
            domain=["Organisations that tested it", "Improvement seen after testing"],
            range=["#c8cdd0", "#005eb8"])),
        tooltip=[alt.Tooltip("idea_short:N", title="Idea"), alt.Tooltip("what:N", title="What"),
                 alt.Tooltip("count:Q", title="Organisations")])
    labels = alt.Chart(data).mark_text(align="left", dx=5, fontSize=FONT_SIZE - 1).encode(
        y=y, x="organisations:Q", text="label:N")
    chart = alt.layer(bars, labels).properties(width=width, height=alt.Step(26))
    return style(chart, orient="top", direction="vertical", labelLimit=420)
