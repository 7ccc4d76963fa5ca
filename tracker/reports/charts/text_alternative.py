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
    top = (spec.get("data") or {}).get("name")
    views = list(_views(spec))
    kinds: list[str] = []
    used: dict[str, int] = {}
    named: dict[str, str] = {}  # field -> the title its tooltips give it
    for view in views:
        mark = view["mark"]["type"] if isinstance(view["mark"], dict) else view["mark"]
        if MARKS.get(mark) and MARKS[mark] not in kinds and mark != "text":
            kinds.append(MARKS[mark])
        data = (view.get("data") or {}).get("name") or top
        if data:
            used[data] = used.get(data, 0) + 1
        tips = view.get("encoding", {}).get("tooltip", [])
        for tip in tips if isinstance(tips, list) else [tips]:
            if isinstance(tip, dict) and "field" in tip and _text(tip.get("title")):
                named.setdefault(str(tip["field"]).split(":")[0], _text(tip["title"]))
    main = max(used, key=lambda n: (used[n], len(datasets.get(n, [])))) if used else None
    fields: dict[str, str] = {}  # field of the table's data -> what the chart calls it
    axes: dict[str, tuple[bool, str]] = {}  # channel -> (titled on the chart, its name)
    for view in views:
        if ((view.get("data") or {}).get("name") or top) != main:
            continue  # another table's marks (the cycles' bands, a target's label)
        encodings = view.get("encoding", {})
        for channel in CHANNELS:
            encoding = encodings.get(channel)
            if not isinstance(encoding, dict) or "field" not in encoding:
                continue
            axis = encodings.get(channel[0]) if channel in ("x2", "y2") else encoding
            if channel[0] in "xy" and isinstance(axis, dict) and "axis" in axis and \
                    axis["axis"] is None:
                continue  # a position with no axis (a diagram's layout), not data to read
            field = str(encoding["field"]).split(":")[0]
            titled = _text(encoding.get("title"))
            name = titled or fields.get(field) or named.get(field) or (
                "Label" if channel == "text" else field)
            fields.setdefault(field, name)
            if channel in ("x", "y") and (channel not in axes or titled and
                                          not axes[channel][0]):
                axes[channel] = (bool(titled), name)  # a titled axis names it best
    frame = pd.DataFrame(datasets.get(main, [])) if main else pd.DataFrame()
    columns = [f for f in fields if f in frame.columns]
    table = frame[columns].rename(columns=fields) if columns else frame.iloc[:, :0]
    axes = {channel: name for channel, (_, name) in axes.items()}
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
