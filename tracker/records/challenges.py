"""Challenges and their phases: create, edit, the disclosure threshold, month x of y."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from tracker import clock
from tracker.access.scope import Scope
from tracker.errors import InputError
from tracker.storage.db import Database
from tracker.storage.store import (
    MAX_LONG,
    _audit,
    _Checks,
    _insert,
    _row,
    _update,
)

# --------------------------------------------------------------------------- challenge


def list_challenges(db: Database) -> pd.DataFrame:
    """Every challenge of the lab, latest start first (a lab takes a new one every 9–12
    months), with its `state` today: "upcoming", "running" or "ended"."""
    frame = db.read("SELECT id, title, start_date, end_date, is_demo FROM challenge"
                    " ORDER BY start_date DESC, id DESC")
    frame["state"] = [state(s, e) for s, e in zip(frame["start_date"], frame["end_date"],
                                                   strict=True)]
    return frame


def state(start_date, end_date, today: dt.date | None = None) -> str:
    """"upcoming" before its start, "running" from its start to its end, then "ended"."""
    today = today or clock.today()
    if pd.Timestamp(start_date).date() > today:
        return "upcoming"
    return "running" if pd.Timestamp(end_date).date() >= today else "ended"


def default_challenge_id(db: Database) -> int | None:
    """The challenge a page opens on: the one running today; if none is running, the one that
    ended most recently; only when every challenge is still to come, the first of those. A
    challenge being set up for later never takes the lab's attention from the running one."""
    frame = list_challenges(db)
    for wanted, order in (("running", False), ("ended", False), ("upcoming", True)):
        found = frame[frame["state"] == wanted]
        if not found.empty:
            column = "start_date" if wanted != "ended" else "end_date"
            return int(found.sort_values(column, ascending=order)["id"].iloc[0])
    return None


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
    """One challenge: `challenge_id`, or the default (`default_challenge_id`: the one running
    today) when None or not found. Earlier challenges stay readable: their ideas, cycles and
    learning are theirs; an upcoming one opens when it is asked for by its number."""
    frame = pd.DataFrame()
    if challenge_id is not None:
        frame = db.read("SELECT * FROM challenge WHERE id = ?", [int(challenge_id)])
    if frame.empty:
        default = default_challenge_id(db)
        if default is None:
            return None
        frame = db.read("SELECT * FROM challenge WHERE id = ?", [default])
    row = frame.iloc[0].to_dict()
    row["start_date"] = pd.Timestamp(row["start_date"]).date()
    row["end_date"] = pd.Timestamp(row["end_date"]).date()
    row["state"] = state(row["start_date"], row["end_date"])
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


def _overlaps(cur, fields: dict, challenge_id: int | None = None) -> list[str]:
    """A refusal for each challenge whose dates share a day with these: results belong to a
    challenge by their date, so two challenges on one day would make a result ambiguous."""
    rows = cur.execute(
        "SELECT id, title, start_date, end_date FROM challenge"
        " WHERE start_date <= ? AND end_date >= ? AND id <> ? ORDER BY start_date",
        [fields["end_date"], fields["start_date"], -1 if challenge_id is None else challenge_id],
    ).fetchall()
    return [f"The dates {fields['start_date']:%d %b %Y} to {fields['end_date']:%d %b %Y} "
            f"overlap the challenge '{title}' ({pd.Timestamp(start):%d %b %Y} to "
            f"{pd.Timestamp(end):%d %b %Y}). Results belong to a challenge by their date, so "
            f"challenges may not share a day: start this one on "
            f"{pd.Timestamp(end).date() + dt.timedelta(days=1):%d %b %Y} or later, or end it "
            f"before {pd.Timestamp(start):%d %b %Y}."
            for _id, title, start, end in rows]


def create_challenge(db: Database, scope: Scope, *, title, question, aim, start_date, end_date,
                     is_demo: bool = False) -> int:
    scope.require_admin("create the challenge")
    c = _Checks()
    fields = _challenge_fields(c, title, question, aim, start_date, end_date)
    c.raise_if_any()
    fields["is_demo"] = bool(is_demo)
    with db.transaction() as cur:
        if clash := _overlaps(cur, fields):
            raise InputError(clash)
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
        if clash := _overlaps(cur, fields, challenge_id):
            raise InputError(clash)
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
