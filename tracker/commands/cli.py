"""The command line's commands: the parser, and what each command does on an open database.

`run(db, args, console)` does one command and writes what it has to say to the console's
streams, so the same code serves `python -m tracker` on the file itself and, while the app
holds the file, the app's own process answering the command line (tracker.commands.app_control).
Exit codes: 0 success, 1 input refused (reasons on the error stream, one per line),
2 wrong usage.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import getpass
import os
import secrets
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import duckdb
import pandas as pd

from tracker import demo
from tracker.access import auth
from tracker.intake import api_tokens, export, ingest, templates
from tracker.records import observations, repo
from tracker.storage import backup, backups
from tracker.storage.base import DatabaseError, DatabaseLocked
from tracker.storage.db import Database, damaged_message, is_damage


# Whoever runs the command line holds the database file itself (or the app's token), so acts
# as the lab admin; the audit log records the operating-system user.
def _user_name() -> str:
    try:
        return os.environ.get("USER") or getpass.getuser()
    except (KeyError, OSError):  # no name for this user id (a bare container)
        return f"uid {os.getuid()}"


USER = _user_name()
CLI = auth.Scope.admin(f"command line ({USER})")

# Commands that, while the app holds the file, go through the app (restore needs it stopped).
THROUGH_APP = {"init", "demo", "template", "import", "export", "report", "learning", "digest",
               "remind", "backup", "user", "token"}


@dataclass
class Console:
    """Where a command writes, where it reads a password from, and how it names a file it
    wrote (the app names the caller's path, not its own temporary one)."""

    out: TextIO
    err: TextIO
    password: Callable[[str], str]
    shown: Callable[[Path], str] = str
    scope: auth.Scope = CLI


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a date; write YYYY-MM-DD") from None


def build_parser(prog: str = "python -m tracker") -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", default=None,
                        help="database file or postgresql:// URL (default: $TRACKER_DB, "
                             "else db/tracker.duckdb)")
    parser = argparse.ArgumentParser(
        prog=prog,
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
    p.add_argument("--accounts", action="store_true",
                   help="also make an account for each role (the lab lead, a viewer, two "
                        "partners, a contributor) with one new password, printed once; "
                        "login is then on")
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
    p.add_argument("--accept-unusual", action="store_true",
                   help="store values flagged as far from what is usual, after checking them "
                        "(without it a file holding any is refused, nothing stored)")
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
    p.add_argument("--challenge", default=None,
                   help="the challenge, by its title or number (default: the one running today)")

    p = sub.add_parser("learning", parents=[common],
                       help="the learning report: what each idea taught, with its evidence")
    p.add_argument("--out", type=Path, required=True, help="FILE.html or FILE.pdf")
    p.add_argument("--public", action="store_true",
                   help="the public version: disclosure control applied, and said")
    p.add_argument("--ideas", nargs="+", default=None, metavar="IDEA",
                   help="only these ideas (titles or numbers; default: every idea)")
    p.add_argument("--challenge", default=None,
                   help="the challenge, by its title or number (default: the one running today)")
    p = sub.add_parser("digest", parents=[common],
                       help="what is new since a date (cycles, decisions, signals, learning)")
    p.add_argument("--since", type=_date, required=True, help="YYYY-MM-DD")
    p.add_argument("--org", default=None,
                   help="as a partner organisation sees it (default: as the lab team sees it)")
    p.add_argument("--out", type=Path, default=None, help="FILE.html or FILE.md")
    p.add_argument("--send", action="store_true",
                   help="mail each account with an e-mail its own digest, through the SMTP "
                        "server TRACKER_SMTP names (instead of writing --out)")
    p.add_argument("--challenge", default=None,
                   help="the challenge, by its title or number (default: the one running today)")
    p = sub.add_parser("remind", parents=[common],
                       help="partner accounts whose organisation's results are overdue")
    p.add_argument("--send", action="store_true",
                   help="mail them, through TRACKER_SMTP (without it: say who would be mailed)")

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

    p = sub.add_parser("migrate-to", parents=[common],
                       help="copy this lab from its file into an empty PostgreSQL database "
                            "(not while the app runs)")
    p.add_argument("url", help="the PostgreSQL database, postgresql://user@host/dbname")

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

    token = sub.add_parser("token", help="results API tokens of partner organisations: add, "
                                         "list, revoke")
    tokens = token.add_subparsers(dest="token_command", required=True, metavar="ACTION")
    p = tokens.add_parser("add", parents=[common],
                          help="a new token for one organisation (shown once)")
    p.add_argument("--org", required=True, help="organisation name")
    p.add_argument("--label", required=True,
                   help="what it is for, for example 'EMIS nightly export'")
    tokens.add_parser("list", parents=[common], help="list the tokens")
    p = tokens.add_parser("revoke", parents=[common], help="stop a token working")
    p.add_argument("--id", type=int, required=True, help="the token's number (from list)")
    return parser




def read_password(prompt: str = "Password: ") -> str:
    """From a prompt on a terminal, or the first line of standard input when it is not one.
    Never from the command line, where it would be kept in the shell's history."""
    if sys.stdin.isatty():
        first = getpass.getpass(prompt)
        if getpass.getpass("Again: ") != first:
            raise repo.InputError("The two passwords differ.")
        return first
    return sys.stdin.readline().rstrip("\r\n")


def local_console() -> Console:
    return Console(out=sys.stdout, err=sys.stderr, password=read_password)


def needs_password(args) -> str | None:
    """The prompt of the password a command reads, if it reads one."""
    if args.command != "user":
        return None
    if args.user_command == "add" and not args.sso_only:
        return "Password: "
    if args.user_command == "reset-password":
        return "New password: "
    return None


def _user(db, args, con: Console) -> int:
    say = con.out.write
    if args.user_command == "add":
        org_id = api_tokens.find_organisation(db, args.org)["id"] if args.org else None
        first = not auth.accounts_exist(db)
        password = None if args.sso_only else con.password("Password: ")
        auth.add_user(db, con.scope, username=args.name, role=args.role, password=password,
                      organisation_id=org_id, email=args.email, sso_only=args.sso_only)
        say(f"Account '{args.name}' added: {auth.ROLES[args.role]}."
            + (" Login is now on: the app asks everyone to sign in." if first else "") + "\n")
    elif args.user_command == "list":
        users = auth.list_users(db, con.scope)
        if users.empty:
            say("No accounts: the tracker runs in local mode (one user, the lab admin).\n")
        for u in users.itertuples():
            state = "active" if pd.isna(u.disabled_at) else "disabled"
            org = f", {u.organisation}" if isinstance(u.organisation, str) else ""
            say(f"{u.username}\t{u.role}{org}\t{state}\n")
    elif args.user_command == "disable":
        auth.disable_user(db, con.scope, args.name)
        say(f"Account '{args.name}' disabled.\n")
    elif args.user_command == "enable":
        auth.enable_user(db, con.scope, args.name)
        say(f"Account '{args.name}' enabled.\n")
    elif args.user_command == "unlock":
        auth.unlock_user(db, con.scope, args.name)
        say(f"Account '{args.name}' unlocked.\n")
    else:
        auth.reset_password(db, con.scope, args.name, con.password("New password: "))
        say(f"Password of '{args.name}' reset; the account is unlocked.\n")
    return 0


def _token(db, args, con: Console) -> int:
    say = con.out.write
    if args.token_command == "add":
        token_id, secret = api_tokens.create(db, con.scope, organisation=args.org, label=args.label)
        say(f"API token {token_id} for {args.org}: {secret}\n"
            "It is shown this once: give it to the organisation over a safe channel. It lets "
            "their system send that organisation's results (docs/api.md).\n")
    elif args.token_command == "list":
        tokens = api_tokens.list_tokens(db, con.scope)
        if tokens.empty:
            say("No API tokens.\n")
        for t in tokens.itertuples():
            state = ("active" if pd.isna(t.revoked_at)
                     else f"revoked {t.revoked_at:%d %b %Y} by {t.revoked_by}")
            used = ("never used" if pd.isna(t.last_used_at)
                    else f"last used {t.last_used_at:%d %b %Y %H:%M}")
            say(f"{t.id}\t{t.organisation}\t{t.label}\t{t.token}\t{state}\t{used}\n")
    else:
        api_tokens.revoke(db, con.scope, args.id)
        say(f"API token {args.id} revoked: it no longer works.\n")
    return 0


def _partner_scope(db, name: str, con: Console) -> auth.Scope:
    """The scope of a partner organisation, for writing what it may see."""
    org = api_tokens.find_organisation(db, name)
    return dataclasses.replace(con.scope, role="partner", organisation_id=org["id"],
                               organisation=org["name"])


def _import(db, args, con: Console) -> int:
    if not args.file.is_file():
        con.err.write(f"{args.file}: no such file\n")
        return 1
    data = ingest.read_path(args.file)
    action = ingest.check if args.dry_run else ingest.commit
    kwargs = {"organisation": args.org}
    if not args.dry_run:
        kwargs["accept_unusual"] = args.accept_unusual
    if args.verbose:
        def progress(fraction, text):
            con.err.write(f"{fraction:4.0%} {text}\n")
            con.err.flush()
        kwargs["progress"] = progress
    report = action(db, data, args.file.name, con.scope, **kwargs)
    for problem in report.errors:
        con.err.write(f"{problem}\n")
    if report.more_errors:
        con.err.write(f"... and {report.more_errors:,} more problems of the same kinds\n")
    if not report.ok:
        con.err.write(report.summary() + "\n")
        return 1
    if report.held_back:
        for warning in report.warnings:
            con.err.write(f"{warning}\n")
        con.err.write(report.summary().replace("confirm the values if they are right",
                                               "if the values are right run the command again "
                                               "with --accept-unusual") + "\n")
        return 1
    for warning in report.warnings:
        con.out.write(f"Warning: {warning}\n")
    con.out.write(f"{report.file_type}, {report.encoding}"
                  + (f", {report.delimiter}-separated" if report.delimiter else "")
                  + f", dates {report.date_format}, {report.layout}.\n")
    con.out.write(("Dry run, nothing stored. " if args.dry_run else "") + report.summary()
                  + "\n")
    return 0


def _challenge(db, wanted: str) -> dict:
    """A challenge by its number or title (case and spaces ignored)."""
    found = repo.list_challenges(db)
    for c in found.itertuples():
        if wanted.strip() == str(c.id) or repo._norm(wanted) == repo._norm(c.title):
            return repo.get_challenge(db, int(c.id))
    raise repo.InputError(f"No challenge is called '{wanted}'. The challenges are: "
                          + "; ".join(f"{c.id}: {c.title}" for c in found.itertuples()) + ".")


def _nothing_in(db: Database, con: Console) -> str | None:
    """Why a report of the challenge looked at would be empty (no results and no ideas), or
    None. An upcoming challenge is said to be one: a pack of it would report nothing."""
    challenge = repo.get_challenge(db, con.scope.challenge_id)
    if challenge is None:
        return "There is no challenge yet: create one on the Challenge page, or load the demo."
    if observations.count_results(db, con.scope) or not repo.list_ideas(db, challenge["id"]).empty:
        return None
    others = repo.list_challenges(db)
    hint = "" if len(others) < 2 else (
        " Choose another with --challenge: " + "; ".join(
            f"{c.id}: {c.title} ({c.state})" for c in others.itertuples()) + ".")
    when = ("is upcoming: it starts on " if challenge["state"] == "upcoming" else "runs from ") \
        + f"{challenge['start_date']:%d %b %Y}"
    return (f"The challenge '{challenge['title']}' {when} and has no results or change ideas "
            f"yet, so there is nothing to report.{hint}")


def run(db: Database, args, con: Console) -> int:
    """Do one command (not `restore`) on an open database."""
    say = con.out.write
    path = db.path
    if getattr(args, "challenge", None):
        con.scope = con.scope.viewing(_challenge(db, args.challenge))
    if args.command == "init":
        say(f"Database ready: {path}\n")
    elif args.command == "demo":
        if args.if_empty and not repo.is_empty(db):
            say(f"{path} already holds data; the demo was not loaded.\n")
            return 0
        password = secrets.token_urlsafe(12) if args.accounts else None
        summary = demo.load_demo(db, seed=args.seed, as_of=args.as_of,
                                 accounts_password=password)
        say(f"Demo challenge loaded into {path}: {summary['organisations']} "
            f"organisations, {summary['measures']} measures, {summary['ideas']} ideas, "
            f"{summary['cycles']} PDSA cycles, {summary['results']:,} weekly results (weeks "
            f"of {summary['first_week']:%d %b %Y} to {summary['last_week']:%d %b %Y}); the "
            f"challenge runs {summary['start']:%d %b %Y} to {summary['end']:%d %b %Y}.\n")
        if password:
            say("Accounts, each with the password " + password + " (shown only now):\n"
                + "".join(f"  {name}: {demo_role}\n"
                          for name, demo_role in demo.account_roles()))
    elif args.command == "template":
        if args.format == "csv":
            data = templates.template_csv(db, con.scope, args.org)
            if args.out:
                args.out.write_bytes(data)
            else:
                say(data.decode("utf-8"))
        else:
            out = args.out or templates.default_xlsx_name(args.org)
            out.write_bytes(templates.template_xlsx(db, con.scope, args.org))
            say(f"Template written to {con.shown(out)}\n")
    elif args.command == "import":
        return _import(db, args, con)
    elif args.command in ("report", "learning", "digest") and (empty := _nothing_in(db, con)):
        con.err.write(f"{empty} Nothing was written.\n")
        return 1
    elif args.command == "report":
        from tracker.reports import report

        out = report.write_report(db, con.scope, args.out, organisation=args.org,
                                  date_from=args.date_from, date_to=args.date_to,
                                  every_chart=args.every_chart)
        say(f"Review pack written to {con.shown(out)}\n")
    elif args.command == "learning":
        from tracker.learning import learning_report

        out = learning_report.write_learning_report(db, con.scope, args.out, public=args.public,
                                                    ideas=args.ideas)
        version = "public" if args.public else "internal (for the lab team only)"
        say(f"Learning report, {version} version, written to {con.shown(out)}\n")
    elif args.command == "digest" and args.send:
        return _mail(db, con, "digest", since=args.since)
    elif args.command == "digest":
        from tracker.learning import whats_new

        if args.out is None:
            con.err.write("Say where to write the digest (--out FILE.html or FILE.md), or "
                          "mail it to every account with --send.\n")
            return 1
        reader = con.scope if not args.org else _partner_scope(db, args.org, con)
        out = whats_new.digest(db, reader, args.since, args.out)
        say(f"Digest since {args.since:%d %b %Y} written to {con.shown(out)}\n")
    elif args.command == "remind":
        return _mail(db, con, "reminder", dry_run=not args.send)
    elif args.command == "user":
        return _user(db, args, con)
    elif args.command == "token":
        return _token(db, args, con)
    elif args.command == "export":
        written = export.export_all(db, con.scope, args.out)
        say(f"Wrote {len(written)} files to {con.shown(args.out)}\n")
    elif args.command == "backup":
        made = backups.take(db, args.out, keep=args.keep)
        checked = ("made by pg_dump, checked with pg_restore --list" if db.engine == "postgresql"
                   else "checked by reopening it")
        say(f"Backup written to {made.path} ({made.size / 1e6:,.1f} MB), {checked}.\n")
    return 0


def _mail(db: Database, con: Console, kind: str, *, since=None, dry_run=False) -> int:
    """digest --send and remind [--send]: each account's own message, through the SMTP
    server TRACKER_SMTP names; every failure named, and exit code 1 if any."""
    from tracker.community import mail

    con.scope.require_admin("send the lab's mail")
    smtp = mail.configured()
    if kind == "digest":
        items = mail.digest_messages(db, since, challenge_id=con.scope.challenge_id, smtp=smtp)
    else:
        items = mail.reminder_messages(db)
    if dry_run:
        for item in items:
            con.out.write(f"{item.username}: {item.subject}\n")
        con.out.write(f"{len(items)} reminder{'s' if len(items) != 1 else ''} would be sent; "
                      "add --send to send them.\n")
        return 0
    if smtp is None:
        con.err.write(f"No SMTP server: set {mail.ENV}, for example "
                      "smtp://user:password@host:587?starttls=1. Nothing was sent.\n")
        return 1
    result = mail.send(db, smtp, kind, items)
    con.out.write(f"{result.sent} of {len(items)} sent through {smtp.shown}.\n")
    for failure in result.failed:
        con.err.write(f"Not sent to {failure} (tried {mail.ATTEMPTS} times; see Admin → "
                      "Mail).\n")
    return 1 if result.failed else 0


def guarded(work: Callable[[], int], path, err: TextIO) -> int:
    """Run a command, turning every refusal into sentences on `err` and exit code 1."""
    try:
        return work()
    except repo.InputError as exc:
        for problem in exc.problems:
            err.write(f"{problem}\n")
        return 1
    except (DatabaseLocked, DatabaseError, backup.BackupError) as exc:
        err.write(f"{exc}\n")
        return 1
    except duckdb.Error as exc:  # met while reading: a damaged block, never a traceback
        if is_damage(exc):
            err.write(damaged_message(Path(path), str(exc)) + "\n")
        else:
            err.write(f"The database refused the command: {str(exc).splitlines()[0]}\n")
        return 1
    except OSError as exc:
        err.write(f"Could not read or write a file: {exc.strerror or exc} ({exc.filename})\n")
        return 1
    except Exception as exc:  # noqa: BLE001 - PostgreSQL's errors (psycopg), in words
        if type(exc).__module__.startswith("psycopg"):
            err.write(f"The database refused the command: {str(exc).splitlines()[0]}\n")
            return 1
        raise
