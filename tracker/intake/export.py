"""Exports: every table a user may see as CSV, with formula-like text neutralised."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from tracker.access.scope import Scope
from tracker.intake import batches
from tracker.intake.upload_read import FORMULA_START
from tracker.storage.db import Database


def neutralise(frame: pd.DataFrame) -> pd.DataFrame:
    """Make text cells that a spreadsheet would run as a formula show as text: prefix them
    with an apostrophe. Numbers stay numbers."""
    out = frame.copy()
    for column in out.columns:
        series = out[column]
        if series.dtype == object or pd.api.types.is_string_dtype(series):
            text = series.astype("string")
            risky = text.str.startswith(FORMULA_START).fillna(False)
            if risky.any():
                out[column] = series.astype(object).where(~risky, "'" + text)
    return out


# What each table holds, and how a partner's export is cut to its own organisation
# ("{own}" is replaced by a parameter marker; shared tables are the same for everyone).
EXPORT_TABLES = {
    "challenge": ("SELECT * FROM challenge ORDER BY id", None),
    "challenge_phases": ("SELECT * FROM challenge_phase ORDER BY id", None),
    "drivers": ("SELECT * FROM driver ORDER BY id", None),
    "driver_links": ("SELECT * FROM driver_link ORDER BY 1, 2", None),
    "ideas": ("SELECT * FROM idea ORDER BY id", None),
    "idea_drivers": ("SELECT * FROM idea_driver ORDER BY 1, 2", None),
    "measures": ("SELECT * FROM measure ORDER BY id", None),
    "organisations": ("SELECT * FROM organisation ORDER BY id", "WHERE id = ?"),
    "cycles": ("SELECT * FROM cycle ORDER BY id", "WHERE organisation_id = ?"),
    "cycle_measures": ("SELECT * FROM cycle_measure ORDER BY 1, 2",
                       "WHERE cycle_id IN (SELECT id FROM cycle WHERE organisation_id = ?)"),
    "upload_batches": ("SELECT * FROM upload_batch ORDER BY id",
                       "WHERE id IN (SELECT batch_id FROM result WHERE organisation_id = ?)"),
    "results_history": ("SELECT * FROM result ORDER BY id", "WHERE organisation_id = ?"),
    "annotations": ("SELECT * FROM annotation ORDER BY id",
                    "WHERE organisation_id = ? OR organisation_id IS NULL"),
    "syntheses": ("SELECT * FROM synthesis ORDER BY id", "lab"),
    "shared_notes": ("SELECT * FROM excerpt_share ORDER BY 1, 2", "lab"),
    "organisation_consents": ("SELECT * FROM organisation_consent ORDER BY 1", "lab"),
    "sharing_rules": ("SELECT s.challenge_id, s.min_count, c.min_aggregate_orgs"
                      " FROM disclosure_settings s FULL JOIN challenge_settings c"
                      " USING (challenge_id) ORDER BY 1", None),
    "progress_scores": ("SELECT * FROM progress_score ORDER BY id", "WHERE organisation_id = ?"),
    "events": ("SELECT id, challenge_id, on_date, name, phase_id, (SELECT count(*)"
               " FROM event_attendance a WHERE a.event_id = e.id) AS came"
               " FROM lab_event e ORDER BY id", "lab"),
    # people: their names and e-mails are the lab admin's only
    "participants": ("SELECT * FROM participant ORDER BY id", "admin"),
    "participant_ideas": ("SELECT * FROM participant_idea ORDER BY 1, 2", "admin"),
    "participant_cycles": ("SELECT * FROM participant_cycle ORDER BY 1, 2", "admin"),
    "event_attendance": ("SELECT * FROM event_attendance ORDER BY 1, 2", "admin"),
    "suggestion_marks": ("SELECT * FROM suggestion_status ORDER BY 1", "admin"),
    "audit_log": ("SELECT * FROM audit_log ORDER BY id", "admin"),
}


def _exact(x) -> str:
    """A number as the shortest text that reads back as the same double (12, not 12.0)."""
    if x is None or pd.isna(x):
        return ""
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else repr(float(x))


def export_all(db: Database, scope: Scope, out_dir: Path) -> list[Path]:
    """Write every table the user may see as CSV, and the current results as results.csv.
    A partner gets its own organisation's rows and the shared tables (not the lab team's
    syntheses, sharing marks or consents); the audit log goes to admins only."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, (sql, partner_filter) in EXPORT_TABLES.items():
        params: list = []
        if partner_filter == "admin":
            if not scope.is_admin:
                continue
        elif partner_filter == "lab":  # the lab team's own records: not a partner's
            if scope.is_partner:
                continue
        elif partner_filter and scope.is_partner:
            select, order = sql.split(" ORDER BY ")
            sql = f"{select} {partner_filter} ORDER BY {order}"
            params = [scope.organisation_id]
        path = out_dir / f"{name}.csv"
        if name == "upload_batches" and scope.is_partner:  # no other's file names or users
            frame = batches.list_batches(db, scope)
        else:
            frame = db.read(sql, params)
        neutralise(frame).to_csv(path, index=False, lineterminator="\n")
        written.append(path)
    own = scope.organisation_id if scope.is_partner else None
    results = db.read(
        "SELECT o.name AS organisation, m.name AS measure, CAST(r.period AS VARCHAR)"
        " AS period, r.value, r.numerator, r.denominator, r.note, r.batch_id AS batch"
        " FROM current_result r JOIN organisation o ON o.id = r.organisation_id"
        " JOIN measure m ON m.id = r.measure_id WHERE (?::INTEGER IS NULL"
        " OR r.organisation_id = ?) ORDER BY o.name, m.name, r.period", [own, own])
    for column in ("value", "numerator", "denominator"):
        results[column] = results[column].map(_exact)
    path = out_dir / "results.csv"
    neutralise(results).to_csv(path, index=False, lineterminator="\n")
    written.append(path)
    return written
