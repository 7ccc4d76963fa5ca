"""What people wait for, measured in Chromium: sign in, then every menu entry, until drawn.

    python bench/browser.py [--db FILE] [--runs 2] [--pages overview,summary,...]

Starts the app (`streamlit run server.py`) on a copy of the database (the demo, built as of
today, unless --db names one: the 1.3-million-result database of `bench/scale.py`, say),
adds a lab admin account, and drives Debian's Chromium through Playwright as a person does:
sign in (the server's first sign-in, whose page runs import the charting libraries, then,
after logging out, a viewer of the lab team, then the admin again; each typed in 2 s once the
sign-in page is drawn, as a person does), then click each entry of
the menu in turn. A page counts as drawn when the script
has finished and nothing on the page is stale, running or a placeholder (the tests' rule).
Each page is timed on its first visit after sign-in (caches cold for that page) and on a
later visit (warm); Review's Next button, switching the challenge (the copy gets a next
challenge, set up after the running one, so the sidebar offers two) and the learning report on
What we learned are timed too: the public version asked for a few seconds after the page
opened (the app builds it while the page is open), then the same file again, then the
internal version, which is built on the click.
Prints one table; docs/benchmarks.md keeps the figures, with the machine. Not a test: it
asserts nothing about time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.page_state import (  # noqa: E402 - the browser tests' rule
    ARM,
    CHARTS_DRAWN,
    DRAWN,
    RAN_AND_DRAWN,
)
from tracker import demo  # noqa: E402
from tracker.access import auth  # noqa: E402
from tracker.records import repo  # noqa: E402
from tracker.storage.db import Database  # noqa: E402

PASSWORD = "bench horse battery staple"
NEXT = "The next challenge"  # set up after the running one, when the lab has only one
# the lab admin, then a viewer of the lab team (who reads the same series: what the admin's
# Overview charted serves them too), then the admin again; logging out between, and the
# pages are visited as the admin
SIGN_INS = (("the server's first", "bench"), ("a viewer, after the admin", "bench_viewer"),
            ("the admin again, server warm", "bench"))


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(path: Path) -> tuple[subprocess.Popen, str]:
    port = _port()
    env = {**os.environ, "TRACKER_DB": str(path), "TRACKER_BACKUP_AT": "off"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "server.py", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2):
                return proc, url
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise SystemExit("the app did not start")


def _drawn(page, started: float) -> float:
    """Seconds from `started` until the page is drawn after the rerun that the click began
    (`ARM` was run just before the click)."""
    page.wait_for_function(RAN_AND_DRAWN, timeout=180_000, polling=20)
    return time.perf_counter() - started


TYPING_SECONDS = 2.0  # a person typing a username and password on the drawn sign-in page
READ_SECONDS = 5  # how long the bench "reads" What we learned before asking for the report


def _build_report(page, version: str) -> float:
    page.evaluate(ARM)
    started = time.perf_counter()
    page.get_by_role("button", name="Build the report").click()
    page.get_by_text(f"The {version} version is ready").wait_for(timeout=300_000)
    return _drawn(page, started)


def _learning_report(page) -> list[tuple[str, str]]:
    """What we learned, opened from the Overview and read for a few seconds (the app builds
    the public report, every idea, HTML, while the page is open), then the public report
    asked for: from the click until its download is offered, and again (the same file).
    Then the internal version, which nothing builds ahead: the build on the click."""
    links = page.locator("[data-testid='stSidebarNavLink']")
    for name in ("Overview", "What we learned"):
        page.evaluate(ARM)
        links.filter(has_text=name).first.click()
        page.wait_for_function(RAN_AND_DRAWN, timeout=180_000, polling=20)
    page.wait_for_timeout(READ_SECONDS * 1000)
    public = [_build_report(page, "public") for _ in range(2)]
    rows = [(f"learning report, public, asked for {READ_SECONDS} s after opening the page "
             "(first / again)", f"{public[0]:.2f} / {public[1]:.2f}")]
    internal = page.get_by_text("Public version (disclosure control applied)")
    if internal.count():  # a lab admin: the internal version, built on the click
        internal.click()
        rows.append(("learning report, internal, built on the click",
                     f"{_build_report(page, 'internal'):.2f}"))
    return rows


def measure(path: Path, runs: int, only: list[str] | None, report: bool = True,
            titles: tuple[str, ...] = (), typing: float = TYPING_SECONDS
            ) -> list[tuple[str, str]]:
    from playwright.sync_api import sync_playwright

    rows: list[tuple[str, str]] = []
    proc, url = _start(path)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=os.environ.get(
                "TRACKER_CHROMIUM", "/usr/bin/chromium"), args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(url)
            for when, username in SIGN_INS:
                page.get_by_role("textbox", name="Username").wait_for(timeout=90_000)
                for drawn in (DRAWN, CHARTS_DRAWN):  # the sign-in page, drawn, as a person
                    page.wait_for_function(drawn, timeout=90_000, polling=20)  # sees it
                page.wait_for_timeout(typing * 1000)
                page.get_by_role("textbox", name="Username").fill(username)
                page.get_by_role("textbox", name="Password").fill(PASSWORD)
                page.evaluate(ARM)
                started = time.perf_counter()
                page.get_by_role("button", name="Log in").click()
                page.get_by_text(f"Signed in as {username}").wait_for(timeout=180_000)
                rows.append((f"sign-in to the first page drawn ({when})",
                             f"{_drawn(page, started):.2f}"))
                if (when, username) != SIGN_INS[-1]:  # log out, and sign in once more
                    page.get_by_role("button", name="Log out").click()
            links = page.locator("[data-testid='stSidebarNavLink']")
            names = [t.split("\n")[-1].strip() for t in links.all_inner_texts()]
            visits: dict[str, list[float]] = {}
            for _ in range(runs):
                for i, name in enumerate(names):
                    if only and not any(o.lower() in name.lower() for o in only):
                        continue
                    page.evaluate(ARM)
                    started = time.perf_counter()
                    links.nth(i).click()
                    visits.setdefault(name, []).append(_drawn(page, started))
            for name, times in visits.items():
                warm = statistics.median(times[1:]) if len(times) > 1 else float("nan")
                rows.append((name, f"{times[0]:.2f} first, {warm:.2f} warm"))
            review = page.locator("[data-testid='stSidebarNavLink']").filter(has_text="Review")
            if review.count():
                page.evaluate(ARM)
                review.first.click()
                _drawn(page, time.perf_counter())
                nexts = []
                for _ in range(3):
                    button = page.get_by_role("button", name="Next")
                    if not button.count() or button.first.is_disabled():
                        break
                    page.evaluate(ARM)
                    started = time.perf_counter()
                    button.first.click()
                    nexts.append(_drawn(page, started))
                if nexts:
                    rows.append(("Review Next (a chart)",
                                 f"{statistics.median(nexts):.2f} median of {len(nexts)}"))
            chooser = page.get_by_role("combobox", name="Challenge")
            if chooser.count() and titles:
                switched = []
                for title in titles:  # to the next challenge, and back
                    chooser.click()
                    page.keyboard.type(title[:20])  # the list filters as one types
                    choice = page.get_by_role("option").filter(has_text=title[:20]).first
                    choice.wait_for(timeout=30_000)
                    page.evaluate(ARM)
                    started = time.perf_counter()
                    choice.click()
                    switched.append(_drawn(page, started))
                rows.append(("switching challenge (there, back)",
                             " / ".join(f"{t:.2f}" for t in switched)))
            if report:
                rows += _learning_report(page)
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, default=None,
                        help="a database to copy (default: the demo, built as of today)")
    parser.add_argument("--runs", type=int, default=2, help="visits of each page (>= 2)")
    parser.add_argument("--pages", default=None,
                        help="comma-separated menu entries to visit (default: every one)")
    parser.add_argument("--typing", type=float, default=TYPING_SECONDS,
                        help="seconds a person takes to type on the drawn sign-in page")
    parser.add_argument("--no-report", action="store_true",
                        help="leave out building the learning report in the app")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-browser-"))
    path = work / "lab.duckdb"
    try:
        if args.db:
            shutil.copy(args.db, path)
        else:
            with Database(path) as db:
                demo.load_demo(db, seed=1)
        with Database(path) as db:
            accounts = set(auth.list_users(db, auth.Scope.admin("bench"))["username"])
            for username, role in (("bench", "admin"), ("bench_viewer", "viewer")):
                if username not in accounts:  # a copy of a database the bench signed into
                    auth.add_user(db, auth.Scope.admin("bench"), username=username,
                                  role=role, password=PASSWORD)
            running = repo.get_challenge(db)
            if len(repo.list_challenges(db)) == 1:  # the next challenge, set up: the
                start = running["end_date"] + dt.timedelta(days=1)  # sidebar offers two
                repo.create_challenge(db, auth.Scope.admin("bench"), title=NEXT,
                                      question="What would it take?", aim="A next aim",
                                      start_date=start, end_date=start + dt.timedelta(days=300))
            others = repo.list_challenges(db)
            there = others[others["id"] != running["id"]]["title"]
            titles = (there.iloc[0], running["title"]) if len(there) else ()
            results = db.scalar("SELECT count(*) FROM result")
        print(f"database: {args.db or 'the demo'} ({results:,} results); Chromium, "
              f"{os.cpu_count()} cores")
        rows = measure(path, max(args.runs, 1), args.pages.split(",") if args.pages else None,
                       report=not args.no_report, titles=titles, typing=args.typing)
        width = max(len(name) for name, _ in rows)
        print(f"{'path':<{width}}  seconds")
        for name, figure in rows:
            print(f"{name:<{width}}  {figure}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
