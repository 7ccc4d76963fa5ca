"""The driver diagram (primary and secondary drivers) and the change ideas with their status."""

from __future__ import annotations

import pandas as pd

from tracker import clock, vocab
from tracker.access.scope import Scope
from tracker.errors import InputError
from tracker.storage.db import Database
from tracker.storage.store import (
    MAX_LONG,
    _audit,
    _Checks,
    _ids,
    _insert,
    _row,
    _unique_name,
    _update,
)

# --------------------------------------------------------------------------- drivers


def list_drivers(db: Database, challenge_id: int, include_retired: bool = False) -> pd.DataFrame:
    return db.read(
        "SELECT d.id, d.level, d.name, d.description, d.measure_id, m.name AS measure,"
        " d.position, d.retired_at"
        " FROM driver d LEFT JOIN measure m ON m.id = d.measure_id"
        " WHERE d.challenge_id = ? AND (? OR d.retired_at IS NULL)"
        " ORDER BY d.level, d.position, d.id",
        [challenge_id, include_retired],
    )


def list_driver_links(db: Database, challenge_id: int) -> pd.DataFrame:
    return db.read(
        "SELECT l.primary_id, l.secondary_id FROM driver_link l"
        " JOIN driver d ON d.id = l.primary_id WHERE d.challenge_id = ?",
        [challenge_id],
    )


def _driver_checks(cur, c: _Checks, challenge_id, level, name, primary_ids, exclude_id=None):
    level = c.choice(level, "Driver level", vocab.DRIVER_LEVELS)
    name = c.text(name, "Driver name")
    if name:
        _unique_name(cur, "driver", "name", name, "Driver name", c.problems, exclude_id,
                     "AND challenge_id = ?", [challenge_id])
    primary_ids = _ids(primary_ids)
    if level == "secondary" and not primary_ids:
        c.problems.append("A secondary driver must serve at least one primary driver: pick one.")
    if level == "primary" and primary_ids:
        c.problems.append("A primary driver links to the aim, not to other primary drivers.")
    if primary_ids:
        cur.execute(
            "SELECT id FROM driver WHERE level = 'primary' AND challenge_id = ? AND id IN "
            f"({', '.join('?' for _ in primary_ids)})",
            [challenge_id, *primary_ids],
        )
        if len(cur.fetchall()) != len(primary_ids):
            c.problems.append("One of the chosen primary drivers no longer exists; reload the page.")
    return level, name, primary_ids


def add_driver(db: Database, scope: Scope, challenge_id: int, *, level, name, description=None,
               primary_ids=(), measure_id=None) -> int:
    scope.require_admin("edit the driver diagram")
    c = _Checks()
    with db.transaction() as cur:
        level, name, primary_ids = _driver_checks(cur, c, challenge_id, level, name, primary_ids)
        description = c.text(description, "Description", required=False, limit=MAX_LONG)
        c.raise_if_any()
        cur.execute("SELECT coalesce(max(position), 0) + 1 FROM driver WHERE challenge_id = ?",
                    [challenge_id])
        fields = {"challenge_id": challenge_id, "level": level, "name": name,
                  "description": description, "measure_id": measure_id,
                  "position": cur.fetchone()[0]}
        new_id = _insert(cur, "driver", fields)
        for pid in primary_ids:
            cur.execute("INSERT INTO driver_link VALUES (?, ?)", [pid, new_id])
        _audit(cur, scope.actor, "create", "driver", new_id, None, {**fields, "primary_ids": primary_ids})
    return new_id


def update_driver(db: Database, scope: Scope, driver_id: int, *, name, description=None,
                  primary_ids=(), measure_id=None) -> None:
    scope.require_admin("edit the driver diagram")
    c = _Checks()
    with db.transaction() as cur:
        before = _row(cur, "driver", driver_id)
        if before is None:
            raise InputError("That driver no longer exists; reload the page.")
        _, name, primary_ids = _driver_checks(cur, c, before["challenge_id"], before["level"],
                                              name, primary_ids, exclude_id=driver_id)
        description = c.text(description, "Description", required=False, limit=MAX_LONG)
        c.raise_if_any()
        _update(cur, scope.actor, "driver", driver_id,
                {"name": name, "description": description, "measure_id": measure_id}, "driver")
        if before["level"] == "secondary":
            cur.execute("SELECT primary_id FROM driver_link WHERE secondary_id = ?", [driver_id])
            old = sorted(r[0] for r in cur.fetchall())
            if old != primary_ids:
                cur.execute("DELETE FROM driver_link WHERE secondary_id = ?", [driver_id])
                for pid in primary_ids:
                    cur.execute("INSERT INTO driver_link VALUES (?, ?)", [pid, driver_id])
                _audit(cur, scope.actor, "relink", "driver", driver_id,
                       {"primary_ids": old}, {"primary_ids": primary_ids})


def set_driver_retired(db: Database, scope: Scope, driver_id: int, retired: bool) -> None:
    scope.require_admin("edit the driver diagram")
    with db.transaction() as cur:
        stamp = clock.now() if retired else None
        _update(cur, scope.actor, "driver", driver_id, {"retired_at": stamp}, "driver")


# --------------------------------------------------------------------------- ideas

_IDEA_STATUS_SQL = """
    coalesce(i.status_override,
        CASE
            WHEN last.id IS NULL THEN 'proposed'
            WHEN last.stage <> 'done' THEN 'testing'
            WHEN last.decision = 'adopt' THEN 'adopted'
            WHEN last.decision = 'adapt' THEN 'adapted'
            WHEN last.decision = 'abandon' THEN 'abandoned'
            ELSE 'testing'
        END)
"""


def list_ideas(db: Database, challenge_id: int) -> pd.DataFrame:
    """The register. Status is derived from the idea's latest cycle unless the lab set it."""
    return db.read(
        f"""
        WITH ranked AS (
            SELECT *, row_number() OVER (PARTITION BY idea_id
                                         ORDER BY start_date DESC, cycle_no DESC, id DESC) AS rn
            FROM cycle
        ), last AS (
            SELECT * FROM ranked WHERE rn = 1
        ), counts AS (
            SELECT idea_id, count(*) AS cycles, count(DISTINCT organisation_id) AS organisations,
                   min(start_date) AS first_cycle, max(end_date) AS last_cycle
            FROM cycle GROUP BY idea_id
        ), drivers AS (
            SELECT l.idea_id, string_agg(d.name, '; ' ORDER BY d.position) AS drivers,
                   array_agg(d.id ORDER BY d.id) AS driver_ids
            FROM idea_driver l JOIN driver d ON d.id = l.driver_id GROUP BY l.idea_id
        )
        SELECT i.id, i.title, i.description, {_IDEA_STATUS_SQL} AS status,
               i.status_override IS NOT NULL AS status_set_by_hand,
               coalesce(counts.cycles, 0) AS cycles,
               coalesce(counts.organisations, 0) AS organisations,
               counts.first_cycle, counts.last_cycle,
               coalesce(drivers.drivers, '') AS drivers,
               coalesce(drivers.driver_ids, ARRAY[]::INTEGER[]) AS driver_ids
        FROM idea i
        LEFT JOIN last ON last.idea_id = i.id
        LEFT JOIN counts ON counts.idea_id = i.id
        LEFT JOIN drivers ON drivers.idea_id = i.id
        WHERE i.challenge_id = ?
        ORDER BY i.id
        """,
        [challenge_id],
    )


def list_idea_links(db: Database, challenge_id: int) -> pd.DataFrame:
    return db.read(
        "SELECT l.idea_id, l.driver_id FROM idea_driver l JOIN idea i ON i.id = l.idea_id"
        " WHERE i.challenge_id = ?",
        [challenge_id],
    )


def _idea_checks(cur, c, challenge_id, title, description, driver_ids, status_override,
                 exclude_id=None):
    title = c.text(title, "Idea title")
    if title:
        _unique_name(cur, "idea", "title", title, "Idea title", c.problems, exclude_id,
                     "AND challenge_id = ?", [challenge_id])
    description = c.text(description, "Description", required=False, limit=MAX_LONG)
    status_override = c.choice(status_override, "Status", vocab.IDEA_STATUSES, required=False)
    driver_ids = _ids(driver_ids)
    if driver_ids:
        cur.execute(
            f"SELECT count(*) FROM driver WHERE challenge_id = ? AND id IN "
            f"({', '.join('?' for _ in driver_ids)})",
            [challenge_id, *driver_ids],
        )
        if cur.fetchone()[0] != len(driver_ids):
            c.problems.append("One of the chosen drivers no longer exists; reload the page.")
    return title, description, driver_ids, status_override


def add_idea(db: Database, scope: Scope, challenge_id: int, *, title, description=None,
             driver_ids=(), status_override=None) -> int:
    scope.require_admin("edit the change ideas")
    c = _Checks()
    with db.transaction() as cur:
        title, description, driver_ids, status_override = _idea_checks(
            cur, c, challenge_id, title, description, driver_ids, status_override)
        c.raise_if_any()
        fields = {"challenge_id": challenge_id, "title": title, "description": description,
                  "status_override": status_override}
        new_id = _insert(cur, "idea", fields)
        for did in driver_ids:
            cur.execute("INSERT INTO idea_driver VALUES (?, ?)", [new_id, did])
        _audit(cur, scope.actor, "create", "idea", new_id, None, {**fields, "driver_ids": driver_ids})
    return new_id


def update_idea(db: Database, scope: Scope, idea_id: int, *, title, description=None,
                driver_ids=(), status_override=None) -> None:
    scope.require_admin("edit the change ideas")
    c = _Checks()
    with db.transaction() as cur:
        before = _row(cur, "idea", idea_id)
        if before is None:
            raise InputError("That idea no longer exists; reload the page.")
        title, description, driver_ids, status_override = _idea_checks(
            cur, c, before["challenge_id"], title, description, driver_ids, status_override,
            exclude_id=idea_id)
        c.raise_if_any()
        _update(cur, scope.actor, "idea", idea_id, {"title": title, "description": description,
                                              "status_override": status_override}, "idea")
        cur.execute("SELECT driver_id FROM idea_driver WHERE idea_id = ?", [idea_id])
        old = sorted(r[0] for r in cur.fetchall())
        if old != driver_ids:
            cur.execute("DELETE FROM idea_driver WHERE idea_id = ?", [idea_id])
            for did in driver_ids:
                cur.execute("INSERT INTO idea_driver VALUES (?, ?)", [idea_id, did])
            _audit(cur, scope.actor, "relink", "idea", idea_id, {"driver_ids": old},
                   {"driver_ids": driver_ids})
