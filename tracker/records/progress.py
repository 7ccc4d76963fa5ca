"""The IHI progress score of each partner organisation, scored by the lab team every month
(the assessment scale of a Breakthrough Series collaborative, as Life QI offers it).

Scores are append-only: scoring a month again adds a row that supersedes the earlier one,
which stays as history. Every reader may see the scores of the organisations it may see by
name (a partner: its own)."""

from __future__ import annotations

import pandas as pd

from tracker import clock
from tracker.access.scope import Scope
from tracker.errors import InputError
from tracker.storage.db import Database
from tracker.storage.store import MAX_LONG, _audit, _Checks

LEVELS = {
    0.5: "Intent to participate: the organisation has said it will take part.",
    1.0: "Forming team: a team is named; it has not yet started planning.",
    1.5: "Planning has begun: the team has an aim, measures and a first change to test.",
    2.0: "Activity but no changes: the team meets and collects data; no change tested yet.",
    2.5: "Changes tested but no improvement: PDSA cycles run; the measures have not moved.",
    3.0: "Modest improvement: early signs of improvement in some measures.",
    3.5: "Improvement: improvement in several measures; some changes adopted.",
    4.0: "Significant improvement: most measures improved; the changes are spreading.",
    4.5: "Sustainable improvement: improvement held for months; changes are part of routine.",
    5.0: "Outstanding sustainable results: the aim is reached and sustained.",
}


def score_month(db: Database, scope: Scope, organisation_id: int, month, score,
                comment=None) -> str:
    """Score one organisation for one month (the first day of the month is kept). Returns
    what was done in a sentence: a month scored again says the score it replaces (which
    stays in the history)."""
    scope.require_admin("score partners' progress")
    c = _Checks()
    day = c.date(month, "Month")
    if score is None or (isinstance(score, str) and not score.strip()):
        c.problems.append("Progress score is required: choose one of the levels, 0.5 to 5.0.")
        number = None
    else:
        number = c.number(score, "Progress score")
    if number is not None and number not in LEVELS:
        c.problems.append(f"Progress score {number:g} is not on the scale: 0.5, 1.0, 1.5 ... "
                          "5.0.")
    text = c.text(comment, "Comment", required=False, limit=MAX_LONG)
    if day is not None and day.replace(day=1) > clock.today():
        c.problems.append(f"Month {day:%B %Y} has not started yet; score a month that has.")
    c.raise_if_any()
    first = day.replace(day=1)
    with db.transaction() as cur:
        if cur.execute("SELECT 1 FROM organisation WHERE id = ?",
                       [organisation_id]).fetchone() is None:
            raise InputError("That organisation no longer exists; reload the page.")
        before = cur.execute(
            "SELECT score, comment, scored_by, scored_at FROM progress_score"
            " WHERE organisation_id = ? AND month = ? ORDER BY id DESC LIMIT 1",
            [organisation_id, first]).fetchone()
        cur.execute("INSERT INTO progress_score (organisation_id, month, score, comment,"
                    " scored_by) VALUES (?, ?, ?, ?, ?)",
                    [organisation_id, first, float(number), text, scope.actor])
        _audit(cur, scope.actor, "score", "progress_score", organisation_id,
               {"month": first, "score": before[0], "comment": before[1]} if before else None,
               {"month": first, "score": float(number), "comment": text})
    said = f"Score {float(number):.1f} saved for {first:%B %Y}."
    if before is None:
        return said
    return (said + f" It replaces the earlier score for that month, {before[0]:.1f} (given by "
            f"{before[2]} on {pd.Timestamp(before[3]):%d %b %Y}), which stays in the history "
            "of scores.")


def history(db: Database, scope: Scope) -> pd.DataFrame:
    """Every score given, those replaced included, newest first (`replaced`: a later score
    for the same organisation and month supersedes it)."""
    own = scope.organisation_id if scope.is_partner else None
    return db.read(
        "SELECT o.name AS organisation, s.month, s.score, s.comment, s.scored_by, s.scored_at,"
        " s.id < max(s.id) OVER (PARTITION BY s.organisation_id, s.month) AS replaced"
        " FROM progress_score s JOIN organisation o ON o.id = s.organisation_id"
        " WHERE (?::INTEGER IS NULL OR s.organisation_id = ?)"
        " ORDER BY s.scored_at DESC, s.id DESC", [own, own])


def scores(db: Database, scope: Scope) -> pd.DataFrame:
    """The latest score of every organisation and month this reader may see."""
    own = scope.organisation_id if scope.is_partner else None
    return db.read(
        "SELECT s.organisation_id, o.name AS organisation, o.kind, s.month, s.score, s.comment,"
        " s.scored_by, s.scored_at FROM progress_score s"
        " JOIN organisation o ON o.id = s.organisation_id"
        " WHERE (?::INTEGER IS NULL OR s.organisation_id = ?)"
        " AND s.id = (SELECT max(s2.id) FROM progress_score s2"
        "             WHERE s2.organisation_id = s.organisation_id AND s2.month = s.month)"
        " ORDER BY o.name, s.month", [own, own])


def latest(db: Database, scope: Scope) -> pd.DataFrame:
    """Each organisation's most recent score (for the review pack's summary)."""
    found = scores(db, scope)
    if found.empty:
        return found
    return found.sort_values("month").groupby("organisation_id").tail(1).sort_values(
        "organisation").reset_index(drop=True)
