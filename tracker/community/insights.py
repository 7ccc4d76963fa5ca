"""Discovery insights: what the discovery phase heard (an interview, a survey, a workshop,
the literature, data), when, in a summary, with a quote only where the person agreed to be
quoted, and the drivers and ideas it informs. The driver diagram counts the insights behind
each driver; an idea's learning record lists the insights behind it.

The lab admin records them, one by one or from a CSV or Excel list (read, every row checked,
a preview, then all of it or nothing, as the people import). Everyone in the lab (the lab
team, partners, viewers) reads them as their audience may: a summary or quote that names an
organisation or person the reader may not see is withheld, and said. A contributor reads
none here (they are the lab's working notes).
"""

from __future__ import annotations

import hashlib

import pandas as pd

from tracker import clock
from tracker.access.scope import Scope
from tracker.errors import InputError, PermissionDenied
from tracker.intake.upload_read import Problem, Refused, Report, read_listing
from tracker.records import reader_view, repo
from tracker.storage.db import Database
from tracker.storage.store import MAX_SHORT, _audit, _Checks, _insert
from tracker.text import day_written, has_control, no_such_day

SOURCES = {"interview": "Interview", "survey": "Survey", "workshop": "Workshop",
           "literature": "Literature", "data": "Data"}
SUMMARY_LIMIT, QUOTE_LIMIT = 1500, 600
COLUMNS = {"source": "source", "date": "heard_on", "heard on": "heard_on",
           "period": "heard_on",  # the upload reader reads a "date" column as the period
           "summary": "summary", "quote": "quote", "quote consent": "quote_consent",
           "may be quoted": "quote_consent", "drivers": "drivers", "driver": "drivers",
           "ideas": "ideas", "idea": "ideas"}
YES, NO = {"yes", "y", "true", "1", "agreed"}, {"no", "n", "false", "0", ""}
WITHHELD = "(withheld: it names someone or something that may not be named here)"


def _check(c: _Checks, challenge_id: int, source, heard_on, summary, quote, quote_consent,
           driver_ids, idea_ids, drivers: set, ideas: set) -> dict:
    fields = {
        "source": c.choice(source, "Source", SOURCES),
        "heard_on": c.date(heard_on, "Date heard"),
        "summary": c.text(summary, "Summary", limit=SUMMARY_LIMIT),
        "quote": c.text(quote, "Quote", required=False, limit=QUOTE_LIMIT),
        "quote_consent": bool(quote_consent),
    }
    if fields["heard_on"] and fields["heard_on"] > clock.today():
        c.problems.append("Date heard is in the future; give the day it was heard.")
    if fields["quote"] and not fields["quote_consent"]:
        c.problems.append("A quote is kept only where the person agreed to be quoted: tick "
                          "'They agreed to be quoted', or leave the quote out.")
    for d in driver_ids or []:
        if int(d) not in drivers:
            c.problems.append("A driver chosen is not one of this challenge's; choose again.")
    for i in idea_ids or []:
        if int(i) not in ideas:
            c.problems.append("An idea chosen is not one of this challenge's; choose again.")
    return fields


def _known(db: Database, challenge_id: int) -> tuple[set, set]:
    drivers = set(repo.list_drivers(db, challenge_id)["id"].astype(int))
    ideas = set(repo.list_ideas(db, challenge_id)["id"].astype(int))
    return drivers, ideas


def _store(cur, scope: Scope, challenge_id: int, fields: dict, driver_ids, idea_ids,
           source_file: str | None = None) -> int:
    row = {"challenge_id": int(challenge_id), **fields, "recorded_by": scope.actor,
           "recorded_at": clock.now()}
    new_id = _insert(cur, "insight", row)
    for d in sorted({int(d) for d in driver_ids or []}):
        cur.execute("INSERT INTO insight_driver (insight_id, driver_id) VALUES (?, ?)",
                    [new_id, d])
    for i in sorted({int(i) for i in idea_ids or []}):
        cur.execute("INSERT INTO insight_idea (insight_id, idea_id) VALUES (?, ?)",
                    [new_id, i])
    _audit(cur, scope.actor, "import" if source_file else "create", "insight", new_id, None,
           {"source": fields["source"], "heard_on": fields["heard_on"],
            "quote": bool(fields["quote"])} | ({"file": source_file} if source_file else {}))
    return new_id


def add_insight(db: Database, scope: Scope, challenge_id: int, *, source, heard_on, summary,
                quote=None, quote_consent=False, driver_ids=(), idea_ids=()) -> int:
    scope.require_admin("record discovery insights")
    c = _Checks()
    drivers, ideas = _known(db, challenge_id)
    fields = _check(c, challenge_id, source, heard_on, summary, quote, quote_consent,
                    driver_ids, idea_ids, drivers, ideas)
    c.raise_if_any()
    with db.transaction() as cur:
        return _store(cur, scope, challenge_id, fields, driver_ids, idea_ids)


def retire(db: Database, scope: Scope, insight_id: int) -> None:
    scope.require_admin("retire discovery insights")
    with db.transaction() as cur:
        if cur.execute("SELECT 1 FROM insight WHERE id = ?", [int(insight_id)]).fetchone() \
                is None:
            raise InputError("That insight no longer exists; reload the page.")
        cur.execute("UPDATE insight SET retired_at = ? WHERE id = ? AND retired_at IS NULL",
                    [clock.now(), int(insight_id)])
        _audit(cur, scope.actor, "update", "insight", int(insight_id), None, {"retired": True})


# --------------------------------------------------------------------------- reading


def list_insights(db: Database, scope: Scope, challenge_id: int, *, source=None,
                  driver_id=None, idea_id=None, search: str | None = None,
                  view: reader_view.ReaderView | None = None) -> pd.DataFrame:
    """The challenge's insights as this reader may read them, newest first: id, source,
    heard_on, summary, quote (None where not agreed, withheld where it names someone),
    drivers and ideas (names as the reader reads them), driver_ids, idea_ids. `search` looks
    for every word in what the reader may read. The list is empty, and nothing more is read,
    where the challenge has no insight."""
    scope.require_member("the discovery insights")
    where, params = ["i.challenge_id = ?", "i.retired_at IS NULL"], [challenge_id]
    if source:
        where.append("i.source = ?")
        params.append(source)
    if driver_id is not None:
        where.append("i.id IN (SELECT insight_id FROM insight_driver WHERE driver_id = ?)")
        params.append(int(driver_id))
    if idea_id is not None:
        where.append("i.id IN (SELECT insight_id FROM insight_idea WHERE idea_id = ?)")
        params.append(int(idea_id))
    frame = db.read(f"SELECT i.* FROM insight i WHERE {' AND '.join(where)}"
                    " ORDER BY i.heard_on DESC, i.id DESC", params)
    columns = ["id", "source", "heard_on", "summary", "quote", "driver_ids", "idea_ids",
               "drivers", "ideas"]
    if frame.empty:
        return pd.DataFrame(columns=columns)
    links_d = db.read("SELECT insight_id, driver_id FROM insight_driver")
    links_i = db.read("SELECT insight_id, idea_id FROM insight_idea")
    # the reader's names and texts (`view`, where the caller holds them for this challenge)
    view = view or reader_view.for_reader(db, scope, repo.get_challenge(db, challenge_id))
    a = view.audience
    driver_names = dict(zip(view.drivers["id"].astype(int), view.drivers["name"], strict=True))
    idea_names = dict(zip(view.ideas["id"].astype(int), view.ideas["title"], strict=True))
    rows = []
    for r in frame.to_dict("records"):
        d_ids = sorted(int(d) for d in links_d.loc[links_d["insight_id"] == r["id"],
                                                   "driver_id"])
        i_ids = sorted(int(i) for i in links_i.loc[links_i["insight_id"] == r["id"],
                                                   "idea_id"])
        summary = a.passage(r["summary"], "An insight's summary") if a.checks_text \
            else r["summary"]
        quote = r["quote"] if r["quote_consent"] and isinstance(r["quote"], str) else None
        if quote and a.checks_text:
            quote = a.passage(quote, "An insight's quote")
        rows.append({"id": int(r["id"]), "source": r["source"], "heard_on": r["heard_on"],
                     "summary": summary if summary is not None else WITHHELD,
                     "quote": quote, "driver_ids": d_ids, "idea_ids": i_ids,
                     "drivers": "; ".join(driver_names.get(d, "a driver") for d in d_ids),
                     "ideas": "; ".join(idea_names.get(i, "an idea") for i in i_ids)})
    out = pd.DataFrame(rows, columns=["id", "source", "heard_on", "summary", "quote",
                                      "driver_ids", "idea_ids", "drivers", "ideas"])
    if search and search.strip():
        words = search.casefold().split()[:12]
        text = (out["summary"].fillna("") + " " + out["quote"].fillna("") + " "
                + out["drivers"] + " " + out["ideas"]).str.casefold()
        keep = pd.Series(True, index=out.index)
        for word in words:
            keep &= text.str.contains(word, regex=False)
        out = out[keep]
    return out.reset_index(drop=True)


def counts_by_driver(db: Database, challenge_id: int) -> dict[int, int]:
    """driver id -> how many insights (not retired) stand behind it: counts only, for every
    reader of the driver diagram."""
    found = db.read("SELECT d.driver_id, count(*) AS n FROM insight_driver d"
                    " JOIN insight i ON i.id = d.insight_id"
                    " WHERE i.challenge_id = ? AND i.retired_at IS NULL GROUP BY 1",
                    [challenge_id])
    return {int(d): int(n) for d, n in zip(found["driver_id"], found["n"], strict=True)}


# --------------------------------------------------------------------------- import


def check(db: Database, scope: Scope, challenge_id: int, data: bytes, file_name: str) -> Report:
    """Read and check a list of insights; writes nothing. `report.plan` is the preview."""
    report = Report(file_name=file_name, size=len(data), sha256=hashlib.sha256(data).hexdigest())
    try:
        if not scope.is_admin:
            raise PermissionDenied("Only the lab admin may import discovery insights.")
        with db.cursor() as cur:
            names, raw = read_listing(cur, data, file_name, report)
        _rows(db, report, challenge_id, names, raw)
    except (Refused, PermissionDenied) as refusal:
        report.errors.insert(0, Problem(None, None, None, str(refusal)))
    return report


def commit(db: Database, scope: Scope, challenge_id: int, data: bytes, file_name: str
           ) -> Report:
    """Check the list again and, with no problem, store every insight in one transaction."""
    report = check(db, scope, challenge_id, data, file_name)
    if not report.ok or report.new == 0:
        return report
    with db.transaction() as cur:
        for row in report.plan.to_dict("records"):
            fields = {k: row[k] for k in ("source", "heard_on", "summary", "quote",
                                          "quote_consent")}
            _store(cur, scope, challenge_id, fields, row["driver_ids"], row["idea_ids"],
                   source_file=file_name)
    return report


def _split(cell: str) -> list[str]:
    return [part.strip() for part in cell.split(";") if part.strip()]


def _rows(db: Database, report: Report, challenge_id: int, names: list[str],
          raw: pd.DataFrame) -> None:
    mapped = {}
    for i, name in enumerate(names):
        key = COLUMNS.get(" ".join(str(name).replace("_", " ").split()).casefold())
        if key in mapped.values():
            raise Refused(f"Two columns mean '{key.replace('_', ' ')}'; keep one.")
        if key:
            mapped[f"h{i}"] = key
    missing = [c for c in ("source", "heard_on", "summary") if c not in mapped.values()]
    if missing:
        raise Refused("The first row should name the columns; "
                      + " and ".join(f"'{ {'heard_on': 'date'}.get(m, m) }'" for m in missing)
                      + " not found. Columns: source, date, summary, quote, quote consent, "
                        "drivers, ideas (several drivers or ideas separated by ;).")
    frame = raw.rename(columns=mapped)
    for column in set(COLUMNS.values()):
        if column not in frame.columns:
            frame[column] = None
    drivers = repo.list_drivers(db, challenge_id)
    ideas = repo.list_ideas(db, challenge_id)
    driver_by = {repo._norm(n): int(i) for i, n in zip(drivers["id"], drivers["name"],
                                                       strict=True)}
    idea_by = {repo._norm(n): int(i) for i, n in zip(ideas["id"], ideas["title"], strict=True)}
    sources = {k: k for k in SOURCES} | {v.casefold(): k for k, v in SOURCES.items()}
    out, today = [], clock.today()
    for row in frame.itertuples():
        line = int(row.row_no)
        cells = {c: ("" if getattr(row, c) is None or pd.isna(getattr(row, c))
                     else str(getattr(row, c)).strip()) for c in set(COLUMNS.values())}
        if not any(cells.values()):
            report.empty_rows += 1
            continue
        report.rows += 1
        for column, value in cells.items():
            if has_control(value):
                report.error(line, column, None, "holds an invisible or control character; "
                                                 "retype it without it.")
        source = sources.get(cells["source"].casefold())
        if source is None:
            report.error(line, "source", cells["source"],
                         "is not one of: " + ", ".join(SOURCES.values()) + ".")
        heard = day_written(cells["heard_on"])
        if heard is None:
            report.error(line, "date", cells["heard_on"] or None,
                         no_such_day(cells["heard_on"]) or "is not a date; write it as "
                         "YYYY-MM-DD or DD/MM/YYYY.")
        elif heard > today:
            report.error(line, "date", cells["heard_on"], "is in the future.")
        if not cells["summary"]:
            report.error(line, "summary", None, "is empty: say what was heard.")
        elif len(cells["summary"]) > SUMMARY_LIMIT:
            report.error(line, "summary", cells["summary"][:60],
                         f"is longer than {SUMMARY_LIMIT:,} characters.")
        consent = cells["quote_consent"].casefold()
        if consent not in YES | NO:
            report.error(line, "quote consent", cells["quote_consent"],
                         "should be yes or no (blank is no).")
        if cells["quote"] and consent not in YES:
            report.error(line, "quote", cells["quote"][:60], "is given without the person's "
                         "agreement to be quoted: write yes under 'quote consent', or leave "
                         "the quote out.")
        elif len(cells["quote"]) > QUOTE_LIMIT:
            report.error(line, "quote", cells["quote"][:60],
                         f"is longer than {QUOTE_LIMIT:,} characters.")
        d_ids, i_ids = [], []
        for label, text, known, found in (("drivers", cells["drivers"], driver_by, d_ids),
                                          ("ideas", cells["ideas"], idea_by, i_ids)):
            for part in _split(text):
                if len(part) > MAX_SHORT or repo._norm(part) not in known:
                    report.error(line, label, part[:60], f"is not one of this challenge's "
                                 f"{label}: write its name as the tracker shows it.")
                else:
                    found.append(known[repo._norm(part)])
        out.append({"row": line, "source": source, "heard_on": heard,
                    "summary": cells["summary"], "quote": cells["quote"] or None,
                    "quote_consent": consent in YES, "driver_ids": d_ids, "idea_ids": i_ids})
    if report.rows == 0 and report.ok:
        raise Refused("The file has column names but no insight in it.")
    report.plan = pd.DataFrame(out, columns=["row", "source", "heard_on", "summary", "quote",
                                             "quote_consent", "driver_ids", "idea_ids"])
    report.new = len(report.plan) if report.ok else 0
