"""Sign-in that survives a refresh, a new tab and a deep link.

Streamlit keeps who is signed in in the page's websocket session, which a refresh ends. The
tracker therefore keeps a server-side session per sign-in and an HttpOnly cookie that names
it:

0. Every page the server sends a browser without one sets a random cookie, BROWSER_COOKIE
   (server.py), before any sign-in form is shown.
1. After the sign-in form succeeds, `start` stores a session with a one-time *ticket* (valid
   for TICKET_LIFE), bound to a hash of that browser's cookie. The tab that signed in goes on
   at once, signed in (its websocket session keeps the scope and the session's id), and its
   page asks the tracker's own route `/tracker/session?ticket=...&then=stay` (server.py) in
   the background. (Without `then=stay` the route redirects to `next=/page`: a whole page
   load, which a sign-in waited for until issue 22.)
2. The route calls `redeem`: only in the same browser (login CSRF: an attacker's ticket,
   linked from another site, signs nobody else in), the ticket is used up, a random *token*
   is made, and the route sets it as the cookie `tracker_session` (HttpOnly, SameSite=Lax,
   Secure over HTTPS).
3. On every new websocket session (a refresh, a new tab), `resume` finds the session by the
   cookie's token and gives back the account's scope, unless the session ended: idle longer
   than auth.IDLE_TIMEOUT, logged out (`end`), or the account changed since (its session
   version: password reset, role change, disabled).

Only SHA-256 hashes of tickets and tokens are stored. Nothing here imports Streamlit.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from urllib.parse import urlsplit

from tracker.access import auth
from tracker.storage.base import retry_races
from tracker.storage.db import Database

COOKIE = "tracker_session"
# a random value the server gives each browser before its sign-in form (server.py): a
# sign-in's ticket is redeemed only in the browser that started it (login CSRF)
BROWSER_COOKIE = "tracker_browser"
ROUTE = "/tracker/session"  # served by server.py, under the base URL path
TICKET_LIFE = dt.timedelta(seconds=60)
SEEN_EVERY = dt.timedelta(seconds=60)  # how often a running session records activity


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


@retry_races
def start(db: Database, scope: auth.Scope, browser: str, now: dt.datetime | None = None) -> str:
    """A new session for a signed-in account, bound to the browser that signed in (its
    BROWSER_COOKIE); returns the one-time ticket for the route."""
    if not browser:
        raise ValueError("a sign-in must be bound to the browser that started it")
    now = now or dt.datetime.now()
    ticket = secrets.token_urlsafe(32)
    with db.transaction(lock="accounts") as cur:
        cur.execute("INSERT INTO web_session (account_id, session_version, ticket_hash,"
                    " ticket_expires, created_at, last_seen, browser_hash)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [scope.account_id, scope.session_version, _hash(ticket),
                     now + TICKET_LIFE, now, now, _hash(browser)])
    return ticket


def ticket_session(db: Database, ticket: str) -> int | None:
    """The id of the session a ticket was given for, until the ticket is used up: the tab that
    signed in names its session by it, since its websocket never carries the cookie set after."""
    return db.scalar("SELECT id FROM web_session WHERE ticket_hash = ?", [_hash(ticket)])


@retry_races
def redeem(db: Database, ticket: str, browser: str | None,
           now: dt.datetime | None = None) -> str | None:
    """Use up a ticket in the browser that started the sign-in (its BROWSER_COOKIE): the
    session's cookie token, or None (unknown, used, expired, or another browser's)."""
    if not browser:
        return None
    now = now or dt.datetime.now()
    token = secrets.token_urlsafe(32)
    with db.transaction(lock="accounts") as cur:
        found = cur.execute("SELECT id FROM web_session WHERE ticket_hash = ?"
                            " AND ticket_expires > ? AND ended_at IS NULL"
                            " AND browser_hash = ?",
                            [_hash(ticket or ""), now, _hash(browser)]).fetchone()
        if found is None:
            return None
        cur.execute("UPDATE web_session SET ticket_hash = NULL, ticket_expires = NULL,"
                    " token_hash = ?, last_seen = ? WHERE id = ?", [_hash(token), now, found[0]])
    return token


@retry_races
def resume(db: Database, token: str | None,
           now: dt.datetime | None = None) -> tuple[auth.Scope | None, str | None]:
    """The scope of the session a cookie names, and why not when it cannot go on: (scope,
    None) to continue, (None, reason) when it ended, (None, None) when there is none."""
    if not token:
        return None, None
    now = now or dt.datetime.now()
    found = db.read(
        "SELECT s.id, s.session_version, s.last_seen, s.ended_at, a.username"
        " FROM web_session s JOIN account a ON a.id = s.account_id WHERE s.token_hash = ?",
        [_hash(token)])
    if found.empty or found["ended_at"].notna().iloc[0]:
        return None, None
    row = found.iloc[0]
    if now - row["last_seen"].to_pydatetime() > auth.IDLE_TIMEOUT:
        end(db, int(row["id"]), now)
        return None, ("Your session ended after 30 minutes without activity. Please sign in "
                      "again.")
    scope = auth.scope_of_account(db, row["username"])
    if scope is None or scope.session_version != int(row["session_version"]):
        end(db, int(row["id"]), now)
        return None, ("Your password or role was changed, or your account was disabled, so "
                      "you were signed out. Please sign in again.")
    return scope, None


def _which(session: int | str) -> tuple[str, object]:
    """A session named by its id (this tab's, kept by the server) or by the cookie's token."""
    return ("id = ?", session) if isinstance(session, int) else \
        ("token_hash = ?", _hash(session))


def ended(db: Database, session: int | str | None) -> bool:
    """Whether a session has ended (logged out in any tab or browser that holds a copy of
    the cookie, or ended by idleness): checked on every rerun, so a logout ends that session
    everywhere at the next click of every open tab. By the cookie's token, or by id."""
    if session in (None, ""):
        return False
    where, key = _which(session)
    return bool(db.scalar(f"SELECT count(*) FROM web_session WHERE {where}"
                          " AND ended_at IS NOT NULL", [key]))


def session_id(db: Database, token: str | None) -> int | None:
    if not token:
        return None
    return db.scalar("SELECT id FROM web_session WHERE token_hash = ? AND ended_at IS NULL",
                     [_hash(token)])


@retry_races
def seen(db: Database, session: int | str | None, now: dt.datetime | None = None) -> None:
    """Record activity (at most once every SEEN_EVERY), so a refresh after a busy hour does
    not count as idle. By the cookie's token, or by id."""
    if session in (None, ""):
        return
    now = now or dt.datetime.now()
    where, key = _which(session)
    with db.transaction(lock="accounts") as cur:
        cur.execute(f"UPDATE web_session SET last_seen = ? WHERE {where}"
                    " AND ended_at IS NULL AND last_seen < ?", [now, key, now - SEEN_EVERY])


@retry_races
def end(db: Database, session: int | str | None, now: dt.datetime | None = None) -> None:
    """End a session (log out): by id, or by the cookie's token."""
    if session is None:
        return
    now = now or dt.datetime.now()
    where, key = _which(session)
    with db.transaction(lock="accounts") as cur:
        cur.execute(f"UPDATE web_session SET ended_at = ? WHERE {where} AND ended_at IS NULL",
                    [now, key])


def safe_next(path: str | None) -> str:
    """Where to send the browser after sign-in: a path of this site only, never elsewhere."""
    if not path:
        return "/"
    parts = urlsplit(path)
    if parts.scheme or parts.netloc or not parts.path.startswith("/") or \
            parts.path.startswith("//") or "\\" in path:
        return "/"
    return parts.path + (f"?{parts.query}" if parts.query else "")


def base_path(option: str | None) -> str:
    """Streamlit's server.baseUrlPath as a path prefix: "" (served at the root) or "/lab-a".
    Several labs behind one proxy each have their own; the tracker's routes and its session
    cookie live under it, so one lab's cookie is never sent to another."""
    cleaned = (option or "").strip().strip("/")
    return f"/{cleaned}" if cleaned else ""
