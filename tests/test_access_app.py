"""Every page, every role, through the real login form (AppTest via streamlit_app.py)."""

from __future__ import annotations

import datetime as dt

import pytest
from conftest import PARTNER_ORG as PP
from conftest import PASSWORD, ROOT, add_role_accounts, open_app, shown
from streamlit.testing.v1 import AppTest

from tracker.access import auth
from tracker.access.scope import Scope
from tracker.community import participants
from tracker.intake import api_tokens
from tracker.learning import syntheses
from tracker.records import repo
from tracker.storage.db import Database

APP = str(ROOT / "streamlit_app.py")
COMMON = ["overview", "for_you", "challenge", "insights", "ideas_sent_in", "ideas", "cycles", "learning", "people", "collaboration",
          "progress",
          "summary", "outcomes", "portfolio", "enter", "review", "upload", "export",
          "organisations", "measures"]
ADMIN_ONLY = ["accounts", "audit", "backups", "mail"]


@pytest.fixture
def lab(demo_path):
    with Database(demo_path) as db:
        orgs = add_role_accounts(db)["orgs"]
        others = [n for n in orgs.index if n != PP]
        consent = syntheses.consents(db).set_index("name")
        every = repo.list_organisations(db, Scope.admin("t"))
        contacts = every.loc[every["name"] != PP, ["contact_name", "contact_email"]]
        people = participants.list_participants(db, Scope.admin("t"),
                                                repo.get_challenge(db)["id"])
    # organisations that agreed to be named to other partners may appear on What we learned
    unnamed = [n for n in others if not consent.loc[n, "named_to_partners"]]
    own = people["organisation"] == PP
    return {"path": demo_path, "others": others, "unnamed": unnamed,
            "contacts": [c for c in contacts.to_numpy().ravel() if isinstance(c, str)],
            # a partner may see its own participants' names, never another's, nor any e-mail
            "people_not_theirs": people.loc[~own, "name"].tolist() + people["email"].tolist(),
            "everyone": people["name"].tolist() + people["email"].tolist()}


app = open_app


def log_in(at: AppTest, username: str, password: str = PASSWORD) -> AppTest:
    [w for w in at.text_input if w.label == "Username"][0].input(username)
    [w for w in at.text_input if w.label == "Password"][0].input(password)
    [b for b in at.button if b.label == "Log in"][0].click().run()
    assert not at.exception
    return at


def everything_shown(at: AppTest) -> bytes:
    """Every element's full content as sent to the browser (text, tables, chart data)."""
    chunks = []

    def walk(node):
        proto = getattr(node, "proto", None)
        if proto is not None and hasattr(proto, "SerializeToString"):
            chunks.append(proto.SerializeToString())
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at._tree)
    return b"".join(chunks)


def test_login_form_is_shown_and_refuses_a_wrong_password(monkeypatch, lab):
    at = app(monkeypatch, lab["path"])
    assert [w.label for w in at.text_input] == ["Username", "Password"]
    assert [b.label for b in at.button] == ["Log in"]
    assert not at.metric  # nothing of the lab before signing in
    log_in(at, "boss", "not the password")
    assert "do not match" in shown(at.error[0].value)
    log_in(at, "nobody", PASSWORD)
    assert "do not match" in shown(at.error[0].value)


def test_repeated_failures_make_this_computer_wait(monkeypatch, lab):
    at = app(monkeypatch, lab["path"])
    for _ in range(auth.THROTTLE_FREE):
        log_in(at, "lead", "wrong wrong wrong")
        assert "do not match" in shown(at.error[0].value)
    log_in(at, "lead", PASSWORD)  # even the right password waits: nothing is checked
    assert "Too many failed sign-ins from this computer: wait" in shown(at.error[0].value)


@pytest.mark.parametrize("role, username", [("admin", "boss"), ("partner", "pp_user"),
                                            ("viewer", "lead")])
def test_every_page_for_every_role(monkeypatch, lab, role, username):
    at = log_in(app(monkeypatch, lab["path"]), username)
    assert not at.error, [e.value for e in at.error]
    pages = COMMON + (ADMIN_ONLY if role == "admin" else [])
    for name in pages:
        at.switch_page(f"app_pages/{name}.py").run()
        assert not at.exception, (name, [e.value for e in at.exception])
        shown = everything_shown(at)
        if role == "partner":
            # organisations that agreed to be named to other partners may appear there
            forbidden = lab["unnamed"] if name in ("learning", "collaboration") \
                else lab["others"]
            for other in forbidden + lab["contacts"] + lab["people_not_theirs"]:
                assert other.encode() not in shown, (name, other)
        elif name in ("overview", "cycles", "organisations"):
            # the same check finds the names where they may be shown (so it is not blind)
            assert any(other.encode() in shown for other in lab["others"]), name
        if role == "admin" and name == "people":  # the scan is not blind: names are there
            assert all(person.encode() in shown for person in lab["everyone"][:5]), name
        if role == "viewer":
            for person in lab["everyone"]:  # participants are counts only for viewers
                assert person.encode() not in shown, (name, person)
        if role == "viewer" and name != "ideas_sent_in":  # anyone signed in sends ideas
            labels = {b.label for b in at.button}
            assert labels <= {"Prepare the export", "Export these entries (CSV)", "Log out",
                              "Build the pack", "← Previous", "Next →", "Build the report",
                              "Open it in What we learned"}, (name, labels)
            assert not at.text_area, name
            assert [w.label for w in at.text_input] in (
                [], ["Search all cycle notes"], ["Search the learning"],
                ["Search the insights"]), name
            assert not at.file_uploader, name
    if role != "admin":
        for name in ADMIN_ONLY:  # not in the menu, and refused if reached all the same
            with pytest.raises(Exception):  # noqa: B017 - AppTest refuses an unknown page
                at.switch_page(f"app_pages/{name}.py").run()


def test_partner_sees_its_own_organisation_and_the_others_unnamed(monkeypatch, lab):
    at = log_in(app(monkeypatch, lab["path"]), "pp_user")
    fresh = [d.value for d in at.dataframe if "Latest period" in d.value.columns][0]
    assert fresh["Organisation"].iloc[0] == PP
    assert fresh["Organisation"].iloc[1].startswith(auth.OTHERS)
    at.switch_page("app_pages/upload.py").run()
    assert [o for o in at.selectbox[0].options] == [PP]


def test_the_lab_team_shares_one_charting_of_every_series_a_partner_charts_its_own(
        monkeypatch, lab):
    """The signals of the Overview's "what is new" chart every series a reader may see: kept
    per reader of the same series (`Scope.series_reader`), not per person, so a viewer
    signing in after the lab admin finds them charted; a partner's are charted apart, from
    its own organisation's series only, and name no other organisation."""
    from tracker.learning import whats_new

    charted, real = [], whats_new.signal_points
    monkeypatch.setattr(whats_new, "signal_points",
                        lambda db, reader: charted.append(reader) or real(db, reader))
    for username in ("boss", "lead"):  # the lab admin, then a viewer
        at = log_in(app(monkeypatch, lab["path"]), username)
        assert any("new since" in h.value for h in at.subheader)
    assert len(charted) == 1 and charted[0].actor == "" and not charted[0].is_partner
    at = log_in(app(monkeypatch, lab["path"]), "pp_user")
    assert len(charted) == 2 and charted[1].is_partner
    with Database(lab["path"]) as db:
        partner = auth.authenticate(db, "pp_user", PASSWORD)
        points = real(db, partner.series_reader())
    assert points["organisation_id"].eq(partner.organisation_id).all() and len(points)
    news = " ".join(" ".join(map(str, d.value.to_numpy().ravel())) for d in at.dataframe)
    assert not [n for n in lab["unnamed"] if n in news], news


def test_the_overview_is_prepared_while_the_lab_admin_signs_in(monkeypatch, lab):
    """The sign-in page charts, in the background, the series the lab team's Overview looks
    through for what is new (about a second of the server's first sign-in at scale): the
    Overview the lab admin signs in to charts none of them again."""
    import threading

    from tracker.learning import whats_new

    charted, real = [], whats_new.signal_points
    monkeypatch.setattr(whats_new, "signal_points",
                        lambda db, reader: charted.append(reader) or real(db, reader))
    at = app(monkeypatch, lab["path"])
    assert [w.label for w in at.text_input][:1] == ["Username"]
    for thread in threading.enumerate():
        if thread.name == "tracker-prepare-overview":
            thread.join(timeout=120)
    assert len(charted) == 1
    log_in(at, "boss")
    assert any("new since" in h.value for h in at.subheader)
    assert len(charted) == 1


def test_what_each_idea_showed_is_worked_out_while_the_lab_admin_signs_in(monkeypatch, lab):
    """Issue 22, What we learned at scale, first visit: every learning record reads what each
    idea's measures showed at each organisation (0.8 CPU s at scale). The sign-in page works
    it out in the background after the Overview's signals; What we learned then works out
    none of it again."""
    import threading

    from tracker.analysis import portfolio

    worked_out, real = [], portfolio.measure_outcomes
    monkeypatch.setattr(portfolio, "measure_outcomes",
                        lambda *args: worked_out.append(args[2]) or real(*args))
    at = app(monkeypatch, lab["path"])
    for thread in threading.enumerate():
        if thread.name == "tracker-prepare-overview":
            thread.join(timeout=120)
    assert len(worked_out) == 1
    log_in(at, "boss")
    at.switch_page("app_pages/learning.py").run()
    assert not at.exception
    assert any(h.value == "What the data showed" for h in at.subheader)  # a record, drawn
    assert len(worked_out) == 1


def test_preparing_the_overview_never_stands_in_the_way_of_the_sign_in_page(db_path,
                                                                             caplog):
    """A database that cannot be read as the sign-in page opens: the preparation says so
    in the log and the page goes on (the page itself says what is wrong)."""
    from app import ui

    database = Database(db_path)
    database.close()  # every read now fails
    ui.prepare_overview(database)
    assert "could not be prepared ahead" in caplog.text


def test_admin_adds_an_account_through_the_page(monkeypatch, lab):
    at = log_in(app(monkeypatch, lab["path"]), "boss")
    at.switch_page("app_pages/accounts.py").run()
    [w for w in at.text_input if w.label == "New username"][0].input("second_admin")
    [w for w in at.selectbox if w.label == "Role"][0].set_value("admin")
    [w for w in at.text_input if w.label.startswith("Password (at least")][0].input(PASSWORD)
    [w for w in at.text_input if w.label == "Password again"][0].input(PASSWORD)
    [b for b in at.button if b.label == "Add account"][0].click().run()
    assert not at.exception and not at.error
    with Database(lab["path"]) as db:
        users = auth.list_users(db, Scope.admin("t"))
        assert "second_admin" in users["username"].tolist()
        log = repo.list_audit(db, Scope.admin("t"), limit=None, entity="account",
                              action="create")
        assert "boss" in log["actor"].tolist()


def test_a_session_expires_after_inactivity(monkeypatch, lab):
    at = log_in(app(monkeypatch, lab["path"]), "lead")
    assert at.metric  # the Overview
    at.session_state["last_active"] = dt.datetime.now() - auth.IDLE_TIMEOUT - \
        dt.timedelta(minutes=1)
    at.run()
    assert [w.label for w in at.text_input] == ["Username", "Password"]
    assert "30 minutes without activity" in shown(at.info[0].value)


def test_local_mode_says_so(monkeypatch, demo_path):
    at = app(monkeypatch, demo_path)  # no accounts
    assert any("Local mode" in i.value for i in at.info)
    assert at.metric


def test_single_sign_on_maps_the_verified_email(monkeypatch, lab):
    with Database(lab["path"]) as db:
        boss = auth.authenticate(db, "boss", PASSWORD)
        auth.add_user(db, boss, username="sso_lead", role="viewer", email="lead@nhs.example",
                      sso_only=True)
    monkeypatch.setenv("TRACKER_DB", str(lab["path"]))
    at = AppTest.from_file(APP, default_timeout=90)
    at.secrets["auth"] = {"redirect_uri": "http://localhost:8501/oauth2callback",
                          "cookie_secret": "x" * 32, "client_id": "id", "client_secret": "s",
                          "server_metadata_url": "https://login.example/.well-known"}
    at.user = {"is_logged_in": True, "email": "lead@nhs.example", "email_verified": True}
    at.run()
    assert not at.exception
    # the identity provider's cookie alone does not sign anyone in: it takes a click, so a
    # tracker logout or idle expiry is not undone on the next run
    assert not at.metric
    continue_ = [b for b in at.button if b.label == "Continue with single sign-on"][0]
    continue_.click().run()
    assert at.metric  # signed in as the mapped viewer: the Overview shows
    [b for b in at.button if b.label == "Log out"][0].click().run()
    assert not at.metric and "You have logged out" in shown(at.info[0].value)
    unverified = AppTest.from_file(APP, default_timeout=90)
    unverified.secrets["auth"] = at.secrets["auth"]
    unverified.user = {"is_logged_in": True, "email": "lead@nhs.example",
                       "email_verified": False}
    unverified.run()
    [b for b in unverified.button if b.label == "Continue with single sign-on"][0].click().run()
    assert "did not confirm an e-mail address" in shown(unverified.error[0].value)


def test_a_partner_reads_the_learning_of_its_ideas_through_the_login_form(monkeypatch, lab):
    at = log_in(app(monkeypatch, lab["path"]), "pp_user")
    overview = everything_shown(at)
    assert b"What's new since" in overview  # the panel, scoped to the partner
    at.switch_page("app_pages/learning.py").run()
    assert not at.exception
    titles = set(at.dataframe[0].value["Idea"])
    with Database(lab["path"]) as db:
        cid = repo.get_challenge(db)["id"]
        cycles = repo.list_cycles(db, Scope.admin("t"), cid)
    assert titles == set(cycles.loc[cycles["organisation"] == PP, "idea"])
    at.selectbox(key="learn_idea").set_value(
        int(cycles.loc[cycles["idea"] == "Peer-led welcome call within a week of referral",
                       "idea_id"].iloc[0])).run()
    shown = everything_shown(at)
    assert b"Kindred Voices (demo)" in shown  # agreed to be named to partners
    assert b"not shared with you" in shown  # the other notes are withheld, and said
    for other in lab["unnamed"] + lab["contacts"]:
        assert other.encode() not in shown, other
    # the partner may make only the public version of the report
    assert not [t for t in at.toggle if t.label.startswith("Public version")]
    assert [f.label for f in at.text_area] == ["Add to the discussion"]  # no synthesis form


def test_admin_makes_and_revokes_an_api_token_through_the_page(monkeypatch, lab):
    at = log_in(app(monkeypatch, lab["path"]), "boss")
    at.switch_page("app_pages/accounts.py").run()
    make = [b for b in at.button if b.label == "Make the token"][0]
    make.click().run()  # nothing chosen: refused in words, nothing stored
    assert "Choose the organisation" in shown(at.error[0].value)
    with Database(lab["path"]) as db:
        pp_id = api_tokens.find_organisation(db, PP)["id"]
    [w for w in at.selectbox if w.label == "Organisation"][0].set_value(pp_id)
    [w for w in at.text_input if w.label.startswith("What it is for")][0].input(
        "<b>EMIS</b> nightly")
    [b for b in at.button if b.label == "Make the token"][0].click().run()
    assert not at.exception and not at.error
    secret = at.code[0].value
    assert secret.startswith("trk_")
    with Database(lab["path"]) as db:
        assert api_tokens.authenticate(db, secret) is not None
    at.run()  # shown once: gone on the next run
    assert not at.code
    grid = [d.value for d in at.dataframe if "Token starts" in d.value.columns][0]
    assert grid["For"].iloc[0] == "<b>EMIS</b> nightly"
    assert secret not in grid.to_string()
    [b for b in at.button if b.label.startswith("Revoke it")][0].click().run()
    with Database(lab["path"]) as db:
        assert api_tokens.authenticate(db, secret) is None
