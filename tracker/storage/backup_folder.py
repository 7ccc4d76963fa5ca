"""Where a database's backups are, and which is newest: the folder and the names of the
files in it (a copy of the file, `.duckdb`, or a pg_dump, `.dump`). Below both engines, so
the DuckDB engine can name the latest backup when its file is damaged."""

from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import dataclass
from pathlib import Path

DEFAULT_KEEP = 14
_STAMP = "%Y%m%d-%H%M%S"
# a copy of the file (.duckdb), or a pg_dump of a PostgreSQL database (.dump, tracker.storage.backup_pg)
_NAME = re.compile(r"^(?P<stem>.+)-(?P<stamp>\d{8}-\d{6})\.(?:duckdb|dump)$")


class BackupError(RuntimeError):
    """A backup or restore could not be made; the message says why, in words."""


@dataclass(frozen=True)
class Backup:
    path: Path
    taken: dt.datetime
    size: int


def default_dir(db_path: Path) -> Path:
    env = os.environ.get("TRACKER_BACKUP_DIR", "").strip()
    return Path(env).expanduser() if env else Path(db_path).resolve().parent / "backups"


def keep_count() -> int:
    try:
        return max(1, int(os.environ.get("TRACKER_BACKUP_KEEP", DEFAULT_KEEP)))
    except ValueError:
        return DEFAULT_KEEP


FILE, DUMP = ".duckdb", ".dump"  # a copy of the file; a pg_dump of a PostgreSQL database


def list_backups(directory: Path, *, kind: str | None = None,
                 stem: str | None = None) -> list[Backup]:
    """The backups in a folder, newest first: of one kind (FILE or DUMP) and one database
    (its file's or database's name) when given, as labs may share a folder."""
    if not directory.is_dir():
        return []
    found = []
    for path in [*directory.glob("*" + FILE), *directory.glob("*" + DUMP)]:
        m = _NAME.match(path.name)
        if m and (kind is None or path.suffix == kind) and (stem is None or m["stem"] == stem):
            found.append(Backup(path, dt.datetime.strptime(m["stamp"], _STAMP),
                                path.stat().st_size))
    return sorted(found, key=lambda b: b.taken, reverse=True)


def latest(directory: Path, kind: str = FILE) -> Backup | None:
    found = list_backups(directory, kind=kind)
    return found[0] if found else None


def prune(directory: Path, keep: int, stem: str | None = None) -> list[Path]:
    """Remove all but the newest `keep` backups (of this database, when `stem` is given)."""
    found = list_backups(directory, stem=stem)
    removed = []
    for old in found[keep:]:
        old.path.unlink(missing_ok=True)
        removed.append(old.path)
    return removed


def _choose(source: Path, kind: str = FILE) -> Path:
    """The backup named, or the newest of `kind` in the folder named."""
    if source.is_dir():
        found = latest(source, kind)
        if found is None:
            what = "database file" if kind == FILE else "PostgreSQL"
            raise BackupError(f"There is no {what} backup in {source}.")
        return found.path
    if source.is_file():
        return source
    raise BackupError(f"{source} does not exist.")
