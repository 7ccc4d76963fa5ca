"""Backups and restore of a lab on PostgreSQL, with PostgreSQL's own tools.

`python -m tracker backup` (and Admin → Backups → "Back up now") runs `pg_dump` in its custom
format: one consistent snapshot of the whole database, taken while every app server goes on
writing (PostgreSQL needs no pause for it). The dump is written under a temporary name, checked
by `pg_restore --list` (it must hold the data of every tracker table), then given its final
name `<database>-<YYYYMMDD-HHMMSS>.dump`; only the newest TRACKER_BACKUP_KEEP are kept, in
TRACKER_BACKUP_DIR (default `db/backups` in the project). With several app servers, schedule
one backup (cron, or the compose file's backup job), not one per server.

`python -m tracker restore --from DUMP --db postgresql://.../new_db` restores into a new,
empty database only (never over a lab's live data); then point TRACKER_DB at it.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
from pathlib import Path

from tracker.storage import backup_folder
from tracker.storage.backup_folder import _STAMP, DUMP, Backup, BackupError
from tracker.storage.base import ROOT


def default_dir() -> Path:
    env = os.environ.get("TRACKER_BACKUP_DIR", "").strip()
    return Path(env).expanduser() if env else ROOT / "db" / "backups"


def _tool(name: str) -> str:
    found = shutil.which(name) or next(
        (str(p) for p in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"),
                                reverse=True)), None)
    if found is None:
        raise BackupError(f"{name} is not installed on this machine, so the PostgreSQL "
                          "database cannot be backed up from here. Install PostgreSQL's client "
                          "tools (Debian: apt-get install postgresql-client).")
    return found


def database_name(url: str) -> str:
    from psycopg.conninfo import conninfo_to_dict

    return conninfo_to_dict(url).get("dbname") or "tracker"


def _tables(db) -> set[str]:
    return set(db.read("SELECT table_name FROM information_schema.tables WHERE table_schema"
                       " = 'public' AND table_type = 'BASE TABLE'")["table_name"])


def listed_tables(dump: Path) -> set[str]:
    """The tables whose data a dump holds, as `pg_restore --list` reads it."""
    done = subprocess.run([_tool("pg_restore"), "--list", str(dump)], capture_output=True,
                          text=True, timeout=600)
    if done.returncode != 0:
        raise BackupError(f"The backup {dump} cannot be read: "
                          f"{(done.stderr.strip().splitlines() or ['unknown error'])[-1]}")
    found = set()
    for line in done.stdout.splitlines():
        parts = line.split()
        if "TABLE DATA" in line and len(parts) >= 2:
            found.add(parts[-2])  # "... TABLE DATA public <table> <owner>"
    return found


def read_fully(dump: Path) -> None:
    """Read every table's data out of a dump (to nowhere): a damaged block of it fails."""
    done = subprocess.run([_tool("pg_restore"), "--file", os.devnull, str(dump)],
                          capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        raise BackupError(f"The backup {dump} is damaged: "
                          f"{(done.stderr.strip().splitlines() or ['unknown error'])[-1]}. "
                          "Nothing was changed; restore an older backup.")


def backup(db, directory: Path | None = None, *, keep: int | None = None,
           now: dt.datetime | None = None) -> Backup:
    """A pg_dump of the lab's database, checked (its table list, then every byte read back),
    into `directory`, with its checksum; older ones pruned."""
    backup_folder.check_keep(keep)
    directory = Path(directory) if directory else default_dir()
    now = now or dt.datetime.now()
    stem = database_name(db.url)
    target = directory / f"{stem}-{now:{_STAMP}}{DUMP}"
    if target.exists():
        raise BackupError(f"{target} exists already; wait a second and try again.")
    partial = target.with_suffix(".partial")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        done = subprocess.run([_tool("pg_dump"), "--format=custom", "--no-owner",
                               "--file", str(partial), "--dbname", db.url],
                              capture_output=True, text=True, timeout=3600)
    except OSError as exc:
        raise BackupError(f"Could not write the backup into {directory}: "
                          f"{exc.strerror or exc}") from None
    if done.returncode != 0:
        partial.unlink(missing_ok=True)
        reason = (done.stderr.strip().splitlines() or ["unknown error"])[-1]
        raise BackupError(f"pg_dump could not back up the database: {reason}")
    missing = sorted(_tables(db) - listed_tables(partial))
    if missing:
        partial.unlink(missing_ok=True)
        raise BackupError(f"The backup lacks the tables {', '.join(missing)}; it was removed. "
                          "Try again.")
    try:
        read_fully(partial)
    except BackupError:
        partial.unlink(missing_ok=True)
        raise
    os.chmod(partial, 0o600)
    backup_folder.write_checksum(partial, target.name)
    backup_folder.checksum_path(partial).rename(backup_folder.checksum_path(target))
    partial.rename(target)
    backup_folder.prune(directory, keep if keep is not None else backup_folder.keep_count(), stem)
    return Backup(target, now.replace(microsecond=0), target.stat().st_size)


def _restored_from(url: str, source: Path) -> str | None:
    """Whose backups a folder restore may take: a PostgreSQL restore goes into a new
    database (lab_north_restored), so the folder must hold backups of one database only, or
    the backup is named."""
    if not source.is_dir():
        return None
    stems = {b.path.name.rsplit("-", 2)[0] for b in backup_folder.list_backups(source, kind=DUMP)}
    if len(stems) > 1:
        raise BackupError(f"{source} holds backups of several databases "
                          f"({', '.join(sorted(stems))}): name the backup file to restore "
                          "with --from. Nothing was changed.")
    return None


def restore(url: str, source: Path) -> Path:
    """Restore a dump into the empty database at `url`, in one transaction."""
    import psycopg

    from tracker.storage.pg import redacted

    chosen = backup_folder._choose(Path(source), DUMP, _restored_from(url, Path(source)))
    if chosen.suffix != DUMP:
        raise BackupError(f"{chosen} is a copy of an embedded database file, not a PostgreSQL "
                          "backup: restore it with --db naming a file, or move it onto "
                          "PostgreSQL with migrate-to.")
    backup_folder.check_checksum(chosen)
    if "schema_migrations" not in listed_tables(chosen):
        raise BackupError(f"{chosen} is not a backup of a tracker database.")
    read_fully(chosen)
    with psycopg.connect(url, connect_timeout=10) as con:
        tables = con.execute("SELECT count(*) FROM information_schema.tables WHERE"
                             " table_schema = 'public'").fetchone()[0]
    if tables:
        raise BackupError(
            f"The database {redacted(url)} is not empty ({tables} tables), and a restore never "
            "writes over a lab's data. Create a new database (createdb lab_restored), restore "
            "into it, then point TRACKER_DB at it. Nothing was changed.")
    done = subprocess.run([_tool("pg_restore"), "--no-owner", "--single-transaction",
                           "--exit-on-error", "--dbname", url, str(chosen)],
                          capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or ["unknown error"])[-1]
        raise BackupError(f"pg_restore could not restore {chosen}: {reason}. Nothing was "
                          "changed (the restore is one transaction).")
    return chosen
