"""Chart builders: pure functions from DataFrames to Altair charts.

Pages only place these charts; the review pack renders the same objects. Every chart names its
axes and units, and every colour is backed by text or shape, so it reads on a projector and for
people who cannot tell the colours apart.
"""

from __future__ import annotations

import textwrap

import altair as alt
import numpy as np
import pandas as pd

from tracker import vocab

FONT_SIZE = 13
DECISION_COLOURS = {
    "Adopt": "#007f3b",
    "Adapt": "#ffb81c",
    "Abandon": "#d5281b",
    "In progress": "#768692",
}
STATUS_COLOURS = {
    "Proposed": "#aeb7bd",
    "Testing": "#330072",  # NHS purple: not the secondary drivers' blue
    "Adopted": "#007f3b",
    "Adapted": "#ffb81c",
    "Abandoned": "#d5281b",
}
LINE = 15 / 64  # a line of diagram text, in rows of the diagram
LEVEL_COLOURS = {"Aim": "#003087", "Primary driver": "#005eb8", "Secondary driver": "#41b6e6"}


def style(chart: alt.TopLevelMixin, **legend) -> alt.TopLevelMixin:
    """Projector-friendly type sizes; `legend` adds legend settings such as orient.

    One Config set on a shallow copy: each `configure_*` call deep-copies the chart, data
    included, which cost a review pack a tenth of a second per chart."""
    styled = chart.copy(deep=False)
    styled.config = alt.Config(
        axis=alt.AxisConfig(labelFontSize=FONT_SIZE, titleFontSize=FONT_SIZE + 1),
        legend=alt.LegendConfig(labelFontSize=FONT_SIZE, titleFontSize=FONT_SIZE, **legend),
        title=alt.TitleConfig(fontSize=FONT_SIZE + 3, subtitleFontSize=FONT_SIZE - 1,
                              anchor="start"),
        view=alt.ViewConfig(strokeWidth=0))
    return styled


def _wrap(text: str, width: int, lines: int = 3) -> str:
    wrapped = textwrap.wrap(str(text), width=width)
    if len(wrapped) > lines:
        wrapped = wrapped[:lines]
        wrapped[-1] = wrapped[-1][: width - 1].rstrip() + "…"
    return "\n".join(wrapped) or " "


# --------------------------------------------------------------------------- driver diagram


def driver_layout(aim: str, drivers: pd.DataFrame, links: pd.DataFrame, ideas: pd.DataFrame,
                  idea_links: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Place the boxes of a driver diagram in four columns (aim, primary, secondary, ideas)
    and list the lines between them. Returns (nodes, edges).

    Secondary drivers sit in the order of the first primary they serve, ideas in the order of
    their first driver, so most lines run across rather than up and down.
    """
    primary = drivers[drivers["level"] == "primary"].reset_index(drop=True)
    secondary = drivers[drivers["level"] == "secondary"].copy()
    p_rank = {pid: i for i, pid in enumerate(primary["id"])}
    first_parent = links.groupby("secondary_id")["primary_id"].agg(
        lambda s: min(p_rank.get(p, 99) for p in s)) if len(links) else pd.Series(dtype=float)
    secondary["order"] = secondary["id"].map(first_parent).fillna(99)
    secondary = secondary.sort_values(["order", "position", "id"]).reset_index(drop=True)
    d_rank = {did: i for i, did in enumerate(secondary["id"])}
    d_rank.update({did: -1 + i / 100 for i, did in enumerate(primary["id"])})
    ideas = ideas.copy()
    first_driver = idea_links.groupby("idea_id")["driver_id"].agg(
        lambda s: min(d_rank.get(d, 99) for d in s)) if len(idea_links) else pd.Series(dtype=float)
    ideas["order"] = ideas["id"].map(first_driver).fillna(99)
    ideas = ideas.sort_values(["order", "id"]).reset_index(drop=True)

    columns = [
        pd.DataFrame({"key": ["aim"], "label": [aim], "level": ["Aim"], "status": [""]}),
        pd.DataFrame({"key": "d" + primary["id"].astype(str), "label": primary["name"],
                      "level": "Primary driver", "status": ""}),
        pd.DataFrame({"key": "d" + secondary["id"].astype(str), "label": secondary["name"],
                      "level": "Secondary driver", "status": ""}),
        pd.DataFrame({"key": "i" + ideas["id"].astype(str), "label": ideas["title"],
                      "level": "Change idea",
                      "status": ideas["status"].map(vocab.IDEA_STATUSES).fillna("")}),
    ]
    rows = max(len(c) for c in columns) or 1
    placed = []
    for col, frame in enumerate(columns):
        n = len(frame)
        if not n:
            continue
        frame = frame.copy()
        step = rows / n
        centre = step * (np.arange(n) + 0.5)
        frame["col"] = col
        frame["x0"], frame["x1"] = col + 0.04, col + 0.9
        # One row of the diagram is 64 px; a 15 px line of text needs 0.234 of a row.
        frame["text"] = [
            _wrap(label, 30, lines=30 if col == 0 else (2 if status else 3))  # the aim whole
            + (f"\n[{status}]" if status else "")
            for label, status in zip(frame["label"], frame["status"], strict=True)]
        lines = frame["text"].str.count("\n").to_numpy() + 1
        half = np.minimum(lines * LINE / 2 + 0.08, step * 0.46)
        frame["y0"], frame["y1"], frame["yc"] = centre - half, centre + half, centre
        frame["ytext"] = centre - lines * LINE / 2
        placed.append(frame)
    nodes = pd.concat(placed, ignore_index=True)
    nodes["rows"] = rows
    where = nodes.set_index("key")[["x0", "x1", "yc"]]

    edges = [("aim", "d" + str(pid)) for pid in primary["id"]]
    edges += [("d" + str(r.primary_id), "d" + str(r.secondary_id)) for r in links.itertuples()]
    edges += [("d" + str(r.driver_id), "i" + str(r.idea_id)) for r in idea_links.itertuples()]
    edges = [(a, b) for a, b in edges if a in where.index and b in where.index]
    edge_frame = pd.DataFrame({
        "x": [where.at[a, "x1"] for a, _ in edges], "y": [where.at[a, "yc"] for a, _ in edges],
        "x2": [where.at[b, "x0"] for _, b in edges], "y2": [where.at[b, "yc"] for _, b in edges],
    })
    return nodes, edge_frame


def driver_diagram(aim: str, drivers: pd.DataFrame, links: pd.DataFrame, ideas: pd.DataFrame,
                   idea_links: pd.DataFrame, width: int = 1000) -> alt.TopLevelMixin:
    """The driver diagram as a picture: aim → primary → secondary drivers → change ideas."""
    nodes, edges = driver_layout(aim, drivers, links, ideas, idea_links)
    rows = int(nodes["rows"].iloc[0])
    x = alt.X("x0:Q", axis=None, scale=alt.Scale(domain=[0, 4]))
    y_scale = alt.Scale(domain=[0, rows], reverse=True)
    colour_domain = [*LEVEL_COLOURS, *STATUS_COLOURS]
    colour_range = [*LEVEL_COLOURS.values(), *STATUS_COLOURS.values()]
    nodes["fill"] = np.where(nodes["level"] == "Change idea", nodes["status"], nodes["level"])
    boxes = alt.Chart(nodes).mark_rect(cornerRadius=4, stroke="#425563", strokeWidth=0.6).encode(
        x=x, x2="x1:Q", y=alt.Y("y0:Q", axis=None, scale=y_scale), y2="y1:Q",
        color=alt.Color("fill:N", title="Colour key", scale=alt.Scale(domain=colour_domain,
                                                                range=colour_range)),
        tooltip=[alt.Tooltip("level:N", title="Level"), alt.Tooltip("label:N", title="Name"),
                 alt.Tooltip("status:N", title="Status")],
    )
    text_colour = alt.condition(
        alt.FieldOneOfPredicate("fill", ["Aim", "Primary driver", "Testing", "Adopted",
                                         "Abandoned"]),
        alt.value("white"), alt.value("#212b32"))
    labels = alt.Chart(nodes).mark_text(align="left", baseline="top", dx=6, lineBreak="\n",
                                        fontSize=12, lineHeight=15).encode(
        x=x, y=alt.Y("ytext:Q", scale=y_scale, axis=None), text="text:N", color=text_colour)
    lines = alt.Chart(edges).mark_rule(color="#768692", strokeWidth=1.2).encode(
        x=alt.X("x:Q", scale=alt.Scale(domain=[0, 4]), axis=None),
        y=alt.Y("y:Q", scale=y_scale, axis=None), x2="x2:Q", y2="y2:Q")
    headers = pd.DataFrame({"x0": [0.04, 1.04, 2.04, 3.04],
                            "label": ["Aim", "Primary drivers", "Secondary drivers",
                                      "Change ideas"]})
    head = alt.Chart(headers).mark_text(align="left", fontSize=14, fontWeight="bold",
                                        dy=-8).encode(x=x, text="label:N", y=alt.value(0))
    chart = alt.layer(lines, boxes, labels, head).properties(
        width=width, height=max(240, rows * 64), padding={"top": 24, "left": 5, "right": 5,
                                                           "bottom": 5})
    return style(chart, orient="bottom", columns=4)


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


def ideas_by_status(ideas: pd.DataFrame, width: int = 500) -> alt.TopLevelMixin:
    counts = ideas["status"].map(vocab.IDEA_STATUSES).value_counts()
    frame = pd.DataFrame({"Status": list(STATUS_COLOURS)})
    frame["Ideas"] = frame["Status"].map(counts).fillna(0).astype(int)
    base = alt.Chart(frame).encode(
        y=alt.Y("Status:N", sort=list(STATUS_COLOURS), title=None),
        x=alt.X("Ideas:Q", title="Number of change ideas", axis=alt.Axis(tickMinStep=1)))
    bars = base.mark_bar().encode(
        color=alt.Color("Status:N", legend=None, scale=alt.Scale(
            domain=list(STATUS_COLOURS), range=list(STATUS_COLOURS.values()))))
    labels = base.mark_text(align="left", dx=4, fontSize=FONT_SIZE).encode(text="Ideas:Q")
    return style(alt.layer(bars, labels).properties(width=width, height=200))
# --------------------------------------------------------------------------- SPC charts

POINT_CLASSES = {
    "common_cause": ("Common cause", "#a6a6a6", "circle"),
    "improvement": ("Improvement", "#00b0f0", "triangle-up"),
    "concern": ("Concern", "#e46c0a", "diamond"),
    "neutral_high": ("Unusually high", "#490092", "square"),
    "neutral_low": ("Unusually low", "#490092", "square"),
}


def signals_in_time(frame: pd.DataFrame) -> tuple[list[str], list[str]]:
    """The signals of a charted frame split in two: what the latest points show now, and
    earlier signals (history, oldest first). A signal that reaches the latest point is now."""
    now = frame.attrs.get("signals_now", [])
    return now, [s for s in frame.attrs.get("signals", []) if s not in now]


def outcome_frame(results: pd.DataFrame, data_kind: str, *, improvement: str,
                  phase_dates=(), laney: bool = False, run_chart: bool = False) -> pd.DataFrame:
    """One series (an organisation's results for one measure, in period order) with its
    centre line, limits, point classes and plain-English signal sentences.

    The chart follows the kind of data: XmR for values, p (or p′) for proportions, u (or u′)
    for rates, or a run chart on request. Missing periods are not points (gaps).
    """
    from tracker import spc

    frame = results.sort_values("period").reset_index(drop=True)
    periods = pd.to_datetime(frame["period"])
    starts = sorted({int(np.searchsorted(periods.to_numpy(), np.datetime64(pd.Timestamp(d))))
                     for d in phase_dates} - {0, len(frame)})
    if data_kind == "value" or run_chart:
        values = frame["value"] if data_kind == "value" else \
            frame["numerator"] / frame["denominator"]
    if run_chart:
        result = spc.run_chart(values.to_numpy())
        out = result.points.rename(columns={"median": "centre"})
        out["lower"] = out["upper"] = np.nan
        out["point_type"] = np.where(out["long_run"], "neutral_high", "common_cause")
        out.loc[out["long_run"] & (out["side"] < 0), "point_type"] = "neutral_low"
        out["rule"] = np.where(out["long_run"], "long run", None)
        out["sentence"] = ""
        out["trial"] = False
        out["phase"] = 0
        sentences = spc.explain_run_chart(result)
        out.attrs["signals"] = sentences
        ongoing = bool(len(out)) and bool(out["long_run"].to_numpy()[-1])
        out.attrs["signals_now"] = [s for s in sentences if ongoing and "run" in s][-1:]
    elif data_kind == "value":
        out = spc.xmr(values.to_numpy(), improvement=improvement, phases=starts)
        out["sentence"] = spc.point_sentences(out, periods).to_numpy()
        found = spc.explain(out, periods)
        out.attrs["signals"] = found["sentence"].tolist()
        present = np.flatnonzero(out["value"].notna().to_numpy())
        last = present[-1] if len(present) else -1
        out.attrs["signals_now"] = found.loc[found["last"] >= last, "sentence"].tolist()
        # a shift that is still going on: the limits no longer describe the process
        ongoing = found[(found["last"] >= last) & (found["rule"] == "shift")]
        if len(ongoing):
            out.attrs["rebase_from"] = pd.Timestamp(periods.iloc[int(ongoing["first"].iloc[0])])
    else:
        work = pd.DataFrame({"series": 0, "numerator": frame["numerator"].to_numpy(),
                             "denominator": frame["denominator"].to_numpy(),
                             "phase_start": np.isin(np.arange(len(frame)), starts)})
        out = spc.attribute_many(work, "series", kind=data_kind, improvement=improvement,
                                 phase_start="phase_start", laney=laney)
        out = out.drop(columns=["series", "numerator", "denominator", "phase_start"])
        out["sentence"] = [
            spc.outside_sentence(p, i, t) if o else ""
            for i, (p, o, t) in enumerate(zip(periods, out["outside"], out["point_type"],
                                              strict=True))]
        out.attrs["signals"] = [s for s in out["sentence"] if s]
        present = np.flatnonzero(out["value"].notna().to_numpy())
        out.attrs["signals_now"] = [out["sentence"].iloc[present[-1]]] \
            if len(present) and out["sentence"].iloc[present[-1]] else []
    out.insert(0, "period", periods.to_numpy())
    # a new line segment after every missing period, so the line shows the gap
    out["segment"] = out["value"].isna().cumsum()
    return out


def cycle_keys(cycles: pd.DataFrame) -> pd.Series:
    """A letter for each idea (A, B, ... in the order its first cycle started), so a band on a
    chart reads "A2" (idea A, cycle 2) instead of a long title that collides with its
    neighbours; the chart's subtitle and the list of cycles say which idea is which."""
    ideas = cycles.sort_values("start_date")["idea"].drop_duplicates().tolist()
    letters = [chr(ord("A") + i) if i < 26 else f"Z{i - 25}" for i in range(len(ideas))]
    return pd.Series(letters, index=ideas, dtype=object)


def period_axis(periods, max_ticks: int = 10) -> alt.Axis:
    """Ticks on the periods themselves (weeks start on Monday, months on the 1st), every
    k-th period so that at most `max_ticks` show; Vega-Lite's own weekly ticks fall on
    Sundays, between the points."""
    days = sorted({pd.Timestamp(p).date() for p in periods if pd.notna(p)})
    if not days:
        return alt.Axis(format="%d %b %Y")
    step = -(-len(days) // max_ticks)
    ticks = days[::-1][::step][::-1]  # always the latest period, counting back
    return alt.Axis(format="%d %b %Y", labelOverlap=True,
                    values=[alt.DateTime(year=d.year, month=d.month, date=d.day)
                            for d in ticks])


def spc_chart(frame: pd.DataFrame, *, title: str, unit: str, target: float | None = None,
              cycles: pd.DataFrame | None = None, notes: pd.DataFrame | None = None,
              percent: bool = False, width: int = 900, styled: bool = True,
              every_class: bool = False, cycle_key: bool = True) -> alt.TopLevelMixin:
    """An SPC (or run) chart from `outcome_frame` (unstyled when it is to be combined with
    other charts, which then take the style): points shaped and coloured by class with a
    legend in words, the centre line and limits labelled with their values, the target, each
    PDSA cycle as a band labelled with its idea and number, notes as dated rules."""
    fmt = ".0%" if percent else ",.3~f"
    # Only the columns the chart draws, given once to the whole layer: Altair copies and
    # serialises data per layer, which was most of a review pack's build time.
    data = pd.DataFrame({
        "period": frame["period"], "value": frame["value"], "centre": frame["centre"],
        "upper": frame["upper"], "lower": frame["lower"], "phase": frame["phase"],
        "segment": frame["segment"], "trial": frame["trial"],
        "class": frame["point_type"].map(lambda t: POINT_CLASSES.get(t, ("", "", ""))[0]),
        "signal": frame["sentence"].replace("", "No special cause")})
    has_value = "isValid(datum.value)"
    x = alt.X("period:T", title="Period starting",
              axis=period_axis(frame["period"], max(3, width // 95)))
    y_title = "Proportion" if percent else unit
    y = alt.Y("value:Q", title=y_title, axis=alt.Axis(format=fmt),
              scale=alt.Scale(zero=False))
    layers = []
    if cycles is not None and not cycles.empty:
        keys = cycle_keys(cycles)
        bands = cycles[["idea", "cycle_no", "start_date", "end_date", "prediction",
                        "decision"]].assign(
            start=pd.to_datetime(cycles["start_date"]),
            finish=pd.to_datetime(cycles["end_date"]) + pd.Timedelta(days=1),
            label=cycles["idea"].map(keys) + cycles["cycle_no"].astype(str),
            outcome=cycles["decision"].map(vocab.DECISIONS).fillna("In progress"))
        bands = bands.sort_values("start").reset_index(drop=True)
        key_lines = [f"{key}: {_wrap(idea, 90, 1)}" for idea, key in keys.items()]
        if len(key_lines) > 6:
            key_lines = key_lines[:5] + [f"… and {len(key_lines) - 5} more ideas (see the "
                                         "list of cycles)"]
        bands["label_y"] = (np.arange(len(bands)) % 3) * 14 + 2  # stagger labels that meet
        band_base = alt.Chart(bands)
        layers.append(band_base.mark_rect(opacity=0.13, color="#005eb8").encode(
            x=alt.X("start:T"), x2=alt.X2("finish"),
            tooltip=[alt.Tooltip("idea:N", title="Idea"),
                     alt.Tooltip("cycle_no:Q", title="Cycle"),
                     alt.Tooltip("start_date:T", title="From", format="%d %b %Y"),
                     alt.Tooltip("end_date:T", title="To", format="%d %b %Y"),
                     alt.Tooltip("prediction:N", title="Prediction"),
                     alt.Tooltip("outcome:N", title="Decision")]))
        layers.append(band_base.mark_text(align="left", baseline="top", dx=2, fontSize=12,
                                          fontWeight="bold", color="#003087").encode(
            x=alt.X("start:T"), y=alt.Y("label_y:Q", scale=None), text=alt.Text("label:N")))
    lines = data.dropna(subset=["centre"])
    centre_name = "Mean" if data["lower"].notna().any() else "Median"  # run charts: median
    for column, name, dash in (("centre", centre_name, []), ("upper", "Upper limit", [6, 4]),
                               ("lower", "Lower limit", [6, 4])):
        if lines[column].notna().any():
            layers.append(alt.Chart().transform_filter(f"isValid(datum.{column})").mark_line(
                color="#425563", strokeDash=dash, strokeWidth=1.5, interpolate="step-after").encode(
                x=x, y=alt.Y(f"{column}:Q"), detail=alt.Detail("phase:N"),
                tooltip=[alt.Tooltip(f"{column}:Q", title=name, format=fmt)]))
    last = lines.groupby("phase").tail(1)
    label_rows = []
    for column, name in (("centre", centre_name), ("upper", "Upper"), ("lower", "Lower")):
        for row in last.itertuples():
            value = getattr(row, column)
            if pd.notna(value):
                trial = " (trial)" if row.trial and column != "centre" else ""
                text = f"{name}{trial} {value:{fmt.replace('~', '')}}" if not percent \
                    else f"{name}{trial} {value:.0%}"
                label_rows.append({"period": row.period, "y": value, "text": text})
    if label_rows:
        layers.append(alt.Chart(pd.DataFrame(label_rows)).mark_text(
            align="left", dx=6, fontSize=11, color="#425563").encode(
            x=alt.X("period:T"), y=alt.Y("y:Q"), text=alt.Text("text:N")))
    if target is not None and not pd.isna(target):
        target_frame = pd.DataFrame({"target": [target], "text": [
            f"Target {target:.0%}" if percent else f"Target {target:g}"]})
        layers.append(alt.Chart(target_frame).mark_rule(color="#de1b1b", strokeWidth=2,
                                                        strokeDash=[2, 2]).encode(y=alt.Y("target:Q")))
        layers.append(alt.Chart(target_frame).mark_text(
            align="left", dy=-7, x=4, color="#de1b1b", fontSize=11, fontWeight="bold").encode(
            y=alt.Y("target:Q"), text=alt.Text("text:N")))
    if notes is not None and not notes.empty:
        note_frame = notes.assign(on=pd.to_datetime(notes["on_date"]))
        layers.append(alt.Chart(note_frame).mark_rule(color="#768692", strokeDash=[1, 3]).encode(
            x=alt.X("on:T"), tooltip=[alt.Tooltip("on:T", title="Note", format="%d %b %Y"),
                                      alt.Tooltip("text:N")]))
    layers.append(alt.Chart().transform_filter(has_value).mark_line(
        color="#768692", strokeWidth=1.2).encode(x=x, y=y, detail=alt.Detail("segment:N")))
    classes = [v[0] for v in POINT_CLASSES.values()][:4] + ["Unusually low"]
    present = [c for c in dict.fromkeys(classes) if c in set(data["class"])]
    # side by side, charts share one legend: every class, so no two panels disagree
    domain = list(dict.fromkeys(classes)) if every_class else (present or ["Common cause"])
    colours = {v[0]: v[1] for v in POINT_CLASSES.values()}
    shapes = {v[0]: v[2] for v in POINT_CLASSES.values()}
    shapes["Unusually low"] = "triangle-down"
    layers.append(alt.Chart().transform_filter(has_value).mark_point(
        filled=True, size=70, opacity=1).encode(
        x=x, y=y,
        color=alt.Color("class:N", title="Points", scale=alt.Scale(
            domain=domain, range=[colours[c] for c in domain])),
        shape=alt.Shape("class:N", title="Points", scale=alt.Scale(
            domain=domain, range=[shapes[c] for c in domain])),
        tooltip=[alt.Tooltip("period:T", title="Period", format="%d %b %Y"),
                 alt.Tooltip("value:Q", title=y_title, format=fmt),
                 alt.Tooltip("class:N", title="Point"),
                 alt.Tooltip("signal:N", title="Signal")]))
    trial = bool(frame["trial"].iloc[-1]) if len(frame) else False
    subtitle = ["Trial limits: fewer than 13 points in this phase."] if trial else []
    if cycles is not None and not cycles.empty and cycle_key:
        subtitle.append("Shaded: PDSA cycles (letter = idea, number = its cycle). "
                        + " · ".join(key_lines[:2]))
        subtitle.extend(" · ".join(key_lines[i:i + 2]) for i in range(2, len(key_lines), 2))
    elif cycles is not None and not cycles.empty:
        subtitle.append("Shaded: the idea's cycles here (A2 = its cycle 2).")
    chart = alt.layer(*layers, data=data).properties(
        width=width, height=360, title=alt.Title(title, subtitle=subtitle))
    return style(chart, orient="top") if styled else chart


# --------------------------------------------------------------------------- funnel plot


def funnel_frame(totals: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each organisation's proportion against its denominator, with the 95% and 99.8% limits
    around the overall proportion for every denominator size, so a small partner is not
    called an outlier by chance. Returns (points, limits)."""
    points = totals.copy()
    points["proportion"] = points["numerator"] / points["denominator"]
    centre = points["numerator"].sum() / points["denominator"].sum()
    n = np.unique(np.geomspace(max(points["denominator"].min() * 0.5, 1),
                               points["denominator"].max() * 1.2, 120).round())
    spread = np.sqrt(centre * (1 - centre) / n)
    limits = pd.DataFrame({"n": n, "centre": centre,
                           "lower95": np.clip(centre - 1.96 * spread, 0, 1),
                           "upper95": np.clip(centre + 1.96 * spread, 0, 1),
                           "lower998": np.clip(centre - 3.09 * spread, 0, 1),
                           "upper998": np.clip(centre + 3.09 * spread, 0, 1)})
    own = np.sqrt(centre * (1 - centre) / points["denominator"])
    z = (points["proportion"] - centre) / own.replace(0, np.nan)
    points["position"] = np.select(
        [z.abs() > 3.09, z.abs() > 1.96], ["Outside 99.8% limits", "Outside 95% limits"],
        "Within limits")
    return points, limits


MAX_FUNNEL_LABELS = 12  # with more organisations, only those outside the 95% limits are named


def place_labels(px: np.ndarray, py: np.ndarray, widths: np.ndarray, *, height: float = 13,
                 gap: float = 7, obstacles=()) -> list[tuple[float, float, str]]:
    """Greedy label placement in pixels: for each point (top to bottom), the first of right,
    left, above-right, below-right, above-left, below-left where its label box overlaps no
    label already placed, no point and no obstacle box (x0, y0, x1, y1). Returns (x, y, align)
    of each label's anchor."""
    boxes: list[tuple[float, float, float, float]] = list(obstacles)
    dots = [(x - 5, y - 5, x + 5, y + 5) for x, y in zip(px, py, strict=True)]
    placed: list[tuple[float, float, str] | None] = [None] * len(px)

    def free(box):
        return all(box[2] <= o[0] or box[0] >= o[2] or box[3] <= o[1] or box[1] >= o[3]
                   for o in boxes + dots)

    for i in np.argsort(py):
        x, y, w = px[i], py[i], widths[i]
        options = [(gap, 0), (-gap, 0), (gap, -height), (gap, height), (-gap, -height),
                   (-gap, height)]
        for dx, dy in options:
            left = x + dx if dx > 0 else x + dx - w
            box = (left, y + dy - height / 2, left + w, y + dy + height / 2)
            if free(box):
                break
        else:
            dx, dy = options[0]  # nowhere free: the default place
            left = x + dx
            box = (left, y + dy - height / 2, left + w, y + dy + height / 2)
        boxes.append(box)
        placed[i] = (x + dx, y + dy, "left" if dx > 0 else "right")
    return placed


def funnel_chart(totals: pd.DataFrame, *, title: str, width: int = 800) -> alt.TopLevelMixin:
    """The funnel plot: points shaped and coloured by where they fall, the overall line and the
    95% and 99.8% limits named at their ends, and the organisations named beside their points
    (all of them when there are few; otherwise those outside the 95% limits)."""
    points, limits = funnel_frame(totals)
    height = 380
    domain = [float(limits["n"].min()), float(limits["n"].max()) * 1.9]  # room for names
    values = np.concatenate([points["proportion"], limits["lower998"], limits["upper998"]])
    pad = (values.max() - values.min()) * 0.05 or 0.01
    y_domain = [max(values.min() - pad, 0.0), min(values.max() + pad, 1.0)]
    x = alt.X("n:Q", title="Denominator (people counted over the period)",
              scale=alt.Scale(type="log", domain=domain, nice=False))
    y = alt.Y("value:Q", title="Proportion", axis=alt.Axis(format=".0%"),
              scale=alt.Scale(domain=y_domain, nice=False, zero=False))
    names = {"centre": "Overall", "upper95": "95% limits", "lower95": "95% limits",
             "upper998": "99.8% limits", "lower998": "99.8% limits"}
    long = limits.melt("n", list(names), var_name="line", value_name="value")
    long["name"] = long["line"].map(names)
    dashes = {"Overall": [1, 0], "95% limits": [6, 3], "99.8% limits": [2, 2]}
    lines = alt.Chart(long).mark_line(color="#425563").encode(
        x=x, y=y, detail="line:N",
        strokeDash=alt.StrokeDash("name:N", title="Lines", scale=alt.Scale(
            domain=list(dashes), range=list(dashes.values()))),
        tooltip=[alt.Tooltip("name:N", title="Line"),
                 alt.Tooltip("value:Q", title="Proportion", format=".1%"),
                 alt.Tooltip("n:Q", title="Denominator", format=",.0f")])
    ends = long[long["n"] == long["n"].max()].copy()
    ends["text"] = np.where(ends["name"] == "Overall",
                            "Overall " + ends["value"].map("{:.1%}".format), ends["name"])
    end_labels = alt.Chart(ends).mark_text(align="left", dx=4, fontSize=11,
                                           color="#425563").encode(x=x, y=y, text="text:N")
    dots_data = points.rename(columns={"denominator": "n", "proportion": "value"})
    kinds = ["Within limits", "Outside 95% limits", "Outside 99.8% limits"]
    dots = alt.Chart(dots_data).mark_point(filled=True, size=90, opacity=1).encode(
        x=x, y=y,
        color=alt.Color("position:N", title="Organisation", scale=alt.Scale(
            domain=kinds, range=["#a6a6a6", "#ffb81c", "#e46c0a"])),
        shape=alt.Shape("position:N", title="Organisation", scale=alt.Scale(
            domain=kinds, range=["circle", "square", "diamond"])),
        tooltip=[alt.Tooltip("organisation:N", title="Organisation"),
                 alt.Tooltip("value:Q", format=".1%", title="Proportion"),
                 alt.Tooltip("n:Q", title="Denominator", format=","),
                 alt.Tooltip("position:N", title="Position")])
    named = points if len(points) <= MAX_FUNNEL_LABELS else \
        points[points["position"] != "Within limits"]
    # place the names in pixels (the scales are fixed above), then back to data units
    log0, log1 = np.log10(domain[0]), np.log10(domain[1])
    px = (np.log10(named["denominator"].to_numpy()) - log0) / (log1 - log0) * width
    py = (y_domain[1] - named["proportion"].to_numpy()) / (y_domain[1] - y_domain[0]) * height
    end_x = (np.log10(ends["n"].to_numpy()) - log0) / (log1 - log0) * width + 4
    end_y = (y_domain[1] - ends["value"].to_numpy()) / (y_domain[1] - y_domain[0]) * height
    taken = [(ex, ey - 7, ex + 6.2 * len(t), ey + 7)
             for ex, ey, t in zip(end_x, end_y, ends["text"], strict=True)]
    spots = place_labels(px, py, named["organisation"].str.len().to_numpy() * 6.2,
                         obstacles=taken)
    named = named.assign(
        n=[10 ** (log0 + sx / width * (log1 - log0)) for sx, _, _ in spots],
        value=[y_domain[1] - sy / height * (y_domain[1] - y_domain[0]) for _, sy, _ in spots],
        align=[a for _, _, a in spots])
    labels = [alt.Chart(named[named["align"] == align]).mark_text(
        align=align, baseline="middle", fontSize=11).encode(x=x, y=y, text="organisation:N")
        for align in ("left", "right") if (named["align"] == align).any()]
    caption = [] if len(points) <= MAX_FUNNEL_LABELS else [
        f"Named: the {len(named)} of {len(points)} organisations outside the 95% limits "
        "(hover for the others)."]
    return style(alt.layer(lines, end_labels, dots, *labels).properties(
        width=width, height=height, title=alt.Title(title, subtitle=caption)), orient="top")


def small_multiples(panels: list[tuple], *, unit: str | None = None, percent: bool = False,
                    columns: int = 3) -> alt.TopLevelMixin:
    """Several SPC charts side by side, each with its own limits: one measure across
    organisations (panels of (title, frame), sharing `unit`), or one organisation across its
    measures (panels of (title, frame, unit, percent), each on its own scale)."""
    charts_ = []
    for panel in panels:
        title, frame = panel[0], panel[1]
        own_unit, own_percent = (panel[2], panel[3]) if len(panel) == 4 else (unit, percent)
        charts_.append(spc_chart(frame, title=_wrap(title, 48, 1), unit=own_unit or "",
                                 percent=own_percent, width=300, styled=False, every_class=True)
                       .properties(height=170))
    rows = [alt.hconcat(*charts_[i: i + columns]) for i in range(0, len(charts_), columns)]
    return style(alt.vconcat(*rows), orient="top")


def idea_panel(title: str, frame: pd.DataFrame, cycles: pd.DataFrame, *, unit: str,
               percent: bool = False, target: float | None = None,
               width: int = 300) -> alt.TopLevelMixin:
    """One measure at one organisation that tested an idea, small, with the idea's cycles
    there drawn as bands: the panels of a learning record, laid side by side by the page or
    the report (one chart each: concatenating charts in Altair cost seconds per record).
    Title, subtitle and legend stay narrower than the plot, so a column can hold it."""
    chart = spc_chart(frame, title=_wrap(title, 40, 1), unit=unit or "", target=target,
                      cycles=cycles, percent=percent, width=width, styled=False,
                      every_class=True, cycle_key=False)
    # set, not .properties(): that validates the whole chart again (a third of the time)
    chart.height = 200
    # the plot is 300 x 200 and the titles and legend come on top (Streamlit would otherwise
    # squeeze all of it into 300 x 200)
    chart.autosize = alt.AutoSizeParams(type="pad", contains="padding")
    return style(chart, orient="top", columns=3)


# --------------------------------------------------------------------------- portfolio

OUTCOME_COLOURS = {"Improvement seen": "#00b0f0", "Concern seen": "#e46c0a",
                   "No signal yet": "#c8cdd0", "Too few points to tell": "#eef1f2",
                   "No measure targeted": "#ffffff"}


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


# --------------------------------------------------------------------------- collaboration


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
