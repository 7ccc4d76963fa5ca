"""Statistical process control: run charts, XmR charts with the NHS "Making Data Count" rules,
p and u charts (with Laney's p′ and u′), phases and fixed baselines, in plain English.

Pure functions of numbers: no database, no Streamlit. The XmR engine works on flat numpy
arrays cut into segments (one per series and phase), so `xmr` on one series and `xmr_many` on
ten thousand run the same code and give the same answers.

The rules and constants follow docs/domain.md and docs/spc.md. Deliberate choices, also stated in
docs/spc.md:
* Missing values (NaN) are gaps: they are not points, they neither break nor extend a run, and
  the moving range is taken between the points either side of the gap.
* A point flagged by rules in both directions (a downward trend above the mean) is an
  improvement, as in the NHS England Excel tool; NHSRplotthedots takes the direction of the
  highest-priority rule instead.
* `two_in_three="mdc2023"` (the default) counts points beyond the process limits towards
  "two out of three", as NHS England announced in November 2023; `"ptd"` counts only points
  between the near and process limits, as NHSRplotthedots 0.2.2 does.
* Variation and assurance icons are withheld (None) while the latest phase has trial limits
  (fewer than 13 points), as Making Data Count shows no icons before 13 points.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import pandas as pd

E2 = 2.66  # 3 / d2 with d2 = 1.128
NEAR = 2 * E2 / 3  # 1.7733: the 2-sigma "near" limit
SCREEN = 3.267  # D4 for n = 2: moving ranges at or above D4 x mean are screened out
MIN_BASELINE = 12
MIN_POINTS_FOR_LIMITS = 13  # fewer points: trial limits

RULES = ("outside_limits", "trend", "two_in_three", "shift")
POINT_TYPES = ("common_cause", "improvement", "concern", "neutral_high", "neutral_low")
IMPROVEMENT = {"increase": 1, "decrease": -1, "neutral": 0}
# Every rule a point is part of, not only the first by priority (for explanations).
FLAG_COLUMNS = ("in_outside", "in_trend_up", "in_trend_down", "in_two_in_three", "in_shift")
_RULE_LOOKUP = np.array([None, *RULES], dtype=object)
_TYPE_LOOKUP = np.array([None, *POINT_TYPES], dtype=object)


class SPCError(ValueError):
    """An impossible request, said in words (never NaN soup)."""


# --------------------------------------------------------------------------- helpers


def _as_float(values, name: str = "values") -> np.ndarray:
    try:
        array = np.asarray(values, dtype="float64")
    except (TypeError, ValueError):
        raise SPCError(f"{name} must be numbers (use NaN for a missing period)") from None
    if array.ndim != 1:
        raise SPCError(f"{name} must be one-dimensional")
    if np.isinf(array).any():
        raise SPCError(f"{name} holds an infinite value at position "
                       f"{int(np.flatnonzero(np.isinf(array))[0])}")
    return array


def _direction_code(improvement: str) -> int:
    if improvement not in IMPROVEMENT:
        raise SPCError(f"improvement must be one of {', '.join(IMPROVEMENT)}, not {improvement!r}")
    return IMPROVEMENT[improvement]


def _direction_codes(words: pd.Series, name: str) -> np.ndarray:
    """+1 / -1 / 0 for a column of directions, looked up once per distinct word (a
    categorical's categories, or the words found by hashing), not once per row."""
    if isinstance(words.dtype, pd.CategoricalDtype):
        found, distinct = words.cat.codes.to_numpy(), words.cat.categories
    else:
        found, distinct = pd.factorize(words.to_numpy(dtype=object))
    lookup = np.array([IMPROVEMENT.get(w, 9) for w in distinct] + [9], dtype=np.int8)
    codes = lookup[found]  # a missing word (code -1) takes the last entry: 9, unknown
    if (codes == 9).any():
        bad = sorted({str(w) if pd.notna(w) else "(blank)" for w in words[codes == 9]})
        raise SPCError(f"column {name!r} holds unknown directions: {bad}")
    return codes


def _run_lengths(boundary: np.ndarray) -> np.ndarray:
    """For each element, the length of the run it belongs to; a run starts where
    `boundary` is True (the first element always starts one)."""
    if boundary.size == 0:
        return np.zeros(0, dtype=np.int64)
    run_id = np.cumsum(boundary) - 1
    return np.bincount(run_id)[run_id]


def _shift_left(mask: np.ndarray, by: int = 1) -> np.ndarray:
    out = np.zeros_like(mask)
    if by < mask.size:
        out[: mask.size - by] = mask[by:]
    return out


def _shift_right(mask: np.ndarray, by: int = 1) -> np.ndarray:
    out = np.zeros_like(mask)
    if by < mask.size:
        out[by:] = mask[: mask.size - by]
    return out


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


# --------------------------------------------------------------------------- icons


def _latest_phase(frame: pd.DataFrame) -> pd.DataFrame:
    points = frame[frame["value"].notna()]
    if points.empty:
        return points
    return points[points["phase"] == points["phase"].iloc[-1]]


def variation(frame: pd.DataFrame) -> str | None:
    """The variation icon: the point_type of the latest point. None when there is no point,
    or while the latest phase has trial limits (Making Data Count shows no icon then)."""
    latest = _latest_phase(frame)
    if latest.empty or bool(latest["trial"].iloc[-1]):
        return None
    return latest["point_type"].iloc[-1]


def assurance(frame: pd.DataFrame, target: float | None = None,
              improvement: str | None = None) -> str | None:
    """The assurance icon from the latest phase's limits: "pass" (the process consistently
    meets the target), "fail" (consistently misses it) or "hit_and_miss". None without a
    target or a direction, or with trial limits."""
    target = frame.attrs.get("target") if target is None else target
    improvement = improvement or frame.attrs.get("improvement")
    if target is None or (isinstance(target, float) and math.isnan(target)):
        return None
    direction = _direction_code(improvement or "neutral")
    latest = _latest_phase(frame)
    if direction == 0 or latest.empty or bool(latest["trial"].iloc[-1]):
        return None
    lower, upper = latest["lower"].iloc[-1], latest["upper"].iloc[-1]
    if np.isnan(lower) or np.isnan(upper):
        return None
    if direction > 0:
        return "fail" if target > upper else "pass" if target < lower else "hit_and_miss"
    return "fail" if target < lower else "pass" if target > upper else "hit_and_miss"


# --------------------------------------------------------------------------- run charts


@lru_cache(maxsize=4096)
def crossings_minimum(n_useful: int) -> int:
    """qbinom(0.05, n - 1, 0.5): the fewest crossings of the median expected by chance."""
    trials = n_useful - 1
    if trials < 1:
        return 0
    total, cumulative = 2**trials, 0
    for k in range(trials + 1):
        cumulative += math.comb(trials, k)
        if cumulative * 20 >= total:  # P(X <= k) >= 0.05, in exact integers
            return k
    return trials


def longest_run_maximum(n_useful: int) -> int:
    """round(log2(n)) + 3: the longest run on one side of the median expected by chance."""
    return int(round(math.log2(n_useful))) + 3 if n_useful > 0 else 0


@lru_cache(maxsize=4096)
def _runs_limits(below: int, above: int) -> tuple[int, int]:
    """Too few / too many runs for IHI's run chart rules, from the exact distribution of the
    number of runs (Swed and Eisenhart 1943) at 2.5% in each tail. A run count below the
    first or above the second is a signal."""
    n = below + above
    if below == 0 or above == 0:
        return 0, n + 1
    total = math.comb(n, below)

    def count(r: int) -> int:
        k = r // 2
        if r % 2 == 0:
            return 2 * math.comb(below - 1, k - 1) * math.comb(above - 1, k - 1)
        return (math.comb(below - 1, k) * math.comb(above - 1, k - 1)
                + math.comb(below - 1, k - 1) * math.comb(above - 1, k))

    counts = {r: count(r) for r in range(2, n + 1)}
    low, acc = 2, 0
    for r in range(2, n + 1):  # the smallest r with P(R <= r) > 2.5%
        acc += counts[r]
        if acc * 40 > total:
            low = r
            break
    high, acc = n, 0
    for r in range(n, 1, -1):  # the largest r with P(R >= r) > 2.5%
        acc += counts[r]
        if acc * 40 > total:
            high = r
            break
    return low, high


@dataclass
class RunChart:
    """What a run chart shows. `points` has one row per input value with columns value,
    median, useful (not missing, not on the median), side (+1 above, -1 below, 0),
    run_length, long_run (part of a signalling run or shift) and trend (IHI only)."""

    rules: str
    median: float
    n_useful: int
    longest_run: int
    longest_run_max: int
    crossings: int
    crossings_min: int
    runs: int = 0
    runs_min: int | None = None
    runs_max: int | None = None
    shift: bool = False
    trend: bool = False
    signal: bool = False
    points: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)


def run_chart(values, *, rules: str = "anhoej", median: float | None = None) -> RunChart:
    """Run chart with Anhøj's rules (qicharts2's default) or IHI's.

    Anhøj: a signal when the longest run on one side of the median exceeds round(log2(n)) + 3
    or the median is crossed fewer than qbinom(0.05, n - 1, 0.5) times (n: useful points).
    IHI: a shift of 6 or more points on one side, a trend of 5 or more going up or down
    (equal neighbours neither add nor break), or too few or too many runs.
    `median` fixes the centre line (e.g. from a baseline); by default the median of the data.
    """
    if rules not in ("anhoej", "ihi"):
        raise SPCError("rules must be 'anhoej' or 'ihi'")
    index = values.index if isinstance(values, pd.Series) else None
    array = _as_float(values)
    present = ~np.isnan(array)
    centre = float(np.median(array[present])) if median is None and present.any() else \
        (float(median) if median is not None else float("nan"))
    side = np.sign(array - centre)
    side[~present] = 0
    side = side.astype(np.int8)
    useful = side != 0
    s = side[useful]
    n = int(s.size)
    boundary = np.ones(n, dtype=bool)
    if n:
        boundary[1:] = s[1:] != s[:-1]
    lengths = _run_lengths(boundary)
    longest = int(lengths.max()) if n else 0
    crossings = int((s[1:] != s[:-1]).sum()) if n > 1 else 0
    run_length = np.zeros(array.size, dtype=np.int64)
    run_length[useful] = lengths

    result = RunChart(rules=rules, median=centre, n_useful=n, longest_run=longest,
                      longest_run_max=longest_run_maximum(n), crossings=crossings,
                      crossings_min=crossings_minimum(n), runs=crossings + 1 if n else 0)
    trend_flags = np.zeros(array.size, dtype=bool)
    if rules == "anhoej":
        long_run = run_length > result.longest_run_max
        result.signal = bool(n and (longest > result.longest_run_max
                                    or crossings < result.crossings_min))
    else:
        long_run = run_length >= 6
        result.shift = bool(long_run.any())
        # trend: ignore missing values and repeats of the previous value
        pos = np.flatnonzero(present)
        vals = array[pos]
        keep = np.ones(vals.size, dtype=bool)
        if vals.size:
            keep[1:] = vals[1:] != vals[:-1]
        kept_pos, kept = pos[keep], vals[keep]
        step = np.sign(np.diff(kept)) if kept.size > 1 else np.zeros(0)
        for sign in (1, -1):
            moving = step == sign
            b = np.ones(moving.size, dtype=bool)
            if moving.size:
                b[1:] = moving[1:] != moving[:-1]
            long_steps = moving & (_run_lengths(b) >= 4)  # 4 steps = 5 points
            for j in np.flatnonzero(long_steps):  # flag the points, ties in between too
                trend_flags[kept_pos[j]: kept_pos[j + 1] + 1] = True
        trend_flags &= present
        result.trend = bool(trend_flags.any())
        below, above = int((s < 0).sum()), int((s > 0).sum())
        result.runs_min, result.runs_max = _runs_limits(below, above)
        few_or_many = n > 0 and (result.runs < result.runs_min or result.runs > result.runs_max)
        result.signal = bool(result.shift or result.trend or few_or_many)
    result.points = pd.DataFrame({
        "value": array, "median": centre, "useful": useful, "side": side,
        "run_length": run_length, "long_run": long_run, "trend": trend_flags}, index=index)
    return result


# --------------------------------------------------------------------------- p and u charts


def _attribute_inputs(numerators, denominators, what: str):
    num = _as_float(numerators, "numerators" if what == "p" else "counts")
    den = _as_float(denominators, "denominators" if what == "p" else "exposures")
    if num.size != den.size:
        raise SPCError(f"{num.size} {'numerators' if what == 'p' else 'counts'} but "
                       f"{den.size} {'denominators' if what == 'p' else 'exposures'}: "
                       "give one of each per period")
    present = ~np.isnan(num) & ~np.isnan(den)
    zero = present & (den <= 0)
    if zero.any():
        raise SPCError(f"the {'denominator' if what == 'p' else 'exposure'} at position "
                       f"{int(np.flatnonzero(zero)[0])} is {den[zero][0]:g}: it must be above "
                       "zero (leave the period out instead)")
    if (present & (num < 0)).any():
        raise SPCError(f"a {'numerator' if what == 'p' else 'count'} is negative at position "
                       f"{int(np.flatnonzero(present & (num < 0))[0])}")
    if what == "p" and (present & (num > den)).any():
        raise SPCError(f"the numerator is above its denominator at position "
                       f"{int(np.flatnonzero(present & (num > den))[0])}")
    return num, den, present


def _attribute_engine(num: np.ndarray, den: np.ndarray, present: np.ndarray, seg: np.ndarray,
                      n_segments: int, is_p: np.ndarray, laney: bool) -> dict[str, np.ndarray]:
    """p and u charts on flat arrays cut into segments (series x phase), like `_xmr_engine`.

    Centre: the segment's total numerator over its total denominator. Sigma per period:
    √(p̄(1−p̄)/nᵢ) for proportions, √(ū/nᵢ) for rates; with `laney`, times the segment's
    between-period spread of z-scores (mean moving range of z between consecutive present
    periods, screened as for XmR, over d2 = 1.128; 1 with fewer than two periods).
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        total_num = np.bincount(seg, weights=np.where(present, num, 0.0), minlength=n_segments)
        total_den = np.bincount(seg, weights=np.where(present, den, 0.0), minlength=n_segments)
        centre = (total_num / total_den)[seg]
        value = np.where(present, num / np.where(present, den, 1.0), np.nan)
        sigma = np.sqrt(np.where(is_p, centre * (1 - centre), centre) / den)
        z = np.where(present & (sigma > 0), (value - centre) / sigma, 0.0)
    z[~present] = np.nan
    factor = np.ones(n_segments)
    if laney:
        rows = np.flatnonzero(present)
        zs, segs = z[rows], seg[rows]
        if rows.size > 1:
            same = segs[1:] == segs[:-1]
            mr, mr_seg = np.abs(np.diff(zs))[same], segs[1:][same]
            count = np.bincount(mr_seg, minlength=n_segments)
            with np.errstate(invalid="ignore", divide="ignore"):
                amr = np.bincount(mr_seg, weights=mr, minlength=n_segments) / count
                kept = mr < SCREEN * amr[mr_seg]
                kept_count = np.bincount(mr_seg, weights=kept, minlength=n_segments)
                screened = np.bincount(mr_seg, weights=np.where(kept, mr, 0.0),
                                       minlength=n_segments) / kept_count
            amr = np.where((amr > 0) & (kept_count > 0), screened, amr)
            factor = np.where(count > 0, amr / 1.128, 1.0)
    sigma = sigma * factor[seg]
    spread = 3 * sigma
    lower = np.maximum(centre - spread, 0.0)
    upper = np.where(is_p, np.minimum(centre + spread, 1.0), centre + spread)
    lower[~present], upper[~present] = np.nan, np.nan
    outside = present & ((value > upper) | (value < lower))
    return {"value": value, "centre": centre, "lower": lower, "upper": upper,
            "outside": outside, "sigma": sigma, "z": z}


def _attribute_one(num, den, present, laney, what) -> pd.DataFrame:
    n = num.size
    result = _attribute_engine(num, den, present, np.zeros(n, dtype=np.int64), 1,
                               np.full(n, what == "p"), laney)
    return pd.DataFrame(result)


def p_chart(numerators, denominators, *, laney: bool = False) -> pd.DataFrame:
    """p chart (or Laney p′): proportion per period with limits p̄ ± 3√(p̄(1−p̄)/nᵢ), clipped to
    [0, 1]. Missing periods (NaN) are gaps. Returns value, centre, lower, upper, outside."""
    num, den, present = _attribute_inputs(numerators, denominators, "p")
    if not present.any():
        raise SPCError("no period has both a numerator and a denominator")
    return _attribute_one(num, den, present, laney, "p")


def u_chart(counts, exposures, *, laney: bool = False) -> pd.DataFrame:
    """u chart (or Laney u′): rate per unit of exposure with limits ū ± 3√(ū/nᵢ), the lower
    clipped at 0. Missing periods (NaN) are gaps. Returns value, centre, lower, upper,
    outside."""
    num, den, present = _attribute_inputs(counts, exposures, "u")
    if not present.any():
        raise SPCError("no period has both a count and an exposure")
    return _attribute_one(num, den, present, laney, "u")


def attribute_many(frame: pd.DataFrame, by: str | list[str], *, kind: str,
                   numerator: str = "numerator", denominator: str = "denominator",
                   improvement: str = "neutral", phase_start: str | None = None,
                   laney: bool = False) -> pd.DataFrame:
    """p (kind "proportion") or u (kind "rate", or a column of kinds) charts for every series
    of a long frame at once, each phase with its own centre and limits. Rows of a series must
    be together, in period order. Adds value, centre, lower, upper, outside, sigma, z, phase,
    trial (fewer than 13 points in the phase), rule and point_type, classed as in `xmr`:
    outside the limits on the improvement side is an improvement, on the other a concern."""
    keys = [by] if isinstance(by, str) else list(by)
    work = frame.reset_index(drop=True)
    n = len(work)
    num = _as_float(work[numerator].to_numpy(), numerator)
    den = _as_float(work[denominator].to_numpy(), denominator)
    present = ~np.isnan(num) & ~np.isnan(den) & (den > 0)
    _, _, seg, phase, n_segments = _segments(work, keys, phase_start, check_together=True)
    is_p = (work[kind] == "proportion").to_numpy(dtype=bool) if kind in work.columns \
        else np.full(n, kind == "proportion")
    result = _attribute_engine(num, den, present, seg, n_segments, is_p, laney)
    out = pd.DataFrame(result, index=frame.index)
    out["phase"] = phase
    points = np.bincount(seg, weights=present, minlength=n_segments)
    out["trial"] = points[seg] < MIN_POINTS_FOR_LIMITS
    want = _directions(work, improvement)
    high = result["value"] > result["upper"]
    good = np.where(want > 0, high, result["value"] < result["lower"])
    point_type = np.select(
        [~result["outside"], want == 0, good],
        ["common_cause", np.where(high, "neutral_high", "neutral_low"), "improvement"],
        "concern").astype(object)
    point_type[~present] = None
    out["point_type"] = point_type
    out["rule"] = np.where(result["outside"], "outside_limits", None)
    return pd.concat([frame.drop(columns=[c for c in out.columns if c in frame.columns]), out],
                     axis=1)


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
