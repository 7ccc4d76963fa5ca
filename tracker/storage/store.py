"""What every write of the data layer shares: input checks that collect every problem in
plain words, name matching, the append-only audit log, and small row helpers.

The table and column names these helpers take are always the data layer's own literals,
never user input; values always travel as parameters.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable
from typing import Any

from tracker import text as text_rules
from tracker.errors import InputError

MAX_SHORT = 200
MAX_LONG = 5000
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


# --------------------------------------------------------------------------- input checks


class _Checks:
    """Collects every problem with a form, so the user sees them all at once."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def text(self, value: Any, label: str, *, required: bool = True, limit: int = MAX_SHORT):
        """A text field. Short ones (names, codes, up to MAX_SHORT characters) are one line,
        NFKC-normalised, with no invisible character; long ones may hold line breaks and
        tabs but no other control character and no direction override."""
        text = "" if value is None else str(value).strip()
        if limit <= MAX_SHORT and text:
            hidden = text_rules.invisible(text)
            if hidden:
                self.problems.append(f"{label} holds invisible characters ({', '.join(hidden[:3])})"
                                     "; retype it without them.")
                return None
            text = text_rules.normalise_name(text)
        elif text_rules.has_control(text):
            self.problems.append(f"{label} holds an invisible control character (such as NUL "
                                 "or a direction override); retype it without it.")
            return None
        if required and not text:
            self.problems.append(f"{label} is required: please fill it in.")
        elif len(text) > limit:
            self.problems.append(
                f"{label} is {len(text):,} characters long; please keep it under {limit:,}."
            )
        return text or None

    def choice(self, value: Any, label: str, allowed: dict[str, str], *, required: bool = True):
        if value is None or value == "":
            if required:
                self.problems.append(f"{label} is required: choose one of the options.")
            return None
        if value not in allowed:
            options = ", ".join(allowed.values())
            self.problems.append(f"{label} '{value}' is not one of: {options}.")
            return None
        return value

    def date(self, value: Any, label: str, *, required: bool = True) -> dt.date | None:
        if value is None or value == "":
            if required:
                self.problems.append(f"{label} is required: give a date.")
            return None
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        try:
            return dt.date.fromisoformat(str(value).strip())
        except ValueError:
            missing = text_rules.no_such_day(value)
            self.problems.append(f"{label} '{value}' is not a date: {missing}" if missing else
                                 f"{label} '{value}' is not a date; write it as YYYY-MM-DD.")
            return None

    def number(self, value: Any, label: str, *, required: bool = False) -> float | None:
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                self.problems.append(f"{label} is required: give a number.")
            return None
        try:
            number = float(str(value).strip().replace(",", "")) if isinstance(value, str) else float(value)
        except (TypeError, ValueError):
            self.problems.append(f"{label} '{value}' is not a number.")
            return None
        if number != number or number in (float("inf"), float("-inf")):
            self.problems.append(f"{label} must be a finite number.")
            return None
        return number

    def email(self, value: Any, label: str) -> str | None:
        text = self.text(value, label, required=False)
        if text and not _EMAIL.match(text):
            self.problems.append(f"{label} '{text}' does not look like an e-mail address.")
        return text

    def order(self, start: dt.date | None, end: dt.date | None, what: str, *, strict=False):
        if start and end and (end <= start if strict else end < start):
            self.problems.append(
                f"The end date of the {what} ({end:%d %b %Y}) is before its start date "
                f"({start:%d %b %Y}); check both dates."
            )

    def raise_if_any(self) -> None:
        if self.problems:
            raise InputError(self.problems)


def _norm(name: str) -> str:
    """Names are matched by their confusable key: case, spaces, full-width forms and
    lookalike letters from other scripts do not make a different name (tracker.text)."""
    return text_rules.name_key(name)


def _ids(values: Iterable | None) -> list[int]:
    return sorted({int(v) for v in (values or [])})


# --------------------------------------------------------------------------- audit


def _jsonable(row: dict | None) -> str | None:
    if row is None:
        return None
    return json.dumps(row, default=str, sort_keys=True)


def _audit(cur, actor: str, action: str, entity: str, entity_id, before=None, after=None):
    cur.execute(
        "INSERT INTO audit_log (actor, action, entity, entity_id, before, after)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        [actor, action, entity, entity_id, _jsonable(before), _jsonable(after)],
    )


def _row(cur, table: str, row_id: int) -> dict | None:
    # `table` is always one of this module's literals, never user input.
    cur.execute(f"SELECT * FROM {table} WHERE id = ?", [row_id])
    found = cur.fetchone()
    if found is None:
        return None
    return dict(zip([d[0] for d in cur.description], found, strict=True))


def _insert(cur, table: str, fields: dict) -> int:
    cols = ", ".join(fields)
    marks = ", ".join("?" for _ in fields)
    cur.execute(f"INSERT INTO {table} ({cols}) VALUES ({marks}) RETURNING id", list(fields.values()))
    return int(cur.fetchone()[0])


def _update(cur, actor: str, table: str, row_id: int, fields: dict, entity: str) -> dict:
    before = _row(cur, table, row_id)
    if before is None:
        raise InputError(f"That {entity} no longer exists; reload the page.")
    changed = {k: v for k, v in fields.items() if before.get(k) != v}
    if changed:
        sets = ", ".join(f"{k} = ?" for k in changed)
        cur.execute(f"UPDATE {table} SET {sets} WHERE id = ?", [*changed.values(), row_id])
        after = _row(cur, table, row_id)
        _audit(cur, actor, "update", entity, row_id, before, after)
    return changed


def _unique_name(cur, table: str, column: str, value: str, label: str, problems: list,
                 exclude_id: int | None = None, scope_sql: str = "", scope_params=()):
    cur.execute(
        f"SELECT id, {column} FROM {table} WHERE 1=1 {scope_sql}", list(scope_params)
    )
    for other_id, other in cur.fetchall():
        if other_id != exclude_id and _norm(other) == _norm(value):
            problems.append(f"{label} '{value}' is already taken by '{other}'; choose another.")
            return


