"""Load on the running tracker: partner systems posting results through the results API,
command lines importing, the lab team signing in and logging PDSA cycles in a browser, and
light requests, all at once; on the embedded file (one app server) or on PostgreSQL (several).

    python bench/server_load.py [--seconds 60] [--partners 6] [--cli 2] [--lab-team 1]
    python bench/server_load.py --postgresql postgresql://postgres@/postgres?host=/tmp/pgc \
        [--servers 3] [--seconds 60] [--partners 6] [--cli 2] [--lab-team 2]

The lab is the demo (or a copy of --db), with an API token for each partner organisation and
a lab admin account. Embedded: one `streamlit run server.py` on a copy of the file, and the
command lines go through that app (it holds the file). PostgreSQL: the bench creates a new
database on the server named (and drops it afterwards unless --keep), moves the lab into it
with `python -m tracker migrate-to`, starts SERVERS app servers on it, and the command lines
connect to PostgreSQL themselves. Then, for SECONDS:
- one thread per partner posts a file of its own organisation's results (every value nudged,
  so each file updates rows) with commit=true, to the app servers in turn;
- CLI processes run `python -m tracker import` in a loop, each with its own organisation;
- LAB_TEAM people, each in their own Chromium, again and again: open an app server (in
  turn), sign in (timed from the click to the page shown), plan a PDSA cycle on the Test
  cycles page (timed from the click to "Cycle planned"), close the browser context;
- one thread asks GET /healthz of each server in turn every 0.2 s;
- on PostgreSQL, a process of its own signs in every 0.5 s through the data layer itself
  (auth.authenticate, as the login form calls it): the database's part of a sign-in, which
  must not wait behind the uploads, measured apart from the browser's rendering.
Afterwards, with the servers stopped, it checks that every file answered "stored" is exactly
one batch holding exactly the rows its answer counted (every row stored once), that no
(organisation, measure, period) has two current values, that no organisation name is stored
twice, and that every cycle the browser saved is stored once. Prints throughput, the median
and slowest of each kind of request, and every error anyone was shown; passes or fails
nothing (its smoke run in tests/test_bench.py checks the checks).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from app_server import start_app, stop_app  # noqa: E402

from tracker import demo  # noqa: E402
from tracker.access import auth  # noqa: E402
from tracker.access.scope import Scope  # noqa: E402
from tracker.intake import api_tokens  # noqa: E402
from tracker.storage.db import Database  # noqa: E402
from tracker.storage.engines import open_database  # noqa: E402

ADMIN = Scope.admin("load bench")
LAB_USER, LAB_PASSWORD = "lab_lead", "load bench password 2026"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
STORED = re.compile(r"Stored .*?: ([\d,]+) new, ([\d,]+) updated, .*\(upload (\d+)\)")


def files_of(db: Database, org_id: int, rng: np.random.Generator) -> bytes:
    """The organisation's last 26 weeks of results with every value nudged (a valid file)."""
    rows = db.read(
        "SELECT o.name AS organisation, m.name AS measure, r.period, r.value, r.numerator,"
        " r.denominator FROM current_result r JOIN organisation o ON o.id = r.organisation_id"
        " JOIN measure m ON m.id = r.measure_id WHERE r.organisation_id = ?"
        " QUALIFY row_number() OVER (PARTITION BY r.measure_id ORDER BY r.period DESC) <= 26",
        [org_id])
    nudge = rng.uniform(0.97, 1.03, len(rows))
    rows["value"] = (rows["value"] * nudge).round(2)
    numerators = rows["numerator"].to_numpy(dtype=float)
    denominators = rows["denominator"].to_numpy(dtype=float)
    moved = np.clip(np.round(numerators + rng.integers(-1, 2, len(rows))), 0, denominators)
    rows["numerator"] = np.where(np.isnan(numerators), np.nan, moved)
    out = io.StringIO()
    rows.to_csv(out, index=False)
    return out.getvalue().encode()


class Timings:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.seconds: dict[str, list[float]] = {}
        self.errors: list[str] = []
        self.batches: dict[int, int] = {}  # batch id -> rows its answer said were stored
        self.cycles: list[str] = []  # objectives of the cycles the browser saw saved

    def add(self, kind: str, seconds: float) -> None:
        with self.lock:
            self.seconds.setdefault(kind, []).append(seconds)

    def error(self, text: str) -> None:
        with self.lock:
            self.errors.append(text)

    def stored(self, batch_id: int, rows: int) -> None:
        with self.lock:
            if batch_id in self.batches:
                self.errors.append(f"batch {batch_id} reported twice")
            self.batches[batch_id] = rows


def partner(urls: list[str], token: str, source: Database, org_id: int, seed: int,
            stop: float, timings: Timings) -> None:
    rng = np.random.default_rng(seed)
    turn = seed
    while time.monotonic() < stop:
        url = urls[turn % len(urls)]
        turn += 1
        body = files_of(source, org_id, rng)
        request = urllib.request.Request(
            f"{url}/tracker/api/results?file=load.csv&commit=true&accept_unusual=true",
            data=body, method="POST", headers={"Authorization": f"Bearer {token}"})
        started = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=600) as reply:
                answer = json.loads(reply.read())
        except urllib.error.HTTPError as refused:
            try:
                said = json.loads(refused.read())
                said = "; ".join([said.get("summary", "")] + [
                    e.get("text", "") for e in said.get("errors", [])[:2]])
            except ValueError:
                said = "(not JSON)"
            timings.error(f"API {refused.code}: {said[:300]}")
            continue
        except OSError as exc:
            timings.error(f"API: {exc}")
            continue
        timings.add("results API, commit", time.monotonic() - started)
        if answer.get("status") == "stored":
            timings.stored(int(answer["batch_id"]), answer["new"] + answer["updated"])


def command_line(database: str, source: Database, org_id: int, seed: int, stop: float,
                 folder: Path, timings: Timings) -> None:
    rng = np.random.default_rng(seed)
    env = {**os.environ, "TRACKER_DB": database, "PYTHONPATH": str(ROOT)}
    while time.monotonic() < stop:
        path = folder / f"cli-{seed}.csv"
        path.write_bytes(files_of(source, org_id, rng))
        started = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "tracker", "import", str(path)],
                              env=env, capture_output=True, text=True, timeout=600)
        timings.add("command line import (process start included)",
                    time.monotonic() - started)
        found = STORED.search(done.stdout)
        if done.returncode != 0:
            timings.error(f"CLI: {done.stderr.strip()[:300]}")
        elif found:
            new, updated, batch = (int(g.replace(",", "")) for g in found.groups())
            timings.stored(batch, new + updated)


def lab_team(urls: list[str], person: int, stop: float, timings: Timings) -> None:
    """One member of the lab team in their own Chromium: sign in, plan a cycle, again."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        turn = person
        while time.monotonic() < stop:
            url = urls[turn % len(urls)]
            turn += 1
            context = browser.new_context(viewport={"width": 1400, "height": 1600})
            page = context.new_page()
            objective = f"Load bench cycle {person}-{turn}"
            try:
                page.goto(f"{url}/cycles")
                page.get_by_role("textbox", name="Username").fill(LAB_USER)
                page.get_by_role("textbox", name="Password").fill(LAB_PASSWORD)
                started = time.monotonic()
                page.get_by_role("button", name="Log in").click()
                page.get_by_text(f"Signed in as {LAB_USER}").wait_for(timeout=120_000)
                page.get_by_role("tab", name="Plan a new cycle").wait_for(timeout=120_000)
                timings.add("sign-in in a browser (click to page shown)",
                            time.monotonic() - started)
                page.get_by_role("tab", name="Plan a new cycle").click()
                page.get_by_label("Objective: what is this cycle for?").fill(objective)
                page.get_by_label("Question: if we do x, will y happen?").fill("Will it hold?")
                page.get_by_role("textbox", name="Prediction (required)").fill("Yes")
                started = time.monotonic()
                page.get_by_role("button", name="Save the plan").click()
                page.get_by_text("Cycle planned").first.wait_for(timeout=120_000)
                timings.add("plan a PDSA cycle in a browser (click to saved)",
                            time.monotonic() - started)
                with timings.lock:
                    timings.cycles.append(objective)
                shown = page.locator("[data-testid='stException'], [data-testid='stAlert']"
                                     ).all_inner_texts()
                for text in shown:
                    if "Nothing was saved" in text or "Traceback" in text or "rror" in text:
                        timings.error(f"browser: {text[:300]}")
            except Exception as exc:  # noqa: BLE001 - what went wrong is the figure
                timings.error(f"browser ({url}): {str(exc).splitlines()[0][:300]}")
            finally:
                context.close()
        browser.close()


def _sign_in_worker(database: str, seconds: float, answers) -> None:
    """In its own process (its own interpreter, so the bench's threads do not slow it): sign
    in every 0.5 s for `seconds`; put the timings and errors on `answers`."""
    took, hashing, errors = [], [], []
    known = auth.hash_password(LAB_PASSWORD)
    with open_database(database) as db:
        stop = time.monotonic() + seconds
        while time.monotonic() < stop:
            started = time.monotonic()
            try:
                auth.authenticate(db, LAB_USER, LAB_PASSWORD, client="load bench")
            except Exception as exc:  # noqa: BLE001 - what went wrong is the figure
                errors.append(f"sign-in: {exc}")
            took.append(time.monotonic() - started)
            started = time.monotonic()  # the password check alone: the machine's CPU, no database
            auth._verify(known, LAB_PASSWORD)
            hashing.append(time.monotonic() - started)
            time.sleep(0.5)
    answers.put((took, hashing, errors))


def sign_ins(database: str, stop: float, timings: Timings) -> None:
    """On PostgreSQL: the sign-in itself (password check, failed-attempt counters, the
    audit row), as the login form calls it, every 0.5 s from another process: whether a
    sign-in waits on the database behind the uploads, apart from the browser."""
    import multiprocessing

    spawn = multiprocessing.get_context("spawn")
    answers = spawn.Queue()
    worker = spawn.Process(target=_sign_in_worker,
                           args=(database, stop - time.monotonic(), answers))
    worker.start()
    took, hashing, errors = answers.get(timeout=3600)
    worker.join()
    for seconds in took:
        timings.add("sign-in, the database's part (auth.authenticate, own process)", seconds)
    for seconds in hashing:
        timings.add("of which the password check alone (argon2: CPU, no database)", seconds)
    for text in errors:
        timings.error(text)


def light(urls: list[str], stop: float, timings: Timings) -> None:
    turn = 0
    while time.monotonic() < stop:
        url = urls[turn % len(urls)]
        turn += 1
        started = time.monotonic()
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=60) as reply:
                reply.read()
        except OSError as exc:
            timings.error(f"healthz: {exc}")
        timings.add("GET /healthz", time.monotonic() - started)
        time.sleep(0.2)


def prepare(args, work: Path) -> tuple[str, Path]:
    """The lab (demo or --db) with tokens and a lab admin: the database the servers use, and
    a twin file the partners make their files from."""
    live, twin = work / "live.duckdb", work / "twin.duckdb"
    if args.db:
        live.write_bytes(args.db.read_bytes())
    else:
        with Database(live) as db:
            demo.load_demo(db, seed=1)
    with Database(live) as db:
        if not auth.accounts_exist(db):
            auth.add_user(db, None, username=LAB_USER, role="admin", password=LAB_PASSWORD)
        orgs = db.read("SELECT name FROM organisation WHERE retired_at IS NULL AND id IN"
                       " (SELECT organisation_id FROM result) ORDER BY id")["name"]
        tokens = {name: api_tokens.create(db, ADMIN, organisation=name, label="load")[1]
                  for name in orgs}
    (work / "tokens.json").write_text(json.dumps(tokens))
    twin.write_bytes(live.read_bytes())
    if not args.postgresql:
        return str(live), twin
    import psycopg

    name = "tracker_load_" + uuid.uuid4().hex[:8]
    with psycopg.connect(args.postgresql, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    url = re.sub(r"(postgres(?:ql)?://[^/]*/)[^?]*", rf"\g<1>{name}", args.postgresql)
    done = subprocess.run([sys.executable, "-m", "tracker", "migrate-to", "--db", str(live),
                           url], cwd=ROOT, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise SystemExit(f"migrate-to failed: {done.stderr}")
    return url, twin


def drop(args, url: str) -> None:
    import psycopg

    name = re.search(r"://[^/]*/([^?]+)", url).group(1)
    with psycopg.connect(args.postgresql, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def check(database: str, timings: Timings) -> dict:
    """What is stored, read after the servers stopped."""
    with open_database(database) as db:
        wanted = sorted(timings.batches)
        counted = db.read("SELECT batch_id, count(*) AS n FROM result GROUP BY batch_id")
        counted = dict(zip(counted["batch_id"].astype(int), counted["n"].astype(int),
                           strict=True))
        wrong = [b for b in wanted if counted.get(b, 0) != timings.batches[b]]
        cycles = db.read("SELECT objective, count(*) AS n FROM cycle WHERE objective LIKE"
                         " 'Load bench cycle %' GROUP BY objective")
        stored_cycles = dict(zip(cycles["objective"], cycles["n"].astype(int), strict=True))
        return {
            "rows": sum(counted.get(b, 0) for b in wanted),
            "batches wrong": wrong,
            "doubled": int(db.scalar(
                "SELECT count(*) FROM (SELECT organisation_id, measure_id, period FROM"
                " current_result GROUP BY organisation_id, measure_id, period"
                " HAVING count(*) > 1) d")),
            "names": int(db.scalar("SELECT count(*) - count(DISTINCT lower(trim(name)))"
                                   " FROM organisation")),
            "cycles missing": [c for c in timings.cycles if stored_cycles.get(c) != 1],
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--partners", type=int, default=6)
    parser.add_argument("--cli", type=int, default=2)
    parser.add_argument("--lab-team", type=int, default=1,
                        help="people signing in and planning cycles, each in a browser")
    parser.add_argument("--db", type=Path, default=None, help="a tracker database to copy")
    parser.add_argument("--postgresql", default=None,
                        help="a PostgreSQL server (a URL to any database on it): the lab is "
                             "moved into a new database there, served by --servers apps")
    parser.add_argument("--servers", type=int, default=None,
                        help="app servers (default 3 on PostgreSQL; 1 on the file)")
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL database")
    args = parser.parse_args()
    servers = args.servers or (3 if args.postgresql else 1)
    if not args.postgresql and servers != 1:
        parser.error("several app servers need PostgreSQL (--postgresql)")
    if args.lab_team and not Path(CHROMIUM).exists():
        parser.error(f"no Chromium at {CHROMIUM}: install it, or run with --lab-team 0")

    work = Path(tempfile.mkdtemp(prefix="tracker-load-"))
    database, twin = prepare(args, work)
    tokens = json.loads((work / "tokens.json").read_text())
    source = Database(twin)  # files are made from a twin: the live lab is the servers'
    orgs = source.read("SELECT id, name FROM organisation ORDER BY id").set_index("name")["id"]
    names = list(tokens)
    running = []
    try:
        for i in range(servers):  # TRACKER_DB names the database; the path names the log
            running.append(start_app(work / f"server-{i}.duckdb", env={"TRACKER_DB": database}))
        urls = [url for _, url, _ in running]
        timings = Timings()
        started = time.monotonic()
        stop = started + args.seconds
        threads = [threading.Thread(target=partner, args=(
            urls, tokens[names[i % len(names)]], source, int(orgs[names[i % len(names)]]), i,
            stop, timings)) for i in range(args.partners)]
        threads += [threading.Thread(target=command_line, args=(
            database, source, int(orgs[names[(args.partners + i) % len(names)]]), 100 + i,
            stop, work, timings)) for i in range(args.cli)]
        threads += [threading.Thread(target=lab_team, args=(urls, i, stop, timings))
                    for i in range(args.lab_team)]
        threads.append(threading.Thread(target=light, args=(urls, stop, timings)))
        if args.postgresql:
            threads.append(threading.Thread(target=sign_ins, args=(database, stop, timings)))
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - started
    finally:
        for proc, _, log in running:
            stop_app(proc, log)
        source.close()
    try:
        found = check(database, timings)
    finally:
        if args.postgresql and not args.keep:
            drop(args, database)
    logs = [(work / f"server-{i}.log").read_text() for i in range(servers)]
    tracebacks = sum(log.count("Traceback") for log in logs)

    engine = (f"{servers} app servers on one PostgreSQL database" if args.postgresql
              else "one app server, embedded file")
    print(f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}")
    print(f"{args.seconds:.0f} s: {args.partners} partner systems (API), {args.cli} command "
          f"line processes, {args.lab_team} lab team member(s) in a browser, one light request "
          f"every 0.2 s; {engine}")
    stored = len(timings.batches)
    print(f"files stored: {stored}; result rows written: {found['rows']:,}; throughput "
          f"{stored / elapsed * 60:,.1f} files per minute, {found['rows'] / elapsed:,.0f} rows "
          "per second")
    print(f"PDSA cycles planned in the browser: {len(timings.cycles)}")
    print(f"stored files whose rows differ from their answer: {len(found['batches wrong'])}; "
          f"current values stored twice: {found['doubled']}; organisation names stored twice: "
          f"{found['names']}; cycles not stored exactly once: {len(found['cycles missing'])}")
    print("| request | count | median s | slowest s |")
    print("|---|---|---|---|")
    for kind, seconds in timings.seconds.items():
        print(f"| {kind} | {len(seconds)} | {statistics.median(seconds):.3f} | "
              f"{max(seconds):.3f} |")
    print(f"errors: {len(timings.errors)}; tracebacks in the server logs: {tracebacks}")
    for text in timings.errors[:20]:
        print(f"  {text}")


if __name__ == "__main__":
    main()
