"""Benchmark of the leadership views on the demo database.

    python bench/report.py

Prints the Summary, Outcomes, Portfolio and Review page times (AppTest script runs, warm) and
the time to build the review pack for one organisation as PDF and as PowerPoint. (The issue's
1.3-million-result scale test is bench/scale.py.)
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

from streamlit.testing.v1 import AppTest  # noqa: E402

from tracker import demo  # noqa: E402
from tracker.access.scope import Scope  # noqa: E402
from tracker.reports import report  # noqa: E402
from tracker.storage.db import Database  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="page runs to take the median of")
    parser.add_argument("--no-pack", action="store_true", help="time the pages only")
    parser.add_argument("--demo", type=Path, default=None,
                        help="a demo database to copy instead of building one")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp())
    path = work / "demo.duckdb"
    demo.demo_file(path, copy_of=args.demo)
    os.environ["TRACKER_DB"] = str(path)
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=300)
    at.run()
    for page in ("summary", "outcomes", "portfolio", "review"):
        times = []
        for _ in range(args.runs):
            started = time.perf_counter()
            at.switch_page(f"app_pages/{page}.py").run()
            times.append(time.perf_counter() - started)
            assert not at.exception, at.exception
        print(f"{page:<10} page {statistics.median(times):6.2f} s (median of {args.runs})")
    if args.no_pack:
        return
    with Database(path) as db:
        for suffix in ("pdf", "pptx"):
            started = time.perf_counter()
            report.write_report(db, Scope.admin("bench"), work / f"pack.{suffix}",
                                organisation="Peer Pathways (demo)")
            print(f"pack for one organisation ({suffix}): {time.perf_counter() - started:.1f} s")
        rows = report.pack_rows(db, Scope.admin("bench"))
        charted = int(report.needs_a_chart(rows).sum())
        for suffix in ("pdf", "pptx"):
            started = time.perf_counter()
            report.write_report(db, Scope.admin("bench"), work / f"all.{suffix}")
            print(f"full pack, every organisation ({suffix}; summary of {len(rows)} series, "
                  f"{charted} charts): {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
