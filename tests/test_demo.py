"""Invariants of the demo challenge."""

import datetime as dt

import pandas as pd
import pytest
from conftest import AS_OF

from tracker import clock, demo
from tracker.access.scope import Scope
from tracker.records import observations, repo
from tracker.storage.db import Database

pytestmark = pytest.mark.dates  # runs again at other dates in CI (tests/dates.md)

ADMIN = Scope.admin("tester")


def test_demo_has_the_promised_shape(demo_db):
    db = demo_db
    challenge = repo.get_challenge(db)
    assert challenge["is_demo"] and "DEMO" in challenge["title"]
    assert 360 <= (challenge["end_date"] - challenge["start_date"]).days <= 366
    orgs = repo.list_organisations(db, ADMIN)
    assert len(orgs) == 8 and orgs["kind"].nunique() >= 4
    assert all("(demo)" in name for name in orgs["name"])
    drivers = repo.list_drivers(db, challenge["id"])
    assert 3 <= (drivers["level"] == "primary").sum() <= 4
    assert 7 <= (drivers["level"] == "secondary").sum() <= 9
    ideas = repo.list_ideas(db, challenge["id"])
    assert len(ideas) >= 12
    assert {"adopted", "adapted", "abandoned", "testing", "proposed"} <= set(ideas["status"])
    cycles = repo.list_cycles(db, ADMIN, challenge["id"])
    assert len(cycles) >= 60
    assert cycles["prediction"].str.len().min() > 10
    done = cycles[cycles["stage"] == "done"]
    assert set(done["decision"]) == {"adopt", "adapt", "abandon"}
    assert done["study_notes"].notna().all()
    assert (cycles["builds_on_id"].notna()).sum() >= 30  # ramps
    measures = repo.list_measures(db)
    assert len(measures) >= 8
    assert set(measures["measure_type"]) == {"outcome", "process", "balancing"}
    assert set(measures["data_kind"]) == {"value", "proportion", "rate"}


def test_weekly_results_for_every_organisation_and_measure(demo_db):
    results = observations.load_results(demo_db, ADMIN)
    pairs = results.groupby(["organisation_id", "measure_id"]).size()
    assert len(pairs) == 8 * 9
    assert pairs.min() >= 40  # about a year of weeks, a few missed
    periods = pd.to_datetime(results["period"])
    assert (periods.dt.day_of_week == 0).all()  # weeks start on Monday
    assert periods.max().date() < AS_OF
    kinds = repo.list_measures(demo_db).set_index("id")["data_kind"]
    proportions = results[results["measure_id"].map(kinds) == "proportion"]
    assert len(proportions) and (proportions["numerator"] <= proportions["denominator"]).all()
    assert results.loc[results["measure_id"].map(kinds) == "value", "value"].notna().all()


def test_adopted_ideas_shift_their_measures_and_others_do_not(demo_db):
    """The welcome call, adopted at Peer Pathways, cuts waiting days after its final cycle."""
    challenge = repo.get_challenge(demo_db)
    cycles = repo.list_cycles(demo_db, ADMIN, challenge["id"])
    results = observations.load_results(demo_db, ADMIN)

    def before_after(idea_title, org, measure):
        ramp = cycles[(cycles["idea"] == idea_title) & (cycles["organisation"] == org)]
        final_start = pd.to_datetime(ramp["start_date"]).max()
        series = results[(results["organisation"] == org) & (results["measure"] == measure)]
        period = pd.to_datetime(series["period"])
        value = series["value"].fillna(series["numerator"] / series["denominator"])
        return value[period < final_start].mean(), value[period > final_start + pd.Timedelta(
            days=14)].mean()

    before, after = before_after("Peer-led welcome call within a week of referral",
                                 "Peer Pathways (demo)", "Days waited for a first session")
    assert after < before - 4
    before, after = before_after("Self-referral QR code on waiting-room screens",
                                 "Riverside Medical Practice (demo)",
                                 "Days waited for a first session")
    assert abs(after - before) < 2.5


def test_demo_refuses_a_database_with_data(db):
    repo.add_organisation(db, ADMIN, name="Real partner", kind="charity")
    with pytest.raises(repo.InputError, match="already holds data"):
        demo.load_demo(db)
    assert len(repo.list_organisations(db, ADMIN)) == 1


def test_demo_is_deterministic_for_a_seed(demo_path, tmp_path):
    """The demo is a function of its seed and date: built again (here, in another process
    than the tests' shared demo), every table holds the same rows, save the moments each row
    was written (TIMESTAMP columns, and the same moments inside the audit log's
    before/after), which are the clock's, not the demo's."""
    import re

    stamp = re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(\.\d+)?")
    again = tmp_path / "again.duckdb"
    with Database(again) as db:
        demo.load_demo(db, seed=1, as_of=AS_OF)  # as the shared demo was built
    builds = []
    for path in (demo_path, again):
        with Database(path) as db:
            tables = {}
            for table in db.read("SELECT table_name FROM information_schema.tables WHERE"
                                 " table_schema = 'main' AND table_type = 'BASE TABLE'"
                                 " ORDER BY 1")["table_name"]:
                kept = db.read("SELECT column_name FROM information_schema.columns"
                               " WHERE table_name = ? AND data_type <> 'TIMESTAMP'"
                               " ORDER BY ordinal_position", [table])["column_name"]
                frame = db.read(f'SELECT {", ".join(kept)} FROM "{table}" ORDER BY ALL')
                for column in ("before", "after"):
                    if table == "audit_log":
                        frame[column] = frame[column].map(
                            lambda v: v if v is None else stamp.sub("<moment>", str(v)))
                tables[table] = frame
            builds.append(tables)
    first, second = builds
    assert first.keys() == second.keys() and len(first) > 20
    for table, frame in first.items():
        pd.testing.assert_frame_equal(frame, second[table], obj=table)
    assert len(first["result"]) > 3000 and len(first["cycle"]) > 50


def test_the_demo_is_the_same_story_in_any_week(demo_path, tmp_path, monkeypatch):
    """Built on another day of the same week, or in a later week, the demo's cycles and
    results are the same, shifted by whole weeks: its signals do not depend on the calendar."""
    def story(path):
        with Database(path) as db:
            start = repo.get_challenge(db)["start_date"]
            results = db.read("SELECT o.name, m.code, r.period, r.value, r.numerator,"
                              " r.denominator FROM result r JOIN organisation o"
                              " ON o.id = r.organisation_id JOIN measure m ON m.id = r.measure_id"
                              " ORDER BY ALL")
            results["period"] = (pd.to_datetime(results["period"]) - pd.Timestamp(start)).dt.days
            cycles = db.read("SELECT idea_id, organisation_id, cycle_no, stage, decision,"
                             " start_date FROM cycle ORDER BY ALL")
            cycles["start_date"] = (pd.to_datetime(cycles["start_date"])
                                    - pd.Timestamp(start)).dt.days
            return results, cycles

    built = story(demo_path)  # the tests' demo: seed 1, as of AS_OF
    monday = AS_OF - dt.timedelta(days=AS_OF.weekday())
    same_week = monday if monday != AS_OF else monday + dt.timedelta(days=6)
    for other in (same_week, AS_OF + dt.timedelta(weeks=13, days=3)):
        monkeypatch.setenv(clock.ENV, other.isoformat())  # built on that day
        path = tmp_path / f"{other}.duckdb"
        with Database(path) as db:
            demo.load_demo(db, seed=1, as_of=other)
        results, cycles = story(path)
        pd.testing.assert_frame_equal(results, built[0])
        pd.testing.assert_frame_equal(cycles, built[1])
