"""Benchmark of partner uploads.

    python bench/ingest.py [--rows 1000000]

1. A long-layout CSV of --rows rows (200 organisations x 100 measures x weeks): DuckDB's bare
   read_csv into a table, then the tracker's dry run (check) and full validated commit, in the
   same process, on a fresh database each time.
2. A typical 1,000-row partner file end to end (check + commit) on the demo database.
Prints seconds and the ratio to the bare load.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tracker import clock, demo  # noqa: E402
from tracker.access.scope import Scope  # noqa: E402
from tracker.intake import ingest  # noqa: E402
from tracker.records import repo  # noqa: E402
from tracker.storage.db import Database  # noqa: E402

ADMIN = Scope.admin("tester")

TODAY = clock.today()
MONDAY = TODAY - dt.timedelta(days=TODAY.weekday())


def lab(path: Path, orgs: int, measures: int, weeks: int) -> None:
    with Database(path) as db:
        repo.create_challenge(db, ADMIN, title="Bench", question="Q", aim="A",
                              start_date=MONDAY - dt.timedelta(weeks=weeks + 2),
                              end_date=MONDAY + dt.timedelta(weeks=4))
        with db.transaction() as cur:
            cur.execute("INSERT INTO organisation (name, kind) SELECT 'Site ' || i, 'charity'"
                        " FROM range(?) t(i)", [orgs])
            cur.execute("INSERT INTO measure (code, name, measure_type, definition, unit,"
                        " direction, data_kind, frequency) SELECT 'M' || i, 'Measure ' || i,"
                        " 'process', 'd', 'u', 'increase', 'value', 'week' FROM range(?) t(i)",
                        [measures])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--demo", type=Path, default=None,
                        help="a demo database to copy instead of building one")
    args = parser.parse_args()
    orgs, measures = 200, 100
    weeks = max(args.rows // (orgs * measures), 1)
    rows = orgs * measures * weeks
    work = Path(tempfile.mkdtemp())
    csv_path = work / "big.csv"
    periods = [(MONDAY - dt.timedelta(weeks=k)).isoformat() for k in range(1, weeks + 1)]
    frame = pd.DataFrame({
        "organisation": pd.Series([f"Site {i}" for i in range(orgs)]).repeat(
            measures * weeks).to_numpy(),
        "measure": pd.Series([f"M{j}" for j in range(measures)] * orgs).repeat(weeks).to_numpy(),
        "period": periods * (orgs * measures),
        "value": (pd.RangeIndex(rows) % 97).to_numpy(),
        "numerator": "", "denominator": "", "note": ""})
    frame.to_csv(csv_path, index=False)
    data = csv_path.read_bytes()
    print(f"file: {rows:,} rows, {len(data) / 1e6:.1f} MB")

    bares, dries, fulls = [], [], []
    for attempt in range(3):  # best of 3, each on a fresh database file
        con = duckdb.connect(str(work / f"bare{attempt}.duckdb"))
        started = time.perf_counter()
        con.execute("CREATE TABLE bare AS SELECT * FROM read_csv(?)", [str(csv_path)])
        con.execute("CHECKPOINT")
        bares.append(time.perf_counter() - started)
        con.close()

        lab(work / f"dry{attempt}.duckdb", orgs, measures, weeks)
        with Database(work / f"dry{attempt}.duckdb") as db:
            started = time.perf_counter()
            report = ingest.check(db, data, "big.csv", ADMIN)
            dries.append(time.perf_counter() - started)
        assert report.ok, report.errors[:3]

        lab(work / f"commit{attempt}.duckdb", orgs, measures, weeks)
        with Database(work / f"commit{attempt}.duckdb") as db:
            started = time.perf_counter()
            report = ingest.commit(db, data, "big.csv", ADMIN)
            fulls.append(time.perf_counter() - started)
            assert report.batch_id is not None and report.new == rows
    bare, dry, full = min(bares), min(dries), min(fulls)
    print(f"  DuckDB bare read_csv into a table   {bare:7.2f} s  (best of 3)")
    print(f"  tracker dry run (validate + plan)   {dry:7.2f} s  ({dry / bare:.1f}x bare)")
    print(f"  tracker validated commit            {full:7.2f} s  ({full / bare:.1f}x bare,"
          " target 4x)")

    with Database(demo.demo_file(work / "demo.duckdb", copy_of=args.demo)) as db:
        names = repo.list_organisations(db, ADMIN)["name"].tolist()[:5]
        measures_ = repo.list_measures(db)
        values = measures_[measures_["data_kind"] == "value"]["name"].tolist()[:5]
        lines = []
        for org in names:
            for m in values:
                for k in range(1, 41):
                    period = (MONDAY - dt.timedelta(weeks=k)).isoformat()
                    lines.append({"organisation": org, "measure": m, "period": period,
                                  "value": 10 + k % 7})
        small = pd.DataFrame(lines)
        payload = small.to_csv(index=False).encode()
        previews, commits = [], []
        for attempt in range(3):
            payload = small.assign(value=small["value"] + attempt + 1).to_csv(index=False).encode()
            started = time.perf_counter()
            checked = ingest.check(db, payload, "partner.csv", ADMIN)
            previews.append(time.perf_counter() - started)
            started = time.perf_counter()
            stored = ingest.commit(db, payload, f"partner{attempt}.csv", ADMIN,
                                   accept_unusual=True)  # made-up values, far from the demo's
            commits.append(time.perf_counter() - started)
            assert checked.ok and stored.ok and stored.batch_id is not None
            assert stored.new + stored.updated + stored.unchanged == len(small)
        print(f"typical partner file: {len(small):,} rows (each run changes its values)")
        print(f"  import end to end (read, validate, store, checkpoint)  {min(commits):.3f} s"
              " (best of 3; target 0.3 s)")
        print(f"  the Upload page's preview before it                   {min(previews):.3f} s")


if __name__ == "__main__":
    main()
