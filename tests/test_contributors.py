"""Issue 24, item 3: ideas sent in, the lab team's triage, and the contributor role, who
reads what the public report shows, sends ideas and comments on ideas, and nothing else."""

import pytest
from conftest import PASSWORD, add_role_accounts, open_app, table_counts

from tracker.access import auth
from tracker.access.disclosure import PUBLIC
from tracker.access.scope import Scope
from tracker.community import comments, participants, submissions
from tracker.community.comments import Topic
from tracker.errors import InputError, PermissionDenied
from tracker.records import observations, reader_view, repo
from tracker.storage.db import Database


@pytest.fixture
def lab(demo_path):
    with Database(demo_path) as db:
        roles = add_role_accounts(db)
        auth.add_user(db, roles["admin"], username="jo.community", role="contributor",
                      password=PASSWORD)
    db = Database(demo_path)
    yield {"db": db, "path": demo_path, "admin": auth.scope_of_account(db, "boss"),
           "partner": auth.scope_of_account(db, "pp_user"),
           "contributor": auth.scope_of_account(db, "jo.community"),
           "cid": repo.get_challenge(db)["id"]}
    db.close()


def test_a_contributor_reads_no_organisation_s_data_from_the_data_layer(lab):
    db, me, cid = lab["db"], lab["contributor"], lab["cid"]
    assert me.role == "contributor" and me.is_contributor and me.org_ids == []
    assert not me.sees(1) and not me.can_write
    for read in (lambda: repo.list_cycles(db, me, cid), lambda: repo.get_cycle(db, me, 1),
                 lambda: observations.load_results(db, me),
                 lambda: repo.list_organisations(db, me),
                 lambda: participants.list_participants(db, me, cid)):
        with pytest.raises(PermissionDenied, match="Contributors read what the lab shares"):
            read()
    assert reader_view.audience_for(db, me).kind == PUBLIC  # names as the public reads them
    with pytest.raises(PermissionDenied):
        repo.add_idea(db, me, cid, title="Not theirs to add")


def test_a_contributor_comments_on_ideas_only_and_is_never_named_outside_the_lab(lab):
    db = lab["db"]
    ideas = repo.list_ideas(db, lab["cid"])
    idea = Topic.idea(int(ideas["id"].iloc[0]))
    said = comments.post(db, lab["contributor"], idea, "I would have come if someone rang me.")
    cycle = Topic.cycle(db, int(db.scalar("SELECT min(id) FROM cycle")))
    for topic in (cycle, Topic.learning(int(ideas["id"].iloc[0]))):
        with pytest.raises(PermissionDenied):
            comments.post(db, lab["contributor"], topic, "Hello")
        with pytest.raises(PermissionDenied):
            comments.thread(db, lab["contributor"], topic)
    by_partner = comments.thread(db, lab["partner"], idea)
    assert by_partner.set_index("id").loc[said, "author"] == "a contributor"
    assert comments.thread(db, lab["admin"], idea).set_index("id").loc[
        said, "author"] == "jo.community (contributor)"
    assert said in comments.open_questions(db, lab["admin"])["id"].tolist()
    # what the contributor reads of others' comments: no person, no unconsented organisation
    shown = comments.thread(db, lab["contributor"], idea)
    assert not shown["author"].str.contains("pp_user|coordinator|boss").any()


def test_an_idea_sent_in_is_accepted_into_the_register_and_the_sender_sees_it(lab):
    db, cid, me = lab["db"], lab["cid"], lab["contributor"]
    before = table_counts(db)
    with pytest.raises(InputError) as refused:
        submissions.send(db, me, cid, problem="", who_for="x" * 1600, what_to_try=" ")
    said = " ".join(refused.value.problems)
    assert "The problem it solves is required" in said and "What to try is required" in said
    assert "Who it is for is 1,600 characters long" in said
    assert table_counts(db) == before
    driver = int(repo.list_drivers(db, cid)["id"].iloc[0])
    sent = submissions.send(db, me, cid, problem="People wait alone after diagnosis.",
                            who_for="People newly diagnosed with diabetes",
                            what_to_try="A peer call in the week after diagnosis",
                            came_from="My own experience", driver_id=driver)
    assert submissions.mine(db, me, cid)["status"].tolist() == ["sent"]
    with pytest.raises(PermissionDenied):
        submissions.triage(db, lab["partner"], sent, "accept", title="X")
    with pytest.raises(InputError, match="The reason is required"):
        submissions.triage(db, lab["admin"], sent, "decline")
    idea = submissions.triage(db, lab["admin"], sent, "accept",
                              title="Peer call in the week after diagnosis")
    added = repo.list_ideas(db, cid).set_index("id").loc[idea]
    assert added["title"] == "Peer call in the week after diagnosis"
    assert driver in [int(d) for d in added["driver_ids"]]
    assert submissions.origins(db, [idea]) == {idea: "a contributor"}
    mine = submissions.mine(db, me, cid)
    assert mine["status_words"].tolist() == ["Accepted"]
    assert mine["idea_title"].tolist() == ["Peer call in the week after diagnosis"]
    with pytest.raises(InputError, match="already accepted"):
        submissions.triage(db, lab["admin"], sent, "park")
    other = submissions.send(db, lab["partner"], cid, problem="p", who_for="w",
                             what_to_try="t")
    submissions.triage(db, lab["admin"], other, "decline", reason="Tested last year: it "
                       "did not reach anyone new.")
    theirs = submissions.mine(db, lab["partner"], cid)
    assert theirs["status"].tolist() == ["declined"]
    assert theirs["reason"].iloc[0].startswith("Tested last year")


def test_one_account_sends_at_most_five_ideas_an_hour(lab):
    db, cid = lab["db"], lab["cid"]
    for n in range(submissions.RATE_COUNT):
        submissions.send(db, lab["contributor"], cid, problem=f"p{n}", who_for="w",
                         what_to_try="t")
    with pytest.raises(InputError, match="send the next one later"):
        submissions.send(db, lab["contributor"], cid, problem="p", who_for="w",
                         what_to_try="t")


def test_a_contributor_signs_in_to_three_pages_that_name_no_one(monkeypatch, lab):
    """Through the sign-in form: the menu is What the lab learned, Send an idea and For you;
    nothing they receive names an organisation that did not agree to be named in public, a
    contact, a participant or an account; any other page is refused."""
    from test_access_app import COMMON, everything_shown, log_in

    db = lab["db"]
    consent = reader_view.consents(db)
    unnamed = consent.loc[~consent["named_in_public"].astype(bool), "name"].tolist()
    orgs = repo.list_organisations(db, lab["admin"])
    people = [p for p in orgs["contact_name"].dropna()] + \
        participants.list_participants(db, lab["admin"], lab["cid"])["name"].tolist()
    at = log_in(open_app(monkeypatch, lab["path"]), "jo.community")
    assert not at.exception and not at.error, [e.value for e in at.error]
    for name in ("shared_learning", "ideas_sent_in", "for_you"):
        at.switch_page(f"app_pages/{name}.py").run()
        assert not at.exception, (name, [e.value for e in at.exception])
        shown = everything_shown(at)
        for secret in unnamed + people + ["pp_user", "pp_coordinator", "kv_coordinator"]:
            assert secret.encode() not in shown, (name, secret)
    for name in COMMON:
        if name in ("for_you", "ideas_sent_in"):  # theirs too
            continue
        with pytest.raises(Exception):  # noqa: B017 - AppTest refuses a page not in the menu
            at.switch_page(f"app_pages/{name}.py").run()
    assert Scope  # the role is the account's, never a viewer's


def test_the_demo_holds_ideas_sent_in_in_every_state(lab):
    found = lab["db"].read("SELECT status, sender_role, idea_id FROM idea_submission")
    assert set(found["status"]) >= set(submissions.STATUSES)
    accepted = found[found["status"] == "accepted"]
    assert accepted["idea_id"].notna().all()  # accepted as an idea the lab had added
    assert set(submissions.origins(lab["db"]).values()) == {"a contributor"}
