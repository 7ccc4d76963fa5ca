"""Where a database's backups are, and which is newest: the folder and the names of the
files in it (a copy of the file, `.duckdb`, or a pg_dump, `.dump`). Below both engines, so
the DuckDB engine can name the latest backup when its file is damaged."""

from __future__ import annotations

import datetime as dt
import hashlib
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


def latest(directory: Path, kind: str = FILE, stem: str | None = None) -> Backup | None:
    found = list_backups(directory, kind=kind, stem=stem)
    return found[0] if found else None


def check_keep(keep: int | None) -> None:
    if keep is not None and keep < 1:
        raise BackupError(f"--keep {keep} would delete every backup, the new one included: "
                          "keep at least 1 (the default is 14). Nothing was changed.")


def prune(directory: Path, keep: int, stem: str | None = None) -> list[Path]:
    """Remove all but the newest `keep` backups (of this database, when `stem` is given),
    with their checksums. Never fewer than one is kept."""
    check_keep(keep)
    found = list_backups(directory, stem=stem)
    removed = []
    for old in found[keep:]:
        old.path.unlink(missing_ok=True)
        checksum_path(old.path).unlink(missing_ok=True)
        removed.append(old.path)
    return removed


# ------------------------------------------------------------------------------ checksums
# Each backup has a SHA-256 of its bytes beside it (`<backup>.sha256`), written when it was
# made and checked before a restore: a copy cut short or with flipped bytes is refused,
# whatever part of the file the damage is in.

def checksum_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_checksum(path: Path, final_name: str | None = None) -> Path:
    """Record the SHA-256 of a backup beside it (private to the tracker's user)."""
    target = checksum_path(path)
    target.write_text(f"{sha256_of(path)}  {final_name or path.name}\n", encoding="utf-8")
    os.chmod(target, 0o600)
    return target


def check_checksum(path: Path, recorded_for: Path | None = None) -> bool:
    """Compare a file with the checksum recorded for `recorded_for` (itself by default):
    True when it matches, False when none was recorded (a backup from before checksums),
    BackupError when it differs."""
    recorded = checksum_path(recorded_for or path)
    if not recorded.is_file():
        return False
    expected = recorded.read_text(encoding="utf-8").split()[0] if recorded.stat().st_size \
        else ""
    if sha256_of(path) != expected:
        raise BackupError(f"The backup {recorded_for or path} is damaged: its bytes differ "
                          "from the checksum recorded when it was made (it may have been cut "
                          "short or changed on disk). Nothing was changed; restore an older "
                          "backup.")
    return True


def _choose(source: Path, kind: str = FILE, stem: str | None = None) -> Path:
    """The backup named, or the newest of `kind` in the folder named, of the database named
    `stem` only (labs may share a folder: another lab's backup is never taken for this one)."""
    if source.is_dir():
        found = latest(source, kind, stem)
        if found is None:
            what = "database file" if kind == FILE else "PostgreSQL"
            others = sorted({_NAME.match(b.path.name)["stem"]
                             for b in list_backups(source, kind=kind)})
            if others and stem:
                raise BackupError(
                    f"There is no backup of {stem} in {source}; it holds backups of "
                    f"{', '.join(others)} only, which are other databases. Name the backup "
                    "file itself with --from if you mean to restore one of them. Nothing was "
                    "changed.")
            raise BackupError(f"There is no {what} backup in {source}.")
        return found.path
    if source.is_file():
        return source
    raise BackupError(f"{source} does not exist.")
