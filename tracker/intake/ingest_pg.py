"""Uploads on PostgreSQL (the second engine: docs/postgresql.md).

The file is read, checked and planned by the same code as on the embedded file, in an
in-memory DuckDB that holds a copy of what the checks compare with: every organisation,
measure, plausible range and upload batch, and, once the file's organisations are known,
their current results. Storing happens in one SERIALIZABLE PostgreSQL transaction: the
file's organisations' current results are read again inside it and the plan redone against
them (so the plan cannot go stale), then the batch and its rows go in (the rows by COPY).
Uploads store in turn with every other write of data, across every app server and command
line (the "data" write lock, held in PostgreSQL: `PostgresDatabase.transaction`), so they do
not abort one another. A transaction that still loses a race (with a writer outside the
tracker) is tried again (db.retry_races: five tries, a short random wait between), then said
in a sentence.
"""

from __future__ import annotations

import contextlib

import duckdb

from tracker.errors import ConcurrentChange
from tracker.intake import planning
from tracker.intake.upload_read import Problem, Report
from tracker.storage.base import retry_races
from tracker.storage.db import migrate

_MIRRORED = ("organisation", "measure", "measure_range", "upload_batch")
_RESULT_COLUMNS = ("id, organisation_id, measure_id, period, value, numerator, denominator,"
                   " note, batch_id, recorded_at")


def _copy_in(local, table: str, frame) -> None:
    if frame.empty:
        return
    local.register("incoming", frame)
    try:
        local.execute(f"INSERT INTO {table} BY NAME SELECT * FROM incoming")
    finally:
        local.unregister("incoming")


def _local(db):
    """An in-memory DuckDB with the tracker's schema and a copy of what the checks read."""
    local = duckdb.connect()
    migrate(local)
    for table in _MIRRORED:
        _copy_in(local, table, db.read(f"SELECT * FROM {table}"))
    return local


def _results_into(local, frame) -> None:
    local.execute("DELETE FROM result")
    _copy_in(local, "result", frame)


def _stored_results(read, local):
    """The current results of the organisations in the file (as `read` sees them)."""
    ids = [r[0] for r in local.execute("SELECT DISTINCT org_id FROM stage_typed"
                                       " WHERE org_id IS NOT NULL").fetchall()] or [-1]
    marks = ", ".join("?" for _ in ids)
    return read(f"SELECT {_RESULT_COLUMNS} FROM current_result"
                f" WHERE organisation_id IN ({marks})", ids)


def _prepare(db, local, data, file_name, scope, **options) -> Report:
    def before_plan(cur):
        _results_into(cur, _stored_results(db.read, cur))

    return planning._prepare(db, local, data, file_name, scope, before_plan=before_plan,
                           **options)


def check(db, data: bytes, file_name: str, scope, *, organisation=None, today=None,
          progress=None) -> Report:
    local = _local(db)
    try:
        return _prepare(db, local, data, file_name, scope, organisation=organisation,
                        today=today, progress=progress)
    finally:
        local.close()


def commit(db, data: bytes, file_name: str, scope, *, organisation=None, today=None,
           progress=None, source: str = "upload", accept_unusual: bool = False) -> Report:
    step = progress or (lambda fraction, text: None)
    local = _local(db)
    try:
        report = _prepare(db, local, data, file_name, scope, organisation=organisation,
                          today=today, progress=progress)
        if not report.ok or report.already_stored_batch is not None or \
                report.new + report.updated == 0:
            return report
        if report.implausible and not accept_unusual:
            report.held_back = True
            return report
        step(0.85, "Storing")

        @retry_races  # a lost serialization race rolled the store back whole: store again
        def store() -> None:
            report.batch_id = None
            with db.transaction() as cur:
                if _changed_meanwhile(cur, local, report):
                    return
                # what is stored now: the batches too, as the copy made before the lock
                # misses those stored meanwhile (their rows would not count as current, and
                # four posts of one file at once stored it four times)
                local.execute("DELETE FROM upload_batch")
                _copy_in(local, "upload_batch", cur.execute("SELECT * FROM upload_batch").df())
                _results_into(local, _stored_results(
                    lambda sql, params: cur.execute(sql, params).df(), local))
                planning._classify(local, report)  # against what is stored now
                if report.new + report.updated == 0:
                    planning.same_file_stored(local, report)
                    return
                _store(cur, local, report, file_name, scope, source)

        try:
            store()
        except ConcurrentChange:
            report.batch_id = None
            report.errors.insert(0, Problem(None, None, None,
                "Others were storing results for the same organisation at the same moment; "
                "nothing was stored. Send the file again."))
    finally:
        with contextlib.suppress(duckdb.Error):
            local.close()
    return report


def _changed_meanwhile(cur, local, report: Report) -> bool:
    """Whether the lab team retired one of the file's organisations, or changed one of its
    measures' kind of data, while the file was being checked (then nothing is stored)."""
    used = local.execute("SELECT DISTINCT org_id, measure_id, data_kind FROM stage_typed"
                         " WHERE org_id IS NOT NULL").fetchall()
    retired = dict(cur.execute("SELECT id, name FROM organisation WHERE retired_at IS NOT"
                               " NULL").fetchall())
    as_read = dict(local.execute("SELECT id, name FROM stage_measure").fetchall())
    measures = {row[0]: (as_read.get(row[0], "a measure"), row[1]) for row in cur.execute(
        "SELECT id, data_kind FROM measure").fetchall()}
    gone = sorted({retired[org] for org, _, _ in used if org in retired}
                  | {measures[m][0] for _, m, kind in used
                     if m in measures and measures[m][1] != kind})
    if gone:
        planning.changed_meanwhile(report, gone)
    return bool(gone)


def _store(cur, local, report: Report, file_name: str, scope, source: str) -> None:
    batch_id = planning.new_batch(cur, report, file_name, scope, source)
    rows = local.execute(
        "SELECT org_id AS organisation_id, measure_id, period, value, numerator,"
        " denominator, note FROM stage_plan WHERE status <> 'unchanged'").df()
    rows["batch_id"] = batch_id
    cur.register("incoming_results", rows)
    try:
        cur.execute("INSERT INTO result (organisation_id, measure_id, period, value, numerator,"
                    " denominator, note, batch_id) SELECT organisation_id, measure_id, period,"
                    " value, numerator, denominator, note, batch_id FROM incoming_results")
    finally:
        cur.unregister("incoming_results")
    planning.audit_upload(cur, report, file_name, scope, source, batch_id)
