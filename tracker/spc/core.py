"""The constants of the rules (docs/spc.md), SPCError, and the numpy helpers every chart shares."""

from __future__ import annotations

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
