"""The command line beside the running app.

DuckDB lets one process hold the database file. While the app holds it, `python -m tracker
import/export/report/backup/user/...` cannot open it, so it asks the app to do the command:

1. When the app server starts (server.py's lifespan) it makes a random *admin token*, keeps
   its SHA-256 hash in memory, and writes the token, its own address and its process number
   into a *control file* beside the database (`tracker.duckdb.app.json`), readable by the
   operating-system user that runs the app only (mode 0600). It removes the file when it stops.
2. The command line, refused by the lock, reads that file (so whoever may read it may act as
   the lab admin, as whoever may read the database file can), and posts the command to the
   app's route `/tracker/cli` with the token; the token is never typed on a command line.
3. The app parses the same arguments with the same parser and runs the same code
   (tracker.commands.cli.run) on its own connection: the same checks, audit and messages. Files go in
   the request (an import) and come back in the answer (a report, an export), so the person
   finds them where they asked; a backup is written by the app beside its database.

Nothing here imports Streamlit or Starlette.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import io
import json
import os
import secrets
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from tracker.commands import cli
from tracker.storage.db import Database

ROUTE = "/tracker/cli"
SUFFIX = ".app.json"
TIMEOUT = 3600  # seconds: a review pack of a large lab takes under a minute; leave room
FILE_OUTPUTS = {"report", "learning", "digest", "template"}  # --out is one file
FOLDER_OUTPUTS = {"export"}  # --out is a folder

_token_hash: str | None = None


def control_path(db_path: Path | str) -> Path:
    resolved = Path(db_path).expanduser().resolve()
    return resolved.with_name(resolved.name + SUFFIX)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------- the app's side


def start(db_path: Path | str, url: str) -> Path:
    """Make the admin token and write the control file (called once as the app starts)."""
    global _token_hash
    token = secrets.token_urlsafe(32)
    _token_hash = _hash(token)
    target = control_path(db_path)
    temporary = target.with_name(f".{target.name}.{os.getpid()}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump({"url": url, "token": token, "pid": os.getpid(),
                   "database": str(Path(db_path).resolve())}, handle)
    os.replace(temporary, target)
    return target


def stop(db_path: Path | str) -> None:
    """Remove the control file if it is this process's (called as the app stops)."""
    global _token_hash
    _token_hash = None
    target = control_path(db_path)
    with contextlib.suppress(OSError, ValueError):
        if json.loads(target.read_text(encoding="utf-8")).get("pid") == os.getpid():
            target.unlink()


def authorised(header: str | None) -> bool:
    """Whether an Authorization header carries this process's admin token."""
    if _token_hash is None or not header or not header.startswith("Bearer "):
        return False
    return hmac.compare_digest(_hash(header[len("Bearer "):].strip()), _token_hash)


def execute(db: Database, payload: dict) -> dict:
    """Do one command sent by the command line; answer its exit code, what it wrote on each
    stream and the files it made."""
    out, err = io.StringIO(), io.StringIO()
    parser = cli.build_parser()
    try:  # the command line parsed the same arguments with the same parser already
        args = parser.parse_args(list(payload.get("argv") or []))
    except SystemExit:
        return {"exit": 2, "stdout": "", "stderr": "The app could not read the command.\n",
                "files": {}}
    if args.command not in cli.THROUGH_APP:
        return {"exit": 2, "stdout": "", "files": {},
                "stderr": f"'{args.command}' cannot run while the app holds the database: "
                          "stop the app first.\n"}
    user = str(payload.get("user") or "unknown user")[:80]
    shown_out = str(payload.get("out_shown") or "")
    with tempfile.TemporaryDirectory(prefix="tracker-cli-") as work:
        work_dir = Path(work)
        made = work_dir / "out"
        if args.command == "import":
            sent = payload.get("file") or {}
            name = Path(str(sent.get("name") or "results.csv")).name
            args.file = work_dir / name
            args.file.write_bytes(base64.b64decode(sent.get("data") or b""))
        if args.command in FILE_OUTPUTS and getattr(args, "out", None):
            made.mkdir()
            args.out = made / Path(args.out).name
        elif args.command in FOLDER_OUTPUTS:
            args.out = made
        elif args.command == "backup" and args.out is not None:
            args.out = Path(payload.get("cwd") or "/") / args.out

        def shown(path: Path) -> str:  # the caller's name for a file the app made
            text = str(path)
            if shown_out in ("", "."):
                return text.replace(f"{made}/", "").replace(str(made), ".")
            return text.replace(str(made), shown_out)

        console = cli.Console(out=out, err=err, shown=shown,
                              password=lambda prompt: str(payload.get("password") or ""),
                              scope=cli.auth.Scope.admin(f"command line via the app ({user})"))
        code = cli.guarded(lambda: cli.run(db, args, console), db.path, err)
        files = {}
        if made.is_dir():
            for path in sorted(p for p in made.rglob("*") if p.is_file()):
                files[str(path.relative_to(made))] = base64.b64encode(
                    path.read_bytes()).decode("ascii")
    return {"exit": code, "stdout": out.getvalue(), "stderr": err.getvalue(), "files": files}


# --------------------------------------------------------------------------- the command line's side


def find(db_path: Path | str) -> dict | None:
    """The running app that holds this database, from its control file, or None."""
    try:
        found = json.loads(control_path(db_path).read_text(encoding="utf-8"))
        pid = int(found["pid"])
        os.kill(pid, 0)  # raises if no such process (a file left by an app that crashed)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not isinstance(found.get("url"), str) or not isinstance(found.get("token"), str):
        return None
    return found


def _without_db(argv: list[str]) -> list[str]:
    """The arguments without --db (the app works on its own database, the same file)."""
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--db":
            skip = True
        elif not arg.startswith("--db="):
            kept.append(arg)
    return kept


def send(app: dict, args, argv: list[str], console: cli.Console) -> int:
    """Ask the running app to do the command; write what it said and the files it made."""
    payload = {"argv": _without_db(argv), "user": cli.USER, "cwd": os.getcwd()}
    prompt = cli.needs_password(args)
    if prompt:
        payload["password"] = console.password(prompt)
    if args.command == "import":
        if not args.file.is_file():
            console.err.write(f"{args.file}: no such file\n")
            return 1
        payload["file"] = {"name": args.file.name,
                           "data": base64.b64encode(args.file.read_bytes()).decode("ascii")}
    if args.command == "template" and args.format == "xlsx" and args.out is None:
        args.out = cli.templates.default_xlsx_name(args.org)
        payload["argv"] += ["--out", str(args.out)]
    local_out = getattr(args, "out", None)
    if local_out is not None and args.command in FILE_OUTPUTS | FOLDER_OUTPUTS:
        payload["out_shown"] = str(local_out.parent if args.command in FILE_OUTPUTS
                                   else local_out)
    request = urllib.request.Request(
        app["url"].rstrip("/") + ROUTE, data=json.dumps(payload).encode("utf-8"),
        method="POST", headers={"Authorization": f"Bearer {app['token']}",
                                "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as reply:
            answer = json.loads(reply.read())
    except urllib.error.HTTPError as exc:
        console.err.write(f"The running tracker app (process {app['pid']}) refused the command "
                          f"(HTTP {exc.code}). Restart the app, then try again.\n")
        return 1
    except (OSError, ValueError) as exc:
        console.err.write(f"The database is held by the tracker app (process {app['pid']}), but "
                          f"the app did not answer at {app['url']} ({exc}). Wait for it to "
                          "start, or stop it and run the command again.\n")
        return 1
    for name, data in (answer.get("files") or {}).items():
        if args.command in FOLDER_OUTPUTS:
            target = local_out / name
        else:
            target = local_out.parent / Path(name).name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(base64.b64decode(data))
    console.out.write(answer.get("stdout") or "")
    console.err.write(answer.get("stderr") or "")
    return int(answer.get("exit", 1))
