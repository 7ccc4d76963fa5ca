"""The data layer of learning and its sharing: the lab team's versioned synthesis of each idea,
which cycle notes are shareable (with partners, or in public), what each organisation agreed
to (to be named to other partners, to be named in public), and the smallest count that may
leave the lab.

Only the lab admin writes any of these; every write checks its input, runs in one
transaction and is audited. A synthesis is never changed in place: a save adds the next
version, so every earlier version stays readable.
"""

from __future__ import annotations

import pandas as pd

from tracker import clock
from tracker.access.scope import Scope
from tracker.errors import InputError
from tracker.records.reader_view import (  # noqa: F401 - read here by callers
    DEFAULT_MIN_COUNT,
    consents,
    min_count,
)
from tracker.storage.db import Database
from tracker.storage.store import MAX_LONG, _audit, _Checks, _insert

RECOMMENDATIONS = {"spread": "Spread", "test_further": "Test further", "stop": "Stop"}
# The cycle notes an excerpt can be, in the order a cycle is read.
EXCERPT_FIELDS = {
    "prediction": "Prediction",
    "scale": "Scale",
    "observations": "What was observed",
    "study_notes": "Study notes",
    "learning": "What was learned",
    "next_steps": "Next steps",
}
AUDIENCES = {"lab": "Lab team only", "partners": "Partners", "public": "Public"}
KEY_LEARNING_LIMIT = 600  # the key learning is short: a few sentences


# --------------------------------------------------------------------------- syntheses


def write_synthesis(db: Database, scope: Scope, idea_id: int, *, key_learning, recommendation,
                    reason, worked_when=None, did_not_work_when=None, reviewed_by=None,
                    reviewed_on=None) -> int:
    """Save the lab team's synthesis of an idea as its next version; returns the version."""
    scope.require_admin("write the synthesis of an idea")
    c = _Checks()
    fields = {
        "key_learning": c.text(key_learning, "Key learning", limit=KEY_LEARNING_LIMIT),
        "worked_when": c.text(worked_when, "Where and when it worked", required=False,
                              limit=MAX_LONG),
        "did_not_work_when": c.text(did_not_work_when, "Where and when it did not work",
                                    required=False, limit=MAX_LONG),
        "recommendation": c.choice(recommendation, "Recommendation", RECOMMENDATIONS),
        "reason": c.text(reason, "Reason for the recommendation", limit=MAX_LONG),
        "reviewed_by": c.text(reviewed_by, "Reviewed by", required=False),
        "reviewed_on": c.date(reviewed_on, "Reviewed on", required=False),
    }
    if fields["reviewed_on"] and fields["reviewed_on"] > clock.today():
        c.problems.append("Reviewed on is a date in the future; give the day it was reviewed.")
    if fields["reviewed_on"] and not fields["reviewed_by"]:
        c.problems.append("Reviewed on is given without who reviewed it; fill in Reviewed by.")
    if fields["reviewed_by"] and not fields["reviewed_on"] and \
            not any(p.startswith("Reviewed on") for p in c.problems):
        c.problems.append(f"Reviewed by is given ({fields['reviewed_by']}) without the day it "
                          "was reviewed; fill in Reviewed on.")
    c.raise_if_any()
    with db.transaction() as cur:
        if cur.execute("SELECT 1 FROM idea WHERE id = ?", [idea_id]).fetchone() is None:
            raise InputError("That idea no longer exists; reload the page.")
        version = cur.execute("SELECT coalesce(max(version), 0) + 1 FROM synthesis"
                              " WHERE idea_id = ?", [idea_id]).fetchone()[0]
        # written on the tracker's today: "what's new since a date" reads this (tracker.clock)
        row = {"idea_id": idea_id, "version": int(version), **fields,
               "written_by": scope.actor, "written_at": clock.now()}
        new_id = _insert(cur, "synthesis", row)
        _audit(cur, scope.actor, "create", "synthesis", new_id, None, row)
    return int(version)


def syntheses(db: Database, idea_ids=None, *, every_version: bool = False) -> pd.DataFrame:
    """The newest synthesis of each idea (or every version, newest first)."""
    where, params = "", []
    if idea_ids is not None:
        ids = [int(i) for i in idea_ids] or [-1]
        where = f"WHERE idea_id IN ({', '.join('?' for _ in ids)})"
        params = ids
    latest = "" if every_version else (
        "AND version = (SELECT max(s2.version) FROM synthesis s2 WHERE s2.idea_id = s.idea_id)")
    where = where or "WHERE TRUE"
    return db.read(f"SELECT * FROM synthesis s {where} {latest} ORDER BY idea_id, version DESC",
                   params)


# --------------------------------------------------------------------------- excerpts


def mark_excerpt(db: Database, scope: Scope, cycle_id: int, field: str, audience: str) -> None:
    """Mark one note of a cycle shareable with the partners, in public, or (back) with the
    lab team only. Takes effect in the next report; audited."""
    scope.require_admin("mark notes shareable")
    c = _Checks()
    c.choice(field, "Note", EXCERPT_FIELDS)
    c.choice(audience, "Shared with", AUDIENCES)
    c.raise_if_any()
    with db.transaction() as cur:
        found = cur.execute(f"SELECT {field} FROM cycle WHERE id = ?", [cycle_id]).fetchone()
        if found is None:
            raise InputError("That cycle no longer exists; reload the page.")
        if not (found[0] or "").strip() and audience != "lab":
            raise InputError(f"The cycle's {EXCERPT_FIELDS[field].lower()} is empty: there is "
                             "nothing to share.")
        before = cur.execute("SELECT audience FROM excerpt_share WHERE cycle_id = ? AND field = ?",
                             [cycle_id, field]).fetchone()
        old = before[0] if before else "lab"
        if old == audience:
            if before is not None:  # the lab looked again: no longer "changed since shared"
                cur.execute("UPDATE excerpt_share SET changed_from = NULL"
                            " WHERE cycle_id = ? AND field = ?", [cycle_id, field])
            return
        if before is None:
            cur.execute("INSERT INTO excerpt_share (cycle_id, field, audience, marked_by)"
                        " VALUES (?, ?, ?, ?)", [cycle_id, field, audience, scope.actor])
        else:
            cur.execute("UPDATE excerpt_share SET audience = ?, marked_by = ?,"
                        " marked_at = current_timestamp, changed_from = NULL"
                        " WHERE cycle_id = ? AND field = ?",
                        [audience, scope.actor, cycle_id, field])
        _audit(cur, scope.actor, "update", "excerpt_share", cycle_id,
               {"field": field, "audience": old}, {"field": field, "audience": audience})


def changed_since_shared(db: Database, cycle_ids=None) -> dict:
    """(cycle_id, field) -> who a note was shared with before its text changed (and its mark
    went back to the lab team), for the notes the lab has not marked again."""
    where, params = "WHERE changed_from IS NOT NULL", []
    if cycle_ids is not None:
        ids = [int(i) for i in cycle_ids] or [-1]
        where += f" AND cycle_id IN ({', '.join('?' for _ in ids)})"
        params = ids
    found = db.read(f"SELECT cycle_id, field, changed_from FROM excerpt_share {where}", params)
    return {(int(c), f): a for c, f, a in zip(found["cycle_id"], found["field"],
                                              found["changed_from"], strict=True)}


def excerpt_marks(db: Database, cycle_ids=None) -> pd.DataFrame:
    """cycle_id, field, audience of every note marked beyond the lab team."""
    where, params = "WHERE audience <> 'lab'", []
    if cycle_ids is not None:
        ids = [int(i) for i in cycle_ids] or [-1]
        where += f" AND cycle_id IN ({', '.join('?' for _ in ids)})"
        params = ids
    return db.read(f"SELECT cycle_id, field, audience FROM excerpt_share {where}", params)


# --------------------------------------------------------------------------- consents


def set_consent(db: Database, scope: Scope, organisation_id: int, *, named_to_partners: bool,
                named_in_public: bool) -> None:
    """What an organisation agreed to. Takes effect in the next report; audited with who
    recorded it and when."""
    scope.require_admin("record an organisation's consent")
    after = {"named_to_partners": bool(named_to_partners),
             "named_in_public": bool(named_in_public)}
    with db.transaction() as cur:
        if cur.execute("SELECT 1 FROM organisation WHERE id = ?",
                       [organisation_id]).fetchone() is None:
            raise InputError("That organisation no longer exists; reload the page.")
        found = cur.execute("SELECT named_to_partners, named_in_public FROM organisation_consent"
                            " WHERE organisation_id = ?", [organisation_id]).fetchone()
        before = {"named_to_partners": bool(found[0]), "named_in_public": bool(found[1])} \
            if found else {"named_to_partners": False, "named_in_public": False}
        if before == after:
            return
        if found is None:
            cur.execute("INSERT INTO organisation_consent (organisation_id, named_to_partners,"
                        " named_in_public, recorded_by) VALUES (?, ?, ?, ?)",
                        [organisation_id, after["named_to_partners"], after["named_in_public"],
                         scope.actor])
        else:
            cur.execute("UPDATE organisation_consent SET named_to_partners = ?,"
                        " named_in_public = ?, recorded_by = ?, recorded_at = current_timestamp"
                        " WHERE organisation_id = ?",
                        [after["named_to_partners"], after["named_in_public"], scope.actor,
                         organisation_id])
        _audit(cur, scope.actor, "update", "organisation_consent", organisation_id, before, after)


# --------------------------------------------------------------------------- settings


def set_min_count(db: Database, scope: Scope, challenge_id: int, count) -> None:
    scope.require_admin("change the smallest count shown outside the lab")
    c = _Checks()
    number = c.number(count, "Smallest count shown outside the lab", required=True)
    if number is not None and (number != int(number) or not 1 <= number <= 1000):
        c.problems.append("The smallest count shown outside the lab is a whole number from 1 "
                          "to 1,000.")
    c.raise_if_any()
    with db.transaction() as cur:
        before = cur.execute("SELECT min_count FROM disclosure_settings WHERE challenge_id = ?",
                             [challenge_id]).fetchone()
        if before is None:
            cur.execute("INSERT INTO disclosure_settings (challenge_id, min_count) VALUES (?, ?)",
                        [challenge_id, int(number)])
        else:
            cur.execute("UPDATE disclosure_settings SET min_count = ? WHERE challenge_id = ?",
                        [int(number), challenge_id])
        _audit(cur, scope.actor, "update", "disclosure_settings", challenge_id,
               {"min_count": before[0] if before else None}, {"min_count": int(number)})
