"""The data layer for the challenge, its driver diagram, change ideas, organisations,
measures and PDSA cycles. Results live in `tracker.results`, uploads in `tracker.ingest`;
the shared write helpers (checks, audit) in `tracker.store`.

Reads return DataFrames. Writes check their input first and raise `InputError` with every
problem in plain words (nothing is written then); otherwise they run in one transaction and
add a row to the append-only audit log, which no function here updates or deletes.
"""

from __future__ import annotations

import datetime as dt
import re

import pandas as pd

from tracker import clock, vocab
from tracker.auth import Scope
from tracker.db import Database
from tracker.errors import InputError, PermissionDenied  # noqa: F401 - re-exported
from tracker.store import (  # noqa: F401 - the helpers other modules reach through repo
    MAX_LONG,
    MAX_SHORT,
    _audit,
    _Checks,
    _ids,
    _insert,
    _norm,
    _row,
    _unique_name,
    _update,
)

# --------------------------------------------------------------------------- challenge


def list_challenges(db: Database) -> pd.DataFrame:
    """Every challenge of the lab, newest first (a lab takes a new one every 9–12 months)."""
    return db.read("SELECT id, title, start_date, end_date, is_demo FROM challenge"
                   " ORDER BY id DESC")


def challenge_span(db: Database) -> dict | None:
    """From the first challenge's start to the last one's end: the periods results may be
    stored for (a partner may send late results of an earlier challenge)."""
    row = db.read("SELECT min(start_date) AS start_date, max(end_date) AS end_date"
                  " FROM challenge").iloc[0]
    if pd.isna(row["start_date"]):
        return None
    return {"start_date": pd.Timestamp(row["start_date"]).date(),
            "end_date": pd.Timestamp(row["end_date"]).date()}


def get_challenge(db: Database, challenge_id: int | None = None) -> dict | None:
    """One challenge: `challenge_id`, or the newest (the one running now) when None or not
    found. Earlier challenges stay readable: their ideas, cycles and learning are theirs."""
    frame = pd.DataFrame()
    if challenge_id is not None:
        frame = db.read("SELECT * FROM challenge WHERE id = ?", [int(challenge_id)])
    if frame.empty:
        frame = db.read("SELECT * FROM challenge ORDER BY id DESC LIMIT 1")
    if frame.empty:
        return None
    row = frame.iloc[0].to_dict()
    row["start_date"] = pd.Timestamp(row["start_date"]).date()
    row["end_date"] = pd.Timestamp(row["end_date"]).date()
    return row


def _challenge_fields(c: _Checks, title, question, aim, start_date, end_date) -> dict:
    fields = {
        "title": c.text(title, "Title"),
        "question": c.text(question, "Challenge question", limit=MAX_LONG),
        "aim": c.text(aim, "Aim", limit=MAX_LONG),
        "start_date": c.date(start_date, "Start date"),
        "end_date": c.date(end_date, "End date"),
    }
    c.order(fields["start_date"], fields["end_date"], "challenge", strict=True)
    return fields


def create_challenge(db: Database, scope: Scope, *, title, question, aim, start_date, end_date,
                     is_demo: bool = False) -> int:
    scope.require_admin("create the challenge")
    c = _Checks()
    fields = _challenge_fields(c, title, question, aim, start_date, end_date)
    c.raise_if_any()
    fields["is_demo"] = bool(is_demo)
    with db.transaction() as cur:
        new_id = _insert(cur, "challenge", fields)
        _audit(cur, scope.actor, "create", "challenge", new_id, None, fields)
    return new_id


def update_challenge(db: Database, scope: Scope, challenge_id: int, *, title, question, aim,
                     start_date, end_date) -> dict:
    scope.require_admin("edit the challenge")
    c = _Checks()
    fields = _challenge_fields(c, title, question, aim, start_date, end_date)
    c.raise_if_any()
    with db.transaction() as cur:
        return _update(cur, scope.actor, "challenge", challenge_id, fields, "challenge")


def set_disclosure_threshold(db: Database, scope: Scope, challenge_id: int, organisations) -> None:
    """The fewest organisations an unnamed aggregate ("All other partners") may hold before
    a partner is shown it (at least 2; the default is 3)."""
    scope.require_admin("change the disclosure threshold")
    c = _Checks()
    number = c.number(organisations, "Disclosure threshold", required=True)
    if number is not None and (number != int(number) or number < 2 or number > 1000):
        c.problems.append("The disclosure threshold is a whole number of organisations, "
                          "from 2 up.")
    c.raise_if_any()
    with db.transaction() as cur:
        before = cur.execute("SELECT min_aggregate_orgs FROM challenge_settings"
                             " WHERE challenge_id = ?", [challenge_id]).fetchone()
        if before is None:
            cur.execute("INSERT INTO challenge_settings (challenge_id, min_aggregate_orgs)"
                        " VALUES (?, ?)", [challenge_id, int(number)])
        else:
            cur.execute("UPDATE challenge_settings SET min_aggregate_orgs = ?"
                        " WHERE challenge_id = ?", [int(number), challenge_id])
        _audit(cur, scope.actor, "update", "challenge_settings", challenge_id,
               {"min_aggregate_orgs": before[0] if before else None},
               {"min_aggregate_orgs": int(number)})


def list_phases(db: Database, challenge_id: int) -> pd.DataFrame:
    return db.read(
        "SELECT id, name, start_date, end_date FROM challenge_phase"
        " WHERE challenge_id = ? ORDER BY start_date, id",
        [challenge_id],
    )


def add_phase(db: Database, scope: Scope, challenge_id: int, *, name, start_date, end_date) -> int:
    scope.require_admin("edit the challenge's phases")
    c = _Checks()
    fields = {
        "challenge_id": challenge_id,
        "name": c.text(name, "Phase name"),
        "start_date": c.date(start_date, "Phase start date"),
        "end_date": c.date(end_date, "Phase end date"),
    }
    c.order(fields["start_date"], fields["end_date"], "phase")
    c.raise_if_any()
    with db.transaction() as cur:
        new_id = _insert(cur, "challenge_phase", fields)
        _audit(cur, scope.actor, "create", "challenge_phase", new_id, None, fields)
    return new_id


def delete_phase(db: Database, scope: Scope, phase_id: int) -> None:
    scope.require_admin("edit the challenge's phases")
    with db.transaction() as cur:
        before = _row(cur, "challenge_phase", phase_id)
        if before is None:
            raise InputError("That phase no longer exists; reload the page.")
        cur.execute("DELETE FROM challenge_phase WHERE id = ?", [phase_id])
        _audit(cur, scope.actor, "delete", "challenge_phase", phase_id, before, None)


def challenge_progress(challenge: dict, phases: pd.DataFrame, today: dt.date) -> dict:
    """Month x of y, and the phase that today falls in."""
    start, end = challenge["start_date"], challenge["end_date"]
    total = (end.year - start.year) * 12 + (end.month - start.month) + (1 if end.day >= start.day else 0)
    total = max(total, 1)
    clamped = min(max(today, start), end)
    month = (clamped.year - start.year) * 12 + (clamped.month - start.month)
    month += 1 if clamped.day >= start.day else 0
    month = min(max(month, 1), total)
    phase = None
    for row in phases.itertuples():
        if pd.Timestamp(row.start_date).date() <= today <= pd.Timestamp(row.end_date).date():
            phase = row.name
    if today < start:
        state = "not started"
    elif today > end:
        state = "finished"
    else:
        state = "running"
    return {"month": month, "months": total, "phase": phase, "state": state,
            "days_left": max((end - today).days, 0)}


# --------------------------------------------------------------------------- drivers


def list_drivers(db: Database, challenge_id: int, include_retired: bool = False) -> pd.DataFrame:
    return db.read(
        "SELECT d.id, d.level, d.name, d.description, d.measure_id, m.name AS measure,"
        " d.position, d.retired_at"
        " FROM driver d LEFT JOIN measure m ON m.id = d.measure_id"
        " WHERE d.challenge_id = ? AND (? OR d.retired_at IS NULL)"
        " ORDER BY d.level, d.position, d.id",
        [challenge_id, include_retired],
    )


def list_driver_links(db: Database, challenge_id: int) -> pd.DataFrame:
    return db.read(
        "SELECT l.primary_id, l.secondary_id FROM driver_link l"
        " JOIN driver d ON d.id = l.primary_id WHERE d.challenge_id = ?",
        [challenge_id],
    )


def _driver_checks(cur, c: _Checks, challenge_id, level, name, primary_ids, exclude_id=None):
    level = c.choice(level, "Driver level", vocab.DRIVER_LEVELS)
    name = c.text(name, "Driver name")
    if name:
        _unique_name(cur, "driver", "name", name, "Driver name", c.problems, exclude_id,
                     "AND challenge_id = ?", [challenge_id])
    primary_ids = _ids(primary_ids)
    if level == "secondary" and not primary_ids:
        c.problems.append("A secondary driver must serve at least one primary driver: pick one.")
    if level == "primary" and primary_ids:
        c.problems.append("A primary driver links to the aim, not to other primary drivers.")
    if primary_ids:
        cur.execute(
            "SELECT id FROM driver WHERE level = 'primary' AND challenge_id = ? AND id IN "
            f"({', '.join('?' for _ in primary_ids)})",
            [challenge_id, *primary_ids],
        )
        if len(cur.fetchall()) != len(primary_ids):
            c.problems.append("One of the chosen primary drivers no longer exists; reload the page.")
    return level, name, primary_ids


def add_driver(db: Database, scope: Scope, challenge_id: int, *, level, name, description=None,
               primary_ids=(), measure_id=None) -> int:
    scope.require_admin("edit the driver diagram")
    c = _Checks()
    with db.transaction() as cur:
        level, name, primary_ids = _driver_checks(cur, c, challenge_id, level, name, primary_ids)
        description = c.text(description, "Description", required=False, limit=MAX_LONG)
        c.raise_if_any()
        cur.execute("SELECT coalesce(max(position), 0) + 1 FROM driver WHERE challenge_id = ?",
                    [challenge_id])
        fields = {"challenge_id": challenge_id, "level": level, "name": name,
                  "description": description, "measure_id": measure_id,
                  "position": cur.fetchone()[0]}
        new_id = _insert(cur, "driver", fields)
        for pid in primary_ids:
            cur.execute("INSERT INTO driver_link VALUES (?, ?)", [pid, new_id])
        _audit(cur, scope.actor, "create", "driver", new_id, None, {**fields, "primary_ids": primary_ids})
    return new_id


def update_driver(db: Database, scope: Scope, driver_id: int, *, name, description=None,
                  primary_ids=(), measure_id=None) -> None:
    scope.require_admin("edit the driver diagram")
    c = _Checks()
    with db.transaction() as cur:
        before = _row(cur, "driver", driver_id)
        if before is None:
            raise InputError("That driver no longer exists; reload the page.")
        _, name, primary_ids = _driver_checks(cur, c, before["challenge_id"], before["level"],
                                              name, primary_ids, exclude_id=driver_id)
        description = c.text(description, "Description", required=False, limit=MAX_LONG)
        c.raise_if_any()
        _update(cur, scope.actor, "driver", driver_id,
                {"name": name, "description": description, "measure_id": measure_id}, "driver")
        if before["level"] == "secondary":
            cur.execute("SELECT primary_id FROM driver_link WHERE secondary_id = ?", [driver_id])
            old = sorted(r[0] for r in cur.fetchall())
            if old != primary_ids:
                cur.execute("DELETE FROM driver_link WHERE secondary_id = ?", [driver_id])
                for pid in primary_ids:
                    cur.execute("INSERT INTO driver_link VALUES (?, ?)", [pid, driver_id])
                _audit(cur, scope.actor, "relink", "driver", driver_id,
                       {"primary_ids": old}, {"primary_ids": primary_ids})


def set_driver_retired(db: Database, scope: Scope, driver_id: int, retired: bool) -> None:
    scope.require_admin("edit the driver diagram")
    with db.transaction() as cur:
        stamp = clock.now() if retired else None
        _update(cur, scope.actor, "driver", driver_id, {"retired_at": stamp}, "driver")


# --------------------------------------------------------------------------- ideas

_IDEA_STATUS_SQL = """
    coalesce(i.status_override,
        CASE
            WHEN last.id IS NULL THEN 'proposed'
            WHEN last.stage <> 'done' THEN 'testing'
            WHEN last.decision = 'adopt' THEN 'adopted'
            WHEN last.decision = 'adapt' THEN 'adapted'
            WHEN last.decision = 'abandon' THEN 'abandoned'
            ELSE 'testing'
        END)
"""


def list_ideas(db: Database, challenge_id: int) -> pd.DataFrame:
    """The register. Status is derived from the idea's latest cycle unless the lab set it."""
    return db.read(
        f"""
        WITH ranked AS (
            SELECT *, row_number() OVER (PARTITION BY idea_id
                                         ORDER BY start_date DESC, cycle_no DESC, id DESC) AS rn
            FROM cycle
        ), last AS (
            SELECT * FROM ranked WHERE rn = 1
        ), counts AS (
            SELECT idea_id, count(*) AS cycles, count(DISTINCT organisation_id) AS organisations,
                   min(start_date) AS first_cycle, max(end_date) AS last_cycle
            FROM cycle GROUP BY idea_id
        ), drivers AS (
            SELECT l.idea_id, string_agg(d.name, '; ' ORDER BY d.position) AS drivers,
                   array_agg(d.id ORDER BY d.id) AS driver_ids
            FROM idea_driver l JOIN driver d ON d.id = l.driver_id GROUP BY l.idea_id
        )
        SELECT i.id, i.title, i.description, {_IDEA_STATUS_SQL} AS status,
               i.status_override IS NOT NULL AS status_set_by_hand,
               coalesce(counts.cycles, 0) AS cycles,
               coalesce(counts.organisations, 0) AS organisations,
               counts.first_cycle, counts.last_cycle,
               coalesce(drivers.drivers, '') AS drivers,
               coalesce(drivers.driver_ids, ARRAY[]::INTEGER[]) AS driver_ids
        FROM idea i
        LEFT JOIN last ON last.idea_id = i.id
        LEFT JOIN counts ON counts.idea_id = i.id
        LEFT JOIN drivers ON drivers.idea_id = i.id
        WHERE i.challenge_id = ?
        ORDER BY i.id
        """,
        [challenge_id],
    )


def list_idea_links(db: Database, challenge_id: int) -> pd.DataFrame:
    return db.read(
        "SELECT l.idea_id, l.driver_id FROM idea_driver l JOIN idea i ON i.id = l.idea_id"
        " WHERE i.challenge_id = ?",
        [challenge_id],
    )


def _idea_checks(cur, c, challenge_id, title, description, driver_ids, status_override,
                 exclude_id=None):
    title = c.text(title, "Idea title")
    if title:
        _unique_name(cur, "idea", "title", title, "Idea title", c.problems, exclude_id,
                     "AND challenge_id = ?", [challenge_id])
    description = c.text(description, "Description", required=False, limit=MAX_LONG)
    status_override = c.choice(status_override, "Status", vocab.IDEA_STATUSES, required=False)
    driver_ids = _ids(driver_ids)
    if driver_ids:
        cur.execute(
            f"SELECT count(*) FROM driver WHERE challenge_id = ? AND id IN "
            f"({', '.join('?' for _ in driver_ids)})",
            [challenge_id, *driver_ids],
        )
        if cur.fetchone()[0] != len(driver_ids):
            c.problems.append("One of the chosen drivers no longer exists; reload the page.")
    return title, description, driver_ids, status_override


def add_idea(db: Database, scope: Scope, challenge_id: int, *, title, description=None,
             driver_ids=(), status_override=None) -> int:
    scope.require_admin("edit the change ideas")
    c = _Checks()
    with db.transaction() as cur:
        title, description, driver_ids, status_override = _idea_checks(
            cur, c, challenge_id, title, description, driver_ids, status_override)
        c.raise_if_any()
        fields = {"challenge_id": challenge_id, "title": title, "description": description,
                  "status_override": status_override}
        new_id = _insert(cur, "idea", fields)
        for did in driver_ids:
            cur.execute("INSERT INTO idea_driver VALUES (?, ?)", [new_id, did])
        _audit(cur, scope.actor, "create", "idea", new_id, None, {**fields, "driver_ids": driver_ids})
    return new_id


def update_idea(db: Database, scope: Scope, idea_id: int, *, title, description=None,
                driver_ids=(), status_override=None) -> None:
    scope.require_admin("edit the change ideas")
    c = _Checks()
    with db.transaction() as cur:
        before = _row(cur, "idea", idea_id)
        if before is None:
            raise InputError("That idea no longer exists; reload the page.")
        title, description, driver_ids, status_override = _idea_checks(
            cur, c, before["challenge_id"], title, description, driver_ids, status_override,
            exclude_id=idea_id)
        c.raise_if_any()
        _update(cur, scope.actor, "idea", idea_id, {"title": title, "description": description,
                                              "status_override": status_override}, "idea")
        cur.execute("SELECT driver_id FROM idea_driver WHERE idea_id = ?", [idea_id])
        old = sorted(r[0] for r in cur.fetchall())
        if old != driver_ids:
            cur.execute("DELETE FROM idea_driver WHERE idea_id = ?", [idea_id])
            for did in driver_ids:
                cur.execute("INSERT INTO idea_driver VALUES (?, ?)", [idea_id, did])
            _audit(cur, scope.actor, "relink", "idea", idea_id, {"driver_ids": old},
                   {"driver_ids": driver_ids})


# --------------------------------------------------------------------------- organisations


def list_organisations(db: Database, scope: Scope, include_retired: bool = True) -> pd.DataFrame:
    """The organisations this user may see by name (a partner: its own only)."""
    own = scope.organisation_id if scope.is_partner else None
    return db.read(
        "SELECT o.id, o.name, o.kind, o.region, o.contact_name, o.contact_email, o.retired_at,"
        " (SELECT count(*) FROM result r WHERE r.organisation_id = o.id) AS results,"
        " (SELECT count(*) FROM cycle c WHERE c.organisation_id = o.id) AS cycles"
        " FROM organisation o WHERE (? OR o.retired_at IS NULL) AND (?::INTEGER IS NULL"
        " OR o.id = ?) ORDER BY o.name",
        [include_retired, own, own],
    )


def _org_fields(cur, c, name, kind, region, contact_name, contact_email, exclude_id=None):
    fields = {
        "name": c.text(name, "Organisation name"),
        "kind": c.choice(kind, "Kind of organisation", vocab.ORG_KINDS),
        "region": c.text(region, "Region", required=False),
        "contact_name": c.text(contact_name, "Contact name", required=False),
        "contact_email": c.email(contact_email, "Contact e-mail"),
    }
    if fields["name"]:
        _unique_name(cur, "organisation", "name", fields["name"], "Organisation name",
                     c.problems, exclude_id)
    return fields


def add_organisation(db: Database, scope: Scope, *, name, kind, region=None, contact_name=None,
                     contact_email=None) -> int:
    scope.require_admin("add organisations")
    c = _Checks()
    with db.transaction() as cur:
        fields = _org_fields(cur, c, name, kind, region, contact_name, contact_email)
        c.raise_if_any()
        new_id = _insert(cur, "organisation", fields)
        _audit(cur, scope.actor, "create", "organisation", new_id, None, fields)
    return new_id


def update_organisation(db: Database, scope: Scope, org_id: int, *, name, kind, region=None,
                        contact_name=None, contact_email=None) -> dict:
    scope.require_admin("edit organisations")
    c = _Checks()
    with db.transaction() as cur:
        fields = _org_fields(cur, c, name, kind, region, contact_name, contact_email, org_id)
        c.raise_if_any()
        return _update(cur, scope.actor, "organisation", org_id, fields, "organisation")


def set_organisation_retired(db: Database, scope: Scope, org_id: int, retired: bool) -> None:
    """Retire (or bring back) an organisation. Its results and cycles are kept: nothing that
    refers to it is ever deleted."""
    scope.require_admin("retire organisations")
    with db.transaction() as cur:
        _update(cur, scope.actor, "organisation", org_id,
                {"retired_at": clock.now() if retired else None}, "organisation")


# --------------------------------------------------------------------------- measures


def list_measures(db: Database, include_retired: bool = True) -> pd.DataFrame:
    """Every measure, with its count of results and its plausible range (`plausible_low`,
    `plausible_high`; empty where none is set)."""
    return db.read(
        "SELECT m.*, (SELECT count(*) FROM result r WHERE r.measure_id = m.id) AS results,"
        " mr.low AS plausible_low, mr.high AS plausible_high"
        " FROM measure m LEFT JOIN measure_range mr ON mr.measure_id = m.id"
        " WHERE ? OR m.retired_at IS NULL ORDER BY m.measure_type, m.name",
        [include_retired],
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


# --------------------------------------------------------------------------- PDSA cycles

_CYCLE_SELECT = """
    SELECT c.id, c.idea_id, i.title AS idea, c.organisation_id, o.name AS organisation,
           c.cycle_no, c.builds_on_id, c.stage, c.objective, c.question, c.prediction,
           c.plan_who, c.plan_where, c.data_collection, c.scale, c.start_date, c.end_date,
           c.do_notes, c.went_as_planned, c.observations, c.study_notes, c.learning,
           c.decision, c.next_steps, c.created_at, c.updated_at,
           (SELECT string_agg(m.name, '; ' ORDER BY m.name) FROM cycle_measure cm
              JOIN measure m ON m.id = cm.measure_id WHERE cm.cycle_id = c.id) AS measures
    FROM cycle c
    JOIN idea i ON i.id = c.idea_id
    JOIN organisation o ON o.id = c.organisation_id
"""

_CYCLE_TEXT_COLUMNS = ("objective", "question", "prediction", "plan_who", "plan_where",
                       "data_collection", "scale", "do_notes", "observations", "study_notes",
                       "learning", "next_steps")


def list_cycles(db: Database, scope: Scope, challenge_id: int, *, idea_id=None,
                organisation_id=None, stage=None, decision=None, measure_id=None,
                search: str | None = None) -> pd.DataFrame:
    """Cycles with filters (a partner sees its own organisation's only). `search` looks for
    every word in all the cycle's notes and in the idea's title, case-insensitively."""
    where, params = ["i.challenge_id = ?"], [challenge_id]
    if scope.is_partner:
        where.append("c.organisation_id = ?")
        params.append(scope.organisation_id)
    for column, value in (("c.idea_id", idea_id), ("c.organisation_id", organisation_id),
                          ("c.stage", stage), ("c.decision", decision)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    if measure_id is not None:  # cycles that target this measure
        where.append("EXISTS (SELECT 1 FROM cycle_measure cm WHERE cm.cycle_id = c.id"
                     " AND cm.measure_id = ?)")
        params.append(measure_id)
    haystack = " || ' ' || ".join(
        [f"coalesce(c.{col}, '')" for col in _CYCLE_TEXT_COLUMNS] + ["i.title", "o.name"])
    for word in (search or "").split():
        where.append(f"strpos(lower({haystack}), ?) > 0")
        params.append(word.casefold())
    return db.read(
        _CYCLE_SELECT + " WHERE " + " AND ".join(where) + " ORDER BY c.start_date, c.id", params)


def get_cycle(db: Database, scope: Scope, cycle_id: int) -> dict | None:
    frame = db.read(_CYCLE_SELECT + " WHERE c.id = ?", [cycle_id])
    if frame.empty or not scope.sees(int(frame["organisation_id"].iloc[0])):
        return None
    row = frame.iloc[0].to_dict()
    row["measure_ids"] = db.read(
        "SELECT measure_id FROM cycle_measure WHERE cycle_id = ? ORDER BY measure_id", [cycle_id]
    )["measure_id"].tolist()
    for key in ("start_date", "end_date"):
        row[key] = pd.Timestamp(row[key]).date()
    return row


DUPLICATE_PLAN_MINUTES = 10  # the same plan saved again within this is a double click


def plan_cycle(db: Database, scope: Scope, *, idea_id, organisation_id, objective, question,
               prediction, start_date, end_date, plan_who=None, plan_where=None,
               data_collection=None, scale=None, measure_ids=(), builds_on_id=None) -> int:
    """Log a new cycle's Plan. A prediction is required: without one the cycle cannot be
    studied. Once planned, the cycle is at its Do stage (the test is to be carried out);
    recording Do moves it to Study, Study to Act, and Act completes it ("done")."""
    scope.require_org_write(None if organisation_id is None else int(organisation_id),
                            "log cycles")
    c = _Checks()
    fields = {
        "objective": c.text(objective, "Objective", limit=MAX_LONG),
        "question": c.text(question, "Question (if we do x, will y happen?)", limit=MAX_LONG),
        "prediction": c.text(prediction, "Prediction", limit=MAX_LONG),
        "plan_who": c.text(plan_who, "Who", required=False, limit=MAX_LONG),
        "plan_where": c.text(plan_where, "Where", required=False, limit=MAX_LONG),
        "data_collection": c.text(data_collection, "Data to collect", required=False,
                                  limit=MAX_LONG),
        "scale": c.text(scale, "Scale", required=False),
        "start_date": c.date(start_date, "Start date"),
        "end_date": c.date(end_date, "Planned end date"),
    }
    c.order(fields["start_date"], fields["end_date"], "cycle")
    if idea_id is None:
        c.problems.append("Choose the change idea this cycle tests.")
    if organisation_id is None:
        c.problems.append("Choose the organisation where this cycle runs.")
    measure_ids = _ids(measure_ids)
    with db.transaction() as cur:
        if idea_id is not None and _row(cur, "idea", int(idea_id)) is None:
            c.problems.append("That change idea no longer exists; reload the page.")
        if organisation_id is not None:
            org = _row(cur, "organisation", int(organisation_id))
            if org is None:
                c.problems.append("That organisation no longer exists; reload the page.")
            elif org["retired_at"] is not None:
                c.problems.append(f"{org['name']} is retired: bring it back before logging cycles.")
        if builds_on_id is not None:
            prev = _row(cur, "cycle", int(builds_on_id))
            if prev is None or prev["idea_id"] != idea_id:
                c.problems.append("A cycle can only build on an earlier cycle of the same idea.")
        if measure_ids:
            cur.execute(f"SELECT count(*) FROM measure WHERE id IN "
                        f"({', '.join('?' for _ in measure_ids)})", measure_ids)
            if cur.fetchone()[0] != len(measure_ids):
                c.problems.append("One of the chosen measures no longer exists; reload the page.")
        if not c.problems:  # a second click on Save: the same plan again within minutes
            same = cur.execute(
                "SELECT cycle_no FROM cycle WHERE idea_id = ? AND organisation_id = ?"
                " AND objective = ? AND prediction = ? AND start_date = ?"
                " AND created_at > current_timestamp - CAST(? AS INTEGER) * INTERVAL '1 minute'",
                [int(idea_id), int(organisation_id), fields["objective"],
                 fields["prediction"], fields["start_date"], DUPLICATE_PLAN_MINUTES]).fetchone()
            if same:
                c.problems.append(
                    f"This plan was saved a moment ago as cycle {same[0]} of this idea at this "
                    "organisation, so it was not saved twice. Open it under 'Record Do, Study "
                    "and Act'; to test the idea again, change the objective or the dates.")
        c.raise_if_any()
        cur.execute("SELECT coalesce(max(cycle_no), 0) + 1 FROM cycle WHERE idea_id = ?",
                    [idea_id])
        fields.update(idea_id=int(idea_id), organisation_id=int(organisation_id),
                      cycle_no=cur.fetchone()[0], stage="do",
                      builds_on_id=None if builds_on_id is None else int(builds_on_id))
        new_id = _insert(cur, "cycle", fields)
        for mid in measure_ids:
            cur.execute("INSERT INTO cycle_measure VALUES (?, ?)", [new_id, mid])
        _audit(cur, scope.actor, "create", "cycle", new_id, None, {**fields, "measure_ids": measure_ids})
    return new_id


def _advance(db: Database, scope: Scope, cycle_id: int, allowed_from: tuple[str, ...],
             fields: dict, next_stage: str, c: _Checks) -> None:
    with db.transaction() as cur:
        before = _row(cur, "cycle", cycle_id)
        if before is None or not scope.sees(before["organisation_id"]):
            raise InputError("That cycle no longer exists; reload the page.")
        scope.require_org_write(before["organisation_id"], "record cycles")
        if before["stage"] not in allowed_from:
            current = vocab.STAGES[before["stage"]]
            c.problems.append(
                f"This cycle is still at its {current} stage: record the {current} stage first.")
        c.raise_if_any()
        order = list(vocab.STAGES)
        stage = max(before["stage"], next_stage, key=order.index)
        _update(cur, scope.actor, "cycle", cycle_id,
                {**fields, "stage": stage, "updated_at": clock.now()}, "cycle")


def record_do(db: Database, scope: Scope, cycle_id: int, *, do_notes, went_as_planned,
              observations=None) -> None:
    """Do: what happened, whether it went as planned, what was noticed that was not planned."""
    c = _Checks()
    fields = {
        "do_notes": c.text(do_notes, "What happened", limit=MAX_LONG),
        "went_as_planned": None if went_as_planned is None else bool(went_as_planned),
        "observations": c.text(observations, "Unplanned observations", required=False,
                               limit=MAX_LONG),
    }
    if went_as_planned is None:
        c.problems.append("Say whether the test went as planned (yes or no).")
    _advance(db, scope, cycle_id, ("do", "study", "act", "done"), fields, "study", c)


def record_study(db: Database, scope: Scope, cycle_id: int, *, study_notes, learning) -> None:
    """Study: the results against the prediction, and what was learned."""
    c = _Checks()
    fields = {
        "study_notes": c.text(study_notes, "Results compared with the prediction", limit=MAX_LONG),
        "learning": c.text(learning, "What we learned", limit=MAX_LONG),
    }
    _advance(db, scope, cycle_id, ("study", "act", "done"), fields, "act", c)


def record_act(db: Database, scope: Scope, cycle_id: int, *, decision, next_steps,
               end_date=None, today: dt.date | None = None) -> None:
    """Act: adopt, adapt or abandon, and what the next cycle is. Completes the cycle. The
    actual end date is when the test ended: not after today."""
    c = _Checks()
    fields = {
        "decision": c.choice(decision, "Decision", vocab.DECISIONS),
        "next_steps": c.text(next_steps, "Next steps", limit=MAX_LONG),
    }
    if end_date is not None:
        fields["end_date"] = c.date(end_date, "Actual end date")
        today = today or clock.today()
        if fields["end_date"] and fields["end_date"] > today:
            c.problems.append(f"The actual end date ({fields['end_date']:%d %b %Y}) is after "
                              f"today ({today:%d %b %Y}): a cycle is completed once it has "
                              "ended. Give the day it ended.")
        with db.cursor() as cur:
            cycle = _row(cur, "cycle", cycle_id)
        if cycle and fields["end_date"]:
            c.order(cycle["start_date"], fields["end_date"], "cycle")
    _advance(db, scope, cycle_id, ("act", "done"), fields, "done", c)


# --------------------------------------------------------------------------- audit and state


def list_audit(db: Database, scope: Scope, *, limit: int | None = 200, actor: str | None = None,
               entity: str | None = None, action: str | None = None, since=None,
               until=None) -> pd.DataFrame:
    """The audit log, newest first, with filters. Admins only. Nothing here (or anywhere)
    updates or deletes it."""
    scope.require_admin("read the audit log")
    where, params = ["1=1"], []
    for column, value in (("actor", actor), ("entity", entity), ("action", action)):
        if value:
            where.append(f"{column} = ?")
            params.append(value)
    if since is not None:
        where.append("happened_at >= ?")
        params.append(since)
    if until is not None:
        where.append("happened_at < ?")
        params.append(until)
    sql = ("SELECT id, happened_at, actor, action, entity, entity_id, before, after FROM"
           f" audit_log WHERE {' AND '.join(where)} ORDER BY id DESC")
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    return db.read(sql, params)


def data_version(db: Database) -> int:
    """A number that changes whenever anything is changed: every change writes an audit row.
    Caches key on it (with the viewer's scope) so a write is seen at once."""
    return int(db.scalar("SELECT coalesce(max(id), 0) FROM audit_log"))


def is_empty(db: Database) -> bool:
    """True when the database holds no data of the lab yet (a fresh file)."""
    return not db.scalar(
        "SELECT (SELECT count(*) FROM challenge) + (SELECT count(*) FROM organisation)"
        " + (SELECT count(*) FROM measure) + (SELECT count(*) FROM result)"
    )
