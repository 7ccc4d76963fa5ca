"""The charts in plain English: every signal and outside point as a sentence with its dates."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from tracker.spc.core import RULES, SPCError
from tracker.spc.run_charts import RunChart
from tracker.spc.xmr_engine import _directions, _segments

# --------------------------------------------------------------------------- plain English

CLASS_WORDS = {
    "improvement": "an improvement",
    "concern": "a concern",
    "neutral_high": "unusually high (no improvement direction is set)",
    "neutral_low": "unusually low (no improvement direction is set)",
}


def _day(value) -> dt.date | None:
    if value is None or (not isinstance(value, dt.date) and pd.isna(value)):
        return None
    return pd.Timestamp(value).date()


def describe_span(first, last, first_pos: int, last_pos: int) -> str:
    """'on 3 March 2025', 'from 3 March to 14 April 2025', or 'at points 4 to 10'."""
    a, b = _day(first), _day(last)
    if a is None or b is None:
        return f"at point {first_pos + 1}" if first_pos == last_pos else \
            f"at points {first_pos + 1} to {last_pos + 1}"
    if a == b:
        return f"on {a.day} {a:%B %Y}"
    if a.year == b.year:
        return f"from {a.day} {a:%B} to {b.day} {b:%B %Y}"
    return f"from {a.day} {a:%B %Y} to {b.day} {b:%B %Y}"


def explain(frame: pd.DataFrame, dates=None, *, improvement: str | None = None) -> pd.DataFrame:
    """One plain-English sentence per signal of an XmR frame, in the order they start.

    A signal is one rule's pattern: the run of a shift, the points of a trend, the points close
    to a limit in two out of three, consecutive points outside a limit. Each is classed by its
    own direction against `improvement` (default: the frame's, from `xmr`). Returns a frame
    with columns first, last (row positions), rule, point_type, points and sentence, e.g.
    "7 points above the mean from 3 March to 14 April 2025: a shift, an improvement."
    `dates` (one per row) default to a `period` column when the frame has one.
    """
    if dates is None and "period" in frame.columns:
        dates = frame["period"]
    date_list = list(dates) if dates is not None else [None] * len(frame)
    if len(date_list) != len(frame):
        raise SPCError(f"{len(date_list)} dates for {len(frame)} points")
    work = frame.reset_index(drop=True).assign(
        _series=0, _date=pd.Series(date_list, dtype=object))
    out = explain_many(work, "_series", dates="_date",
                       improvement=improvement or frame.attrs.get("improvement", "neutral"))
    return out.drop(columns="_series")


def _signal_groups(series: np.ndarray, present: np.ndarray, mask: np.ndarray,
                   max_gap: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows of `mask` grouped into signals: consecutive members of one series whose ranks among
    the present points differ by at most `max_gap`. Returns (first row, last row, count)."""
    rows = np.flatnonzero(mask & present)
    if rows.size == 0:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty, empty
    rank = np.cumsum(present)[rows]
    new = np.ones(rows.size, dtype=bool)
    new[1:] = (series[rows[1:]] != series[rows[:-1]]) | (np.diff(rank) > max_gap)
    group = np.cumsum(new) - 1
    ends = np.append(np.flatnonzero(new)[1:] - 1, rows.size - 1)
    return rows[new], rows[ends], np.bincount(group)


def explain_many(frame: pd.DataFrame, by: str | list[str], *, dates: str | None = "period",
                 improvement: str = "neutral", latest_only: bool = False,
                 prefer_now: bool = False) -> pd.DataFrame:
    """The signals of many XmR series at once (the output of `xmr_many`), as `explain` gives
    for one: the keys of `by`, first and last (row positions within the series), rule,
    point_type, points and sentence. Rows of a series must be together, in period order.
    `improvement` is a direction for all series or a column of them. With `latest_only`, only
    each series' latest signal (the one that starts last) is kept, and only its sentence made;
    with `prefer_now` too, a signal that reaches the series' latest point comes before any
    that ended earlier (what the chart shows now, rather than history).
    """
    keys = [by] if isinstance(by, str) else list(by)
    work = frame.reset_index(drop=True)
    n = len(work)
    series, series_first, _, _, _ = _segments(work, keys, check_together=True)
    value = work["value"].to_numpy(dtype="float64")
    centre = work["centre"].to_numpy(dtype="float64")
    present = ~np.isnan(value)
    high = value > centre
    want = _directions(work, improvement)
    patterns = [
        ("outside_limits", work["in_outside"].to_numpy() & high, 1, 1),
        ("outside_limits", work["in_outside"].to_numpy() & ~high, -1, 1),
        ("trend", work["in_trend_up"].to_numpy(), 1, 1),
        ("trend", work["in_trend_down"].to_numpy(), -1, 1),
        ("two_in_three", work["in_two_in_three"].to_numpy() & high, 1, 2),
        ("two_in_three", work["in_two_in_three"].to_numpy() & ~high, -1, 2),
        ("shift", work["in_shift"].to_numpy() & high, 1, 1),
        ("shift", work["in_shift"].to_numpy() & ~high, -1, 1),
    ]
    parts = []
    for rule, mask, sign, max_gap in patterns:
        first, last, count = _signal_groups(series, present, mask.astype(bool), max_gap)
        if first.size:
            parts.append(pd.DataFrame({"row": first, "last_row": last, "points": count,
                                       "rule": rule, "sign": sign}))
    columns = [*keys, "first", "last", "rule", "point_type", "points", "sentence"]
    if not parts:
        return pd.DataFrame(columns=columns)
    signals = pd.concat(parts, ignore_index=True)
    signals["series"] = series[signals["row"]]
    signals["priority"] = signals["rule"].map({r: i for i, r in enumerate(RULES)})
    signals = signals.sort_values(["series", "row", "priority"], ignore_index=True)
    if latest_only:
        if prefer_now:
            rows = np.flatnonzero(present)
            last_present = np.full(int(series.max()) + 1, -1)
            np.maximum.at(last_present, series[rows], rows)
            signals["now"] = signals["last_row"].to_numpy() >= \
                last_present[signals["series"].to_numpy()]
            signals = signals.sort_values(["series", "now", "row", "priority"], kind="stable",
                                          ignore_index=True)
        signals = signals.groupby("series", sort=False).tail(1).reset_index(drop=True)
    row, last_row = signals["row"].to_numpy(), signals["last_row"].to_numpy()
    wanted = want[row]
    is_high = signals["sign"].to_numpy() > 0
    signals["point_type"] = np.select(
        [(wanted == 0) & is_high, wanted == 0, (wanted > 0) == is_high],
        ["neutral_high", "neutral_low", "improvement"], "concern")
    signals["first"] = row - series_first[row]
    signals["last"] = last_row - series_first[row]
    date_values = work[dates].to_numpy() if dates is not None else np.full(n, None)
    signals["sentence"] = [
        signal_sentence(rule, sign, ptype, count, date_values[a], date_values[b], f, f_last)
        for rule, sign, ptype, count, a, b, f, f_last in zip(
            signals["rule"], signals["sign"], signals["point_type"], signals["points"], row,
            last_row, signals["first"], signals["last"], strict=True)]
    for key in keys:
        signals[key] = work[key].to_numpy()[row]
    return signals[columns]


def signal_sentence(rule: str, sign: int, ptype: str, n: int, first_date, last_date,
                    first: int, last: int) -> str:
    """'7 points above the mean from 3 March to 14 April 2025: a shift, an improvement.'"""
    span = describe_span(first_date, last_date, int(first), int(last))
    points = f"{n} point{'s' if n != 1 else ''}"
    if rule == "outside_limits":
        where = "above the upper process limit" if sign > 0 else "below the lower process limit"
        text = f"{points} {where} {span}: outside the limits"
    elif rule == "trend":
        text = (f"{points} in a row, each {'higher' if sign > 0 else 'lower'} than the one "
                f"before, {span}: a trend")
    elif rule == "two_in_three":
        text = (f"{points} close to the {'upper' if sign > 0 else 'lower'} process limit "
                f"(two out of three points beyond two sigma) {span}: two out of three")
    else:
        text = f"{points} {'above' if sign > 0 else 'below'} the mean {span}: a shift"
    return f"{text}, {CLASS_WORDS[ptype]}."


def outside_sentence(date, position: int, point_type: str) -> str:
    """The sentence of an attribute (p or u) chart point outside its limits."""
    return (f"Outside the limits {describe_span(date, date, position, position)}: "
            f"{CLASS_WORDS.get(point_type, '')}.")


def point_sentences(frame: pd.DataFrame, dates=None, *,
                    improvement: str | None = None) -> pd.Series:
    """For tooltips: the sentences of every signal a point is part of, the rule that coloured
    it first; '' for common-cause points."""
    signals = explain(frame, dates, improvement=improvement)
    texts: list[list[str]] = [[] for _ in range(len(frame))]
    rules = frame["rule"].to_numpy()
    flags = {"outside_limits": frame["in_outside"].to_numpy(),
             "trend": frame["in_trend_up"].to_numpy() | frame["in_trend_down"].to_numpy(),
             "two_in_three": frame["in_two_in_three"].to_numpy(),
             "shift": frame["in_shift"].to_numpy()}
    for row in signals.itertuples():
        for p in range(row.first, row.last + 1):
            if flags[row.rule][p]:
                if rules[p] == row.rule:
                    texts[p].insert(0, row.sentence)
                else:
                    texts[p].append(row.sentence)
    return pd.Series([" ".join(t) for t in texts], index=frame.index, dtype=object)


def explain_run_chart(result: RunChart, dates=None) -> list[str]:
    """Plain-English sentences for the signals of a run chart."""
    n = result.n_useful
    out = []
    if result.rules == "anhoej":
        if result.longest_run > result.longest_run_max:
            out.append(f"A run of {result.longest_run} points on one side of the median: more "
                       f"than the {result.longest_run_max} expected by chance for {n} useful "
                       "points (an unusually long run).")
        if result.crossings < result.crossings_min:
            out.append(f"The line crosses the median {result.crossings} times: fewer than the "
                       f"{result.crossings_min} expected for {n} useful points (too few "
                       "crossings).")
        return out
    points = result.points
    if result.shift:
        out.append(f"A shift: {int(points['run_length'].max())} points in a row on one side "
                   "of the median (6 or more is a signal).")
    if result.trend:
        out.append("A trend: 5 or more points in a row all going up or all going down.")
    if result.runs_min is not None and result.runs < result.runs_min:
        out.append(f"Too few runs: {result.runs}, where at least {result.runs_min} are "
                   f"expected for {n} useful points.")
    if result.runs_max is not None and result.runs > result.runs_max:
        out.append(f"Too many runs: {result.runs}, where at most {result.runs_max} are "
                   f"expected for {n} useful points.")
    return out
