"""The funnel plot of a proportion across organisations, small multiples, and one idea's panel."""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from tracker.reports.charts.spc_charts import spc_chart
from tracker.reports.charts.style import _wrap, quick, style

# --------------------------------------------------------------------------- funnel plot


def funnel_frame(totals: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each organisation's proportion against its denominator, with the 95% and 99.8% limits
    around the overall proportion for every denominator size, so a small partner is not
    called an outlier by chance. Returns (points, limits)."""
    points = totals.copy()
    points["proportion"] = points["numerator"] / points["denominator"]
    centre = points["numerator"].sum() / points["denominator"].sum()
    n = np.unique(np.geomspace(max(points["denominator"].min() * 0.5, 1),
                               points["denominator"].max() * 1.2, 120).round())
    spread = np.sqrt(centre * (1 - centre) / n)
    limits = pd.DataFrame({"n": n, "centre": centre,
                           "lower95": np.clip(centre - 1.96 * spread, 0, 1),
                           "upper95": np.clip(centre + 1.96 * spread, 0, 1),
                           "lower998": np.clip(centre - 3.09 * spread, 0, 1),
                           "upper998": np.clip(centre + 3.09 * spread, 0, 1)})
    own = np.sqrt(centre * (1 - centre) / points["denominator"])
    z = (points["proportion"] - centre) / own.replace(0, np.nan)
    points["position"] = np.select(
        [z.abs() > 3.09, z.abs() > 1.96], ["Outside 99.8% limits", "Outside 95% limits"],
        "Within limits")
    return points, limits


MAX_FUNNEL_LABELS = 12  # with more organisations, only those outside the 95% limits are named


def place_labels(px: np.ndarray, py: np.ndarray, widths: np.ndarray, *, height: float = 13,
                 gap: float = 7, obstacles=()) -> list[tuple[float, float, str]]:
    """Greedy label placement in pixels: for each point (top to bottom), the first of right,
    left, above-right, below-right, above-left, below-left where its label box overlaps no
    label already placed, no point and no obstacle box (x0, y0, x1, y1). Returns (x, y, align)
    of each label's anchor."""
    boxes: list[tuple[float, float, float, float]] = list(obstacles)
    dots = [(x - 5, y - 5, x + 5, y + 5) for x, y in zip(px, py, strict=True)]
    placed: list[tuple[float, float, str] | None] = [None] * len(px)

    def free(box):
        return all(box[2] <= o[0] or box[0] >= o[2] or box[3] <= o[1] or box[1] >= o[3]
                   for o in boxes + dots)

    for i in np.argsort(py):
        x, y, w = px[i], py[i], widths[i]
        options = [(gap, 0), (-gap, 0), (gap, -height), (gap, height), (-gap, -height),
                   (-gap, height)]
        for dx, dy in options:
            left = x + dx if dx > 0 else x + dx - w
            box = (left, y + dy - height / 2, left + w, y + dy + height / 2)
            if free(box):
                break
        else:
            dx, dy = options[0]  # nowhere free: the default place
            left = x + dx
            box = (left, y + dy - height / 2, left + w, y + dy + height / 2)
        boxes.append(box)
        placed[i] = (x + dx, y + dy, "left" if dx > 0 else "right")
    return placed


@quick
def funnel_chart(totals: pd.DataFrame, *, title: str, width: int = 800) -> alt.TopLevelMixin:
    """The funnel plot: points shaped and coloured by where they fall, the overall line and the
    95% and 99.8% limits named at their ends, and the organisations named beside their points
    (all of them when there are few; otherwise those outside the 95% limits)."""
    points, limits = funnel_frame(totals)
    height = 380
    domain = [float(limits["n"].min()), float(limits["n"].max()) * 1.9]  # room for names
    values = np.concatenate([points["proportion"], limits["lower998"], limits["upper998"]])
    pad = (values.max() - values.min()) * 0.05 or 0.01
    y_domain = [max(values.min() - pad, 0.0), min(values.max() + pad, 1.0)]
    x = alt.X("n:Q", title="Denominator (people counted over the period)",
              scale=alt.Scale(type="log", domain=domain, nice=False))
    y = alt.Y("value:Q", title="Proportion", axis=alt.Axis(format=".0%"),
              scale=alt.Scale(domain=y_domain, nice=False, zero=False))
    names = {"centre": "Overall", "upper95": "95% limits", "lower95": "95% limits",
             "upper998": "99.8% limits", "lower998": "99.8% limits"}
    long = limits.melt("n", list(names), var_name="line", value_name="value")
    long["name"] = long["line"].map(names)
    dashes = {"Overall": [1, 0], "95% limits": [6, 3], "99.8% limits": [2, 2]}
    lines = alt.Chart(long).mark_line(color="#425563").encode(
        x=x, y=y, detail="line:N",
        strokeDash=alt.StrokeDash("name:N", title="Lines", scale=alt.Scale(
            domain=list(dashes), range=list(dashes.values()))),
        tooltip=[alt.Tooltip("name:N", title="Line"),
                 alt.Tooltip("value:Q", title="Proportion", format=".1%"),
                 alt.Tooltip("n:Q", title="Denominator", format=",.0f")])
    ends = long[long["n"] == long["n"].max()].copy()
    ends["text"] = np.where(ends["name"] == "Overall",
                            "Overall " + ends["value"].map("{:.1%}".format), ends["name"])
    end_labels = alt.Chart(ends).mark_text(align="left", dx=4, fontSize=11,
                                           color="#425563").encode(x=x, y=y, text="text:N")
    dots_data = points.rename(columns={"denominator": "n", "proportion": "value"})
    kinds = ["Within limits", "Outside 95% limits", "Outside 99.8% limits"]
    dots = alt.Chart(dots_data).mark_point(filled=True, size=90, opacity=1).encode(
        x=x, y=y,
        color=alt.Color("position:N", title="Organisation", scale=alt.Scale(
            domain=kinds, range=["#a6a6a6", "#ffb81c", "#e46c0a"])),
        shape=alt.Shape("position:N", title="Organisation", scale=alt.Scale(
            domain=kinds, range=["circle", "square", "diamond"])),
        tooltip=[alt.Tooltip("organisation:N", title="Organisation"),
                 alt.Tooltip("value:Q", format=".1%", title="Proportion"),
                 alt.Tooltip("n:Q", title="Denominator", format=","),
                 alt.Tooltip("position:N", title="Position")])
    named = points if len(points) <= MAX_FUNNEL_LABELS else \
        points[points["position"] != "Within limits"]
    # place the names in pixels (the scales are fixed above), then back to data units
    log0, log1 = np.log10(domain[0]), np.log10(domain[1])
    px = (np.log10(named["denominator"].to_numpy()) - log0) / (log1 - log0) * width
    py = (y_domain[1] - named["proportion"].to_numpy()) / (y_domain[1] - y_domain[0]) * height
    end_x = (np.log10(ends["n"].to_numpy()) - log0) / (log1 - log0) * width + 4
    end_y = (y_domain[1] - ends["value"].to_numpy()) / (y_domain[1] - y_domain[0]) * height
    taken = [(ex, ey - 7, ex + 6.2 * len(t), ey + 7)
             for ex, ey, t in zip(end_x, end_y, ends["text"], strict=True)]
    spots = place_labels(px, py, named["organisation"].str.len().to_numpy() * 6.2,
                         obstacles=taken)
    named = named.assign(
        n=[10 ** (log0 + sx / width * (log1 - log0)) for sx, _, _ in spots],
        value=[y_domain[1] - sy / height * (y_domain[1] - y_domain[0]) for _, sy, _ in spots],
        align=[a for _, _, a in spots])
    labels = [alt.Chart(named[named["align"] == align]).mark_text(
        align=align, baseline="middle", fontSize=11).encode(x=x, y=y, text="organisation:N")
        for align in ("left", "right") if (named["align"] == align).any()]
    caption = [] if len(points) <= MAX_FUNNEL_LABELS else [
        f"Named: the {len(named)} of {len(points)} organisations outside the 95% limits "
        "(hover for the others)."]
    return style(alt.layer(lines, end_labels, dots, *labels).properties(
        width=width, height=height, title=alt.Title(title, subtitle=caption)), orient="top")


@quick
def small_multiples(panels: list[tuple], *, unit: str | None = None, percent: bool = False,
                    columns: int = 3) -> alt.TopLevelMixin:
    """Several SPC charts side by side, each with its own limits: one measure across
    organisations (panels of (title, frame), sharing `unit`), or one organisation across its
    measures (panels of (title, frame, unit, percent), each on its own scale)."""
    charts_ = []
    for panel in panels:
        title, frame = panel[0], panel[1]
        own_unit, own_percent = (panel[2], panel[3]) if len(panel) == 4 else (unit, percent)
        charts_.append(spc_chart(frame, title=_wrap(title, 48, 1), unit=own_unit or "",
                                 percent=own_percent, width=300, styled=False, every_class=True)
                       .properties(height=170))
    rows = [alt.hconcat(*charts_[i: i + columns]) for i in range(0, len(charts_), columns)]
    return style(alt.vconcat(*rows), orient="top")


@quick
def idea_panel(title: str, frame: pd.DataFrame, cycles: pd.DataFrame, *, unit: str,
               percent: bool = False, target: float | None = None,
               width: int = 300) -> alt.TopLevelMixin:
    """One measure at one organisation that tested an idea, small, with the idea's cycles
    there drawn as bands: the panels of a learning record, laid side by side by the page or
    the report (one chart each: concatenating charts in Altair cost seconds per record).
    Title, subtitle and legend stay narrower than the plot, so a column can hold it."""
    chart = spc_chart(frame, title=_wrap(title, 40, 1), unit=unit or "", target=target,
                      cycles=cycles, percent=percent, width=width, styled=False,
                      every_class=True, cycle_key=False)
    # set, not .properties(): that validates the whole chart again (a third of the time)
    chart.height = 200
    # the plot is 300 x 200 and the titles and legend come on top (Streamlit would otherwise
    # squeeze all of it into 300 x 200)
    chart.autosize = alt.AutoSizeParams(type="pad", contains="padding")
    return style(chart, orient="top", columns=3)
