"""Partner results files, the steps both engines share: read (CSV or Excel), validate every
row, classify against what is stored, plan, and the batch and audit rows of a stored file.
`ingest` (the embedded file) and `ingest_pg` (PostgreSQL) store through these.

Nothing is stored unless the whole file is valid. Parsing and checks run in DuckDB on a
staging table (all text), so a million rows are checked with set operations, not a Python
loop. Every problem is collected, with the row number a spreadsheet would show (the header is
row 1), the column, the value and what to do.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import difflib
import hashlib
from pathlib import Path

import duckdb
import pandas as pd

from tracker import clock
from tracker.access.scope import Scope
from tracker.errors import PermissionDenied
from tracker.intake.upload_read import (
    COLUMNS,
    HOW_TO,
    MAX_FILE_BYTES,
    MAX_FILE_MB,
    MAX_LISTED,
    MAX_NOTE,
    Problem,
    Progress,
    Refused,
    Report,
    norm_header,
    read_csv,
    read_xlsx,
)
from tracker.records import reader_view, repo
from tracker.records.reader_view import WITHHELD_CODE
from tracker.storage.db import Database
from tracker.text import CONTROL_CLASS

# --------------------------------------------------------------------------- layout


def _to_long(cur, names: list[str], measures: pd.DataFrame, report: Report) -> None:
    """Shape stage_raw into stage_long(row_no, organisation, measure, period, value,
    numerator, denominator, note), from the long or the wide layout."""
    present = {name: i for i, name in reversed(list(enumerate(names))) if name}
    if "measure" in present:
        report.layout = "long (one row per result)"
        missing = [c for c in ("period",) if c not in present]
        if missing:
            raise Refused("The column 'period' is missing. The template's columns are: "
                           + ", ".join(COLUMNS) + ".")
        extra = [n for n in names if n and n not in COLUMNS and n != HOW_TO]
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
        raise Refused("The file needs a 'period' column, and either a 'measure' column (the "
                       "template's layout: " + ", ".join(COLUMNS) + ") or one column per "
                       "measure (one row per period).")
    lookup = {}
    for m in measures.itertuples():
        for key in (m.name, m.code):
            if key and key != WITHHELD_CODE:
                lookup[norm_header(key)] = m.name
    wide_cols = []
    for i, name in enumerate(names):
        if not name or name in ("period", "organisation", "note", HOW_TO):
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
        raise Refused("No column names a measure. Use the template, or name each column "
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
    # A view cannot take parameters: the measure names are the tracker's own as the writer
    # reads them (looked up above), quoted as SQL string literals.
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
        LEFT JOIN (SELECT id, {_NORM.format('name')} AS k, data_kind, frequency
                   FROM stage_measure) mn ON mn.k = {norm}
        LEFT JOIN (SELECT id, {_NORM.format('code')} AS k, data_kind, frequency
                   FROM stage_measure) mc ON mc.k = {norm} AND mn.id IS NULL""")
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


def suggest(value: str, choices: list[str]) -> str:
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
            raise Refused("No row of this file could be read; see the problems below.")
        raise Refused("The file has a header but no rows of results.")
    if report.rows == report.empty_rows:
        raise Refused("Every row is empty: fill in a value (or a numerator and denominator) "
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
    measure_names = measures["name"].tolist() + [c for c in measures["code"]
                                                 if c and c != WITHHELD_CODE]
    start = challenge["start_date"] if challenge else None
    end = challenge["end_date"] if challenge else None
    names_by_id = dict(zip(orgs["id"], orgs["name"], strict=True))
    allowed = sorted(allowed_org_ids) if allowed_org_ids is not None else None
    # Someone who may write for some organisations only (a partner, an API token) hears the
    # same answer for another organisation's name and for a name no organisation has, and is
    # offered only names it may write for: the answer never confirms that a name exists.
    not_yours, retired = None, "org_retired"
    if allowed is not None:
        retired = "org_retired AND list_contains(?, org_id)"
        if forced_org is not None:
            not_yours = (f"this upload is for {forced_org['name']}, but the row names another "
                         "organisation; write its name exactly as on the template (or leave "
                         "the organisation empty)")
        else:
            not_yours = ("you may upload results only for "
                         + ", ".join(names_by_id.get(i, str(i)) for i in allowed)
                         + "; write the name exactly as on the template")
    own_names = org_names if allowed is None else \
        [names_by_id[i] for i in allowed if i in names_by_id]

    def unknown_org(r) -> str:
        if not_yours is None:
            return ("no organisation has this name." + suggest(r.organisation, org_names)
                    + " Use the name exactly as on the template.")
        return not_yours + "." + suggest(r.organisation, own_names)

    checks = [
        ("organisation", "organisation IS NULL AND org_id IS NULL",
         lambda r: "the organisation is missing; write the organisation's name in every row "
                   "(or choose the organisation when uploading)"),
        ("organisation", "organisation IS NOT NULL AND org_id IS NULL", unknown_org),
        ("organisation", retired,
         lambda r: "this organisation is retired; ask the lab team to bring it back first"),
        ("measure", "measure IS NULL", lambda r: "the measure is missing"),
        ("measure", "measure IS NOT NULL AND measure_id IS NULL",
         lambda r: "no measure has this name or code." + suggest(r.measure, measure_names)),
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
        ("note", f"regexp_matches(note, '{CONTROL_CLASS}')",
         lambda r: "this note holds an invisible control character (a character that is not "
                   "text, such as NUL or a direction override); retype the note"),
        ("organisation", f"regexp_matches(organisation, '{CONTROL_CLASS}')",
         lambda r: "this name holds an invisible control character; retype it"),
        ("measure", f"regexp_matches(measure, '{CONTROL_CLASS}')",
         lambda r: "this name holds an invisible control character; retype it"),
        ("note", f"length(note) > {MAX_NOTE}",
         lambda r: f"this note is {len(r.note):,} characters long; keep notes under "
                   f"{MAX_NOTE:,} characters"),
    ]
    params_for = {
        "? AND iso_date IS NULL AND (uk_date IS NOT NULL OR us_date IS NOT NULL)": [us_style],
        "day IS NOT NULL AND day > ?": [today],
        "day IS NOT NULL AND ? IS NOT NULL AND (day < ? OR day > ?)": [start, start, end],
    }
    # one message per row: with an organisation chosen for the upload (always one the user
    # may write for), "this upload is for X" says it all
    if allowed is not None:
        params_for[retired] = [allowed]
    if allowed is not None and forced_org is None:
        checks.append(("organisation", "org_id IS NOT NULL AND NOT list_contains(?, org_id)",
                       lambda r: not_yours + "."))
        params_for["org_id IS NOT NULL AND NOT list_contains(?, org_id)"] = [allowed]
    if forced_org is not None:
        checks.append(("organisation", "org_id IS NOT NULL AND org_id <> ?",
                       (lambda r: not_yours + ".") if allowed is not None else
                       (lambda r: f"this upload is for {forced_org['name']}, but the row names "
                                  "another organisation")))
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


def _classify(cur, report: Report) -> None:
    """Classify each valid row against what is stored now: new, updated (old → new) or
    unchanged. A row whose note differs is an update: a note is data."""
    # identical repeated rows count once (conflicting ones were refused already)
    rows_sql = ("SELECT * FROM stage_typed QUALIFY row_number() OVER (PARTITION BY org_id,"
                " measure_id, day ORDER BY row_no) = 1" if report.has_duplicates
                else "SELECT * FROM stage_typed")
    cur.execute(f"""
        CREATE OR REPLACE TEMP TABLE stage_plan AS
        WITH rows AS ({rows_sql}), cur_res AS (
            SELECT r.organisation_id, r.measure_id, r.period, r.value, r.numerator,
                   r.denominator, r.note
            FROM current_result r
            WHERE (r.organisation_id, r.measure_id) IN (SELECT org_id, measure_id FROM rows)
        )
        SELECT rows.row_no, rows.org_id, rows.measure_id, rows.day AS period,
               CASE WHEN rows.data_kind = 'value' THEN rows.v END AS value,
               rows.num AS numerator, rows.den AS denominator, rows.note,
               c.value AS old_value, c.numerator AS old_numerator,
               c.denominator AS old_denominator, c.note AS old_note,
               CASE WHEN c.period IS NULL THEN 'new'
                    WHEN c.value IS NOT DISTINCT FROM
                         (CASE WHEN rows.data_kind = 'value' THEN rows.v END)
                     AND c.numerator IS NOT DISTINCT FROM rows.num
                     AND c.denominator IS NOT DISTINCT FROM rows.den
                     AND c.note IS NOT DISTINCT FROM rows.note THEN 'unchanged'
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


def _plan(cur, report: Report) -> None:
    """Classify the rows, and warn about values far outside the organisation's own history."""
    _classify(cur, report)
    if report.unchanged:
        report.warnings.append(Problem(None, None, None, f"{report.unchanged:,} row"
                                       f"{'s are' if report.unchanged != 1 else ' is'} identical "
                                       "to what is stored and will be skipped"))
    _implausible(cur, report)


def _implausible(cur, report: Report) -> None:
    """Flag results that are probably typing errors, so the person can correct or confirm
    them before storing: outside the measure's plausible range; ten times or more above or
    below the organisation's usual level (a rate typed on the wrong base, 3 over 56 people
    for "per 100 people", is 100 times off); or beyond 6 robust standard deviations from it.
    A proportion or a rate is judged as numerator / denominator, in the measure's unit."""
    odd = cur.execute("""
        WITH hist AS (
            SELECT r.organisation_id, r.measure_id,
                   coalesce(r.value, r.numerator / r.denominator) AS x
            FROM current_result r
            WHERE (r.organisation_id, r.measure_id) IN
                  (SELECT org_id, measure_id FROM stage_plan WHERE status <> 'unchanged')
        ), stats AS (
            SELECT organisation_id, measure_id, median(x) AS med, mad(x) AS mad, count(*) AS n
            FROM hist GROUP BY ALL HAVING count(*) >= 4
        ), rows AS (
            SELECT p.row_no, p.org_id, p.measure_id, p.value, p.numerator, p.denominator,
                   coalesce(p.value, p.numerator / p.denominator) AS x
            FROM stage_plan p WHERE p.status <> 'unchanged'
        )
        SELECT rows.row_no, rows.x, s.med, s.n, m.unit, m.data_kind, m.denominator AS base,
               mr.low, mr.high,
               CASE WHEN mr.low IS NOT NULL AND rows.x < mr.low THEN 'low'
                    WHEN mr.high IS NOT NULL AND rows.x > mr.high THEN 'high'
                    WHEN s.med > 0 AND rows.x > 0 AND (rows.x >= 10 * s.med
                         OR rows.x <= s.med / 10) THEN 'scale'
                    WHEN s.n >= 8 AND s.mad > 0
                         AND abs(rows.x - s.med) > 6 * 1.4826 * s.mad THEN 'far'
               END AS why
        FROM rows JOIN measure m ON m.id = rows.measure_id
        LEFT JOIN measure_range mr ON mr.measure_id = rows.measure_id
        LEFT JOIN stats s ON s.organisation_id = rows.org_id AND s.measure_id = rows.measure_id
        WHERE why IS NOT NULL ORDER BY rows.row_no LIMIT 200""").fetchall()
    for row_no, x, med, _, unit, kind, base, low, high, why in odd:
        shown = _in_unit(x, unit, kind)
        if why in ("low", "high"):
            bound = low if why == "low" else high
            text = (f"it is {'below' if why == 'low' else 'above'} what this measure can "
                    f"plausibly be ({_in_unit(bound, unit, kind)} at the "
                    f"{'lowest' if why == 'low' else 'highest'})")
        else:
            times = (x / med if x > med else med / x) if med and x else None
            text = (f"it is far from this organisation's usual results (typically about "
                    f"{_in_unit(med, unit, kind)}"
                    + (f", {times:,.0f} times {'more' if x > med else 'less'}" if why == "scale"
                       and times else "") + ")")
        if kind == "rate" and base:
            text += f"; the denominator is {base}: check it is on that base"
        elif kind == "proportion":
            text += "; check the numerator and the denominator"
        text += ". Correct it, or confirm it before storing"
        report.warnings.append(Problem(int(row_no), "value" if kind == "value" else
                                       "denominator", shown, text))
        report.implausible += 1


def _in_unit(x, unit, kind) -> str:
    if x is None:
        return ""
    if kind == "proportion":
        return f"{x:.1%}"
    # digits as a person writes them: 2,150 and 21.2, never 2.15e+03
    number = f"{x:,.0f}" if abs(x) >= 100 else f"{x:.3g}" if abs(x) >= 0.001 else f"{x:g}"
    return f"{number} {unit}".strip()


def _plan_frame(cur) -> pd.DataFrame:
    return cur.execute("""
        SELECT p.row_no AS "row", o.name AS organisation, m.name AS measure, p.period,
               p.value, p.numerator, p.denominator, p.note, p.status,
               p.old_value, p.old_numerator, p.old_denominator, p.old_note
        FROM stage_plan p JOIN organisation o ON o.id = p.org_id
        JOIN stage_measure m ON m.id = p.measure_id ORDER BY p.row_no LIMIT 5000""").df()


def _stage_measures(cur, measures: pd.DataFrame) -> None:
    """stage_measure(id, name, code, data_kind, frequency): the measures as the writer reads
    them (`reader_view.measures_for`), which the file's names are matched against and its
    report speaks of; a code withheld from the writer matches nothing."""
    frame = measures[["id", "name", "code", "data_kind", "frequency"]].copy()
    frame["code"] = frame["code"].where(frame["code"] != WITHHELD_CODE, None)
    cur.register("measures_as_read", frame)
    try:
        cur.execute("CREATE OR REPLACE TEMP TABLE stage_measure AS SELECT id::INTEGER AS id,"
                    " name::VARCHAR AS name, code::VARCHAR AS code,"
                    " data_kind::VARCHAR AS data_kind, frequency::VARCHAR AS frequency"
                    " FROM measures_as_read")
    finally:
        cur.unregister("measures_as_read")


# --------------------------------------------------------------------------- entry points


def _prepare(db: Database, cur, data: bytes, file_name: str, scope: Scope, *,
             organisation: str | None, today, progress: Progress | None,
             before_plan=None) -> Report:
    report = Report(file_name=file_name, size=len(data),
                    sha256=hashlib.sha256(data).hexdigest())
    step = progress or (lambda fraction, text: None)
    try:
        if len(data) > MAX_FILE_BYTES:
            raise Refused(f"The file is {len(data) / 1e6:,.1f} MB; the limit is "
                           f"{MAX_FILE_MB} MB. Split it into smaller files.")
        if not data:
            raise Refused("The file is empty.")
        if not scope.can_write:
            raise PermissionDenied("Viewers may look and export but not upload results.")
        allowed_org_ids = None if scope.org_ids is None else set(scope.org_ids)
        orgs = repo.list_organisations(db, scope)
        measures = reader_view.measures_for(db, scope)  # named as this writer may read them
        _stage_measures(cur, measures)
        forced = None
        if organisation:
            match = orgs[orgs["name"].map(repo._norm) == repo._norm(organisation)]
            if match.empty:
                raise Refused(f"No organisation is called '{organisation}'."
                               + suggest(organisation, orgs["name"].tolist()))
            forced = {"id": int(match["id"].iloc[0]), "name": match["name"].iloc[0]}
        step(0.05, "Reading the file")
        is_xlsx = data[:4] == b"PK\x03\x04" or file_name.lower().endswith((".xlsx", ".xlsm"))
        if is_xlsx:
            report.file_type = "Excel workbook"
            names = read_xlsx(cur, data, report)
        else:
            report.file_type = "CSV"
            names = read_csv(cur, data, report)
        step(0.35, "Checking every row")
        _to_long(cur, names, measures, report)
        us_style = _typed(cur, report, report.delimiter == "semicolon",
                          forced["id"] if forced else None)
        _validate(cur, report, us_style=us_style, challenge=repo.challenge_span(db),
                  today=today or clock.today(),
                  allowed_org_ids=allowed_org_ids, forced_org=forced, orgs=orgs,
                  measures=measures)
        step(0.7, "Comparing with what is stored")
        if report.ok:
            if before_plan is not None:  # PostgreSQL: the stored rows the plan compares with
                before_plan(cur)
            _plan(cur, report)
            report.plan = _plan_frame(cur)
            same_file_stored(cur, report)
    except (Refused, PermissionDenied) as refusal:
        report.errors.insert(0, Problem(None, None, None, str(refusal)))
    step(0.8, "Checked")
    return report


def same_file_stored(cur, report: Report) -> None:
    """A file with nothing new whose very bytes are a stored batch: say which (also when
    another upload of it was stored while this one waited for the write lock)."""
    if report.new == 0 and report.updated == 0:
        same = cur.execute(
            "SELECT max(id) FROM upload_batch WHERE sha256 = ? AND undone_at IS NULL",
            [report.sha256]).fetchone()[0]
        if same is not None:
            report.already_stored_batch = int(same)


def changed_meanwhile(report: Report, names: list[str]) -> None:
    """Refuse a file whose organisations or measures the lab team changed while it was being
    checked (retired, or a measure's kind of data)."""
    report.errors.insert(0, Problem(None, None, None, "While this file was being checked, the "
                                    "lab team changed " + ", ".join(names) + " (retired, or its "
                                    "kind of data). Check the file and upload it again."))


def new_batch(cur, report: Report, file_name: str, scope: Scope, source: str) -> int:
    """The upload_batch row of a file being stored; its id."""
    orgs = report.organisation_ids
    return int(cur.execute(
        "INSERT INTO upload_batch (organisation_id, source, file_name, sha256,"
        " uploaded_by, rows_new, rows_updated, rows_unchanged)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        [orgs[0] if len(orgs) == 1 else None, source, file_name, report.sha256, scope.actor,
         report.new, report.updated, report.unchanged]).fetchone()[0])


def audit_upload(cur, report: Report, file_name: str, scope: Scope, source: str,
                 batch_id: int) -> None:
    repo._audit(cur, scope.actor, "upload", "upload_batch", batch_id, None,
                {"source": source, "file_name": file_name, "sha256": report.sha256,
                 "new": report.new, "updated": report.updated, "unchanged": report.unchanged,
                 "organisation_ids": report.organisation_ids})
    report.batch_id = batch_id


def _drop_staging(cur) -> None:
    with contextlib.suppress(duckdb.Error):
        cur.execute("DROP VIEW IF EXISTS stage_long")
    for table in ("stage_raw", "stage_typed", "stage_dupes", "stage_plan",
                  "key_org", "key_measure", "key_period", "stage_rejects", "stage_reject_scans",
                  "stage_measure"):
        with contextlib.suppress(duckdb.Error):  # a failed transaction drops them anyway
            cur.execute(f"DROP TABLE IF EXISTS {table}")


def read_path(path: Path) -> bytes:
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise repo.InputError(f"{path.name} is {size / 1e6:,.1f} MB; the limit is "
                              f"{MAX_FILE_MB} MB. Split it into smaller files.")
    return path.read_bytes()


