"""Backups and restore of the embedded database file, without stopping the lab.

DuckDB lets only the process that opened the file read it, so a copy taken from outside while
the app runs is not safe. The process that holds the file makes the backup itself: it takes
every write lock, checkpoints (the file on disk is then complete), copies the file, lets writes
go on, and checks the copy by opening it and counting every table against the counts it had
when copied. The app does this on "Back up now" (Admin → Backups) and every day at a set time;
the command line does it when the app is not running.

Settings (environment): `TRACKER_BACKUP_DIR` (default: `backups/` beside the database file),
`TRACKER_BACKUP_AT` (the time of the daily backup, default 02:00; `off` turns it off) and
`TRACKER_BACKUP_KEEP` (how many backups to keep, default 14).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import duckdb

from tracker.storage.backup_folder import (  # noqa: F401 - the backups' names, re-exported
    _STAMP,
    DEFAULT_KEEP,
    DUMP,
    FILE,
    Backup,
    BackupError,
    _choose,
    check_checksum,
    check_keep,
    checksum_path,
    default_dir,
    keep_count,
    latest,
    list_backups,
    prune,
    write_checksum,
)
from tracker.storage.base import DatabaseBusy, DatabaseLocked, _holder, is_lock_conflict
from tracker.storage.db import Database, DatabaseDamaged, is_damage

DEFAULT_AT = dt.time(2, 0)


def daily_time() -> dt.time | None:
    """When the app backs up each day; None when `TRACKER_BACKUP_AT=off`."""
    text = os.environ.get("TRACKER_BACKUP_AT", "").strip().lower()
    if text in ("off", "none", "no"):
        return None
    if not text:
        return DEFAULT_AT
    try:
        return dt.time.fromisoformat(text)
    except ValueError:
        return DEFAULT_AT


def _counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    tables = [r[0] for r in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database()"
        " AND NOT internal AND NOT temporary ORDER BY 1").fetchall()]
    return {t: con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}


def _read_all(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Count every table and read every value of every row (a hash of each row), so every
    data block is read and DuckDB checks its checksum: counting alone reads no column."""
    tables = _counts(con)
    for table in tables:
        con.execute(f'SELECT sum(hash("{table}")) FROM "{table}"').fetchall()
    return tables


def verify(path: Path, expected: dict[str, int] | None = None, *,
           recorded_for: Path | None = None) -> dict[str, int]:
    """Check a backup fully: its bytes against the checksum recorded when it was made (when
    there is one), then open it read-only and read every row of every table; compare the
    counts with `expected` if given. Returns the counts."""
    check_checksum(path, recorded_for)
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as exc:
        raise BackupError(f"The backup {path} cannot be opened: {str(exc).splitlines()[0]}") \
            from None
    try:
        counts = _read_all(con)
    except duckdb.Error as exc:
        raise BackupError(f"The backup {path} is damaged: {str(exc).splitlines()[0]}") from None
    finally:
        con.close()
    if "schema_migrations" not in counts:
        raise BackupError(f"{path} is not a tracker database.")
    if expected is not None and counts != expected:
        differ = sorted(t for t in set(counts) | set(expected)
                        if counts.get(t) != expected.get(t))
        raise BackupError(f"The backup {path} does not match the database (tables "
                          f"{', '.join(differ)} differ); it was removed. Try again.")
    return counts


def backup(db: Database, directory: Path | None = None, *, keep: int | None = None,
           now: dt.datetime | None = None) -> Backup:
    """A consistent copy of the database into `directory`, checked by reopening it; then
    only the newest `keep` backups are kept. Writes wait while the file is copied."""
    check_keep(keep)
    directory = Path(directory) if directory else default_dir(db.path)
    directory.mkdir(parents=True, exist_ok=True)
    now = now or dt.datetime.now()
    target = directory / f"{db.path.stem}-{now:{_STAMP}}.duckdb"
    if target.exists():
        raise BackupError(f"{target} exists already; wait a second and try again.")
    partial = target.with_suffix(".partial")
    try:
        with db.quiet() as cur:
            expected = _counts(cur)
            _copy_in_another_process(db.path, partial)
    except DatabaseBusy as exc:
        partial.unlink(missing_ok=True)
        raise BackupError(str(exc)) from None
    except duckdb.Error as exc:
        partial.unlink(missing_ok=True)
        if is_damage(exc):
            raise DatabaseDamaged(str(exc)) from None
        raise
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise BackupError(f"Could not write the backup into {directory}: "
                          f"{exc.strerror or exc}") from None
    try:
        verify(partial, expected)
        write_checksum(partial, target.name)
    except BackupError:
        partial.unlink(missing_ok=True)
        raise
    checksum_path(partial).rename(checksum_path(target))
    partial.rename(target)
    prune(directory, keep if keep is not None else keep_count(), db.path.stem)
    return Backup(target, now.replace(microsecond=0), target.stat().st_size)


def _copy_in_another_process(source: Path, target: Path) -> None:
    """Copy the open database file from a child process. DuckDB holds the file with a POSIX
    lock, and POSIX drops every lock a process holds on a file as soon as that process closes
    *any* descriptor of it: copying it in this process would silently let another program
    open the file beside the app. A child process holds no locks, so its close drops none."""
    done = subprocess.run(
        [sys.executable, "-c", "import shutil, sys; shutil.copyfile(sys.argv[1], sys.argv[2])",
         str(source), str(target)], capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        raise OSError(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else
                      "the copy failed")


def restore(db_path: Path, source: Path, now: dt.datetime | None = None) -> tuple[Path, Path]:
    """Put a backup in place of the database file. Refused while another program (the app)
    holds the file. The file it replaces is kept beside it, renamed. Returns (the backup used,
    where the old file went)."""
    db_path = Path(db_path)
    chosen = _choose(Path(source), FILE, db_path.stem)
    if chosen.suffix == DUMP:
        raise BackupError(f"{chosen} is a backup of a PostgreSQL database; restore it into "
                          "a new PostgreSQL database (docs/deploy.md), not into a file.")
    counts = verify(chosen)
    accounts_now = 0
    if db_path.exists():
        try:
            con = duckdb.connect(str(db_path))
        except duckdb.Error as exc:
            if is_lock_conflict(str(exc)):
                raise DatabaseLocked(
                    f"{db_path} is open in {_holder(str(exc))}, so it cannot be restored "
                    "now. Stop the tracker app first, then run the restore again.") from None
            # a damaged file is exactly what a restore replaces
        else:
            try:
                accounts_now = con.execute("SELECT count(*) FROM account").fetchone()[0]
            except duckdb.Error:
                pass  # damaged, or not a tracker's database yet
            finally:
                con.close()
    if accounts_now and not counts.get("account"):
        raise BackupError(
            f"{chosen} holds no accounts, but {db_path} has {accounts_now}: restoring it would "
            "leave the tracker with no sign-in, open to whoever reaches it. Restore a backup "
            "made after the lab's accounts were created, or restore this one into a new file "
            "(--db NEW.duckdb) and add a lab admin to it first. Nothing was changed.")
    # copied beside the database first and checked there, then put in place
    incoming = db_path.with_name(f"{db_path.name}.restoring")
    try:
        shutil.copyfile(chosen, incoming)
        os.chmod(incoming, 0o600)
        verify(incoming, counts, recorded_for=chosen)
    except BaseException:
        incoming.unlink(missing_ok=True)
        raise
    now = now or dt.datetime.now()
    kept = db_path.with_name(f"{db_path.name}.before-restore-{now:{_STAMP}}")
    if db_path.exists():
        db_path.rename(kept)
    for side in (Path(f"{db_path}.wal"),):
        if side.exists():
            side.rename(Path(f"{kept}.wal"))
    incoming.rename(db_path)
    return chosen, kept


class DailyBackups:
    """A thread in the app's process that backs up once a day at `at` and keeps `keep`.
    It sleeps in short steps, so stopping it (tests, shutdown) is quick."""

    def __init__(self, db: Database, at: dt.time, keep: int, directory: Path | None = None):
        self.db, self.at, self.keep = db, at, keep
        self.directory = directory or default_dir(db.path)
        self.last_error: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tracker-daily-backup",
                                        daemon=True)

    def next_run(self, now: dt.datetime) -> dt.datetime:
        today = dt.datetime.combine(now.date(), self.at)
        return today if today > now else today + dt.timedelta(days=1)

    def start(self) -> DailyBackups:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        due = self.next_run(dt.datetime.now())
        while not self._stop.wait(min(30.0, max(0.05, (due - dt.datetime.now())
                                                .total_seconds()))):
            if dt.datetime.now() < due:
                continue
            try:
                backup(self.db, self.directory, keep=self.keep)
                self.last_error = None
            except Exception as exc:  # noqa: BLE001 - reported on the Backups page
                self.last_error = str(exc)
            due = self.next_run(dt.datetime.now())
