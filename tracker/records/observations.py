"""Observations (the results partners send) and chart notes: reads scoped to the viewer, the
unnamed aggregate of the other partners (never of fewer than the disclosure threshold), and
the direct load the demo uses. Uploads go through `tracker.intake.ingest`.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from tracker.access.auth import OTHERS
from tracker.access.scope import Scope
from tracker.storage.db import Database
from tracker.storage.store import _audit, _Checks, _ids, _insert

# --------------------------------------------------------------------------- results

DEFAULT_MIN_AGGREGATE = 3


def insert_results(db: Database, scope: Scope, frame: pd.DataFrame, *, source: str,
                   organisation_id: int | None = None, file_name: str | None = None,
                   sha256: str | None = None) -> int:
    """Store a frame of already-validated results as one batch, in one transaction.

    `frame` has columns organisation_id, measure_id, period, value, numerator, denominator,
    note. Rows move as one DataFrame, never one by one.
    """
    scope.require_admin("load results directly")
    columns = ["organisation_id", "measure_id", "period", "value", "numerator", "denominator",
               "note"]
    data = frame.reindex(columns=columns).copy()
    data["period"] = pd.to_datetime(data["period"]).dt.date
    for col in ("value", "numerator", "denominator"):
        data[col] = pd.to_numeric(data[col]).astype("float64")
    data["note"] = data["note"].astype("string")
    with db.transaction() as cur:
        batch_id = _insert(cur, "upload_batch", {
            "organisation_id": organisation_id, "source": source, "file_name": file_name,
            "sha256": sha256, "uploaded_by": scope.actor, "rows_new": len(data)})
        data["batch_id"] = batch_id
        cur.register("incoming_results", data)
        try:
            cur.execute(
                "INSERT INTO result (organisation_id, measure_id, period, value, numerator,"
                " denominator, note, batch_id)"
                " SELECT organisation_id, measure_id, period, value, numerator, denominator,"
                " note, batch_id FROM incoming_results")
        finally:
            cur.unregister("incoming_results")
        _audit(cur, scope.actor, "create", "upload_batch", batch_id, None,
               {"source": source, "rows": len(data), "file_name": file_name})
    return batch_id


def _window(scope: Scope, alias: str = "r") -> tuple[str, list]:
    """SQL (and its parameters) keeping the results of the challenge the reader looks at:
    those whose period falls within its dates (none outside them can be stored)."""
    return (f"(?::DATE IS NULL OR {alias}.period >= ?) AND (?::DATE IS NULL"
            f" OR {alias}.period <= ?)",
            [scope.period_from, scope.period_from, scope.period_to, scope.period_to])


def count_results(db: Database, scope: Scope) -> int:
    """How many current results the challenge the reader looks at holds (by its dates)."""
    window, params = _window(scope)
    return int(db.read(f"SELECT count(*) AS n FROM current_result r WHERE {window}",
                       params)["n"].iloc[0])


def results_freshness(db: Database, scope: Scope) -> pd.DataFrame:
    """For each active organisation: its latest period and when it last sent anything.
    A partner sees its own row and one unnamed row for all the other partners together,
    whose latest period is the typical partner's (the median of theirs: one late partner
    does not make the rest look overdue, nor one early one make them look up to date)."""
    window, params = _window(scope)
    frame = db.read(
        "SELECT o.id AS organisation_id, o.name AS organisation, max(r.period) AS latest_period,"
        " count(r.id) AS results, max(r.recorded_at) AS last_received"
        " FROM organisation o LEFT JOIN current_result r ON r.organisation_id = o.id"
        f" AND {window}"
        " WHERE o.retired_at IS NULL GROUP BY o.id, o.name ORDER BY latest_period NULLS FIRST",
        params)
    if not scope.is_partner:
        return frame
    return _own_and_others(db, frame, scope, lambda others: {
        "latest_period": _typical(others["latest_period"]),
        "results": int(others["results"].sum()),
        "last_received": others["last_received"].max()})


def _typical(periods: pd.Series):
    """The median of the periods (the lower of the middle two: a period some partner sent);
    a partner that sent nothing counts as the earliest."""
    ordered = sorted(periods, key=lambda p: (pd.notna(p), p if pd.notna(p) else 0))
    return ordered[(len(ordered) - 1) // 2] if ordered else None


def load_results(db: Database, scope: Scope, *, measure_id: int | None = None,
                 organisation_ids: Iterable[int] | None = None) -> pd.DataFrame:
    """Current results with names (a partner: its own organisation's only)."""
    scope.require_member("an organisation's results")
    if scope.is_partner:
        wanted = set(organisation_ids) if organisation_ids is not None else None
        organisation_ids = [scope.organisation_id] if wanted is None or \
            scope.organisation_id in wanted else []
    window, params = _window(scope)
    where = [window]
    if measure_id is not None:
        where.append("r.measure_id = ?")
        params.append(measure_id)
    if organisation_ids is not None:
        ids = _ids(organisation_ids) or [-1]
        where.append(f"r.organisation_id IN ({', '.join('?' for _ in ids)})")
        params.extend(ids)
    return db.read(
        "SELECT r.organisation_id, o.name AS organisation, r.measure_id, m.name AS measure,"
        " r.period, r.value, r.numerator, r.denominator, r.note, r.batch_id"
        " FROM current_result r JOIN organisation o ON o.id = r.organisation_id"
        " JOIN measure m ON m.id = r.measure_id"
        f" WHERE {' AND '.join(where)} ORDER BY o.name, m.name, r.period",
        params,
    )


def series_results(db: Database, scope: Scope, organisation_ids: Iterable[int] | None = None,
                   *, targeted_by_cycles: bool = False) -> pd.DataFrame:
    """Every current result the user may see, lean (ids and numbers, no names), each series
    (organisation x measure) together in period order: the input of the batch statistics.
    `targeted_by_cycles`: only the series some PDSA cycle at that organisation targets."""
    if scope.is_partner:
        organisation_ids = [scope.organisation_id] if organisation_ids is None or \
            scope.organisation_id in set(organisation_ids) else []
    window, params = _window(scope)
    where = [window]
    if organisation_ids is not None:
        ids = _ids(organisation_ids) or [-1]
        where.append(f"r.organisation_id IN ({', '.join('?' for _ in ids)})")
        params = params + ids
    if targeted_by_cycles:
        where.append("(r.organisation_id, r.measure_id) IN (SELECT c.organisation_id,"
                     " cm.measure_id FROM cycle c JOIN cycle_measure cm ON cm.cycle_id = c.id)")
    return db.read(
        "SELECT r.organisation_id, r.measure_id, r.period, r.value, r.numerator, r.denominator"
        f" FROM current_result r WHERE {' AND '.join(where)}"
        " ORDER BY r.organisation_id, r.measure_id, r.period", params)


def proportion_totals(db: Database, scope: Scope, measure_id: int, since=None,
                      until=None) -> pd.DataFrame:
    """Numerator and denominator summed over a period for each organisation (for a funnel
    plot). A partner gets its own row and one row for all the other partners together."""
    frame = db.read(
        "SELECT r.organisation_id, o.name AS organisation, sum(r.numerator) AS numerator,"
        " sum(r.denominator) AS denominator FROM current_result r"
        " JOIN organisation o ON o.id = r.organisation_id"
        " WHERE r.measure_id = ? AND r.denominator > 0 AND (?::DATE IS NULL OR r.period >= ?)"
        f" AND (?::DATE IS NULL OR r.period <= ?) AND {_window(scope)[0]}"
        " GROUP BY r.organisation_id, o.name ORDER BY o.name",
        [measure_id, since, since, until, until, *_window(scope)[1]])
    if not scope.is_partner or frame.empty:
        return frame
    return _own_and_others(db, frame, scope, lambda others: {
        "numerator": others["numerator"].sum(), "denominator": others["denominator"].sum()})


def others_series(db: Database, scope: Scope, measure_id: int) -> pd.DataFrame:
    """For a partner: one measure at all the other partners together, period by period, as
    rows shaped like `load_results` under the name "All other partners (n)": proportions and
    rates summed (numerator over denominator), single values averaged over those that sent
    one. Empty when fewer organisations than the disclosure threshold sent results, and for
    anyone but a partner (who sees each organisation by name)."""
    scope.require_member("the partners' results")
    if not scope.is_partner:
        return pd.DataFrame()
    frame = db.read(
        "SELECT r.period, count(DISTINCT r.organisation_id) AS orgs, avg(r.value) AS value,"
        " sum(r.numerator) AS numerator, sum(r.denominator) AS denominator"
        " FROM current_result r JOIN organisation o ON o.id = r.organisation_id"
        " WHERE r.measure_id = ? AND r.organisation_id <> ? AND o.retired_at IS NULL"
        f" AND {_window(scope)[0]} GROUP BY r.period ORDER BY r.period",
        [measure_id, scope.organisation_id, *_window(scope)[1]])
    everyone = db.scalar("SELECT count(DISTINCT organisation_id) FROM current_result r"
                         f" WHERE measure_id = ? AND organisation_id <> ? AND {_window(scope)[0]}",
                         [measure_id, scope.organisation_id, *_window(scope)[1]]) or 0
    if frame.empty or everyone < max(1, disclosure_threshold(db)):
        return pd.DataFrame()
    frame = frame[frame["orgs"] >= disclosure_threshold(db)]  # no period of just one or two
    return frame.drop(columns="orgs").assign(
        organisation=f"{OTHERS} ({everyone})", organisation_id=None, measure_id=measure_id)


def disclosure_threshold(db: Database) -> int:
    """The fewest organisations an unnamed aggregate may hold before it is shown (the
    challenge's setting; 3 when none is set)."""
    found = db.scalar("SELECT min_aggregate_orgs FROM challenge_settings ORDER BY challenge_id"
                      " DESC LIMIT 1")
    return int(found) if found is not None else DEFAULT_MIN_AGGREGATE


def _own_and_others(db: Database, frame: pd.DataFrame, scope: Scope, combine) -> pd.DataFrame:
    """A partner's own rows and one unnamed row for all the other partners together, which
    is left out when it would hold fewer organisations than the disclosure threshold (two
    others could each work out the third's figures)."""
    own = frame[frame["organisation_id"] == scope.organisation_id]
    others = frame[frame["organisation_id"] != scope.organisation_id]
    if len(others) < max(1, disclosure_threshold(db)):
        return own.reset_index(drop=True)
    aggregate = pd.DataFrame([{"organisation_id": None,
                               "organisation": f"{OTHERS} ({len(others)})",
                               **combine(others)}])
    return pd.concat([own, aggregate], ignore_index=True)


# --------------------------------------------------------------------------- chart notes


def list_annotations(db: Database, scope: Scope, measure_id: int,
                     organisation_id: int | None) -> pd.DataFrame:
    """Notes and rebase dates for a measure's chart at one organisation (or for every
    organisation, when they were added without one), with the organisation of the account
    that wrote each (`author_organisation_id`: empty for the lab team)."""
    scope.require_member("the notes on a chart")
    if organisation_id is not None and not scope.sees(organisation_id):
        return pd.DataFrame(columns=["id", "on_date", "kind", "text", "created_by",
                                     "organisation_id", "author_organisation_id"])
    return db.read(
        "SELECT n.id, n.on_date, n.kind, n.text, n.created_by, n.organisation_id,"
        " a.organisation_id AS author_organisation_id FROM annotation n"
        " LEFT JOIN account a ON lower(a.username) = lower(n.created_by)"
        " WHERE n.measure_id = ? AND (n.organisation_id IS NULL OR n.organisation_id = ?)"
        " ORDER BY n.on_date, n.id", [measure_id, organisation_id])


def add_annotation(db: Database, scope: Scope, *, measure_id: int, organisation_id,
                   on_date, kind: str, text) -> int:
    """A dated note on a chart, or a new phase (the limits are recalculated from that date).
    Without an organisation it applies to every organisation's chart (lab admin only). Only
    the lab team starts a new phase: it changes how every later point is judged; a partner
    may add notes to its own charts."""
    if organisation_id is None:
        scope.require_admin("add notes for every organisation")
    else:
        scope.require_org_write(int(organisation_id), "add chart notes")
    if kind == "phase":
        scope.require_admin("start a new phase (rebase) on a chart")
    c = _Checks()
    fields = {
        "measure_id": int(measure_id),
        "organisation_id": None if organisation_id is None else int(organisation_id),
        "on_date": c.date(on_date, "Date"),
        "kind": c.choice(kind, "Kind", {"note": "Note", "phase": "New phase (rebase)"}),
        "text": c.text(text, "Note", limit=500),
        "created_by": scope.actor,
    }
    c.raise_if_any()
    with db.transaction() as cur:
        new_id = _insert(cur, "annotation", fields)
        _audit(cur, scope.actor, "create", "annotation", new_id, None, fields)
    return new_id


