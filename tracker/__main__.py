"""The command line: python -m tracker COMMAND [options].

Exit codes: 0 success, 1 input refused (reasons on stderr, one per line), 2 wrong usage.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

from tracker import demo, repo
from tracker.db import Database, DatabaseError, DatabaseLocked, default_path


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a date; write YYYY-MM-DD") from None


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", type=Path, default=None,
                        help="database file (default: $TRACKER_DB, else db/tracker.duckdb)")
    parser = argparse.ArgumentParser(
        prog="python -m tracker",
        description="The improvement lab tracker: database and data commands.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("init", parents=[common], help="create or migrate the database")
    p = sub.add_parser("demo", parents=[common],
                       help="fill an empty database with the demo challenge")
    p.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    p.add_argument("--as-of", type=_date, default=None,
                   help="pretend today is this date (YYYY-MM-DD); default: today")
    p.add_argument("--if-empty", action="store_true",
                   help="do nothing (exit 0) when the database already holds data")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    path = args.db or default_path()
    try:
        with Database(path) as db:
            if args.command == "init":
                print(f"Database ready: {path}")
            elif args.command == "demo":
                if args.if_empty and not repo.is_empty(db):
                    print(f"{path} already holds data; the demo was not loaded.")
                    return 0
                summary = demo.load_demo(db, seed=args.seed, as_of=args.as_of)
                print(f"Demo challenge loaded into {path}: {summary['organisations']} "
                      f"organisations, {summary['measures']} measures, {summary['ideas']} ideas, "
                      f"{summary['cycles']} PDSA cycles, {summary['results']:,} weekly results "
                      f"({summary['start']:%d %b %Y} to {summary['end']:%d %b %Y}).")
    except repo.InputError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 1
    except (DatabaseLocked, DatabaseError) as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
