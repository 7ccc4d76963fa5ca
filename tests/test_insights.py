"""Issue 24, item 4: discovery insights: recorded and imported with every problem said and
nothing stored until right, filtered and searched, read as each reader may, counted behind
the drivers and listed in an idea's learning record."""

import datetime as dt
import io

import pandas as pd
import pytest
from conftest import PASSWORD, add_role_accounts, table_counts

from tracker import clock
from tracker.access import auth
from tracker.access.scope import Scope
from tracker.community import insights
from tracker.errors import InputError, PermissionDenied
from tracker.records import repo

ADMIN = Scope.admin("lab")


def test_an_insight_is_stored_and_read_on_both_engines(db):
    cid = repo.create_challenge(db, ADMIN, title="T", question="Q", aim="A",
                                start_date="2026-01-05", end_date="2026-12-28")
    driver = repo.add_driver(db, ADMIN, cid, level="primary", name="People know")
    idea = repo.add_idea(db, ADMIN, cid, title="Welcome call")
    before = table_counts(db)
    with pytest.raises(InputError) as refused:
        insights.add_insight(db, ADMIN, cid, source="rumour", heard_on=clock.today()
                             + dt.timedelta(days=3), summary=" ", quote="I said it",
                             driver_ids=[999])
    said = " ".join(refused.value.problems)
    for part in ("Source", "Summary is required", "agreed to be quoted",
                 "not one of this challenge's"):
        assert part in said, part
    assert table_counts(db) == before
    with pytest.raises(PermissionDenied):
        insights.add_insight(db, Scope(actor="v", role="viewer"), cid, source="survey",
                             heard_on="2026-02-01", summary="x")
    new = insights.add_insight(db, ADMIN, cid, source="interview", heard_on="2026-02-01",
                               summary="People hear of it too late.", quote="Nobody said.",
                               quote_consent=True, driver_ids=[driver], idea_ids=[idea])
    found = insights.list_insights(db, ADMIN, cid)
    assert found["id"].tolist() == [new] and found["quote"].tolist() == ["Nobody said."]
    assert found["drivers"].tolist() == ["People know"]
    assert insights.counts_by_driver(db, cid) == {driver: 1}
    assert insights.list_insights(db, ADMIN, cid, idea_id=idea, search="too late")["id"] \
        .tolist() == [new]
    assert insights.list_insights(db, ADMIN, cid, search="nothing like it").empty
    insights.retire(db, ADMIN, new)
    assert insights.list_insights(db, ADMIN, cid).empty and \
        insights.counts_by_driver(db, cid) == {}


def test_a_partner_reads_insights_without_names_and_a_contributor_reads_none(demo_db):
    roles = add_role_accounts(demo_db)
    auth.add_user(demo_db, roles["admin"], username="jo.community", role="contributor",
                  password=PASSWORD)
    cid = repo.get_challenge(demo_db)["id"]
    insights.add_insight(demo_db, ADMIN, cid, source="interview", heard_on="2026-02-02",
                         summary="Staff at Hillview Surgery (demo) never mention it.",
                         quote="Ask Sarah Kowalski, she knows.", quote_consent=True)
    partner = auth.scope_of_account(demo_db, "pp_user")
    shown = insights.list_insights(demo_db, partner, cid, search="never mention")
    assert shown.empty  # the withheld summary is not searched either
    every = insights.list_insights(demo_db, partner, cid)
    text = every.astype(str).to_csv()
    assert "Hillview" not in text and "Kowalski" not in text
    assert insights.WITHHELD in every["summary"].tolist()
    assert "Hillview" in insights.list_insights(demo_db, ADMIN, cid).to_csv()
    with pytest.raises(PermissionDenied):
        insights.list_insights(demo_db, auth.scope_of_account(demo_db, "jo.community"), cid)
    assert len(insights.counts_by_driver(demo_db, cid)) >= 8  # the demo: most drivers


def test_an_import_with_a_bad_row_stores_nothing_and_a_good_one_stores_all(demo_db):
    cid = repo.get_challenge(demo_db)["id"]
    before = len(insights.list_insights(demo_db, ADMIN, cid))
    bad = (b"source,date,summary,quote,quote consent,drivers,ideas\n"
           b"survey,2026-02-01,Most never heard of it,,,"
           b"People know peer support exists and how to reach it,\n"
           b"gossip,31/02/2026,,A quote,no,No such driver,\n")
    report = insights.check(demo_db, ADMIN, cid, bad, "insights.csv")
    problems = {(p.row, p.column) for p in report.errors}
    assert {(3, "source"), (3, "date"), (3, "summary"), (3, "quote"), (3, "drivers")} <= \
        problems, problems
    assert not insights.commit(demo_db, ADMIN, cid, bad, "insights.csv").ok
    assert len(insights.list_insights(demo_db, ADMIN, cid)) == before
    frame = pd.DataFrame({
        "Source": ["Survey", "workshop"], "Date": ["2026-02-01", "03/02/2026"],
        "Summary": ["Most never heard of it", "Forms put staff off"],
        "Quote": ["", "Too many boxes"], "Quote consent": ["", "yes"],
        "Drivers": ["People know peer support exists and how to reach it",
                    "Referral is easy and quick; One shared referral route across partners"],
        "Ideas": ["", "Shared referral form with social prescribers"]})
    book = io.BytesIO()
    frame.to_excel(book, index=False)
    done = insights.commit(demo_db, ADMIN, cid, book.getvalue(), "insights.xlsx")
    assert done.ok and done.new == 2
    found = insights.list_insights(demo_db, ADMIN, cid, search="boxes")
    assert found["drivers"].iloc[0] == ("Referral is easy and quick; One shared referral "
                                        "route across partners")
    with pytest.raises(PermissionDenied):
        insights.add_insight(demo_db, Scope(actor="p", role="partner", organisation_id=1),
                             cid, source="survey", heard_on="2026-02-01", summary="x")
