"""Exports: every table a user may see as CSV, with formula-like text neutralised.

The lab admin's export is the tables as written. Anyone else's is built from what they may
read (`reader_view`): the challenge's titles and texts as their reader's view has them
(stand-ins for titles that would name someone withheld, longer texts left empty), measures
named as on their templates, no organisation's contact, and every other text checked like a
shared note (a partner's own organisation's rows as written). `README.txt` in the zip says
how many texts were left out, and why.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from tracker.access.disclosure import Audience
from tracker.access.scope import Scope
from tracker.intake import batches
from tracker.intake.upload_read import FORMULA_START
from tracker.records import reader_view, repo
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
    "measure_ranges": ("SELECT * FROM measure_range ORDER BY 1", None),
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
    "events": ("SELECT id, challenge_id, on_date, name, phase_id, created_at, (SELECT count(*)"
               " FROM event_attendance a WHERE a.event_id = e.id) AS came"
               " FROM lab_event e ORDER BY id", "lab"),
    # people: their names and e-mails are the lab admin's only
    "participants": ("SELECT * FROM participant ORDER BY id", "admin"),
    "participant_ideas": ("SELECT * FROM participant_idea ORDER BY 1, 2", "admin"),
    "participant_cycles": ("SELECT * FROM participant_cycle ORDER BY 1, 2", "admin"),
    "event_attendance": ("SELECT * FROM event_attendance ORDER BY 1, 2", "admin"),
    "suggestion_marks": ("SELECT * FROM suggestion_status ORDER BY 1", "admin"),
    "audit_log": ("SELECT * FROM audit_log ORDER BY id", "admin"),
    # accounts and tokens without their secrets (WITHHELD_COLUMNS)
    "accounts": ("SELECT id, username, email, role, organisation_id, failed_attempts,"
                 " locked_until, disabled_at, last_login_at, created_at, session_version"
                 " FROM account ORDER BY id", "admin"),
    "api_tokens": ("SELECT id, organisation_id, label, shown, created_by, created_at, revoked_by,"
                   " revoked_at FROM api_token ORDER BY id", "admin"),
    "api_token_uses": ("SELECT * FROM api_token_use ORDER BY 1", "admin"),
    "schema_migrations": ("SELECT * FROM schema_migrations ORDER BY 1", "admin"),
    # discussion and files: the lab admin's (who reads each thread is decided thread by
    # thread, on the pages); the files themselves stay in the database (WITHHELD_COLUMNS)
    "comments": ("SELECT * FROM comment ORDER BY id", "admin"),
    "ideas_sent_in": ("SELECT * FROM idea_submission ORDER BY id", "admin"),
    "insights": ("SELECT * FROM insight ORDER BY id", "admin"),
    "insight_drivers": ("SELECT * FROM insight_driver ORDER BY 1, 2", "admin"),
    "insight_ideas": ("SELECT * FROM insight_idea ORDER BY 1, 2", "admin"),
    "mail_preferences": ("SELECT * FROM mail_preference ORDER BY 1, 2", "admin"),
    "mail_settings": ("SELECT * FROM mail_settings", "admin"),
    "mail_runs": ("SELECT * FROM mail_run ORDER BY 1, 2", "admin"),
    "mail_log": ("SELECT * FROM mail_log ORDER BY id", "admin"),
    "comment_mentions": ("SELECT * FROM comment_mention ORDER BY 1, 2", "admin"),
    "attachments": ("SELECT id, about, idea_id, cycle_id, organisation_id, kind, file_name,"
                    " caption, bytes, sha256, uploaded_by, uploader_account_id,"
                    " uploader_organisation_id, uploaded_at, public, removed_at, removed_by"
                    " FROM attachment ORDER BY id", "admin"),
}

# Every table of the schema is exported (a test holds the export to the schema), but these:
NOT_EXPORTED = {
    "web_session": "sign-in sessions: fingerprints of sign-in secrets, each ending within "
                   "hours; an export is no place for them",
    "login_throttle": "failed sign-ins counted by address for a few minutes, to slow guessing",
}
# and these columns of exported tables:
WITHHELD_COLUMNS = {
    "account": {"password_hash": "a fingerprint of the password: never leaves the database"},
    "api_token": {"token_hash": "a fingerprint of the token: never leaves the database"},
    "attachment": {"content": "the files themselves: each is downloaded from its cycle or "
                              "idea (backups carry them)"},
}


def _exact(x) -> str:
    """A number as the shortest text that reads back as the same double (12, not 12.0)."""
    if x is None or pd.isna(x):
        return ""
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else repr(float(x))


# Who did something and when: shown to viewers as on the pages; a partner reads "lab team"
# for what others did. Never checked as text (a username is not prose).
_WHO = ("uploaded_by", "undone_by", "created_by", "scored_by", "recorded_by", "marked_by",
        "written_by")  # (a synthesis's reviewed_by is typed in: checked as text)
_CONTACT = ("contact_name", "contact_email")  # a person and an e-mail: the lab admin's only


@dataclass
class _Reader:
    """What one reader outside the lab admin may read, for their export."""

    audience: Audience
    views: dict[int, reader_view.ReaderView]  # by challenge id
    measures: pd.DataFrame  # as read, by id
    left_out: dict[str, int] = field(default_factory=dict)  # texts left empty, by table

    @classmethod
    def of(cls, db: Database, scope: Scope) -> _Reader:
        audience = reader_view.audience_for(db, scope)
        views = {}  # the newest first, numbering its stand-ins as the pages do
        for cid in repo.list_challenges(db)["id"].astype(int):
            views[cid] = reader_view.build(db, audience, repo.get_challenge(db, cid))
        return cls(audience, views, reader_view.measures_for(db, scope).set_index("id"))

    def _from_views(self, frame: pd.DataFrame, part: str, columns: dict[str, str]) -> None:
        for column, source in columns.items():
            values = {}
            for view in self.views.values():
                table = getattr(view, part)
                values.update(zip(table["id"].astype(int), table[source], strict=True))
            frame[column] = frame["id"].astype(int).map(values)

    def table(self, name: str, frame: pd.DataFrame) -> pd.DataFrame:
        """`frame` (the table `name` as stored) as this reader may read it."""
        out = frame.drop(columns=[c for c in _CONTACT if c in frame]).copy()
        if out.empty:
            return out
        if name == "challenge":
            for column in ("title", "question", "aim"):
                out[column] = [self.views[int(i)].challenge[column] if int(i) in self.views
                               else None for i in out["id"]]
            return out
        if name == "measures":
            for column in ("name", "code", "unit", "definition", "numerator", "denominator"):
                out[column] = out["id"].map(self.measures[column])
            return out
        parts = {"challenge_phases": ("phases", {"name": "name"}),
                 "drivers": ("drivers", {"name": "name", "description": "description"}),
                 "ideas": ("ideas", {"title": "title", "description": "description"})}
        if name in parts:
            self._from_views(out, *parts[name])
            return out
        if "measure" in out and "measure_id" in out:  # results.csv
            out["measure"] = out["measure_id"].map(self.measures["name"])
        own = self.audience.own
        mine = (out["organisation_id"] == own) if own is not None and \
            "organisation_id" in out else pd.Series(False, index=out.index)
        for column in out.columns:
            if column in _WHO:
                if own is not None:
                    out[column] = out[column].where(mine | out[column].isna(),
                                                    batches.LAB_TEAM)
                continue
            if column == "organisation" or not _is_text(out[column]):  # names they may read
                continue
            flagged = [not m and isinstance(t, str) and self.audience.problem_in(t) is not None
                       for m, t in zip(mine, out[column], strict=True)]
            if any(flagged):
                out[column] = out[column].where(~pd.Series(flagged, index=out.index), None)
                self.left_out[name] = self.left_out.get(name, 0) + sum(flagged)
        return out

    def readme(self) -> str:
        lines = ["This export holds what you may read in the tracker.", ""]
        withheld = self.audience.withheld
        if withheld.titles:
            n = withheld.titles
            lines.append(f"{n} {'title reads' if n == 1 else 'titles read'} as a stand-in "
                         "(such as \"an idea of the lab's (1)\"): the title names a person or "
                         "an organisation that may not be named to you.")
        lines += [f"- {what}" for what in withheld.passages]
        lines += [f"{n} {'text' if n == 1 else 'texts'} in {table}.csv "
                  f"{'is' if n == 1 else 'are'} left empty: each names a person or an "
                  "organisation that may not be named to you, or holds an e-mail address or a "
                  "phone number." for table, n in sorted(self.left_out.items())]
        if len(lines) == 2:
            lines.append("Nothing in it was withheld from you.")
        lines += ["", "Organisations' contacts are the lab admin's only."]
        return "\n".join(lines) + "\n"


def _is_text(series: pd.Series) -> bool:
    return series.dtype == object or pd.api.types.is_string_dtype(series)


def export_all(db: Database, scope: Scope, out_dir: Path) -> list[Path]:
    """Write every table the user may see as CSV, and the current results as results.csv.
    A partner gets its own organisation's rows and the shared tables (not the lab team's
    syntheses, sharing marks or consents); the audit log goes to admins only. Anyone but the
    lab admin gets each table as they may read it (`_Reader`), and README.txt."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    reader = None if scope.is_admin else _Reader.of(db, scope)
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
        if reader is not None:
            frame = reader.table(name, frame)
        neutralise(frame).to_csv(path, index=False, lineterminator="\n")
        written.append(path)
    own = scope.organisation_id if scope.is_partner else None
    results = db.read(
        "SELECT o.name AS organisation, m.name AS measure, CAST(r.period AS VARCHAR)"
        " AS period, r.value, r.numerator, r.denominator, r.note, r.batch_id AS batch,"
        " r.organisation_id, r.measure_id"
        " FROM current_result r JOIN organisation o ON o.id = r.organisation_id"
        " JOIN measure m ON m.id = r.measure_id WHERE (?::INTEGER IS NULL"
        " OR r.organisation_id = ?) ORDER BY o.name, m.name, r.period", [own, own])
    if reader is not None:
        results = reader.table("results", results).sort_values(
            ["organisation", "measure", "period"], kind="stable")
    results = results.drop(columns=["organisation_id", "measure_id"])
    for column in ("value", "numerator", "denominator"):
        results[column] = results[column].map(_exact)
    path = out_dir / "results.csv"
    neutralise(results).to_csv(path, index=False, lineterminator="\n")
    written.append(path)
    path = out_dir / "README.txt"
    path.write_text(reader.readme() if reader is not None else _admin_readme(), encoding="utf-8")
    written.append(path)
    return written


def _admin_readme() -> str:
    """What the lab admin's export holds: every table, as written, but for sign-in secrets."""
    lines = ["This export holds every table of the tracker's database as written, one CSV "
             "file each, and results.csv: the current value of every result.", "",
             "Not exported:"]
    lines += [f"- {table}: {why}." for table, why in NOT_EXPORTED.items()]
    lines += [f"- {table}.{column}: {why}." for table, columns in WITHHELD_COLUMNS.items()
              for column, why in columns.items()]
    return "\n".join(lines) + "\n"
