"""User text is data, never markup (issue 12, item 7), and what partners may not see of other
organisations' uploads (item 14).

The red team's strings go into every free-text field the tracker has (challenge, phases,
drivers, ideas, organisations, measures, every stage of a cycle, chart notes, a result's note,
an uploaded file's name and header). Then every page is walked as the lab admin through
AppTest, and every element that Streamlit renders as markdown is checked: the strings may
appear only escaped. The review pack (PDF and PowerPoint) and the chart SVG are checked for
links and images. The same strings are checked in the Chromium DOM in test_browser.py.
"""

from __future__ import annotations

import datetime as dt
import re
import zipfile

import pandas as pd
import pytest
from conftest import PARTNER_ORG as PP
from conftest import PASSWORD, ROOT, add_role_accounts
from streamlit.testing.v1 import AppTest

from tracker import clock
from tracker.access import auth
from tracker.access.scope import Scope
from tracker.community import events, participants
from tracker.intake import batches, export, ingest
from tracker.learning import syntheses
from tracker.records import observations, progress, repo
from tracker.storage.db import Database

ADMIN = Scope.admin("red team")
APP = str(ROOT / "streamlit_app.py")
HOSTILE = ["![x](http://127.0.0.1:9/x.png)", "[a](javascript:alert(1))", ":red[x]",
           "<img src=x onerror=alert(1)>"]
TEXT = " ".join(HOSTILE)
PAGES = ["overview", "challenge", "ideas", "cycles", "learning", "people", "collaboration",
         "progress", "summary", "outcomes", "portfolio", "enter",
         "review", "upload", "export", "organisations", "measures", "accounts", "audit",
         "backups"]
# Rendered markdown of any of the strings: an image, a link, a colour directive, raw HTML.
# Bare addresses become links too (GFM autolinks), so "http:" must never stand unbroken.
RENDERED = re.compile(r"(?<!\\)!(?<!\\)\[x(?<!\\)\]\(|(?<!\\)\[a(?<!\\)\]\(|(?<!\\):red(?<!\\)\[|"
                      r"(?<!\\)<img|(?i:https?\\?:)")


def poison(db: Database) -> dict:
    """The hostile strings in every free-text field; returns the ids it touched."""
    challenge = repo.get_challenge(db)
    cid = challenge["id"]
    repo.update_challenge(db, ADMIN, cid, title=f"Lab {HOSTILE[0]}", question=TEXT, aim=TEXT,
                          start_date=challenge["start_date"], end_date=challenge["end_date"])
    repo.add_phase(db, ADMIN, cid, name=f"Phase {HOSTILE[1]}",
                   start_date=challenge["start_date"],
                   end_date=challenge["start_date"] + dt.timedelta(days=30))
    driver = repo.list_drivers(db, cid).iloc[0]
    repo.update_driver(db, ADMIN, int(driver["id"]), name=f"Driver {HOSTILE[2]}",
                       description=TEXT)
    idea = repo.list_ideas(db, cid).iloc[0]
    repo.update_idea(db, ADMIN, int(idea["id"]), title=f"Idea {HOSTILE[3]}", description=TEXT,
                     driver_ids=[int(driver["id"])])
    org = repo.add_organisation(db, ADMIN, name=f"Org {HOSTILE[3]}", kind="charity",
                                region=HOSTILE[0], contact_name=HOSTILE[1])
    measure = repo.list_measures(db).iloc[0]
    values = {k: measure[k] for k in ("code", "measure_type", "direction", "data_kind",
                                      "frequency")}
    repo.update_measure(db, ADMIN, int(measure["id"]), **values, name=f"Measure {HOSTILE[1]}",
                        definition=TEXT, unit="people :red[x]", numerator=TEXT,
                        denominator=TEXT)
    pp = int(repo.list_organisations(db, ADMIN).set_index("name").loc[PP, "id"])
    today = clock.today()
    cycle = repo.plan_cycle(db, ADMIN, idea_id=int(idea["id"]), organisation_id=pp,
                            objective=TEXT, question=TEXT, prediction=TEXT,
                            start_date=today - dt.timedelta(days=20),
                            end_date=today - dt.timedelta(days=10), plan_who=TEXT,
                            plan_where=TEXT, data_collection=TEXT, scale=HOSTILE[0],
                            measure_ids=[int(measure["id"])])
    repo.record_do(db, ADMIN, cycle, do_notes=TEXT, went_as_planned=True, observations=TEXT)
    repo.record_study(db, ADMIN, cycle, study_notes=TEXT, learning=TEXT)
    repo.record_act(db, ADMIN, cycle, decision="adapt", next_steps=TEXT,
                    end_date=today - dt.timedelta(days=10))
    observations.add_annotation(db, ADMIN, measure_id=int(measure["id"]), organisation_id=pp,
                                on_date=today - dt.timedelta(days=30), kind="note", text=TEXT)
    syntheses.write_synthesis(db, ADMIN, int(idea["id"]), key_learning=TEXT, worked_when=TEXT,
                             did_not_work_when=TEXT, recommendation="spread", reason=TEXT,
                             reviewed_by=HOSTILE[2], reviewed_on=today)
    syntheses.mark_excerpt(db, ADMIN, cycle, "learning", "public")
    person = participants.add_participant(db, ADMIN, cid, name=f"Person {HOSTILE[0]}",
                                          taking_part="carer", organisation_id=pp,
                                          region=HOSTILE[1], email="p@example.org")
    events.add_event(db, ADMIN, cid, on_date=today, name=f"Event {HOSTILE[3]}",
                     participant_ids=[person])
    progress.score_month(db, ADMIN, pp, today, 2.5, TEXT)
    return {"idea": int(idea["id"]), "cycle": cycle, "measure": int(measure["id"]), "pp": pp, "org": org}


@pytest.fixture
def poisoned(demo_path):
    with Database(demo_path) as db:
        ids = poison(db)
    return {"path": demo_path, **ids}


def rendered_texts(at: AppTest) -> list[tuple[str, str]]:
    """(element type, text) for everything Streamlit renders as markdown: bodies of
    markdown, captions, titles, alerts and toasts; labels of widgets, tabs and expanders."""
    found = []

    def walk(node):
        kind = getattr(node, "type", "")
        value = getattr(node, "value", None)
        if kind in ("markdown", "caption", "title", "header", "subheader", "error", "warning",
                    "info", "success", "toast", "latex") and isinstance(value, str):
            found.append((kind, value))
        label = getattr(node, "label", None)
        if isinstance(label, str):
            found.append((f"{kind} label", label))
        if kind == "radio":
            found.extend((kind, str(o)) for o in getattr(node, "options", []))
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at._tree)
    return found


def test_no_page_renders_user_text_as_markdown(monkeypatch, poisoned):
    monkeypatch.setenv("TRACKER_DB", str(poisoned["path"]))
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    escaped_seen = 0
    for name in PAGES:
        at.switch_page(f"app_pages/{name}.py").run()
        if name == "cycles":  # open the poisoned cycle's Do, Study and Act
            picker = [s for s in at.selectbox if s.label == "Cycle"][0]
            picker.set_value(poisoned["cycle"]).run()
        if name == "learning":
            at.selectbox(key="learn_idea").set_value(poisoned["idea"]).run()
        if name == "outcomes":
            at.selectbox(key="outcome_measure").set_value(poisoned["measure"]).run()
            at.selectbox(key="outcome_org").set_value(poisoned["pp"]).run()
        assert not at.exception, (name, [e.value for e in at.exception])
        for kind, text in rendered_texts(at):
            assert not RENDERED.search(text), (name, kind, text)
            escaped_seen += "\\!\\[x\\]" in text or "\\<img" in text
    assert escaped_seen >= 5  # the strings were shown (escaped), so the walk is not blind


def test_an_uploaded_header_and_file_name_are_shown_as_text(monkeypatch, demo_path):
    monkeypatch.setenv("TRACKER_DB", str(demo_path))
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page("app_pages/upload.py").run()
    monday = clock.today() - dt.timedelta(days=clock.today().weekday() + 7)
    data = ("organisation,measure,period,value,numerator,denominator,note,"
            f"{HOSTILE[0]},{HOSTILE[3]}\n{PP},REF,{monday},5,,,{HOSTILE[1]},,\n").encode()
    at.file_uploader[0].set_value((f"{HOSTILE[2]}.csv", data, "text/csv")).run()
    assert not at.exception
    texts = rendered_texts(at)
    assert any("these columns were ignored" in text for _, text in texts)  # the header shown
    for kind, text in texts:
        assert not RENDERED.search(text), (kind, text)


def test_the_pack_and_the_chart_images_hold_no_links_or_images(poisoned, tmp_path):
    from tracker.reports import report

    with Database(poisoned["path"]) as db:
        pdf = report.write_report(db, ADMIN, tmp_path / "pack.pdf", organisation=PP)
        pptx = report.write_report(db, ADMIN, tmp_path / "pack.pptx", organisation=PP)
    raw = pdf.read_bytes()
    assert b"/URI" not in raw and b"javascript" not in raw.lower()
    with zipfile.ZipFile(pptx) as deck:
        xml = b"".join(deck.read(n) for n in deck.namelist() if n.endswith((".xml", ".rels")))
    assert b"hlinkClick" not in xml  # no text is a link
    assert b'TargetMode="External"' not in xml  # nothing is fetched from outside


def test_exports_neutralise_and_keep_the_text(poisoned, tmp_path):
    with Database(poisoned["path"]) as db:
        written = export.export_all(db, ADMIN, tmp_path / "out")
    cycles = pd.read_csv(next(p for p in written if p.name == "cycles.csv"))
    assert TEXT in set(cycles["objective"])  # exactly the text, not rendered, not lost


# --------------------------------------------------------------------------- 14. metadata


def _lab_upload(db, admin, pp_id, other_id, tmp_name):
    """The lab admin uploads one file holding rows of two organisations."""
    measure = repo.list_measures(db).set_index("code").loc["REF"]
    periods = sorted(observations.load_results(db, admin, measure_id=int(measure["id"]),
                                               organisation_ids=[pp_id])["period"])[-2:]
    names = repo.list_organisations(db, admin).set_index("id")["name"]
    rows = "".join(f"{names[o]},REF,{pd.Timestamp(p).date()},{90 + k},,,\n"
                   for k, (o, p) in enumerate([(pp_id, periods[0]), (other_id, periods[0]),
                                               (other_id, periods[1])]))
    report = ingest.commit(db, ("organisation,measure,period,value,numerator,denominator,"
                                "note\n" + rows).encode(), tmp_name, admin,
                           accept_unusual=True)  # values of 90 and up: far from usual
    assert report.batch_id is not None, [str(p) for p in report.errors]
    return report.batch_id


def test_a_partner_sees_only_its_own_counts_and_no_file_name_or_uploader(demo_path, tmp_path):
    with Database(demo_path) as db:
        made = add_role_accounts(db)
        admin, orgs = made["admin"], made["orgs"]
        pp_id, other_id = int(orgs[PP]), int(orgs["Riverside Medical Practice (demo)"])
        batch = _lab_upload(db, admin, pp_id, other_id, "secret-riverside-file.csv")
        partner = auth.authenticate(db, "pp_user", PASSWORD)
        listed = batches.list_batches(db, partner).set_index("id").loc[batch]
        assert listed["file_name"] is None or pd.isna(listed["file_name"])
        assert listed["uploaded_by"] == batches.LAB_TEAM
        assert listed["rows_new"] == 1  # its own row, not the batch's three
        assert pd.isna(listed["rows_updated"]) and pd.isna(listed["rows_unchanged"])
        written = export.export_all(db, partner, tmp_path / "out")
        text = b"".join(p.read_bytes() for p in written)
        assert b"secret-riverside-file" not in text and b"boss" not in text
        # its own upload keeps its file name and uploader
        monday = clock.today() - dt.timedelta(days=clock.today().weekday() + 7)
        own = ingest.commit(db, (f"organisation,measure,period,value\n{PP},REF,{monday},3\n")
                            .encode(), "ours.csv", partner)
        mine = batches.list_batches(db, partner).set_index("id").loc[own.batch_id]
        assert (mine["file_name"], mine["uploaded_by"]) == ("ours.csv", "pp_user")


def test_the_other_partners_aggregate_respects_the_disclosure_threshold(demo_db):
    made = add_role_accounts(demo_db)
    partner = auth.authenticate(demo_db, "pp_user", PASSWORD)
    shown = observations.results_freshness(demo_db, partner)
    assert shown["organisation"].tolist()[-1] == "All other partners (7)"
    cid = repo.get_challenge(demo_db)["id"]
    repo.set_disclosure_threshold(demo_db, made["admin"], cid, 8)
    assert observations.results_freshness(demo_db, partner)["organisation"].tolist() == [PP]
    first = repo.list_measures(demo_db).set_index("data_kind").loc["proportion"]
    first_id = int(first["id"].iloc[0] if isinstance(first, pd.DataFrame) else first["id"])
    funnel = observations.proportion_totals(demo_db, partner, first_id)
    assert funnel["organisation"].tolist() == [PP]
    with pytest.raises(repo.InputError, match="from 2 up"):
        repo.set_disclosure_threshold(demo_db, made["admin"], cid, 1)
    with pytest.raises(repo.PermissionDenied):
        repo.set_disclosure_threshold(demo_db, partner, cid, 5)


def test_two_other_partners_are_never_shown_as_an_aggregate(db):
    """With the default threshold of 3, a lab of three partners shows a partner no aggregate
    (the two others could each work out the third's figures from it)."""
    repo.create_challenge(db, ADMIN, title="Small", question="Q?", aim="A",
                          start_date=dt.date(2026, 1, 5), end_date=dt.date(2026, 12, 28))
    ids = [repo.add_organisation(db, ADMIN, name=f"Partner {k}", kind="charity")
           for k in range(3)]
    partner = Scope(actor="p", role="partner", organisation_id=ids[0], organisation="Partner 0")
    assert observations.results_freshness(db, partner)["organisation"].tolist() == ["Partner 0"]
    repo.add_organisation(db, ADMIN, name="Partner 3", kind="charity")
    assert observations.results_freshness(db, partner)["organisation"].tolist()[-1] == \
        "All other partners (3)"



def test_a_partner_compares_with_the_other_partners_together(demo_db):
    made = add_role_accounts(demo_db)
    partner = auth.authenticate(demo_db, "pp_user", PASSWORD)
    measures = repo.list_measures(demo_db).set_index("code")
    first = observations.others_series(demo_db, partner, int(measures.loc["FIRST", "id"]))
    assert set(first["organisation"]) == {"All other partners (7)"}
    week = first.iloc[-1]
    totals = demo_db.read(
        "SELECT sum(numerator) AS n, sum(denominator) AS d FROM current_result"
        " WHERE measure_id = ? AND organisation_id <> ? AND period = ?",
        [int(measures.loc["FIRST", "id"]), partner.organisation_id, week["period"]]).iloc[0]
    assert (week["numerator"], week["denominator"]) == (totals["n"], totals["d"])
    assert observations.others_series(demo_db, made["admin"], 1).empty  # admins see names
    cid = repo.get_challenge(demo_db)["id"]
    repo.set_disclosure_threshold(demo_db, made["admin"], cid, 8)
    assert observations.others_series(demo_db, partner, int(measures.loc["FIRST", "id"])).empty


def test_a_text_table_holds_every_cell_and_header_as_text():
    """The tables beside charts and grids (app/ui.py `html_table`) are HTML the tracker
    writes: every cell and header is escaped, so a hostile name is shown, never obeyed."""
    import pandas as pd

    from app import ui

    made = ui.html_table(pd.DataFrame({TEXT: [TEXT, None], "n": [1.5, 2_000.0]}))
    assert "&lt;img src=x onerror=alert(1)&gt;" in made and "<img" not in made
    assert "<td>–</td>" in made and "<td>2,000</td>" in made  # empty cell, separators
    dated = ui.html_table(pd.DataFrame({"Period starting": ["2026-01-12T00:00:00"]}))
    assert "<td>12 Jan 2026</td>" in dated  # a chart's day, written as text, reads as a day
