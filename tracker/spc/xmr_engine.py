"""XmR charts with the NHS Making Data Count rules: the engine on flat arrays cut into segments
(one per series and phase), `xmr` on one series and `xmr_many` on many, same code, same answers."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from tracker.spc.core import (
    _RULE_LOOKUP,
    _TYPE_LOOKUP,
    E2,
    FLAG_COLUMNS,
    IMPROVEMENT,
    MIN_BASELINE,
    MIN_POINTS_FOR_LIMITS,
    NEAR,
    SCREEN,
    SPCError,
    _as_float,
    _direction_code,
    _direction_codes,
    _run_lengths,
    _shift_left,
    _shift_right,
)

# --------------------------------------------------------------------------- XmR engine


def _xmr_engine(values: np.ndarray, seg_all: np.ndarray, n_segments: int,
                direction: np.ndarray, baseline: int | None, screen: bool,
                two_in_three: str) -> dict[str, np.ndarray]:
    """The XmR calculation on flat arrays.

    values: every row's value (NaN = missing); seg_all: the segment (series x phase) of each
    row, non-decreasing; direction: +1 / -1 / 0 per row. Returns per-row arrays.
    """
    n_rows = values.size
    valid = ~np.isnan(values)
    v = values[valid]
    seg = seg_all[valid]
    m = v.size
    idx = np.arange(m)
    starts = np.ones(m, dtype=bool)
    if m:
        starts[1:] = seg[1:] != seg[:-1]
    first = np.maximum.accumulate(np.where(starts, idx, 0)) if m else idx
    pos = idx - first  # position of the point within its segment (missing rows skipped)
    used = pos < baseline if baseline is not None else np.ones(m, dtype=bool)

    # centre line: mean of the points the limits come from
    n_used = np.bincount(seg, weights=used.astype(float), minlength=n_segments)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.bincount(seg, weights=np.where(used, v, 0.0), minlength=n_segments) / n_used

    # moving ranges between consecutive points of a segment, both used for limits
    mr = np.full(m, np.nan)
    if m > 1:
        mr[1:] = np.abs(np.diff(v))
    mr[starts] = np.nan
    mr_ok = ~starts & used
    mr_clean = np.where(mr_ok, mr, 0.0)

    def mean_mr(keep):
        count = np.bincount(seg, weights=keep.astype(float), minlength=n_segments)
        total = np.bincount(seg, weights=np.where(keep, mr_clean, 0.0), minlength=n_segments)
        with np.errstate(invalid="ignore", divide="ignore"):
            return total / count

    amr = mean_mr(mr_ok)
    if screen:
        threshold = SCREEN * amr[seg]
        # A constant series has a mean moving range of 0: nothing to screen (and no 0/0).
        drop = mr_ok & (amr[seg] > 0) & (mr_clean >= threshold)
        amr = mean_mr(mr_ok & ~drop)

    centre_s = mean
    upper_s, lower_s = mean + E2 * amr, mean - E2 * amr
    near_u_s, near_l_s = mean + NEAR * amr, mean - NEAR * amr
    n_points_s = np.bincount(seg, minlength=n_segments)

    centre, upper, lower = centre_s[seg], upper_s[seg], lower_s[seg]
    near_u, near_l = near_u_s[seg], near_l_s[seg]

    # rule 1: outside the process limits (NaN limits compare False)
    above, below = v > upper, v < lower
    outside = above | below

    # rule 2: trend, 7 points each higher (lower) than the one before; equal neighbours break
    step = np.zeros(m, dtype=np.int8)
    if m > 1:
        step[1:] = np.sign(np.diff(v)).astype(np.int8)
    step[starts] = 0
    trend_up = np.zeros(m, dtype=bool)
    trend_down = np.zeros(m, dtype=bool)
    for sign, out in ((1, trend_up), (-1, trend_down)):
        moving = step == sign
        boundary = starts | (moving != _shift_right(moving))
        if m:
            boundary[0] = True
        long_steps = moving & (_run_lengths(boundary) >= 6)  # 6 steps = 7 points
        out |= long_steps | _shift_left(long_steps)
    trend = trend_up | trend_down

    # rules 3 and 4 look at the side of the mean; a point exactly on the mean is on neither
    side = np.sign(v - centre)
    side[np.isnan(side)] = 0
    side = side.astype(np.int8)

    # rule 3: two out of three consecutive points beyond 2 sigma, all three on one side
    beyond_near = (v > near_u) | (v < near_l)
    close = beyond_near & ~outside if two_in_three == "ptd" else beyond_near
    two3 = np.zeros(m, dtype=bool)
    if m >= 3:
        same = seg[:-2] == seg[2:]
        count = close[:-2].astype(int) + close[1:-1] + close[2:]
        sides = side[:-2].astype(int) + side[1:-1] + side[2:]
        window = np.zeros(m, dtype=bool)
        window[:-2] = same & (count >= 2) & (np.abs(sides) == 3)
        two3 = (window | _shift_right(window, 1) | _shift_right(window, 2)) & close

    # rule 4: shift, 7 points in a row on one side of the mean
    boundary = starts | (side != np.roll(side, 1))
    if m:
        boundary[0] = True
    shift = (side != 0) & (_run_lengths(boundary) >= 7)

    rule = np.select([outside, trend, two3, shift], [1, 2, 3, 4], default=0)

    # direction(s) each point is unusual in, over every rule that flags it
    high = above | trend_up | ((two3 | shift) & (side > 0))
    low = below | trend_down | ((two3 | shift) & (side < 0))
    first_high = np.select(
        [outside, trend, two3 | shift], [above, trend_up, side > 0], default=False)
    want = direction[valid]
    improvement = ((want > 0) & high) | ((want < 0) & low)
    concern = (want != 0) & ~improvement & (high | low)
    neutral = (want == 0) & (rule > 0)
    ptype = np.select(
        [rule == 0, improvement, concern, neutral & first_high, neutral],
        [1, 2, 3, 4, 5], default=1)

    def spread(per_point, fill):
        out = np.full(n_rows, fill, dtype=per_point.dtype)
        out[valid] = per_point
        return out

    return {
        "value": values,
        "centre": centre_s[seg_all], "lower": lower_s[seg_all], "upper": upper_s[seg_all],
        "near_lower": near_l_s[seg_all], "near_upper": near_u_s[seg_all],
        "mr": spread(mr, np.nan),
        "used_for_limits": spread(used, False),
        "trial": (n_points_s < MIN_POINTS_FOR_LIMITS)[seg_all],
        "rule_code": spread(rule, 0),
        "type_code": spread(ptype, 0),
        "in_outside": spread(outside, False),
        "in_trend_up": spread(trend_up, False),
        "in_trend_down": spread(trend_down, False),
        "in_two_in_three": spread(two3, False),
        "in_shift": spread(shift, False),
    }


def _frame(result: dict, phase: np.ndarray, index) -> pd.DataFrame:
    frame = pd.DataFrame({
        "value": result["value"], "centre": result["centre"], "lower": result["lower"],
        "upper": result["upper"], "near_lower": result["near_lower"],
        "near_upper": result["near_upper"], "mr": result["mr"],
        # object columns keep None for "no rule" (pandas would otherwise infer str and NaN)
        "rule": pd.Series(_RULE_LOOKUP[result["rule_code"]], index=index, dtype=object),
        "point_type": pd.Series(_TYPE_LOOKUP[result["type_code"]], index=index, dtype=object),
        "phase": phase, "trial": result["trial"], "used_for_limits": result["used_for_limits"],
        **{name: result[name] for name in FLAG_COLUMNS},
    }, index=index)
    return frame


def _check_options(baseline, two_in_three):
    if baseline is not None and (int(baseline) != baseline or baseline < MIN_BASELINE):
        raise SPCError(f"a baseline needs at least {MIN_BASELINE} points (got {baseline}); "
                       "Making Data Count fixes limits from 12 or more")
    if two_in_three not in ("mdc2023", "ptd"):
        raise SPCError("two_in_three must be 'mdc2023' or 'ptd'")


def xmr(values, *, improvement: str = "increase", target: float | None = None,
        phases: Sequence[int] = (), baseline: int | None = None, screen: bool = True,
        two_in_three: str = "mdc2023") -> pd.DataFrame:
    """XmR chart of one series, Making Data Count style.

    Returns one row per input value with columns value, centre, lower, upper, near_lower,
    near_upper, mr, rule (None or outside_limits / trend / two_in_three / shift), point_type
    (common_cause / improvement / concern / neutral_high / neutral_low; None for a missing
    value), phase (0, 1, ...), trial (limits from fewer than 13 points), used_for_limits, and
    one boolean column per rule (in_outside, in_trend_up, in_trend_down, in_two_in_three,
    in_shift) saying whether the point is part of that rule's pattern, whatever its priority.
    `target` is carried on the frame's attrs for `assurance`.
    """
    index = values.index if isinstance(values, pd.Series) else None
    array = _as_float(values)
    direction = _direction_code(improvement)
    _check_options(baseline, two_in_three)
    n = array.size
    phase_starts = sorted({int(p) for p in phases})
    if any(p < 0 or p >= max(n, 1) for p in phase_starts):
        raise SPCError(f"phase starts must be positions from 0 to {n - 1}, got {phase_starts}")
    phase = np.zeros(n, dtype=np.int64)
    for p in phase_starts:
        if p > 0:
            phase[p:] += 1
    n_segments = int(phase[-1]) + 1 if n else 0
    result = _xmr_engine(array, phase, n_segments, np.full(n, direction, dtype=np.int8),
                         baseline, screen, two_in_three)
    frame = _frame(result, phase, index)
    frame.attrs.update(improvement=improvement, target=target)
    return frame


def _segments(frame: pd.DataFrame, keys: list[str], phase_start: str | None = None, *,
              check_together: bool = False):
    """Cut a long frame, the rows of each series together, into segments (series x phase).

    Returns per row: the series code, the row where its series starts, the segment, and the
    phase within the series; and the number of segments."""
    n = len(frame)
    series = frame.groupby(keys, sort=False, dropna=False).ngroup().to_numpy()
    if check_together and n and (np.diff(series) < 0).any():  # codes follow first appearance
        raise SPCError("the rows of each series must be together, in period order")
    new_series = np.ones(n, dtype=bool)
    if n:
        new_series[1:] = series[1:] != series[:-1]
    new_phase = new_series.copy()
    if phase_start is not None:
        new_phase |= frame[phase_start].fillna(False).to_numpy(dtype=bool)
    seg = np.cumsum(new_phase) - 1
    first = np.maximum.accumulate(np.where(new_series, np.arange(n), 0)) if n else seg
    return series, first, seg, seg - seg[first], int(seg[-1]) + 1 if n else 0


def _directions(frame: pd.DataFrame, improvement: str) -> np.ndarray:
    """+1 / -1 / 0 per row: one direction for all rows, or the name of a column of them."""
    if improvement in IMPROVEMENT:
        return np.full(len(frame), IMPROVEMENT[improvement], dtype=np.int8)
    if improvement in frame.columns:
        return _direction_codes(frame[improvement], improvement)
    raise SPCError(f"improvement must be a direction or a column name, not {improvement!r}")


def xmr_many(frame: pd.DataFrame, by: str | list[str], value: str, *,
             improvement: str = "increase", phase_start: str | None = None,
             baseline: int | None = None, screen: bool = True,
             two_in_three: str = "mdc2023", sort_by: str | None = None) -> pd.DataFrame:
    """XmR for every series of a long frame at once (e.g. organisation x measure).

    `by` names the column(s) that identify a series; rows are taken in their order within each
    series (or sorted by `sort_by`, e.g. the period). `improvement` is a direction for all
    series or the name of a column holding each series' direction. `phase_start` names a
    boolean column, True where a new phase (rebase) starts. Returns the input rows, in the
    input order, with the columns of `xmr` added.
    """
    _check_options(baseline, two_in_three)
    keys = [by] if isinstance(by, str) else list(by)
    order_cols = keys + ([sort_by] if sort_by else [])
    work = frame.reset_index(drop=True)
    order = work.sort_values(order_cols, kind="mergesort").index.to_numpy()
    ordered = work.iloc[order]
    n = len(ordered)
    values = _as_float(ordered[value].to_numpy(), value)
    _, _, seg, phase, n_segments = _segments(ordered, keys, phase_start)
    result = _xmr_engine(values, seg, n_segments, _directions(ordered, improvement), baseline,
                         screen, two_in_three)
    stats = _frame(result, phase, ordered.index).drop(columns="value")
    out = pd.concat([ordered, stats], axis=1)
    inverse = np.empty(n, dtype=np.int64)
    inverse[order] = np.arange(n)
    out = out.iloc[inverse]
    out.index = frame.index
    return out
