"""Load on one running tracker (embedded database): partner systems posting results through
the results API, the command line importing through the app, and light requests, at once.

    python bench/server_load.py [--seconds 60] [--partners 6] [--cli 2] [--db PATH]

Starts `streamlit run server.py` on a copy of the demo database (or PATH), gives each of
PARTNERS organisations an API token, then for SECONDS: one thread per partner posts a file of
its own results (every stored value nudged, so each file updates rows) with commit=true;
CLI processes run `python -m tracker import` through the app in a loop, each with its own
organisation's file; one thread asks GET /healthz every 0.2 s (a request that takes no write
lock, standing in for a page or a sign-in). Afterwards it checks, with the app stopped, that
every stored file is one batch, that no (organisation, measure, period) has two current
values, and that no organisation name is stored twice. Prints throughput, the median and
slowest request of each kind, and every error; passes or fails nothing.

This is one app server on the embedded file (one process may hold a DuckDB file). Several
app servers on one PostgreSQL database are not built yet (docs/deploy.md).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from app_server import start_app, stop_app  # noqa: E402

from tracker import api_tokens, demo  # noqa: E402
from tracker.auth import Scope  # noqa: E402
from tracker.db import Database  # noqa: E402

ADMIN = Scope.admin("load bench")


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
        self.stored = 0

    def add(self, kind: str, seconds: float) -> None:
        with self.lock:
            self.seconds.setdefault(kind, []).append(seconds)

    def error(self, text: str) -> None:
        with self.lock:
            self.errors.append(text)


def partner(url: str, token: str, source: Database, org_id: int, seed: int, stop: float,
            timings: Timings) -> None:
    rng = np.random.default_rng(seed)
    while time.monotonic() < stop:
        body = files_of(source, org_id, rng)
        request = urllib.request.Request(
            f"{url}/tracker/api/results?file=load.csv&commit=true&confirm=true",
            data=body, method="POST", headers={"Authorization": f"Bearer {token}"})
        started = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=600) as reply:
                answer = json.loads(reply.read())
        except urllib.error.HTTPError as refused:
            timings.error(f"API {refused.code}: {refused.read()[:300]!r}")
            continue
        except OSError as exc:
            timings.error(f"API: {exc}")
            continue
        timings.add("results API, commit", time.monotonic() - started)
        if answer.get("status") == "stored":
            with timings.lock:
                timings.stored += 1


def command_line(db_path: Path, source: Database, org_id: int, seed: int, stop: float,
                 folder: Path, timings: Timings) -> None:
    rng = np.random.default_rng(seed)
    env = {**os.environ, "TRACKER_DB": str(db_path), "PYTHONPATH": str(ROOT)}
    while time.monotonic() < stop:
        path = folder / f"cli-{seed}.csv"
        path.write_bytes(files_of(source, org_id, rng))
        started = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "tracker", "import", str(path)],
                              env=env, capture_output=True, text=True, timeout=600)
        timings.add("command line import (process start included)",
                    time.monotonic() - started)
        if done.returncode != 0:
            timings.error(f"CLI: {done.stderr.strip()[:300]}")
        elif "Stored" in done.stdout:
            with timings.lock:
                timings.stored += 1


def light(url: str, stop: float, timings: Timings) -> None:
    while time.monotonic() < stop:
        started = time.monotonic()
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=60) as reply:
                reply.read()
        except OSError as exc:
            timings.error(f"healthz: {exc}")
        timings.add("GET /healthz (no write lock)", time.monotonic() - started)
        time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--partners", type=int, default=6)
    parser.add_argument("--cli", type=int, default=2)
    parser.add_argument("--db", type=Path, default=None, help="a tracker database to copy")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="tracker-load-"))
    live, twin = work / "live.duckdb", work / "twin.duckdb"
    if args.db:
        live.write_bytes(args.db.read_bytes())
    else:
        with Database(live) as db:
            demo.load_demo(db, seed=1)
    twin.write_bytes(live.read_bytes())
    with Database(live) as db:
        orgs = db.read("SELECT id, name FROM organisation WHERE retired_at IS NULL"
                       " AND id IN (SELECT organisation_id FROM result) ORDER BY id")
        before_batches = int(db.scalar("SELECT count(*) FROM upload_batch"))
        tokens = [api_tokens.create(db, ADMIN, organisation=name, label="load")[1]
                  for name in orgs["name"]]
    n_orgs = len(orgs)
    source = Database(twin)  # files are made from a twin: the live file is the app's
    proc, url, log = start_app(live)
    timings = Timings()
    started = time.monotonic()
    stop = started + args.seconds
    threads = [threading.Thread(target=partner, args=(url, tokens[i % n_orgs], source,
                                                      int(orgs["id"].iloc[i % n_orgs]), i,
                                                      stop, timings))
               for i in range(args.partners)]
    threads += [threading.Thread(target=command_line,
                                 args=(live, source, int(orgs["id"].iloc[(args.partners + i)
                                                                       % n_orgs]),
                                       100 + i, stop, work, timings))
                for i in range(args.cli)]
    threads.append(threading.Thread(target=light, args=(url, stop, timings)))
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - started
    finally:
        stop_app(proc, log)
        source.close()

    with Database(live) as db:
        batches = int(db.scalar("SELECT count(*) FROM upload_batch")) - before_batches
        doubled = int(db.scalar(
            "SELECT count(*) FROM (SELECT organisation_id, measure_id, period FROM"
            " current_result GROUP BY ALL HAVING count(*) > 1)"))
        names = int(db.scalar("SELECT count(*) - count(DISTINCT lower(trim(name)))"
                              " FROM organisation"))
        rows = int(db.scalar("SELECT count(*) FROM result WHERE batch_id IN (SELECT id FROM"
                             f" upload_batch ORDER BY id DESC LIMIT {max(batches, 1)})"))

    print(f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}")
    print(f"{args.seconds:.0f} s: {args.partners} partner systems (API), {args.cli} command "
          f"line processes, one light request every 0.2 s; one app server, embedded file")
    print(f"files stored: {timings.stored} (batches added: {batches}); result rows written: "
          f"{rows:,}; throughput {timings.stored / elapsed * 60:,.1f} files per minute, "
          f"{rows / elapsed:,.0f} rows per second")
    print(f"current values stored twice: {doubled}; organisation names stored twice: {names}")
    print("| request | count | median s | slowest s |")
    print("|---|---|---|---|")
    for kind, seconds in timings.seconds.items():
        print(f"| {kind} | {len(seconds)} | {statistics.median(seconds):.3f} | "
              f"{max(seconds):.3f} |")
    print(f"errors: {len(timings.errors)}")
    for text in timings.errors[:20]:
        print(f"  {text}")


if __name__ == "__main__":
    main()
