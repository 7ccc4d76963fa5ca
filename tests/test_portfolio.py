"""The portfolio of ideas: where each idea was tested, what was decided, what its measures
showed afterwards, against a one-pair-at-a-time reference built from the charts themselves."""

import datetime as dt
import json

import pandas as pd
import pytest

from tracker.access.scope import Scope
from tracker.analysis import portfolio
from tracker.records import observations, repo
from tracker.reports import charts

pytestmark = pytest.mark.dates  # runs again at other dates in CI (tests/dates.md)

ADMIN = Scope.admin("test")


def chart_outcome(db, scope, idea_id, org_id) -> str:
    """What the Outcomes charts of the pair's targeted measures show after its first cycle."""
    challenge = repo.get_challenge(db)
    cycles = repo.list_cycles(db, scope, challenge["id"], idea_id=idea_id,
                              organisation_id=org_id)
    first = pd.Timestamp(cycles["start_date"].min())
    until = pd.Timestamp(cycles["end_date"].max()) + pd.Timedelta(weeks=26)
    measures = repo.list_measures(db).set_index("id")
    targeted = set()
    for cycle_id in cycles["id"]:
        targeted |= set(repo.get_cycle(db, scope, int(cycle_id))["measure_ids"])
    found = set()
    for mid in targeted:
        m = measures.loc[mid]
        results = observations.load_results(db, scope, measure_id=mid, organisation_ids=[org_id])
        notes = observations.list_annotations(db, scope, mid, org_id)
        frame = charts.outcome_frame(results, m["data_kind"], improvement=m["direction"],
                                     phase_dates=list(notes.loc[notes["kind"] == "phase",
                                                                "on_date"]))
        after = frame[(frame["period"] >= first) & (frame["period"] <= until)
                      & frame["value"].notna() & ~frame["trial"]]
        if (after["point_type"] == "improvement").any():
            found.add("improved")
        elif (after["point_type"] == "concern").any():
            found.add("concern")
        elif len(after):
            found.add("none")
        else:
            found.add("too_few")
    for outcome in ("improved", "concern", "none", "too_few"):
        if outcome in found:
            return outcome
    return "untargeted"


def test_portfolio_matches_the_charts(demo_db):
    pairs = portfolio.portfolio(demo_db, ADMIN)
    cycles = repo.list_cycles(demo_db, ADMIN, repo.get_challenge(demo_db)["id"])
    assert len(pairs) == len(cycles.groupby(["idea_id", "organisation_id"]))
    assert pairs["cycles"].sum() == len(cycles)
    assert {"improved", "none", "concern"} <= set(pairs["outcome"])
    for row in pairs.itertuples():
        assert row.outcome == chart_outcome(demo_db, ADMIN, row.idea_id, row.organisation_id), \
            (row.idea, row.organisation)
    welcome = pairs[(pairs["idea"] == "Peer-led welcome call within a week of referral")
                    & (pairs["organisation"] == "Peer Pathways (demo)")].iloc[0]
    assert welcome.outcome == "improved" and welcome.latest_decision == "Adopt"
    assert "Days waited for a first session: improvement seen" in welcome.measures
    assert welcome.measure_id is not None  # the chart to open


def test_idea_summary_counts_organisations_tested_and_improved(demo_db):
    pairs = portfolio.portfolio(demo_db, ADMIN)
    ideas = repo.list_ideas(demo_db, repo.get_challenge(demo_db)["id"])
    per_idea = portfolio.idea_summary(pairs, ideas).set_index("idea")
    assert len(per_idea) == len(ideas)
    assert per_idea.loc["Co-designed 'what to expect' video", "organisations"] == 0  # untested
    for idea, group in pairs.groupby("idea"):
        assert per_idea.loc[idea, "organisations"] == len(group)
        assert per_idea.loc[idea, "improved"] == (group["outcome"] == "improved").sum()


def test_a_new_cycle_without_data_after_it_is_too_few_points(demo_db):
    challenge = repo.get_challenge(demo_db)
    ideas = repo.list_ideas(demo_db, challenge["id"]).set_index("title")["id"]
    orgs = repo.list_organisations(demo_db, ADMIN).set_index("name")["id"]
    measures = repo.list_measures(demo_db).set_index("code")["id"]
    last = demo_db.scalar("SELECT max(period) FROM result")
    repo.plan_cycle(demo_db, ADMIN, idea_id=int(ideas["Co-designed 'what to expect' video"]),
                    organisation_id=int(orgs["Hillview Surgery (demo)"]), objective="Try it",
                    question="Will people come?", prediction="More will come.",
                    start_date=last + dt.timedelta(days=7), end_date=last + dt.timedelta(days=20),
                    measure_ids=[int(measures["FIRST"])])
    pairs = portfolio.portfolio(demo_db, ADMIN)
    video = pairs[pairs["idea"] == "Co-designed 'what to expect' video"].iloc[0]
    assert video.outcome == "too_few" and video.latest_decision == "In progress"


def test_a_partner_sees_only_its_own_tests(demo_db):
    orgs = repo.list_organisations(demo_db, ADMIN).set_index("name")["id"]
    pp = int(orgs["Peer Pathways (demo)"])
    partner = Scope(actor="p", role="partner", organisation_id=pp,
                    organisation="Peer Pathways (demo)")
    pairs = portfolio.portfolio(demo_db, partner)
    assert set(pairs["organisation"]) == {"Peer Pathways (demo)"}
    whole = portfolio.portfolio(demo_db, ADMIN)
    mine = whole[whole["organisation_id"] == pp].reset_index(drop=True)
    pd.testing.assert_frame_equal(pairs.reset_index(drop=True), mine)


def test_empty_database_gives_an_empty_portfolio(db):
    assert portfolio.portfolio(db, ADMIN).empty


def test_portfolio_charts_name_everything_in_words(demo_db):
    pairs = portfolio.portfolio(demo_db, ADMIN)
    spec = charts.portfolio_matrix(pairs).to_dict()
    text = json.dumps(spec, ensure_ascii=False)
    marks = [layer["mark"]["type"] for layer in spec["layer"]]
    assert marks == ["rect", "text"]
    assert "▲ Improvement seen" in text and "▼ Concern seen" in text
    assert "From the first cycle to 26 weeks after the last" in text
    ideas = repo.list_ideas(demo_db, repo.get_challenge(demo_db)["id"])
    reach = charts.idea_reach(portfolio.idea_summary(pairs, ideas)).to_dict()
    reach_text = json.dumps(reach, ensure_ascii=False)
    assert "improved in 3 of 3" in reach_text and "Organisations that tested it" in reach_text
