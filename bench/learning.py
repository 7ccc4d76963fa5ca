"""Learning timings (issue 10): the What we learned page for one idea, and the learning report.

    python bench/learning.py [--runs 3] [--no-pdf] [--scale-db PATH] [--orgs 200]
                             [--measures 25] [--years 5]

On the demo: the record of one idea (data layer), the What we learned page for one idea as an
AppTest run (cold, then caches warm), and the whole public report as HTML and as PDF. On the
scale database of bench/scale.py (built there first if missing: about 1.3 million results),
the internal HTML report of all 20 ideas. Prints seconds; passes or fails nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from tracker import demo  # noqa: E402
from tracker.access.scope import Scope  # noqa: E402
from tracker.learning import learning_record, learning_report  # noqa: E402
from tracker.records import repo  # noqa: E402
from tracker.storage.db import Database  # noqa: E402

ADMIN = Scope.admin("learning bench")
IDEA = "Peer-led welcome call within a week of referral"


def median_of(action, runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def first_ideas(db, n: int | None) -> list[str] | None:
    """The titles of the challenge's first n ideas, or None for every idea."""
    if n is None:
        return None
    return repo.list_ideas(db, repo.get_challenge(db)["id"])["title"].head(n).tolist()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-pdf", action="store_true")
    parser.add_argument("--scale-db", type=Path,
                        default=Path(tempfile.gettempdir()) / "tracker-scale.duckdb")
    parser.add_argument("--orgs", type=int, default=200)
    parser.add_argument("--measures", type=int, default=25)
    parser.add_argument("--years", type=int, default=5)
    parser.add_argument("--ideas", type=int, default=None,
                        help="report on the first N ideas only (default: every idea)")
    parser.add_argument("--demo", type=Path, default=None,
                        help="a demo database to copy instead of building one")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp())
    path = work / "demo.duckdb"
    with Database(demo.demo_file(path, copy_of=args.demo)) as db:
        cid = repo.get_challenge(db)["id"]
        idea = int(repo.list_ideas(db, cid).set_index("title").loc[IDEA, "id"])
        seconds = median_of(lambda: learning_record.record(db, ADMIN, idea), args.runs)
        print(f"record of one idea (data layer, every organisation's outcomes): {seconds:.2f} s")
    os.environ["TRACKER_DB"] = str(path)
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=300)
    at.run()
    started = time.perf_counter()
    at.switch_page("app_pages/learning.py").run()
    assert not at.exception, at.exception
    print(f"What we learned page, one idea, first run: {time.perf_counter() - started:.2f} s")
    seconds = median_of(lambda: at.switch_page("app_pages/learning.py").run(), args.runs)
    assert not at.exception, at.exception
    print(f"What we learned page, one idea, caches warm: {seconds:.2f} s (median of {args.runs})")
    import streamlit as st

    def after_a_change():
        st.cache_data.clear()  # as after any change of the data: everything recomputed
        at.switch_page("app_pages/learning.py").run()

    seconds = median_of(after_a_change, args.runs)
    print(f"What we learned page, one idea, first visit after a change: {seconds:.2f} s "
          f"(median of {args.runs})")
    with Database(path) as db:
        started = time.perf_counter()
        chosen = first_ideas(db, args.ideas)
        out = learning_report.write_learning_report(db, ADMIN, work / "public.html",
                                                    public=True, ideas=chosen)
        print(f"public report of the demo, HTML: {time.perf_counter() - started:.1f} s, "
              f"{out.stat().st_size / 1e6:.1f} MB")
        if not args.no_pdf:
            started = time.perf_counter()
            out = learning_report.write_learning_report(db, ADMIN, work / "public.pdf",
                                                        public=True, ideas=chosen)
            print(f"public report of the demo, PDF: {time.perf_counter() - started:.1f} s, "
                  f"{out.stat().st_size / 1e6:.1f} MB")
    if not args.scale_db.exists():
        import scale

        scale.build(args.scale_db, orgs=args.orgs, measures=args.measures, years=args.years)
    with Database(args.scale_db) as db:
        count = db.scalar("SELECT count(*) FROM current_result")
        chosen = first_ideas(db, args.ideas)
        ideas = len(chosen) if chosen else len(repo.list_ideas(db, repo.get_challenge(db)["id"]))
        started = time.perf_counter()
        out = learning_report.write_learning_report(db, ADMIN, work / "scale.html",
                                                    public=False, ideas=chosen)
        print(f"scale database ({count:,} results): internal report of all {ideas} ideas, "
              f"HTML: {time.perf_counter() - started:.1f} s, {out.stat().st_size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
