"""The command line: python -m tracker COMMAND [options].

Exit codes: 0 success, 1 input refused (reasons on stderr, one per line), 2 wrong usage.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from pathlib import Path

import duckdb
import pandas as pd

from tracker import auth, backup, demo, export, ingest, repo, templates
from tracker.db import (
    Database,
    DatabaseError,
    DatabaseLocked,
    damaged_message,
    default_path,
    is_damage,
)

# Whoever runs the command line holds the database file itself, so acts as the lab admin;
# the audit log records the operating-system user.
CLI = auth.Scope.admin(f"command line ({os.environ.get('USER', 'unknown user')})")


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
    p = sub.add_parser("template", parents=[common],
                       help="print (CSV) or write (XLSX) the upload template of an organisation")
    p.add_argument("--org", required=True, help="organisation name")
    p.add_argument("--format", choices=["csv", "xlsx"], default="csv")
    p.add_argument("--out", type=Path, default=None,
                   help="file to write (default: standard output for CSV, "
                        "template-ORG.xlsx for XLSX)")
    p = sub.add_parser("import", parents=[common], help="validate and store a results file")
    p.add_argument("file", type=Path)
    p.add_argument("--org", default=None,
                   help="the organisation the file is for (rows naming another are refused)")
    p.add_argument("--dry-run", action="store_true", help="check the file, store nothing")
    p.add_argument("--verbose", action="store_true", help="report each step on stderr")
    p = sub.add_parser("export", parents=[common], help="write every table as CSV")
    p.add_argument("--out", type=Path, required=True, help="folder to write into")

    p = sub.add_parser("report", parents=[common],
                       help="the leadership review pack as PDF or PowerPoint")
    p.add_argument("--out", type=Path, required=True, help="FILE.pdf or FILE.pptx")
    p.add_argument("--org", default=None, help="one organisation (default: all)")
    p.add_argument("--from", dest="date_from", type=_date, default=None, help="YYYY-MM-DD")
    p.add_argument("--to", dest="date_to", type=_date, default=None, help="YYYY-MM-DD")
    p.add_argument("--every-chart", action="store_true",
                   help="a chart for every series (default: those with a signal now or a "
                        "target at risk; the summary lists every series either way)")

    p = sub.add_parser("learning", parents=[common],
                       help="the learning report: what each idea taught, with its evidence")
    p.add_argument("--out", type=Path, required=True, help="FILE.html or FILE.pdf")
    p.add_argument("--public", action="store_true",
                   help="the public version: disclosure control applied, and said")
    p.add_argument("--ideas", nargs="+", default=None, metavar="IDEA",
                   help="only these ideas (titles or numbers; default: every idea)")
    p = sub.add_parser("digest", parents=[common],
                       help="what is new since a date (cycles, decisions, signals, learning)")
    p.add_argument("--since", type=_date, required=True, help="YYYY-MM-DD")
    p.add_argument("--org", default=None,
                   help="as a partner organisation sees it (default: as the lab team sees it)")
    p.add_argument("--out", type=Path, required=True, help="FILE.html or FILE.md")

    p = sub.add_parser("backup", parents=[common],
                       help="a consistent copy of the database, checked by reopening it")
    p.add_argument("--out", type=Path, default=None,
                   help="folder for the backup (default: $TRACKER_BACKUP_DIR, else backups/ "
                        "beside the database)")
    p.add_argument("--keep", type=int, default=None,
                   help="keep only the newest N backups in that folder (default 14)")
    p = sub.add_parser("restore", parents=[common],
                       help="put a backup in place of the database (not while the app runs)")
    p.add_argument("--from", dest="source", type=Path, required=True,
                   help="a backup file, or a folder of backups (the newest is used)")

    user = sub.add_parser("user", help="accounts: add, list, disable, enable, unlock, "
                                         "reset-password")
    users = user.add_subparsers(dest="user_command", required=True, metavar="ACTION")
    p = users.add_parser("add", parents=[common], help="add an account (the first is an admin)")
    p.add_argument("--name", required=True, help="username")
    p.add_argument("--role", required=True, choices=sorted(auth.ROLES))
    p.add_argument("--org", default=None, help="organisation (partner accounts only)")
    p.add_argument("--email", default=None, help="e-mail (for single sign-on)")
    p.add_argument("--sso-only", action="store_true",
                   help="no password: the account signs in through single sign-on only")
    users.add_parser("list", parents=[common], help="list the accounts")
    for action, text in (("disable", "stop an account signing in"),
                         ("enable", "let a disabled account sign in again"),
                         ("unlock", "lift the lock after failed sign-ins"),
                         ("reset-password", "set a new password (and unlock)")):
        p = users.add_parser(action, parents=[common], help=text)
        p.add_argument("--name", required=True, help="username")
    return parser


def _read_password(prompt: str = "Password: ") -> str:
    """From a prompt on a terminal, or the first line of standard input when it is not one.
    Never from the command line, where it would be kept in the shell's history."""
    if sys.stdin.isatty():
        import getpass

        first = getpass.getpass(prompt)
        if getpass.getpass("Again: ") != first:
            raise repo.InputError("The two passwords differ.")
        return first
    return sys.stdin.readline().rstrip("\r\n")


def _user(db, args) -> int:
    if args.user_command == "add":
        org_id = None
        if args.org:
            orgs = repo.list_organisations(db, CLI)
            match = orgs[orgs["name"].map(repo._norm) == repo._norm(args.org)]
            if match.empty:
                raise repo.InputError(f"No organisation is called '{args.org}'."
                                      + ingest.suggest(args.org, orgs["name"].tolist()))
            org_id = int(match["id"].iloc[0])
        first = not auth.accounts_exist(db)
        password = None if args.sso_only else _read_password()
        auth.add_user(db, CLI, username=args.name, role=args.role, password=password,
                      organisation_id=org_id, email=args.email, sso_only=args.sso_only)
        print(f"Account '{args.name}' added: {auth.ROLES[args.role]}."
              + (" Login is now on: the app asks everyone to sign in." if first else ""))
    elif args.user_command == "list":
        users = auth.list_users(db, CLI)
        if users.empty:
            print("No accounts: the tracker runs in local mode (one user, the lab admin).")
        for u in users.itertuples():
            state = "active" if pd.isna(u.disabled_at) else "disabled"
            org = f", {u.organisation}" if isinstance(u.organisation, str) else ""
            print(f"{u.username}\t{u.role}{org}\t{state}")
    elif args.user_command == "disable":
        auth.disable_user(db, CLI, args.name)
        print(f"Account '{args.name}' disabled.")
    elif args.user_command == "enable":
        auth.enable_user(db, CLI, args.name)
        print(f"Account '{args.name}' enabled.")
    elif args.user_command == "unlock":
        auth.unlock_user(db, CLI, args.name)
        print(f"Account '{args.name}' unlocked.")
    else:
        auth.reset_password(db, CLI, args.name, _read_password("New password: "))
        print(f"Password of '{args.name}' reset; the account is unlocked.")
    return 0


def _partner_scope(db, name: str) -> auth.Scope:
    """The scope of a partner organisation, for writing what it may see."""
    orgs = repo.list_organisations(db, CLI)
    found = orgs[orgs["name"].map(repo._norm) == repo._norm(name)]
    if found.empty:
        from tracker.ingest import suggest

        raise repo.InputError(f"No organisation called '{name}'."
                              + suggest(name, orgs["name"].tolist()))
    row = found.iloc[0]
    return auth.Scope(actor=CLI.actor, role="partner", organisation_id=int(row["id"]),
                      organisation=row["name"])


def _import(db, args) -> int:
    if not args.file.is_file():
        print(f"{args.file}: no such file", file=sys.stderr)
        return 1
    data = ingest.read_path(args.file)
    action = ingest.check if args.dry_run else ingest.commit
    kwargs = {"organisation": args.org}
    if args.verbose:
        kwargs["progress"] = lambda fraction, text: print(f"{fraction:4.0%} {text}",
                                                          file=sys.stderr, flush=True)
    report = action(db, data, args.file.name, CLI, **kwargs)
    for problem in report.errors:
        print(problem, file=sys.stderr)
    if report.more_errors:
        print(f"... and {report.more_errors:,} more problems of the same kinds",
              file=sys.stderr)
    if not report.ok:
        print(report.summary(), file=sys.stderr)
        return 1
    for warning in report.warnings:
        print(f"Warning: {warning}")
    print(f"{report.file_type}, {report.encoding}"
          + (f", {report.delimiter}-separated" if report.delimiter else "")
          + f", dates {report.date_format}, {report.layout}.")
    print(("Dry run, nothing stored. " if args.dry_run else "") + report.summary())
    return 0


def _restore(path: Path, source: Path) -> int:
    chosen, kept = backup.restore(path, source)
    print(f"Restored {path} from {chosen}." + (f" The file it replaced is kept as {kept}."
                                              if kept.exists() else ""))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    path = args.db or default_path()
    try:
        if args.command == "restore":
            return _restore(path, args.source)
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
            elif args.command == "template":
                if args.format == "csv":
                    data = templates.template_csv(db, CLI, args.org)
                    if args.out:
                        args.out.write_bytes(data)
                    else:
                        sys.stdout.write(data.decode("utf-8"))
                else:
                    out = args.out or Path(f"template-{'-'.join(args.org.split())}.xlsx")
                    out.write_bytes(templates.template_xlsx(db, CLI, args.org))
                    print(f"Template written to {out}")
            elif args.command == "import":
                return _import(db, args)
            elif args.command == "report":
                from tracker import report

                out = report.write_report(db, CLI, args.out, organisation=args.org,
                                          date_from=args.date_from, date_to=args.date_to,
                                          every_chart=args.every_chart)
                print(f"Review pack written to {out}")
            elif args.command == "learning":
                from tracker import learning_report

                out = learning_report.write_learning_report(db, CLI, args.out,
                                                            public=args.public, ideas=args.ideas)
                version = "public" if args.public else "internal (for the lab team only)"
                print(f"Learning report, {version} version, written to {out}")
            elif args.command == "digest":
                from tracker import whats_new

                reader = CLI if not args.org else _partner_scope(db, args.org)
                out = whats_new.digest(db, reader, args.since, args.out)
                print(f"Digest since {args.since:%d %b %Y} written to {out}")
            elif args.command == "user":
                return _user(db, args)
            elif args.command == "export":
                written = export.export_all(db, CLI, args.out)
                print(f"Wrote {len(written)} files to {args.out}")
            elif args.command == "backup":
                made = backup.backup(db, args.out, keep=args.keep)
                print(f"Backup written to {made.path} ({made.size / 1e6:,.1f} MB), checked by "
                      "reopening it.")
    except repo.InputError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 1
    except (DatabaseLocked, DatabaseError, backup.BackupError) as exc:
        print(exc, file=sys.stderr)
        return 1
    except duckdb.Error as exc:  # met while reading: a damaged block, never a traceback
        if is_damage(exc):
            print(damaged_message(Path(path), str(exc)), file=sys.stderr)
        else:
            print(f"The database refused the command: {str(exc).splitlines()[0]}",
                  file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"Could not read or write a file: {exc.strerror or exc} ({exc.filename})",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
