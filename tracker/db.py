"""The database: where the file is, migrations, and the one-writer pattern.

DuckDB lets one process open a file for writing, with many threads inside it. The tracker opens
one connection per process (`Database`), gives every unit of work its own cursor, and serialises
writes behind a lock, each in one explicit transaction that rolls back on any error.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
MIGRATIONS_DIR = ROOT / "db" / "migrations"
DEFAULT_DB = ROOT / "db" / "tracker.duckdb"
_MIGRATION_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


class DatabaseLocked(RuntimeError):
    """The file is held by another process (usually the running app)."""


class DatabaseError(RuntimeError):
    """The file cannot be opened as a tracker database."""


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


def migrate(con: duckdb.DuckDBPyConnection, directory: Path = MIGRATIONS_DIR) -> list[int]:
    """Apply every migration not yet recorded, one transaction per file. Returns the versions
    applied now (empty when the database was up to date)."""
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY, name VARCHAR NOT NULL,"
        " applied_at TIMESTAMP NOT NULL DEFAULT current_timestamp)"
    )
    done = {row[0] for row in con.execute("SELECT version FROM schema_migrations").fetchall()}
    applied = []
    for version, name, path in migration_files(directory):
        if version in done:
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(path.read_text(encoding="utf-8"))
            con.execute(
                "INSERT INTO schema_migrations (version, name) VALUES (?, ?)", [version, name]
            )
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
        applied.append(version)
    return applied


def _open(path: Path, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    try:
        return duckdb.connect(str(path), read_only=read_only)
    except duckdb.IOException as exc:
        text = str(exc)
        if "lock" in text.lower():
            raise DatabaseLocked(
                f"The database file {path} is in use by another program, most likely the tracker "
                "app (streamlit run). Stop the app first, or name another file with --db."
            ) from None
        raise DatabaseError(f"Cannot open {path} as a tracker database: {text}") from None
    except duckdb.Error as exc:
        raise DatabaseError(f"Cannot open {path} as a tracker database: {exc}") from None


class Database:
    """One connection per process; a cursor per unit of work; writes serialised.

    `read(sql, params)` returns a DataFrame. `transaction()` yields a cursor inside one
    explicit transaction: it commits when the block ends and rolls back on any exception.
    """

    def __init__(self, path: Path | str | None = None):
        self.path = Path(path) if path else default_path()
        self._con = _open(self.path)
        self._write_lock = threading.RLock()
        try:
            with self._write_lock:
                migrate(self._con)
        except Exception:
            self._con.close()
            raise

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextmanager
    def cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        cur = self._con.cursor()
        try:
            yield cur
        finally:
            cur.close()

    def read(self, sql: str, params: list | dict | None = None) -> pd.DataFrame:
        with self.cursor() as cur:
            return cur.execute(sql, params or []).df()

    def scalar(self, sql: str, params: list | dict | None = None):
        with self.cursor() as cur:
            row = cur.execute(sql, params or []).fetchone()
            return None if row is None else row[0]

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with self._write_lock, self.cursor() as cur:
            cur.execute("BEGIN TRANSACTION")
            try:
                yield cur
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            cur.execute("COMMIT")

    def checkpoint(self) -> None:
        with self._write_lock, self.cursor() as cur:
            cur.execute("CHECKPOINT")
