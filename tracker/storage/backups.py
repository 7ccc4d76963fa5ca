"""Backups of either engine: where they go, which are this database's, and taking one (a
checked copy of the file, or a checked pg_dump). Above both kinds of backup."""

from __future__ import annotations

from pathlib import Path

from tracker.storage import backup, backup_pg
from tracker.storage.backup_folder import DUMP, FILE, Backup, default_dir, list_backups


def folder_of(db) -> Path:
    """Where a database's backups go: beside the file, or TRACKER_BACKUP_DIR (either engine)."""
    if db.engine == "postgresql":
        return backup_pg.default_dir()
    return default_dir(db.path)


def backups_of(db) -> list[Backup]:
    """This database's backups in its backup folder, newest first."""
    if db.engine == "postgresql":
        return list_backups(folder_of(db), kind=DUMP, stem=backup_pg.database_name(db.url))
    return list_backups(folder_of(db), kind=FILE, stem=Path(db.path).stem)


def take(db, directory: Path | None = None, *, keep: int | None = None) -> Backup:
    """A backup of either engine: a checked copy of the file, or a checked pg_dump."""
    if db.engine == "postgresql":
        return backup_pg.backup(db, directory, keep=keep)
    return backup.backup(db, directory, keep=keep)
