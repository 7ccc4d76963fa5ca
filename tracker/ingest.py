"""Partner results files: read (CSV or Excel), validate every row, plan, commit, undo.

Nothing is stored unless the whole file is valid. Parsing and checks run in DuckDB on a
staging table (all text), so a million rows are checked with set operations, not a Python
loop. Every problem is collected, with the row number a spreadsheet would show (the header is
row 1), the column, the value and what to do.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import difflib
import hashlib
import io
import os
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from tracker import repo
from tracker.auth import Scope
from tracker.db import Database
from tracker.errors import PermissionDenied

MAX_FILE_BYTES = 100 * 1024 * 1024
MAX_XLSX_UNCOMPRESSED = 300 * 1024 * 1024
MAX_XLSX_RATIO = 100
MAX_NOTE = 2000
MAX_LISTED = 1000  # problems listed one by one; the rest are counted
COLUMNS = ("organisation", "measure", "period", "value", "numerator", "denominator", "note")
ALIASES = {
    "organization": "organisation", "org": "organisation", "organisation name": "organisation",
    "site": "organisation", "measure name": "measure", "measure code": "measure",
    "code": "measure", "date": "period", "week": "period", "month": "period",
    "period start": "period", "week starting": "period", "week commencing": "period",
    "comment": "note", "comments": "note", "notes": "note",
}
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

Progress = Callable[[float, str], None]


@dataclass
class Problem:
    row: int | None
    column: str | None
    value: str | None
    message: str

    def __str__(self) -> str:
        where = []
        if self.row is not None:
            where.append(f"Row {self.row}")
        if self.column:
            where.append(f"column {self.column}")
        if self.value not in (None, ""):
            shown = self.value if len(self.value) <= 60 else self.value[:57] + "..."
            where.append(f"value '{shown}'")
        return (", ".join(where) + ": " if where else "") + self.message


@dataclass
class Report:
    """What a file holds and what committing it would do."""

    file_name: str
    sha256: str = ""
    size: int = 0
    file_type: str = ""
    encoding: str = ""
    delimiter: str = ""
    date_format: str = ""
    layout: str = ""
    rows: int = 0
    empty_rows: int = 0
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    more_errors: int = 0
    plan: pd.DataFrame = field(default_factory=pd.DataFrame)
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    organisation_ids: list[int] = field(default_factory=list)
    already_stored_batch: int | None = None
    batch_id: int | None = None
    has_duplicates: bool = False

    @property
    def ok(self) -> bool:
        return not self.errors

    def error(self, row, column, value, message) -> None:
        if len(self.errors) < MAX_LISTED:
            self.errors.append(Problem(row, column, None if value is None else str(value),
                                       message))
        else:
            self.more_errors += 1

    def summary(self) -> str:
        if self.errors:
            total = len(self.errors) + self.more_errors
            return (f"Refused: {total:,} problem{'s' if total != 1 else ''} in {self.file_name}. "
                    "Nothing was stored.")
        if self.batch_id is not None:
            return (f"Stored {self.file_name}: {self.new:,} new, {self.updated:,} updated, "
                    f"{self.unchanged:,} unchanged (upload {self.batch_id}).")
        if self.already_stored_batch is not None:
            return (f"{self.file_name} was already stored (upload {self.already_stored_batch}); "
                    "nothing to do.")
        return (f"Ready: {self.new:,} new, {self.updated:,} updated, {self.unchanged:,} "
                "unchanged.")


class _Refused(Exception):
    """A problem that stops reading the file at all (empty, not a table, too big...)."""


# --------------------------------------------------------------------------- reading files


def _norm_header(name: str) -> str:
    text = " ".join(str(name or "").replace("\ufeff", "").replace("_", " ").split()).casefold()
    return ALIASES.get(text, text)


def _decode(data: bytes, report: Report) -> str:
    sample = data[:65536]
    if b"\x00" in sample:
        raise _Refused("This file is not a CSV text file (it holds binary data). Save the "
                       "spreadsheet as 'CSV UTF-8' or upload the .xlsx file itself.")
    if data.startswith(b"\xef\xbb\xbf"):
        report.encoding = "UTF-8 with BOM"
        return data[3:].decode("utf-8", errors="strict")
    try:
        text = data.decode("utf-8")
        report.encoding = "UTF-8"
        return text
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError:
        raise _Refused("This file's characters are neither UTF-8 nor Windows-1252. Save it "
                       "from Excel as 'CSV UTF-8 (comma delimited)' and upload it again.") from None
    report.encoding = "Windows-1252 (as Excel saves CSV)"
    return text


def _sniff_delimiter(text: str) -> str:
    first = text.split("\n", 1)[0]
    counts = {d: first.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


def _read_csv(cur, data: bytes, report: Report) -> list[str]:
    """Load a CSV into the staging table `stage_raw` (all text, with row numbers)."""
    text = _decode(data, report)
    if not text.strip():
        raise _Refused("The file is empty.")
    delim = _sniff_delimiter(text)
    report.delimiter = {",": "comma", ";": "semicolon", "\t": "tab"}[delim]
    header = next(csv.reader(io.StringIO(text[:1_000_000]), delimiter=delim), [])
    names = [_norm_header(h) for h in header]
    if not any(names):
        raise _Refused("The first row should hold the column names (organisation, measure, "
                       "period, value, ...), but it is empty.")
    if text.count('"') % 2:  # a quote opened and never closed swallows the rest of the file
        reader = csv.reader(io.StringIO(text), delimiter=delim, strict=True)
        records = 0
        try:
            for _ in reader:
                records += 1
        except csv.Error:
            pass
        raise _Refused(f"Row {records + 1}: a double quote is not closed in this row, so "
                       "everything after it would be read as one cell; check the quotes in "
                       "its notes.")
    columns = {f"h{i}": "VARCHAR" for i in range(len(names))}
    path = None
    try:
        if report.encoding == "UTF-8" and isinstance(data, bytes):
            handle, path = tempfile.mkstemp(suffix=".csv")
            with os.fdopen(handle, "wb") as out:
                out.write(data)
        else:  # re-encode as plain UTF-8 so the reader sees exactly the decoded text
            handle, path = tempfile.mkstemp(suffix=".csv")
            with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
                out.write(text)
        cur.execute("DROP TABLE IF EXISTS stage_rejects")
        cur.execute("DROP TABLE IF EXISTS stage_reject_scans")
        # DuckDB's parallel reader cannot pad short rows when a quoted cell holds a line
        # break, so a file with any quotes is read on one thread.
        parallel = '"' not in text
        try:
            cur.execute(
                "CREATE OR REPLACE TEMP TABLE stage_raw AS"
                " SELECT row_number() OVER () + 1 AS row_no, * FROM read_csv(?,"
                " header = true, delim = ?, quote = '\"', escape = '\"', columns = ?,"
                " auto_detect = false, all_varchar = true, null_padding = true,"
                " parallel = ?, max_line_size = 8000000, store_rejects = true,"
                " rejects_table = 'stage_rejects', rejects_scan = 'stage_reject_scans')",
                [path, delim, columns, parallel])
        except duckdb.Error as exc:
            raise _Refused("This file could not be read as a table of results: "
                           f"{str(exc).splitlines()[0]}") from None
        rejects = cur.execute(
            "SELECT line, error_type, csv_line, error_message FROM stage_rejects ORDER BY line"
        ).fetchall()
    finally:
        if path:
            os.unlink(path)
    bad_lines = []
    for line, error_type, csv_line, message in rejects:
        bad_lines.append(int(line))
        if "TOO MANY COLUMNS" in str(error_type):
            text_ = (f"this row has more cells than the header has columns ({message}); "
                     "a comma inside a note must be inside double quotes")
        elif "UNQUOTED" in str(error_type) or "QUOTE" in str(error_type):
            text_ = "a double quote is not closed in this row; check the quotes in its notes"
        elif "LINE SIZE" in str(error_type):
            text_ = "this row is too long to read (over 8 MB); shorten its note"
        else:
            text_ = f"this row could not be read ({message})"
        report.error(int(line), None, (csv_line or "")[:60], text_)
    # Row numbers as a spreadsheet shows them (the header is row 1). Rejected rows keep
    # their numbers, so the rows after one shift down by one each.
    bad = sorted(set(bad_lines))
    if bad:
        accepted = cur.execute("SELECT count(*) FROM stage_raw").fetchall()[0][0]
        every = np.arange(2, accepted + len(bad) + 2)
        rows = every[~np.isin(every, bad)][:accepted]
        cur.register("stage_rows", pd.DataFrame({"rec": np.arange(2, accepted + 2),
                                                 "real_row": rows}))
        cur.execute("CREATE OR REPLACE TEMP TABLE stage_raw AS SELECT r.real_row AS row_no,"
                    " s.* EXCLUDE (row_no) FROM stage_raw s JOIN stage_rows r"
                    " ON r.rec = s.row_no ORDER BY r.real_row")
        cur.unregister("stage_rows")
    return names


def _check_zip(data: bytes) -> None:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.infolist()
    except zipfile.BadZipFile:
        raise _Refused("This Excel file is damaged or incomplete (it may have been cut off "
                       "while sending). Save it again in Excel and upload the new copy.") from None
    total = sum(m.file_size for m in members)
    if total > MAX_XLSX_UNCOMPRESSED:
        raise _Refused(f"This Excel file unpacks to {total / 1e6:,.0f} MB, more than the "
                       f"{MAX_XLSX_UNCOMPRESSED / 1e6:,.0f} MB allowed. Split it into smaller files.")
    for m in members:
        if m.compress_size and m.file_size / m.compress_size > MAX_XLSX_RATIO and \
                m.file_size > 10_000_000:
            raise _Refused("This Excel file is compressed far more than real spreadsheets are "
                           "(it may be a 'zip bomb'), so it was not opened.")


def _cell_text(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time(0) else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return repr(value) if not value.is_integer() else str(int(value))
    return str(value)


def _read_xlsx(cur, data: bytes, report: Report) -> list[str]:
    from openpyxl import load_workbook  # openpyxl uses defusedxml when it is installed

    _check_zip(data)
    report.encoding = "Excel workbook"
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:
        raise _Refused("This file could not be opened as an Excel workbook. Save it again in "
                       "Excel (.xlsx) and upload the new copy.") from None
    sheet = book["Results"] if "Results" in book.sheetnames else book.worksheets[0]
    rows = [[_cell_text(v) for v in row] for row in sheet.iter_rows(values_only=True)]
    book.close()
    formulas: dict[tuple[int, int], str] = {}
    if len(data) <= 5 * 1024 * 1024:  # find formulas Excel never calculated (no saved value)
        raw = load_workbook(io.BytesIO(data), read_only=True, data_only=False)
        raw_sheet = raw[sheet.title]
        for r, row in enumerate(raw_sheet.iter_rows(values_only=True)):
            for c, value in enumerate(row):
                if isinstance(value, str) and value.startswith("="):
                    formulas[(r, c)] = value
        raw.close()
    while rows and not any(v not in (None, "") for v in rows[-1]):
        rows.pop()
    if not rows:
        raise _Refused("The workbook's first sheet is empty.")
    header = rows[0]
    width = max(len(r) for r in rows)
    names = [_norm_header(h) for h in header] + [""] * (width - len(header))
    body = [list(r) + [None] * (width - len(r)) for r in rows[1:]]
    for (r, c), formula in formulas.items():
        if r >= 1 and r - 1 < len(body) and body[r - 1][c] is None:
            report.error(r + 1, names[c] or None, formula,
                         "this cell holds a formula that Excel has not calculated, so it has "
                         "no value; open the file in Excel, save it, and upload it again (or "
                         "paste the values)")
    if formulas:
        report.warnings.append(Problem(None, None, None, "some cells hold formulas: their values "
                                       "as Excel last calculated them were used"))
    frame = pd.DataFrame(body, columns=[f"h{i}" for i in range(width)], dtype=object)
    frame.insert(0, "row_no", np.arange(2, len(body) + 2))
    cur.register("stage_xlsx", frame)
    cur.execute("CREATE OR REPLACE TEMP TABLE stage_raw AS SELECT * FROM stage_xlsx")
    cur.unregister("stage_xlsx")
    return names


# --------------------------------------------------------------------------- layout


def _to_long(cur, names: list[str], measures: pd.DataFrame, report: Report) -> None:
    """Shape stage_raw into stage_long(row_no, organisation, measure, period, value,
    numerator, denominator, note), from the long or the wide layout."""
    present = {name: i for i, name in reversed(list(enumerate(names))) if name}
    if "measure" in present:
        report.layout = "long (one row per result)"
        missing = [c for c in ("period",) if c not in present]
        if missing:
            raise _Refused("The column 'period' is missing. The template's columns are: "
                           + ", ".join(COLUMNS) + ".")
        extra = [n for n in names if n and n not in COLUMNS]
        if extra:
            report.warnings.append(Problem(None, None, None, "these columns were ignored: "
                                           + ", ".join(sorted(set(extra)))))
        select = [f'"h{present[c]}" AS {c}' if c in present else f"NULL::VARCHAR AS {c}"
                  for c in COLUMNS]
        # a view, not a copy: the next step reads it once
        cur.execute("CREATE OR REPLACE TEMP VIEW stage_long AS SELECT row_no, "
                    + ", ".join(select) + " FROM stage_raw")
        return
    if "period" not in present:
        raise _Refused("The file needs a 'period' column, and either a 'measure' column (the "
                       "template's layout: " + ", ".join(COLUMNS) + ") or one column per "
                       "measure (one row per period).")
    lookup = {}
    for m in measures.itertuples():
        for key in (m.name, m.code):
            lookup[_norm_header(key)] = m.name
    wide_cols = []
    for i, name in enumerate(names):
        if not name or name in ("period", "organisation", "note"):
            continue
        part = "value"
        base = name
        for suffix in ("numerator", "denominator"):
            for sep in (" ", " (", "-", " - "):
                if name.endswith(sep + suffix) or name.endswith(sep + suffix + ")"):
                    base, part = name[: name.rfind(suffix)].rstrip(" (-"), suffix
        if base not in lookup:
            close = difflib.get_close_matches(base, list(lookup), n=1, cutoff=0.6)
            hint = f" Did you mean '{lookup[close[0]]}'?" if close else ""
            report.error(1, name, name, f"this column is not a measure.{hint} Rename it to a "
                         "measure's name or code, or delete it.")
            continue
        wide_cols.append((i, lookup[base], part))
    if not wide_cols:
        raise _Refused("No column names a measure. Use the template, or name each column "
                       "after a measure's name or code.")
    report.layout = "wide (one row per period, one column per measure)"
    org = f'"h{present["organisation"]}"' if "organisation" in present else "NULL::VARCHAR"
    note = f'"h{present["note"]}"' if "note" in present else "NULL::VARCHAR"
    parts = []
    by_measure: dict[str, dict[str, int]] = {}
    for i, measure, part in wide_cols:
        by_measure.setdefault(measure, {})[part] = i
    for cols in by_measure.values():
        def col(part, cols=cols):
            return f'"h{cols[part]}"' if part in cols else "NULL::VARCHAR"
        parts.append(
            f"SELECT row_no, {org} AS organisation, ? AS measure, \"h{present['period']}\" AS "
            f"period, {col('value')} AS value, {col('numerator')} AS numerator, "
            f"{col('denominator')} AS denominator, {note} AS note FROM stage_raw")
    # A view cannot take parameters: the measure names are the tracker's own (looked up
    # above), quoted as SQL string literals.
    measures_literal = [m.replace("'", "''") for m in by_measure]
    parts = [p.replace("? AS measure", f"'{m}' AS measure", 1)
             for p, m in zip(parts, measures_literal, strict=True)]
    cur.execute("CREATE OR REPLACE TEMP VIEW stage_long AS " + " UNION ALL ".join(parts))


# --------------------------------------------------------------------------- validation

_NORM = "lower(regexp_replace(trim({0}), '\\s+', ' ', 'g'))"


THOUSANDS = r"-?\d{1,3}(,\d{3})+(\.\d+)?"


def _number(column: str, decimal_comma: bool) -> str:
    if decimal_comma:
        return f"TRY_CAST(replace(replace({column}, ' ', ''), ',', '.') AS DOUBLE)"
    return f"TRY_CAST({column} AS DOUBLE)"


def _typed(cur, report: Report, decimal_comma: bool, default_org: int | None) -> bool:
    """Build stage_typed: the non-empty rows with ids, dates and numbers resolved.

    Names and dates are resolved once per distinct text (a file of a million rows names a
    few hundred organisations and a few dozen periods), then joined back on the raw text.
    Returns whether the file writes its dates US-style (month first).
    """
    norm = _NORM.format("raw")
    cur.execute(f"""
        CREATE OR REPLACE TEMP TABLE key_org AS
        SELECT d.raw, o.id AS org_id, o.retired_at IS NOT NULL AS org_retired
        FROM (SELECT DISTINCT organisation AS raw FROM stage_long) d
        LEFT JOIN (SELECT id, {_NORM.format('name')} AS k, retired_at FROM organisation) o
               ON o.k = {norm}""")
    cur.execute(f"""
        CREATE OR REPLACE TEMP TABLE key_measure AS
        SELECT d.raw, coalesce(mn.id, mc.id) AS measure_id,
               coalesce(mn.data_kind, mc.data_kind) AS data_kind,
               coalesce(mn.frequency, mc.frequency) AS frequency
        FROM (SELECT DISTINCT measure AS raw FROM stage_long) d
        LEFT JOIN (SELECT id, {_NORM.format('name')} AS k, data_kind, frequency FROM measure) mn
               ON mn.k = {norm}
        LEFT JOIN (SELECT id, {_NORM.format('code')} AS k, data_kind, frequency FROM measure) mc
               ON mc.k = {norm} AND mn.id IS NULL""")
    cur.execute("""
        CREATE OR REPLACE TEMP TABLE key_period AS
        SELECT raw,
               coalesce(try_strptime(trim(raw), '%Y-%m-%d'),
                        try_strptime(trim(raw), '%Y-%m-%dT%H:%M:%S'))::DATE AS iso_date,
               try_strptime(trim(raw), '%d/%m/%Y')::DATE AS uk_date,
               try_strptime(trim(raw), '%m/%d/%Y')::DATE AS us_date
        FROM (SELECT DISTINCT period AS raw FROM stage_long)""")
    us_style = bool(cur.execute(
        "SELECT count(*) FROM key_period WHERE iso_date IS NULL AND uk_date IS NULL"
        " AND us_date IS NOT NULL").fetchall()[0][0])
    # an apostrophe that the export put before a formula-like note is taken off again
    unformula = ("CASE WHEN left(s.note, 1) = chr(39) AND substr(s.note, 2, 1) IN "
                 "('=', '+', '-', '@', chr(9), chr(13)) THEN substr(s.note, 2) ELSE s.note END")
    cur.execute(f"""
        CREATE OR REPLACE TEMP TABLE stage_typed AS
        WITH s AS (
            SELECT row_no, organisation, measure, period,
                   nullif(trim(value), '') AS value, nullif(trim(numerator), '') AS numerator,
                   nullif(trim(denominator), '') AS denominator, nullif(note, '') AS note
            FROM stage_long
        )
        SELECT s.row_no, nullif(trim(s.organisation), '') AS organisation,
               nullif(trim(s.measure), '') AS measure, nullif(trim(s.period), '') AS period,
               s.value, s.numerator, s.denominator, {unformula} AS note,
               coalesce(ko.org_id, CASE WHEN nullif(trim(s.organisation), '') IS NULL
                                        THEN ?::INTEGER END) AS org_id,
               coalesce(ko.org_retired, false) AS org_retired,
               km.measure_id, km.data_kind, km.frequency,
               kp.iso_date, kp.uk_date, kp.us_date,
               CASE WHEN ? AND kp.iso_date IS NULL THEN NULL
                    ELSE coalesce(kp.iso_date, kp.uk_date) END AS day,
               {_number('s.value', decimal_comma)} AS v,
               {_number('s.numerator', decimal_comma)} AS num,
               {_number('s.denominator', decimal_comma)} AS den
        FROM s
        LEFT JOIN key_org ko ON ko.raw = s.organisation
        LEFT JOIN key_measure km ON km.raw = s.measure
        LEFT JOIN key_period kp ON kp.raw = s.period
        WHERE s.value IS NOT NULL OR s.numerator IS NOT NULL OR s.denominator IS NOT NULL
    """, [default_org, us_style])
    if not decimal_comma:  # 1,234.5 inside a quoted cell: fix only the rows that need it
        for column, source in (("v", "value"), ("num", "numerator"), ("den", "denominator")):
            cur.execute(f"UPDATE stage_typed SET {column} = TRY_CAST(replace({source}, ',', '')"
                        f" AS DOUBLE) WHERE {column} IS NULL AND {source} IS NOT NULL AND"
                        f" regexp_full_match({source}, ?)", [THOUSANDS])
    total = cur.execute("SELECT count(*) FROM stage_long").fetchall()[0][0]
    kept = cur.execute("SELECT count(*) FROM stage_typed").fetchall()[0][0]
    report.rows, report.empty_rows = total, total - kept
    return us_style


def _suggest(value: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(" ".join(value.split()).casefold(),
                                      [c.casefold() for c in choices], n=1, cutoff=0.6)
    if not close:
        return ""
    original = next(c for c in choices if c.casefold() == close[0])
    return f" Did you mean '{original}'?"


def _validate(cur, report: Report, *, us_style: bool, challenge: dict | None, today: dt.date,
              allowed_org_ids: set[int] | None, forced_org: dict | None,
              orgs: pd.DataFrame, measures: pd.DataFrame) -> None:
    if report.rows == 0:
        if report.errors:
            raise _Refused("No row of this file could be read; see the problems below.")
        raise _Refused("The file has a header but no rows of results.")
    if report.rows == report.empty_rows:
        raise _Refused("Every row is empty: fill in a value (or a numerator and denominator) "
                       "for at least one measure and period.")

    # dates: ISO, or UK day/month/year; a file whose slash dates only work as month/day is US
    kinds = cur.execute("SELECT count(iso_date), count(uk_date) FROM key_period").fetchall()[0]
    if us_style:
        report.date_format = "US month/day/year (refused)"
    elif kinds[0] and kinds[1]:
        report.date_format = "mixed ISO (YYYY-MM-DD) and UK (DD/MM/YYYY)"
    elif kinds[1]:
        report.date_format = "UK (DD/MM/YYYY)"
    else:
        report.date_format = "ISO (YYYY-MM-DD)"

    org_names = orgs["name"].tolist()
    measure_names = measures["name"].tolist() + measures["code"].tolist()
    start = challenge["start_date"] if challenge else None
    end = challenge["end_date"] if challenge else None
    names_by_id = dict(zip(orgs["id"], orgs["name"], strict=True))
    allowed = sorted(allowed_org_ids) if allowed_org_ids is not None else None

    checks = [
        ("organisation", "organisation IS NULL AND org_id IS NULL",
         lambda r: "the organisation is missing; write the organisation's name in every row "
                   "(or choose the organisation when uploading)"),
        ("organisation", "organisation IS NOT NULL AND org_id IS NULL",
         lambda r: "no organisation has this name." + _suggest(r.organisation, org_names)
                   + " Use the name exactly as on the template."),
        ("organisation", "org_retired",
         lambda r: "this organisation is retired; ask the lab team to bring it back first"),
        ("measure", "measure IS NULL", lambda r: "the measure is missing"),
        ("measure", "measure IS NOT NULL AND measure_id IS NULL",
         lambda r: "no measure has this name or code." + _suggest(r.measure, measure_names)),
        ("period", "period IS NULL", lambda r: "the period (date) is missing"),
        ("period", "period IS NOT NULL AND iso_date IS NULL AND uk_date IS NULL AND "
                   "us_date IS NULL",
         lambda r: "this is not a date the tracker can read (or it does not exist, like "
                   "31/02); write dates as YYYY-MM-DD (2026-03-02) or DD/MM/YYYY (02/03/2026)"),
        ("period", "? AND iso_date IS NULL AND (uk_date IS NOT NULL OR us_date IS NOT NULL)",
         lambda r: "this file writes dates month-first (US style, like 03/25/2026), so "
                   "day-first and month-first cannot be told apart; write dates as YYYY-MM-DD "
                   "(for example 2026-03-25)"),
        ("period", "day IS NOT NULL AND frequency = 'week' AND isodow(day) <> 1",
         lambda r: f"weekly results are given for the Monday the week starts; use "
                   f"{(r.day - dt.timedelta(days=r.day.weekday())):%Y-%m-%d}"),
        ("period", "day IS NOT NULL AND frequency = 'month' AND dayofmonth(day) <> 1",
         lambda r: f"monthly results are given for the first day of the month; use "
                   f"{r.day.replace(day=1):%Y-%m-%d}"),
        ("period", "day IS NOT NULL AND day > ?",
         lambda r: "this period is in the future; results can only be sent for periods "
                   "that have started"),
        ("period", "day IS NOT NULL AND ? IS NOT NULL AND (day < ? OR day > ?)",
         lambda r: f"this period is outside the challenge ({start:%d %b %Y} to "
                   f"{end:%d %b %Y})"),
        ("value", "value IS NOT NULL AND v IS NULL",
         lambda r: "this is not a number; write digits only (for example 12 or 12.5)"),
        ("numerator", "numerator IS NOT NULL AND num IS NULL",
         lambda r: "this is not a number; write digits only"),
        ("denominator", "denominator IS NOT NULL AND den IS NULL",
         lambda r: "this is not a number; write digits only"),
        ("value", "isnan(v) OR isinf(v)", lambda r: "write a real number, not NaN or infinity"),
        ("numerator", "isnan(num) OR isinf(num)",
         lambda r: "write a real number, not NaN or infinity"),
        ("denominator", "isnan(den) OR isinf(den)",
         lambda r: "write a real number, not NaN or infinity"),
        ("value", "v < 0", lambda r: "a result cannot be negative"),
        ("numerator", "num < 0", lambda r: "a count cannot be negative"),
        ("denominator", "den <= 0",
         lambda r: "the denominator must be above zero (leave the row out if nothing was "
                   "counted)"),
        ("numerator", "data_kind = 'proportion' AND num > den",
         lambda r: f"the numerator is larger than the denominator ({r.denominator}); a "
                   "proportion cannot be above 1"),
        ("value", "data_kind = 'value' AND (numerator IS NOT NULL OR denominator IS NOT NULL)",
         lambda r: "this measure takes a single value; put it in the 'value' column and "
                   "leave numerator and denominator empty"),
        ("numerator", "data_kind IN ('proportion', 'rate') AND (numerator IS NULL OR "
                      "denominator IS NULL)",
         lambda r: "this measure needs a numerator and a denominator (for example 12 out of "
                   "20), not a single value"),
        ("value", "data_kind IN ('proportion', 'rate') AND value IS NOT NULL AND num IS NOT NULL"
                  " AND den > 0 AND abs(v - num / den) > 1e-9 * greatest(1, abs(v))",
         lambda r: "the value does not equal numerator / denominator; leave 'value' empty "
                   "for this measure"),
        ("note", f"length(note) > {MAX_NOTE}",
         lambda r: f"this note is {len(r.note):,} characters long; keep notes under "
                   f"{MAX_NOTE:,} characters"),
    ]
    params_for = {
        "? AND iso_date IS NULL AND (uk_date IS NOT NULL OR us_date IS NOT NULL)": [us_style],
        "day IS NOT NULL AND day > ?": [today],
        "day IS NOT NULL AND ? IS NOT NULL AND (day < ? OR day > ?)": [start, start, end],
    }
    if allowed is not None:
        checks.append(("organisation", "org_id IS NOT NULL AND NOT list_contains(?, org_id)",
                       lambda r: "you may upload results only for "
                       + ", ".join(names_by_id.get(i, str(i)) for i in allowed)))
        params_for["org_id IS NOT NULL AND NOT list_contains(?, org_id)"] = [allowed]
    if forced_org is not None:
        checks.append(("organisation", "org_id IS NOT NULL AND org_id <> ?",
                       lambda r: f"this upload is for {forced_org['name']}, but the row names "
                                 "another organisation"))
        params_for["org_id IS NOT NULL AND org_id <> ?"] = [forced_org["id"]]

    # one pass counts the rows failing each check; only failing rows are fetched, in order
    params = [p for _, cond, _ in checks for p in params_for.get(cond, [])]
    counts = cur.execute("SELECT " + ", ".join(f"count_if(coalesce(({cond}), false))"
                                               for _, cond, _ in checks)
                         + " FROM stage_typed", params).fetchall()[0]
    failing = [i for i, n in enumerate(counts) if n]
    if failing:
        before = len(report.errors) + report.more_errors
        flags = ", ".join(f"coalesce(({checks[i][1]}), false) AS f{i}" for i in failing)
        where = " OR ".join(f"coalesce(({checks[i][1]}), false)" for i in failing)
        fparams = [p for i in failing for p in params_for.get(checks[i][1], [])]
        rows = cur.execute(f"SELECT *, {flags} FROM stage_typed WHERE {where}"
                           f" ORDER BY row_no LIMIT {MAX_LISTED}", fparams * 2).df()
        for record in rows.itertuples(index=False):
            for i in failing:
                if getattr(record, f"f{i}"):
                    column, _, explain = checks[i]
                    report.error(int(record.row_no), column, getattr(record, column),
                                 explain(record))
        shown = len(report.errors) + report.more_errors - before
        report.more_errors += max(sum(counts) - shown, 0)

    # two rows for one organisation, measure and period (usually none: checked cheaply first)
    cur.execute("""
        CREATE OR REPLACE TEMP TABLE stage_dupes AS
        SELECT org_id, measure_id, day FROM stage_typed
        WHERE org_id IS NOT NULL AND measure_id IS NOT NULL AND day IS NOT NULL
        GROUP BY ALL HAVING count(*) > 1""")
    dupes = cur.execute("""
        SELECT t.org_id, t.measure_id, t.day, list(t.row_no ORDER BY t.row_no) AS rows,
               count(DISTINCT (coalesce(t.v, -1e308), coalesce(t.num, -1e308),
                               coalesce(t.den, -1e308))) AS versions
        FROM stage_typed t JOIN stage_dupes d USING (org_id, measure_id, day)
        GROUP BY ALL ORDER BY rows[1] LIMIT 1000""").fetchall()
    report.has_duplicates = bool(dupes)
    for _, _, day, rows, versions in dupes:
        others = ", ".join(str(r) for r in rows[1:])
        if versions > 1:
            report.error(rows[0], "period", day.isoformat(),
                         f"rows {rows[0]} and {others} give the same organisation, measure and "
                         "period different values; keep only the right one")
        else:
            report.warnings.append(Problem(rows[0], "period", day.isoformat(),
                                           f"rows {others} repeat this row; it is counted once"))


def _plan(cur, report: Report) -> None:
    """Classify each valid row against what is stored: new, updated (old → new), unchanged.
    Also warn about values far outside the organisation's own history."""
    # identical repeated rows count once (conflicting ones were refused already)
    rows_sql = ("SELECT * FROM stage_typed QUALIFY row_number() OVER (PARTITION BY org_id,"
                " measure_id, day ORDER BY row_no) = 1" if report.has_duplicates
                else "SELECT * FROM stage_typed")
    cur.execute(f"""
        CREATE OR REPLACE TEMP TABLE stage_plan AS
        WITH rows AS ({rows_sql}), cur_res AS (
            SELECT r.organisation_id, r.measure_id, r.period, r.value, r.numerator, r.denominator
            FROM current_result r
            WHERE (r.organisation_id, r.measure_id) IN (SELECT org_id, measure_id FROM rows)
        )
        SELECT rows.row_no, rows.org_id, rows.measure_id, rows.day AS period,
               CASE WHEN rows.data_kind = 'value' THEN rows.v END AS value,
               rows.num AS numerator, rows.den AS denominator, rows.note,
               c.value AS old_value, c.numerator AS old_numerator,
               c.denominator AS old_denominator,
               CASE WHEN c.period IS NULL THEN 'new'
                    WHEN c.value IS NOT DISTINCT FROM
                         (CASE WHEN rows.data_kind = 'value' THEN rows.v END)
                     AND c.numerator IS NOT DISTINCT FROM rows.num
                     AND c.denominator IS NOT DISTINCT FROM rows.den THEN 'unchanged'
                    ELSE 'updated' END AS status
        FROM rows
        LEFT JOIN cur_res c ON c.organisation_id = rows.org_id
              AND c.measure_id = rows.measure_id AND c.period = rows.day
    """)
    counts = dict(cur.execute("SELECT status, count(*) FROM stage_plan GROUP BY status")
                  .fetchall())
    report.new, report.updated = counts.get("new", 0), counts.get("updated", 0)
    report.unchanged = counts.get("unchanged", 0)
    report.organisation_ids = [r[0] for r in cur.execute(
        "SELECT DISTINCT org_id FROM stage_plan ORDER BY 1").fetchall()]
    if report.unchanged:
        report.warnings.append(Problem(None, None, None, f"{report.unchanged:,} row"
                                       f"{'s are' if report.unchanged != 1 else ' is'} identical "
                                       "to what is stored and will be skipped"))
    # far outside the organisation's own history: beyond 6 robust standard deviations
    odd = cur.execute("""
        WITH hist AS (
            SELECT r.organisation_id, r.measure_id,
                   coalesce(r.value, r.numerator / r.denominator) AS x
            FROM current_result r
            WHERE (r.organisation_id, r.measure_id) IN
                  (SELECT org_id, measure_id FROM stage_plan WHERE status <> 'unchanged')
        ), stats AS (
            SELECT organisation_id, measure_id, median(x) AS med, mad(x) AS mad, count(*) AS n
            FROM hist GROUP BY ALL HAVING count(*) >= 8
        )
        SELECT p.row_no, coalesce(p.value, p.numerator / p.denominator) AS x, s.med
        FROM stage_plan p JOIN stats s
          ON s.organisation_id = p.org_id AND s.measure_id = p.measure_id
        WHERE p.status <> 'unchanged' AND s.mad > 0
          AND abs(coalesce(p.value, p.numerator / p.denominator) - s.med) > 6 * 1.4826 * s.mad
        ORDER BY p.row_no LIMIT 200""").fetchall()
    for row_no, x, med in odd:
        report.warnings.append(Problem(int(row_no), "value", f"{x:g}",
                                       f"far from this organisation's usual results (typically "
                                       f"about {med:g}); check it is not a typing error"))


def _plan_frame(cur) -> pd.DataFrame:
    return cur.execute("""
        SELECT p.row_no AS "row", o.name AS organisation, m.name AS measure, p.period,
               p.value, p.numerator, p.denominator, p.note, p.status,
               p.old_value, p.old_numerator, p.old_denominator
        FROM stage_plan p JOIN organisation o ON o.id = p.org_id
        JOIN measure m ON m.id = p.measure_id ORDER BY p.row_no LIMIT 5000""").df()


# --------------------------------------------------------------------------- entry points


def _prepare(db: Database, cur, data: bytes, file_name: str, scope: Scope, *,
             organisation: str | None, today, progress: Progress | None) -> Report:
    report = Report(file_name=file_name, size=len(data),
                    sha256=hashlib.sha256(data).hexdigest())
    step = progress or (lambda fraction, text: None)
    try:
        if len(data) > MAX_FILE_BYTES:
            raise _Refused(f"The file is {len(data) / 1e6:,.1f} MB; the limit is "
                           f"{MAX_FILE_BYTES / 1e6:,.0f} MB. Split it into smaller files.")
        if not data:
            raise _Refused("The file is empty.")
        if not scope.can_write:
            raise PermissionDenied("Viewers may look and export but not upload results.")
        allowed_org_ids = None if scope.org_ids is None else set(scope.org_ids)
        orgs = repo.list_organisations(db, scope)
        measures = repo.list_measures(db)
        forced = None
        if organisation:
            match = orgs[orgs["name"].map(repo._norm) == repo._norm(organisation)]
            if match.empty:
                raise _Refused(f"No organisation is called '{organisation}'."
                               + _suggest(organisation, orgs["name"].tolist()))
            forced = {"id": int(match["id"].iloc[0]), "name": match["name"].iloc[0]}
        step(0.05, "Reading the file")
        is_xlsx = data[:4] == b"PK\x03\x04" or file_name.lower().endswith((".xlsx", ".xlsm"))
        if is_xlsx:
            report.file_type = "Excel workbook"
            names = _read_xlsx(cur, data, report)
        else:
            report.file_type = "CSV"
            names = _read_csv(cur, data, report)
        step(0.35, "Checking every row")
        _to_long(cur, names, measures, report)
        us_style = _typed(cur, report, report.delimiter == "semicolon",
                          forced["id"] if forced else None)
        _validate(cur, report, us_style=us_style, challenge=repo.get_challenge(db),
                  today=today or dt.date.today(),
                  allowed_org_ids=allowed_org_ids, forced_org=forced, orgs=orgs,
                  measures=measures)
        step(0.7, "Comparing with what is stored")
        if report.ok:
            _plan(cur, report)
            report.plan = _plan_frame(cur)
            same = cur.execute(
                "SELECT max(id) FROM upload_batch WHERE sha256 = ? AND undone_at IS NULL",
                [report.sha256]).fetchone()[0]
            if same is not None and report.new == 0 and report.updated == 0:
                report.already_stored_batch = int(same)
    except (_Refused, PermissionDenied) as refusal:
        report.errors.insert(0, Problem(None, None, None, str(refusal)))
    step(0.8, "Checked")
    return report


def check(db: Database, data: bytes, file_name: str, scope: Scope, *,
          organisation: str | None = None, today: dt.date | None = None,
          progress: Progress | None = None) -> Report:
    """Validate a file and plan its commit. Writes nothing (a dry run). A partner's file may
    hold rows for its own organisation only."""
    with db.cursor() as cur:
        try:
            return _prepare(db, cur, data, file_name, scope, organisation=organisation,
                            today=today, progress=progress)
        finally:
            _drop_staging(cur)


def commit(db: Database, data: bytes, file_name: str, scope: Scope, *,
           organisation: str | None = None, today: dt.date | None = None,
           progress: Progress | None = None) -> Report:
    """Validate and, if the file has no errors, store it as one batch in one transaction.

    Validation runs again under the write lock, so the plan cannot go stale between the
    check and the commit. A file identical to a stored batch adds nothing.
    """
    with db.transaction() as cur:
        try:
            report = _prepare(db, cur, data, file_name, scope, organisation=organisation,
                              today=today, progress=progress)
            if not report.ok or report.already_stored_batch is not None or \
                    report.new + report.updated == 0:
                return report
            (progress or (lambda f, t: None))(0.85, "Storing")
            orgs = report.organisation_ids
            batch_id = cur.execute(
                "INSERT INTO upload_batch (organisation_id, source, file_name, sha256,"
                " uploaded_by, rows_new, rows_updated, rows_unchanged)"
                " VALUES (?, 'upload', ?, ?, ?, ?, ?, ?) RETURNING id",
                [orgs[0] if len(orgs) == 1 else None, file_name, report.sha256, scope.actor,
                 report.new, report.updated, report.unchanged]).fetchone()[0]
            cur.execute(
                "INSERT INTO result (organisation_id, measure_id, period, value, numerator,"
                " denominator, note, batch_id)"
                " SELECT org_id, measure_id, period, value, numerator, denominator, note, ?"
                " FROM stage_plan WHERE status <> 'unchanged'", [batch_id])
            repo._audit(cur, scope.actor, "upload", "upload_batch", batch_id, None,
                        {"file_name": file_name, "sha256": report.sha256, "new": report.new,
                         "updated": report.updated, "unchanged": report.unchanged,
                         "organisation_ids": orgs})
            report.batch_id = int(batch_id)
        finally:
            _drop_staging(cur)
    db.checkpoint()
    return report


def _drop_staging(cur) -> None:
    with contextlib.suppress(duckdb.Error):
        cur.execute("DROP VIEW IF EXISTS stage_long")
    for table in ("stage_raw", "stage_typed", "stage_dupes", "stage_plan",
                  "key_org", "key_measure", "key_period", "stage_rejects", "stage_reject_scans"):
        with contextlib.suppress(duckdb.Error):  # a failed transaction drops them anyway
            cur.execute(f"DROP TABLE IF EXISTS {table}")


def read_path(path: Path) -> bytes:
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise repo.InputError(f"{path.name} is {size / 1e6:,.1f} MB; the limit is "
                              f"{MAX_FILE_BYTES / 1e6:,.0f} MB. Split it into smaller files.")
    return path.read_bytes()


# --------------------------------------------------------------------------- history and undo


def list_batches(db: Database, scope: Scope,
                 organisation_ids: list[int] | None = None) -> pd.DataFrame:
    """Uploads, newest first (a partner: those holding its own organisation's results)."""
    if scope.is_partner:
        organisation_ids = [scope.organisation_id]
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


def batch_rows(db: Database, scope: Scope, batch_id: int) -> pd.DataFrame:
    own = scope.organisation_id if scope.is_partner else None
    return db.read(
        "SELECT o.name AS organisation, m.name AS measure, r.period, r.value, r.numerator,"
        " r.denominator, r.note FROM result r JOIN organisation o ON o.id = r.organisation_id"
        " JOIN measure m ON m.id = r.measure_id WHERE r.batch_id = ?"
        " AND (?::INTEGER IS NULL OR r.organisation_id = ?)"
        " ORDER BY o.name, m.name, r.period", [batch_id, own, own])


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


# --------------------------------------------------------------------------- templates


def periods_due(frequency: str, start: dt.date, today: dt.date) -> list[dt.date]:
    """Every period of a measure from the challenge start up to the latest one that has
    started (weeks start on Monday, months on the 1st)."""
    if frequency == "week":
        first = start - dt.timedelta(days=start.weekday())
        return list(pd.date_range(first, today, freq="7D").date)
    first = start.replace(day=1)
    return list(pd.date_range(first, today, freq="MS").date)


def template_frame(db: Database, scope: Scope, organisation: str,
                   today: dt.date | None = None) -> pd.DataFrame:
    """The long template for one organisation: one row per measure and period still due
    (periods with no current result), values blank."""
    today = today or dt.date.today()
    orgs = repo.list_organisations(db, scope, include_retired=False)
    match = orgs[orgs["name"].map(repo._norm) == repo._norm(organisation)]
    if match.empty:
        raise repo.InputError(f"No active organisation is called '{organisation}'."
                              + _suggest(organisation, orgs["name"].tolist()))
    org_id, org_name = int(match["id"].iloc[0]), match["name"].iloc[0]
    challenge = repo.get_challenge(db)
    start = challenge["start_date"] if challenge else today - dt.timedelta(days=84)
    end = min(today, challenge["end_date"]) if challenge else today
    stored = repo.load_results(db, scope, organisation_ids=[org_id])
    have = set(zip(stored["measure_id"], pd.to_datetime(stored["period"]).dt.date, strict=True))
    rows = []
    for m in repo.list_measures(db, include_retired=False).itertuples():
        for period in periods_due(m.frequency, start, end):
            if (m.id, period) not in have:
                rows.append({"organisation": org_name, "measure": m.name,
                             "period": period.isoformat(), "value": None, "numerator": None,
                             "denominator": None, "note": None})
    return pd.DataFrame(rows, columns=list(COLUMNS))


def template_csv(db: Database, scope: Scope, organisation: str,
                 today: dt.date | None = None) -> bytes:
    frame = template_frame(db, scope, organisation, today)
    return neutralise(frame).to_csv(index=False, lineterminator="\n").encode("utf-8")


def template_xlsx(db: Database, scope: Scope, organisation: str,
                  today: dt.date | None = None) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill

    frame = template_frame(db, scope, organisation, today)
    book = Workbook()
    sheet = book.active
    sheet.title = "Results"
    sheet.append(list(COLUMNS))
    for cell in sheet[1]:
        cell.font = Font(bold=True, color="FFFFFF")
        cell.fill = PatternFill("solid", fgColor="005EB8")
    for row in frame.itertuples(index=False):
        sheet.append([row.organisation, row.measure, row.period, None, None, None, None])
    for column, width in zip("ABCDEFG", (38, 44, 12, 10, 12, 13, 40), strict=True):
        sheet.column_dimensions[column].width = width
    sheet.freeze_panes = "A2"
    info = book.create_sheet("Instructions")
    info.append(["How to fill in this file"])
    info["A1"].font = Font(bold=True, size=14)
    for line in (
        "One row per measure and period. Fill in 'value' for single values, or 'numerator' "
        "and 'denominator' for proportions and rates. Leave rows you have no result for empty.",
        "Periods: weekly measures use the Monday the week starts; monthly measures the 1st.",
        "Dates as YYYY-MM-DD (2026-03-02) or DD/MM/YYYY (02/03/2026).",
        "Upload the file on the tracker's Upload page, read the preview, then store it.",
    ):
        info.append([line])
    info.append([])
    info.append(["Code", "Measure", "Fill in", "Operational definition", "Numerator",
                 "Denominator", "Unit", "Frequency"])
    for cell in info[info.max_row]:
        cell.font = Font(bold=True)
    for m in repo.list_measures(db, include_retired=False).itertuples():
        fill = "value" if m.data_kind == "value" else "numerator and denominator"
        info.append([m.code, m.name, fill, m.definition, m.numerator or "", m.denominator or "",
                     m.unit, "weekly" if m.frequency == "week" else "monthly"])
    for column, width in zip("ABCDEFGH", (10, 40, 24, 70, 40, 40, 16, 10), strict=True):
        info.column_dimensions[column].width = width
    for row in info.iter_rows(min_row=7):
        for cell in row:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


# --------------------------------------------------------------------------- export


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
    "audit_log": ("SELECT * FROM audit_log ORDER BY id", "admin"),
}


def _exact(x) -> str:
    """A number as the shortest text that reads back as the same double (12, not 12.0)."""
    if x is None or pd.isna(x):
        return ""
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else repr(float(x))


def export_all(db: Database, scope: Scope, out_dir: Path) -> list[Path]:
    """Write every table the user may see as CSV, and the current results as results.csv.
    A partner gets its own organisation's rows and the shared tables; the audit log goes to
    admins only."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, (sql, partner_filter) in EXPORT_TABLES.items():
        params: list = []
        if partner_filter == "admin":
            if not scope.is_admin:
                continue
        elif partner_filter and scope.is_partner:
            select, order = sql.split(" ORDER BY ")
            sql = f"{select} {partner_filter} ORDER BY {order}"
            params = [scope.organisation_id]
        path = out_dir / f"{name}.csv"
        neutralise(db.read(sql, params)).to_csv(path, index=False, lineterminator="\n")
        written.append(path)
    own = scope.organisation_id if scope.is_partner else None
    results = db.read(
        "SELECT o.name AS organisation, m.name AS measure, strftime(r.period, '%Y-%m-%d')"
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
