"""Accounts, roles and what each user may see and change.

Roles (docs/design.md, "Who may do what"):
- admin: sees everything, changes everything, manages accounts, undoes uploads;
- partner: sees its own organisation's results and cycles, the shared idea list, and other
  organisations only as unnamed aggregates; uploads and logs cycles for its own organisation;
- viewer (leadership): sees everything, changes nothing, may export.

A `Scope` travels with every call into the data layer, which enforces it: pages hide what a
role may not use, but the refusal that counts is in tracker/.
"""

from __future__ import annotations

import datetime as dt
import functools
import re

import pandas as pd
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from tracker.access.scope import ROLES, Scope  # noqa: F401 - re-exported
from tracker.errors import InputError, PermissionDenied
from tracker.storage import store
from tracker.storage.base import retry_races
from tracker.storage.db import Database

MIN_PASSWORD = 12
MAX_FAILED = 5
LOCKOUT = dt.timedelta(minutes=15)
THROTTLE_FREE = 3  # failed sign-ins from one client before it must wait between tries
THROTTLE_MAX = dt.timedelta(minutes=15)
REFUSED = "That username and password do not match an active account."
IDLE_TIMEOUT = dt.timedelta(minutes=30)
OTHERS = "All other partners"
_HASHER = PasswordHasher()  # argon2id with the library's current recommended parameters
_USERNAME = re.compile(r"^[A-Za-z0-9._@-]{3,60}$")


class AuthError(ValueError):
    """Login refused; the message never says whether the user name exists."""




LOCAL_ADMIN = Scope.admin("lab admin (local mode)")


# --------------------------------------------------------------------------- passwords


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def check_password_rules(password: str | None) -> list[str]:
    problems = []
    if not password or len(password) < MIN_PASSWORD:
        problems.append(f"The password must be at least {MIN_PASSWORD} characters long.")
    elif password.strip() != password:
        problems.append("The password must not start or end with a space.")
    return problems


# --------------------------------------------------------------------------- accounts

_ACCOUNT_SELECT = (
    "SELECT a.id, a.username, a.email, a.role, a.organisation_id, o.name AS organisation,"
    " a.failed_attempts, a.locked_until, a.disabled_at, a.last_login_at, a.created_at,"
    " a.session_version"
    " FROM account a LEFT JOIN organisation o ON o.id = a.organisation_id")


def accounts_exist(db: Database) -> bool:
    """Login is on once any account exists; before that the tracker is in local mode."""
    return bool(db.scalar("SELECT count(*) FROM account"))


def list_users(db: Database, scope: Scope) -> pd.DataFrame:
    scope.require_admin("see the accounts")
    return db.read(_ACCOUNT_SELECT + " ORDER BY a.username")


def _user_checks(cur, username, role, organisation_id, email, password, sso_only):
    c = store._Checks()
    username = c.text(username, "Username", limit=60)
    if username and not _USERNAME.match(username):
        c.problems.append("A username may hold letters, digits and . _ @ - (3 to 60 of them).")
    role = c.choice(role, "Role", ROLES)
    email = c.email(email, "E-mail")
    if role == "partner" and organisation_id is None:
        c.problems.append("A partner account belongs to one organisation: choose it.")
    if role in ("admin", "viewer", "contributor") and organisation_id is not None:
        c.problems.append("Only partner accounts belong to an organisation.")
    if organisation_id is not None:
        org = store._row(cur, "organisation", int(organisation_id))
        if org is None:
            c.problems.append("That organisation does not exist.")
        elif org["retired_at"] is not None:
            c.problems.append(f"{org['name']} is retired.")
    if not sso_only:
        c.problems.extend(check_password_rules(password))
    elif not email:
        c.problems.append("An account without a password signs in with single sign-on, so it "
                          "needs the e-mail address the identity provider confirms.")
    cur.execute("SELECT username, email FROM account")
    others = cur.fetchall()
    if username and any(store._norm(u) == store._norm(username) for u, _ in others):
        c.problems.append(f"The username '{username}' is taken.")
    if email and any(e and e.strip().casefold() == email.casefold() for _, e in others):
        c.problems.append(f"The e-mail address {email} belongs to another account; each "
                          "account needs its own (single sign-on finds the account by it).")
    return c, username, role, email


def add_user(db: Database, scope: Scope | None, *, username, role, password=None,
             organisation_id=None, email=None, sso_only: bool = False) -> int:
    """Create an account. The first account must be an admin, and creating it switches
    login on; after that only an admin may add accounts."""
    with db.transaction(lock="accounts") as cur:
        first = cur.execute("SELECT count(*) FROM account").fetchall()[0][0] == 0
        if not first:
            if scope is None:
                raise PermissionDenied("Only the lab admin may add accounts.")
            scope.require_admin("add accounts")
        c, username, role, email = _user_checks(cur, username, role, organisation_id, email,
                                                password, sso_only)
        if first and role != "admin":
            c.problems.append("The first account must be a lab admin (it switches login on).")
        c.raise_if_any()
        fields = {"username": username, "role": role, "email": email,
                  "organisation_id": None if organisation_id is None else int(organisation_id),
                  "password_hash": None if sso_only else hash_password(password)}
        new_id = store._insert(cur, "account", fields)
        actor = scope.actor if scope else "first admin"
        store._audit(cur, actor, "create", "account", new_id, None,
                    {k: v for k, v in fields.items() if k != "password_hash"})
    return new_id


def _set(db: Database, scope: Scope, account_id: int, fields: dict, action: str,
         shown: dict, *, end_sessions: bool = False) -> None:
    """Change an account (lab admins only), audited. `end_sessions` raises the account's
    session version, which ends every session it has open on their next run."""
    scope.require_admin("manage accounts")
    with db.transaction(lock="accounts") as cur:
        before = store._row(cur, "account", account_id)
        if before is None:
            raise InputError("That account does not exist.")
        if end_sessions:
            fields = {**fields, "session_version": before["session_version"] + 1}
        sets = ", ".join(f"{k} = ?" for k in fields)
        cur.execute(f"UPDATE account SET {sets} WHERE id = ?", [*fields.values(), account_id])
        store._audit(cur, scope.actor, action, "account", account_id,
                    {"username": before["username"]}, shown)


def _account_id(db: Database, username: str) -> int:
    for account_id, name in db.read("SELECT id, username FROM account").itertuples(index=False):
        if store._norm(name) == store._norm(username):
            return int(account_id)
    raise InputError(f"No account is called '{username}'.")


def disable_user(db: Database, scope: Scope, username: str) -> None:
    account_id = _account_id(db, username)
    if scope.account_id == account_id:
        raise PermissionDenied("You cannot disable your own account.")
    _set(db, scope, account_id, {"disabled_at": dt.datetime.now()}, "disable",
         {"disabled": True}, end_sessions=True)


def enable_user(db: Database, scope: Scope, username: str) -> None:
    _set(db, scope, _account_id(db, username),
         {"disabled_at": None, "failed_attempts": 0, "locked_until": None}, "enable",
         {"disabled": False})


def unlock_user(db: Database, scope: Scope, username: str) -> None:
    """Lift a lock after failed sign-ins (another lab admin, or the command line)."""
    _set(db, scope, _account_id(db, username), {"failed_attempts": 0, "locked_until": None},
         "unlock", {"locked_until": None})


def reset_password(db: Database, scope: Scope, username: str, password: str) -> None:
    problems = check_password_rules(password)
    if problems:
        raise InputError(problems)
    _set(db, scope, _account_id(db, username),
         {"password_hash": hash_password(password), "failed_attempts": 0, "locked_until": None},
         "reset_password", {"password": "changed"}, end_sessions=True)


def change_role(db: Database, scope: Scope, username: str, role: str,
                organisation_id: int | None = None) -> None:
    """A new role (and organisation, for partners); the account's open sessions end."""
    account_id = _account_id(db, username)
    c = store._Checks()
    role = c.choice(role, "Role", ROLES)
    if role == "partner" and organisation_id is None:
        c.problems.append("A partner account belongs to one organisation: choose it.")
    if role in ("admin", "viewer", "contributor"):
        organisation_id = None
    if scope.account_id == account_id and role != "admin":
        c.problems.append("You cannot take the lab admin role from your own account.")
    c.raise_if_any()
    _set(db, scope, account_id,
         {"role": role, "organisation_id": None if organisation_id is None else
          int(organisation_id)}, "change_role",
         {"role": role, "organisation_id": organisation_id}, end_sessions=True)


def _scope_of(row: dict) -> Scope:
    return Scope(actor=row["username"], role=row["role"],
                 organisation_id=row["organisation_id"], organisation=row["organisation"],
                 account_id=row["id"], session_version=int(row["session_version"]))


def throttle_delay(failures: int) -> dt.timedelta:
    """How long a client waits after its latest failed sign-in: nothing for the first
    THROTTLE_FREE failures, then 2, 4, 8 ... seconds, at most THROTTLE_MAX."""
    if failures < THROTTLE_FREE:
        return dt.timedelta(0)
    return min(dt.timedelta(seconds=2 ** min(failures - THROTTLE_FREE + 1, 20)), THROTTLE_MAX)


@functools.cache
def _dummy_hash() -> str:
    return _HASHER.hash("a password no account has")


def _verify(stored: str | None, password: str) -> bool:
    """Check a password against a hash; with no hash, check against a dummy one, so that an
    unknown, disabled or single-sign-on account takes as long as a real check."""
    try:
        return _HASHER.verify(stored or _dummy_hash(), password or "") and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


@retry_races
def authenticate(db: Database, username: str, password: str,
                 now: dt.datetime | None = None, client: str | None = None) -> Scope:
    """Check a username and password from a client (the address the request came from).

    - A client with THROTTLE_FREE failed sign-ins must wait between tries (delays that
      grow), whatever account it tries: it is told how long, and nothing is checked.
    - Five failures lock an account for 15 minutes for clients that have failed: someone
      guessing from one place cannot keep the real user out from another.
    - Unknown, wrong password, locked and disabled all get the same message after the same
      work (one argon2 check), so the answer does not tell which accounts exist.
    """
    now = now or dt.datetime.now()
    client = client[:100] if isinstance(client, str) and client else "unknown"
    failure: AuthError | None = None
    with db.transaction(lock="accounts") as cur:  # failures are kept although refused
        throttle = cur.execute("SELECT failures, last_failure FROM login_throttle"
                               " WHERE client = ?", [client]).fetchone()
        client_failures = throttle[0] if throttle else 0
        if throttle and throttle_delay(client_failures):
            wait = throttle[1] + throttle_delay(client_failures) - now
            if wait > dt.timedelta(0):
                seconds = max(1, int(wait.total_seconds() + 0.999))
                raise AuthError(f"Too many failed sign-ins from this computer: wait {seconds} "
                                f"second{'s' if seconds != 1 else ''}, then try again.")
        cur.execute(_ACCOUNT_SELECT + " WHERE lower(a.username) = lower(?)",
                    [str(username or "").strip()])
        found = cur.fetchall()
        row = dict(zip([d[0] for d in cur.description], found[0], strict=True)) if found \
            else None
        stored = None if row is None else cur.execute(
            "SELECT password_hash FROM account WHERE id = ?", [row["id"]]).fetchone()[0]
        matches = _verify(stored, password)
        locked = row is not None and row["locked_until"] is not None and \
            row["locked_until"] > now and client_failures > 0
        if matches and not locked and row["disabled_at"] is None:
            if _HASHER.check_needs_rehash(stored):
                cur.execute("UPDATE account SET password_hash = ? WHERE id = ?",
                            [hash_password(password), row["id"]])
            cur.execute("UPDATE account SET failed_attempts = 0, locked_until = NULL,"
                        " last_login_at = ? WHERE id = ?", [now, row["id"]])
            cur.execute("DELETE FROM login_throttle WHERE client = ?", [client])
            store._audit(cur, row["username"], "login", "account", row["id"], None,
                        {"client": client})
        else:
            failure = AuthError(REFUSED)
            cur.execute("INSERT INTO login_throttle VALUES (?, 1, ?) ON CONFLICT (client) DO"
                        " UPDATE SET failures = login_throttle.failures + 1,"
                        " last_failure = excluded.last_failure", [client, now])
            if row is not None:
                failures = row["failed_attempts"] + 1
                lock = now + LOCKOUT if failures >= MAX_FAILED else row["locked_until"]
                cur.execute("UPDATE account SET failed_attempts = ?, locked_until = ?"
                            " WHERE id = ?", [0 if failures >= MAX_FAILED else failures, lock,
                                              row["id"]])
            store._audit(cur, row["username"] if row else "unknown user", "login_failed",
                        "account", row["id"] if row else None, None,
                        {"client": client, "locked_until": lock if row else None,
                         # an unknown name is not kept: it may be a password typed into
                         # the wrong field
                         **({} if row else {"username": "(not an account; not kept)"})})
    if failure is not None:
        raise failure
    return _scope_of(row)


def scope_for_email(db: Database, email: str | None, verified: bool) -> Scope:
    """Single sign-on: a verified e-mail from the identity provider maps to an account.
    E-mails are unique across accounts (case-insensitively), so the match is unambiguous."""
    if not email or not verified:
        raise AuthError("Your identity provider did not confirm an e-mail address, so the "
                        "tracker cannot tell which account is yours.")
    found = db.read(_ACCOUNT_SELECT + " WHERE lower(a.email) = lower(?)", [email.strip()])
    if found.empty:
        raise AuthError(f"No account uses {email}. Ask the lab admin to add one.")
    if len(found) > 1:
        raise AuthError(f"More than one account uses {email}; ask the lab admin to give each "
                        "account its own e-mail address.")
    if pd.notna(found["disabled_at"].iloc[0]):
        raise AuthError("That account is disabled.")
    return _scope_of_frame(found)


def scope_of_account(db: Database, username: str) -> Scope | None:
    """The current scope of an active account (None when it is disabled or gone)."""
    found = db.read(_ACCOUNT_SELECT + " WHERE a.username = ?", [username])
    if found.empty or pd.notna(found["disabled_at"].iloc[0]):
        return None
    return _scope_of_frame(found)


def _scope_of_frame(found: pd.DataFrame) -> Scope:
    """The scope of the first account row of a frame read with _ACCOUNT_SELECT (pandas
    gives missing values as NaN, which a Scope holds as None)."""
    row = found.iloc[0].to_dict()
    row["organisation_id"] = None if pd.isna(row["organisation_id"]) else \
        int(row["organisation_id"])
    row["organisation"] = None if pd.isna(row["organisation"]) else row["organisation"]
    row["id"] = int(row["id"])
    return _scope_of(row)


def session_ended(db: Database, scope: Scope) -> str | None:
    """Why a signed-in session must end now (in words), or None while it may go on: the
    account was disabled or removed, or its password or role changed since sign-in."""
    if scope.account_id is None:
        return None
    found = db.read("SELECT disabled_at, session_version FROM account WHERE id = ?",
                    [scope.account_id])
    if found.empty or pd.notna(found["disabled_at"].iloc[0]):
        return "Your account was disabled. Ask the lab admin."
    if int(found["session_version"].iloc[0]) != scope.session_version:
        return ("Your password or role was changed, so you were signed out. Please sign in "
                "again.")
    return None
