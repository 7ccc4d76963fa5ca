"""A cycle's page with a long discussion and many files, measured in Chromium.

    python bench/community.py [--demo FILE] [--comments 50] [--files 10] [--runs 3]

On a copy of the demo (built as of today unless --demo names one), the first open cycle, the
one Test cycles → Record opens on, gets `--comments` comments (a partner's and the lab's, a
third of them replies, some with a mention) and `--files` photos (1600 × 1200 JPEG, about
0.4 MB each, redrawn as a partner attaches them). Then the app (`streamlit run server.py`)
is started, a lab admin signs in, and Chromium opens Test cycles → Record: timed from the
click until the page is drawn (the tests' rule), first (the thread's and files' first read,
the images' first decoding) and warm (Plan, then Record again: the page runs again with
everything read). Also, in this process: the thread and the file list as the data layer
reads them for the partner. Prints one table; docs/benchmarks.md keeps the figures. Not a
test: it asserts nothing about time.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.browser import PASSWORD, _start  # noqa: E402 - the same server and sign-in
from tests.page_state import ARM, RAN_AND_DRAWN  # noqa: E402 - the browser tests' rule
from tracker import demo  # noqa: E402
from tracker.access import auth  # noqa: E402
from tracker.access.scope import Scope  # noqa: E402
from tracker.community import attachments, comments  # noqa: E402
from tracker.community.comments import Topic  # noqa: E402
from tracker.records import repo  # noqa: E402
from tracker.storage.db import Database  # noqa: E402


def _photo(seed: int) -> bytes:
    """A photo-like JPEG: smooth colour with noise, so it compresses as a photo does."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:1200, 0:1600]
    base = np.stack([(x / 1600 * 255), (y / 1200 * 255), ((x + y) % 256)], axis=-1)
    pixels = np.clip(base + rng.normal(0, 18, base.shape), 0, 255).astype("uint8")
    out = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(out, format="JPEG", quality=85)
    return out.getvalue()


def populate(path: Path, n_comments: int, n_files: int) -> tuple[int, Scope]:
    """The first open cycle gets the discussion and the files; returns it and its partner."""
    with Database(path) as db:
        cid = repo.get_challenge(db)["id"]
        cycles = repo.list_cycles(db, Scope.admin("bench"), cid)
        open_first = cycles.assign(closed=cycles["stage"].eq("done")).sort_values(
            ["closed", "start_date", "id"], ascending=[True, False, False])
        cycle = int(open_first["id"].iloc[0])
        org = int(open_first["organisation_id"].iloc[0])
        partner = Scope(actor="bench_partner", role="partner", organisation_id=org,
                        organisation=str(open_first["organisation"].iloc[0]))
        lab = Scope.admin("bench")
        topic = Topic.cycle(db, cycle)
        comments.RATE_COUNT = 10 ** 6  # the bench writes faster than a person
        roots: list[int] = []
        for n in range(n_comments):
            who = partner if n % 2 == 0 else lab
            reply = roots[-1] if n % 3 == 2 and roots else None
            new = comments.post(db, who, topic, f"Comment {n}: what we saw this week, and a "
                                "question about the next step of the ramp." * 2,
                                reply_to=reply)
            if reply is None:
                roots.append(new)
        for n in range(n_files):
            attachments.attach(db, partner, topic, f"photo_{n}.jpg", _photo(n),
                               caption=f"Photo {n} of the session")
        auth.add_user(db, None, username="bench", role="admin", password=PASSWORD)
    return cycle, partner


def measure(path: Path, runs: int, partner: Scope, cycle: int) -> list[tuple[str, str]]:
    from playwright.sync_api import sync_playwright

    rows = []
    with Database(path) as db:
        topic = Topic.cycle(db, cycle)
        for name, read in (("thread as the partner reads it (data layer)",
                            lambda: comments.thread(db, partner, topic)),
                           ("file list as the partner reads it (data layer)",
                            lambda: attachments.listing(db, partner, topic))):
            times = []
            for _ in range(max(3, runs)):
                started = time.perf_counter()
                read()
                times.append(time.perf_counter() - started)
            rows.append((name, f"{statistics.median(times):.3f}"))
    proc, url = _start(path)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=os.environ.get(
                "TRACKER_CHROMIUM", "/usr/bin/chromium"), args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(url + "/cycles")
            page.get_by_role("textbox", name="Username").wait_for(timeout=90_000)
            page.get_by_role("textbox", name="Username").fill("bench")
            page.get_by_role("textbox", name="Password").fill(PASSWORD)
            page.evaluate(ARM)
            page.get_by_role("button", name="Log in").click()
            page.wait_for_function(RAN_AND_DRAWN, timeout=180_000, polling=20)
            record = page.get_by_role("tab", name="Record Do, Study and Act")
            plan = page.get_by_role("tab", name="Plan a new cycle")
            times = []
            for _ in range(runs + 1):  # the page opens on Plan: Record, then Plan again
                for tab in (record, plan):
                    page.evaluate(ARM)
                    started = time.perf_counter()
                    tab.click()
                    page.wait_for_function(RAN_AND_DRAWN, timeout=180_000, polling=20)
                    if tab is record:
                        times.append(time.perf_counter() - started)
            shown = page.locator("[data-testid='stImage'] img").count()
            said = page.get_by_text("what we saw this week").count()
            rows.append(("Record tab, first (s)", f"{times[0]:.2f}"))
            rows.append((f"Record tab, warm (s, median of {runs})",
                         f"{statistics.median(times[1:]):.2f}"))
            rows.append(("drawn: comments / images", f"{said} / {shown}"))
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demo", type=Path, default=None, help="a demo database to copy")
    parser.add_argument("--comments", type=int, default=50)
    parser.add_argument("--files", type=int, default=10)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tracker-bench-community-") as folder:
        path = Path(folder) / "lab.duckdb"
        if args.demo:
            shutil.copy(args.demo, path)
        else:
            demo.demo_file(path)
        cycle, partner = populate(path, args.comments, args.files)
        rows = measure(path, args.runs, partner, cycle)
    print(f"A cycle with {args.comments} comments and {args.files} photos:")
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")


if __name__ == "__main__":
    main()
