"""The results API: a partner's own system sends a results file, and gets the Upload page's
report back as JSON.

    POST /tracker/api/results?file=results.csv[&commit=true][&accept_unusual=true]
    Authorization: Bearer trk_...            (a token the lab admin made for one organisation)
    body: the file's bytes (CSV or Excel), or a multipart form with the file as `file`

Without `commit=true` the file is only checked (a dry run). With it, a file without problems is
stored as one batch, all or nothing, exactly as on the Upload page; values flagged as probable
typing errors are stored only with `accept_unusual=true` (`confirm=true`, its older name, is
still understood), as the pages and the command line ask a person to confirm them.
The answer's `status` says what happened in one word; `summary` says it in a sentence.

HTTP status: 200 checked or stored; 401 no valid token; 409 flagged values not confirmed;
413 file too large; 422 the file was refused (every problem listed with its row and column).
Nothing here imports Streamlit or Starlette: server.py calls `handle`.
"""

from __future__ import annotations

import math

import pandas as pd

from tracker.access.scope import Scope
from tracker.intake import api_tokens, ingest
from tracker.intake.upload_read import MAX_FILE_BYTES, MAX_FILE_MB, Problem, Report
from tracker.storage.db import Database

PREVIEW_ROWS = 200
SOURCE = "import"  # an upload_batch source: sent by a system, not through a page


def _problem(p: Problem) -> dict:
    return {"row": p.row, "column": p.column, "value": p.value, "message": p.message,
            "text": str(p)}


def _cell(value):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item"):
        return value.item()
    return value


def report_json(report: Report) -> dict:
    """The report as plain JSON types: what the file is, its counts, every problem and
    warning, and the first rows of the plan (new, updated old → new, unchanged)."""
    plan = report.plan.head(PREVIEW_ROWS)
    rows = [{k: _cell(v) for k, v in record.items()}
            for record in plan.to_dict(orient="records")] if not plan.empty else []
    return {
        "file": report.file_name, "bytes": report.size, "sha256": report.sha256,
        "file_type": report.file_type, "encoding": report.encoding,
        "delimiter": report.delimiter or None, "date_format": report.date_format,
        "layout": report.layout, "rows": report.rows,
        "new": report.new, "updated": report.updated, "unchanged": report.unchanged,
        "errors": [_problem(p) for p in report.errors], "more_errors": report.more_errors,
        "warnings": [_problem(p) for p in report.warnings],
        "flagged": report.implausible,
        "batch_id": report.batch_id, "already_stored_batch": report.already_stored_batch,
        "preview": rows, "preview_complete": len(report.plan) <= PREVIEW_ROWS,
        "summary": report.summary(),
    }


def refusal(status: int, message: str) -> tuple[int, dict]:
    return status, {"status": "refused", "summary": message, "errors": [
        {"row": None, "column": None, "value": None, "message": message, "text": message}]}


NO_TOKEN = ("The token is missing, unknown or revoked. Ask the lab admin for a token for your "
            "organisation and send it as 'Authorization: Bearer <token>'. Nothing was stored.")
TOO_LARGE = (f"The file is larger than {MAX_FILE_MB} MB. Split it into smaller "
             "files. Nothing was stored.")


def bearer(header: str | None) -> str | None:
    """The token of an 'Authorization: Bearer <token>' header."""
    if header and header[:7].lower() == "bearer ":
        return header[7:].strip()
    return None


def authenticate(db: Database, header: str | None, client: str | None = None) -> Scope | None:
    """The token's scope, or None; raises api_tokens.TokenThrottled for an address that
    keeps sending wrong tokens."""
    return api_tokens.authenticate(db, bearer(header), client=client)


def handle(db: Database, scope: Scope, data: bytes, file_name: str, *,
           commit: bool, confirm: bool) -> tuple[int, dict]:
    """Check or store one results file sent with an organisation's token (`scope`, from
    `authenticate`)."""
    if len(data) > MAX_FILE_BYTES:
        return refusal(413, TOO_LARGE)
    name = (file_name or "").strip()[:200] or "results.csv"
    org = scope.organisation
    if not commit:
        checked = ingest.check(db, data, name, scope)
        if not checked.ok:
            return 422, {"status": "refused", "organisation": org, **report_json(checked)}
        return 200, {"status": "checked", "organisation": org, **report_json(checked),
                     "summary": "Dry run, nothing stored. " + checked.summary()}
    stored = ingest.commit(db, data, name, scope, source=SOURCE, accept_unusual=confirm)
    if not stored.ok:
        return 422, {"status": "refused", "organisation": org, **report_json(stored)}
    if stored.held_back:
        body = report_json(stored)
        body["summary"] = (f"Not stored: {stored.implausible:,} value"
                           f"{'s are' if stored.implausible != 1 else ' is'} far from what "
                           "is usual (see warnings). Nothing was stored: correct the file, or "
                           "send it again with accept_unusual=true if the values are right.")
        return 409, {"status": "needs confirmation", "organisation": org, **body}
    state = "stored" if stored.batch_id is not None else "nothing to store"
    return 200, {"status": state, "organisation": org, **report_json(stored)}
