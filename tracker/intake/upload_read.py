"""Reading a partner's results file (CSV or Excel) into a staging table of text.

The work is bounded before anything is parsed: the file's size, the width and length of its
header row (a file of 110,000 columns once took gigabytes to preview), and for Excel the
unpacked size. NUL bytes anywhere in a CSV refuse it; other control characters are refused
cell by cell during validation (`ingest`). The staging table `stage_raw` holds every cell as
text with the row number a spreadsheet would show (the header is row 1).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field

import duckdb
import numpy as np
import pandas as pd

from tracker.intake import excel_rows

MAX_FILE_MB = 50  # as the app's uploader allows (.streamlit/config.toml): 50 MB of 1,048,576 bytes
MAX_FILE_BYTES = MAX_FILE_MB * 1024 * 1024
MAX_COLUMNS = 500  # the widest real file: 9 measures x (numerator, denominator) and a few more
MAX_HEADER_BYTES = 32 * 1024
MAX_XLSX_UNCOMPRESSED = 300 * 1024 * 1024
MAX_XLSX_RATIO = 100
MAX_NOTE = 2000
MAX_LISTED = 1000  # problems listed one by one; the rest are counted
XLSX_CHUNK_CELLS = 200_000  # cells of an Excel sheet staged at a time (memory stays flat)
COLUMNS = ("organisation", "measure", "period", "value", "numerator", "denominator", "note")
# The templates' last column says, for each row, what to write and on which base (the unit,
# what the numerator and the denominator count). Uploads read past it without a warning.
HOW_TO = "how to fill in"
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
    implausible: int = 0  # rows flagged as probable typing errors (to confirm or correct)
    held_back: bool = False  # not stored: flagged rows that were not confirmed

    @property
    def ok(self) -> bool:
        return not self.errors

    def error(self, row, column, value, message) -> None:
        if len(self.errors) < MAX_LISTED:
            empty = value is None or (isinstance(value, float | type(pd.NA)) and pd.isna(value))
            self.errors.append(Problem(row, column, None if empty else str(value), message))
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
        if self.held_back:
            return (f"Not stored: {self.implausible:,} value"
                    f"{'s are' if self.implausible != 1 else ' is'} far from what is usual (the "
                    "warnings say which rows). Nothing was stored: correct the file, or confirm "
                    "the values if they are right.")
        if self.already_stored_batch is not None:
            return (f"{self.file_name} was already stored (upload {self.already_stored_batch}); "
                    "nothing to do.")
        return (f"Ready: {self.new:,} new, {self.updated:,} updated, {self.unchanged:,} "
                "unchanged.")


class Refused(Exception):
    """A problem that stops reading the file at all (empty, not a table, too big...)."""




# --------------------------------------------------------------------------- reading files


def norm_header(name: str) -> str:
    text = " ".join(str(name or "").replace("\ufeff", "").replace("_", " ").split()).casefold()
    return ALIASES.get(text, text)


def _row_of(data: bytes, offset: int) -> int:
    """The row a spreadsheet would show for a byte offset (quoted line breaks aside)."""
    return data.count(b"\n", 0, offset) + 1


def _bound(data: bytes) -> None:
    """Refuse, before any parsing, what would make the work unbounded: NUL bytes anywhere
    (binary data, or a text field smuggling one), a header row too long or too wide."""
    nul = data.find(b"\x00")
    if nul >= 0:
        raise Refused(f"Row {_row_of(data, nul)}: this file holds binary data (a NUL "
                      "character), so it is not a CSV text file. Save the spreadsheet as "
                      "'CSV UTF-8' or upload the .xlsx file itself.")
    end = data.find(b"\n", 0, MAX_HEADER_BYTES + 1)
    complete = end >= 0 or len(data) <= MAX_HEADER_BYTES
    header = data[: end if end >= 0 else MAX_HEADER_BYTES]
    widest = max(header.count(d) for d in (b",", b";", b"\t")) + 1
    if widest > MAX_COLUMNS:
        raise Refused(f"The file has {'' if complete else 'more than '}{widest:,} columns; at "
                      f"most {MAX_COLUMNS:,} are read. Use the template's layout "
                      "(organisation, measure, period, value, numerator, denominator, note) "
                      "or split the file by measure.")
    if not complete:
        raise Refused(f"The first row (the column names) is longer than "
                      f"{MAX_HEADER_BYTES // 1024} KB. A results file has a short header: "
                      "organisation, measure, period, value, numerator, denominator, note.")


def _decode(data: bytes, report: Report) -> str:
    _bound(data)
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
        raise Refused("This file's characters are neither UTF-8 nor Windows-1252. Save it "
                       "from Excel as 'CSV UTF-8 (comma delimited)' and upload it again.") from None
    report.encoding = "Windows-1252 (as Excel saves CSV)"
    return text


def _sniff_delimiter(text: str) -> str:
    first = text.split("\n", 1)[0]
    counts = {d: first.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


def read_csv(cur, data: bytes, report: Report) -> list[str]:
    """Load a CSV into the staging table `stage_raw` (all text, with row numbers)."""
    text = _decode(data, report)
    if not text.strip():
        raise Refused("The file is empty.")
    delim = _sniff_delimiter(text)
    report.delimiter = {",": "comma", ";": "semicolon", "\t": "tab"}[delim]
    header = next(csv.reader(io.StringIO(text[:1_000_000]), delimiter=delim), [])
    names = [norm_header(h) for h in header]
    if not any(names):
        raise Refused("The first row should hold the column names (organisation, measure, "
                       "period, value, ...), but it is empty.")
    if text.count('"') % 2:  # a quote opened and never closed swallows the rest of the file
        reader = csv.reader(io.StringIO(text), delimiter=delim, strict=True)
        records = 0
        try:
            for _ in reader:
                records += 1
        except csv.Error:
            pass
        raise Refused(f"Row {records + 1}: a double quote is not closed in this row, so "
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
            raise Refused("This file could not be read as a table of results: "
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
        raise Refused("This Excel file is damaged or incomplete (it may have been cut off "
                       "while sending). Save it again in Excel and upload the new copy.") from None
    total = sum(m.file_size for m in members)
    if total > MAX_XLSX_UNCOMPRESSED:
        raise Refused(f"This Excel file unpacks to {total / 1e6:,.0f} MB, more than the "
                       f"{MAX_XLSX_UNCOMPRESSED / 1e6:,.0f} MB allowed. Split it into smaller files.")
    for m in members:
        if m.compress_size and m.file_size / m.compress_size > MAX_XLSX_RATIO and \
                m.file_size > 10_000_000:
            raise Refused("This Excel file is compressed far more than real spreadsheets are "
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


def _formulas(data: bytes, title: str) -> dict[tuple[int, int], str]:
    """The formula cells of a sheet: (row, column) -> formula."""
    from openpyxl import load_workbook

    raw = load_workbook(io.BytesIO(data), read_only=True, data_only=False)
    try:
        return {(number, column): value
                for number, values in excel_rows.sheet_rows(raw, raw[title], data_only=False,
                                                            max_columns=MAX_COLUMNS)
                for column, value in values.items()
                if isinstance(value, str) and value.startswith("=")}
    finally:
        raw.close()


def _stage_cells(cur, chunk: list[tuple[int, int, str]]) -> None:
    if chunk:
        rows, columns, texts = zip(*chunk, strict=True)
        cur.register("stage_chunk", pd.DataFrame({"row_no": rows, "col": columns,
                                                  "value": texts}))
        cur.execute("INSERT INTO stage_cells SELECT * FROM stage_chunk")
        cur.unregister("stage_chunk")


def read_xlsx(cur, data: bytes, report: Report) -> list[str]:
    """Load the first sheet (or the one named Results) into `stage_raw`, as read_csv does.

    Only the cells that hold a value are read (excel_rows.py: a gap of a million empty rows
    costs nothing), with the row numbers Excel shows. They go into the staging database in
    chunks and are laid out as rows there, so memory stays flat however long the sheet is.
    """
    from openpyxl import load_workbook  # openpyxl uses defusedxml when it is installed

    _check_zip(data)
    report.encoding = "Excel workbook"
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:
        raise Refused("This file could not be opened as an Excel workbook. Save it again in "
                       "Excel (.xlsx) and upload the new copy.") from None
    try:
        sheet = book["Results"] if "Results" in book.sheetnames else book.worksheets[0]
        # formulas Excel never calculated have no saved value: found in small files
        formulas = _formulas(data, sheet.title) if len(data) <= 5 * 1024 * 1024 else {}
        any_formula = bool(formulas)
        rows = excel_rows.sheet_rows(book, sheet, data_only=True, max_columns=MAX_COLUMNS)
        first = next(rows, None)
        if first is None:
            raise Refused("The workbook's first sheet is empty.")
        header_row, header = first
        width = max(header) + 1
        cur.execute("CREATE OR REPLACE TEMP TABLE stage_cells"
                    " (row_no BIGINT, col INTEGER, value VARCHAR)")
        chunk: list[tuple[int, int, str]] = []
        for number, values in rows:
            for column, value in values.items():
                formulas.pop((number, column), None)  # calculated: it has a value
                chunk.append((number, column, _cell_text(value)))
            width = max(width, max(values) + 1)
            if len(chunk) >= XLSX_CHUNK_CELLS:
                _stage_cells(cur, chunk)
                chunk = []
        _stage_cells(cur, chunk)
    except excel_rows.SheetRefused as exc:
        raise Refused(str(exc)) from None
    finally:
        book.close()
    cur.execute("CREATE OR REPLACE TEMP TABLE stage_raw AS SELECT row_no, "
                + ", ".join(f"max(value) FILTER (WHERE col = {i}) AS h{i}" for i in range(width))
                + " FROM stage_cells GROUP BY row_no ORDER BY row_no")
    cur.execute("DROP TABLE stage_cells")
    names = [norm_header(_cell_text(header.get(i)) or "") for i in range(width)]
    for (number, column), formula in sorted(formulas.items()):
        if number > header_row:
            report.error(number, names[column] or None if column < width else None, formula,
                         "this cell holds a formula that Excel has not calculated, so it has "
                         "no value; open the file in Excel, save it, and upload it again (or "
                         "paste the values)")
    if any_formula:
        report.warnings.append(Problem(None, None, None, "some cells hold formulas: their values "
                                       "as Excel last calculated them were used"))
    return names


def read_listing(cur, data: bytes, file_name: str, report: Report
                 ) -> tuple[list[str], pd.DataFrame]:
    """A list the lab admin imports (people, discovery insights), read as a partner's
    results file is: bounded, CSV or Excel. Its column names and its rows (`row_no` first);
    a file too large, empty or unreadable is refused (`Refused`), said in words."""
    if len(data) > MAX_FILE_BYTES:
        raise Refused(f"The file is {len(data) / 1e6:,.1f} MB; the limit is {MAX_FILE_MB} MB.")
    if not data:
        raise Refused("The file is empty.")
    is_xlsx = data[:4] == b"PK\x03\x04" or file_name.lower().endswith((".xlsx", ".xlsm"))
    report.file_type = "Excel workbook" if is_xlsx else "CSV"
    names = (read_xlsx if is_xlsx else read_csv)(cur, data, report)
    raw = cur.execute("SELECT * FROM stage_raw ORDER BY row_no").df()
    cur.execute("DROP TABLE IF EXISTS stage_raw")
    return names, raw
