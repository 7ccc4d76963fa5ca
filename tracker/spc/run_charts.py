"""Run charts: the median and Anhøj's rules (longest run, crossings), or the IHI rules."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import pandas as pd

from tracker.spc.core import SPCError, _as_float, _run_lengths

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
