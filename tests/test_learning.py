"""Learning and its safe sharing (issue 10): syntheses, consents, shareable notes, the learning
record per reader, the learning report (internal and public, HTML and PDF), what's new and
the digest. Real DuckDB files; the public report is scanned byte by byte."""

from __future__ import annotations

import datetime as dt
import html
import re
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
from conftest import AS_OF, table_counts

from tracker import clock
from tracker.__main__ import main
from tracker.access import auth
from tracker.access.scope import Scope
from tracker.analysis import portfolio
from tracker.errors import InputError, PermissionDenied
from tracker.learning import learning_record, learning_report, syntheses, whats_new
from tracker.records import observations, repo
from tracker.reports import charts

pytestmark = pytest.mark.dates  # runs again at other dates in CI (tests/dates.md)

ADMIN = Scope.admin("lab lead")
PP = "Peer Pathways (demo)"
WELCOME = "Peer-led welcome call within a week of referral"
LEAFLET = "Leaflet in pharmacy prescription bags"
VIDEO = "Co-designed 'what to expect' video"  # proposed: never tested


def ids(db):
    cid = repo.get_challenge(db)["id"]
    ideas = repo.list_ideas(db, cid).set_index("title")["id"]
    orgs = repo.list_organisations(db, ADMIN).set_index("name")["id"]
    return cid, ideas, orgs


def partner(db, name=PP) -> Scope:
    orgs = repo.list_organisations(db, ADMIN).set_index("name")["id"]
    return Scope(actor="partner user", role="partner", organisation_id=int(orgs[name]),
                 organisation=name)


VIEWER = Scope(actor="leader", role="viewer")


# --------------------------------------------------------------------------- the data layer


def test_a_synthesis_is_versioned_and_every_version_stays_readable(demo_db):
    _, ideas, _ = ids(demo_db)
    idea = int(ideas["Text reminder the day before the first session"])
    first = syntheses.write_synthesis(demo_db, ADMIN, idea, key_learning="Reminders help.",
                                     recommendation="test_further", reason="Two sites only.")
    second = syntheses.write_synthesis(
        demo_db, ADMIN, idea, key_learning="Afternoon reminders with a name work best.",
        recommendation="spread", reason="Both sites adopted it.", reviewed_by="Lab board",
        reviewed_on=clock.today())
    assert (first, second) == (1, 2)
    latest = syntheses.syntheses(demo_db, [idea])
    assert latest["version"].tolist() == [2] and latest["recommendation"].iloc[0] == "spread"
    every = syntheses.syntheses(demo_db, [idea], every_version=True)
    assert every["version"].tolist() == [2, 1]
    assert every["key_learning"].iloc[1] == "Reminders help."
    log = repo.list_audit(demo_db, ADMIN, limit=None, entity="synthesis", action="create")
    assert len(log) >= 2 and "lab lead" in log["actor"].tolist()
    record = learning_record.record(demo_db, ADMIN, idea)
    assert record.synthesis["version"] == 2
    assert record.history["version"].tolist() == [1]  # the earlier version, readable


def test_a_bad_synthesis_is_refused_with_every_problem_and_nothing_changes(demo_db):
    _, ideas, _ = ids(demo_db)
    before = table_counts(demo_db)
    with pytest.raises(InputError) as refused:
        syntheses.write_synthesis(
            demo_db, ADMIN, int(ideas[WELCOME]), key_learning="x" * 601,
            recommendation="keep going", reason="", worked_when="ok\x00",
            reviewed_on=clock.today() + dt.timedelta(days=3))
    said = " ".join(refused.value.problems)
    for expected in ("Key learning is 601 characters long; please keep it under 600",
                     "Recommendation 'keep going' is not one of: Spread, Test further, Stop",
                     "Reason for the recommendation is required",
                     "Where and when it worked holds an invisible control character",
                     "Reviewed on is a date in the future"):
        assert expected in said, said
    with pytest.raises(InputError, match="Reviewed on is given without who reviewed it"):
        syntheses.write_synthesis(demo_db, ADMIN, int(ideas[WELCOME]), key_learning="k",
                                 recommendation="stop", reason="r",
                                 reviewed_on=clock.today())
    assert table_counts(demo_db) == before


@pytest.mark.parametrize("who", ["partner", "viewer"])
def test_only_the_lab_admin_writes_learning_consents_and_marks(demo_db, who):
    _, ideas, orgs = ids(demo_db)
    scope = partner(demo_db) if who == "partner" else VIEWER
    cycle = int(repo.list_cycles(demo_db, ADMIN, ids(demo_db)[0])["id"].iloc[0])
    before = table_counts(demo_db)
    for action in (
            lambda: syntheses.write_synthesis(demo_db, scope, int(ideas[WELCOME]),
                                             key_learning="k", recommendation="stop",
                                             reason="r"),
            lambda: syntheses.mark_excerpt(demo_db, scope, cycle, "learning", "public"),
            lambda: syntheses.set_consent(demo_db, scope, int(orgs[PP]), named_to_partners=True,
                                         named_in_public=True),
            lambda: syntheses.set_min_count(demo_db, scope, ids(demo_db)[0], 10)):
        with pytest.raises(PermissionDenied, match="Only the lab admin"):
            action()
    assert table_counts(demo_db) == before


def test_marks_and_consents_refuse_nonsense_and_are_audited(demo_db):
    cid, _, orgs = ids(demo_db)
    cycle = int(repo.list_cycles(demo_db, ADMIN, cid)["id"].iloc[0])
    with pytest.raises(InputError, match="Note 'plan_who' is not one of"):
        syntheses.mark_excerpt(demo_db, ADMIN, cycle, "plan_who", "public")
    with pytest.raises(InputError, match="Shared with 'everyone' is not one of"):
        syntheses.mark_excerpt(demo_db, ADMIN, cycle, "learning", "everyone")
    with pytest.raises(InputError, match="no longer exists"):
        syntheses.mark_excerpt(demo_db, ADMIN, 99_999, "learning", "public")
    with pytest.raises(InputError, match="whole number from 1"):
        syntheses.set_min_count(demo_db, ADMIN, cid, "2.5")
    syntheses.mark_excerpt(demo_db, ADMIN, cycle, "learning", "partners")
    syntheses.mark_excerpt(demo_db, ADMIN, cycle, "learning", "lab")
    syntheses.set_consent(demo_db, ADMIN, int(orgs["Hillview Surgery (demo)"]),
                         named_to_partners=True, named_in_public=False)
    syntheses.set_min_count(demo_db, ADMIN, cid, 10)
    assert syntheses.min_count(demo_db, cid) == 10
    log = repo.list_audit(demo_db, ADMIN, limit=None)
    entities = set(log["entity"])
    assert {"excerpt_share", "organisation_consent", "disclosure_settings"} <= entities
    marks = log[log["entity"] == "excerpt_share"]
    assert '"audience": "lab"' in marks["after"].iloc[0]  # the newest: shared back to the lab


# --------------------------------------------------------------------------- the record


def test_the_record_gathers_where_cycles_evidence_and_synthesis(demo_db):
    cid, ideas, _ = ids(demo_db)
    record = learning_record.record(demo_db, ADMIN, int(ideas[WELCOME]))
    cycles = repo.list_cycles(demo_db, ADMIN, cid, idea_id=int(ideas[WELCOME]))
    assert len(record.cycles) == len(cycles)
    assert sorted(record.where["organisation"]) == sorted(cycles["organisation"].unique())
    assert record.where["cycles"].sum() == len(cycles)
    assert all(" → " in s for s in record.where["scale"])  # the ramp of scale
    assert record.synthesis["recommendation"] == "spread"
    first = record.cycles[0]
    assert first["notes"]["prediction"] == cycles.sort_values(
        ["start_date", "cycle_no", "id"])["prediction"].iloc[0]
    # the verdict agrees with the portfolio, organisation by organisation
    outcomes = portfolio.measure_outcomes(demo_db, ADMIN, cid)
    mine = outcomes[outcomes["idea_id"] == int(ideas[WELCOME])]
    for evidence in record.evidence:
        found = mine[mine["measure_id"] == evidence.measure_id]
        improved = int((found["outcome"] == "improved").sum())
        if improved:
            assert f"special cause improvement at {improved} of {len(found)} organisation" \
                in evidence.verdict
        assert "caused" not in evidence.verdict
        assert len(evidence.panels) == len(found)
        for title, frame, shaded in evidence.panels:  # valid Vega-Lite, as drawn
            charts.idea_panel(title, frame, shaded, unit=evidence.unit,
                              target=evidence.target).to_dict(validate=True)


def test_a_record_of_an_idea_with_no_cycles_says_so(demo_db):
    _, ideas, _ = ids(demo_db)
    record = learning_record.record(demo_db, ADMIN, int(ideas[VIDEO]))
    assert not record.tested and record.evidence == [] and record.where.empty
    html = learning_report.build_html(demo_db, ADMIN, public=False, ideas=[VIDEO])
    assert "This idea has not been tested yet" in html


def test_a_partner_reads_only_allowed_notes_and_names(demo_db):
    _, ideas, _ = ids(demo_db)
    pp = partner(demo_db)
    record = learning_record.record(demo_db, pp, int(ideas[WELCOME]))
    consent = syntheses.consents(demo_db).set_index("name")
    for cycle in record.cycles:
        org = repo.list_organisations(demo_db, ADMIN).set_index("id").loc[
            cycle["organisation_id"], "name"]
        if org == PP:
            assert cycle["organisation"] == PP
            assert all(v is not None for v in cycle["notes"].values())  # its own: all
        else:
            named = bool(consent.loc[org, "named_to_partners"])
            assert (cycle["organisation"] == org) == named
            for field, text in cycle["notes"].items():
                allowed = cycle["shared"][field] in ("partners", "public")
                assert (text is not None) == allowed, (org, field)
    shown = [c for c in record.cycles if c["organisation_id"] != pp.organisation_id
             and any(t is not None for t in c["notes"].values())]
    assert shown  # the demo shares a note of Kindred Voices with partners
    assert record.synthesis["reviewed_by"] is None  # no person's name outside the lab
    with pytest.raises(PermissionDenied, match="does not test this idea"):
        learning_record.record(demo_db, pp, int(ideas["Walk-and-talk peer groups"]))


def test_unnamed_organisations_read_as_kind_and_region_numbered_when_several(db):
    repo.create_challenge(db, ADMIN, title="T", question="Q", aim="A",
                          start_date=dt.date(2026, 1, 5), end_date=dt.date(2026, 12, 28))
    a = repo.add_organisation(db, ADMIN, name="Alder Practice", kind="gp_practice",
                              region="North West")
    b = repo.add_organisation(db, ADMIN, name="Birch Practice", kind="gp_practice",
                              region="North West")
    c = repo.add_organisation(db, ADMIN, name="Cedar Trust", kind="nhs_trust", region="London")
    d = repo.add_organisation(db, ADMIN, name="Damson Homes", kind="housing_association")
    e = repo.add_organisation(db, ADMIN, name="Elm Practice", kind="gp_practice",
                              region="North West")
    for named in (d, e):
        syntheses.set_consent(db, ADMIN, named, named_to_partners=False, named_in_public=True)
    public = learning_record.audience_for(db, ADMIN, public=True)
    # three GP practices in the North West: the label fits more than one
    assert public.label(a) == "a GP practice in the North West (1)"
    assert public.label(b) == "a GP practice in the North West (2)"
    # the only NHS trust, and the only organisation in London: either would name it
    assert public.label(c) == "a partner organisation"
    assert public.label(d) == "Damson Homes"  # it agreed to be named in public
    assert learning_record.audience_for(db, ADMIN).label(a) == "Alder Practice"


def test_a_consent_change_takes_effect_in_the_next_record(demo_db):
    _, ideas, orgs = ids(demo_db)
    hillview = int(orgs["Hillview Surgery (demo)"])
    idea = int(ideas["Text reminder the day before the first session"])  # tested at Hillview

    def label():
        rec = learning_record.record(demo_db, ADMIN, idea, public=True)
        return rec.where.set_index("organisation_id").loc[hillview, "organisation"]

    # Hillview is the only GP practice in Yorkshire, and one of 2 GP practices: the label
    # falls back to the region, which 3 of the demo's organisations share
    assert label() == "an organisation in Yorkshire (1)"
    syntheses.set_consent(demo_db, ADMIN, hillview, named_to_partners=False,
                         named_in_public=True)
    assert label() == "Hillview Surgery (demo)"


def _small_count_lab(db):
    """One organisation, one proportion measure, 20 weeks: denominators of 3 in weeks 5
    and 12, otherwise 20."""
    cid = repo.create_challenge(db, ADMIN, title="T", question="Q", aim="A",
                                start_date=dt.date(2026, 1, 5), end_date=dt.date(2026, 12, 28))
    org = repo.add_organisation(db, ADMIN, name="Small Charity", kind="charity",
                                region="London")
    m = repo.add_measure(db, ADMIN, code="ATT", name="Attended", measure_type="process",
                         definition="d", numerator="n", denominator="d", unit="proportion",
                         direction="increase", data_kind="proportion", frequency="week")
    idea = repo.add_idea(db, ADMIN, cid, title="Welcome call")
    repo.plan_cycle(db, ADMIN, idea_id=idea, organisation_id=org, objective="o",
                    question="q", prediction="p", start_date=dt.date(2026, 2, 2),
                    end_date=dt.date(2026, 2, 15), measure_ids=[m])
    weeks = pd.date_range("2026-01-05", periods=20, freq="7D").date
    den = np.full(20, 20.0)
    den[[4, 11]] = 3
    frame = pd.DataFrame({"organisation_id": org, "measure_id": m, "period": weeks,
                          "value": None, "numerator": np.minimum(den, 12), "denominator": den,
                          "note": None})
    observations.insert_results(db, ADMIN, frame, source="import", file_name="t")
    return idea


def test_points_of_fewer_than_the_smallest_count_are_withheld_outside_the_lab(db):
    idea = _small_count_lab(db)
    inside = learning_record.record(db, ADMIN, idea)
    frame = inside.evidence[0].panels[0][1]
    assert frame["value"].notna().all()
    outside = learning_record.record(db, ADMIN, idea, public=True)
    frame = outside.evidence[0].panels[0][1]
    assert frame["value"].isna().tolist() == [i in (4, 11) for i in range(20)]
    assert frame["upper"].iloc[[4, 11]].isna().all()  # p limits would tell the denominator
    assert outside.audience.withheld.points == 2
    assert "2 chart points based on fewer than 5 people are not shown" in \
        " ".join(outside.audience.withheld.sentences(5))


def test_shared_text_that_names_an_unconsented_organisation_is_withheld(demo_db):
    cid, ideas, _ = ids(demo_db)
    syntheses.write_synthesis(
        demo_db, ADMIN, int(ideas[LEAFLET]), key_learning="It failed at Hillview Surgery.",
        recommendation="stop", reason="Ask the coordinator (tallies@example.net) for the tallies.")
    record = learning_record.record(demo_db, ADMIN, int(ideas[LEAFLET]), public=True)
    assert record.synthesis["key_learning"] is None
    assert record.synthesis["reason"] is None
    said = " ".join(record.audience.withheld.passages)
    assert "names an organisation or a person" in said and "e-mail address" in said


# --------------------------------------------------------------------------- the report

def _forbidden_in_public(db) -> dict[str, list[str]]:
    """Every string the public report must not contain: organisations without public
    consent (full and short name), contacts' names and e-mails, synthesis authors, and the
    cycle notes not marked public (unless the same words are also marked public)."""
    consent = syntheses.consents(db)
    orgs = repo.list_organisations(db, ADMIN)
    hidden = consent[~consent["named_in_public"]]["name"].tolist()
    names = hidden + [re.sub(r"\s*\(demo\)$", "", n) for n in hidden]
    people = orgs["contact_name"].dropna().tolist() + orgs["contact_email"].dropna().tolist()
    every = syntheses.syntheses(db, every_version=True)
    people += [p for p in every["reviewed_by"].dropna().tolist() + every["written_by"].tolist()]
    from tracker.community import participants

    # participants: never an e-mail, and a name only where they agreed to be named
    taking_part = participants.list_participants(db, ADMIN, repo.get_challenge(db)["id"])
    people += taking_part["email"].dropna().tolist()
    people += taking_part.loc[~taking_part["may_name"].astype(bool), "name"].tolist()
    cycles = repo.list_cycles(db, ADMIN, repo.get_challenge(db)["id"])
    marks = syntheses.excerpt_marks(db)
    public = {(int(c), f) for c, f, a in zip(marks["cycle_id"], marks["field"],
                                             marks["audience"], strict=True) if a == "public"}
    public_text = {cycles.set_index("id").loc[c, f] for c, f in public}
    notes = set()
    for field in syntheses.EXCERPT_FIELDS:
        for cycle_id, value in zip(cycles["id"], cycles[field], strict=True):
            if isinstance(value, str) and (int(cycle_id), field) not in public \
                    and value not in public_text:
                notes.add(value)
    for field in ("objective", "question", "plan_who", "plan_where", "do_notes"):
        notes |= {v for v in cycles[field].dropna()}
    notes -= set(consent.loc[consent["named_in_public"], "name"])  # a plan_where of theirs
    return {"organisations": names, "people": people, "notes": sorted(notes)}


def _flat(text: str) -> str:
    return " ".join(text.split())


def _scan(text: str, forbidden: dict[str, list[str]]) -> list[str]:
    flat = _flat(text).casefold()
    return [f"{kind}: {item}" for kind, items in forbidden.items() for item in items
            if _flat(item).casefold() in flat]


@pytest.fixture
def reports(demo_learning_reports):
    """The demo's public report (made by a partner) and internal report (conftest: built once
    per run for the tests that only read them), and what the public one may not hold."""
    return demo_learning_reports


def test_the_public_report_of_the_demo_holds_nothing_it_may_not(reports):
    forbidden = reports["forbidden"]
    assert len(forbidden["organisations"]) >= 4 and len(forbidden["notes"]) > 20
    html = reports["public"]  # made by a partner: anyone may make the public version
    assert _scan(html, forbidden) == []
    raw = html.encode("utf-8")
    for item in forbidden["organisations"] + forbidden["people"]:
        assert item.encode("utf-8") not in raw
    # what it withheld is said; what was marked public is there
    assert "What this version withholds" in html
    assert "shown by kind and region" in html and "not marked shareable" in html
    assert "Peer Pathways (demo)" in html  # agreed to be named in public
    assert "an organisation in Yorkshire (1)" in html
    assert "a GP practice in Yorkshire" not in html  # it would fit Hillview alone
    # the internal version differs visibly: the same scan finds names and notes there
    internal = reports["internal"]
    found = _scan(internal, forbidden)
    assert any(f.startswith("organisations:") for f in found)
    assert any(f.startswith("notes:") for f in found)
    assert "Internal version" in internal and "Public version" in html


@pytest.mark.skipif(shutil.which("chromium") is None or shutil.which("pdftotext") is None,
                    reason="needs Debian's chromium and poppler-utils")
def test_the_public_pdf_holds_nothing_it_may_not(demo_db, tmp_path, reports):
    out = learning_report.write_learning_report(demo_db, ADMIN, tmp_path / "public.pdf",
                                                public=True)
    assert out.read_bytes().startswith(b"%PDF")
    text = subprocess.run(["pdftotext", str(out), "-"], capture_output=True, text=True,
                          check=True).stdout
    assert "What we learned" in text and "Public version" in text
    forbidden = _forbidden_in_public(demo_db)
    # PDF text runs chart labels together ("A2" + "people per week"), so a note as short as
    # a scale ("2 people") can appear by chance; the HTML scan above checks those exactly
    forbidden["notes"] = [n for n in forbidden["notes"] if len(n) >= 12]
    assert _scan(text, forbidden) == []
    # no heading is left alone at the foot of a page (issue 22)
    headings = {html.unescape(h).strip() for h in re.findall(r"<h[2-4][^>]*>(.*?)</h[2-4]>",
                                                              reports["public"], re.S)}
    lasts = [lines[-1] for page in text.split("\f")
             if (lines := [line.strip() for line in page.splitlines() if line.strip()])]
    assert len(lasts) > 10 and not [line for line in lasts if line in headings]


def test_the_report_is_one_self_contained_file_that_runs_nothing(reports):
    html = reports["public"]
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    assert html.count("<svg") >= 10  # the driver diagram and the evidence, inline
    for pattern in (r"<script", r"<link\b", r"@import", r"\bsrc\s*=\s*[\"']?https?:",
                    r"\bhref\s*=\s*[\"']?https?:", r"<iframe",
                    r"<img\b(?![^>]*\bsrc=\"data:image/(png|jpeg|webp);base64,)"):
        assert not re.search(pattern, html, re.IGNORECASE), pattern
    # the demo's photo marked public is in the file itself (and the CSP allows only that)
    assert re.search(r'<img src="data:image/jpeg;base64,[A-Za-z0-9+/=]+" alt=', html)


def test_the_internal_report_is_for_the_lab_admin_only(demo_db):
    for scope in (partner(demo_db), VIEWER):
        with pytest.raises(PermissionDenied, match="internal learning report"):
            learning_report.build_html(demo_db, scope, public=False)
        assert "Public version" in learning_report.build_html(demo_db, scope, public=True,
                                                              ideas=[LEAFLET])


def test_a_public_report_with_nothing_shareable_says_what_to_mark(db):
    _small_count_lab(db)
    html = learning_report.build_html(db, ADMIN, public=True)
    assert "Nothing in this report has been written or marked for the public yet" in html
    assert "mark the cycle notes that may be published as Public" in html


def test_user_text_in_the_report_is_text(demo_db):
    cid, ideas, _ = ids(demo_db)
    hostile = "<script>alert(1)</script> <img src=x onerror=alert(1)> [a](javascript:x)"
    repo.update_idea(demo_db, ADMIN, int(ideas[LEAFLET]), title=f"Leaflet {hostile[:20]}",
                     description=hostile, driver_ids=[])
    syntheses.write_synthesis(demo_db, ADMIN, int(ideas[LEAFLET]), key_learning=hostile,
                             recommendation="stop", reason=hostile)
    html = learning_report.build_html(demo_db, ADMIN, public=False,
                                      ideas=[f"Leaflet {hostile[:20]}"])
    assert "<script" not in html.lower() and "<img" not in html.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_abandoned_ideas_keep_their_record_and_say_why(reports):
    html = reports["public"]
    section = html[html.index("What did not work, and why"):]
    assert LEAFLET in section and "WhatsApp group moderated by a peer supporter" in section
    assert "No referral named the leaflet" in section


def test_unknown_ideas_and_file_types_are_refused_in_words(demo_db, tmp_path):
    with pytest.raises(InputError, match="No idea called 'Leaflets in pharmacies'"):
        learning_report.build_html(demo_db, ADMIN, public=True, ideas=["Leaflets in pharmacies"])
    with pytest.raises(InputError, match=r"\.html or \.pdf, not '\.docx'"):
        learning_report.write_learning_report(demo_db, ADMIN, tmp_path / "r.docx", public=True)


def test_printing_to_pdf_without_chromium_says_what_to_do(demo_db, tmp_path, monkeypatch):
    monkeypatch.setenv("TRACKER_CHROMIUM", str(tmp_path / "no-such-browser"))
    with pytest.raises((InputError, OSError)):
        learning_report.write_learning_report(demo_db, ADMIN, tmp_path / "r.pdf", public=True,
                                              ideas=[LEAFLET])
    monkeypatch.delenv("TRACKER_CHROMIUM")
    monkeypatch.setattr(learning_report, "chromium", lambda: None)
    with pytest.raises(InputError, match="needs Chromium"):
        learning_report.write_learning_report(demo_db, ADMIN, tmp_path / "r.pdf", public=True,
                                              ideas=[LEAFLET])
    assert not (tmp_path / "r.pdf").exists()


# --------------------------------------------------------------------------- what's new


def test_whats_new_is_scoped_to_the_reader(demo_db):
    since = AS_OF - dt.timedelta(days=120)  # what the demo did lately
    lab = whats_new.whats_new(demo_db, ADMIN, since)
    pp = whats_new.whats_new(demo_db, partner(demo_db), since)
    assert set(lab["what"]) >= {"Cycle started", "Decision", "Signal", "Learning written"}
    others = [n for n in repo.list_organisations(demo_db, ADMIN)["name"] if n != PP]
    for text in pp["text"]:
        assert not any(o in text for o in others), text
    assert set(pp["organisation"]) - {""} <= {PP}
    # the syntheses a partner hears of are those of the ideas it tests
    tested = set(learning_record.ideas_for(demo_db, partner(demo_db),
                                           repo.get_challenge(demo_db)["id"])["title"])
    assert set(pp.loc[pp["what"] == "Learning written", "idea"]) <= tested
    assert len(pp) < len(lab)
    assert (pd.Series(lab["when"]) >= since).all()



def test_the_signals_of_what_is_new_are_kept_apart_from_the_date(demo_db):
    """A sign-in asks what is new since the person's last visit, a date that is new each time;
    the special cause points it looks through do not depend on it, so the app keeps them per
    reader and change of the data (`signal_points`) instead of charting every series at each
    sign-in (a second of it on the scale database). Given or not, the answer is the same."""
    for scope in (ADMIN, partner(demo_db)):
        points = whats_new.signal_points(demo_db, scope)
        assert set(points["point_type"]) == {"improvement", "concern"}
        for days in (14, 120, 400):
            since = AS_OF - dt.timedelta(days=days)
            pd.testing.assert_frame_equal(
                whats_new.whats_new(demo_db, scope, since, points=points),
                whats_new.whats_new(demo_db, scope, since))
    pp_points = whats_new.signal_points(demo_db, partner(demo_db))
    own = repo.list_organisations(demo_db, partner(demo_db))["id"]
    assert pp_points["organisation_id"].isin(own).all()  # a partner's own series only

# --------------------------------------------------------------------------- the command line


def test_the_learning_and_digest_commands(demo_path, tmp_path, capsys):
    out = tmp_path / "public.html"
    assert main(["learning", "--db", str(demo_path), "--public", "--out", str(out),
                 "--ideas", WELCOME, LEAFLET]) == 0
    assert "public version" in capsys.readouterr().out
    html = out.read_text()
    assert WELCOME in html and LEAFLET in html and "Walk-and-talk" not in html.split(
        "The measures: operational definitions")[0].split("Summary of the ideas")[1]
    assert main(["learning", "--db", str(demo_path), "--out", str(tmp_path / "x.docx")]) == 1
    assert "not '.docx'" in capsys.readouterr().err
    assert main(["learning", "--db", str(demo_path), "--out", str(tmp_path / "i.html"),
                 "--ideas", "Nonsense idea"]) == 1
    assert "No idea called 'Nonsense idea'" in capsys.readouterr().err
    since = (AS_OF - dt.timedelta(days=60)).isoformat()  # the demo's last two months
    md = tmp_path / "digest.md"
    assert main(["digest", "--db", str(demo_path), "--since", since, "--org", PP,
                 "--out", str(md)]) == 0
    text = md.read_text()
    assert text.startswith("# What") and f"For {PP}" in text.replace("\\", "")
    assert "Hillview Surgery" not in text
    page = tmp_path / "digest.html"
    assert main(["digest", "--db", str(demo_path), "--since", since, "--out", str(page)]) == 0
    assert "<h2>Decisions</h2>" in page.read_text()
    future = (clock.today() + dt.timedelta(days=5)).isoformat()
    assert main(["digest", "--db", str(demo_path), "--since", future, "--out", str(md)]) == 1
    assert "in the future" in capsys.readouterr().err
    assert main(["digest", "--db", str(demo_path), "--since", since, "--org", "Nowhere",
                 "--out", str(md)]) == 1
    assert "No organisation is called 'Nowhere'" in capsys.readouterr().err


def test_markdown_of_the_digest_cannot_make_links_or_headings():
    from tracker.text import markdown_text

    out = markdown_text("# Heading\n[a](javascript:x) ![i](http://x/y.png) <b>")
    assert "\n" not in out and "\\#" in out and "\\[a\\]" in out and "\\<b\\>" in out
    assert "http:" not in out  # a word joiner keeps the address from becoming a link


def test_partners_may_make_the_public_report_but_scope_is_checked(demo_db):
    # a partner's public report is the same public report (no more, no less)
    a = learning_report.build_html(demo_db, partner(demo_db), public=True, ideas=[WELCOME])
    b = learning_report.build_html(demo_db, auth.Scope.admin("x"), public=True,
                                   ideas=[WELCOME])
    assert a == b


# --------------------------------------------------------------------------- the page


def test_the_lab_admin_writes_a_synthesis_and_shares_a_note_on_the_page(monkeypatch,
                                                                         demo_path):
    from conftest import ROOT, shown
    from streamlit.testing.v1 import AppTest

    from tracker.storage.db import Database

    monkeypatch.setenv("TRACKER_DB", str(demo_path))
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=120)
    at.run()
    at.switch_page("app_pages/learning.py").run()
    with Database(demo_path) as db:
        _, ideas, _ = ids(db)
    idea = int(ideas["Text reminder the day before the first session"])
    at.selectbox(key="learn_idea").set_value(idea).run()
    form = f"synthesis_{idea}"
    # refused: nothing chosen, nothing typed; the fields say what is missing
    [b for b in at.button if b.label == "Save as a new version"][0].click().run()
    assert "Nothing was saved" in shown(at.error[0].value)
    assert any("Key learning is required" in shown(c.value) for c in at.caption)
    at.text_area(key=f"{form}_key").input("Afternoon reminders with a name work best.")
    at.radio(key=f"{form}_rec").set_value("spread")
    at.text_area(key=f"{form}_reason").input("Both practices adopted it after 3 cycles.")
    [b for b in at.button if b.label == "Save as a new version"][0].click().run()
    assert not at.exception and not at.error
    with Database(demo_path) as db:
        saved = syntheses.syntheses(db, [idea])
        assert saved["key_learning"].iloc[0] == "Afternoon reminders with a name work best."
        cycle = repo.list_cycles(db, ADMIN, ids(db)[0], idea_id=idea).sort_values(
            ["start_date", "cycle_no", "id"]).iloc[0]
    at.segmented_control(key=f"share_{cycle['id']}_learning").set_value("public")
    [b for b in at.button if b.label == "Save sharing"][0].click().run()
    assert not at.exception and not at.error
    with Database(demo_path) as db:
        marks = syntheses.excerpt_marks(db, [int(cycle["id"])])
        assert marks.set_index("field").loc["learning", "audience"] == "public"


def test_the_export_holds_the_learning_for_the_lab_team_only(demo_db, tmp_path):
    from tracker.intake import export

    lab = {p.name for p in export.export_all(demo_db, ADMIN, tmp_path / "lab")}
    assert {"syntheses.csv", "shared_notes.csv", "organisation_consents.csv",
            "sharing_rules.csv"} <= lab
    assert len(pd.read_csv(tmp_path / "lab" / "syntheses.csv")) == 5
    own = {p.name for p in export.export_all(demo_db, partner(demo_db), tmp_path / "pp")}
    assert not {"syntheses.csv", "shared_notes.csv", "organisation_consents.csv"} & own


def test_a_participant_not_agreeing_to_be_named_is_never_named_outside_the_lab(demo_db):
    from tracker.community import participants

    cid, ideas, _ = ids(demo_db)
    participants.add_participant(demo_db, ADMIN, cid, name="Rowan Quill", taking_part="carer",
                                 may_name=False)
    participants.add_participant(demo_db, ADMIN, cid, name="Sol Ames", taking_part="carer",
                                 may_name=True)
    syntheses.write_synthesis(demo_db, ADMIN, int(ideas[LEAFLET]),
                             key_learning="Rowan Quill said nobody read the leaflet.",
                             recommendation="stop", reason="Sol Ames ran the tally.")
    public = learning_record.record(demo_db, ADMIN, int(ideas[LEAFLET]), public=True)
    assert public.synthesis["key_learning"] is None  # withheld, and said
    assert public.synthesis["reason"] == "Sol Ames ran the tally."  # agreed to be named
