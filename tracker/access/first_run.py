"""The first lab admin of a tracker that others can reach.

A tracker with no accounts runs in local mode (everyone is the lab admin) only for the person
at the server's own computer: a server that listens on loopback, a request from loopback, and
no proxy in between (`is_local`). Anywhere else an empty tracker shows a first-run page instead.
The first lab admin is made there with a one-time setup code that the server prints in its log
when it starts, as Jupyter does with its token (whoever can read the server's log runs the
server), or from the command line (`python -m tracker user add --role admin`).

The code lives in this process only. After MAX_TRIES wrong codes it is replaced by a new one,
printed again, so it cannot be guessed. Nothing here imports Streamlit.
"""

from __future__ import annotations

import hmac
import secrets
import sys
import threading

from tracker.access import auth
from tracker.errors import InputError

LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1", "[::1]"}
FORWARDING_HEADERS = ("x-forwarded-for", "forwarded", "x-real-ip", "x-forwarded-host")
MAX_TRIES = 5

_lock = threading.Lock()
_code: str | None = None
_wrong = 0


def is_local(server_address: str | None, client_ip: str | None, headers, *,
             in_browser: bool = True) -> bool:
    """Whether a request may use local mode: the server listens on loopback only, the request
    comes from loopback (Streamlit gives no address for one), and no proxy forwarded it.
    Without a browser (Streamlit's AppTest runs the script in this process) there is no
    request to come from elsewhere."""
    if not in_browser:
        return True
    names = {str(k).lower() for k in (headers or {})}
    return ((server_address or "").strip().lower() in LOOPBACK_NAMES and client_ip is None
            and not names.intersection(FORWARDING_HEADERS))


def _announce(code: str) -> None:
    print("\n  The tracker has no accounts yet. To create the first lab admin, open the tracker "
          f"and enter this setup code:\n\n      {code}\n\n  (or run: python -m tracker user "
          "add --name NAME --role admin)\n", file=sys.stderr, flush=True)


def setup_code() -> str:
    """This process's setup code, made (and printed in the server's log) on first use."""
    global _code
    with _lock:
        if _code is None:
            _code = "-".join(secrets.token_hex(2) for _ in range(4))
            _announce(_code)
        return _code


def create_first_admin(db, code: str, username: str, password: str,
                       repeated: str) -> auth.Scope:
    """Make the first lab admin when the setup code is right; returns its scope (signed in)."""
    global _code, _wrong
    expected = setup_code()
    if not hmac.compare_digest((code or "").strip().lower().encode(), expected.encode()):
        with _lock:
            _wrong += 1
            if _wrong >= MAX_TRIES:  # a new code, printed again: it cannot be guessed
                _code, _wrong = None, 0
        if _code is None:
            setup_code()
            raise InputError("That setup code is not right, and after several tries it was "
                             "replaced: the server's log shows the new one.")
        raise InputError("That setup code is not right. It is printed in the log of the "
                         "server that runs the tracker.")
    if password != repeated:
        raise InputError("The two passwords differ: type the same password twice.")
    if auth.accounts_exist(db):
        raise InputError("The tracker has accounts already: sign in with yours.")
    auth.add_user(db, None, username=username, role="admin", password=password)
    with _lock:
        _code, _wrong = None, 0
    scope = auth.scope_of_account(db, username.strip())
    if scope is None:  # pragma: no cover - the account was just made
        raise InputError("The account was made; sign in with it.")
    return scope
