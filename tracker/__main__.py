"""The command line: python -m tracker COMMAND [options] (the commands are in tracker.cli).

Without a running app the command opens the database file itself. While the app holds the
file, the command goes through the app (tracker.app_control): the same code, run by the app.
Exit codes: 0 success, 1 input refused (reasons on stderr, one per line), 2 wrong usage.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from tracker import app_control, backup, cli
from tracker.db import DatabaseLocked, location_key, open_database

CLI = cli.CLI


def _restore(path: Path, source: Path) -> int:
    chosen, kept = backup.restore(path, source)
    print(f"Restored {path} from {chosen}." + (f" The file it replaced is kept as {kept}."
                                              if kept.exists() else ""))
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = cli.build_parser().parse_args(argv)
    path = str(args.db) if args.db else location_key()
    console = cli.local_console()

    def work() -> int:
        if args.command == "restore":
            return _restore(path, args.source)
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


if __name__ == "__main__":
    sys.exit(main())
