"""The factory: the database TRACKER_DB (or --db) names, on the engine it names. Above both
engines, which never import it."""

from __future__ import annotations

import threading
from pathlib import Path

from tracker.storage.base import is_url, location_key
from tracker.storage.db import Database
from tracker.storage.pg import PostgresDatabase


def open_database(location=None):
    """The database TRACKER_DB (or `location`) names: PostgreSQL for a postgresql:// URL
    (tracker/storage/pg.py), else the embedded file."""
    key = location_key(location)
    if is_url(key):
        return PostgresDatabase(key)
    return Database(key)


_SHARED: dict[str, Database] = {}
_SHARED_LOCK = threading.Lock()


def shared(path: Path | str | None = None) -> Database:
    """The process's one `Database` for a file, opened on first use: the app's pages and its
    own web routes (server.py) share it, as DuckDB lets one process hold the file."""
    key = location_key(path)
    with _SHARED_LOCK:
        if key not in _SHARED:
            _SHARED[key] = open_database(key)
        return _SHARED[key]
