"""Upload templates for one organisation: the measures and periods still due, as CSV or Excel."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import pandas as pd

from tracker import clock
from tracker.access.scope import Scope
from tracker.intake.export import neutralise
from tracker.intake.planning import suggest
from tracker.intake.upload_read import COLUMNS, HOW_TO
from tracker.records import observations, reader_view, repo
from tracker.storage.db import Database


def periods_due(frequency: str, start: dt.date, today: dt.date) -> list[dt.date]:
    """Every period of a measure from the challenge start up to the latest one that has
    started (weeks start on Monday, months on the 1st)."""
    if frequency == "week":
        first = start - dt.timedelta(days=start.weekday())
        return list(pd.date_range(first, today, freq="7D").date)
    first = start.replace(day=1)
    return list(pd.date_range(first, today, freq="MS").date)


def template_frame(db: Database, scope: Scope, organisation: str,
                   today: dt.date | None = None, *,
                   measures: pd.DataFrame | None = None) -> pd.DataFrame:
    """The long template for one organisation: one row per measure and period still due
    (periods with no current result), values blank. `measures`: the active measures as this
    user reads them (`_active_measures`), when the caller has them."""
    today = today or clock.today()
    orgs = repo.list_organisations(db, scope, include_retired=False)
    match = orgs[orgs["name"].map(repo._norm) == repo._norm(organisation)]
    if match.empty:
        raise repo.InputError(f"No active organisation is called '{organisation}'."
                              + suggest(organisation, orgs["name"].tolist()))
    org_id, org_name = int(match["id"].iloc[0]), match["name"].iloc[0]
    challenge = repo.get_challenge(db, scope.challenge_id)
    start = challenge["start_date"] if challenge else today - dt.timedelta(days=84)
    end = min(today, challenge["end_date"]) if challenge else today
    stored = observations.load_results(db, scope, organisation_ids=[org_id])
    have = set(zip(stored["measure_id"], pd.to_datetime(stored["period"]).dt.date, strict=True))
    rows = []
    measures = _active_measures(db, scope) if measures is None else measures
    for m in measures.itertuples():
        guide = how_to_fill_in(m)
        for period in periods_due(m.frequency, start, end):
            if (m.id, period) not in have:
                rows.append({"organisation": org_name, "measure": m.name,
                             "period": period.isoformat(), "value": None, "numerator": None,
                             "denominator": None, "note": None, HOW_TO: guide})
    return pd.DataFrame(rows, columns=[*COLUMNS, HOW_TO])


def _active_measures(db: Database, scope: Scope) -> pd.DataFrame:
    """The measures still in use, named as this user may read them (`reader_view`)."""
    measures = reader_view.measures_for(db, scope)
    return measures[measures["retired_at"].isna()]


def how_to_fill_in(m) -> str:
    """What to write for a measure, with its unit and base, in a sentence (where a text is
    withheld from the reader, or missing, it says to ask the lab team)."""
    def text(value) -> str:
        if value is None or (isinstance(value, float) and pd.isna(value)) or \
                not str(value).strip():
            return "(ask the lab team)"
        return str(value)

    if m.data_kind == "value":
        return f"value: one number, in {text(m.unit)}"
    if m.data_kind == "proportion":
        return (f"numerator: {text(m.numerator)}; denominator: {text(m.denominator)} "
                "(counts of people or events, not percentages)")
    return (f"numerator: {text(m.numerator)}; denominator: {text(m.denominator)}; the rate "
            f"shown is numerator / denominator, {text(m.unit)}")


def template_csv(db: Database, scope: Scope, organisation: str,
                 today: dt.date | None = None) -> bytes:
    frame = template_frame(db, scope, organisation, today)
    return neutralise(frame).to_csv(index=False, lineterminator="\n").encode("utf-8")


def default_xlsx_name(organisation: str) -> Path:
    """Where `template --format xlsx` writes when no --out is given."""
    return Path(f"template-{'-'.join(organisation.split())}.xlsx")


def template_xlsx(db: Database, scope: Scope, organisation: str,
                  today: dt.date | None = None) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill

    measures = _active_measures(db, scope)
    frame = template_frame(db, scope, organisation, today, measures=measures)
    book = Workbook()
    sheet = book.active
    sheet.title = "Results"
    sheet.append([*COLUMNS, HOW_TO])
    for cell in sheet[1]:
        cell.font = Font(bold=True, color="FFFFFF")
        cell.fill = PatternFill("solid", fgColor="005EB8")
    for row in frame.itertuples(index=False):
        sheet.append([row.organisation, row.measure, row.period, None, None, None, None,
                      row[7]])
    for column, width in zip("ABCDEFGH", (38, 44, 12, 10, 12, 13, 40, 70), strict=True):
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
    for m in measures.itertuples():
        fill = "value" if m.data_kind == "value" else "numerator and denominator"
        info.append([m.code, m.name, fill, m.definition, m.numerator or "", m.denominator or "",
                     m.unit, "weekly" if m.frequency == "week" else "monthly"])
    for column, width in zip("ABCDEFGH", (10, 40, 24, 70, 40, 40, 16, 10), strict=True):
        info.column_dimensions[column].width = width
    for row in info.iter_rows(min_row=7):
        for cell in row:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
    for each in (sheet, info):
        _text_as_text(each)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _text_as_text(sheet) -> None:
    """Every text cell stays text: openpyxl stores a string that starts with "=" as a live
    formula, so a measure named "=1+2" or a definition holding =HYPERLINK(...) would run in
    the partner's Excel."""
    for row in sheet.iter_rows():
        for cell in row:
            if isinstance(cell.value, str):
                cell.data_type = "s"




OVERDUE_AFTER = {"week": 14, "month": 45}  # days after a period starts before it is overdue


def entry_rows(db: Database, scope: Scope, organisation: str, *, today: dt.date | None = None,
               recent: int = 8) -> pd.DataFrame:
    """The rows of the browser's entry grid for one organisation: each active measure's
    periods still due (no result yet), the `recent` latest of them, newest first, each with
    the last value stored for the measure there and whether it is overdue."""
    today = today or clock.today()
    measures = _active_measures(db, scope)  # the reader's names: built once, used thrice
    due = template_frame(db, scope, organisation, today, measures=measures)
    if due.empty:
        return due.assign(due=[], last=[])
    due["day"] = pd.to_datetime(due["period"]).dt.date
    due = due.sort_values(["measure", "day"], ascending=[True, False])
    due = due.groupby("measure", sort=False).head(recent)
    by_name = measures.set_index("name")
    org_id = int(repo.list_organisations(db, scope).set_index("name").loc[
        due["organisation"].iloc[0], "id"])
    stored = repo_last_values(db, scope, org_id, measures.set_index("id"))
    frequency = due["measure"].map(by_name["frequency"])
    age = (pd.Timestamp(today) - pd.to_datetime(due["day"])).dt.days
    due["due"] = ["overdue" if a > OVERDUE_AFTER[f] else "due"
                  for a, f in zip(age, frequency, strict=True)]
    due["last"] = due["measure"].map(stored).astype(object).fillna("none yet")
    return due.drop(columns="day").reset_index(drop=True)


def repo_last_values(db: Database, scope: Scope, org_id: int,
                     measures: pd.DataFrame | None = None) -> pd.Series:
    """The latest stored result of each measure at an organisation, as text in the measure's
    unit ("16.2 per 100 people (6 / 0.37)", "12 of 20 (60%)"), by measure as this user may
    read its name (`measures`: the reader's measures by id, when the caller has them)."""
    results = observations.load_results(db, scope, organisation_ids=[org_id])
    if results.empty:
        return pd.Series(dtype=object)
    results = results.sort_values("period").groupby("measure_id").tail(1)
    if measures is None:
        measures = reader_view.measures_for(db, scope).set_index("id")
    names = measures["name"]
    kinds = measures["data_kind"].to_dict()
    units = measures["unit"].to_dict()
    text = [_result_text(v, n, d, kinds.get(m, "rate"), units.get(m))
            for v, n, d, m in zip(results["value"], results["numerator"],
                                  results["denominator"], results["measure_id"], strict=True)]
    when = pd.to_datetime(results["period"]).dt.strftime("%d %b %Y")
    return pd.Series([f"{t} ({w})" for t, w in zip(text, when, strict=True)],
                     index=results["measure_id"].map(names).to_numpy())


def _result_text(value, numerator, denominator, kind: str, unit) -> str:
    unit = unit if isinstance(unit, str) else ""
    if pd.notna(value):
        return f"{value:g} {unit}".strip()
    if kind == "proportion":
        return f"{numerator:g} of {denominator:g} ({numerator / denominator:.0%})"
    return f"{numerator / denominator:.3g} {unit} ({numerator:g} / {denominator:g})".replace(
        "  ", " ")


def entered_csv(rows: pd.DataFrame) -> bytes:
    """What was typed into the entry grid as a results file in the template's layout, so it
    goes through exactly the checks, preview and commit of an uploaded file. Rows left empty
    are left out; the spreadsheet row numbers in messages are the grid's rows + 1."""
    frame = rows.reindex(columns=list(COLUMNS))
    return frame.to_csv(index=False, lineterminator="\n").encode("utf-8")
