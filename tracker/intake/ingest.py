"""Partner results files: check (a dry run) and commit, on either engine.

Nothing is stored unless the whole file is valid. Parsing and checks run in DuckDB on a
staging table (all text), so a million rows are checked with set operations, not a Python
loop (`planning`). Every problem is collected, with the row number a spreadsheet would show
(the header is row 1), the column, the value and what to do. The embedded file stores here;
PostgreSQL through `ingest_pg`, which re-checks and stores in one transaction of its own.
"""

from __future__ import annotations

import datetime as dt

from tracker.access.scope import Scope
from tracker.intake import ingest_pg
from tracker.intake.planning import (  # noqa: F401 - the steps callers reach through ingest
    _classify,
    _drop_staging,
    _prepare,
    audit_upload,
    changed_meanwhile,
    new_batch,
    read_path,
    same_file_stored,
)
from tracker.intake.upload_read import Progress, Report
from tracker.storage.db import Database


def check(db: Database, data: bytes, file_name: str, scope: Scope, *,
          organisation: str | None = None, today: dt.date | None = None,
          progress: Progress | None = None) -> Report:
    """Validate a file and plan its commit. Writes nothing (a dry run). A partner's file may
    hold rows for its own organisation only."""
    if db.engine == "postgresql":
        return ingest_pg.check(db, data, file_name, scope, organisation=organisation,
                               today=today, progress=progress)
    with db.cursor() as cur:
        try:
            return _prepare(db, cur, data, file_name, scope, organisation=organisation,
                            today=today, progress=progress)
        finally:
            _drop_staging(cur)



def commit(db: Database, data: bytes, file_name: str, scope: Scope, *,
           organisation: str | None = None, today: dt.date | None = None,
           progress: Progress | None = None, source: str = "upload",
           accept_unusual: bool = False) -> Report:
    """Validate and, if the file has no errors, store it as one batch in one transaction.
    A file holding values flagged as probable typing errors (far from the organisation's
    usual results, or past the measure's plausible range) is stored only with
    `accept_unusual=True`: every path asks a person to confirm them first (the Upload and
    Enter results pages' tick box, the command line's --accept-unusual, the results API's
    accept_unusual=true). Otherwise the report comes back `held_back`, nothing stored.

    Reading, parsing and validating run outside the write lock (they take most of the
    time); the lock is held only to compare the rows with what is stored at that moment and
    to store them, so the plan cannot go stale and a sign-in or a cycle never waits behind a
    slow file. A file identical to a stored batch adds nothing.
    """
    step = progress or (lambda fraction, text: None)
    if db.engine == "postgresql":
        return ingest_pg.commit(db, data, file_name, scope, organisation=organisation,
                                today=today, progress=progress, source=source,
                                accept_unusual=accept_unusual)
    with db.cursor() as cur:
        try:
            report = _prepare(db, cur, data, file_name, scope, organisation=organisation,
                              today=today, progress=progress)
            if not report.ok or report.already_stored_batch is not None or \
                    report.new + report.updated == 0:
                return report
            if report.implausible and not accept_unusual:
                report.held_back = True
                return report
            step(0.85, "Storing")
            with db.transaction(cur):
                _store(cur, report, file_name, scope, source)
        finally:
            _drop_staging(cur)
    if report.batch_id is not None:
        db.checkpoint()
    return report



def _store(cur, report: Report, file_name: str, scope: Scope, source: str) -> None:
    """Under the write lock: what changed since the check, then the batch and its rows."""
    gone = cur.execute("""
        SELECT DISTINCT o.name FROM stage_typed t JOIN organisation o ON o.id = t.org_id
        WHERE o.retired_at IS NOT NULL
        UNION ALL
        SELECT DISTINCT sm.name FROM stage_typed t JOIN measure m ON m.id = t.measure_id
        JOIN stage_measure sm ON sm.id = m.id
        WHERE m.data_kind <> t.data_kind""").fetchall()
    if gone:
        changed_meanwhile(report, [g[0] for g in gone])
        return
    _classify(cur, report)  # against what is stored now
    if report.new + report.updated == 0:
        same_file_stored(cur, report)
        return
    batch_id = new_batch(cur, report, file_name, scope, source)
    cur.execute(
        "INSERT INTO result (organisation_id, measure_id, period, value, numerator,"
        " denominator, note, batch_id)"
        " SELECT org_id, measure_id, period, value, numerator, denominator, note, ?"
        " FROM stage_plan WHERE status <> 'unchanged'", [batch_id])
    audit_upload(cur, report, file_name, scope, source, batch_id)
