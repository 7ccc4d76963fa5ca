"""Measures: definitions, direction, target and plausible range; add, edit, retire."""

from __future__ import annotations

import re

import pandas as pd

from tracker import clock, vocab
from tracker.access.scope import Scope
from tracker.errors import InputError
from tracker.storage.db import Database
from tracker.storage.store import (
    MAX_LONG,
    _audit,
    _Checks,
    _insert,
    _row,
    _unique_name,
    _update,
)

# --------------------------------------------------------------------------- measures


def list_measures(db: Database, include_retired: bool = True, *,
                  results_of: int | None = None) -> pd.DataFrame:
    """Every measure, with its count of results (of one organisation's only, `results_of`,
    for a partner, who may not count the others') and its plausible range (`plausible_low`,
    `plausible_high`; empty where none is set)."""
    own = "" if results_of is None else " AND r.organisation_id = ?"
    return db.read(
        f"SELECT m.*, (SELECT count(*) FROM result r WHERE r.measure_id = m.id{own}) AS results,"
        " mr.low AS plausible_low, mr.high AS plausible_high"
        " FROM measure m LEFT JOIN measure_range mr ON mr.measure_id = m.id"
        " WHERE ? OR m.retired_at IS NULL ORDER BY m.measure_type, m.name",
        ([] if results_of is None else [results_of]) + [include_retired],
    )


def _range_fields(c: _Checks, low, high, data_kind) -> dict:
    """A plausible range: either end may be empty. A proportion's range is in percent or as a
    fraction, like its target."""
    out = {"low": c.number(_percent(low), "Plausible range, lowest"),
           "high": c.number(_percent(high), "Plausible range, highest")}
    if out["low"] is not None and out["high"] is not None and out["low"] >= out["high"]:
        c.problems.append("The plausible range's lowest value must be below its highest.")
    if data_kind == "proportion" and any(v is not None and not 0 <= v <= 1
                                         for v in out.values()):
        c.problems.append("A proportion's plausible range is between 0% and 100%.")
    return out


def _store_range(cur, actor: str, measure_id: int, bounds: dict) -> None:
    before = cur.execute("SELECT low, high FROM measure_range WHERE measure_id = ?",
                         [measure_id]).fetchone()
    after = (bounds["low"], bounds["high"])
    if (before or (None, None)) == after:
        return
    cur.execute("DELETE FROM measure_range WHERE measure_id = ?", [measure_id])
    if after != (None, None):
        cur.execute("INSERT INTO measure_range VALUES (?, ?, ?)", [measure_id, *after])
    _audit(cur, actor, "update", "measure_range", measure_id,
           None if before is None else {"low": before[0], "high": before[1]}, bounds)


def _percent(value):
    """"80%" → 0.8 (a proportion's target as people write it); anything else unchanged."""
    if isinstance(value, str) and value.strip().endswith("%"):
        number = value.strip()[:-1].strip()
        try:
            return float(number.replace(",", "")) / 100
        except ValueError:
            return value
    return value


def _measure_fields(cur, c, *, code, name, measure_type, definition, unit, direction, data_kind,
                    frequency, target=None, numerator=None, denominator=None, exclude_id=None):
    fields = {
        "code": c.text(code, "Short code", limit=20),
        "name": c.text(name, "Measure name"),
        "measure_type": c.choice(measure_type, "Type of measure", vocab.MEASURE_TYPES),
        "definition": c.text(definition, "Operational definition", limit=MAX_LONG),
        "numerator": c.text(numerator, "Numerator", required=False, limit=MAX_LONG),
        "denominator": c.text(denominator, "Denominator", required=False, limit=MAX_LONG),
        "unit": c.text(unit, "Unit", limit=50),
        "direction": c.choice(direction, "Improvement direction", vocab.DIRECTIONS),
        "target": c.number(_percent(target), "Target"),
        "data_kind": c.choice(data_kind, "Kind of data", vocab.DATA_KINDS),
        "frequency": c.choice(frequency, "Frequency", vocab.FREQUENCIES),
    }
    if fields["code"] and not re.fullmatch(r"[A-Za-z0-9_\-]+", fields["code"]):
        c.problems.append(
            f"Short code '{fields['code']}' may hold only letters, digits, - and _ (no spaces).")
    if fields["data_kind"] in ("proportion", "rate") and not (
            fields["numerator"] and fields["denominator"]):
        word = "proportion" if fields["data_kind"] == "proportion" else "rate"
        c.problems.append(
            f"A {word} needs both a numerator and a denominator definition: say what is "
            "counted on top and what it is divided by.")
    if isinstance(target, str) and target.strip().endswith("%") and \
            fields["data_kind"] != "proportion":
        c.problems.append(f"Target '{target.strip()}' is a percentage, which only a proportion "
                          "takes; write the number in the measure's unit.")
    if (fields["data_kind"] == "proportion" and fields["target"] is not None
            and not 0 <= fields["target"] <= 1):
        c.problems.append("The target of a proportion is between 0% and 100% (write 80% or "
                          "0.8).")
    for column, label in (("code", "Short code"), ("name", "Measure name")):
        if fields[column]:
            _unique_name(cur, "measure", column, fields[column], label, c.problems, exclude_id)
    return fields


def add_measure(db: Database, scope: Scope, *, plausible_low=None, plausible_high=None,
                **values) -> int:
    scope.require_admin("add measures")
    c = _Checks()
    with db.transaction() as cur:
        fields = _measure_fields(cur, c, **values)
        bounds = _range_fields(c, plausible_low, plausible_high, fields["data_kind"])
        c.raise_if_any()
        new_id = _insert(cur, "measure", fields)
        _audit(cur, scope.actor, "create", "measure", new_id, None, fields)
        _store_range(cur, scope.actor, new_id, bounds)
    return new_id


def update_measure(db: Database, scope: Scope, measure_id: int, *, plausible_low=None,
                   plausible_high=None, **values) -> dict:
    scope.require_admin("edit measures")
    c = _Checks()
    with db.transaction() as cur:
        before = _row(cur, "measure", measure_id)
        if before is None:
            raise InputError("That measure no longer exists; reload the page.")
        fields = _measure_fields(cur, c, exclude_id=measure_id, **values)
        bounds = _range_fields(c, plausible_low, plausible_high, fields["data_kind"])
        cur.execute("SELECT count(*) FROM result WHERE measure_id = ?", [measure_id])
        if cur.fetchone()[0] and fields["data_kind"] and fields["data_kind"] != before["data_kind"]:
            c.problems.append(
                "This measure already has results, so its kind of data cannot change: retire it "
                "and add a new measure instead.")
        c.raise_if_any()
        _store_range(cur, scope.actor, measure_id, bounds)
        return _update(cur, scope.actor, "measure", measure_id, fields, "measure")


def set_measure_retired(db: Database, scope: Scope, measure_id: int, retired: bool) -> None:
    scope.require_admin("retire measures")
    with db.transaction() as cur:
        _update(cur, scope.actor, "measure", measure_id,
                {"retired_at": clock.now() if retired else None}, "measure")
