"""The people who take part in the challenge: patients and people with lived experience,
carers, clinicians, peer supporters, charity and housing staff, commissioners, researchers,
designers. Their personal data is the most sensitive in the tracker.

Who sees what, enforced here (every read takes the reader's scope):
- a lab admin sees every participant, with names and e-mails;
- a partner sees the participants of its own organisation; of the others, only counts by
  how they take part;
- a viewer sees counts only.

Only the lab admin writes. Participants are retired, never deleted; erased on request (UK
GDPR): name and e-mail become "erased", consents are withdrawn, and the links to ideas,
cycles and events stay so that counts remain true. The audit log never holds a name or an
e-mail (it records which personal fields changed, not their values), so an erasure leaves
nothing behind in it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from tracker import clock
from tracker.access.scope import Scope
from tracker.errors import InputError, PermissionDenied
from tracker.storage import backups
from tracker.storage.db import Database
from tracker.storage.store import _audit, _Checks, _ids, _insert

TAKING_PART = {
    "lived_experience": "Lived experience / patient",
    "carer": "Carer",
    "clinician": "Clinician",
    "peer_supporter": "Peer supporter",
    "charity_staff": "Charity staff",
    "housing_staff": "Housing staff",
    "commissioner": "Commissioner",
    "researcher": "Researcher",
    "designer": "Designer",
    "other": "Other",
}
PERSONAL = ("name", "email")  # never written to the audit log
ERASED = "erased"
CONSENTS = {"may_contact": "May be contacted by other participants",
            "may_name": "May be named in shared learning"}


def _for_audit(row: dict) -> dict:
    """A participant's row as the audit log may hold it: personal fields only named."""
    return {k: ("(personal data)" if k in PERSONAL and v else v) for k, v in row.items()}


def _fields(cur, c: _Checks, challenge_id: int, *, name, taking_part, organisation_id, region,
            email, joined_on) -> dict:
    fields = {
        "joined_on": c.date(joined_on, "Joined on", required=False) or clock.today(),
        "name": c.text(name, "Name"),
        "taking_part": c.choice(taking_part, "How they take part", TAKING_PART),
        "organisation_id": None if organisation_id in (None, "") else int(organisation_id),
        "region": c.text(region, "Region", required=False),
        "email": c.email(email, "E-mail"),
    }
    if fields["organisation_id"] is not None and cur.execute(
            "SELECT 1 FROM organisation WHERE id = ?",
            [fields["organisation_id"]]).fetchone() is None:
        c.problems.append("That organisation no longer exists; choose another or none.")
    if fields["joined_on"] > clock.today():
        c.problems.append("Joined on is a date in the future; give the day they joined.")
    if fields["name"] and fields["name"].casefold() == ERASED:
        c.problems.append(f"Name '{fields['name']}' is the word the tracker uses for erased "
                          "people; give the person's name.")
    return fields


def _links(cur, c: _Checks, challenge_id: int, idea_ids, cycle_ids) -> tuple[list, list]:
    ideas, cycles = _ids(idea_ids), _ids(cycle_ids)
    if ideas:
        found = {r[0] for r in cur.execute(
            f"SELECT id FROM idea WHERE challenge_id = ? AND id IN ({', '.join('?' * len(ideas))})",
            [challenge_id, *ideas]).fetchall()}
        if set(ideas) - found:
            c.problems.append("An idea chosen is not in this challenge; reload the page.")
    if cycles:
        found = {r[0] for r in cur.execute(
            "SELECT c.id FROM cycle c JOIN idea i ON i.id = c.idea_id WHERE i.challenge_id = ?"
            f" AND c.id IN ({', '.join('?' * len(cycles))})", [challenge_id, *cycles]).fetchall()}
        if set(cycles) - found:
            c.problems.append("A cycle chosen is not in this challenge; reload the page.")
    return ideas, cycles


def _set_links(cur, participant_id: int, ideas: list, cycles: list) -> None:
    cur.execute("DELETE FROM participant_idea WHERE participant_id = ?", [participant_id])
    cur.execute("DELETE FROM participant_cycle WHERE participant_id = ?", [participant_id])
    for idea in ideas:
        cur.execute("INSERT INTO participant_idea VALUES (?, ?)", [participant_id, idea])
    for cycle in cycles:
        cur.execute("INSERT INTO participant_cycle VALUES (?, ?)", [participant_id, cycle])


def add_participant(db: Database, scope: Scope, challenge_id: int, *, name, taking_part,
                    organisation_id=None, region=None, email=None, joined_on=None,
                    may_contact=False, may_name=False, idea_ids=(), cycle_ids=()) -> int:
    scope.require_admin("add participants")
    c = _Checks()
    with db.transaction() as cur:
        fields = _fields(cur, c, challenge_id, name=name, taking_part=taking_part,
                         organisation_id=organisation_id, region=region, email=email,
                         joined_on=joined_on)
        ideas, cycles = _links(cur, c, challenge_id, idea_ids, cycle_ids)
        c.raise_if_any()
        now = clock.now()
        row = {"challenge_id": challenge_id, **fields}
        for consent, given in (("may_contact", may_contact), ("may_name", may_name)):
            row[consent] = bool(given)
            if given:
                row[f"{consent}_recorded_by"] = scope.actor
                row[f"{consent}_recorded_at"] = now
        new_id = _insert(cur, "participant", row)
        _set_links(cur, new_id, ideas, cycles)
        _audit(cur, scope.actor, "create", "participant", new_id, None,
               _for_audit(row) | {"ideas": ideas, "cycles": cycles})
    return new_id


def update_participant(db: Database, scope: Scope, participant_id: int, *, name, taking_part,
                       organisation_id=None, region=None, email=None, joined_on=None,
                       may_contact=False, may_name=False, idea_ids=(), cycle_ids=()) -> None:
    """Change a participant; a consent that changes is recorded with who and when."""
    scope.require_admin("edit participants")
    c = _Checks()
    with db.transaction() as cur:
        before = _one(cur, participant_id)
        if before["erased_at"] is not None:
            raise InputError("This participant was erased on request; their record cannot be "
                             "edited. Add them again if they return and agree.")
        fields = _fields(cur, c, before["challenge_id"], name=name, taking_part=taking_part,
                         organisation_id=organisation_id, region=region, email=email,
                         joined_on=joined_on or before["joined_on"])
        ideas, cycles = _links(cur, c, before["challenge_id"], idea_ids, cycle_ids)
        c.raise_if_any()
        now = clock.now()
        for consent, given in (("may_contact", may_contact), ("may_name", may_name)):
            if bool(given) != bool(before[consent]):
                fields[consent] = bool(given)
                fields[f"{consent}_recorded_by"] = scope.actor
                fields[f"{consent}_recorded_at"] = now
        changed = {k: v for k, v in fields.items() if before.get(k) != v}
        old_ideas = _linked(cur, "participant_idea", "idea_id", participant_id)
        old_cycles = _linked(cur, "participant_cycle", "cycle_id", participant_id)
        if changed:
            sets = ", ".join(f"{k} = ?" for k in changed)
            cur.execute(f"UPDATE participant SET {sets} WHERE id = ?",
                        [*changed.values(), participant_id])
        if (ideas, cycles) != (old_ideas, old_cycles):
            _set_links(cur, participant_id, ideas, cycles)
        if changed or (ideas, cycles) != (old_ideas, old_cycles):
            _audit(cur, scope.actor, "update", "participant", participant_id,
                   _for_audit({k: before.get(k) for k in changed}) | {
                       "ideas": old_ideas, "cycles": old_cycles},
                   _for_audit(changed) | {"ideas": ideas, "cycles": cycles})


def _one(cur, participant_id: int) -> dict:
    cur.execute("SELECT * FROM participant WHERE id = ?", [participant_id])
    found = cur.fetchone()
    if found is None:
        raise InputError("That participant no longer exists; reload the page.")
    return dict(zip([d[0] for d in cur.description], found, strict=True))


def _linked(cur, table: str, column: str, participant_id: int) -> list[int]:
    return sorted(r[0] for r in cur.execute(
        f"SELECT {column} FROM {table} WHERE participant_id = ?", [participant_id]).fetchall())


def set_retired(db: Database, scope: Scope, participant_id: int, retired: bool) -> None:
    """Retire (they no longer take part) or bring back. Nothing is deleted."""
    scope.require_admin("retire participants")
    with db.transaction() as cur:
        before = _one(cur, participant_id)
        value = clock.now() if retired else None
        if (before["retired_at"] is None) == (value is None):
            return
        cur.execute("UPDATE participant SET retired_at = ? WHERE id = ?", [value, participant_id])
        _audit(cur, scope.actor, "retire" if retired else "bring back", "participant",
               participant_id, {"retired_at": before["retired_at"]}, {"retired_at": value})


def erase(db: Database, scope: Scope, participant_id: int) -> list[Path]:
    """Erase a participant on request: name and e-mail become "erased", both consents are
    withdrawn; links to ideas, cycles and events stay so that counts remain true.

    Then the database is rewritten (`compact`): no byte of the name or e-mail stays in the
    file or its write-ahead log (DuckDB), nor in the table's files and statistics
    (PostgreSQL). Returns the backups that still hold the person: they go as the oldest
    backups are removed (TRACKER_BACKUP_KEEP, 14 daily backups by default)."""
    scope.require_admin("erase a participant's personal data")
    with db.transaction() as cur:
        before = _one(cur, participant_id)
        if before["erased_at"] is not None:
            return []
        cur.execute("UPDATE participant SET name = ?, email = ?, may_contact = FALSE,"
                    " may_name = FALSE, may_contact_recorded_by = ?,"
                    " may_contact_recorded_at = current_timestamp, may_name_recorded_by = ?,"
                    " may_name_recorded_at = current_timestamp, erased_at = current_timestamp,"
                    " retired_at = coalesce(retired_at, current_timestamp) WHERE id = ?",
                    [ERASED, ERASED, scope.actor, scope.actor, participant_id])
        _audit(cur, scope.actor, "erase", "participant", participant_id,
               {"personal data": "held"}, {"personal data": "erased on request"})
    db.compact()
    return [b.path for b in backups.backups_of(db)]


def export_one(db: Database, scope: Scope, participant_id: int) -> str:
    """Everything the tracker holds about one participant, as JSON (a subject access
    request): their record, the ideas, cycles and events they are linked to."""
    scope.require_admin("export a participant's personal data")
    with db.cursor() as cur:
        row = _one(cur, participant_id)
        ideas = cur.execute("SELECT i.id, i.title FROM participant_idea l JOIN idea i"
                            " ON i.id = l.idea_id WHERE l.participant_id = ? ORDER BY i.id",
                            [participant_id]).fetchall()
        cycles = cur.execute("SELECT c.id, c.cycle_no, i.title FROM participant_cycle l"
                             " JOIN cycle c ON c.id = l.cycle_id JOIN idea i ON i.id = c.idea_id"
                             " WHERE l.participant_id = ? ORDER BY c.id",
                             [participant_id]).fetchall()
        events = cur.execute("SELECT e.on_date, e.name FROM event_attendance a JOIN lab_event e"
                             " ON e.id = a.event_id WHERE a.participant_id = ?"
                             " ORDER BY e.on_date", [participant_id]).fetchall()
        org = None
        if row["organisation_id"] is not None:
            org = cur.execute("SELECT name FROM organisation WHERE id = ?",
                              [row["organisation_id"]]).fetchone()[0]
    record = {k: v for k, v in row.items() if k != "challenge_id"}
    record["taking_part"] = TAKING_PART.get(row["taking_part"], row["taking_part"])
    record["organisation"] = org
    record["ideas"] = [{"id": i, "title": t} for i, t in ideas]
    record["cycles"] = [{"id": i, "cycle": n, "idea": t} for i, n, t in cycles]
    record["events"] = [{"date": str(d), "event": n} for d, n in events]
    with db.transaction() as cur:
        _audit(cur, scope.actor, "export", "participant", participant_id, None,
               {"exported": "personal data, on request"})
    return json.dumps(record, default=str, indent=2, ensure_ascii=False)


# --------------------------------------------------------------------------- reading


def list_participants(db: Database, scope: Scope, challenge_id: int, *,
                      include_retired: bool = False) -> pd.DataFrame:
    """The participants this reader may see by name: every one for the lab admin, a
    partner's own organisation's for a partner, none for a viewer (counts only:
    `counts`)."""
    scope.require_member("the lab's participants")
    if scope.role == "viewer":
        raise PermissionDenied("Viewers see participants as counts only.")
    where, params = ["p.challenge_id = ?"], [challenge_id]
    if scope.is_partner:
        where.append("p.organisation_id = ?")
        params.append(scope.organisation_id)
    if not include_retired:
        where.append("p.retired_at IS NULL")
    return db.read(
        "SELECT p.id, p.name, p.taking_part, p.organisation_id, o.name AS organisation,"
        " p.region, p.email, p.joined_on, p.may_contact, p.may_contact_recorded_by,"
        " p.may_contact_recorded_at, p.may_name, p.may_name_recorded_by,"
        " p.may_name_recorded_at, p.created_at, p.retired_at, p.erased_at,"
        " coalesce((SELECT array_agg(idea_id ORDER BY idea_id) FROM participant_idea l"
        "   WHERE l.participant_id = p.id), ARRAY[]::INTEGER[]) AS idea_ids,"
        " coalesce((SELECT array_agg(cycle_id ORDER BY cycle_id) FROM participant_cycle l"
        "   WHERE l.participant_id = p.id), ARRAY[]::INTEGER[]) AS cycle_ids,"
        " (SELECT count(*) FROM event_attendance a WHERE a.participant_id = p.id) AS events"
        " FROM participant p LEFT JOIN organisation o ON o.id = p.organisation_id"
        f" WHERE {' AND '.join(where)} ORDER BY p.name, p.id", params)


def counts(db: Database, scope: Scope, challenge_id: int) -> pd.DataFrame:
    """Active participants by how they take part (and, for the lab team and viewers, by
    kind of organisation): counts only, which every reader may see."""
    return db.read(
        "SELECT p.taking_part, count(*) AS participants,"
        " count(*) FILTER (WHERE p.organisation_id IS NULL) AS without_organisation,"
        " count(*) FILTER (WHERE p.joined_on >= date_trunc('month', current_date))"
        "   AS new_this_month"
        " FROM participant p WHERE p.challenge_id = ? AND p.retired_at IS NULL"
        " GROUP BY p.taking_part ORDER BY participants DESC, p.taking_part", [challenge_id])
