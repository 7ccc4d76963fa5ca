"""The history of uploads: what each batch stored, and undo (nothing is ever deleted)."""

from __future__ import annotations

import pandas as pd

from tracker.access.scope import Scope
from tracker.records import repo
from tracker.storage.db import Database

LAB_TEAM = "lab team"


def list_batches(db: Database, scope: Scope,
                 organisation_ids: list[int] | None = None) -> pd.DataFrame:
    """Uploads, newest first. A partner sees the batches holding its own organisation's
    results, with only its own rows counted (`rows_new` is then its results in the batch,
    `rows_updated` and `rows_unchanged` empty), and the file name and uploader only for the
    batches its own organisation uploaded; the others say "lab team"."""
    if scope.is_partner:
        return db.read(
            "SELECT b.id, b.uploaded_at,"
            " CASE WHEN a.organisation_id = $own THEN b.uploaded_by ELSE $lab END"
            "   AS uploaded_by,"
            " CASE WHEN a.organisation_id = $own THEN b.file_name END AS file_name, b.source,"
            " mine.results AS rows_new, NULL::INTEGER AS rows_updated,"
            " NULL::INTEGER AS rows_unchanged, b.undone_at,"
            " CASE WHEN b.undone_at IS NULL THEN NULL WHEN u.organisation_id = $own"
            "   THEN b.undone_by ELSE $lab END AS undone_by, o.name AS organisation"
            " FROM upload_batch b"
            " JOIN (SELECT batch_id, count(*) AS results FROM result"
            "       WHERE organisation_id = $own GROUP BY batch_id) mine ON mine.batch_id = b.id"
            " JOIN organisation o ON o.id = $own"
            " LEFT JOIN account a ON lower(a.username) = lower(b.uploaded_by)"
            " LEFT JOIN account u ON lower(u.username) = lower(b.undone_by)"
            " ORDER BY b.id DESC", {"own": scope.organisation_id, "lab": LAB_TEAM})
    where, params = "", []
    if organisation_ids is not None:
        ids = sorted(organisation_ids) or [-1]
        where = ("WHERE b.id IN (SELECT DISTINCT batch_id FROM result WHERE organisation_id IN ("
                 + ", ".join("?" for _ in ids) + "))")
        params = ids
    return db.read(
        "SELECT b.id, b.uploaded_at, b.uploaded_by, b.file_name, b.source, b.rows_new,"
        " b.rows_updated, b.rows_unchanged, b.undone_at, b.undone_by, o.name AS organisation"
        " FROM upload_batch b LEFT JOIN organisation o ON o.id = b.organisation_id "
        f"{where} ORDER BY b.id DESC", params)


def batch_rows(db: Database, scope: Scope, batch_id: int,
               limit: int | None = None) -> pd.DataFrame:
    """The results an upload stored (a partner: its own only), in order; the first `limit`."""
    own = scope.organisation_id if scope.is_partner else None
    return db.read(
        "SELECT o.name AS organisation, m.name AS measure, r.period, r.value, r.numerator,"
        " r.denominator, r.note FROM result r JOIN organisation o ON o.id = r.organisation_id"
        " JOIN measure m ON m.id = r.measure_id WHERE r.batch_id = ?"
        " AND (?::INTEGER IS NULL OR r.organisation_id = ?)"
        " ORDER BY o.name, m.name, r.period"
        + ("" if limit is None else f" LIMIT {int(limit)}"), [batch_id, own, own])


def batch_size(db: Database, scope: Scope, batch_id: int) -> int:
    """How many results an upload stored (a partner: its own only)."""
    own = scope.organisation_id if scope.is_partner else None
    return int(db.scalar(
        "SELECT count(*) FROM result WHERE batch_id = ?"
        " AND (?::INTEGER IS NULL OR organisation_id = ?)", [batch_id, own, own]))


def undo_batch(db: Database, scope: Scope, batch_id: int) -> int:
    """Undo an upload: its rows stop counting and the values they superseded come back.
    Nothing is deleted. Returns how many results the batch held. Lab admins only."""
    scope.require_admin("undo uploads")
    with db.transaction() as cur:
        batch = repo._row(cur, "upload_batch", batch_id)
        if batch is None:
            raise repo.InputError("That upload does not exist.")
        if batch["undone_at"] is not None:
            raise repo.InputError(f"Upload {batch_id} was already undone on "
                                  f"{batch['undone_at']:%d %b %Y %H:%M}.")
        rows = cur.execute("SELECT count(*) FROM result WHERE batch_id = ?",
                           [batch_id]).fetchone()[0]
        cur.execute("UPDATE upload_batch SET undone_at = current_timestamp, undone_by = ?"
                    " WHERE id = ?", [scope.actor, batch_id])
        repo._audit(cur, scope.actor, "undo", "upload_batch", batch_id,
                    {"undone_at": None}, {"undone_by": scope.actor, "results": rows})
    db.checkpoint()
    return rows


