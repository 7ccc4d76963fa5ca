"""Ideas sent in: anyone signed in (a partner's staff, a contributor with lived experience,
the lab team, leadership) sends the lab team an idea: the problem, who it is for, what to
try, where the idea came from, and the driver it might serve. The lab team triages each:
accept (it becomes a change idea under its driver, and keeps who sent it in: "a partner
organisation" or "a contributor"), merge into an idea already in the register, park, or
decline with a reason. The sender sees the status and the reason (under For you too).

Every text is checked like any form's; one account sends at most `RATE_COUNT` ideas in
`RATE_WINDOW`. The audit log records each idea sent and each decision.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from tracker import clock
from tracker.access.scope import Scope
from tracker.errors import InputError
from tracker.records import repo
from tracker.storage.db import Database
from tracker.storage.store import MAX_SHORT, _audit, _Checks, _insert

STATUSES = {"sent": "Sent: waiting for the lab team", "accepted": "Accepted",
            "merged": "Merged into an idea", "parked": "Parked for now",
            "declined": "Declined"}
ACTIONS = {"accept": "Accept it as a new change idea", "merge": "Merge it into an idea",
           "park": "Park it for now", "decline": "Decline it, with a reason"}
TEXT_LIMIT = 1500
RATE_COUNT, RATE_WINDOW = 5, dt.timedelta(hours=1)
SENT_BY = {"partner": "a partner organisation", "contributor": "a contributor",
           "viewer": "the lab's leadership", "admin": "the lab team"}


def send(db: Database, scope: Scope, challenge_id: int, *, problem, who_for, what_to_try,
         came_from=None, driver_id=None) -> int:
    """Send an idea to the lab team; returns its number."""
    c = _Checks()
    fields = {
        "problem": c.text(problem, "The problem it solves", limit=TEXT_LIMIT),
        "who_for": c.text(who_for, "Who it is for", limit=TEXT_LIMIT),
        "what_to_try": c.text(what_to_try, "What to try", limit=TEXT_LIMIT),
        "came_from": c.text(came_from, "Where the idea came from", required=False,
                            limit=TEXT_LIMIT),
    }
    now = clock.now()
    with db.transaction() as cur:
        if cur.execute("SELECT 1 FROM challenge WHERE id = ?", [challenge_id]).fetchone() is None:
            raise InputError("That challenge no longer exists; reload the page.")
        if driver_id is not None and cur.execute(
                "SELECT 1 FROM driver WHERE id = ? AND challenge_id = ?",
                [int(driver_id), challenge_id]).fetchone() is None:
            c.problems.append("The driver chosen is not one of this challenge's; choose again.")
        mine = ("sender_account_id = ?", scope.account_id) if scope.account_id is not None \
            else ("sent_by = ?", scope.actor)
        recent = cur.execute(f"SELECT count(*) FROM idea_submission WHERE {mine[0]}"
                             " AND sent_at > ?", [mine[1], now - RATE_WINDOW]).fetchone()[0]
        if recent >= RATE_COUNT:
            c.problems.append(f"You have sent {RATE_COUNT} ideas in the last hour; please send "
                              "the next one later (or add to one you sent, in its discussion).")
        c.raise_if_any()
        row = {"challenge_id": int(challenge_id), **fields,
               "driver_id": None if driver_id is None else int(driver_id),
               "sent_by": scope.actor, "sender_account_id": scope.account_id,
               "sender_role": scope.role,
               "sender_organisation_id": scope.organisation_id if scope.is_partner else None,
               "sent_at": now}
        new_id = _insert(cur, "idea_submission", row)
        _audit(cur, scope.actor, "create", "idea_submission", new_id, None,
               {"challenge_id": row["challenge_id"], "driver_id": row["driver_id"]})
    return new_id


def triage(db: Database, scope: Scope, submission_id: int, action: str, *, title=None,
           idea_id=None, reason=None) -> int | None:
    """The lab team's decision. accept: a new change idea (`title`, the sent text as its
    hypothesis, under the driver named), or `idea_id` where the lab already added it; merge:
    into `idea_id`; park; decline (a `reason` is required, and the sender reads it). Returns
    the idea's id where there is one."""
    scope.require_admin("decide on ideas sent in")
    c = _Checks()
    action = c.choice(action, "What to do with it", ACTIONS)
    reason = c.text(reason, "The reason", required=action == "decline", limit=TEXT_LIMIT)
    if action == "accept" and idea_id is None:
        title = c.text(title, "The idea's title", limit=MAX_SHORT)
    if action == "merge" and idea_id is None:
        c.problems.append("Choose the idea to merge it into.")
    c.raise_if_any()
    found = db.read("SELECT * FROM idea_submission WHERE id = ?", [int(submission_id)])
    if found.empty:
        raise InputError("That idea sent in no longer exists; reload the page.")
    sent = found.iloc[0].to_dict()
    if sent["status"] in ("accepted", "merged"):
        raise InputError(f"This idea was already {sent['status']}; it cannot be decided again.")
    new_idea = None
    if action in ("merge", "accept") and idea_id is not None:
        ideas = repo.list_ideas(db, int(sent["challenge_id"]))
        if int(idea_id) not in set(ideas["id"].astype(int)):
            raise InputError("That idea is not in this challenge's register; choose again.")
        new_idea = int(idea_id)  # accepted as an idea the lab had already added, or merged
    elif action == "accept":
        driver = sent["driver_id"]
        drivers = [] if driver is None or pd.isna(driver) else [int(driver)]
        description = (f"{sent['problem']}\n\nFor: {sent['who_for']}\n\nWhat to try: "
                       f"{sent['what_to_try']}")
        new_idea = repo.add_idea(db, scope, int(sent["challenge_id"]), title=title,
                                 driver_ids=drivers, description=description[:4900])
    status = {"accept": "accepted", "merge": "merged", "park": "parked",
              "decline": "declined"}[action]
    with db.transaction() as cur:
        cur.execute("UPDATE idea_submission SET status = ?, reason = ?, idea_id = ?,"
                    " decided_by = ?, decided_at = ? WHERE id = ?",
                    [status, reason, new_idea, scope.actor, clock.now(), int(submission_id)])
        _audit(cur, scope.actor, "update", "idea_submission", int(submission_id),
               {"status": sent["status"]}, {"status": status, "idea_id": new_idea})
    return new_idea


def _frame(db: Database, where: str, params: list) -> pd.DataFrame:
    frame = db.read(
        "SELECT s.*, i.title AS idea_title, d.name AS driver FROM idea_submission s"
        " LEFT JOIN idea i ON i.id = s.idea_id LEFT JOIN driver d ON d.id = s.driver_id"
        f" WHERE {where} ORDER BY s.sent_at DESC, s.id DESC", params)
    return frame.assign(status_words=frame["status"].map(STATUSES),
                        sent_in_by=frame["sender_role"].map(SENT_BY))


def mine(db: Database, scope: Scope, challenge_id: int) -> pd.DataFrame:
    """The ideas this person sent, newest first, with what the lab decided and why."""
    if scope.account_id is not None:
        return _frame(db, "s.challenge_id = ? AND s.sender_account_id = ?",
                      [challenge_id, scope.account_id])
    return _frame(db, "s.challenge_id = ? AND s.sent_by = ?", [challenge_id, scope.actor])


def every(db: Database, scope: Scope, challenge_id: int, *, status=None) -> pd.DataFrame:
    """For the lab team: every idea sent in (those still to decide first)."""
    scope.require_admin("see every idea sent in")
    where, params = "s.challenge_id = ?", [challenge_id]
    if status:
        where += " AND s.status = ?"
        params.append(status)
    frame = _frame(db, where, params)
    return frame.sort_values("status", key=lambda s: s.ne("sent"), kind="stable")


def decided_since(db: Database, scope: Scope, since: dt.datetime) -> pd.DataFrame:
    """This person's ideas the lab decided on since `since` (For you, the digest)."""
    if scope.account_id is None:
        return _frame(db, "s.sent_by = ? AND s.decided_at >= ?", [scope.actor, since])
    return _frame(db, "s.sender_account_id = ? AND s.decided_at >= ?",
                  [scope.account_id, since])


def origins(db: Database, idea_ids=None) -> dict[int, str]:
    """idea id -> who sent it in ("a partner organisation", "a contributor"), for the ideas
    that began as an idea sent in and accepted."""
    found = db.read("SELECT idea_id, sender_role FROM idea_submission WHERE status = 'accepted'"
                    " AND idea_id IS NOT NULL")
    out = {int(i): SENT_BY.get(r, "someone") for i, r in zip(found["idea_id"],
                                                            found["sender_role"], strict=True)}
    if idea_ids is not None:
        wanted = {int(i) for i in idea_ids}
        out = {k: v for k, v in out.items() if k in wanted}
    return out

