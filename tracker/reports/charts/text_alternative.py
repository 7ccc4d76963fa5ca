"""A chart's text alternative: a sentence saying what it shows, and the data it draws as a
table, for a reader who cannot see the picture (WCAG 1.1.1). Built from the chart's own
Vega-Lite specification, so every chart the tracker draws has one without a describer each.
"""

from __future__ import annotations

import altair as alt
import pandas as pd

from tracker.reports.charts.spec import vega_lite

CHANNELS = ("x", "y", "x2", "y2", "color", "size", "shape", "text", "row", "column", "facet")
MARKS = {"bar": "bar", "line": "line", "point": "point", "circle": "point", "square": "point",
         "rect": "tile", "rule": "rule", "area": "area", "tick": "tick", "text": "label"}


def _text(title) -> str | None:
    if isinstance(title, dict):
        title = title.get("text")
    if isinstance(title, list):
        title = " ".join(str(t) for t in title)
    return str(title).strip() if title else None


def _views(spec: dict):
    """Every single view of a (layered, concatenated or faceted) specification."""
    if "mark" in spec:
        yield spec
    for key in ("layer", "hconcat", "vconcat", "concat"):
        for part in spec.get(key, []):
            yield from _views(part)
    if isinstance(spec.get("spec"), dict):
        yield from _views(spec["spec"])


def text_alternative(chart: alt.TopLevelMixin | dict,
                     max_rows: int = 60) -> tuple[str, pd.DataFrame]:
    """(a sentence saying what the chart (or its Vega-Lite specification) shows, its data as a
    table with the columns the chart draws, named as its axes and legends name them; the last
    `max_rows` rows (a chart's data runs oldest first: the latest are kept), the sentence
    saying so)."""
    spec = chart if isinstance(chart, dict) else vega_lite(chart)
    datasets = spec.get("datasets", {})
    fields: dict[str, str] = {}  # field -> what the chart calls it
    axes: dict[str, str] = {}
    kinds: list[str] = []
    used: dict[str, int] = {}
    for view in _views(spec):
        mark = view["mark"]["type"] if isinstance(view["mark"], dict) else view["mark"]
        if MARKS.get(mark) and MARKS[mark] not in kinds and mark != "text":
            kinds.append(MARKS[mark])
        data = (view.get("data") or spec.get("data") or {}).get("name")
        if data:
            used[data] = used.get(data, 0) + 1
        for channel in CHANNELS:
            encoding = view.get("encoding", {}).get(channel)
            if not isinstance(encoding, dict) or "field" not in encoding:
                continue
            field = str(encoding["field"]).split(":")[0]
            name = _text(encoding.get("title")) or fields.get(field) or field
            fields.setdefault(field, name)
            if channel in ("x", "y") and channel not in axes:
                axes[channel] = name
    frame = pd.DataFrame()
    if used:
        name = max(used, key=lambda n: (used[n], len(datasets.get(n, []))))
        frame = pd.DataFrame(datasets.get(name, []))
    columns = [f for f in fields if f in frame.columns]
    table = frame[columns].rename(columns=fields) if columns else frame.iloc[:, :0]
    title = _text(spec.get("title")) or next(
        (_text(v.get("title")) for v in _views(spec) if v.get("title")), None)
    what = " and ".join(kinds) or "picture"
    sentence = (f"{title}: a " if title else "A ") + f"{what} chart"
    if "y" in axes and "x" in axes:
        sentence += f" of {axes['y']} against {axes['x']}"
    elif axes:
        sentence += f" of {next(iter(axes.values()))}"
    sentence += f", drawn from {len(frame):,} row{'s' if len(frame) != 1 else ''} of data"
    if len(table) > max_rows:
        sentence += (f" (the last {max_rows:,} are in the table below; Export data has every "
                     "result)")
        table = table.tail(max_rows)
    return sentence + ".", table.reset_index(drop=True)
