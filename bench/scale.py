"""The issue-5 scale test: 200 organisations × 25 measures × 5 years of weekly results.

    python bench/scale.py [--db PATH] [--rebuild] [--orgs 200] [--measures 25] [--years 5]

Builds (once, then reuses) a database of about 1.3 million results, with 20 change ideas
tested in ramps of PDSA cycles at many organisations, through the same data-layer calls as the
app. Then prints the time of: the Summary computed from nothing; the Summary, Outcomes,
Portfolio and Review pages as AppTest script runs with warm caches; and the review pack for
one organisation as PDF and PowerPoint.
"""

from __future__ import annotations

import argparse
import datetime as dt
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

from tracker.access.scope import Scope  # noqa: E402
from tracker.analysis import portfolio, summary  # noqa: E402
from tracker.records import observations, repo  # noqa: E402
from tracker.reports import report  # noqa: E402
from tracker.storage.db import Database  # noqa: E402

ADMIN = Scope.admin("scale bench")
KINDS = ["nhs_trust", "gp_practice", "charity", "housing_association", "community_group"]
# name stem, kind, unit, direction, target
MEASURE_TEMPLATES = [
    ("People referred", "value", "people per week", "increase", None),
    ("Days waited for a first session", "value", "days", "decrease", 14.0),
    ("Active volunteers", "value", "volunteers", "increase", None),
    ("Wellbeing score", "value", "score (7-35)", "increase", 22.0),
    ("Attending a first session", "proportion", "proportion", "increase", 0.75),
    ("Still attending at 6 weeks", "proportion", "proportion", "increase", 0.6),
    ("A&E attendances per 100 supported", "rate", "per 100 people", "decrease", None),
    ("Sessions cancelled", "value", "sessions", "decrease", None),
    ("Often lonely", "proportion", "proportion", "decrease", None),
]


def build(path: Path, *, orgs: int = 200, measures: int = 25, years: int = 5,
          ideas: int = 20, seed: int = 7) -> dict:
    """A large database with the shape of a real lab that has run for `years` years."""
    rng = np.random.default_rng(seed)
    last = dt.date(2026, 11, 16)
    weeks = pd.date_range(end=pd.Timestamp(last), periods=52 * years, freq="7D").date
    started = time.perf_counter()
    with Database(path) as db:
        cid = repo.create_challenge(
            db, ADMIN, title="SCALE: peer support across 200 organisations",
            question="What would it take for peer support to be available to everyone who "
                     "wants it?", aim="Everyone who wants peer support gets it within 14 days.",
            start_date=weeks[0], end_date=weeks[-1] + dt.timedelta(days=60))
        org_ids = [repo.add_organisation(db, ADMIN, name=f"Organisation {i + 1:03d}",
                                         kind=KINDS[i % len(KINDS)], region="England")
                   for i in range(orgs)]
        measure_rows = []
        for i in range(measures):
            stem, kind, unit, direction, target = MEASURE_TEMPLATES[i % len(MEASURE_TEMPLATES)]
            mid = repo.add_measure(
                db, ADMIN, code=f"M{i + 1:02d}", name=f"{stem} ({i + 1})",
                measure_type=("outcome", "process", "balancing")[i % 3],
                definition=f"{stem}, counted every week.", unit=unit, direction=direction,
                target=target, data_kind=kind, frequency="week",
                numerator="Numerator" if kind != "value" else None,
                denominator="Denominator" if kind != "value" else None)
            measure_rows.append((mid, i % len(MEASURE_TEMPLATES), kind, direction))
        primary = repo.add_driver(db, ADMIN, cid, level="primary", name="Access")
        secondary = repo.add_driver(db, ADMIN, cid, level="secondary", name="Referral",
                                    primary_ids=[primary])
        shifts = np.zeros((orgs, measures, len(weeks)))
        n_cycles = 0
        for k in range(ideas):
            idea_id = repo.add_idea(db, ADMIN, cid, title=f"Change idea {k + 1:02d}",
                                    driver_ids=[secondary])
            targets = rng.choice(measures, size=int(rng.integers(1, 3)), replace=False)
            works = rng.random() < 0.5
            sites = rng.choice(orgs, size=min(orgs, int(rng.integers(5, 30))), replace=False)
            for org in sites:
                week = int(rng.integers(20, len(weeks) - 30))
                previous = None
                for _step in range(int(rng.integers(1, 4))):
                    start = weeks[week]
                    end = start + dt.timedelta(days=13)
                    cycle = repo.plan_cycle(
                        db, ADMIN, idea_id=idea_id, organisation_id=org_ids[org],
                        objective="Test it", question="Will it help?",
                        prediction="It will help.", start_date=start, end_date=end,
                        measure_ids=[measure_rows[t][0] for t in targets],
                        builds_on_id=previous)
                    previous = cycle
                    n_cycles += 1
                    repo.record_do(db, ADMIN, cycle, do_notes="Done.", went_as_planned=True)
                    repo.record_study(db, ADMIN, cycle, study_notes="Seen.", learning="Some.")
                    repo.record_act(db, ADMIN, cycle, decision="adopt" if works else
                                    rng.choice(["adapt", "abandon"]), next_steps="Next.")
                    week += 3
                if works:
                    for t in targets:
                        sign = {"increase": 1, "decrease": -1}.get(measure_rows[t][3], 0)
                        shifts[org, t, week:] += sign
        frames = []
        size = rng.uniform(0.5, 3, orgs)
        n = len(weeks)
        for j, (mid, template, kind, _direction) in enumerate(measure_rows):
            for o in range(orgs):
                lift = shifts[o, j]
                value = numerator = denominator = None
                if kind == "value":
                    base = [10, 24, 6, 21, 0, 0, 0, 3, 0][template] * size[o] ** 0.3
                    spread = max(base * 0.12, 0.5)
                    value = np.round(rng.normal(base + lift * spread * 2, spread, n), 1)
                    value = np.maximum(value, 0)
                else:
                    denominator = (rng.poisson(30 * size[o], n) + 5).astype(float)
                    if kind == "proportion":
                        p = np.clip(0.55 + 0.08 * lift, 0.02, 0.98)
                        numerator = rng.binomial(denominator.astype(int), p).astype(float)
                    else:
                        numerator = rng.poisson(denominator * np.clip(
                            0.06 + 0.01 * lift, 0.005, None)).astype(float)
                frames.append(pd.DataFrame({
                    "organisation_id": org_ids[o], "measure_id": mid, "period": weeks,
                    "value": value, "numerator": numerator, "denominator": denominator,
                    "note": None}))
        results = pd.concat(frames, ignore_index=True)
        results = results[rng.random(len(results)) > 0.01]  # real services miss weeks
        observations.insert_results(db, ADMIN, results, source="import", file_name="scale bench")
        db.checkpoint()
    return {"organisations": orgs, "measures": measures, "weeks": len(weeks),
            "ideas": ideas, "cycles": n_cycles, "results": len(results),
            "seconds": time.perf_counter() - started}


def timed(action, repeat: int = 3) -> tuple[float, object]:
    times, value = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        value = action()
        times.append(time.perf_counter() - started)
    return statistics.median(times), value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path,
                        default=Path(tempfile.gettempdir()) / "tracker-scale.duckdb")
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--orgs", type=int, default=200)
    parser.add_argument("--measures", type=int, default=25)
    parser.add_argument("--years", type=int, default=5)
    args = parser.parse_args()
    if args.rebuild and args.db.exists():
        args.db.unlink()
    if not args.db.exists():
        facts = build(args.db, orgs=args.orgs, measures=args.measures, years=args.years)
        print("built:", ", ".join(f"{k} {v:,.0f}" if isinstance(v, (int, float)) else k
                                  for k, v in facts.items()))
    with Database(args.db) as db:
        count = db.scalar("SELECT count(*) FROM current_result")
        print(f"database {args.db}: {count:,} current results, "
              f"{args.db.stat().st_size / 1e6:.0f} MB")
        seconds, table = timed(lambda: summary.summary_table(db, ADMIN), repeat=1)
        print(f"summary_table from nothing ({len(table):,} series): {seconds:.2f} s")
        seconds, _ = timed(lambda: portfolio.portfolio(db, ADMIN), repeat=1)
        print(f"portfolio from nothing: {seconds:.2f} s")
    os.environ["TRACKER_DB"] = str(args.db)
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=600)
    at.run()
    for page in ("summary", "outcomes", "portfolio", "review"):
        at.switch_page(f"app_pages/{page}.py").run()  # warms the caches
        assert not at.exception, at.exception
        seconds, _ = timed(lambda page=page: at.switch_page(f"app_pages/{page}.py").run())
        assert not at.exception, at.exception
        print(f"{page:<10} page, caches warm: {seconds:.2f} s (median of 3)")
    with Database(args.db) as db:
        for suffix in ("pdf", "pptx"):
            out = Path(tempfile.gettempdir()) / f"scale-pack.{suffix}"
            started = time.perf_counter()
            report.write_report(db, ADMIN, out, organisation="Organisation 001")
            print(f"pack for one organisation ({suffix}): "
                  f"{time.perf_counter() - started:.1f} s, {out.stat().st_size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
