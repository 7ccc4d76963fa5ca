"""Tokens for the results API: a partner organisation's own system posts its results with one.

The lab admin makes a token for one organisation and gives it to that organisation once (it is
shown once and never again); the tracker keeps only its SHA-256 hash, and its first
characters so that people can tell tokens apart. A token acts as a partner of its
organisation that may only send results: the same checks, the same all-or-nothing commit and
the same audit as the Upload page. Revoking is immediate and kept (who, when); nothing is
deleted.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets

import pandas as pd

from tracker.access.scope import Scope
from tracker.errors import InputError
from tracker.intake.planning import suggest
from tracker.storage.base import retry_races
from tracker.storage.db import Database
from tracker.storage.store import _audit, _Checks, _norm

PREFIX = "trk_"
SHOWN = 12  # characters kept in clear: "trk_" and 8 of the secret


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def find_organisation(db: Database, name: str, *, active_only: bool = False) -> dict:
    """The organisation with this name (case and spaces ignored), or InputError with the
    nearest names."""
    orgs = db.read("SELECT id, name, retired_at FROM organisation ORDER BY name")
    found = orgs[orgs["name"].map(_norm) == _norm(name or "")]
    if found.empty:
        raise InputError(f"No organisation is called '{name}'."
                         + suggest(name or "", orgs["name"].tolist()))
    row = found.iloc[0]
    if active_only and pd.notna(row["retired_at"]):
        raise InputError(f"{row['name']} is retired: bring it back on the Organisations page "
                         "before giving it a token.")
    return {"id": int(row["id"]), "name": row["name"]}


def create(db: Database, scope: Scope, *, organisation: str, label: str) -> tuple[int, str]:
    """A new token for one organisation. Returns its id and the token itself, which is shown
    to the lab admin this once."""
    scope.require_admin("make API tokens")
    c = _Checks()
    label = c.text(label, "What the token is for (for example 'EMIS nightly export')")
    org = None
    if not (organisation or "").strip():
        c.problems.append("Choose the organisation the token is for.")
    else:
        try:
            org = find_organisation(db, organisation, active_only=True)
        except InputError as exc:
            c.problems.extend(exc.problems)
    c.raise_if_any()
    secret = PREFIX + secrets.token_urlsafe(32)
    with db.transaction(lock="accounts") as cur:
        new_id = cur.execute(
            "INSERT INTO api_token (organisation_id, label, token_hash, shown, created_by)"
            " VALUES (?, ?, ?, ?, ?) RETURNING id",
            [org["id"], label, _hash(secret), secret[:SHOWN], scope.actor]).fetchone()[0]
        _audit(cur, scope.actor, "create", "api_token", new_id, None,
               {"organisation": org["name"], "label": label, "shown": secret[:SHOWN]})
    return int(new_id), secret


def list_tokens(db: Database, scope: Scope) -> pd.DataFrame:
    """Every token, newest first, with its organisation and when it was last used."""
    scope.require_admin("see API tokens")
    return db.read(
        "SELECT t.id, o.name AS organisation, t.label, t.shown || '…' AS token,"
        " t.created_by, t.created_at, u.last_used_at, coalesce(u.uses, 0) AS uses,"
        " t.revoked_by, t.revoked_at"
        " FROM api_token t JOIN organisation o ON o.id = t.organisation_id"
        " LEFT JOIN api_token_use u ON u.token_id = t.id ORDER BY t.id DESC")


def revoke(db: Database, scope: Scope, token_id: int) -> None:
    scope.require_admin("revoke API tokens")
    with db.transaction(lock="accounts") as cur:
        row = cur.execute("SELECT label, revoked_at FROM api_token WHERE id = ?",
                          [token_id]).fetchone()
        if row is None:
            raise InputError(f"There is no API token {token_id}.")
        if row[1] is not None:
            raise InputError(f"API token {token_id} ('{row[0]}') was already revoked on "
                             f"{row[1]:%d %b %Y %H:%M}.")
        cur.execute("UPDATE api_token SET revoked_at = current_timestamp, revoked_by = ?"
                    " WHERE id = ?", [scope.actor, token_id])
        _audit(cur, scope.actor, "revoke", "api_token", token_id, {"revoked_at": None},
               {"revoked_by": scope.actor})


class TokenThrottled(ValueError):
    """Too many wrong tokens from one address: it must wait `seconds` before trying again."""

    def __init__(self, seconds: int):
        self.seconds = seconds
        super().__init__(f"Too many requests with a wrong token from this address: wait "
                         f"{seconds} second{'s' if seconds != 1 else ''}, then try again with "
                         "the right token. Nothing was stored.")


@retry_races
def authenticate(db: Database, secret: str | None, now: dt.datetime | None = None,
                 client: str | None = None) -> Scope | None:
    """The scope a token acts with (a partner of its organisation), or None for a token that
    is unknown, revoked or whose organisation is retired. Records the use.

    With `client` (the address the request came from), wrong tokens are throttled as failed
    sign-ins are (auth.throttle_delay): after a few, that address must wait between tries,
    growing each time (TokenThrottled says how long), whatever token it sends. A request
    with no token at all is not a guess and is not counted."""
    from tracker.access import auth

    if not secret:
        return None
    now = now or dt.datetime.now()
    key = f"api {client}"[:100] if client else None
    with db.transaction(lock="accounts") as cur:
        if key:
            throttle = cur.execute("SELECT failures, last_failure FROM login_throttle"
                                   " WHERE client = ?", [key]).fetchone()
            if throttle and auth.throttle_delay(throttle[0]):
                wait = throttle[1] + auth.throttle_delay(throttle[0]) - now
                if wait > dt.timedelta(0):
                    raise TokenThrottled(max(1, int(wait.total_seconds() + 0.999)))
        row = None
        if secret.startswith(PREFIX) and len(secret) <= 200:
            digest = _hash(secret)
            row = cur.execute(
                "SELECT t.id, t.label, t.token_hash, o.id, o.name FROM api_token t"
                " JOIN organisation o ON o.id = t.organisation_id"
                " WHERE t.token_hash = ? AND t.revoked_at IS NULL AND o.retired_at IS NULL",
                [digest]).fetchone()
            if row is not None and not hmac.compare_digest(row[2], digest):
                row = None
        if row is None:
            if key:
                cur.execute("INSERT INTO login_throttle VALUES (?, 1, ?) ON CONFLICT (client)"
                            " DO UPDATE SET failures = login_throttle.failures + 1,"
                            " last_failure = excluded.last_failure", [key, now])
            return None
        if key:
            cur.execute("DELETE FROM login_throttle WHERE client = ?", [key])
        token_id, label, _, org_id, org_name = row
        cur.execute(
            "INSERT INTO api_token_use (token_id, last_used_at, uses) VALUES (?, ?, 1)"
            " ON CONFLICT (token_id) DO UPDATE SET last_used_at = excluded.last_used_at,"
            " uses = api_token_use.uses + 1", [token_id, now])
    return Scope(actor=f"API token {token_id} '{label}' ({org_name})", role="partner",
                 organisation_id=int(org_id), organisation=org_name)
