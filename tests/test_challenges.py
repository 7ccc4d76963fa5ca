"""Several challenges in one database (issue 14): a lab starts a new challenge every 9–12
months; the earlier ones stay readable, chosen in the sidebar. Organisations and measures
carry over; ideas, cycles, learning and the results of its dates belong to each challenge."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from conftest import ROOT, open_app, shown, table_counts

from tracker import clock
from tracker.access import auth
from tracker.analysis import portfolio
from tracker.errors import PermissionDenied
from tracker.intake import ingest
from tracker.learning import learning_record, whats_new
from tracker.records import observations, repo
from tracker.storage.db import Database

pytestmark = pytest.mark.dates  # runs again at other dates in CI (tests/dates.md)

ADMIN = auth.Scope.admin("test admin")


def second_challenge(db: Database) -> tuple[dict, dict]:
    first = repo.get_challenge(db)
    start = first["end_date"] + dt.timedelta(days=1)
    new_id = repo.create_challenge(db, ADMIN, title="Warm homes", question="What would it "
                                   "take for every cold home to be warm?", aim="Fewer falls",
                                   start_date=start, end_date=start + dt.timedelta(days=300))
    return first, repo.get_challenge(db, new_id)


def test_a_new_challenge_leaves_the_earlier_one_readable(demo_db):
    first, second = second_challenge(demo_db)
    listed = repo.list_challenges(demo_db)
    assert listed["id"].tolist() == [second["id"], first["id"]]  # latest start first
    running = second if second["state"] == "running" else first
    assert repo.get_challenge(demo_db)["id"] == running["id"]  # the one running today
    assert repo.get_challenge(demo_db, first["id"])["title"] == first["title"]
    assert len(repo.list_ideas(demo_db, first["id"])) == 14
    assert repo.list_ideas(demo_db, second["id"]).empty
    # organisations and measures carry over
    assert len(repo.list_organisations(demo_db, ADMIN)) == 8 and len(repo.list_measures(demo_db))

    earlier, now = ADMIN.viewing(first), ADMIN.viewing(second)
    assert len(observations.load_results(demo_db, earlier)) == len(
        observations.load_results(demo_db, ADMIN))
    assert observations.load_results(demo_db, now).empty  # results belong to their dates
    assert observations.series_results(demo_db, now).empty
    assert not portfolio.portfolio(demo_db, earlier).empty
    assert portfolio.portfolio(demo_db, now).empty
    since = first["start_date"]
    assert len(whats_new.whats_new(demo_db, earlier, since)) > 0
    assert whats_new.whats_new(demo_db, now, since).empty
    idea = int(repo.list_ideas(demo_db, first["id"])["id"].iloc[0])
    assert learning_record.record(demo_db, earlier, idea).idea["id"] == idea
    with pytest.raises(PermissionDenied, match="not in this challenge"):
        learning_record.record(demo_db, now, idea)


def test_late_results_of_the_earlier_challenge_are_still_accepted(demo_db):
    first, _ = second_challenge(demo_db)
    period = first["end_date"] - dt.timedelta(days=first["end_date"].weekday() + 14)
    if period > clock.today():
        period = clock.today() - dt.timedelta(days=clock.today().weekday() + 7)
    data = ("organisation,measure,period,numerator,denominator\n"
            f"Hillview Surgery (demo),A&E attendances per 100 people supported,{period},3,1.2\n")
    report = ingest.check(demo_db, data.encode(), "late.csv", ADMIN)
    assert report.ok, [str(p) for p in report.errors]
    too_early = first["start_date"] - dt.timedelta(days=first["start_date"].weekday() + 7)
    early = data.replace(str(period), str(too_early))
    refused = ingest.check(demo_db, early.encode(), "early.csv", ADMIN)
    assert "outside the challenge" in str(refused.errors[0])


def test_the_sidebar_chooses_the_challenge_and_every_page_follows(demo_path, monkeypatch):
    with Database(demo_path) as db:
        first, second = second_challenge(db)
    at = open_app(monkeypatch, demo_path)
    chooser = at.sidebar.selectbox(key="challenge_id")
    assert chooser.options and len(chooser.options) == 2
    running = second if second["state"] == "running" else first
    assert chooser.value == running["id"]  # the one running today, until another is chosen
    chooser.set_value(second["id"]).run()
    assert any("Warm homes" in m.value for m in at.sidebar.markdown)
    for page in sorted((ROOT / "app_pages").glob("*.py")):  # the new, empty challenge
        if page.name == "shared_learning.py":  # a contributor's page (test_contributors.py)
            continue
        at.switch_page(f"app_pages/{page.name}").run()
        assert not at.exception, page.name
    at.switch_page("app_pages/ideas.py").run()
    assert any("No change ideas yet" in i.value for i in at.info)
    at.sidebar.selectbox(key="challenge_id").set_value(first["id"]).run()
    assert not at.exception
    assert not any("No change ideas yet" in i.value for i in at.info)
    assert any(first["title"] in shown(m.value) for m in at.sidebar.markdown)
    for page in ("overview", "summary", "portfolio", "learning", "cycles", "outcomes"):
        at.switch_page(f"app_pages/{page}.py").run()
        assert not at.exception, page
        assert at.sidebar.selectbox(key="challenge_id").value == first["id"], page


def test_the_lab_admin_starts_a_new_challenge_on_the_challenge_page(demo_path, monkeypatch):
    at = open_app(monkeypatch, demo_path)
    at.switch_page("app_pages/challenge.py").run()
    with Database(demo_path) as db:
        before = table_counts(db)
    start = [b for b in at.button if b.label == "Start the new challenge"][0]
    start.click().run()  # empty: every problem said, nothing stored
    assert "Title is required" in shown(at.error[0].value)
    with Database(demo_path) as db:
        assert table_counts(db) == before
    at.text_input(key="new_challenge_title").input("Warm homes <b>2027</b>")
    at.text_area(key="new_challenge_question").input("What would it take?")
    at.text_area(key="new_challenge_aim").input("Fewer falls in cold homes")
    with Database(demo_path) as db:
        after_the_demo = repo.get_challenge(db)["end_date"] + dt.timedelta(days=7)
    at.date_input(key="new_challenge_start").set_value(after_the_demo)
    at.date_input(key="new_challenge_end").set_value(after_the_demo + dt.timedelta(days=290))
    [b for b in at.button if b.label == "Start the new challenge"][0].click().run()
    assert not at.exception and not at.error
    with Database(demo_path) as db:
        challenges = repo.list_challenges(db)
    assert challenges["title"].tolist()[0] == "Warm homes <b>2027</b>"
    assert at.sidebar.selectbox(key="challenge_id").value == int(challenges["id"].iloc[0])
    assert any(shown(m.value) == "**Warm homes <b>2027</b>**" for m in at.sidebar.markdown)


def test_the_command_line_names_the_challenge(demo_path, tmp_path, capsys):
    from tracker.__main__ import main

    with Database(demo_path) as db:
        first, _ = second_challenge(db)
    out = tmp_path / "d.md"
    since = str(first["start_date"])
    assert main(["digest", "--db", str(demo_path), "--since", since, "--out", str(out),
                 "--challenge", str(first["id"])]) == 0
    assert first["title"] in out.read_text()
    out.unlink()
    assert main(["digest", "--db", str(demo_path), "--since", since, "--out", str(out),
                 "--challenge", "warm HOMES"]) == 1  # nothing in it yet: said, nothing written
    assert "'Warm homes'" in capsys.readouterr().err and not out.exists()
    assert main(["digest", "--db", str(demo_path), "--since", since, "--out", str(out),
                 "--challenge", "Cold homes"]) == 1
    assert "No challenge is called 'Cold homes'" in capsys.readouterr().err


def test_a_learning_record_charts_only_the_results_of_its_challenge(demo_db):
    """An idea of the new challenge, tested at an organisation with results from the earlier
    one: its record has no chart yet (those results belong to the earlier challenge's dates)."""
    first, second = second_challenge(demo_db)
    now = ADMIN.viewing(second)
    org = int(repo.list_organisations(demo_db, ADMIN).set_index("name").loc[
        "Peer Pathways (demo)", "id"])
    measure = int(observations.load_results(demo_db, ADMIN, organisation_ids=[org])
                  ["measure_id"].iloc[0])
    idea = repo.add_idea(demo_db, ADMIN, second["id"], title="Warm welcome calls")
    repo.plan_cycle(demo_db, ADMIN, idea_id=idea, organisation_id=org, objective="o",
                    question="q", prediction="p", start_date=second["start_date"],
                    end_date=second["start_date"] + dt.timedelta(days=14),
                    measure_ids=[measure])
    record = learning_record.record(demo_db, now, idea)
    for evidence in record.evidence:
        for _, series, _ in evidence.panels:
            assert series.empty or series["period"].min() >= pd.Timestamp(second["start_date"])
