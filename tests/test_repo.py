"""The data layer on real DuckDB files: writes, refusals that change nothing, audit rows."""

import datetime as dt

import pytest
from conftest import table_counts

from tracker.access.scope import Scope
from tracker.records import repo

ME = ADMIN = Scope.admin("tester")


@pytest.fixture
def lab(db):
    """A small lab: a challenge, one organisation, a measure, a driver tree and an idea."""
    cid = repo.create_challenge(db, ME, title="Peer support", question="What would it take?",
                                aim="80% seen within 14 days by June", start_date="2026-01-05",
                                end_date="2026-12-31")
    org = repo.add_organisation(db, ME, name="Riverside Practice", kind="gp_practice",
                                contact_email="a@example.org")
    measure = repo.add_measure(db, ME, code="REF", name="Referrals", measure_type="process",
                               definition="People referred in the week", unit="people",
                               direction="increase", data_kind="value", frequency="week")
    primary = repo.add_driver(db, ME, cid, level="primary", name="Referral is easy")
    secondary = repo.add_driver(db, ME, cid, level="secondary", name="Champions",
                                primary_ids=[primary])
    idea = repo.add_idea(db, ME, cid, title="Welcome call", driver_ids=[secondary])
    return {"db": db, "cid": cid, "org": org, "measure": measure, "primary": primary,
            "secondary": secondary, "idea": idea}


def plan(lab, **over):
    values = dict(idea_id=lab["idea"], organisation_id=lab["org"], objective="Try it",
                  question="If we call, will people come?", prediction="6 of 10 will come",
                  start_date="2026-03-02", end_date="2026-03-15", measure_ids=[lab["measure"]])
    values.update(over)
    return repo.plan_cycle(lab["db"], ME, **values)


def test_every_change_writes_an_audit_row(lab):
    db = lab["db"]
    audit = repo.list_audit(db, ADMIN)
    assert set(zip(audit["action"], audit["entity"], strict=True)) >= {
        ("create", "challenge"), ("create", "organisation"), ("create", "measure"),
        ("create", "driver"), ("create", "idea")}
    before = len(audit)
    repo.update_organisation(db, ME, lab["org"], name="Riverside Medical Practice",
                             kind="gp_practice")
    row = repo.list_audit(db, ADMIN).iloc[0]
    assert len(repo.list_audit(db, ADMIN)) == before + 1
    assert row["action"] == "update" and row["actor"] == ME.actor
    assert "Riverside Practice" in row["before"] and "Riverside Medical Practice" in row["after"]


def test_saving_unchanged_values_writes_no_audit_row(lab):
    db = lab["db"]
    before = len(repo.list_audit(db, ADMIN))
    repo.update_organisation(db, ME, lab["org"], name="Riverside Practice", kind="gp_practice",
                             contact_email="a@example.org")
    assert len(repo.list_audit(db, ADMIN)) == before


@pytest.mark.parametrize("values, expected", [
    (dict(name="", kind="charity"), "Organisation name is required"),
    (dict(name="X", kind="spaceship"), "Kind of organisation 'spaceship' is not one of"),
    (dict(name="X", kind="charity", contact_email="nope"), "does not look like an e-mail"),
    (dict(name="  riverside   PRACTICE ", kind="charity"), "already taken by 'Riverside Practice'"),
    (dict(name="x" * 300, kind="charity"), "please keep it under 200"),
])
def test_bad_organisation_is_refused_and_nothing_changes(lab, values, expected):
    before = table_counts(lab["db"])
    with pytest.raises(repo.InputError) as refused:
        repo.add_organisation(lab["db"], ME, **values)
    assert any(expected in p for p in refused.value.problems)
    assert table_counts(lab["db"]) == before


def test_all_problems_are_reported_at_once(lab):
    with pytest.raises(repo.InputError) as refused:
        repo.add_measure(lab["db"], ME, code="has space", name="", measure_type="outcome",
                         definition="", unit="", direction="up", data_kind="proportion",
                         frequency="week", target="1.5")
    text = " ".join(refused.value.problems)
    for part in ("no spaces", "Measure name is required", "definition is required",
                 "Improvement direction 'up'", "numerator and a denominator",
                 "between 0% and 100%"):
        assert part in text


def test_renaming_a_referenced_organisation_works(lab):
    """DuckDB refuses updates to indexed columns of referenced rows; names carry no index."""
    plan(lab)
    repo.update_organisation(lab["db"], ME, lab["org"], name="New name", kind="charity")
    assert repo.list_organisations(lab["db"], ADMIN)["name"].tolist() == ["New name"]


def test_retiring_keeps_what_refers_to_it(lab):
    db = lab["db"]
    plan(lab)
    repo.set_organisation_retired(db, ME, lab["org"], True)
    assert repo.list_organisations(db, ADMIN, include_retired=False).empty
    assert len(repo.list_cycles(db, ADMIN, lab["cid"])) == 1
    with pytest.raises(repo.InputError, match="retired"):
        plan(lab)
    repo.set_organisation_retired(db, ME, lab["org"], False)
    assert len(repo.list_organisations(db, ADMIN, include_retired=False)) == 1


def test_cycle_needs_a_prediction_and_sane_dates(lab):
    before = table_counts(lab["db"])
    with pytest.raises(repo.InputError) as refused:
        plan(lab, prediction="   ", start_date="2026-03-15", end_date="2026-03-01")
    text = " ".join(refused.value.problems)
    assert "Prediction is required" in text and "before its start date" in text
    assert table_counts(lab["db"]) == before


def test_a_full_pdsa_ramp(lab):
    db = lab["db"]
    first = plan(lab, scale="2 people")
    assert repo.get_cycle(db, ADMIN, first)["stage"] == "do"
    assert repo.list_ideas(db, lab["cid"]).iloc[0]["status"] == "testing"
    # Study before Do is refused and changes nothing
    with pytest.raises(repo.InputError, match="still at its Do stage"):
        repo.record_study(db, ME, first, study_notes="x", learning="y")
    repo.record_do(db, ME, first, do_notes="Called 2 people", went_as_planned=True)
    repo.record_study(db, ME, first, study_notes="Both came", learning="Calls work")
    repo.record_act(db, ME, first, decision="adapt", next_steps="Try with 10")
    assert repo.list_ideas(db, lab["cid"]).iloc[0]["status"] == "adapted"
    second = plan(lab, builds_on_id=first, start_date="2026-03-16", end_date="2026-03-29")
    third = plan(lab, builds_on_id=second, start_date="2026-03-30", end_date="2026-04-12")
    for cycle in (second, third):
        repo.record_do(db, ME, cycle, do_notes="Done", went_as_planned=False)
        repo.record_study(db, ME, cycle, study_notes="Met prediction", learning="Scale up")
        repo.record_act(db, ME, cycle, decision="adopt", next_steps="Make it usual")
    cycles = repo.list_cycles(db, ADMIN, lab["cid"])
    assert cycles["cycle_no"].tolist() == [1, 2, 3]
    assert cycles["builds_on_id"].tolist()[1:] == [first, second]
    assert set(cycles["stage"]) == {"done"}
    idea = repo.list_ideas(db, lab["cid"]).iloc[0]
    assert idea["status"] == "adopted" and idea["cycles"] == 3
    # re-recording an earlier stage never moves the cycle backwards
    repo.record_do(db, ME, third, do_notes="Done, corrected", went_as_planned=True)
    assert repo.get_cycle(db, ADMIN, third)["stage"] == "done"


def test_act_needs_a_decision(lab):
    db = lab["db"]
    cycle = plan(lab)
    repo.record_do(db, ME, cycle, do_notes="x", went_as_planned=True)
    repo.record_study(db, ME, cycle, study_notes="x", learning="y")
    before = table_counts(db)
    with pytest.raises(repo.InputError, match="Decision is required"):
        repo.record_act(db, ME, cycle, decision=None, next_steps="z")
    assert table_counts(db) == before


def test_a_cycle_builds_only_on_its_own_idea(lab):
    other = repo.add_idea(lab["db"], ME, lab["cid"], title="Another idea")
    first = plan(lab)
    with pytest.raises(repo.InputError, match="same idea"):
        plan(lab, idea_id=other, builds_on_id=first)


def test_search_looks_in_every_note(lab):
    db = lab["db"]
    cycle = plan(lab)
    repo.record_do(db, ME, cycle, do_notes="A volunteer was ill", went_as_planned=False)
    assert len(repo.list_cycles(db, ADMIN, lab["cid"], search="VOLUNTEER ill")) == 1
    assert len(repo.list_cycles(db, ADMIN, lab["cid"], search="volunteer elephant")) == 0
    assert len(repo.list_cycles(db, ADMIN, lab["cid"], search="welcome")) == 1  # the idea's title
    # search text is data, never SQL
    assert len(repo.list_cycles(db, ADMIN, lab["cid"], search="' OR 1=1 --")) == 0


def test_status_set_by_hand_wins(lab):
    repo.update_idea(lab["db"], ME, lab["idea"], title="Welcome call",
                     driver_ids=[lab["secondary"]], status_override="abandoned")
    idea = repo.list_ideas(lab["db"], lab["cid"]).iloc[0]
    assert idea["status"] == "abandoned" and idea["status_set_by_hand"]


def test_secondary_driver_needs_a_primary(lab):
    with pytest.raises(repo.InputError, match="at least one primary"):
        repo.add_driver(lab["db"], ME, lab["cid"], level="secondary", name="Orphan")


def test_driver_links_are_many_to_many(lab):
    db = lab["db"]
    other = repo.add_driver(db, ME, lab["cid"], level="primary", name="Volunteers")
    repo.update_driver(db, ME, lab["secondary"], name="Champions",
                       primary_ids=[lab["primary"], other])
    links = repo.list_driver_links(db, lab["cid"])
    assert sorted(links["primary_id"]) == sorted([lab["primary"], other])


def test_challenge_progress():
    challenge = {"start_date": dt.date(2026, 1, 5), "end_date": dt.date(2027, 1, 4)}
    import pandas as pd
    phases = pd.DataFrame({"name": ["Discovery"], "start_date": [dt.date(2026, 1, 5)],
                           "end_date": [dt.date(2026, 2, 28)]})
    early = repo.challenge_progress(challenge, phases, dt.date(2026, 1, 20))
    assert (early["month"], early["months"], early["phase"]) == (1, 12, "Discovery")
    late = repo.challenge_progress(challenge, phases, dt.date(2026, 11, 26))
    assert (late["month"], late["phase"], late["state"]) == (11, None, "running")
    assert repo.challenge_progress(challenge, phases, dt.date(2027, 3, 1))["state"] == "finished"


def test_challenge_dates_must_be_in_order(db):
    with pytest.raises(repo.InputError, match="before its start date"):
        repo.create_challenge(db, ME, title="T", question="Q", aim="A",
                              start_date="2026-05-01", end_date="2026-04-01")
    with pytest.raises(repo.InputError, match="not a date"):
        repo.create_challenge(db, ME, title="T", question="Q", aim="A",
                              start_date="31/02/2026", end_date="2026-04-01")
    assert repo.get_challenge(db) is None


def test_the_same_plan_saved_twice_is_refused_and_names_the_first(lab):
    from conftest import table_counts

    db = lab["db"]
    plan = dict(idea_id=lab["idea"], organisation_id=lab["org"], objective="Call five people",
                question="Will they come?", prediction="3 of 5 will come",
                start_date=dt.date(2026, 3, 2), end_date=dt.date(2026, 3, 9))
    first = repo.plan_cycle(db, ME, **plan)
    before = table_counts(db)
    with pytest.raises(repo.InputError, match="saved a moment ago as cycle"):
        repo.plan_cycle(db, ME, **plan)
    assert table_counts(db) == before
    assert repo.plan_cycle(db, ME, **{**plan, "objective": "Call ten people"}) != first
