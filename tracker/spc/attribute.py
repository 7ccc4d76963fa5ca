"""p and u charts, with Laney's p′ and u′, on one series or many."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tracker.spc.core import MIN_POINTS_FOR_LIMITS, SCREEN, SPCError, _as_float
from tracker.spc.xmr_engine import _directions, _segments

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
