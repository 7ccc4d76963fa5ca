"""Collaboration timings (issue 11): the People, Collaboration and Partner progress pages.

    python bench/collaboration.py [--runs 3] [--scale-db PATH] [--orgs 200] [--measures 25]
                                  [--years 5] [--people 2000]

On the demo, then on the scale database of bench/scale.py (built there first if missing),
to which this adds (once) PEOPLE participants of every kind spread over its organisations and
a progress score for every organisation for each of the last 12 months, through the same
data-layer calls as the app. Each page as an AppTest run: the first visit after a change of
the data (caches cleared) and with caches warm. Prints seconds; passes or fails nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from tracker import clock, demo  # noqa: E402
from tracker.access.scope import Scope  # noqa: E402
from tracker.community import participants  # noqa: E402
from tracker.records import progress, repo  # noqa: E402
from tracker.storage.db import Database  # noqa: E402

ADMIN = Scope.admin("collaboration bench")
PAGES = ("people", "collaboration", "progress")


def add_people(path: Path, people: int) -> None:
    """PEOPLE participants and 12 months of scores, once."""
    with Database(path) as db:
        cid = repo.get_challenge(db)["id"]
        if db.scalar("SELECT count(*) FROM participant") >= people:
            return
        rng = np.random.default_rng(11)
        orgs = repo.list_organisations(db, ADMIN)["id"].tolist()
        ideas = repo.list_ideas(db, cid)["id"].tolist()
        kinds = list(participants.TAKING_PART)
        started = time.perf_counter()
        for n in range(people):
            org = None if rng.random() < 0.25 else int(rng.choice(orgs))
            participants.add_participant(
                db, ADMIN, cid, name=f"Participant {n:05d}", taking_part=kinds[n % len(kinds)],
                organisation_id=org, email=f"p{n:05d}@example.org",
                may_contact=bool(rng.random() < 0.5), may_name=bool(rng.random() < 0.3),
                idea_ids=[int(i) for i in rng.choice(ideas, size=int(rng.integers(0, 3)),
                                                    replace=False)])
        today = clock.today().replace(day=1)
        months = [(pd.Timestamp(today) - pd.DateOffset(months=k)).date() for k in range(12)]
        for org in orgs:
            for k, month in enumerate(reversed(months)):
                progress.score_month(db, ADMIN, int(org), month, min(0.5 + 0.5 * (k // 2), 5.0))
        print(f"added {people:,} participants and {12 * len(orgs):,} scores: "
              f"{time.perf_counter() - started:.1f} s")


def time_pages(path: Path, runs: int, label: str) -> None:
    os.environ["TRACKER_DB"] = str(path)
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=600)
    at.run()
    for page in PAGES:
        at.switch_page(f"app_pages/{page}.py").run()  # imports, first run
        assert not at.exception, at.exception
        cold, warm = [], []
        for _ in range(runs):
            st.cache_data.clear()
            started = time.perf_counter()
            at.switch_page(f"app_pages/{page}.py").run()
            cold.append(time.perf_counter() - started)
            started = time.perf_counter()
            at.switch_page(f"app_pages/{page}.py").run()
            warm.append(time.perf_counter() - started)
        print(f"{label}: {page:<14} after a change {statistics.median(cold):.2f} s, "
              f"warm {statistics.median(warm):.2f} s (median of {runs})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--scale-db", type=Path,
                        default=Path(tempfile.gettempdir()) / "tracker-scale.duckdb")
    parser.add_argument("--orgs", type=int, default=200)
    parser.add_argument("--measures", type=int, default=25)
    parser.add_argument("--years", type=int, default=5)
    parser.add_argument("--people", type=int, default=2000)
    parser.add_argument("--demo", type=Path, default=None,
                        help="a demo database to copy instead of building one")
    args = parser.parse_args()
    path = Path(tempfile.mkdtemp()) / "demo.duckdb"
    demo.demo_file(path, copy_of=args.demo)
    time_pages(path, args.runs, "demo")
    if not args.scale_db.exists():
        import scale

        scale.build(args.scale_db, orgs=args.orgs, measures=args.measures, years=args.years)
    add_people(args.scale_db, args.people)
    with Database(args.scale_db) as db:
        facts = (f"{db.scalar('SELECT count(*) FROM organisation')} organisations, "
                 f"{db.scalar('SELECT count(*) FROM participant'):,} participants, "
                 f"{db.scalar('SELECT count(*) FROM cycle'):,} cycles")
    print(f"scale database: {facts}")
    time_pages(args.scale_db, args.runs, "scale")


if __name__ == "__main__":
    main()
