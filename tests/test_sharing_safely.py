"""Sharing safely (issue 20), tried as an adversary would.

1. Disguised names, e-mail addresses and phone numbers are planted in every text field of the
   demo (through the data layer, as the lab admin and as a partner writing its own cycle).
   The public report, the digest, a partner's and a viewer's records, idea table and search
   are then built, folded as the last check folds text, and scanned for what was planted.
2. A withheld count cannot be computed back from anything published: the mean, limits and
   every number in the drawn chart come from the points shown alone.
3. A label fits at least as many organisations as the disclosure threshold.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil

import numpy as np
import pandas as pd
import pytest

from tracker import clock
from tracker.access import disclosure, sensitive
from tracker.access.scope import Scope
from tracker.community import comments, events, participants
from tracker.errors import InputError
from tracker.learning import learning_record, learning_report, sharing_check, syntheses, whats_new
from tracker.records import cycles, observations, repo
from tracker.storage.db import Database

pytestmark = pytest.mark.dates

ADMIN = Scope.admin("lab lead")
VIEWER = Scope(actor="leader", role="viewer")
WELCOME = "Peer-led welcome call within a week of referral"
READER, WRITER = "Peer Pathways (demo)", "Kindred Voices (demo)"

# What must never reach a reader outside the lab, in every disguise: an organisation that did
# not agree to be named (Hillview, Westbrook), participants who did not agree to be named
# (Sarah Kowalski, Bilal Kerr), any e-mail address, any UK phone number.
VARIANTS = [
    "Hillview   Surgery", "Hillview\nSurgery", "Hill\u200bview Surgery", "Hillvi\u0435w Surgery",
    "Hillview's rota", "Hillview\u2019s rota", "the HILLVIEW practice", "Westbrook",
    "sarah  kowalski", "Sarah\u00a0Kowalski", "S. Kowalski", "Bilal\nKerr", "B\u200bilal Kerr",
    "kowalski\uff20example.org", "kowalski @ example.org", "kowalski(at)example.org",
    "Hill\u00adview", "\ufeffHillview", "\uff28\uff49\uff4c\uff4c\uff56\uff49\uff45\uff57",
    "Hillv\u00edew", "hillview_surgery", "Dr Kowalski", "B. Kerr", "someone@nhs.net",
    "a.person [at] trust [dot] nhs [dot] uk", "mailto:x@y.org", "ring 01234 567890",
    "07700 900 123", "+44 (0)113 496 0000",
]
# found in the folded output, any of these is a leak (the e-mails' and phones' own parts)
LEAKS = ["hillview", "westbrook", "kowalski", "bilal kerr", "b kerr", "example org",
         "nhs net", "dot nhs", "y org", "567890", "900 123", "496 0000"]
NAMES_AND_CONTACTS = [leak for leak in LEAKS if leak not in ("hillview", "westbrook")]


def _leaks(text: str, leaks=LEAKS) -> list[str]:
    folded = " ".join(sensitive.words(text))
    return [leak for leak in leaks if re.search(rf"(?<![a-z0-9]){leak}(?![a-z0-9])", folded)]


def _plant(db: Database, round_no: int) -> dict:
    """Every text field gets a variant (a different one per field, all of them over the
    rounds); returns what a test needs to find the planted things."""
    cid = repo.get_challenge(db)["id"]
    ideas = repo.list_ideas(db, cid).set_index("title")["id"]
    orgs = repo.list_organisations(db, ADMIN).set_index("name")["id"]
    queue = iter(VARIANTS[(round_no * 17 + i) % len(VARIANTS)] for i in range(10_000))

    def v(label: str) -> str:
        return f"{label}: {next(queue)} said so."

    def put(write):  # a variant the data layer refuses (invisible characters in a title,
        for _ in VARIANTS:  # say) never gets in: plant the next one there instead
            try:
                return write()
            except InputError:
                continue
        raise AssertionError("no variant could be planted")

    for name in ("Sarah Kowalski", "Bilal Kerr (demo)"):  # did not agree to be named
        participants.add_participant(db, ADMIN, cid, name=name, taking_part="peer_supporter",
                                     organisation_id=int(orgs[WRITER]), may_name=False)
    challenge = repo.get_challenge(db)
    put(lambda: repo.update_challenge(db, ADMIN, cid, title=v("Title"), question=v("Question"),
                                      aim=v("Aim"), start_date=challenge["start_date"],
                                      end_date=challenge["end_date"]))
    put(lambda: repo.add_phase(db, ADMIN, cid, name=v("Phase"),
                               start_date=challenge["start_date"],
                               end_date=challenge["start_date"] + dt.timedelta(days=30)))
    put(lambda: events.add_event(db, ADMIN, cid, on_date=challenge["start_date"],
                                 name=v("Event"), phase_id=None, participant_ids=[]))
    idea = int(ideas[WELCOME])
    driver = put(lambda: repo.add_driver(db, ADMIN, cid, level="primary", name=v("Driver")))
    put(lambda: repo.update_idea(db, ADMIN, idea, title=v("Idea"),
                                 description=v("Description"), driver_ids=[driver]))
    measure = put(lambda: repo.add_measure(
        db, ADMIN, code="PLANT", name=v("Measure"), measure_type="process",
        definition=v("Definition"), unit="people", direction="increase", data_kind="value",
        frequency="week"))
    writer = Scope(actor="kindred user", role="partner", organisation_id=int(orgs[WRITER]),
                   organisation=WRITER)
    start = clock.today() - dt.timedelta(days=20)
    cycle = put(lambda: cycles.plan_cycle(
        db, writer, idea_id=idea, organisation_id=int(orgs[WRITER]), objective=v("Objective"),
        question=v("Question"), prediction=v("Prediction"), start_date=start,
        end_date=start + dt.timedelta(days=7), plan_who=v("Who"), plan_where=v("Where"),
        data_collection=v("Data"), scale=v("Scale"), measure_ids=[measure]))
    put(lambda: cycles.record_do(db, writer, cycle, do_notes=v("Done"), went_as_planned=True,
                                 observations=v("Observed")))
    put(lambda: cycles.record_study(db, writer, cycle, study_notes=v("Study"),
                                    learning=v("Learned")))
    put(lambda: cycles.record_act(db, writer, cycle, decision="adapt", next_steps=v("Next")))
    for note, audience in (("prediction", "public"), ("scale", "public"),
                           ("observations", "public"), ("study_notes", "partners"),
                           ("learning", "public"), ("next_steps", "public")):
        syntheses.mark_excerpt(db, ADMIN, cycle, note, audience)
    put(lambda: syntheses.write_synthesis(
        db, ADMIN, idea, key_learning=v("Key"), recommendation="spread", reason=v("Reason"),
        worked_when=v("Worked"), did_not_work_when=v("Not"), reviewed_by="Sarah Kowalski",
        reviewed_on=clock.today()))
    # discussion: the writer's organisation on every kind of thread, the lab on the idea's
    for topic in (comments.Topic.idea(idea), comments.Topic.cycle(db, cycle),
                  comments.Topic.learning(idea), comments.Topic.chart(measure, int(orgs[WRITER]))):
        put(lambda t=topic: comments.post(db, writer, t, v("Comment")))
    put(lambda: comments.post(db, ADMIN, comments.Topic.idea(idea), v("Lab comment")))
    # files: the writer's photo on its cycle, the lab's on the idea (marked public), captioned
    from test_attachments import png

    from tracker.community import attachments

    put(lambda: attachments.attach(db, writer, comments.Topic.cycle(db, cycle), "poster.png",
                                   png(), caption=v("Photo caption")))
    shown_in_public = put(lambda: attachments.attach(
        db, ADMIN, comments.Topic.idea(idea), "poster.png", png(), caption=v("Public caption")))
    attachments.mark_public(db, ADMIN, shown_in_public[0], True)
    from tracker.community import insights

    put(lambda: insights.add_insight(db, ADMIN, cid, source="interview",
                                     heard_on=challenge["start_date"], summary=v("Insight"),
                                     quote=v("Quote"), quote_consent=True, idea_ids=[idea]))
    return {"idea": idea, "cycle": cycle, "measure": measure}


@pytest.fixture(scope="module", params=[0, 1], ids=["round-1", "round-2"])
def planted(request, demo_template, tmp_path_factory):
    path = tmp_path_factory.mktemp("planted") / "demo.duckdb"
    shutil.copy(demo_template, path)
    db = Database(path)
    yield db, _plant(db, request.param)
    db.close()


def _reader(db: Database) -> Scope:
    orgs = repo.list_organisations(db, ADMIN).set_index("name")["id"]
    return Scope(actor="pp user", role="partner", organisation_id=int(orgs[READER]),
                 organisation=READER)


def _record_text(rec: learning_record.Record) -> str:
    parts = [str(v) for v in rec.idea.values()]
    parts += rec.where.astype(str).to_numpy().ravel().tolist()
    parts += [str(c) for c in rec.cycles]
    parts += [str(rec.synthesis)]
    for e in rec.evidence:
        parts += [e.name, e.unit, e.verdict]
        for title, frame, shown in e.panels:
            parts += [title, frame.to_csv(), shown.to_csv()]
    parts += rec.audience.withheld.sentences(rec.audience.min_count)
    return "\n".join(parts)


def test_the_public_report_holds_nothing_planted(planted, tmp_path):
    import subprocess

    db, found = planted
    html = learning_report.build_html(db, ADMIN, public=True, ideas=[found["idea"]])
    assert _leaks(html) == []
    if learning_report.chromium():  # and the same printed to PDF, read back as text
        pdf = learning_report.html_to_pdf(html, tmp_path / "public.pdf")
        text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True,
                              check=True).stdout
        assert "What this version withholds" in text and _leaks(text) == []
    assert "What this version withholds, and why" in html
    assert "an idea of the lab's (1)" in html  # the idea's title named someone: a stand-in
    assert not re.search(r">\s*nan\s*<", html)  # a withheld text leaves nothing in its place
    internal = learning_report.build_html(db, ADMIN, public=False, ideas=[found["idea"]])
    assert "kowalski" in _leaks(internal) or "hillview" in _leaks(internal)  # the lab reads all


@pytest.mark.parametrize("who", ["partner", "viewer"])
def test_a_partner_and_a_viewer_read_nothing_planted(planted, who, tmp_path):
    db, found = planted
    scope = _reader(db) if who == "partner" else VIEWER
    leaks = LEAKS if who == "partner" else NAMES_AND_CONTACTS  # a viewer reads every name
    rec = learning_record.record(db, scope, found["idea"])
    assert _leaks(_record_text(rec), leaks) == []
    assert rec.idea["description"] is None or isinstance(rec.idea["description"], str)
    index = learning_record.idea_index(db, scope, repo.get_challenge(db)["id"])
    assert _leaks(index.astype(str).to_csv(), leaks) == []
    for word in ("kowalski", "kerr", "example", "567890") + (
            ("hillview", "westbrook") if who == "partner" else ()):
        found_by = learning_record.idea_index(db, scope, repo.get_challenge(db)["id"],
                                              search=word)
        assert found_by.empty, (word, found_by["title"].tolist())
    since = clock.today() - dt.timedelta(days=60)
    assert _leaks(whats_new.whats_new(db, scope, since).to_csv(), leaks) == []
    for suffix in (".html", ".md"):
        out = whats_new.digest(db, scope, since, tmp_path / f"digest{suffix}")
        assert _leaks(out.read_text(encoding="utf-8"), leaks) == []


@pytest.mark.parametrize("who", ["partner", "viewer"])
def test_every_discussion_a_partner_and_a_viewer_may_read_holds_nothing_planted(planted, who):
    """Every thread in the database, read as another partner and as a viewer: those they
    may not read are refused; in those they may, nothing planted is readable (nor in For
    you). The lab reads it all (the scan is not blind)."""
    from tracker.errors import PermissionDenied

    db, _ = planted
    scope = _reader(db) if who == "partner" else VIEWER
    leaks = LEAKS if who == "partner" else NAMES_AND_CONTACTS
    topics = {comments._topic_of(r) for r in db.read("SELECT * FROM comment").to_dict("records")}
    read, refused, everything = 0, 0, []
    for topic in topics:
        everything.append(comments.thread(db, ADMIN, topic).to_csv())
        if comments.may_read(db, scope, topic):
            shown = comments.thread(db, scope, topic)
            assert _leaks(shown.to_csv(), leaks) == [], topic
            read += 1
        else:
            with pytest.raises(PermissionDenied):
                comments.thread(db, scope, topic)
            refused += 1
    assert read and (refused or who == "viewer")
    assert _leaks(comments.for_you(db, scope).drop(columns="topic").to_csv(), leaks) == []
    assert _leaks("\n".join(everything), leaks)  # the lab reads what was planted


# --------------------------------------------------------------------------- recovery


def _small_counts_lab(db: Database) -> tuple[int, dict]:
    """Three organisations count the people attending each week for 30 weeks; each has
    weeks with fewer people than the smallest count (5), and tests one idea."""
    repo.create_challenge(db, ADMIN, title="Counts", question="Q", aim="A",
                          start_date=dt.date(2026, 1, 5), end_date=dt.date(2026, 12, 28))
    cid = repo.get_challenge(db)["id"]
    measure = repo.add_measure(db, ADMIN, code="ATT", name="People attending",
                               measure_type="outcome", definition="People at a session",
                               unit="people", direction="increase", data_kind="value",
                               frequency="week")
    idea = repo.add_idea(db, ADMIN, cid, title="Evening sessions")
    rng = np.random.default_rng(7)
    weeks = pd.date_range("2026-01-05", periods=30, freq="7D")
    hidden = {}
    for k, (name, kind) in enumerate((("Ash Practice", "gp_practice"),
                                      ("Birch Trust", "nhs_trust"),
                                      ("Cedar Group", "charity"))):
        org = repo.add_organisation(db, ADMIN, name=name, kind=kind, region="London")
        values = rng.integers(6, 30, size=len(weeks)).astype(float)
        small = [3 + k, 11 + 2 * k, 20 + k]
        values[small] = [1, 2, 4]
        observations.insert_results(db, ADMIN, pd.DataFrame({
            "organisation_id": org, "measure_id": measure, "period": weeks, "value": values,
            "numerator": None, "denominator": None, "note": None}),
            source="import", file_name="counts.csv")
        cycles.plan_cycle(db, ADMIN, idea_id=idea, organisation_id=org, objective="Try",
                          question="Will more come?", prediction="More will come",
                          start_date=weeks[8].date(), end_date=weeks[12].date(),
                          measure_ids=[measure])
        hidden[name] = {"values": values, "small": small}
    return idea, hidden


def _numbers(text: str) -> list[float]:
    return [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", text.replace(",", ""))]


def _recovered(published: list[float], shown: np.ndarray, secret: float) -> bool:
    """Could any published number be a mean (of all points) that gives the secret away:
    mean x n - the visible sum = the secret?"""
    n = len(shown) + 1
    return any(abs(x * n - shown.sum() - secret) < 0.05 for x in published if x > 0)


@pytest.mark.parametrize("who", ["public", "partner"])
def test_no_withheld_count_can_be_computed_back(db, who):
    idea, truth = _small_counts_lab(db)
    orgs = repo.list_organisations(db, ADMIN).set_index("name")["id"]
    scope = ADMIN if who == "public" else Scope(
        actor="ash", role="partner", organisation_id=int(orgs["Ash Practice"]),
        organisation="Ash Practice")
    rec = learning_record.record(db, scope, idea, public=who == "public")
    panels = rec.evidence[0].panels
    assert rec.audience.withheld.points == (9 if who == "public" else 6)
    html = learning_report.build_html(db, scope, public=True) if who == "public" else ""
    for title, frame, _ in panels:
        name = next((n for n in truth if n == title), None)
        if name is None:  # shown by a label: find it by its visible values
            name = next(n for n, t in truth.items() if np.allclose(
                np.delete(t["values"], t["small"]), frame["value"].dropna().to_numpy()))
        if who == "partner" and name == "Ash Practice":
            assert frame["value"].notna().all()  # its own counts, every one
            continue
        values, small = truth[name]["values"], truth[name]["small"]
        shown = frame["value"].dropna().to_numpy()
        assert len(shown) == len(values) - len(small)
        # the mean and limits are those of the points shown: nothing else went in
        assert frame["centre"].dropna().round(9).unique().tolist() == [round(shown.mean(), 9)]
        published = frame[["centre", "upper", "lower"]].stack().tolist() + _numbers(html)
        for secret in values[small]:
            assert not _recovered(published, shown, secret), (name, secret)
        assert frame["value"].iloc[small].isna().all()


def test_labels_fit_at_least_the_threshold_of_organisations():
    consents = pd.DataFrame({
        "organisation_id": [1, 2, 3, 4, 5, 6, 7],
        "name": ["A", "B", "C", "D", "E", "F", "G"],
        "kind": ["gp_practice", "gp_practice", "gp_practice", "charity", "charity",
                 "nhs_trust", "charity"],
        "region": ["Yorkshire", "Yorkshire", "Yorkshire", "Yorkshire", "London", "Kent", None],
        "named_to_partners": False, "named_in_public": [False] * 6 + [True]})
    public = disclosure.Audience(disclosure.PUBLIC, consents, min_count=5)
    assert [public.label(o) for o in range(1, 7)] == [
        "a GP practice in Yorkshire (1)", "a GP practice in Yorkshire (2)",
        "a GP practice in Yorkshire (3)",
        "a charity (1)",  # the only charity in Yorkshire; 3 charities in the lab
        "a charity (2)",
        "a partner organisation"]  # the only NHS trust, the only one in Kent
    assert public.label(7) == "G"
    assert not public.is_named(1) and public.is_named(7)
    strict = disclosure.Audience(disclosure.PUBLIC, consents, min_count=5, min_group=4)
    assert strict.label(1) == "an organisation in Yorkshire (1)"  # 4 share the region
    assert strict.label(5) == "a partner organisation (1)"


# --------------------------------------------------------------------------- marks


def test_a_mark_goes_back_to_the_lab_when_its_text_changes(demo_db):
    """The lab marked a partner's notes Public; the partner rewrites them to name a contact.
    The mark goes back to the lab team (audited), the public report does not print the new
    text, and the lab admin sees the note changed since it was shared."""
    marks = syntheses.excerpt_marks(demo_db)
    public = marks[marks["audience"] == "public"]
    cycle_id = int(public["cycle_id"].iloc[0])
    fields = set(public.loc[public["cycle_id"] == cycle_id, "field"])
    for field in ("study_notes", "learning"):
        if field not in fields:
            syntheses.mark_excerpt(demo_db, ADMIN, cycle_id, field, "public")
    cycle = cycles.get_cycle(demo_db, ADMIN, cycle_id)
    orgs = repo.list_organisations(demo_db, ADMIN).set_index("id")["name"]
    writer = Scope(actor="partner user", role="partner",
                   organisation_id=int(cycle["organisation_id"]),
                   organisation=orgs[cycle["organisation_id"]])
    rewritten = "Ring our contact on 0113 496 0000 or kowalski(at)example.org."
    cycles.record_study(demo_db, writer, cycle_id, study_notes=rewritten,
                        learning=cycle["learning"])  # the learning itself is unchanged
    now = syntheses.excerpt_marks(demo_db, [cycle_id]).set_index("field")["audience"]
    assert "study_notes" not in now and now["learning"] == "public"
    assert syntheses.changed_since_shared(demo_db, [cycle_id]) == {
        (cycle_id, "study_notes"): "public"}
    audit = demo_db.read("SELECT actor, CAST(after AS VARCHAR) AS after FROM audit_log"
                         " WHERE entity = 'excerpt_share' ORDER BY id DESC LIMIT 1")
    assert audit["actor"].iloc[0] == "partner user"
    assert "the note changed" in audit["after"].iloc[0]
    rec = learning_record.record(demo_db, ADMIN, int(cycle["idea_id"]), public=True)
    assert rewritten not in str(rec.cycles)
    inside = learning_record.record(demo_db, ADMIN, int(cycle["idea_id"]))
    row = next(c for c in inside.cycles if c["cycle_id"] == cycle_id)
    assert row["changed"] == {"study_notes": "public"} and row["shared"]["study_notes"] == "lab"
    syntheses.mark_excerpt(demo_db, ADMIN, cycle_id, "study_notes", "partners")  # read again
    assert syntheses.changed_since_shared(demo_db, [cycle_id]) == {}


# --------------------------------------------------------------------------- the writer


def test_the_writer_is_told_who_will_not_see_a_text(demo_db):
    said = sharing_check.warnings(demo_db, {
        "The key learning": "Hillview's rota freed a Tuesday.",
        "The reason": "Ask kowalski (at) example.org.",
        "Where it worked": "At Peer Pathways, every week.",  # named to everyone
        "Next steps": "",
    })
    assert said == [
        "The key learning names Hillview Surgery (demo), which has not agreed to be named to "
        "partners or in public: partners and the public will not see it. It is saved, and "
        "the lab team reads it; edit it if it is meant to be shared.",
        "The reason names Sarah Kowalski, who has not agreed to be named in shared learning; "
        "holds an e-mail address: viewers, partners and the public will not see it. It is "
        "saved, and the lab team reads it; edit it if it is meant to be shared."]
    kindred = sharing_check.warnings(demo_db, {"Study": "Kindred Voices ran it."})
    assert kindred and "in public: the public will not see it" in kindred[0]


def test_the_page_says_who_will_not_see_what_was_saved(monkeypatch, demo_path):
    from conftest import ROOT, shown
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("TRACKER_DB", str(demo_path))
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=120)
    at.run()
    at.switch_page("app_pages/learning.py").run()
    with Database(demo_path) as db:
        cid = repo.get_challenge(db)["id"]
        idea = int(repo.list_ideas(db, cid).set_index("title")["id"][WELCOME])
    at.selectbox(key="learn_idea").set_value(idea).run()
    form = f"synthesis_{idea}"
    at.text_area(key=f"{form}_key").input("It worked best at Hill\u200bview Surgery.")
    at.radio(key=f"{form}_rec").set_value("spread")
    at.text_area(key=f"{form}_reason").input("Every partner kept it.")
    [b for b in at.button if b.label == "Save as a new version"][0].click().run()
    assert not at.exception and not at.error
    warned = " ".join(shown(w.value) for w in at.warning)
    assert "The key learning names Hillview Surgery (demo)" in warned
    assert "partners and the public will not see it" in warned
    with Database(demo_path) as db:  # saved all the same
        assert "Hill\u200bview" in syntheses.syntheses(db, [idea])["key_learning"].iloc[0]


# --------------------------------------------------------------------------- every page


def _frames_text(raw: bytes) -> str:
    """What the app sent, as text: chart specs carry JSON escapes (\\u200b), read them too."""
    text = raw.decode("utf-8", errors="ignore")
    return re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), text)


@pytest.mark.parametrize("username", ["pp_user", "lead"])
def test_every_page_for_a_partner_and_a_viewer_holds_nothing_planted(monkeypatch, demo_path,
                                                                       username):
    """Signed in through the login form, every page's every element (text, tables, chart
    data) as sent to the browser, with what was planted in every text field."""
    from conftest import add_role_accounts, open_app
    from test_access_app import COMMON, everything_shown, log_in

    with Database(demo_path) as db:
        add_role_accounts(db)
        _plant(db, 0)
    leaks = [leak for leak in (LEAKS if username == "pp_user" else NAMES_AND_CONTACTS)
             if leak != "example org"]  # the partner's own account is pp@example.org
    at = log_in(open_app(monkeypatch, demo_path), username)
    found = {}
    for name in COMMON:
        at.switch_page(f"app_pages/{name}.py").run()
        assert not at.exception, (name, [e.value for e in at.exception])
        leaked = _leaks(_frames_text(everything_shown(at)), leaks)
        if leaked:
            found[name] = leaked
        # a withheld text leaves nothing in its place (not "nan")
        assert not [m.value for m in at.markdown if m.value.strip() == "nan"], name
    assert found == {}


def test_a_partners_review_pack_holds_nothing_planted(planted):
    """The pack a partner builds on the Review page: its title, summary and every chart."""
    import json

    from tracker.records import reader_view
    from tracker.reports import report

    db, _ = planted
    scope = _reader(db).viewing(repo.get_challenge(db))
    view = learning_record.reader_texts(db, scope, repo.get_challenge(db))
    pack = report.build_pack(db, scope, view=view, every_chart=True)
    assert pack.slides  # the scan is not blind
    text = [pack.title, pack.summary.astype(str).to_csv()]
    for slide in pack.slides:
        text += [slide.title, *slide.sentences,
                 json.dumps(slide.chart.to_dict(validate=False), ensure_ascii=False)]
    assert _leaks("\n".join(text)) == []
    assert reader_view.names(view, pack.summary).equals(pack.summary)  # names already read


def test_a_mark_follows_its_text_on_both_engines(db):
    repo.create_challenge(db, ADMIN, title="Marks", question="Q", aim="A",
                          start_date=dt.date(2026, 1, 5), end_date=dt.date(2026, 12, 28))
    cid = repo.get_challenge(db)["id"]
    org = repo.add_organisation(db, ADMIN, name="Ash Practice", kind="gp_practice")
    idea = repo.add_idea(db, ADMIN, cid, title="Evening sessions")
    writer = Scope(actor="ash user", role="partner", organisation_id=org,
                   organisation="Ash Practice")
    cycle = cycles.plan_cycle(db, writer, idea_id=idea, organisation_id=org, objective="Try",
                              question="More?", prediction="More will come",
                              start_date=dt.date(2026, 2, 2), end_date=dt.date(2026, 2, 9))
    cycles.record_do(db, writer, cycle, do_notes="Ran it", went_as_planned=True)
    cycles.record_study(db, writer, cycle, study_notes="Twelve came.", learning="Evenings suit.")
    for note in ("study_notes", "learning", "prediction"):
        syntheses.mark_excerpt(db, ADMIN, cycle, note, "public")
    cycles.record_study(db, writer, cycle, study_notes="Twelve came; ask 07700 900123.",
                        learning="Evenings suit.")
    marks = syntheses.excerpt_marks(db, [cycle]).set_index("field")["audience"].to_dict()
    assert marks == {"learning": "public", "prediction": "public"}
    assert syntheses.changed_since_shared(db, [cycle]) == {(cycle, "study_notes"): "public"}
    syntheses.mark_excerpt(db, ADMIN, cycle, "study_notes", "public")
    assert syntheses.changed_since_shared(db, [cycle]) == {}


def test_changing_a_withheld_value_of_the_demo_changes_nothing_published(demo_db):
    """The adversary's test on the demo's public report: whatever a withheld count is, every
    published figure (each point, mean and limit of every panel) is the same. Each small count
    is swapped for another small count (1 <-> 4, 2 <-> 3; a numerator n of a small
    denominator d for d - n) and the panels are built again."""
    cid = repo.get_challenge(demo_db)["id"]
    ideas = repo.list_ideas(demo_db, cid)["id"].astype(int).tolist()

    def published():
        reader = learning_record.audience_for(demo_db, ADMIN, public=True)
        out = {}
        for idea in ideas:
            rec = learning_record.record(demo_db, ADMIN, idea, public=True, audience=reader)
            for e in rec.evidence:
                for title, frame, _ in e.panels:
                    out[(idea, e.measure_id, title)] = frame[
                        ["value", "centre", "upper", "lower"]].round(9).assign(
                        period=frame["period"])
        return out, reader.withheld.points

    before, hidden = published()
    assert hidden > 100  # the demo hides hundreds of small counts in public
    with demo_db.transaction() as cur:
        cur.execute("UPDATE result SET value = 5 - value WHERE value BETWEEN 1 AND 4")
        cur.execute("UPDATE result SET numerator = denominator - numerator"
                    " WHERE denominator BETWEEN 1 AND 4")
        cur.execute("UPDATE result SET numerator = 5 - numerator"
                    " WHERE numerator BETWEEN 1 AND 4 AND denominator >= 5")
    after, _ = published()
    assert before.keys() == after.keys()
    changed = [key for key in before if not before[key].equals(after[key])]
    assert changed == []


def test_a_record_shows_no_kind_or_region_beside_a_label(demo_db):
    """"an organisation in Yorkshire (1)" with "GP practice" beside it would name Hillview."""
    cid = repo.get_challenge(demo_db)["id"]
    idea = int(repo.list_ideas(demo_db, cid).set_index("title")["id"][WELCOME])
    rec = learning_record.record(demo_db, _reader(demo_db), idea)
    hidden = rec.where[rec.where["organisation"].str.startswith("an organisation in")]
    assert len(hidden) and (hidden["kind"] == "").all() and (hidden["region"] == "").all()
    named = rec.where[rec.where["organisation"] == READER]
    assert (named["kind"] == "Charity").all()


# --------------------------------------------------------------------------- downloads


def _files_text(paths) -> str:
    from openpyxl import load_workbook

    parts = []
    for path in paths:
        if path.suffix == ".xlsx":
            book = load_workbook(path, read_only=True)
            parts += [str(cell) for sheet in book for row in sheet.iter_rows(values_only=True)
                      for cell in row if cell is not None]
        else:
            parts.append(path.read_text(encoding="utf-8"))
    return "\n".join(parts)


@pytest.mark.parametrize("who", ["partner", "viewer"])
def test_the_export_holds_nothing_planted(planted, who, tmp_path):
    """The zip of CSV files a partner or a viewer downloads on the Export page (and with
    `python -m tracker export`): built from what they may read, with a README that says what
    was left out."""
    from tracker.intake import export

    db, _ = planted
    scope = (_reader(db) if who == "partner" else VIEWER).viewing(repo.get_challenge(db))
    leaks = LEAKS if who == "partner" else NAMES_AND_CONTACTS
    paths = export.export_all(db, scope, tmp_path / who)
    names = {p.name for p in paths}
    assert {"challenge.csv", "drivers.csv", "ideas.csv", "measures.csv", "results.csv",
            "README.txt"} <= names
    assert _leaks(_files_text(paths), leaks) == []
    readme = (tmp_path / who / "README.txt").read_text(encoding="utf-8")
    assert "contacts are the lab admin's only" in readme
    if who == "partner":  # the idea's title names someone: the same stand-in as the pages'
        assert "stand-in" in readme
        ideas = pd.read_csv(tmp_path / who / "ideas.csv")
        assert "an idea of the lab's (1)" in ideas["title"].tolist()
    assert "contact_email" not in pd.read_csv(tmp_path / who / "organisations.csv").columns
    admin = export.export_all(db, ADMIN.viewing(repo.get_challenge(db)), tmp_path / "admin")
    assert _leaks(_files_text(admin)) != []  # the lab admin's export is the tables as written


def test_a_partners_template_upload_and_api_answer_hold_nothing_planted(planted, tmp_path):
    """The template a partner downloads names a withheld measure by its stand-in; the same
    file, filled in, is read back by the stand-in; the check's report, its suggestions and
    the results API's answer speak of it by the stand-in too."""
    import json

    from tracker.intake import ingest, results_api, templates

    db, _ = planted
    scope = _reader(db).viewing(repo.get_challenge(db))
    (tmp_path / "t.xlsx").write_bytes(templates.template_xlsx(db, scope, READER))
    csv = templates.template_csv(db, scope, READER).decode("utf-8")
    (tmp_path / "t.csv").write_text(csv, encoding="utf-8")
    assert _leaks(_files_text([tmp_path / "t.xlsx", tmp_path / "t.csv"])) == []
    template = pd.read_csv(tmp_path / "t.csv")
    stand_in = [m for m in template["measure"].unique() if m.startswith("a measure of the lab")]
    assert len(stand_in) == 1, template["measure"].unique()  # the planted measure
    row = template[template["measure"] == stand_in[0]].head(1).assign(value=12)
    data = row.drop(columns=[templates.HOW_TO]).to_csv(index=False).encode("utf-8")
    report = ingest.check(db, data, "filled.csv", scope)
    assert report.ok and report.new == 1, [str(p) for p in report.errors]
    assert report.plan["measure"].tolist() == stand_in
    status, answer = results_api.handle(db, scope, data, "filled.csv", commit=False,
                                        confirm=False)
    assert status == 200 and _leaks(json.dumps(answer, ensure_ascii=False)) == []
    # a near miss is answered with the names the partner may read, never the real one
    typo = data.replace(b"a measure of the lab's", b"a measure of the labs")
    report = ingest.check(db, typo, "typo.csv", scope)
    assert not report.ok and "Did you mean 'a measure of the lab" in str(report.errors[0])
    guessed = data.replace(stand_in[0].encode(), b"PLANT")  # the code is not withheld
    assert ingest.check(db, guessed, "code.csv", scope).ok
    status, answer = results_api.handle(db, scope, typo, "typo.csv", commit=False,
                                        confirm=False)
    assert status == 422 and _leaks(json.dumps(answer, ensure_ascii=False)) == []


def test_the_tested_by_filter_never_singles_out_an_organisation(demo_db):
    """"Tested by" on What we learned narrows a partner's ideas by kind of organisation only
    where the partner may know that kind: a kind that fits fewer organisations than the
    threshold, none of them named to the partner, finds nothing (it would say which idea the
    only housing association tested)."""
    from tracker import vocab
    from tracker.records import reader_view

    scope = _reader(demo_db)
    cid = repo.get_challenge(demo_db)["id"]
    audience = reader_view.audience_for(demo_db, scope)
    kinds = repo.list_organisations(demo_db, ADMIN).set_index("id")["kind"]
    hidden = {int(o) for o in kinds.index if audience.kind_of(o) is None}
    assert hidden, "the demo has organisations whose kind would single them out"
    tested = repo.list_cycles(demo_db, ADMIN, cid)
    for kind in vocab.ORG_KINDS:
        found = set(learning_record.idea_index(demo_db, scope, cid, organisation_kind=kind)["id"])
        known = tested[tested["organisation_id"].map(audience.kind_of) == kind]
        readable = set(learning_record.idea_index(demo_db, scope, cid)["id"])
        assert found == set(known["idea_id"]) & readable, kind
    only_hidden = {kinds[o] for o in hidden} - {audience.kind_of(o) for o in kinds.index}
    for kind in only_hidden:
        assert learning_record.idea_index(demo_db, scope, cid, organisation_kind=kind).empty
    lab = learning_record.idea_index(demo_db, ADMIN, cid, organisation_kind=kinds[min(hidden)])
    assert not lab.empty  # the lab team filters by every kind


def test_a_partner_stores_results_by_a_stand_in_on_both_engines(db):
    """A measure named after a contact who did not agree to be named reads by its stand-in
    to a partner (template, check, the stored file's report); the file that uses it stores
    under the right measure, on the embedded file and on PostgreSQL alike."""
    from tracker.intake import ingest, templates

    cid = repo.create_challenge(db, ADMIN, title="Stand-ins", question="Q", aim="A",
                                start_date=dt.date(2026, 1, 5), end_date=dt.date(2026, 12, 28))
    assert cid
    org = repo.add_organisation(db, ADMIN, name="Ash Practice", kind="gp_practice",
                                region="London")
    repo.add_organisation(db, ADMIN, name="Birch Trust", kind="nhs_trust", region="London",
                          contact_name="Priya Raman")
    secret = repo.add_measure(db, ADMIN, code="CALLS", name="Calls Priya Raman returned",
                              measure_type="process", definition="Calls returned in the week",
                              unit="calls", direction="increase", data_kind="value",
                              frequency="week")
    partner = Scope(actor="ash", role="partner", organisation_id=org,
                    organisation="Ash Practice")
    template = templates.template_frame(db, partner, "Ash Practice",
                                        today=dt.date(2026, 2, 20))
    assert set(template["measure"]) == {"a measure of the lab's (1)"}
    assert "Raman" not in template.to_csv()
    first = template.head(1).assign(value=7).drop(columns=[templates.HOW_TO])
    data = first.to_csv(index=False).encode("utf-8")
    stored = ingest.commit(db, data, "ash.csv", partner, today=dt.date(2026, 2, 20))
    assert stored.ok and stored.new == 1, [str(p) for p in stored.errors]
    assert stored.plan["measure"].tolist() == ["a measure of the lab's (1)"]
    rows = db.read("SELECT measure_id, value FROM result WHERE organisation_id = ?", [org])
    assert rows.values.tolist() == [[secret, 7.0]]
    guess = data.replace(b"a measure of the lab's (1)", b"Calls Priya Raman returned")
    refused = ingest.check(db, guess, "guess.csv", partner, today=dt.date(2026, 2, 20))
    # refused: the real name is not taken from a partner (a refusal says nothing it did not
    # write itself: the message beside the value it sent names no measure but the stand-in)
    assert not refused.ok
    assert "Raman" not in " ".join(p.message for p in refused.errors)


def test_a_partner_reads_its_own_chart_notes_as_written_and_the_lab_teams_checked(demo_db):
    """On a partner's chart (the Outcomes page and the pack), a note its own organisation
    wrote reads as written; a note the lab team wrote, on that chart or on every chart, is
    checked like any shared text: one that names an organisation not named to partners is
    not shown."""
    from conftest import add_role_accounts

    from tracker.records import observations, reader_view

    add_role_accounts(demo_db)
    scope = _reader(demo_db).viewing(repo.get_challenge(demo_db))
    own = Scope(actor="pp_user", role="partner", organisation_id=scope.organisation_id,
                organisation=READER)
    measure = int(repo.list_measures(demo_db)["id"].iloc[0])
    day = dt.date(2026, 6, 1)
    for who, org, text in ((own, scope.organisation_id, "Ours: Hillview Surgery sent 3."),
                           (ADMIN, scope.organisation_id, "Lab: ask Hillview Surgery why."),
                           (ADMIN, None, "Every chart: Hill\u200bview closed this week."),
                           (ADMIN, None, "Every chart: bank holiday.")):
        observations.add_annotation(demo_db, who, measure_id=measure, organisation_id=org,
                                    on_date=day, kind="note", text=text)
    notes = observations.list_annotations(demo_db, scope, measure, scope.organisation_id)
    view = reader_view.for_reader(demo_db, scope)
    shown = reader_view.chart_notes(view, notes)["text"].tolist()
    assert "Ours: Hillview Surgery sent 3." in shown  # its own organisation's words
    assert "Every chart: bank holiday." in shown
    assert shown.count(reader_view.NOTE_NOT_SHARED) == 2
    assert _leaks(" ".join(t for t in shown if not t.startswith("Ours"))) == []
    lab = reader_view.for_reader(demo_db, ADMIN.viewing(repo.get_challenge(demo_db)))
    assert reader_view.chart_notes(lab, notes)["text"].tolist() == notes["text"].tolist()


def test_a_stand_ins_place_in_a_list_does_not_hint_at_the_real_name(planted):
    """Measures are listed by name (the Measures page, the cycles' choices, the template):
    for a partner, by the names as read, so a stand-in does not sit where its real name
    would sort."""
    from tracker.records import reader_view

    db, _ = planted
    scope = _reader(db).viewing(repo.get_challenge(db))
    for measures in (reader_view.for_reader(db, scope).measures,
                     reader_view.measures_for(db, scope)):
        order = measures[["measure_type", "name"]].apply(tuple, axis=1).tolist()
        assert order == sorted(order), order
        assert any(n.startswith("a measure of the lab's") for n in measures["name"])


def test_an_organisation_s_contact_is_the_lab_admin_s_only(demo_db):
    """docs/sharing.md: a viewer and a partner never read a person's name or e-mail, an
    organisation's contact included. The Organisations page showed both to a viewer (in its
    grid, where the leak scan read the names run together); the data layer now reads them for
    the lab admin only."""
    orgs = repo.list_organisations(demo_db, ADMIN)
    assert orgs["contact_name"].notna().all() and orgs["contact_email"].notna().all()
    viewer = Scope(actor="lead", role="viewer")
    partner = Scope(actor="pp", role="partner", organisation_id=int(orgs["id"].iloc[0]),
                    organisation=orgs["name"].iloc[0])
    for scope in (viewer, partner):
        seen = repo.list_organisations(demo_db, scope)
        assert len(seen) == (len(orgs) if scope is viewer else 1)
        assert seen["contact_name"].isna().all() and seen["contact_email"].isna().all()
