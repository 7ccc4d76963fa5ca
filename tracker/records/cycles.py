"""PDSA cycles: plan (a prediction is required), record Do, Study and Act, in the reader's scope."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from tracker import clock, vocab
from tracker.access.scope import Scope
from tracker.errors import InputError
from tracker.storage.db import Database
from tracker.storage.store import (
    MAX_LONG,
    _audit,
    _Checks,
    _ids,
    _insert,
    _row,
    _update,
)

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

MAX_SEARCH_WORDS = 12
MAX_SEARCH_CHARS = 200


def search_words(text: str | None) -> list[str]:
    """The words of a cycle search, each once, casefolded. A search is a few words: a long
    one (a pasted page) would cost a scan of every note per word, so it is refused."""
    text = text or ""
    if len(text) > MAX_SEARCH_CHARS:
        raise InputError(f"The search is {len(text):,} characters long; search for at most "
                         f"{MAX_SEARCH_CHARS} characters (a few words from the notes).")
    words = list(dict.fromkeys(text.casefold().split()))
    if len(words) > MAX_SEARCH_WORDS:
        raise InputError(f"The search has {len(words):,} words; search for at most "
                         f"{MAX_SEARCH_WORDS} (a cycle matches when its notes hold every word).")
    return words


_CYCLE_TEXT_COLUMNS = ("objective", "question", "prediction", "plan_who", "plan_where",
                       "data_collection", "scale", "do_notes", "observations", "study_notes",
                       "learning", "next_steps")


def list_cycles(db: Database, scope: Scope, challenge_id: int, *, idea_id=None,
                organisation_id=None, stage=None, decision=None, measure_id=None,
                search: str | None = None) -> pd.DataFrame:
    """Cycles with filters (a partner sees its own organisation's only). `search` looks for
    every word in all the cycle's notes and in the idea's title, case-insensitively."""
    scope.require_member("the PDSA cycles")
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
    for word in search_words(search):
        where.append(f"strpos(lower({haystack}), ?) > 0")
        params.append(word)
    return db.read(
        _CYCLE_SELECT + " WHERE " + " AND ".join(where) + " ORDER BY c.start_date, c.id", params)


def get_cycle(db: Database, scope: Scope, cycle_id: int) -> dict | None:
    scope.require_member("a PDSA cycle")
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
        _unmark_changed(cur, scope.actor, cycle_id,
                        [f for f, v in fields.items() if before.get(f) != v])


def _unmark_changed(cur, actor: str, cycle_id: int, changed: list[str]) -> None:
    """A note marked shareable whose text changed goes back to the lab team: the mark was
    given to the words it marked, not to whatever the note says next (audited; the lab admin
    sees it changed since it was shared, and marks it again if it may still go out)."""
    if not changed:
        return
    marked = cur.execute(
        f"SELECT field, audience FROM excerpt_share WHERE cycle_id = ? AND audience <> 'lab'"
        f" AND field IN ({', '.join('?' for _ in changed)})", [cycle_id, *changed]).fetchall()
    for field, audience in marked:
        cur.execute("UPDATE excerpt_share SET audience = 'lab', changed_from = ?,"
                    " marked_by = ?, marked_at = current_timestamp"
                    " WHERE cycle_id = ? AND field = ?", [audience, actor, cycle_id, field])
        _audit(cur, actor, "update", "excerpt_share", cycle_id,
               {"field": field, "audience": audience},
               {"field": field, "audience": "lab", "why": "the note changed after it was "
                                                        "marked; the lab marks it again"})


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
