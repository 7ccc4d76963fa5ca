"""The command line: python -m tracker COMMAND [options] (the commands are in tracker.commands.cli).

Without a running app the command opens the database file itself. While the app holds the
file, the command goes through the app (tracker.commands.app_control): the same code, run by the app.
Exit codes: 0 success, 1 input refused (reasons on stderr, one per line), 2 wrong usage.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from tracker.commands import app_control, cli
from tracker.errors import InputError
from tracker.storage import backup
from tracker.storage.base import DatabaseLocked, is_url, keep_files_private, location_key
from tracker.storage.db import Database
from tracker.storage.engines import open_database
from tracker.storage.pg import redacted

CLI = cli.CLI


def _restore(path: str, source: Path) -> int:
    if is_url(path):
        from tracker.storage import backup_pg

        chosen = backup_pg.restore(path, source)
        print(f"Restored {chosen} into {redacted(path)}. Point TRACKER_DB at it and start "
              "the app.")
        return 0
    chosen, kept = backup.restore(path, source)
    print(f"Restored {path} from {chosen}." + (f" The file it replaced is kept as {kept}."
                                              if kept.exists() else ""))
    return 0


def _migrate_to(path: str, url: str) -> int:
    from tracker.storage import migrate_to

    if is_url(path):
        raise InputError(f"The lab is already on PostgreSQL ({path}); migrate-to moves a lab "
                         "from its embedded file. Name the file with --db.")
    if not is_url(url):
        raise InputError(f"'{url}' is not a PostgreSQL address: write it as "
                         "postgresql://user@host:5432/dbname (see docs/deploy.md).")
    if not Path(path).exists():
        raise InputError(f"There is no database file at {path}. Name it with --db.")
    with Database(path) as source:  # refused while the app holds the file: stop it first
        moved = migrate_to.migrate_to(source, url, progress=lambda text: print(f"  {text}"))
    print(f"Moved {moved.total:,} rows in {len(moved.rows)} tables from {path} to "
          f"{redacted(url)}; every table checked row by row against the file. The file's data is "
          "unchanged. Start the app with TRACKER_DB set to the PostgreSQL address.")
    return 0


def main(argv: list[str] | None = None, prog: str = "python -m tracker") -> int:
    keep_files_private()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = cli.build_parser(prog).parse_args(argv)
    path = location_key(args.db)
    console = cli.local_console()

    def work() -> int:
        if args.command == "restore":
            return _restore(path, args.source)
        if args.command == "migrate-to":
            return _migrate_to(path, args.url)
        try:
            db = open_database(path)
        except DatabaseLocked as locked:
            app = app_control.find(path) if args.command in cli.THROUGH_APP else None
            if app is not None:
                return app_control.send(app, args, argv, console)
            control = app_control.control_path(path)
            if control.exists() and not os.access(control, os.R_OK):
                raise DatabaseLocked(
                    f"{locked} The running app's control file {control} can be read only by "
                    "the user that runs the app: run the command as that user (for example "
                    "sudo -u that-user python -m tracker ...) to go through the app.") from None
            raise
        with db:
            return cli.run(db, args, console)

    return cli.guarded(work, path, sys.stderr)


def run() -> None:
    """The `tracker` command (pyproject.toml's console script)."""
    sys.exit(main(prog="tracker"))


if __name__ == "__main__":
    run()
