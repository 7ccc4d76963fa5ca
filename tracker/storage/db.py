"""The embedded engine: a DuckDB file, its migrations, and the one-writer pattern.

DuckDB lets one process open a file for writing, with many threads inside it. The tracker opens
one connection per process (`Database`), gives every unit of work its own cursor, and serialises
writes, each in one explicit transaction that rolls back on any error.

There are two write locks, so that a sign-in never waits behind an upload: "data" (the
challenge, results, cycles: whatever a check-then-insert must see alone) and "accounts"
(accounts, failed sign-ins, throttling). DuckDB itself lets transactions on different cursors
append to the same table at once (the audit log), so the two never block each other. Uploads
parse and validate outside any lock and take "data" only to compare and store.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pandas as pd

from tracker.storage import backup_folder
from tracker.storage.base import (
    MIGRATIONS_DIR,
    DatabaseBusy,
    DatabaseDamaged,
    DatabaseError,
    DatabaseLocked,
    _holder,
    default_path,
    explicit,
    is_lock_conflict,
    make_private,
    migration_files,
)

# What DuckDB says when the bytes of a file are not what it wrote.
_DAMAGE = re.compile(r"corrupt|checksum|could not read enough bytes|"
                     r"block .* out of range|failed to read|invalid .*header", re.IGNORECASE)


def is_damage(exc: BaseException) -> bool:
    """Whether a DuckDB error means the database file itself is damaged."""
    return isinstance(exc, DatabaseDamaged) or (
        isinstance(exc, duckdb.Error) and bool(_DAMAGE.search(str(exc))))


def damaged_message(path: Path, detail: str = "") -> str:
    """What to tell a person when the file is damaged: in words, with the last backup."""
    latest = backup_folder.latest(backup_folder.default_dir(path))
    lines = [f"The database file {path} is damaged and cannot be read"
             + (f" ({detail.splitlines()[0][:160]})." if detail else ".")]
    if latest is not None:
        lines.append(f"The last backup is {latest.path} (taken {latest.taken:%d %b %Y %H:%M}). "
                     "To go back to it: stop the tracker app, then run "
                     f"`python -m tracker restore --from {latest.path}`; the damaged file is "
                     "kept beside it.")
    else:
        lines.append(f"No backup was found in {backup_folder.default_dir(path)}. Keep the damaged "
                     "file, and ask whoever looks after the tracker's computer to restore the "
                     "file from the computer's own backups.")
    lines.append("Nothing was changed.")
    return " ".join(lines)


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
        con = duckdb.connect(str(path), read_only=read_only)
    except duckdb.Error as exc:
        text = str(exc)
        if is_lock_conflict(text):
            raise DatabaseLocked(
                f"The database file {path} is in use by {_holder(text)}. Wait for it to "
                "finish (or stop it), or name another file with --db.") from None
        if is_damage(exc):
            raise DatabaseDamaged(damaged_message(path, text)) from None
        raise DatabaseError(f"Cannot open {path} as a tracker database: {text}") from None
    if not read_only:
        for own in (path, Path(f"{path}.wal")):
            make_private(own)
    return con


def _copy_database(cur: duckdb.DuckDBPyConnection, source: str, target: str) -> None:
    """Copy every live row of the attached database `source` into the empty attached database
    `target`: the schema as the migrations make it, the tables in the order their foreign
    keys need, and each sequence moved on to where it stands. (DuckDB's own COPY FROM DATABASE
    and EXPORT DATABASE refuse the tracker's schema: a cycle builds on an earlier cycle.)"""
    cur.execute(f'USE "{target}"')
    try:
        migrate(cur)
    finally:
        cur.execute(f'USE "{source}"')
    tables = [r[0] for r in cur.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = ? AND NOT internal"
        " AND NOT temporary AND table_name <> 'schema_migrations'", [source]).fetchall()]
    needs = {t: set() for t in tables}
    own: dict[str, list[tuple[str, str]]] = {}  # a table's keys to its own rows
    for table, referenced, columns, keys in cur.execute(
            "SELECT table_name, referenced_table, constraint_column_names,"
            " referenced_column_names FROM duckdb_constraints() WHERE database_name = ?"
            " AND constraint_type = 'FOREIGN KEY'", [source]).fetchall():
        if table not in needs:
            continue
        if referenced == table:
            own.setdefault(table, []).extend(zip(columns, keys, strict=True))
        else:
            needs[table].add(referenced)
    done: list[str] = []
    while len(done) < len(tables):
        ready = sorted(t for t in tables if t not in done and needs[t] <= set(done))
        if not ready:  # pragma: no cover - the schema's foreign keys form no circle
            raise DatabaseError("The tables' foreign keys form a circle; nothing was changed.")
        for table in ready:
            into, source_table = f'"{target}".main."{table}"', f'"{source}".main."{table}"'
            if table not in own:
                cur.execute(f"INSERT INTO {into} BY NAME SELECT * FROM {source_table}"
                            " ORDER BY rowid")
            else:  # rows that refer to rows of their own table go in after those rows
                ready_rows = " AND ".join(
                    f'(s."{c}" IS NULL OR s."{c}" IN (SELECT "{k}" FROM {into}))'
                    for c, k in own[table])
                key = own[table][0][1]
                while cur.execute(
                        f"INSERT INTO {into} BY NAME SELECT * FROM {source_table} s WHERE"
                        f' s."{key}" NOT IN (SELECT "{key}" FROM {into}) AND {ready_rows}'
                        " ORDER BY s.rowid").fetchone()[0]:
                    pass
            done.append(table)
    starts = dict(cur.execute("SELECT sequence_name, start_value FROM duckdb_sequences()"
                              " WHERE database_name = ?", [target]).fetchall())
    for sequence, last in cur.execute(
            "SELECT sequence_name, last_value FROM duckdb_sequences()"
            " WHERE database_name = ? AND last_value IS NOT NULL", [source]).fetchall():
        cur.execute(f"SELECT max(nextval('\"{target}\".main.\"{sequence}\"')) FROM range(?)",
                    [int(last) - int(starts[sequence]) + 1])


QUIET_WAIT = 10.0  # seconds a backup waits for other transactions (staging, sign-ins) to end


def _checkpoint(cur: duckdb.DuckDBPyConnection, wait: float = 0.0) -> bool:
    """CHECKPOINT, retried for up to `wait` seconds while other write transactions are open
    (DuckDB refuses then; FORCE CHECKPOINT would abort them). Whether it was done."""
    deadline = time.monotonic() + wait
    while True:
        try:
            cur.execute("CHECKPOINT")
            return True
        except duckdb.TransactionException as exc:
            if "other write transactions" not in str(exc) or time.monotonic() >= deadline:
                if "other write transactions" in str(exc):
                    return False
                raise
            time.sleep(0.05)


class Database:
    """One connection per process; a cursor per unit of work; writes serialised.

    `read(sql, params)` returns a DataFrame. `transaction()` yields a cursor inside one
    explicit transaction: it commits when the block ends and rolls back on any exception.
    """

    engine = "duckdb"  # PostgresDatabase says "postgresql" (tracker/storage/pg.py)

    def __init__(self, path: Path | str | None = None):
        self.path = Path(path) if path else default_path()
        self._con = _open(self.path)
        self.daily_backups = None  # the app sets its daily backup thread here (ui.py)
        self._locks = {"data": threading.RLock(), "accounts": threading.RLock()}
        self._gate = threading.Condition()  # cursors open, and a rewrite of the file waiting
        self._open_cursors, self._rewriting = 0, False
        try:
            with self._locks["data"], self._locks["accounts"]:
                migrate(self._con)
        except duckdb.Error as exc:
            self._con.close()
            if is_damage(exc):
                raise DatabaseDamaged(damaged_message(self.path, str(exc))) from None
            raise
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
        with self._gate:  # a rewrite of the file (`compact`) lets no new cursor in
            while self._rewriting:
                self._gate.wait()
            self._open_cursors += 1
        try:
            cur = self._con.cursor()
            try:
                yield cur
            finally:
                cur.close()
        finally:
            with self._gate:
                self._open_cursors -= 1
                self._gate.notify_all()

    def compact(self, wait: float = 30.0) -> None:
        """Rewrite the database file from its live rows only, so that no byte of data that
        was changed or deleted stays in it (DuckDB leaves old values in free blocks, and a
        checkpoint does not clear them): an erased person's name and e-mail are then gone
        from the file, and it has no write-ahead log. Writes wait; reads wait for the few
        moments the new file takes its place. Used by an erase (participants.erase)."""
        fresh = self.path.with_name(f"{self.path.name}.compacting")
        fresh.unlink(missing_ok=True)
        with self._locks["data"], self._locks["accounts"]:
            with self.cursor() as cur:
                if not _checkpoint(cur, wait=QUIET_WAIT):
                    raise DatabaseBusy("The database stayed busy, so it could not be rewritten; "
                                       "try again in a minute.")
                name = cur.execute("SELECT current_database()").fetchone()[0]
                quoted = str(fresh).replace("'", "''")
                cur.execute(f"ATTACH '{quoted}' AS tracker_compacted")
                try:
                    _copy_database(cur, name, "tracker_compacted")
                except BaseException:
                    cur.execute(f'USE "{name}"')
                    cur.execute("DETACH tracker_compacted")
                    fresh.unlink(missing_ok=True)
                    raise
                cur.execute("DETACH tracker_compacted")
            deadline = time.monotonic() + wait
            with self._gate:
                self._rewriting = True
                try:
                    while self._open_cursors:
                        left = deadline - time.monotonic()
                        if left <= 0:
                            fresh.unlink(missing_ok=True)
                            raise DatabaseBusy("The database was busy being read, so it could "
                                               "not be rewritten; try again in a minute.")
                        self._gate.wait(left)
                    self._con.close()
                    os.replace(fresh, self.path)
                    Path(f"{self.path}.wal").unlink(missing_ok=True)
                    self._con = _open(self.path)
                finally:
                    self._rewriting = False
                    self._gate.notify_all()

    def read(self, sql: str, params: list | dict | None = None) -> pd.DataFrame:
        with self.cursor() as cur:
            return cur.execute(sql, params or []).df()

    def scalar(self, sql: str, params: list | dict | None = None):
        with self.cursor() as cur:
            row = cur.execute(sql, params or []).fetchone()
            return None if row is None else row[0]

    @contextmanager
    def transaction(self, cursor: duckdb.DuckDBPyConnection | None = None, *,
                    lock: str = "data") -> Iterator[duckdb.DuckDBPyConnection]:
        """One explicit transaction under one write lock ("data" or "accounts"): it commits
        when the block ends and rolls back on any exception. `cursor` continues the work of
        a cursor that prepared staging tables outside the lock."""
        with self._locks[lock], contextlib.ExitStack() as stack:
            cur = cursor if cursor is not None else stack.enter_context(self.cursor())
            with explicit(cur):
                yield cur

    @contextmanager
    def quiet(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """Every write lock at once, after a checkpoint: the file on disk is then complete
        and nothing changes it until the block ends (a backup copies it then)."""
        with self._locks["data"], self._locks["accounts"], self.cursor() as cur:
            if not _checkpoint(cur, wait=QUIET_WAIT):
                raise DatabaseBusy("The database stayed busy for "
                                    f"{QUIET_WAIT:.0f} seconds, so no consistent copy could be "
                                    "taken. Nothing was changed; try again in a minute.")
            yield cur

    def checkpoint(self) -> None:
        """Write what is committed into the file itself, if nothing else is writing at this
        moment. Committed work is safe in the write-ahead log either way (DuckDB checkpoints
        it later by itself), so a busy moment is not an error: an upload that was stored
        must never be reported as failed because another transaction was open."""
        with self._locks["data"], self.cursor() as cur:
            _checkpoint(cur)
