"""The audit log as the reader may see it, and what the database holds (its version, empty or not)."""

from __future__ import annotations

import pandas as pd

from tracker.access.scope import Scope
from tracker.storage.db import Database

# --------------------------------------------------------------------------- audit and state


def list_audit(db: Database, scope: Scope, *, limit: int | None = 200, actor: str | None = None,
               entity: str | None = None, action: str | None = None, since=None,
               until=None) -> pd.DataFrame:
    """The audit log, newest first, with filters. Admins only. Nothing here (or anywhere)
    updates or deletes it."""
    scope.require_admin("read the audit log")
    where, params = ["1=1"], []
    for column, value in (("actor", actor), ("entity", entity), ("action", action)):
        if value:
            where.append(f"{column} = ?")
            params.append(value)
    if since is not None:
        where.append("happened_at >= ?")
        params.append(since)
    if until is not None:
        where.append("happened_at < ?")
        params.append(until)
    sql = ("SELECT id, happened_at, actor, action, entity, entity_id, before, after FROM"
           f" audit_log WHERE {' AND '.join(where)} ORDER BY id DESC")
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    return db.read(sql, params)


# Audited events that change none of the lab's data: a sign-in, a refused one, an export.
QUIET_ACTIONS = ("login", "login_failed", "export")
_VERSION = ("SELECT coalesce(max(id), 0) FROM audit_log WHERE action NOT IN ("
            + ", ".join(f"'{action}'" for action in QUIET_ACTIONS) + ")")  # literals above


def data_version(db: Database) -> int:
    """A number that changes whenever the lab's data is changed: every change writes an audit
    row. Caches key on it (with the viewer's scope) so a write is seen at once. A sign-in is
    audited too but changes nothing a cache holds: counted, every sign-in by anyone made every
    cache of every person compute again (the Summary, the signals, a second each at scale)."""
    return int(db.scalar(_VERSION))


def is_empty(db: Database) -> bool:
    """True when the database holds no data of the lab yet (a fresh file)."""
    return not db.scalar(
        "SELECT (SELECT count(*) FROM challenge) + (SELECT count(*) FROM organisation)"
        " + (SELECT count(*) FROM measure) + (SELECT count(*) FROM result)"
    )
