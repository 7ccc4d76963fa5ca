"""Discussion (issue 24, item 1): who reads a thread, mentions and "For you", the edit window,
deleting without losing the audit row, limits, and the last check of every text."""

import datetime as dt

import pytest
from conftest import PASSWORD, table_counts

from tracker import clock
from tracker.access import auth
from tracker.community import comments
from tracker.community.comments import Topic
from tracker.errors import InputError, PermissionDenied
from tracker.records import repo


@pytest.fixture
def lab(db):
    """Two partner organisations (neither agreed to be named), an idea tested at the first,
    and accounts: lab admin 'sarah.kowalski', 'ann.riverside' at Riverside, 'bob.hill' at
    Hillview, a viewer 'lead'."""
    auth.add_user(db, None, username="sarah.kowalski", role="admin", password=PASSWORD)
    admin = auth.authenticate(db, "sarah.kowalski", PASSWORD)
    cid = repo.create_challenge(db, admin, title="Peer support", question="What would it take?",
                                aim="More peer support", start_date="2026-01-05",
                                end_date="2026-12-31")
    river = repo.add_organisation(db, admin, name="Riverside Practice", kind="gp_practice")
    hill = repo.add_organisation(db, admin, name="Hillview Surgery", kind="gp_practice")
    measure = repo.add_measure(db, admin, code="REF", name="Referrals", measure_type="process",
                               definition="People referred", unit="people",
                               direction="increase", data_kind="value", frequency="week")
    idea = repo.add_idea(db, admin, cid, title="Welcome call")
    cycle = repo.plan_cycle(db, admin, idea_id=idea, organisation_id=river, objective="Try",
                            question="Will they come?", prediction="6 of 10",
                            start_date="2026-03-02", end_date="2026-03-15",
                            measure_ids=[measure])
    for name, org in (("ann.riverside", river), ("bob.hill", hill)):
        auth.add_user(db, admin, username=name, role="partner", password=PASSWORD,
                      organisation_id=org)
    auth.add_user(db, admin, username="lead", role="viewer", password=PASSWORD)
    people = {n: auth.scope_of_account(db, n) for n in
              ("sarah.kowalski", "ann.riverside", "bob.hill", "lead")}
    return {"db": db, "idea": idea, "cycle": cycle, "measure": measure, "river": river,
            "hill": hill, **people}


def test_a_partner_s_cycle_thread_is_read_by_the_lab_and_that_partner_only(lab):
    db = lab["db"]
    topic = Topic.cycle(db, lab["cycle"])
    first = comments.post(db, lab["ann.riverside"], topic,
                          "Fewer came than predicted. @sarah.kowalski can we talk?")
    for reader in ("sarah.kowalski", "ann.riverside", "lead"):
        shown = comments.thread(db, lab[reader], topic)
        assert shown["text"].tolist() == ["Fewer came than predicted. @sarah.kowalski can we "
                                          "talk?"], reader
    with pytest.raises(PermissionDenied):
        comments.thread(db, lab["bob.hill"], topic)
    with pytest.raises(PermissionDenied):
        comments.post(db, lab["bob.hill"], topic, "Hello")
    with pytest.raises(PermissionDenied):  # viewers read and change nothing
        comments.post(db, lab["lead"], topic, "Hello")
    # the mention reaches the lab admin under "For you", and the thread is an open question
    mine = comments.for_you(db, lab["sarah.kowalski"])
    assert mine["why"].tolist() == ["mentioned you"] and mine["id"].tolist() == [first]
    assert comments.open_questions(db, lab["sarah.kowalski"])["id"].tolist() == [first]
    assert comments.for_you(db, lab["bob.hill"]).empty
    # the lab replies: the partner is told, and the question is answered
    reply = comments.post(db, lab["sarah.kowalski"], topic, "Yes: Thursday? @ann.riverside",
                          reply_to=first)
    theirs = comments.for_you(db, lab["ann.riverside"])
    assert theirs["id"].tolist() == [reply] and theirs["why"].tolist() == ["mentioned you"]
    assert theirs["text"].tolist() == ["Yes: Thursday? @ann.riverside"]  # not withheld
    assert comments.open_questions(db, lab["sarah.kowalski"]).empty
    assert [(depth, row["id"]) for depth, row in comments.ordered(
        comments.thread(db, lab["ann.riverside"], topic))] == [(0, first), (1, reply)]


def test_another_organisation_reads_an_idea_thread_without_names_it_may_not_see(lab):
    db = lab["db"]
    topic = Topic.idea(lab["idea"])
    comments.post(db, lab["ann.riverside"], topic, "It worked for us at Riverside.")
    comments.post(db, lab["ann.riverside"], topic, "Tried it on Tuesdays; will share more.")
    shown = comments.thread(db, lab["bob.hill"], topic)
    assert not shown["author"].str.contains("ann|Riverside", case=False).any()
    assert shown["withheld"].tolist() == [True, False]
    assert "Riverside" not in " ".join(shown["text"])
    assert shown["text"].iloc[1] == "Tried it on Tuesdays; will share more."
    # the writer's own organisation and the lab read it as written, with the author's name
    for reader in ("ann.riverside", "sarah.kowalski"):
        assert comments.thread(db, lab[reader], topic)["text"].iloc[0] == \
            "It worked for us at Riverside."
        assert "ann.riverside" in comments.thread(db, lab[reader], topic)["author"].iloc[0]


def test_a_mention_of_someone_who_cannot_read_the_thread_is_refused_and_nothing_is_stored(lab):
    db = lab["db"]
    topic = Topic.cycle(db, lab["cycle"])
    before = table_counts(db)
    for text in ("@bob.hill look at this", "@nobody.here look at this"):
        with pytest.raises(InputError) as refused:
            comments.post(db, lab["ann.riverside"], topic, text)
        # the same words for an account that exists and one that does not
        assert "is not someone who can read this cycle" in str(refused.value)
    for bad, said in (("", "is required"), ("x" * (comments.MAX_COMMENT + 1), "characters"),
                      ("bad\x00text", "control character")):
        with pytest.raises(InputError, match=said):
            comments.post(db, lab["ann.riverside"], topic, bad)
    assert table_counts(db) == before


def test_the_writer_edits_for_fifteen_minutes_and_a_deleted_comment_leaves_its_audit_row(
        lab, monkeypatch):
    db = lab["db"]
    topic = Topic.idea(lab["idea"])
    said = comments.post(db, lab["ann.riverside"], topic, "A secret plan for Tuesday")
    with pytest.raises(PermissionDenied):
        comments.edit(db, lab["sarah.kowalski"], said, "Changed by someone else")
    comments.edit(db, lab["ann.riverside"], said, "A plan for Tuesday")
    assert comments.thread(db, lab["ann.riverside"], topic)["edited"].tolist() == [True]
    later = clock.now() + comments.EDIT_WINDOW + dt.timedelta(minutes=1)
    monkeypatch.setattr(clock, "now", lambda: later)
    with pytest.raises(InputError, match="15 minutes"):
        comments.edit(db, lab["ann.riverside"], said, "Too late")
    with pytest.raises(PermissionDenied):
        comments.delete(db, lab["bob.hill"], said)
    comments.delete(db, lab["sarah.kowalski"], said)  # the lab admin may
    shown = comments.thread(db, lab["ann.riverside"], topic)
    assert shown["text"].tolist() == [comments.DELETED] and shown["deleted"].all()
    assert db.scalar("SELECT body FROM comment WHERE id = ?", [said]) is None
    audit = repo.list_audit(db, lab["sarah.kowalski"])
    rows = audit[audit["entity"].eq("comment")]
    assert sorted(rows["action"]) == ["create", "delete", "update"]
    assert not rows["after"].fillna("").str.contains("Tuesday|secret").any()
    assert not rows["before"].fillna("").str.contains("Tuesday|secret").any()


def test_one_account_writes_at_most_ten_comments_in_ten_minutes(lab):
    db = lab["db"]
    topic = Topic.idea(lab["idea"])
    for n in range(comments.RATE_COUNT):
        comments.post(db, lab["bob.hill"], topic, f"Comment {n}")
    with pytest.raises(InputError, match="please wait"):
        comments.post(db, lab["bob.hill"], topic, "One more")
    comments.post(db, lab["ann.riverside"], topic, "Someone else may still write")


def test_a_hostile_comment_is_shown_as_text(lab):
    """The thread is one block of HTML: every comment, author and date in it escaped."""
    from test_untrusted_text import TEXT

    from app.discussion import _thread_html

    db = lab["db"]
    topic = Topic.idea(lab["idea"])
    comments.post(db, lab["ann.riverside"], topic, TEXT + "\n<script>alert(1)</script>")
    block = _thread_html(comments.thread(db, lab["sarah.kowalski"], topic))
    assert "<img" not in block and "<script" not in block and "javascript:" in block
    assert "&lt;img src=x onerror=alert(1)&gt;" in block and "&lt;script&gt;" in block
    assert block.count("<article") == 1 and "<br>" in block
