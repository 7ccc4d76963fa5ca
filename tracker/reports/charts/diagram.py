"""The driver diagram: aim, primary and secondary drivers and change ideas laid out and drawn."""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from tracker import vocab
from tracker.reports.charts.style import LEVEL_COLOURS, LINE, STATUS_COLOURS, _wrap, quick, style

# --------------------------------------------------------------------------- driver diagram


def driver_layout(aim: str, drivers: pd.DataFrame, links: pd.DataFrame, ideas: pd.DataFrame,
                  idea_links: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Place the boxes of a driver diagram in four columns (aim, primary, secondary, ideas)
    and list the lines between them. Returns (nodes, edges).

    Secondary drivers sit in the order of the first primary they serve, ideas in the order of
    their first driver, so most lines run across rather than up and down.
    """
    primary = drivers[drivers["level"] == "primary"].reset_index(drop=True)
    secondary = drivers[drivers["level"] == "secondary"].copy()
    p_rank = {pid: i for i, pid in enumerate(primary["id"])}
    first_parent = links.groupby("secondary_id")["primary_id"].agg(
        lambda s: min(p_rank.get(p, 99) for p in s)) if len(links) else pd.Series(dtype=float)
    secondary["order"] = secondary["id"].map(first_parent).fillna(99)
    secondary = secondary.sort_values(["order", "position", "id"]).reset_index(drop=True)
    d_rank = {did: i for i, did in enumerate(secondary["id"])}
    d_rank.update({did: -1 + i / 100 for i, did in enumerate(primary["id"])})
    ideas = ideas.copy()
    first_driver = idea_links.groupby("idea_id")["driver_id"].agg(
        lambda s: min(d_rank.get(d, 99) for d in s)) if len(idea_links) else pd.Series(dtype=float)
    ideas["order"] = ideas["id"].map(first_driver).fillna(99)
    ideas = ideas.sort_values(["order", "id"]).reset_index(drop=True)

    columns = [
        pd.DataFrame({"key": ["aim"], "label": [aim], "level": ["Aim"], "status": [""]}),
        pd.DataFrame({"key": "d" + primary["id"].astype(str), "label": primary["name"],
                      "level": "Primary driver", "status": ""}),
        pd.DataFrame({"key": "d" + secondary["id"].astype(str), "label": secondary["name"],
                      "level": "Secondary driver", "status": ""}),
        pd.DataFrame({"key": "i" + ideas["id"].astype(str), "label": ideas["title"],
                      "level": "Change idea",
                      "status": ideas["status"].map(vocab.IDEA_STATUSES).fillna("")}),
    ]
    rows = max(len(c) for c in columns) or 1
    # tall enough for the whole aim, however few drivers there are yet
    aim_lines = _wrap(aim, 30, lines=30).count("\n") + 1
    rows = max(rows, int(np.ceil((aim_lines * LINE + 0.16) / 0.92)))
    placed = []
    for col, frame in enumerate(columns):
        n = len(frame)
        if not n:
            continue
        frame = frame.copy()
        step = rows / n
        centre = step * (np.arange(n) + 0.5)
        frame["col"] = col
        frame["x0"], frame["x1"] = col + 0.04, col + 0.9
        # One row of the diagram is 64 px; a 15 px line of text needs 0.234 of a row.
        frame["text"] = [
            _wrap(label, 30, lines=30 if col == 0 else (2 if status else 3))  # the aim whole
            + (f"\n[{status}]" if status else "")
            for label, status in zip(frame["label"], frame["status"], strict=True)]
        lines = frame["text"].str.count("\n").to_numpy() + 1
        half = np.minimum(lines * LINE / 2 + 0.08, step * 0.46)
        frame["y0"], frame["y1"], frame["yc"] = centre - half, centre + half, centre
        frame["ytext"] = centre - lines * LINE / 2
        placed.append(frame)
    nodes = pd.concat(placed, ignore_index=True)
    nodes["rows"] = rows
    where = nodes.set_index("key")[["x0", "x1", "yc"]]

    edges = [("aim", "d" + str(pid)) for pid in primary["id"]]
    edges += [("d" + str(r.primary_id), "d" + str(r.secondary_id)) for r in links.itertuples()]
    edges += [("d" + str(r.driver_id), "i" + str(r.idea_id)) for r in idea_links.itertuples()]
    edges = [(a, b) for a, b in edges if a in where.index and b in where.index]
    edge_frame = pd.DataFrame({
        "x": [where.at[a, "x1"] for a, _ in edges], "y": [where.at[a, "yc"] for a, _ in edges],
        "x2": [where.at[b, "x0"] for _, b in edges], "y2": [where.at[b, "yc"] for _, b in edges],
    })
    return nodes, edge_frame


@quick
def driver_diagram(aim: str, drivers: pd.DataFrame, links: pd.DataFrame, ideas: pd.DataFrame,
                   idea_links: pd.DataFrame, width: int = 1000) -> alt.TopLevelMixin:
    """The driver diagram as a picture: aim → primary → secondary drivers → change ideas."""
    nodes, edges = driver_layout(aim, drivers, links, ideas, idea_links)
    rows = int(nodes["rows"].iloc[0])
    x = alt.X("x0:Q", axis=None, scale=alt.Scale(domain=[0, 4]))
    y_scale = alt.Scale(domain=[0, rows], reverse=True)
    colour_domain = [*LEVEL_COLOURS, *STATUS_COLOURS]
    colour_range = [*LEVEL_COLOURS.values(), *STATUS_COLOURS.values()]
    nodes["fill"] = np.where(nodes["level"] == "Change idea", nodes["status"], nodes["level"])
    boxes = alt.Chart(nodes).mark_rect(cornerRadius=4, stroke="#425563", strokeWidth=0.6).encode(
        x=x, x2="x1:Q", y=alt.Y("y0:Q", axis=None, scale=y_scale), y2="y1:Q",
        color=alt.Color("fill:N", title="Colour key", scale=alt.Scale(domain=colour_domain,
                                                                range=colour_range)),
        tooltip=[alt.Tooltip("level:N", title="Level"), alt.Tooltip("label:N", title="Name"),
                 alt.Tooltip("status:N", title="Status")],
    )
    text_colour = alt.condition(
        alt.FieldOneOfPredicate("fill", ["Aim", "Primary driver", "Testing", "Adopted",
                                         "Abandoned"]),
        alt.value("white"), alt.value("#212b32"))
    labels = alt.Chart(nodes).mark_text(align="left", baseline="top", dx=6, lineBreak="\n",
                                        fontSize=12, lineHeight=15).encode(
        x=x, y=alt.Y("ytext:Q", scale=y_scale, axis=None), text="text:N", color=text_colour)
    lines = alt.Chart(edges).mark_rule(color="#768692", strokeWidth=1.2).encode(
        x=alt.X("x:Q", scale=alt.Scale(domain=[0, 4]), axis=None),
        y=alt.Y("y:Q", scale=y_scale, axis=None), x2="x2:Q", y2="y2:Q")
    headers = pd.DataFrame({"x0": [0.04, 1.04, 2.04, 3.04],
                            "label": ["Aim", "Primary drivers", "Secondary drivers",
                                      "Change ideas"]})
    head = alt.Chart(headers).mark_text(align="left", fontSize=14, fontWeight="bold",
                                        dy=-8).encode(x=x, text="label:N", y=alt.value(0))
    chart = alt.layer(lines, boxes, labels, head).properties(
        width=width, height=max(240, rows * 64), padding={"top": 24, "left": 5, "right": 5,
                                                           "bottom": 5})
    return style(chart, orient="bottom", columns=4)
