"""Import a list of participants from CSV or Excel, through the same path as results: read
(bounded, with the upload reader), check every row, preview, then store all of it in one
transaction or nothing.

Columns (names are matched ignoring case and spaces): name, taking part (or "takes part as";
the label or its short form: "lived experience / patient" or "lived_experience"),
organisation (optional: an organisation's name as the tracker knows it), region, email,
joined on (YYYY-MM-DD or DD/MM/YYYY), may be contacted, may be named (yes / no; blank is no).
A person whose e-mail is already stored is left as it is (shown as already there).
"""

from __future__ import annotations

import hashlib

import pandas as pd

from tracker import clock
from tracker.access.scope import Scope
from tracker.community import participants
from tracker.errors import PermissionDenied
from tracker.intake.upload_read import Problem, Refused, Report, read_listing
from tracker.records import repo
from tracker.storage.db import Database
from tracker.storage.store import _EMAIL, MAX_SHORT, _audit, _insert
from tracker.text import day_written, has_control, invisible, no_such_day

COLUMNS = {"name": "name", "full name": "name", "taking part": "taking_part",
           "takes part as": "taking_part", "how they take part": "taking_part",
           "organisation": "organisation", "organization": "organisation",
           "region": "region", "email": "email", "e-mail": "email", "joined on": "joined_on",
           "joined": "joined_on", "may be contacted": "may_contact",
           "may be named": "may_name"}
YES = {"yes", "y", "true", "1", "agreed"}
NO = {"no", "n", "false", "0", ""}
PREVIEW = ["row", "name", "taking_part", "organisation", "region", "email", "joined_on",
           "may_contact", "may_name", "status"]


def check(db: Database, scope: Scope, challenge_id: int, data: bytes, file_name: str
          ) -> Report:
    """Read and check a list; writes nothing. `report.plan` is the preview."""
    with db.cursor() as cur:
        return _prepare(db, cur, scope, challenge_id, data, file_name)


def commit(db: Database, scope: Scope, challenge_id: int, data: bytes, file_name: str
           ) -> Report:
    """Check the list again and, with no problem, add every new person in one transaction."""
    with db.cursor() as cur:
        report = _prepare(db, cur, scope, challenge_id, data, file_name)
    if not report.ok or report.new == 0:
        return report
    rows = report.plan[report.plan["status"] == "new"]
    now = clock.now()
    with db.transaction() as cur:
        known = _known_emails(cur, challenge_id)  # again, under the lock
        added = 0
        for row in rows.itertuples():
            if row.email and row.email.casefold() in known:
                continue
            org = None if pd.isna(row.organisation_id) else int(row.organisation_id)
            fields = {"challenge_id": challenge_id, "name": row.name,
                      "taking_part": row.taking_part, "organisation_id": org,
                      "region": row.region or None, "email": row.email or None,
                      "joined_on": row.joined_on, "may_contact": bool(row.may_contact),
                      "may_name": bool(row.may_name)}
            for consent in ("may_contact", "may_name"):
                if fields[consent]:
                    fields[f"{consent}_recorded_by"] = f"{scope.actor} (import of {file_name})"
                    fields[f"{consent}_recorded_at"] = now
            new_id = _insert(cur, "participant", fields)
            _audit(cur, scope.actor, "import", "participant", new_id, None,
                   participants._for_audit(fields) | {"file": file_name})
            added += 1
    report.new = added
    return report


def _known_emails(cur, challenge_id: int) -> set[str]:
    return {e.casefold() for (e,) in cur.execute(
        "SELECT email FROM participant WHERE challenge_id = ? AND email IS NOT NULL",
        [challenge_id]).fetchall()}


def _prepare(db: Database, cur, scope: Scope, challenge_id: int, data: bytes,
             file_name: str) -> Report:
    report = Report(file_name=file_name, size=len(data),
                    sha256=hashlib.sha256(data).hexdigest())
    try:
        if not scope.is_admin:
            raise PermissionDenied("Only the lab admin may import participants.")
        names, raw = read_listing(cur, data, file_name, report)
        _rows(db, cur, report, challenge_id, names, raw)
    except (Refused, PermissionDenied) as refusal:
        report.errors.insert(0, Problem(None, None, None, str(refusal)))
    return report


def _rows(db, cur, report: Report, challenge_id: int, names: list[str], raw: pd.DataFrame):
    mapped = {}
    for i, name in enumerate(names):
        key = COLUMNS.get(" ".join(str(name).replace("_", " ").split()).casefold())
        if key in mapped.values():
            raise Refused(f"Two columns mean '{key.replace('_', ' ')}'; keep one.")
        if key:
            mapped[f"h{i}"] = key
    missing = [c for c in ("name", "taking_part") if c not in mapped.values()]
    if missing:
        raise Refused("The first row should name the columns; "
                      + " and ".join(f"'{m.replace('_', ' ')}'" for m in missing)
                      + " not found. Columns: name, taking part, organisation, region, email, "
                        "joined on, may be contacted, may be named.")
    frame = raw.rename(columns=mapped)
    for column in COLUMNS.values():
        if column not in frame.columns:
            frame[column] = None
    orgs = repo.list_organisations(db, Scope.admin("import"), include_retired=False)
    by_name = {repo._norm(n): (int(i), n) for i, n in zip(orgs["id"], orgs["name"],
                                                          strict=True)}
    kinds = {k: k for k in participants.TAKING_PART} | {
        v.casefold(): k for k, v in participants.TAKING_PART.items()} | {
        k.replace("_", " "): k for k in participants.TAKING_PART}
    known = _known_emails(cur, challenge_id)
    seen: dict[str, int] = {}
    out = []
    today = clock.today()
    for row in frame.itertuples():
        line = int(row.row_no)
        cells = {c: ("" if getattr(row, c) is None or pd.isna(getattr(row, c))
                     else str(getattr(row, c)).strip())
                 for c in set(COLUMNS.values())}
        if not any(cells.values()):
            report.empty_rows += 1
            continue
        report.rows += 1
        for column, value in cells.items():
            if has_control(value) or (column in ("name", "region") and invisible(value)):
                report.error(line, column, None, "holds an invisible or control character; "
                                                 "retype it without it.")
            elif len(value) > MAX_SHORT:
                report.error(line, column.replace("_", " "), value[:60],
                             f"is longer than {MAX_SHORT} characters.")
        name = cells["name"]
        if not name:
            report.error(line, "name", None, "is empty: every person needs a name.")
        elif name.casefold() == participants.ERASED:
            report.error(line, "name", name, "is the word the tracker uses for erased people.")
        kind = kinds.get(cells["taking_part"].casefold())
        if kind is None:
            report.error(line, "taking part", cells["taking_part"],
                         "is not one of: " + ", ".join(participants.TAKING_PART.values()) + ".")
        org_id = None
        if cells["organisation"]:
            found = by_name.get(repo._norm(cells["organisation"]))
            if found is None:
                from tracker.intake.planning import suggest

                report.error(line, "organisation", cells["organisation"],
                             "is not an organisation of the tracker (leave it blank for "
                             "someone who takes part on their own account)."
                             + suggest(cells["organisation"], orgs["name"].tolist()))
            else:
                org_id = found[0]
        email = cells["email"]
        if email and not _EMAIL.match(email):
            report.error(line, "email", email, "does not look like an e-mail address.")
        elif email and email.casefold() in seen:
            report.error(line, "email", email,
                         f"is also on row {seen[email.casefold()]}: one row per person.")
        elif email:
            seen[email.casefold()] = line
        joined = today
        if cells["joined_on"]:
            joined = day_written(cells["joined_on"])
            if joined is None:
                report.error(line, "joined on", cells["joined_on"],
                             no_such_day(cells["joined_on"]) or
                             "is not a date; write it as YYYY-MM-DD or DD/MM/YYYY.")
            elif joined > today:
                report.error(line, "joined on", cells["joined_on"], "is in the future.")
        consents = {}
        for column in ("may_contact", "may_name"):
            value = cells[column].casefold()
            if value not in YES | NO:
                report.error(line, {"may_contact": "may be contacted",
                                    "may_name": "may be named"}[column],
                             cells[column], "should be yes or no (blank is no).")
            consents[column] = value in YES
        out.append({"row": line, "name": name, "taking_part": kind, "organisation": cells[
            "organisation"] or None, "organisation_id": org_id, "region": cells["region"],
            "email": email, "joined_on": joined, **consents,
            "status": "already stored" if email and email.casefold() in known else "new"})
    if report.rows == 0 and report.ok:
        raise Refused("The file has column names but no person in it.")
    report.plan = pd.DataFrame(out, columns=[*PREVIEW, "organisation_id"])
    report.new = int((report.plan["status"] == "new").sum()) if report.ok else 0
    report.unchanged = int((report.plan["status"] == "already stored").sum())

