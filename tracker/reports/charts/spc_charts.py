"""SPC charts: a measure's results at one organisation as an XmR, p or u chart (or a run chart),
points classed and named, limits and target labelled, the idea's cycles as bands."""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from tracker import vocab
from tracker.reports.charts.style import _wrap, quick, style

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


@quick
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
    chart = alt.layer(*layers, data=data)
    # set, not .properties(): that validates the whole chart again
    chart.width, chart.height = width, 360
    chart.title = alt.Title(title, subtitle=subtitle)
    return style(chart, orient="top") if styled else chart
