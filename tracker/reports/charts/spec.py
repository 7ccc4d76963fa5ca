"""A chart's Vega-Lite specification, as the reports, the learning report and the text
alternatives need it.

Altair turns a chart's DataFrames into rows through a data transformer that is global to the
process, and Streamlit switches that global to its own (data by reference, sent as Arrow)
while it draws a chart on a page. A specification made in another thread at that moment
would hold references to data it does not carry: a blank chart in a report. `vega_lite`
therefore never asks Altair's global: it writes each DataFrame as inline rows itself, the
same rows Altair writes (dates as full ISO strings, missing values as null), column by
column rather than cell by cell, which is also most of the time a chart took to write."""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd
from altair.utils.core import sanitize_pandas_dataframe

from tracker.reports.charts.style import quick, shallow_copy

_PARTS = ("layer", "hconcat", "vconcat", "concat")  # compositions that hold charts


@quick
def vega_lite(chart: alt.TopLevelMixin) -> dict:
    """The chart's Vega-Lite specification, its data inline (not validated against the schema
    again, nor the objects Altair makes while writing it: every chart every page shows is
    validated whole by the tests)."""
    return _inline(chart).to_dict(validate=False)


def _inline(chart):
    """The chart with every DataFrame in it (its own, its layers', its panels') replaced by
    inline rows; the chart given is not changed."""
    changes = {}
    data = chart._kwds.get("data", alt.Undefined)
    if isinstance(data, pd.DataFrame):
        changes["data"] = shallow_copy(_INLINE, values=rows(data))
    for key in _PARTS:
        parts = chart._kwds.get(key, alt.Undefined)
        if isinstance(parts, list):
            done = [_inline(p) if isinstance(p, alt.SchemaBase) else p for p in parts]
            if any(a is not b for a, b in zip(done, parts, strict=True)):
                changes[key] = done
    inner = chart._kwds.get("spec", alt.Undefined)
    if isinstance(inner, alt.SchemaBase):
        done = _inline(inner)
        if done is not inner:
            changes["spec"] = done
    return shallow_copy(chart, **changes) if changes else chart


_INLINE = alt.InlineData(values=[])  # the model of inline rows


def rows(frame: pd.DataFrame) -> list[dict]:
    """A DataFrame as the rows a Vega-Lite specification holds, as Altair writes them. A frame
    of a kind the charts never draw (unnamed or nested columns, durations, time zones) is
    left to Altair's own conversion."""
    names = list(frame.columns)
    if (isinstance(frame.columns, pd.MultiIndex) or isinstance(frame.index, pd.MultiIndex)
            or not all(isinstance(name, str) for name in names)
            or len(set(names)) != len(names)):
        return sanitize_pandas_dataframe(frame).to_dict(orient="records")
    columns = []
    for name in names:
        column = _column(frame[name])
        if column is None:
            return sanitize_pandas_dataframe(frame).to_dict(orient="records")
        columns.append(column)
    return [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)] \
        if columns else [{} for _ in range(len(frame))]


def _column(series: pd.Series) -> list | None:
    """One column's values as Python values for JSON, or None for a kind left to Altair."""
    dtype = series.dtype
    kind = getattr(dtype, "kind", "O")
    if isinstance(dtype, np.dtype) and kind == "f":
        values = series.to_numpy()
        out = values.tolist()
        bad = ~np.isfinite(values)
        if bad.any():
            for i in np.flatnonzero(bad):
                out[i] = None
        return out
    if isinstance(dtype, np.dtype) and kind in "iub":
        return series.to_numpy().tolist()
    if isinstance(dtype, np.dtype) and kind == "M":  # naive datetimes: full ISO, as Altair
        text = series.dt.strftime("%Y-%m-%dT%H:%M:%S")
        fraction = series.dt.microsecond.to_numpy()
        out = text.tolist()
        for i in np.flatnonzero(series.isna().to_numpy()):
            out[i] = ""  # Altair writes a missing date as an empty string
        for i in np.flatnonzero(fraction):
            if out[i]:
                out[i] = series.iloc[i].isoformat()
        return out
    if kind in "mM" or str(dtype).startswith(("timedelta", "datetime", "timestamp",
                                              "geometry")):
        return None  # durations, zoned times, shapes: Altair's own conversion decides
    if isinstance(dtype, np.dtype) and kind == "O":  # as Altair does it, to the letter: arrays
        # become lists, and pandas decides (a column of numbers keeps a missing one as NaN)
        column = series.astype(object).apply(
            lambda v: v.tolist() if isinstance(v, np.ndarray) else v)
        return _native(column.where(column.notnull(), None).tolist())
    column = series.astype(object)  # text, categories, nullable numbers: missing is null
    return _native(column.where(column.notnull(), None).tolist())


def _native(values: list) -> list:
    """NumPy numbers as Python ones (as pandas writes a frame's rows)."""
    return [v.item() if isinstance(v, np.generic) else v for v in values]
