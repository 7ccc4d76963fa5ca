"""The leadership summary: one row per measure x organisation, Making Data Count style."""

from __future__ import annotations

import base64

import numpy as np
import pandas as pd

from tracker import charts, repo, spc
from tracker.auth import Scope
from tracker.db import Database

VARIATION_WORDS = {
    "common_cause": "Common cause",
    "improvement": "Special cause: improvement",
    "concern": "Special cause: concern",
    "neutral_high": "Special cause: unusually high",
    "neutral_low": "Special cause: unusually low",
    None: "Too few points (under 13)",
}
ASSURANCE_WORDS = {"pass": "Consistently passes the target",
                   "fail": "Consistently fails the target",
                   "hit_and_miss": "Hit and miss: sometimes meets the target",
                   None: "No target or too few points"}


def _svg(fill: str, letter: str, ring: str = "#ffffff") -> str:
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="28" height="28" viewBox="0 0 28 28">'
           f'<circle cx="14" cy="14" r="12" fill="{fill}" stroke="{ring}" stroke-width="2"/>'
           f'<text x="14" y="19" font-family="Arial" font-size="14" font-weight="bold" '
           f'fill="#ffffff" text-anchor="middle">{letter}</text></svg>')
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


def variation_icon(point_type: str | None, direction: str) -> str:
    """The variation icon, drawn here: colour for the class, a letter for high or low (so it
    does not rely on colour), as in Making Data Count."""
    if point_type is None:
        return _svg("#d8dde0", "–")
    if point_type == "common_cause":
        return _svg("#a6a6a6", "~")
    if point_type.startswith("neutral"):
        return _svg("#490092", "H" if point_type.endswith("high") else "L")
    up = (point_type == "improvement") == (direction == "increase")
    colour = "#00b0f0" if point_type == "improvement" else "#e46c0a"
    return _svg(colour, "H" if up else "L")


def assurance_icon(assurance: str | None) -> str:
    return {"pass": _svg("#00b0f0", "P"), "fail": _svg("#e46c0a", "F"),
            "hit_and_miss": _svg("#a6a6a6", "?")}.get(assurance, _svg("#d8dde0", "–"))


def summary_table(db: Database, scope: Scope) -> pd.DataFrame:
    """Every measure at every organisation the user may see: latest value, target, the
    variation and assurance icons (with words), and the latest signal in a sentence."""
    results = repo.load_results(db, scope)
    measures = repo.list_measures(db, include_retired=False).set_index("id")
    if results.empty:
        return pd.DataFrame(columns=["organisation", "measure", "latest_period", "latest",
                                     "target", "variation", "assurance", "signal"])
    phases = db.read("SELECT measure_id, organisation_id, on_date FROM annotation"
                     " WHERE kind = 'phase'")
    rows = []
    for (org_id, measure_id), series in results.groupby(["organisation_id", "measure_id"]):
        if measure_id not in measures.index:
            continue
        m = measures.loc[measure_id]
        dates = phases[(phases["measure_id"] == measure_id)
                       & (phases["organisation_id"].isna()
                          | (phases["organisation_id"] == org_id))]["on_date"]
        frame = charts.outcome_frame(series, m["data_kind"], improvement=m["direction"],
                                     phase_dates=list(dates))
        present = frame.dropna(subset=["value"])
        latest = present.iloc[-1]
        if m["data_kind"] == "value":
            variation = spc.variation(frame)
            assurance = spc.assurance(frame, m["target"], m["direction"])
        else:  # attribute charts: the latest point's class, limits from the latest phase
            trial = bool(latest["trial"])
            variation = None if trial else latest["point_type"]
            assurance = None if trial else _attribute_assurance(latest, m["target"],
                                                                m["direction"])
        signals = frame.attrs.get("signals", [])
        rows.append({
            "organisation_id": int(org_id), "measure_id": int(measure_id),
            "organisation": series["organisation"].iloc[0], "measure": m["name"],
            "measure_type": m["measure_type"], "latest_period": latest["period"],
            "latest": float(latest["value"]), "unit": m["unit"],
            "percent": m["data_kind"] == "proportion",
            "target": None if pd.isna(m["target"]) else float(m["target"]),
            "variation": VARIATION_WORDS.get(variation, variation),
            "variation_icon": variation_icon(variation, m["direction"]),
            "assurance": ASSURANCE_WORDS.get(assurance, assurance),
            "assurance_icon": assurance_icon(assurance),
            "improving": variation == "improvement", "concern": variation == "concern",
            "signal": signals[-1] if signals else "",
            "points": int(present.shape[0]),
        })
    return pd.DataFrame(rows).sort_values(["measure", "organisation"], ignore_index=True)


def _attribute_assurance(latest, target, direction) -> str | None:
    if target is None or pd.isna(target) or direction == "neutral":
        return None
    lower, upper = latest["lower"], latest["upper"]
    if np.isnan(lower) or np.isnan(upper):
        return None
    if direction == "increase":
        return "fail" if target > upper else "pass" if target < lower else "hit_and_miss"
    return "fail" if target < lower else "pass" if target > upper else "hit_and_miss"
