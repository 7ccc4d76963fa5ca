"""The database interface both engines share: where the database is, its errors, the
numbered migrations, explicit transactions and retrying a lost race. It imports neither engine:
the DuckDB file (`db.py`) and PostgreSQL (`pg.py`) stand on it, and the factory
(`engines.py`) above them picks one."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRIVATE_UMASK = 0o077


def keep_files_private() -> None:
    """Whatever the user's umask, everything this process creates from now on (the database
    file and its WAL, backups and their checksums, exports, packs, reports, folders) can be
    read by the tracker's own user only: 0600 files, 0700 folders. A copied backup holds
    password hashes and participants' e-mails. Called by the command line and the server."""
    os.umask(PRIVATE_UMASK)


def make_private(path: Path) -> None:
    """Make an existing file of the tracker's readable by its own user only (a database
    made before the tracker kept its files private)."""
    try:
        if path.exists() and path.stat().st_uid == os.getuid() and path.stat().st_mode & 0o077:
            os.chmod(path, 0o600)
    except OSError:
        pass  # not ours to change: the operator's choice
MIGRATIONS_DIR = ROOT / "db" / "migrations"
DEFAULT_DB = ROOT / "db" / "tracker.duckdb"
_MIGRATION_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


def is_unreachable(exc: BaseException) -> bool:
    """Whether a PostgreSQL server could not be reached (stopped, restarting, network, its
    connections ended by an administrator): the app says so in words, the results API
    answers 503 with Retry-After. A lost race (serialization, deadlock) is not one."""
    if not type(exc).__module__.startswith("psycopg"):
        return False
    import psycopg
    import psycopg_pool

    if isinstance(exc, psycopg_pool.PoolTimeout | psycopg_pool.PoolClosed |
                  psycopg.InterfaceError):
        return True
    raced = (psycopg.errors.SerializationFailure, psycopg.errors.DeadlockDetected,
             psycopg.errors.LockNotAvailable, psycopg.errors.QueryCanceled)
    return isinstance(exc, psycopg.OperationalError) and not isinstance(exc, raced)


class DatabaseLocked(RuntimeError):
    """The file is held by another process (usually the running app)."""


class DatabaseError(RuntimeError):
    """The file cannot be opened as a tracker database."""


class DatabaseBusy(DatabaseError):
    """Other transactions stayed open too long for a consistent copy."""


class DatabaseDamaged(DatabaseError):
    """The file is damaged (a checksum that does not match, a truncated file)."""


def is_lock_conflict(message: str) -> bool:
    """Whether DuckDB refused the file because another process holds it."""
    return bool(re.search(r"could not set lock|conflicting lock", message, re.IGNORECASE))


def _holder(message: str) -> str:
    """Which program holds the file, from DuckDB's lock message (it names the PID)."""
    m = re.search(r"PID (\d+)", message)
    if not m:
        return "another program"
    pid = m.group(1)
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        words = [a.decode(errors="replace") for a in args if a]
    except OSError:
        return f"another program (process {pid})"
    # the program is its first words ("python -m streamlit run", "python -m tracker"), not
    # the file names it was given, which may well have "tracker" in them
    program = " ".join(words[:3])
    if re.search(r"\bstreamlit\b", program):
        return f"the tracker app (streamlit run, process {pid})"
    if re.search(r"(^|\s)-m tracker(\s|$)", program) or (words and words[0].endswith("/tracker")):
        return f"the tracker's command line (python -m tracker, process {pid})"
    return f"another program (process {pid}: {' '.join(words)[:80]})"


def is_url(location) -> bool:
    """Whether TRACKER_DB (or --db) names a PostgreSQL server rather than a file."""
    return str(location).startswith(("postgresql://", "postgres://"))


def location_key(location=None) -> str:
    """One key per database: a URL as it is, a file by its resolved path."""
    location = location or os.environ.get("TRACKER_DB", "").strip() or DEFAULT_DB
    return str(location) if is_url(location) else str(Path(location).expanduser().resolve())


def default_path() -> Path:
    """`TRACKER_DB` if set, else `db/tracker.duckdb` in the project."""
    env = os.environ.get("TRACKER_DB", "").strip()
    return Path(env).expanduser() if env else DEFAULT_DB


def migration_files(directory: Path = MIGRATIONS_DIR) -> list[tuple[int, str, Path]]:
    """The numbered migrations, in order. A badly named file is an error, not silently skipped."""
    found = []
    for path in sorted(directory.glob("*.sql")):
        m = _MIGRATION_NAME.match(path.name)
        if not m:
            raise DatabaseError(f"Migration file {path.name} is not named NNNN_name.sql")
        found.append((int(m.group(1)), m.group(2), path))
    versions = [v for v, _, _ in found]
    if len(set(versions)) != len(versions):
        raise DatabaseError("Two migration files share a number")
    return found


@contextmanager
def explicit(cur) -> Iterator:
    """BEGIN on `cur`; COMMIT when the block ends, ROLLBACK on any exception (both engines)."""
    cur.execute("BEGIN TRANSACTION")
    try:
        yield cur
    except BaseException:
        cur.execute("ROLLBACK")
        raise
    cur.execute("COMMIT")


RACE_ATTEMPTS = 5


def retry_races(action):
    """Run a data-layer function again when it lost a race with another app server
    (ConcurrentChange: PostgreSQL rolled its one transaction back, so nothing of it stayed),
    up to RACE_ATTEMPTS times, a short random wait between. For the writes nobody types:
    a sign-in, a session seen, a token used. Two of them for one person at once (two tabs,
    two servers) must both go through, never show an error. Only for functions whose whole
    work is one transaction they open themselves."""
    import functools
    import random

    from tracker.errors import ConcurrentChange

    @functools.wraps(action)
    def again(*args, **kwargs):
        for attempt in range(RACE_ATTEMPTS):
            try:
                return action(*args, **kwargs)
            except ConcurrentChange:
                if attempt == RACE_ATTEMPTS - 1:
                    raise
                time.sleep(random.uniform(0.01, 0.1) * (attempt + 1))
        raise AssertionError("unreachable")

    return again
