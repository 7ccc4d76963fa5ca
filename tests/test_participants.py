"""Participants, events and partners' progress scores (issue 11, first part): the data layer on
real DuckDB files, with every role."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest
from conftest import table_counts

from tracker import clock
from tracker.access.scope import Scope
from tracker.community import events, participants
from tracker.errors import InputError, PermissionDenied
from tracker.records import progress, repo

pytestmark = pytest.mark.dates  # runs again at other dates in CI (tests/dates.md)

ADMIN = Scope.admin("lab lead")
VIEWER = Scope(actor="board", role="viewer")
PP = "Peer Pathways (demo)"


def setup(db):
    cid = repo.get_challenge(db)["id"]
    orgs = repo.list_organisations(db, ADMIN).set_index("name")["id"]
    ideas = repo.list_ideas(db, cid)["id"].tolist()
    return cid, orgs, ideas


def partner(orgs, name=PP) -> Scope:
    return Scope(actor="pp", role="partner", organisation_id=int(orgs[name]), organisation=name)


def test_a_participant_is_added_with_consents_recorded_and_links(demo_db):
    cid, orgs, ideas = setup(demo_db)
    cycle = int(repo.list_cycles(demo_db, ADMIN, cid)["id"].iloc[0])
    pid = participants.add_participant(
        demo_db, ADMIN, cid, name="Amira Khan", taking_part="lived_experience",
        organisation_id=int(orgs[PP]), region="North East", email="amira@example.org",
        may_contact=True, idea_ids=ideas[:2], cycle_ids=[cycle])
    row = participants.list_participants(demo_db, ADMIN, cid).set_index("id").loc[pid]
    assert row["name"] == "Amira Khan" and row["organisation"] == PP
    assert bool(row["may_contact"]) and row["may_contact_recorded_by"] == "lab lead"
    assert pd_isna(row["may_name_recorded_by"]) and not bool(row["may_name"])
    assert list(row["idea_ids"]) == sorted(ideas[:2]) and list(row["cycle_ids"]) == [cycle]
    with pytest.raises(InputError, match="A cycle chosen is not in this challenge"):
        participants.add_participant(demo_db, ADMIN, cid, name="No Cycle", taking_part="carer",
                                     cycle_ids=[99_999])
    # a consent given later is recorded with who and when; the audit log holds no name
    participants.update_participant(
        demo_db, ADMIN, pid, name="Amira Khan", taking_part="lived_experience",
        organisation_id=int(orgs[PP]), email="amira@example.org", may_contact=True,
        may_name=True, idea_ids=ideas[:2])
    row = participants.list_participants(demo_db, ADMIN, cid).set_index("id").loc[pid]
    assert bool(row["may_name"]) and row["may_name_recorded_by"] == "lab lead"
    log = repo.list_audit(demo_db, ADMIN, limit=None, entity="participant")
    text = " ".join(log["before"].fillna("") + log["after"].fillna(""))
    assert "Amira" not in text and "amira@example.org" not in text
    assert "(personal data)" in text


def pd_isna(value) -> bool:
    import pandas as pd

    return value is None or pd.isna(value)


def test_bad_participants_are_refused_with_every_problem(demo_db):
    cid, _, _ = setup(demo_db)
    before = table_counts(demo_db)
    with pytest.raises(InputError) as refused:
        participants.add_participant(demo_db, ADMIN, cid, name="", taking_part="doctor",
                                     email="not an address", organisation_id=99_999,
                                     joined_on=clock.today() + dt.timedelta(days=2))
    said = " ".join(refused.value.problems)
    for expected in ("Name is required", "How they take part 'doctor' is not one of",
                     "does not look like an e-mail address", "organisation no longer exists",
                     "Joined on is a date in the future"):
        assert expected in said, said
    with pytest.raises(InputError, match="the word the tracker uses for erased"):
        participants.add_participant(demo_db, ADMIN, cid, name="Erased",
                                     taking_part="carer")
    assert table_counts(demo_db) == before


@pytest.mark.parametrize("who", ["partner", "viewer"])
def test_only_the_lab_admin_writes_people_events_and_scores(demo_db, who):
    cid, orgs, _ = setup(demo_db)
    scope = partner(orgs) if who == "partner" else VIEWER
    before = table_counts(demo_db)
    for action in (
            lambda: participants.add_participant(demo_db, scope, cid, name="X Y",
                                                 taking_part="carer"),
            lambda: events.add_event(demo_db, scope, cid, on_date=clock.today(),
                                     name="Workshop"),
            lambda: progress.score_month(demo_db, scope, int(orgs[PP]), clock.today(), 2.5)):
        with pytest.raises(PermissionDenied, match="Only the lab admin"):
            action()
    assert table_counts(demo_db) == before


def test_each_role_sees_participants_as_it_may(demo_db):
    cid, orgs, _ = setup(demo_db)
    mine = participants.add_participant(demo_db, ADMIN, cid, name="Bea Own",
                                        taking_part="peer_supporter",
                                        organisation_id=int(orgs[PP]))
    participants.add_participant(demo_db, ADMIN, cid, name="Cal Other",
                                 taking_part="clinician",
                                 organisation_id=int(orgs["Hillview Surgery (demo)"]))
    participants.add_participant(demo_db, ADMIN, cid, name="Dee None", taking_part="carer")
    everyone = participants.list_participants(demo_db, ADMIN, cid)
    assert {"Bea Own", "Cal Other", "Dee None"} <= set(everyone["name"])
    own = participants.list_participants(demo_db, partner(orgs), cid)
    assert mine in own["id"].tolist() and set(own["organisation"]) == {PP}  # its own only
    assert "Cal Other" not in set(own["name"])
    with pytest.raises(PermissionDenied, match="counts only"):
        participants.list_participants(demo_db, VIEWER, cid)
    counted = participants.counts(demo_db, VIEWER, cid).set_index("taking_part")
    assert counted.loc["clinician", "participants"] >= 1
    assert "name" not in counted.columns and "email" not in counted.columns


def test_erase_on_request_keeps_the_counts_and_nothing_personal(demo_db):
    cid, orgs, ideas = setup(demo_db)
    pid = participants.add_participant(demo_db, ADMIN, cid, name="Eve Erase",
                                       taking_part="carer", email="eve@example.org",
                                       may_contact=True, idea_ids=ideas[:1])
    event = events.add_event(demo_db, ADMIN, cid, on_date=clock.today(), name="Workshop 1",
                             participant_ids=[pid])
    exported = json.loads(participants.export_one(demo_db, ADMIN, pid))
    assert exported["name"] == "Eve Erase" and exported["events"][0]["event"] == "Workshop 1"
    assert exported["ideas"][0]["id"] == ideas[0]
    before = participants.counts(demo_db, ADMIN, cid)
    participants.erase(demo_db, ADMIN, pid)
    every = participants.list_participants(demo_db, ADMIN, cid, include_retired=True)
    row = every.set_index("id").loc[pid]
    assert row["name"] == "erased" and row["email"] == "erased"
    assert not bool(row["may_contact"]) and list(row["idea_ids"]) == [ideas[0]]
    assert events.list_events(demo_db, ADMIN, cid).set_index("id").loc[event, "came"] == 1
    # the erased person is retired, so the active counts drop by one; the links stay
    after = participants.counts(demo_db, ADMIN, cid)
    assert after["participants"].sum() == before["participants"].sum() - 1
    dump = " ".join(str(v) for v in demo_db.read("SELECT * FROM audit_log").to_numpy().ravel())
    assert "Eve Erase" not in dump and "eve@example.org" not in dump
    assert "erase" in set(demo_db.read("SELECT action FROM audit_log")["action"])
    with pytest.raises(InputError, match="erased on request"):
        participants.update_participant(demo_db, ADMIN, pid, name="Eve", taking_part="carer")


def test_progress_scores_are_on_the_scale_and_the_latest_counts(demo_db):
    _, orgs, _ = setup(demo_db)
    pp = int(orgs[PP])
    month = clock.today().replace(day=1)
    progress.score_month(demo_db, ADMIN, pp, month, 2.5, "Tested, no change yet")
    progress.score_month(demo_db, ADMIN, pp, month + dt.timedelta(days=3), "3.0")
    got = progress.scores(demo_db, ADMIN)
    mine = got[(got["organisation_id"] == pp) & (pd.to_datetime(got["month"]) == pd.Timestamp(month))]
    assert mine["score"].tolist() == [3.0]  # the newer score of the same month counts
    assert progress.latest(demo_db, ADMIN).set_index("organisation").loc[PP, "score"] == 3.0
    before = table_counts(demo_db)
    with pytest.raises(InputError) as refused:
        progress.score_month(demo_db, ADMIN, pp, month + dt.timedelta(days=40), 2.7)
    said = " ".join(refused.value.problems)
    assert "not on the scale" in said and "has not started yet" in said
    with pytest.raises(InputError, match="choose one of the levels"):
        progress.score_month(demo_db, ADMIN, pp, month, None)
    assert table_counts(demo_db) == before
    assert set(progress.scores(demo_db, partner(orgs))["organisation"]) <= {PP}
    assert len(progress.LEVELS) == 10 and all(progress.LEVELS.values())


# --------------------------------------------------------------------------- import

HEADER = b"Name,Taking part,Organisation,Region,Email,Joined on,May be contacted,May be named\n"
GOOD = (HEADER + b"Zara Lee,Carer,,London,zara@example.org,2026-05-01,yes,no\n"
        b"Yusuf Ali,clinician,peer pathways (DEMO),North East,yusuf@example.org,01/06/2026,,yes\n")


def test_a_list_is_checked_previewed_and_stored_whole(demo_db):
    from tracker.community import people_import

    cid, orgs, _ = setup(demo_db)
    before = table_counts(demo_db)
    report = people_import.check(demo_db, ADMIN, cid, GOOD, "list.csv")
    assert report.ok and report.new == 2
    assert report.plan["organisation_id"].iloc[1] == orgs[PP]  # matched ignoring case
    assert table_counts(demo_db) == before  # a check writes nothing
    done = people_import.commit(demo_db, ADMIN, cid, GOOD, "list.csv")
    assert done.new == 2
    stored = participants.list_participants(demo_db, ADMIN, cid).set_index("name")
    assert stored.loc["Zara Lee", "may_contact_recorded_by"] == "lab lead (import of list.csv)"
    assert bool(stored.loc["Yusuf Ali", "may_name"])
    again = people_import.check(demo_db, ADMIN, cid, GOOD, "list.csv")
    assert again.new == 0 and again.unchanged == 2  # the same e-mails: already there


def test_a_list_with_a_bad_row_stores_nothing_and_says_where(demo_db):
    from tracker.community import people_import

    cid, _, _ = setup(demo_db)
    bad = GOOD + b"Bad Row,doctor,Nowhere Trust,,not-an-email,2099-01-01,maybe,\n" \
        + b"Zed Twice,carer,,,zara@example.org,,,\n"
    before = table_counts(demo_db)
    report = people_import.commit(demo_db, ADMIN, cid, bad, "list.csv")
    said = [str(p) for p in report.errors]
    for expected in ("Row 4, column taking part, value 'doctor': is not one of",
                     "Row 4, column organisation, value 'Nowhere Trust'",
                     "Row 4, column email, value 'not-an-email'",
                     "Row 4, column joined on, value '2099-01-01': is in the future",
                     "Row 4, column may be contacted, value 'maybe'",
                     "Row 5, column email, value 'zara@example.org': is also on row 2"):
        assert any(s.startswith(expected) for s in said), (expected, said)
    assert report.new == 0 and table_counts(demo_db) == before
    for data, why in ((b"", "empty"), (b"who,what\nx,y\n", "'name' and 'taking part' not found"),
                      (HEADER, "no person in it")):
        refused = people_import.check(demo_db, ADMIN, cid, data, "x.csv")
        assert not refused.ok and why in str(refused.errors[0]), refused.errors
    viewer = people_import.check(demo_db, VIEWER, cid, GOOD, "list.csv")
    assert "Only the lab admin" in str(viewer.errors[0])


def test_an_excel_list_is_read_too(demo_db, tmp_path):
    import io

    from openpyxl import Workbook

    from tracker.community import people_import

    cid, _, _ = setup(demo_db)
    book = Workbook()
    sheet = book.active
    sheet.append(["Name", "Takes part as", "Email", "Joined on"])
    sheet.append(["Xena Park", "Peer supporter", "xena@example.org", dt.date(2026, 3, 2)])
    buffer = io.BytesIO()
    book.save(buffer)
    report = people_import.commit(demo_db, ADMIN, cid, buffer.getvalue(), "list.xlsx")
    assert report.ok and report.new == 1, [str(p) for p in report.errors]
    stored = participants.list_participants(demo_db, ADMIN, cid).set_index("name")
    assert stored.loc["Xena Park", "taking_part"] == "peer_supporter"


def test_the_lab_admin_imports_a_list_on_the_people_page(monkeypatch, demo_path):
    from conftest import ROOT, shown
    from streamlit.testing.v1 import AppTest

    from tracker.storage.db import Database

    monkeypatch.setenv("TRACKER_DB", str(demo_path))
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=120)
    at.run()
    at.switch_page("app_pages/people.py").run()
    bad = GOOD + b"Bad Row,doctor,,,,,,\n"
    at.file_uploader[0].set_value(("list.csv", bad, "text/csv")).run()
    assert not at.exception
    assert "Nothing was stored: 1 problem" in shown(at.error[0].value)
    problems = [d.value for d in at.dataframe if "Problem" in d.value.columns][0]
    assert problems[["Row", "Column"]].values.tolist() == [[4, "taking part"]]
    at.file_uploader[0].set_value(("list.csv", GOOD, "text/csv")).run()
    assert "Ready: 2 new participants" in shown(at.info[0].value)
    [b for b in at.button if b.label == "Add 2 participants"][0].click().run()
    assert not at.exception and not at.error
    with Database(demo_path) as db:
        cid = repo.get_challenge(db)["id"]
        names = set(participants.list_participants(db, ADMIN, cid)["name"])
    assert {"Zara Lee", "Yusuf Ali"} <= names


def test_the_export_holds_people_for_the_lab_admin_only(demo_db, tmp_path):
    from tracker.intake import export

    _, orgs, _ = setup(demo_db)
    lab = {p.name for p in export.export_all(demo_db, ADMIN, tmp_path / "lab")}
    assert {"participants.csv", "events.csv", "progress_scores.csv",
            "event_attendance.csv"} <= lab
    board = {p.name for p in export.export_all(demo_db, VIEWER, tmp_path / "board")}
    assert "participants.csv" not in board and "events.csv" in board
    own = {p.name for p in export.export_all(demo_db, partner(orgs), tmp_path / "pp")}
    assert not {"participants.csv", "events.csv", "event_attendance.csv"} & own
    import pandas as pd

    scores = pd.read_csv(tmp_path / "pp" / "progress_scores.csv")
    assert set(scores["organisation_id"]) == {int(orgs[PP])}
