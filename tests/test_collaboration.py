"""The collaboration map, cross-sector pairs and who should talk (issue 11): real DuckDB files;
each suggestion's reason checked against the cycles and the charts."""

from __future__ import annotations

import datetime as dt
import re

import pandas as pd
import pytest
from conftest import table_counts

from tracker import clock
from tracker.access.scope import Scope
from tracker.analysis import portfolio
from tracker.community import collaboration, participants
from tracker.errors import InputError, PermissionDenied
from tracker.records import repo
from tracker.reports import charts

ADMIN = Scope.admin("lab lead")
PP = "Peer Pathways (demo)"


def test_the_map_joins_organisations_to_the_ideas_they_test(demo_db):
    cid = repo.get_challenge(demo_db)["id"]
    net = collaboration.network(demo_db, ADMIN, cid)
    cycles = repo.list_cycles(demo_db, ADMIN, cid)
    orgs = net.nodes[net.nodes["group"] == "Organisation"]
    assert set(orgs["label"]) == set(cycles["organisation"])
    ideas = net.nodes[net.nodes["group"] == "Idea"]
    assert set(ideas["label"]) == set(cycles["idea"])
    org_edges = net.edges[net.edges["source"].str.startswith("org:")]
    assert org_edges["weight"].sum() == len(cycles)  # a line's width: cycles run
    assert (net.nodes["group"] == "Participant").any()  # the lab admin sees people too
    assert net.nodes[["x", "y"]].notna().all().all()
    charts.collaboration_map(net.nodes, net.edges).to_dict(validate=True)
    again = collaboration.network(demo_db, ADMIN, cid)  # seeded: the same picture
    assert again.nodes[["x", "y"]].equals(net.nodes[["x", "y"]])


def test_a_partner_and_a_viewer_see_the_map_without_people_or_unconsented_names(demo_db):
    cid = repo.get_challenge(demo_db)["id"]
    orgs = repo.list_organisations(demo_db, ADMIN).set_index("name")["id"]
    pp = Scope(actor="pp", role="partner", organisation_id=int(orgs[PP]), organisation=PP)
    viewer = Scope(actor="board", role="viewer")
    people = participants.list_participants(demo_db, ADMIN, cid)["name"]
    for scope in (pp, viewer):
        net = collaboration.network(demo_db, scope, cid)
        assert not (net.nodes["group"] == "Participant").any()
        assert not set(people) & set(net.nodes["label"])
        with pytest.raises(PermissionDenied):
            collaboration.suggestions(demo_db, scope, cid)
    labels = set(collaboration.network(demo_db, pp, cid).nodes["label"])
    assert "Hillview Surgery (demo)" not in labels  # no consent to be named to partners
    # the only GP practice in Yorkshire: its label is its region, which 3 organisations share
    assert "an organisation in Yorkshire (1)" in labels and PP in labels
    pairs = collaboration.cross_sector_pairs(demo_db, pp, cid)
    assert "Hillview Surgery (demo)" not in set(pairs["first"]) | set(pairs["second"])


def test_filters_narrow_the_map(demo_db):
    cid = repo.get_challenge(demo_db)["id"]
    everything = collaboration.network(demo_db, ADMIN, cid)
    early = collaboration.network(demo_db, ADMIN, cid, date_to=dt.date(2026, 1, 1))
    assert early.nodes.empty or len(early.nodes) < len(everything.nodes)
    driver = int(repo.list_drivers(demo_db, cid).iloc[-1]["id"])
    narrowed = collaboration.network(demo_db, ADMIN, cid, driver_id=driver)
    ideas = repo.list_ideas(demo_db, cid)
    on = set(ideas[ideas["driver_ids"].map(lambda d: driver in list(d))]["title"])
    assert set(narrowed.nodes.loc[narrowed.nodes["group"] == "Idea", "label"]) <= on


def test_many_organisations_are_grouped_and_the_map_says_so(db):
    cid = repo.create_challenge(db, ADMIN, title="T", question="Q", aim="A",
                                start_date=dt.date(2026, 1, 5), end_date=dt.date(2026, 12, 28))
    idea = repo.add_idea(db, ADMIN, cid, title="Welcome call")
    for n in range(collaboration.MAX_ORGS + 5):
        org = repo.add_organisation(db, ADMIN, name=f"Practice {n:03d}", kind="gp_practice",
                                    region=["North West", "London"][n % 2])
        repo.plan_cycle(db, ADMIN, idea_id=idea, organisation_id=org, objective="o",
                        question="q", prediction="p", start_date=dt.date(2026, 2, 2),
                        end_date=dt.date(2026, 2, 15))
    net = collaboration.network(db, ADMIN, cid)
    orgs = net.nodes[net.nodes["group"] == "Organisation"]
    assert len(orgs) == 2 and "grouped by kind and region" in net.note
    assert net.edges["weight"].sum() == collaboration.MAX_ORGS + 5


def test_a_partner_sees_the_grouped_map_and_pairs_only_as_its_labels_allow(db):
    """Above MAX_ORGS the map groups organisations. For a partner the groups follow its
    labels: the only housing association (in Cornwall, not named to partners) is not a group
    of one that says "housing" or "Cornwall"; nor is a pair listed by its sector."""
    cid = repo.create_challenge(db, ADMIN, title="T", question="Q", aim="A",
                                start_date=dt.date(2026, 1, 5), end_date=dt.date(2026, 12, 28))
    idea = repo.add_idea(db, ADMIN, cid, title="Welcome call")
    alone = repo.add_idea(db, ADMIN, cid, title="Tenancy check-in")
    orgs = [(f"Practice {n:03d}", "gp_practice", ["North West", "London"][n % 2], idea)
            for n in range(collaboration.MAX_ORGS + 5)]
    orgs += [("Tor Homes", "housing_association", "Cornwall", alone),
             ("Practice 900", "gp_practice", "London", alone)]
    ids = {}
    for name, kind, region, tested in orgs:
        ids[name] = repo.add_organisation(db, ADMIN, name=name, kind=kind, region=region)
        repo.plan_cycle(db, ADMIN, idea_id=tested, organisation_id=ids[name], objective="o",
                        question="q", prediction="p", start_date=dt.date(2026, 2, 2),
                        end_date=dt.date(2026, 2, 15))
    partner = Scope(actor="p", role="partner", organisation_id=ids["Practice 900"],
                    organisation="Practice 900")
    lab = collaboration.network(db, ADMIN, cid).nodes
    assert any("housing" in label for label in lab["label"])  # the lab team sees the kind
    net = collaboration.network(db, partner, cid)
    labels = " ".join(net.nodes["label"]).lower()
    assert "housing" not in labels and "cornwall" not in labels, labels
    assert "grouped as they may be named to you" in net.note
    assert net.edges["weight"].sum() == len(orgs)  # every cycle still drawn
    pairs = collaboration.cross_sector_pairs(db, partner, cid)
    assert pairs.empty  # the only other tester's sector would say what it is
    assert not collaboration.cross_sector_pairs(db, ADMIN, cid).empty


def test_each_suggestion_reason_agrees_with_the_cycles_and_the_charts(demo_db):
    cid = repo.get_challenge(demo_db)["id"]
    found = collaboration.suggestions(demo_db, ADMIN, cid)
    adopters = found[found["kind"] == "Learn from an adopter"]
    assert len(adopters) >= 1 and (found["kind"] == "Same idea, same region").any()
    cycles = repo.list_cycles(demo_db, ADMIN, cid)
    outcomes = portfolio.measure_outcomes(demo_db, ADMIN, cid)
    for s in adopters.itertuples():
        theirs = cycles[(cycles["idea_id"] == s.idea_id)
                        & (cycles["organisation_id"] == s.first_id)]
        adopted = cycles[(cycles["idea_id"] == s.idea_id)
                         & (cycles["organisation_id"] == s.second_id)].sort_values("start_date")
        latest = theirs.sort_values(["start_date", "cycle_no", "id"]).iloc[-1]
        running = latest["stage"] != "done" or \
            pd.Timestamp(theirs["end_date"].max()).date() >= clock.today()
        if running:  # a test that ended and was decided is not "on cycle n"
            assert f"is on cycle {len(theirs)} of" in s.reason
        else:
            assert f"ran {len(theirs)} cycle" in s.reason and "the last ended" in s.reason
        assert adopted["decision"].iloc[-1] == "adopt"
        assert f"adopted it after {len(adopted)} cycles" in s.reason
        shown = outcomes[(outcomes["idea_id"] == s.idea_id)
                         & (outcomes["organisation_id"] == s.second_id)]
        assert (shown["outcome"] == "improved").any()  # its chart shows the improvement
        assert theirs["decision"].iloc[-1] != "adopt" if theirs["decision"].notna().any() \
            else True
    # the one the issue names: the late joiner and an adopter
    assert any(re.search(r"Hillview Surgery \(demo\) (is on cycle 2|ran 2 cycles \(the last "
                         r"ended [^)]+\)) of 'Peer-led welcome call", r)
               and "Peer Pathways (demo) adopted it after 3 cycles" in r
               for r in adopters["reason"])


def test_contacts_only_where_both_sides_agreed(demo_db):
    cid = repo.get_challenge(demo_db)["id"]
    found = collaboration.suggestions(demo_db, ADMIN, cid)
    people = participants.list_participants(demo_db, ADMIN, cid)
    for s in found.itertuples():
        agreed = people[people["may_contact"].astype(bool)]
        both = all((agreed["organisation_id"] == o).any() for o in (s.first_id, s.second_id))
        assert ("@" in s.contacts) == both, s.contacts
        refused = people[~people["may_contact"].astype(bool)]
        for email in refused["email"].dropna():
            assert email not in s.contacts


def test_marking_a_suggestion_is_audited_and_kept(demo_db):
    cid = repo.get_challenge(demo_db)["id"]
    key = collaboration.suggestions(demo_db, ADMIN, cid)["key"].iloc[0]
    collaboration.mark_suggestion(demo_db, ADMIN, key, "done")
    again = collaboration.suggestions(demo_db, ADMIN, cid).set_index("key")
    assert again.loc[key, "status"] == "done"
    before = table_counts(demo_db)
    with pytest.raises(InputError, match="Status 'maybe' is not one of"):
        collaboration.mark_suggestion(demo_db, ADMIN, key, "maybe")
    assert table_counts(demo_db) == before
    log = repo.list_audit(demo_db, ADMIN, limit=None, entity="suggestion")
    assert len(log) == 1 and '"status": "done"' in log["after"].iloc[0]


def test_many_participants_are_one_count_per_idea_on_the_map(demo_db, monkeypatch):
    monkeypatch.setattr(collaboration, "MAX_PEOPLE", 5)
    cid = repo.get_challenge(demo_db)["id"]
    net = collaboration.network(demo_db, ADMIN, cid)
    people = net.nodes[net.nodes["group"] == "Participant"]
    assert len(people) and people["label"].str.endswith("participants").all()
    assert "shown as one count per idea" in net.note
    names = set(participants.list_participants(demo_db, ADMIN, cid)["name"])
    assert not names & set(net.nodes["label"])
