"""The app through streamlit_app.py with Streamlit's AppTest, on real database files."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from conftest import ROOT, shown, table_counts
from streamlit.testing.v1 import AppTest

from tracker import clock
from tracker.access.scope import Scope
from tracker.intake import batches
from tracker.records import observations, repo
from tracker.storage.db import Database

ADMIN = Scope.admin("tester")

APP = str(ROOT / "streamlit_app.py")
PAGES = ["app_pages/overview.py", "app_pages/challenge.py", "app_pages/ideas.py", "app_pages/cycles.py",
         "app_pages/organisations.py", "app_pages/measures.py", "app_pages/upload.py",
         "app_pages/outcomes.py", "app_pages/summary.py", "app_pages/review.py",
         "app_pages/portfolio.py", "app_pages/learning.py", "app_pages/people.py",
         "app_pages/progress.py", "app_pages/collaboration.py", "app_pages/for_you.py",
         "app_pages/insights.py", "app_pages/ideas_sent_in.py"]


def open_app(monkeypatch, path, page: str | None = None) -> AppTest:
    monkeypatch.setenv("TRACKER_DB", str(path))
    at = AppTest.from_file(APP, default_timeout=90)
    at.run()
    if page:
        at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def one(widgets, label: str):
    found = [w for w in widgets if w.label == label]
    assert len(found) == 1, f"{len(found)} widgets labelled {label!r}"
    return found[0]


def texts(at) -> str:
    parts = [m.value for m in at.markdown] + [e.value for e in at.error] + \
        [e.value for e in at.info] + [e.value for e in at.success] + [t.value for t in at.title]
    return "\n".join(str(p) for p in parts)


def charts(at):
    return at.get("vega_lite_chart")


def valid_charts(at) -> int:
    """Every chart on the page is a valid Vega-Lite specification (the page draws the spec
    made once, unchecked: `app.ui.chart`); how many there are."""
    import json

    from altair.utils.schemapi import validate_jsonschema
    from altair.vegalite.v6.schema import load_schema

    shown = charts(at)
    for chart in shown:
        validate_jsonschema(json.loads(chart.proto.spec), load_schema())
    return len(shown)


def chart_points(chart) -> pd.DataFrame:
    """The periods and values an SPC chart draws (its dataset with a value column)."""
    import pyarrow as pa

    for dataset in chart.proto.datasets:
        frame = pa.ipc.open_stream(dataset.data.data).read_all().to_pandas()
        if "value" in frame.columns:
            return frame
    raise AssertionError("no points in the chart")


def test_an_apptest_run_ends_on_its_own_event_and_an_overrun_still_fails():
    """conftest waits for an AppTest run on the run's end event instead of Streamlit's
    millisecond polling: a run that ends is read whole, one that overruns its timeout still
    fails with Streamlit's own message (and is stopped)."""
    from streamlit.testing.v1 import local_script_runner

    assert local_script_runner.require_widgets_deltas.__module__.endswith("conftest")
    done = AppTest.from_string("import streamlit as st\nfor i in range(300):\n"
                               "    st.write(str(i))\n", default_timeout=30).run()
    assert len(done.markdown) == 300 and done.markdown[-1].value == "299"
    slow = AppTest.from_string("import time\ntime.sleep(1)\n", default_timeout=0.3)
    with pytest.raises(RuntimeError, match="timed out after 0.3"):
        slow.run()


@pytest.mark.parametrize("page", PAGES)
def test_every_page_on_an_empty_database(monkeypatch, db_path, page):
    at = open_app(monkeypatch, db_path, page)
    if page == "app_pages/overview.py":
        assert one(at.button, "Load the demo challenge")
        assert one(at.button, "Start blank")
    elif page in ("app_pages/organisations.py", "app_pages/measures.py"):
        assert "No " in texts(at)
    elif page == "app_pages/upload.py":
        assert "Add the partner organisations first" in texts(at)
    elif page in ("app_pages/outcomes.py", "app_pages/summary.py", "app_pages/review.py"):
        assert "There is no challenge yet" in texts(at)
    else:
        assert "There is no challenge yet" in texts(at)


@pytest.mark.parametrize("page", PAGES)
def test_every_page_on_the_demo_database(monkeypatch, demo_path, page):
    at = open_app(monkeypatch, demo_path, page)
    assert not at.error
    valid_charts(at)
    if page == "app_pages/overview.py":
        assert [m.label for m in at.metric][:2] == ["Month", "Ideas adopted"]
        assert len(charts(at)) == 3  # velocity, ideas by status, the community
        assert len(at.dataframe) == 3  # what's new, how fresh, latest decisions
        news = at.dataframe[0].value
        assert {"Cycle started", "Decision", "Signal"} <= set(news["What"])
    elif page == "app_pages/challenge.py":
        assert len(charts(at)) == 1  # the driver diagram
        assert one(at.button, "Add driver")
    elif page == "app_pages/ideas.py":
        assert len(at.dataframe[0].value) >= 12
        assert len(charts(at)) == 1  # the ramp of the first idea
    elif page == "app_pages/cycles.py":
        assert len(at.dataframe[0].value) >= 60
        assert one(at.button, "Save the plan")
    elif page == "app_pages/people.py":
        assert at.metric[0].value == "60"  # the demo's participants
        assert one(at.button, "Add participant")
    elif page == "app_pages/collaboration.py":
        assert len(charts(at)) == 1  # the map
        assert any("is on cycle 2 of" in m.value or "ran 2 cycles" in m.value
                   for m in at.markdown)  # who should talk
    elif page == "app_pages/progress.py":
        assert len(charts(at)) == 1  # the heat map
        assert one(at.button, "Save the score")
    elif page == "app_pages/learning.py":
        assert len(at.dataframe[0].value) == 14  # every idea
        assert one(at.button, "Build the report")
    elif page == "app_pages/organisations.py":
        assert len(at.dataframe[0].value) == 8
    elif page == "app_pages/measures.py":
        assert len(at.dataframe[0].value) == 9
    elif page == "app_pages/upload.py":
        assert at.file_uploader[0].label == "Results file (CSV or Excel)"
    elif page == "app_pages/outcomes.py":
        assert len(charts(at)) == 1 and at.subheader[0].value == "Signals"
        compare = [r for r in at.radio if r.label == "Compare"][0]
        compare.set_value("orgs").run()  # one measure at every organisation
        assert not at.exception and valid_charts(at) == 2
        assert b"Kindred Voices" in charts(at)[1].proto.SerializeToString()
        [r for r in at.radio if r.label == "Compare"][0].set_value("measures").run()
        assert not at.exception and valid_charts(at) == 2  # every measure at one organisation
        assert b"Days waited" in charts(at)[1].proto.SerializeToString()
    elif page == "app_pages/review.py":
        screen = [s for s in at.selectbox if s.label == "Screen"][0]
        assert screen.value == 0  # the summary screen first
        [b for b in at.button if b.label == "Next →"][0].click().run()
        assert not at.exception and valid_charts(at) == 1
        assert [s for s in at.selectbox if s.label == "Screen"][0].value == 1
        [b for b in at.button if b.label == "← Previous"][0].click().run()
        [b for b in at.button if b.label == "← Previous"][0].click().run()  # wraps to the last
        assert [s for s in at.selectbox if s.label == "Screen"][0].value == 72
    elif page == "app_pages/portfolio.py":
        assert [m.value for m in at.metric][:3] == ["13 of 14", "8", "27"]  # 27 pairs: a late joiner
        assert len(charts(at)) == 3  # reach of each idea, the matrix, velocity
        tests = at.dataframe[0].value
        assert len(tests) == 27 and "Improvement seen" in set(tests["Measures after testing"])
    elif page == "app_pages/summary.py":
        table = at.dataframe[0].value
        assert len(table) == 72 and table["Variation"].str.startswith("data:image/svg").all()
        words = " ".join(table["In words"].astype(str))
        assert "Common cause" in words and "Special cause: improvement" in words
        assert table["Signal"].str.startswith("Now: ").any()


def test_sidebar_labels_demo_data(monkeypatch, demo_path):
    # AppTest drops sidebar elements after switch_page, so this is checked on the first page;
    # the browser test sees the label on every page.
    at = open_app(monkeypatch, demo_path)
    assert any("Demo data" in w.value for w in at.warning)


def test_load_the_demo_from_the_welcome_page(monkeypatch, db_path):
    at = open_app(monkeypatch, db_path)
    one(at.button, "Load the demo challenge").click().run()
    assert not at.exception
    with Database(db_path) as db:
        assert repo.get_challenge(db)["is_demo"]
    assert [m.label for m in at.metric][0] == "Month"


def test_start_blank_refuses_then_accepts(monkeypatch, db_path):
    at = open_app(monkeypatch, db_path)
    one(at.button, "Start blank").click().run()
    assert "Nothing was saved" in shown(at.error[0].value)
    assert "Short title is required" not in shown(at.error[0].value)  # labels match the words used
    assert "Title is required" in shown(at.error[0].value)
    with Database(db_path) as db:
        assert repo.get_challenge(db) is None
    one(at.text_input, "Short title").input("Peer support")
    one(at.text_area, "Challenge question").input("What would it take?")
    one(at.text_area, "Aim (what, how much, for whom, by when)").input("80% by June")
    one(at.button, "Start blank").click().run()
    assert not at.exception and not at.error
    assert at.title[0].value == "Peer support"


def add_organisation(at, name, kind="charity", email=""):
    one(at.text_input, "Name *").input(name)
    kinds = [w for w in at.selectbox if w.label == "Kind *"]
    kinds[0].set_value(kind)
    one(at.text_input, "Contact e-mail").input(email)
    one(at.button, "Add organisation").click().run()


def test_organisation_form_refuses_bad_input_and_saves_good(monkeypatch, db_path):
    at = open_app(monkeypatch, db_path, "app_pages/organisations.py")
    with Database(db_path) as db:
        before = table_counts(db)
    add_organisation(at, "Harbour Homes", email="not an address")
    assert "does not look like an e-mail address" in shown(at.error[0].value)
    with Database(db_path) as db:
        assert table_counts(db) == before
    # what was typed is kept, and the wrong field is marked where it stands
    assert one(at.text_input, "Name *").value == "Harbour Homes"
    marks = [shown(c.value) for c in at.caption if "↑" in c.value]
    assert len(marks) == 1 and "Contact e-mail 'not an address'" in marks[0]
    assert one(at.text_input, "Contact e-mail").value == "not an address"
    one(at.text_input, "Contact e-mail").input("h@example.org")
    one(at.button, "Add organisation").click().run()
    assert not at.error and not at.exception
    assert at.dataframe[0].value["Organisation"].tolist() == ["Harbour Homes"]
    adding = [w for w in at.text_input if w.label == "Name *" and w.form_id == "add_org"]
    assert adding[0].value == ""  # an empty form for the next one


def test_measure_form_refuses_a_proportion_without_denominator(monkeypatch, db_path):
    at = open_app(monkeypatch, db_path, "app_pages/measures.py")
    one(at.text_input, "Short code *").input("FIRST")
    one(at.text_input, "Name *").input("Attending a first session")
    [w for w in at.selectbox if w.label == "Type *"][0].set_value("process")
    [w for w in at.selectbox if w.label == "Kind of data *"][0].set_value("proportion")
    [w for w in at.selectbox if w.label == "Improvement direction *"][0].set_value("increase")
    one(at.text_input, "Target (optional; for a proportion 80% or 0.8)").input("50%")
    one(at.button, "Add measure").click().run()
    message = shown(at.error[0].value)
    assert "numerator and a denominator" in message and "Operational definition" in message
    assert "Target" not in message  # 50% is a proportion's target as people write it
    with Database(db_path) as db:
        assert repo.list_measures(db).empty
    assert one(at.text_input, "Name *").value == "Attending a first session"  # kept
    at.text_area[0].input("People at a first session of those referred")
    one(at.text_input, "Numerator (proportions and rates)").input("Attended a first session")
    one(at.text_input, "Denominator (proportions and rates)").input("Referred")
    one(at.text_input, "Unit *").input("proportion")
    one(at.button, "Add measure").click().run()
    assert not at.error, shown(at.error[0].value)
    with Database(db_path) as db:
        assert repo.list_measures(db)["target"].tolist() == [0.5]


def plan_cycle(at, idea_id, org_id, prediction, start):
    one(at.selectbox, "Change idea being tested").set_value(idea_id)
    one(at.selectbox, "Organisation where it runs").set_value(org_id)
    at.run()
    one(at.text_area, "Objective: what is this cycle for?").input("Test the welcome call")
    one(at.text_input, "Question: if we do x, will y happen?").input("Will more people come?")
    one(at.text_area, "Prediction (required): what do you expect to happen, with a number if "
                      "you can?").input(prediction)
    one(at.date_input, "Start date").set_value(start)
    one(at.date_input, "Planned end date").set_value(start + dt.timedelta(days=10))
    one(at.button, "Save the plan").click().run()


@pytest.fixture
def small_lab(db_path):
    with Database(db_path) as db:
        cid = repo.create_challenge(db, ADMIN, title="Peer support", question="Q?", aim="Aim",
                                    start_date="2026-01-05", end_date="2026-12-31")
        org = repo.add_organisation(db, ADMIN, name="Peer Pathways", kind="charity")
        idea = repo.add_idea(db, ADMIN, cid, title="Welcome call")
    return {"path": db_path, "cid": cid, "org": org, "idea": idea}


def test_cycle_without_prediction_is_refused_and_nothing_saved(monkeypatch, small_lab):
    at = open_app(monkeypatch, small_lab["path"], "app_pages/cycles.py")
    with Database(small_lab["path"]) as db:
        before = table_counts(db)
    plan_cycle(at, small_lab["idea"], small_lab["org"], "", dt.date(2026, 3, 2))
    assert not at.exception
    assert "Prediction is required" in shown(at.error[0].value)
    with Database(small_lab["path"]) as db:
        assert table_counts(db) == before


def test_a_full_ramp_through_the_pages(monkeypatch, small_lab):
    """Three linked cycles, adopt at the end, then seen on the Overview and the idea's page."""
    path, idea, org = small_lab["path"], small_lab["idea"], small_lab["org"]
    start = dt.date(2026, 3, 2)
    for step in range(3):
        at = open_app(monkeypatch, path, "app_pages/cycles.py")
        plan_cycle(at, idea, org, f"{5 + step} of 10 will come", start)
        assert not at.error, shown(at.error[0].value)
        at.tabs  # noqa: B018 - the Record tab is on the same page
        with Database(path) as db:
            cycle_id = int(repo.list_cycles(db, ADMIN, small_lab["cid"])["id"].max())
        for stage, fill, button in (
            ("do", {"What happened?": "We called them"}, "Save Do"),
            ("study", {"Results compared with the prediction": "As predicted",
                       "What did you learn?": "It works"}, "Save Study"),
            ("act", {"Next steps: what is the next cycle?": "Scale up"}, "Save Act"),
        ):
            at = open_app(monkeypatch, path, "app_pages/cycles.py")
            one(at.selectbox, "Cycle").set_value(cycle_id)
            at.run()
            for label, value in fill.items():
                one(at.text_area, label).input(value)
            if stage == "do":
                one(at.radio, "Did it go as planned?").set_value(True)
            if stage == "act":
                one(at.radio, "Decision").set_value("adopt" if step == 2 else "adapt")
            one(at.button, button).click().run()
            assert not at.exception and not at.error, [e.value for e in at.error]
        start += dt.timedelta(days=14)

    with Database(path) as db:
        cycles = repo.list_cycles(db, ADMIN, small_lab["cid"])
    assert cycles["stage"].tolist() == ["done"] * 3
    assert cycles["decision"].tolist() == ["adapt", "adapt", "adopt"]
    assert cycles["builds_on_id"].tolist()[1:] == cycles["id"].tolist()[:2]

    at = open_app(monkeypatch, path, "app_pages/overview.py")
    latest = at.dataframe[2].value
    assert latest.iloc[0]["Decision"] == "Adopt" and latest.iloc[0]["Cycle"] == 3
    assert [m.value for m in at.metric][1] == "1 of 1"  # ideas adopted

    at = open_app(monkeypatch, path, "app_pages/ideas.py")
    assert at.dataframe[0].value.iloc[0]["Status"] == "Adopted"
    ramp = at.dataframe[1].value
    assert ramp["Cycle"].tolist() == [1, 2, 3]
    assert len(charts(at)) == 1


def test_idea_and_driver_forms(monkeypatch, small_lab):
    path = small_lab["path"]
    at = open_app(monkeypatch, path, "app_pages/challenge.py")
    at.text_input(key="new_driver_name").input("Referral is easy")
    one(at.button, "Add driver").click().run()
    assert not at.error
    at.radio(key="new_driver_level").set_value("secondary")
    at.text_input(key="new_driver_name").input("Champions in practices")
    one(at.button, "Add driver").click().run()
    assert "must serve at least one primary driver" in shown(at.error[0].value)
    with Database(path) as db:
        assert len(repo.list_drivers(db, small_lab["cid"])) == 1
    at = open_app(monkeypatch, path, "app_pages/ideas.py")
    at.text_input(key="new_idea_title").input("welcome CALL")
    one(at.button, "Add idea").click().run()
    assert "already taken" in shown(at.error[0].value)


def week(k: int) -> str:
    today = clock.today()
    return (today - dt.timedelta(days=today.weekday()) - dt.timedelta(weeks=k)).isoformat()


def test_upload_page_refuses_a_bad_file(monkeypatch, demo_path):
    at = open_app(monkeypatch, demo_path, "app_pages/upload.py")
    with Database(demo_path) as db:
        before = table_counts(db)
    bad = ("organisation,measure,period,value,numerator,denominator,note\n"
           f"Peer Pathway (demo),REF,{week(2)},12,,,\n"
           f"Peer Pathways (demo),REF,31/02/2026,12,,,\n").encode()
    at.file_uploader[0].set_value(("bad.csv", bad, "text/csv")).run()
    assert not at.exception
    assert "Nothing can be stored yet: 2 problems" in shown(at.error[0].value)
    problems = at.dataframe[0].value
    assert problems["Row"].tolist() == [2, 3]
    assert "Did you mean 'Peer Pathways (demo)'" in problems["Problem"].iloc[0]
    assert not [b for b in at.button if b.label.startswith("Store")]
    with Database(demo_path) as db:
        assert table_counts(db) == before



def test_a_file_refused_by_its_header_is_not_said_to_have_no_rows(monkeypatch, demo_path):
    """A file whose columns are not the tracker's is refused before its rows are counted:
    the page said "0 rows" of a file that had some."""
    at = open_app(monkeypatch, demo_path, "app_pages/upload.py")
    at.file_uploader[0].set_value(("notes.csv", b"hello,world\n1,2\n", "text/csv")).run()
    assert not at.exception and "period" in shown(at.error[0].value)
    said = shown(at.caption[0].value)  # the file's caption, first on the page
    assert said.startswith("CSV · UTF-8 · comma-separated") and "rows" not in said
    good = ("organisation,measure,period,value,numerator,denominator,note\n"
            f"Peer Pathways (demo),REF,{week(2)},12,,,\n").encode()
    at.file_uploader[0].set_value(("good.csv", good, "text/csv")).run()
    assert shown(at.caption[0].value).endswith("· 1 row")  # counted, it is said

def test_upload_page_previews_stores_and_undoes_a_good_file(monkeypatch, demo_path):
    at = open_app(monkeypatch, demo_path, "app_pages/upload.py")
    good = ("organisation,measure,period,value,numerator,denominator,note\n"
            f"Peer Pathways (demo),REF,{week(2)},99,,,corrected\n"
            f"Peer Pathways (demo),FIRST,{week(0)},,6,9,this week\n").encode()
    with Database(demo_path) as db:
        old = observations.load_results(db, ADMIN)
    at.file_uploader[0].set_value(("good.csv", good, "text/csv")).run()
    assert not at.exception and not at.error
    assert [m.value for m in at.metric] == ["1", "1", "0"]  # new, updated, unchanged
    preview = at.dataframe[0].value
    assert set(preview["Status"]) == {"New", "Updated"}
    # 99 referrals is far above Peer Pathways' usual week: flagged, stored once confirmed
    store = [b for b in at.button if b.label == "Store 2 results"][0]
    assert store.disabled and any("far from this organisation" in shown(w.value)
                                  for w in at.warning)
    [c for c in at.checkbox if c.label.startswith("I have checked")][0].check().run()
    store = [b for b in at.button if b.label == "Store 2 results"][0]
    store.click().run()
    assert not at.exception
    # one clear state: what was stored and the next step, not the file checked again
    assert "Stored good.csv" in shown(at.success[0].value) and "Next:" in shown(at.success[0].value)
    assert not [i for i in at.info if "stored" in shown(i.value) or "nothing to" in
                shown(i.value)]
    assert not at.metric and not [w for w in at.warning if "identical" in w.value]
    with Database(demo_path) as db:
        now = observations.load_results(db, ADMIN)
        batch = batches.list_batches(db, ADMIN)["id"].max()
    assert len(now) == len(old) + 1
    assert 99 in now["value"].tolist()
    # undo from the history tab
    at = open_app(monkeypatch, demo_path, "app_pages/upload.py")
    at.checkbox(key=f"sure_{batch}").check().run()
    [b for b in at.button if b.label == "Undo this upload"][0].click().run()
    assert not at.exception
    with Database(demo_path) as db:
        after = observations.load_results(db, ADMIN)
    pd.testing.assert_frame_equal(after.drop(columns="batch_id").reset_index(drop=True),
                                  old.drop(columns="batch_id").reset_index(drop=True))


def test_outcomes_chart_shows_the_cycles_and_a_new_phase_is_stored(monkeypatch, demo_path):
    at = open_app(monkeypatch, demo_path, "app_pages/outcomes.py")
    with Database(demo_path) as db:
        measures = repo.list_measures(db).set_index("code")["id"]
        orgs = repo.list_organisations(db, ADMIN).set_index("name")["id"]
    one(at.selectbox, "Measure").set_value(int(measures["WAIT"])).run()
    one(at.selectbox, "Organisation").set_value(int(orgs["Peer Pathways (demo)"])).run()
    # the welcome-call cycles are drawn as bands (their labels travel in the chart's data)
    assert b"Peer-led welcome call" in charts(at)[0].proto.SerializeToString()
    assert any("a shift" in m.value for m in at.markdown)
    one(at.radio, "What").set_value("phase")
    one(at.text_input, "Note").input("Welcome call adopted")
    one(at.button, "Save").click().run()
    assert not at.exception and not at.error
    with Database(demo_path) as db:
        notes = observations.list_annotations(db, ADMIN, int(measures["WAIT"]),
                                      int(orgs["Peer Pathways (demo)"]))
    assert notes["kind"].tolist() == ["phase"]


def test_outcomes_period_from_and_to(monkeypatch, demo_path):
    at = open_app(monkeypatch, demo_path, "app_pages/outcomes.py")
    with Database(demo_path) as db:
        measures = repo.list_measures(db).set_index("code")["id"]
        orgs = repo.list_organisations(db, ADMIN).set_index("name")["id"]
        last = db.scalar("SELECT max(period) FROM result")
    one(at.selectbox, "Measure").set_value(int(measures["WAIT"])).run()
    one(at.selectbox, "Organisation").set_value(int(orgs["Peer Pathways (demo)"])).run()
    cycles_listed = len(at.dataframe[0].value)
    start = one(at.date_input, "From").value
    one(at.date_input, "To").set_value(start - dt.timedelta(days=1)).run()
    assert not at.exception
    assert "The 'To' date is before the 'From' date" in shown(at.error[0].value)
    one(at.date_input, "To").set_value(last - dt.timedelta(weeks=8)).run()
    one(at.date_input, "From").set_value(last - dt.timedelta(weeks=30)).run()
    assert not at.exception and not at.error
    periods = pd.to_datetime(chart_points(charts(at)[0])["period"])
    assert periods.min() >= pd.Timestamp(last - dt.timedelta(weeks=30))
    assert periods.max() <= pd.Timestamp(last - dt.timedelta(weeks=8))
    assert 18 <= len(periods) <= 23  # 30 - 8 + 1 weeks, less the odd missing week
    assert len(at.dataframe[0].value) <= cycles_listed  # only the cycles in the period


def test_review_asks_before_a_very_large_pack(monkeypatch, demo_path):
    at = open_app(monkeypatch, demo_path, "app_pages/review.py")
    def asks():
        return [w.value for w in at.warning if "would hold" in w.value]

    assert not asks() and not one(at.button, "Build the pack").disabled  # 72 charts
    with Database(demo_path) as db:  # ten more organisations: 162 charts in all
        results = observations.load_results(db, ADMIN)
        source = results[results["organisation"] == "Peer Pathways (demo)"]
        for i in range(10):
            org = repo.add_organisation(db, ADMIN, name=f"Extra partner {i}", kind="charity")
            observations.insert_results(db, ADMIN, source.assign(organisation_id=org), source="import")
    at.run()
    assert not asks()  # the pack charts what needs seeing: far fewer than 150
    [c for c in at.checkbox if c.label.startswith("Every chart")][0].check().run()
    assert "would hold 162 charts" in asks()[0]
    assert one(at.button, "Build the pack").disabled
    [c for c in at.checkbox if c.label.startswith("Build all")][0].check().run()
    assert not one(at.button, "Build the pack").disabled


def test_portfolio_filters_by_idea_and_organisation(monkeypatch, demo_path):
    at = open_app(monkeypatch, demo_path, "app_pages/portfolio.py")
    one(at.multiselect, "Ideas").select("Peer-led welcome call within a week of referral").run()
    assert not at.exception
    tests = at.dataframe[0].value
    assert set(tests["Idea"]) == {"Peer-led welcome call within a week of referral"}
    assert len(tests) == 4 and len(charts(at)) == 3  # three adopters and a late joiner
    one(at.multiselect, "Organisations").select("Peer Pathways (demo)").run()
    tests = at.dataframe[0].value
    assert tests[["Organisation", "Measures after testing"]].values.tolist() == [
        ["Peer Pathways (demo)", "Improvement seen"]]
    one(at.multiselect, "Ideas").unselect(
        "Peer-led welcome call within a week of referral").run()
    one(at.multiselect, "Organisations").select("Hillview Surgery (demo)").run()
    assert set(at.dataframe[0].value["Organisation"]) == {"Peer Pathways (demo)",
                                                          "Hillview Surgery (demo)"}


def counted(monkeypatch, owner, name: str) -> list:
    """Replace `owner.name` with the same function that notes each call: the list of calls."""
    calls: list = []
    real = getattr(owner, name)
    monkeypatch.setattr(owner, name, lambda *a, **k: calls.append(1) or real(*a, **k))
    return calls


def test_a_page_reads_the_challenge_once_per_change_of_the_data(monkeypatch, demo_path):
    """A run asked for the current challenge about ten times (every `ui.scope()`), each
    reading every challenge to find the one running today, and for the cycles three times:
    both are read once per change of the data, and again after a change. (The open cycle's discussion and files read their
    challenge by its number, twice.)"""
    from tracker.records import repo as records

    real = records.get_challenge
    reads = counted(monkeypatch, records, "get_challenge")
    listed = counted(monkeypatch, records, "list_cycles")
    at = open_app(monkeypatch, demo_path, "app_pages/cycles.py")
    reads.clear()
    listed.clear()
    at.run()
    quiet = len(reads)
    assert quiet <= 2, quiet  # nothing changed: the current challenge is not read again
    assert listed == []  # nor the cycles (the page asked for them three times a run)
    with Database(demo_path) as db:
        challenge = real(db)
        records.update_challenge(
            db, ADMIN, int(challenge["id"]), title=challenge["title"],
            question=challenge["question"], aim="A sharper aim.",
            start_date=challenge["start_date"], end_date=challenge["end_date"])
    reads.clear()
    at.run()
    assert len(reads) > quiet and listed, len(reads)  # the change is seen at once
    assert not at.exception


def test_a_review_step_makes_its_chart_once_and_checks_no_schema(monkeypatch, demo_path):
    """Review's Next draws one chart: its Vega-Lite specification is made once (shown, and its
    text alternative read from it) and not checked against the whole Vega-Lite schema on the
    page (`st.altair_chart` did both again: 0.17 s of each step at scale). The checking is the
    tests' (`valid_charts`)."""
    from altair.utils import schemapi

    from tracker.reports import charts as chart_specs

    checked = counted(monkeypatch, schemapi, "validate_jsonschema")
    made = counted(monkeypatch, chart_specs, "vega_lite")
    at = open_app(monkeypatch, demo_path, "app_pages/review.py")
    checked.clear()
    made.clear()
    [b for b in at.button if b.label == "Next →"][0].click().run()
    assert not at.exception and len(charts(at)) == 1
    assert checked == [] and len(made) == 1, (len(checked), len(made))
    assert "This chart in words and numbers" in [e.label for e in at.expander]


def test_streamlit_magic_is_off():
    """No page writes a value by putting it on a line of its own: with magic off, a stray
    expression can never reach the page as Markdown (user text is data, never markup)."""
    import tomllib

    import streamlit

    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["runner"]["magicEnabled"] is False
    assert streamlit.config.get_option("runner.magicEnabled") is False  # as AppTest runs


def test_the_overview_builds_the_reader_s_names_and_texts_once(monkeypatch, demo_path):
    """The Overview's "what is new" reads names and texts through the page's own reader view
    (`ui.readable`, kept per change of the data): it built the view again for itself, a
    tenth of the page's time on the demo."""
    from tracker.learning import learning_record

    built = counted(monkeypatch, learning_record, "reader_texts")
    at = open_app(monkeypatch, demo_path)
    assert any("new since" in h.value for h in at.subheader) and not at.exception
    assert len(built) == 1
