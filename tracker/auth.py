"""Accounts, roles and what each user may see and change.

Roles (../shared/design.md, "Who may do what"):
- admin: sees everything, changes everything, manages accounts, undoes uploads;
- partner: sees its own organisation's results and cycles, the shared idea list, and other
  organisations only as unnamed aggregates; uploads and logs cycles for its own organisation;
- viewer (leadership): sees everything, changes nothing, may export.

A `Scope` travels with every call into the data layer, which enforces it: pages hide what a
role may not use, but the refusal that counts is in tracker/.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import pandas as pd
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from tracker.db import Database
from tracker.errors import PermissionDenied

ROLES = {"admin": "Lab admin", "partner": "Partner organisation", "viewer": "Viewer (leadership)"}
MIN_PASSWORD = 12
MAX_FAILED = 5
LOCKOUT = dt.timedelta(minutes=15)
IDLE_TIMEOUT = dt.timedelta(minutes=30)
OTHERS = "All other partners"
_HASHER = PasswordHasher()  # argon2id with the library's current recommended parameters
_USERNAME = re.compile(r"^[A-Za-z0-9._@-]{3,60}$")


class AuthError(ValueError):
    """Login refused; the message never says whether the user name exists."""


@dataclass(frozen=True)
class Scope:
    """Who is asking, and so what they may see and change."""

    actor: str
    role: str = "admin"
    organisation_id: int | None = None
    organisation: str | None = None
    account_id: int | None = None

    @classmethod
    def admin(cls, actor: str) -> Scope:
        return cls(actor=actor, role="admin")

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def is_partner(self) -> bool:
        return self.role == "partner"

    @property
    def can_write(self) -> bool:
        return self.role in ("admin", "partner")

    @property
    def org_ids(self) -> list[int] | None:
        """The organisations whose named data this user may see; None means all."""
        return [self.organisation_id] if self.is_partner else None

    def sees(self, organisation_id) -> bool:
        return not self.is_partner or organisation_id == self.organisation_id

    def require_admin(self, what: str) -> None:
        if not self.is_admin:
            raise PermissionDenied(f"Only the lab admin may {what} (you are signed in as "
                                   f"{ROLES.get(self.role, self.role).lower()}).")

    def require_org_write(self, organisation_id: int | None, what: str) -> None:
        if self.is_admin:
            return
        if self.is_partner and organisation_id == self.organisation_id:
            return
        if self.is_partner:
            raise PermissionDenied(f"You may {what} only for {self.organisation}.")
        raise PermissionDenied(f"Viewers may look and export but not {what}.")


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
    " a.failed_attempts, a.locked_until, a.disabled_at, a.last_login_at, a.created_at"
    " FROM account a LEFT JOIN organisation o ON o.id = a.organisation_id")


def accounts_exist(db: Database) -> bool:
    """Login is on once any account exists; before that the tracker is in local mode."""
    return bool(db.scalar("SELECT count(*) FROM account"))


def list_users(db: Database, scope: Scope) -> pd.DataFrame:
    scope.require_admin("see the accounts")
    return db.read(_ACCOUNT_SELECT + " ORDER BY a.username")


def _user_checks(cur, username, role, organisation_id, email, password, sso_only):
    from tracker import repo

    c = repo._Checks()
    username = c.text(username, "Username", limit=60)
    if username and not _USERNAME.match(username):
        c.problems.append("A username may hold letters, digits and . _ @ - (3 to 60 of them).")
    role = c.choice(role, "Role", ROLES)
    email = c.email(email, "E-mail")
    if role == "partner" and organisation_id is None:
        c.problems.append("A partner account belongs to one organisation: choose it.")
    if role in ("admin", "viewer") and organisation_id is not None:
        c.problems.append("Only partner accounts belong to an organisation.")
    if organisation_id is not None:
        org = repo._row(cur, "organisation", int(organisation_id))
        if org is None:
            c.problems.append("That organisation does not exist.")
        elif org["retired_at"] is not None:
            c.problems.append(f"{org['name']} is retired.")
    if not sso_only:
        c.problems.extend(check_password_rules(password))
    elif not email:
        c.problems.append("An account without a password signs in with single sign-on, so it "
                          "needs the e-mail address the identity provider confirms.")
    if username:
        cur.execute("SELECT username FROM account")
        if any(repo._norm(u) == repo._norm(username) for (u,) in cur.fetchall()):
            c.problems.append(f"The username '{username}' is taken.")
    return c, username, role, email


def add_user(db: Database, scope: Scope | None, *, username, role, password=None,
             organisation_id=None, email=None, sso_only: bool = False) -> int:
    """Create an account. The first account must be an admin, and creating it switches
    login on; after that only an admin may add accounts."""
    from tracker import repo

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
        new_id = repo._insert(cur, "account", fields)
        actor = scope.actor if scope else "first admin"
        repo._audit(cur, actor, "create", "account", new_id, None,
                    {k: v for k, v in fields.items() if k != "password_hash"})
    return new_id


def _set(db: Database, scope: Scope, account_id: int, fields: dict, action: str,
         shown: dict) -> None:
    from tracker import repo

    scope.require_admin("manage accounts")
    with db.transaction(lock="accounts") as cur:
        before = repo._row(cur, "account", account_id)
        if before is None:
            raise repo.InputError("That account does not exist.")
        sets = ", ".join(f"{k} = ?" for k in fields)
        cur.execute(f"UPDATE account SET {sets} WHERE id = ?", [*fields.values(), account_id])
        repo._audit(cur, scope.actor, action, "account", account_id,
                    {"username": before["username"]}, shown)


def _account_id(db: Database, username: str) -> int:
    from tracker import repo

    for account_id, name in db.read("SELECT id, username FROM account").itertuples(index=False):
        if name.casefold() == str(username).strip().casefold():
            return int(account_id)
    raise repo.InputError(f"No account is called '{username}'.")


def disable_user(db: Database, scope: Scope, username: str) -> None:
    account_id = _account_id(db, username)
    if scope.account_id == account_id:
        raise PermissionDenied("You cannot disable your own account.")
    _set(db, scope, account_id, {"disabled_at": dt.datetime.now()}, "disable",
         {"disabled": True})


def enable_user(db: Database, scope: Scope, username: str) -> None:
    _set(db, scope, _account_id(db, username),
         {"disabled_at": None, "failed_attempts": 0, "locked_until": None}, "enable",
         {"disabled": False})


def reset_password(db: Database, scope: Scope, username: str, password: str) -> None:
    from tracker import repo

    problems = check_password_rules(password)
    if problems:
        raise repo.InputError(problems)
    _set(db, scope, _account_id(db, username),
         {"password_hash": hash_password(password), "failed_attempts": 0, "locked_until": None},
         "reset_password", {"password": "changed"})


def _scope_of(row: dict) -> Scope:
    return Scope(actor=row["username"], role=row["role"],
                 organisation_id=row["organisation_id"], organisation=row["organisation"],
                 account_id=row["id"])


def authenticate(db: Database, username: str, password: str,
                 now: dt.datetime | None = None) -> Scope:
    """Check a username and password. Five failures lock the account for 15 minutes.
    Every refusal says the same thing, so it does not reveal which accounts exist."""
    from tracker import repo

    now = now or dt.datetime.now()
    refused = AuthError("That username and password do not match an active account.")
    failure: AuthError | None = None
    with db.transaction(lock="accounts") as cur:  # the failure count is kept when refused
        cur.execute(_ACCOUNT_SELECT + " WHERE lower(a.username) = lower(?)",
                    [str(username or "").strip()])
        found = cur.fetchall()
        if not found:
            _HASHER.hash("spend the same time as a real check")
            raise refused
        row = dict(zip([d[0] for d in cur.description], found[0], strict=True))
        stored = cur.execute("SELECT password_hash FROM account WHERE id = ?",
                             [row["id"]]).fetchall()[0][0]
        if row["disabled_at"] is not None:
            raise refused
        if row["locked_until"] is not None and row["locked_until"] > now:
            minutes = max(1, int((row["locked_until"] - now).total_seconds() // 60) + 1)
            raise AuthError(f"Too many failed attempts: this account is locked for about "
                            f"{minutes} more minute{'s' if minutes != 1 else ''}. Try again "
                            "later, or ask the lab admin to reset it.")
        try:
            if stored is None:
                raise VerificationError
            _HASHER.verify(stored, password or "")
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            failures = row["failed_attempts"] + 1
            locked = now + LOCKOUT if failures >= MAX_FAILED else None
            cur.execute("UPDATE account SET failed_attempts = ?, locked_until = ? WHERE id = ?",
                        [0 if locked else failures, locked, row["id"]])
            repo._audit(cur, row["username"], "login_failed", "account", row["id"], None,
                        {"locked_until": locked})
            failure = AuthError("Too many failed attempts: this account is locked for 15 "
                                "minutes.") if locked else refused
        else:
            if _HASHER.check_needs_rehash(stored):
                cur.execute("UPDATE account SET password_hash = ? WHERE id = ?",
                            [hash_password(password), row["id"]])
            cur.execute("UPDATE account SET failed_attempts = 0, locked_until = NULL,"
                        " last_login_at = ? WHERE id = ?", [now, row["id"]])
            repo._audit(cur, row["username"], "login", "account", row["id"], None, None)
    if failure is not None:
        raise failure
    return _scope_of(row)


def scope_for_email(db: Database, email: str | None, verified: bool) -> Scope:
    """Single sign-on: a verified e-mail from the identity provider maps to an account."""
    if not email or not verified:
        raise AuthError("Your identity provider did not confirm an e-mail address, so the "
                        "tracker cannot tell which account is yours.")
    found = db.read(_ACCOUNT_SELECT + " WHERE lower(a.email) = lower(?)", [email.strip()])
    if found.empty:
        raise AuthError(f"No account uses {email}. Ask the lab admin to add one.")
    row = found.iloc[0].to_dict()
    if pd.notna(row["disabled_at"]):
        raise AuthError("That account is disabled.")
    row["organisation_id"] = None if pd.isna(row["organisation_id"]) else int(row["organisation_id"])
    row["organisation"] = None if pd.isna(row["organisation"]) else row["organisation"]
    row["id"] = int(row["id"])
    return _scope_of(row)


def refresh(db: Database, scope: Scope) -> Scope | None:
    """The current state of a signed-in user's account (None if disabled or gone)."""
    if scope.account_id is None:
        return scope
    found = db.read(_ACCOUNT_SELECT + " WHERE a.id = ?", [scope.account_id])
    if found.empty or pd.notna(found["disabled_at"].iloc[0]):
        return None
    return scope
