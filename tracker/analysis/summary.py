"""The leadership summary: one row per measure x organisation, Making Data Count style."""

from __future__ import annotations

import base64

import numpy as np
import pandas as pd

from tracker import spc
from tracker.access.scope import Scope
from tracker.records import observations, repo
from tracker.storage.db import Database

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
           f'<text x="14" y="19" font-family="Arial, Helvetica, sans-serif" font-size="14" '
           f'font-weight="bold" '
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


COLUMNS = ["organisation_id", "measure_id", "organisation", "measure", "measure_type",
           "latest_period", "latest", "unit", "percent", "target", "variation",
           "variation_icon", "assurance", "assurance_icon", "improving", "concern", "signal",
           "signal_now", "signal_earlier", "points"]


def summary_table(db: Database, scope: Scope,
                  organisation_ids: list[int] | None = None) -> pd.DataFrame:
    """Every measure at every organisation the user may see (or at `organisation_ids`):
    latest value, target, the variation and assurance icons (with words), and the latest
    signal in a sentence (`signal`), split into what the latest points show (`signal_now`: the
    signal reaches the latest point) and history (`signal_earlier`: it ended before).

    All series at once: the results come out of DuckDB in series order and go through the
    batch statistics (`spc.xmr_many`, `spc.attribute_many`, `spc.explain_many`), the same
    engines the charts use one series at a time, so the Summary and a chart always agree.
    """
    scope.require_member("the summary of results")
    values, attributes = charted_series(db, scope, organisation_ids)
    parts = []
    if not values.empty:
        parts.append(_value_rows(values))
    if not attributes.empty:
        parts.append(_attribute_rows(attributes))
    if not parts:
        return pd.DataFrame(columns=COLUMNS)
    rows = pd.concat(parts, ignore_index=True)
    m = repo.list_measures(db).set_index("id")
    orgs = repo.list_organisations(db, scope).set_index("id")["name"]
    target = rows["target"]
    variation = [None if pd.isna(v) else v for v in rows["variation"]]
    assurance = [None if pd.isna(a) else a for a in rows["assurance"]]
    out = pd.DataFrame({
        "organisation_id": rows["organisation_id"].astype(int),
        "measure_id": rows["measure_id"].astype(int),
        "organisation": rows["organisation_id"].map(orgs),
        "measure": rows["measure_id"].map(m["name"]),
        "measure_type": rows["measure_id"].map(m["measure_type"]),
        "latest_period": rows["period"], "latest": rows["value"].astype(float),
        "unit": rows["measure_id"].map(m["unit"]),
        "percent": rows["measure_id"].map(m["data_kind"]) == "proportion",
        "target": target.astype(object).where(target.notna(), None),
        "variation": [VARIATION_WORDS[v] for v in variation],
        "variation_icon": [variation_icon(v, d) for v, d in
                           zip(variation, rows["direction"], strict=True)],
        "assurance": [ASSURANCE_WORDS[a] for a in assurance],
        "assurance_icon": [assurance_icon(a) for a in assurance],
        "improving": rows["variation"] == "improvement",
        "concern": rows["variation"] == "concern",
        "signal": rows["signal"].fillna(""),
        "signal_now": rows["signal"].where(rows["signal_is_now"].astype(bool), "").fillna(""),
        "signal_earlier": rows["signal"].where(~rows["signal_is_now"].astype(bool), "")
        .fillna(""),
        "points": rows["points"].astype(int)})
    return out.sort_values(["measure", "organisation"], ignore_index=True)


KEYS = ["organisation_id", "measure_id"]


def _phase_starts(db: Database, results: pd.DataFrame) -> np.ndarray:
    """True on the first period on or after each rebase date of the series (a new phase)."""
    flags = np.zeros(len(results), dtype=bool)
    phases = db.read("SELECT measure_id, organisation_id, on_date FROM annotation"
                     " WHERE kind = 'phase'")
    if phases.empty:
        return flags
    rows = results[KEYS + ["period"]].reset_index(names="row")
    rows["period"] = pd.to_datetime(rows["period"])
    phases["on_date"] = pd.to_datetime(phases["on_date"])
    matched = rows.merge(phases, on="measure_id", suffixes=("", "_phase"))
    matched = matched[(matched["organisation_id_phase"].isna()
                       | (matched["organisation_id_phase"] == matched["organisation_id"]))
                      & (matched["period"] >= matched["on_date"])]
    firsts = matched.groupby(KEYS + ["on_date"])["row"].min().to_numpy()
    flags[firsts] = True
    return flags


def _latest(frame: pd.DataFrame) -> pd.DataFrame:
    """Each series' latest period with a value, its number of such periods, and its row
    position within the series (`position`)."""
    position = frame.groupby(KEYS, sort=False).cumcount()
    present = frame[frame["value"].notna()].assign(position=position[frame["value"].notna()])
    latest = present.groupby(KEYS, sort=False).tail(1).copy()
    latest["points"] = latest.set_index(KEYS).index.map(present.groupby(KEYS).size())
    return latest.reset_index(drop=True)


def _is_now(latest: pd.DataFrame, last_rows: pd.Series) -> np.ndarray:
    """Whether each series' latest signal reaches its latest point (`last_rows`: the row
    position where that signal ends, indexed by the series keys)."""
    ends = latest.set_index(KEYS).index.map(last_rows).to_numpy(dtype="float64")
    return ends >= latest["position"].to_numpy(dtype="float64")


def charted_series(db: Database, scope: Scope, organisation_ids: list[int] | None = None, *,
                   targeted_by_cycles: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every current series of an active measure the user may see (or at `organisation_ids`,
    or only those some PDSA cycle targets), charted as the Outcomes page charts it: XmR for
    values (with the rule flags), p or u for proportions and rates, each rebase a new phase.
    Returns (value series, attribute series), rows of a series together in period order."""
    results = observations.series_results(db, scope, organisation_ids,
                                  targeted_by_cycles=targeted_by_cycles)
    measures = repo.list_measures(db, include_retired=False)
    results = results[results["measure_id"].isin(measures["id"])].reset_index(drop=True)
    m = measures.set_index("id")
    # per-measure columns as categoricals: a million strings would cost more than the maths
    where = m.index.get_indexer(results["measure_id"])
    for column in ("direction", "data_kind"):
        results[column] = pd.Categorical(m[column]).take(where)
    results["target"] = m["target"].to_numpy(dtype=float)[where]
    results["phase_start"] = _phase_starts(db, results)
    is_value = (results["data_kind"] == "value").to_numpy(dtype=bool)
    values, attributes = results[is_value], results[~is_value]
    if not values.empty:
        values = spc.xmr_many(values, KEYS, "value", improvement="direction",
                              phase_start="phase_start")
    if not attributes.empty:
        attributes = spc.attribute_many(attributes, KEYS, kind="data_kind",
                                        improvement="direction", phase_start="phase_start")
    return values, attributes


def _value_rows(charted: pd.DataFrame) -> pd.DataFrame:
    latest = _latest(charted)
    trial = latest["trial"].to_numpy(dtype=bool)
    latest["variation"] = latest["point_type"].where(~trial, None)
    latest["assurance"] = _assurance(latest)
    # "now": the latest-starting signal that reaches the series' latest point; otherwise the
    # latest signal to start, which is history
    signals = spc.explain_many(charted, KEYS, improvement="direction", latest_only=True,
                               prefer_now=True)
    if len(signals):
        by_series = signals.set_index(KEYS)
        latest["signal"] = latest.set_index(KEYS).index.map(by_series["sentence"]).to_numpy()
        latest["signal_is_now"] = _is_now(latest, by_series["last"])
    else:
        latest["signal"], latest["signal_is_now"] = None, False
    return latest


def _attribute_rows(charted: pd.DataFrame) -> pd.DataFrame:
    latest = _latest(charted)
    trial = latest["trial"].to_numpy(dtype=bool)
    latest["variation"] = latest["point_type"].where(~trial, None)
    latest["assurance"] = _assurance(latest)
    charted["position"] = charted.groupby(KEYS, sort=False).cumcount()  # row in its series
    outside = charted[charted["outside"]]
    if len(outside):
        last = outside.groupby(KEYS).tail(1).copy()
        last["sentence"] = [spc.outside_sentence(p, i, t) for p, i, t in
                            zip(last["period"], last["position"], last["point_type"],
                                strict=True)]
        latest["signal"] = latest.set_index(KEYS).index.map(
            last.set_index(KEYS)["sentence"]).to_numpy()
        latest["signal_is_now"] = _is_now(latest, last.set_index(KEYS)["position"])
    else:
        latest["signal"], latest["signal_is_now"] = None, False
    return latest


def _assurance(latest: pd.DataFrame) -> list[str | None]:
    """The assurance icon of each series from its latest phase's limits."""
    return [None if trial else _attribute_assurance(limits, target, direction)
            for limits, target, direction, trial in zip(
                latest[["lower", "upper"]].to_dict("records"), latest["target"],
                latest["direction"], latest["trial"], strict=True)]


def _attribute_assurance(latest, target, direction) -> str | None:
    if target is None or pd.isna(target) or direction == "neutral":
        return None
    lower, upper = latest["lower"], latest["upper"]
    if np.isnan(lower) or np.isnan(upper):
        return None
    if direction == "increase":
        return "fail" if target > upper else "pass" if target < lower else "hit_and_miss"
    return "fail" if target < lower else "pass" if target > upper else "hit_and_miss"
