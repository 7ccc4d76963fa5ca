"""Making Data Count's variation and assurance icons of a series' latest phase."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from tracker.spc.core import _direction_code

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
