"""The challenge's workshops and meetings, and who came: the community over time.

Only the lab admin records events; every reader sees each event with its count of people by
how they take part (names of who came stay with the lab admin, as all participants' do)."""

from __future__ import annotations

import pandas as pd

from tracker.access.scope import Scope
from tracker.storage.db import Database
from tracker.storage.store import _audit, _Checks, _ids, _insert


def add_event(db: Database, scope: Scope, challenge_id: int, *, on_date, name, phase_id=None,
              participant_ids=()) -> int:
    scope.require_admin("record events")
    c = _Checks()
    fields = {"challenge_id": challenge_id, "on_date": c.date(on_date, "Date"),
              "name": c.text(name, "Event name"),
              "phase_id": None if phase_id in (None, "") else int(phase_id)}
    people = _ids(participant_ids)
    with db.transaction() as cur:
        if people:
            found = {r[0] for r in cur.execute(
                "SELECT id FROM participant WHERE challenge_id = ? AND id IN"
                f" ({', '.join('?' * len(people))})", [challenge_id, *people]).fetchall()}
            if set(people) - found:
                c.problems.append("A participant chosen is not in this challenge; reload the "
                                  "page.")
        if fields["phase_id"] is not None and cur.execute(
                "SELECT 1 FROM challenge_phase WHERE id = ? AND challenge_id = ?",
                [fields["phase_id"], challenge_id]).fetchone() is None:
            c.problems.append("That phase is not in this challenge; reload the page.")
        c.raise_if_any()
        new_id = _insert(cur, "lab_event", fields)
        for person in people:
            cur.execute("INSERT INTO event_attendance VALUES (?, ?)", [new_id, person])
        _audit(cur, scope.actor, "create", "lab_event", new_id, None,
               fields | {"attended": len(people)})
    return new_id


def list_events(db: Database, scope: Scope, challenge_id: int) -> pd.DataFrame:
    """Events, newest first, with how many came (counts: every reader may see them)."""
    return db.read(
        "SELECT e.id, e.on_date, e.name, e.phase_id, ph.name AS phase,"
        " (SELECT count(*) FROM event_attendance a WHERE a.event_id = e.id) AS came"
        " FROM lab_event e LEFT JOIN challenge_phase ph ON ph.id = e.phase_id"
        " WHERE e.challenge_id = ? ORDER BY e.on_date DESC, e.id DESC", [challenge_id])


def community_over_time(db: Database, challenge_id: int) -> pd.DataFrame:
    """Participants who have joined by each month, by how they take part (counts)."""
    return db.read(
        "SELECT date_trunc('month', p.joined_on)::DATE AS month, p.taking_part,"
        " count(*) AS joined FROM participant p WHERE p.challenge_id = ?"
        " GROUP BY 1, 2 ORDER BY 1, 2", [challenge_id])
