"""Accounts, passwords, lockout, single sign-on mapping, and the access rules enforced in the
data layer itself (not only hidden in pages)."""

from __future__ import annotations

import datetime as dt
import sys
import time

import pytest
import warm_start
from conftest import PARTNER_ORG as PP
from conftest import PASSWORD, ROOT, add_role_accounts, table_counts

from tracker import clock
from tracker.access import auth
from tracker.access.scope import Scope
from tracker.errors import InputError, PermissionDenied
from tracker.intake import batches, export, ingest
from tracker.records import observations, repo

ADMIN = Scope.admin("tester")


@pytest.fixture
def accounts(role_accounts_db):
    """The demo with the role accounts (made once per worker: conftest.add_role_accounts) and
    their scopes; signing in itself is tested above and below."""
    db = role_accounts_db
    orgs = repo.list_organisations(db, ADMIN).set_index("name")["id"]
    return {"db": db, "admin": auth.scope_of_account(db, "boss"),
            "partner": auth.scope_of_account(db, "pp_user"),
            "viewer": auth.scope_of_account(db, "lead"),
            "pp_id": int(orgs[PP]), "other_id": int(orgs["Riverside Medical Practice (demo)"]),
            "other_names": [n for n in orgs.index if n != PP]}


def test_first_account_must_be_an_admin_and_switches_login_on(db):
    assert not auth.accounts_exist(db)
    with pytest.raises(InputError, match="first account must be a lab admin"):
        auth.add_user(db, None, username="viewer1", role="viewer", password=PASSWORD)
    assert not auth.accounts_exist(db)
    auth.add_user(db, None, username="boss", role="admin", password=PASSWORD)
    assert auth.accounts_exist(db)
    with pytest.raises(PermissionDenied):
        auth.add_user(db, None, username="sneaky", role="admin", password=PASSWORD)


def test_hashes_are_argon2id_and_differ_for_equal_passwords(accounts):
    hashes = accounts["db"].read("SELECT password_hash FROM account ORDER BY id")
    values = hashes["password_hash"].tolist()
    assert all(h.startswith("$argon2id$") for h in values)
    assert len(set(values)) == len(values)  # same password, different salts
    log = " ".join(repo.list_audit(accounts["db"], ADMIN, limit=None)["after"].dropna())
    assert PASSWORD not in log and "argon2" not in log


def test_password_rules(accounts):
    with pytest.raises(InputError, match="at least 12 characters"):
        auth.add_user(accounts["db"], accounts["admin"], username="short", role="viewer",
                      password="too short")
    with pytest.raises(InputError, match="taken"):
        auth.add_user(accounts["db"], accounts["admin"], username="BOSS", role="viewer",
                      password=PASSWORD)


def _guess(db, username, password, when, client):
    with pytest.raises(auth.AuthError) as refused:
        auth.authenticate(db, username, password, when, client=client)
    return str(refused.value)


def test_wrong_passwords_lock_the_account_for_15_minutes_from_that_place(accounts):
    db = accounts["db"]
    now = dt.datetime.now()
    # five guesses from one place, each after the wait the throttle asks for
    when = now
    for k in range(5):
        assert _guess(db, "lead", "wrong password!", when, "10.0.0.66") == auth.REFUSED
        when += auth.throttle_delay(k + 1) + dt.timedelta(seconds=1)
    # from that place the account is locked, the right password included
    assert _guess(db, "lead", PASSWORD, when + dt.timedelta(minutes=5), "10.0.0.66") == \
        auth.REFUSED
    # from another place the real user still signs in
    assert auth.authenticate(db, "lead", PASSWORD, when, client="192.168.1.5").role == "viewer"
    failures = repo.list_audit(db, ADMIN, limit=None, action="login_failed")
    assert len(failures) == 6


def test_a_client_that_keeps_guessing_waits_longer_each_time(accounts):
    db = accounts["db"]
    now = dt.datetime.now()
    for k in range(auth.THROTTLE_FREE):
        _guess(db, "boss", f"guess {k} guess", now, "10.0.0.7")
    # the next try at once is refused without a check, and says how long to wait
    message = _guess(db, "boss", PASSWORD, now, "10.0.0.7")
    assert message.startswith("Too many failed sign-ins from this computer: wait 2 seconds")
    assert auth.throttle_delay(4) == 2 * auth.throttle_delay(3)
    assert auth.throttle_delay(50) == auth.THROTTLE_MAX
    # the wait is per client: the real admin elsewhere is not slowed down
    assert auth.authenticate(db, "boss", PASSWORD, now, client="10.0.0.8").is_admin
    # after the wait, the right password from the guessing client works and clears it
    later = now + dt.timedelta(seconds=3)
    assert auth.authenticate(db, "boss", PASSWORD, later, client="10.0.0.7").is_admin
    assert db.scalar("SELECT count(*) FROM login_throttle WHERE client = '10.0.0.7'") == 0


def test_unknown_wrong_locked_and_disabled_get_the_same_answer(accounts):
    db = accounts["db"]
    now = dt.datetime.now()
    answers = {"unknown": _guess(db, "nobody", PASSWORD, now, "a"),
               "wrong": _guess(db, "lead", "not the password", now, "b")}
    for k in range(5):
        _guess(db, "pp_user", "nope nope nope", now + dt.timedelta(minutes=k), f"c{k}")
    answers["locked"] = _guess(db, "pp_user", PASSWORD, now + dt.timedelta(minutes=5), "c4")
    auth.disable_user(db, accounts["admin"], "lead")
    answers["disabled"] = _guess(db, "lead", PASSWORD, now, "d")
    assert set(answers.values()) == {auth.REFUSED}
    assert auth.session_ended(db, accounts["viewer"]) is not None
    auth.enable_user(db, accounts["admin"], "lead")
    assert auth.authenticate(db, "lead", PASSWORD, client="d")


def test_unknown_wrong_locked_and_disabled_take_similar_time(accounts):
    """Each does one argon2 check (a dummy hash when there is no account or no password),
    so timing does not tell which accounts exist. Compared in the same process."""
    db = accounts["db"]
    auth.add_user(db, accounts["admin"], username="gone", role="viewer", password=PASSWORD)
    auth.disable_user(db, accounts["admin"], "gone")
    auth.add_user(db, accounts["admin"], username="sso", role="viewer", sso_only=True,
                  email="sso@example.org")
    now = dt.datetime.now()

    def timed(username, password, client):
        started = time.perf_counter()
        with pytest.raises(auth.AuthError, match="do not match"):
            auth.authenticate(db, username, password, now, client=client)
        return time.perf_counter() - started

    cases = {"wrong": ("lead", "not it at all"), "unknown": ("nobody", PASSWORD),
             "disabled": ("gone", PASSWORD), "sso only": ("sso", PASSWORD)}
    # interleaved rounds, and each case's fastest: the work it does, whatever else this
    # shared machine was doing at the moment (noise only ever adds time)
    runs = {case: [] for case in cases}
    for k in range(7):
        for case, (user, pw) in cases.items():
            runs[case].append(timed(user, pw, f"{case}{k}"))
    times = {case: min(seconds) for case, seconds in runs.items()}
    base = times["wrong"]
    for seconds in times.values():
        assert 0.4 < seconds / base < 2.5, times


def test_reset_password_unlocks_and_ends_open_sessions(accounts):
    db = accounts["db"]
    open_session = auth.authenticate(db, "pp_user", PASSWORD, client="x")
    assert auth.session_ended(db, open_session) is None
    for k in range(5):
        _guess(db, "pp_user", "nope nope nope", dt.datetime.now(), f"y{k}")
    auth.reset_password(db, accounts["admin"], "pp_user", "a brand new password")
    assert "password or role was changed" in auth.session_ended(db, open_session)
    fresh = auth.authenticate(db, "pp_user", "a brand new password", client="y0")
    assert fresh.organisation == PP and auth.session_ended(db, fresh) is None


def test_a_role_change_ends_open_sessions(accounts):
    db = accounts["db"]
    open_session = auth.authenticate(db, "lead", PASSWORD)
    auth.change_role(db, accounts["admin"], "lead", "partner",
                     accounts["pp_id"])
    assert "password or role was changed" in auth.session_ended(db, open_session)
    assert auth.authenticate(db, "lead", PASSWORD).organisation == PP
    with pytest.raises(InputError, match="own account"):
        auth.change_role(db, accounts["admin"], "boss", "viewer")


def test_a_second_admin_unlocks_an_account(accounts):
    db = accounts["db"]
    auth.add_user(db, accounts["admin"], username="deputy", role="admin", password=PASSWORD)
    now = dt.datetime.now()
    for _ in range(5):
        _guess(db, "boss", "not it at all", now, "attacker")
        now += dt.timedelta(minutes=1)
    assert db.scalar("SELECT locked_until FROM account WHERE username = 'boss'") is not None
    deputy = auth.authenticate(db, "deputy", PASSWORD, client="office")
    auth.unlock_user(db, deputy, "boss")
    assert db.scalar("SELECT locked_until FROM account WHERE username = 'boss'") is None
    assert "unlock" in set(repo.list_audit(db, deputy)["action"])


def test_emails_are_unique_across_accounts_ignoring_case(accounts):
    db = accounts["db"]
    before = table_counts(db)
    with pytest.raises(InputError, match="belongs to another account"):
        auth.add_user(db, accounts["admin"], username="twin", role="viewer",
                      password=PASSWORD, email="PP@Example.org")
    assert table_counts(db) == before


def test_single_sign_on_maps_a_verified_email(accounts):
    db = accounts["db"]
    scope = auth.scope_for_email(db, "PP@example.org", verified=True)
    assert (scope.role, scope.organisation) == ("partner", PP)
    with pytest.raises(auth.AuthError, match="did not confirm"):
        auth.scope_for_email(db, "pp@example.org", verified=False)
    with pytest.raises(auth.AuthError, match="No account uses"):
        auth.scope_for_email(db, "stranger@example.org", verified=True)
    auth.disable_user(db, accounts["admin"], "pp_user")
    with pytest.raises(auth.AuthError, match="disabled"):
        auth.scope_for_email(db, "pp@example.org", verified=True)


def test_only_admins_manage_accounts(accounts):
    for who in ("partner", "viewer"):
        with pytest.raises(PermissionDenied):
            auth.list_users(accounts["db"], accounts[who])
        with pytest.raises(PermissionDenied):
            auth.add_user(accounts["db"], accounts[who], username="x" + who, role="viewer",
                          password=PASSWORD)
        with pytest.raises(PermissionDenied):
            auth.reset_password(accounts["db"], accounts[who], "boss", "owned you now!!")


# --------------------------------------------------------------------------- data layer


def writes(a):
    """Every write path of the data layer, as calls a user might make."""
    db, cid = a["db"], repo.get_challenge(a["db"])["id"]
    idea = int(repo.list_ideas(db, cid)["id"].iloc[0])
    other_cycle = int(repo.list_cycles(db, ADMIN, cid, organisation_id=a["other_id"])["id"]
                      .iloc[0])
    measure = int(repo.list_measures(db)["id"].iloc[0])
    batch = int(batches.list_batches(db, ADMIN)["id"].iloc[-1])
    return {
        "edit the challenge": lambda s: repo.update_challenge(
            db, s, cid, title="T", question="Q", aim="A", start_date="2026-01-05",
            end_date="2026-12-31"),
        "add a phase": lambda s: repo.add_phase(db, s, cid, name="P", start_date="2026-01-05",
                                                end_date="2026-02-05"),
        "add a driver": lambda s: repo.add_driver(db, s, cid, level="primary", name="New"),
        "add an idea": lambda s: repo.add_idea(db, s, cid, title="Another idea"),
        "add an organisation": lambda s: repo.add_organisation(db, s, name="New org",
                                                               kind="charity"),
        "retire an organisation": lambda s: repo.set_organisation_retired(db, s, a["other_id"],
                                                                          True),
        "add a measure": lambda s: repo.add_measure(
            db, s, code="NEW", name="New", measure_type="process", definition="d", unit="u",
            direction="increase", data_kind="value", frequency="week"),
        "retire a measure": lambda s: repo.set_measure_retired(db, s, measure, True),
        "plan a cycle elsewhere": lambda s: repo.plan_cycle(
            db, s, idea_id=idea, organisation_id=a["other_id"], objective="o", question="q",
            prediction="p", start_date="2026-03-02", end_date="2026-03-09"),
        "record another organisation's cycle": lambda s: repo.record_do(
            db, s, other_cycle, do_notes="x", went_as_planned=True),
        "undo an upload": lambda s: batches.undo_batch(db, s, batch),
    }


def test_a_viewer_can_write_nothing(accounts):
    before = table_counts(accounts["db"])
    for name, call in writes(accounts).items():
        with pytest.raises(InputError):
            call(accounts["viewer"])
        assert table_counts(accounts["db"]) == before, name
    today = clock.today()
    monday = today - dt.timedelta(days=today.weekday())
    data = (f"organisation,measure,period,value\n{PP},REF,{monday - dt.timedelta(weeks=1)},3\n"
            .encode())
    report = ingest.commit(accounts["db"], data, "v.csv", accounts["viewer"])
    assert not report.ok and "Viewers may look" in str(report.errors[0])
    assert table_counts(accounts["db"]) == before


def test_a_partner_writes_only_for_its_own_organisation(accounts):
    db, partner = accounts["db"], accounts["partner"]
    before = table_counts(db)
    for name, call in writes(accounts).items():
        with pytest.raises(InputError):
            call(partner)
        assert table_counts(db) == before, name
    cid = repo.get_challenge(db)["id"]
    idea = int(repo.list_ideas(db, cid)["id"].iloc[0])
    own = repo.plan_cycle(db, partner, idea_id=idea, organisation_id=accounts["pp_id"],
                          objective="o", question="q", prediction="p",
                          start_date="2026-03-02", end_date="2026-03-09")
    repo.record_do(db, partner, own, do_notes="done", went_as_planned=True)
    assert repo.list_audit(db, ADMIN).iloc[0]["actor"] == "pp_user"
    today = clock.today()
    monday = today - dt.timedelta(days=today.weekday())
    week = monday - dt.timedelta(weeks=1)
    mixed = (f"organisation,measure,period,value\n{PP},REF,{week},3\n"
             f"Riverside Medical Practice (demo),REF,{week},4\n").encode()
    refused = ingest.commit(db, mixed, "m.csv", partner)
    assert not refused.ok and refused.errors[0].row == 3
    assert "only for Peer Pathways (demo)" in str(refused.errors[0])
    accepted = ingest.commit(db, f"organisation,measure,period,value\n{PP},REF,{week},3\n"
                             .encode(), "own.csv", partner)
    assert accepted.batch_id is not None


def test_a_partner_reads_only_its_own_named_data(accounts, tmp_path):
    db, partner = accounts["db"], accounts["partner"]
    cid = repo.get_challenge(db)["id"]
    assert repo.list_organisations(db, partner)["name"].tolist() == [PP]
    assert set(repo.list_cycles(db, partner, cid)["organisation"]) == {PP}
    assert set(observations.load_results(db, partner)["organisation"]) == {PP}
    assert observations.load_results(db, partner, organisation_ids=[accounts["other_id"]]).empty
    other_cycle = int(repo.list_cycles(db, ADMIN, cid, organisation_id=accounts["other_id"])
                      ["id"].iloc[0])
    assert repo.get_cycle(db, partner, other_cycle) is None
    fresh = observations.results_freshness(db, partner)
    assert fresh["organisation"].tolist()[0] == PP
    assert fresh["organisation"].iloc[1].startswith(auth.OTHERS)
    assert set(batches.list_batches(db, partner)["organisation"].dropna()) <= {PP}
    with pytest.raises(PermissionDenied):
        repo.list_audit(db, partner)
    written = export.export_all(db, partner, tmp_path)
    assert "audit_log.csv" not in {p.name for p in written}
    text = " ".join(p.read_text() for p in written)
    assert PP in text
    for name in accounts["other_names"]:
        assert name not in text, name


def test_a_viewer_reads_and_exports_everything(accounts, tmp_path):
    db, viewer = accounts["db"], accounts["viewer"]
    assert len(repo.list_organisations(db, viewer)) == 8
    written = {p.name for p in export.export_all(db, viewer, tmp_path)}
    assert "results.csv" in written and "audit_log.csv" not in written
    with pytest.raises(PermissionDenied):
        repo.list_audit(db, viewer)


def test_the_audit_log_cannot_be_changed_from_the_data_layer():
    """No statement in tracker/ updates or deletes audit rows."""
    import re

    for path in (ROOT / "tracker").glob("*.py"):
        text = path.read_text()
        assert not re.search(r"(UPDATE|DELETE FROM)\s+audit_log", text, re.IGNORECASE), path


# --------------------------------------------------------------------------- command line


def run(*args, stdin=""):
    return warm_start.run([sys.executable, "-m", "tracker", *args], cwd=ROOT, input=stdin,
                          capture_output=True, text=True, timeout=120)


def test_user_commands(tmp_path):
    path = str(tmp_path / "u.duckdb")
    assert run("init", "--db", path).returncode == 0
    assert run("user", "add", "--name", "boss", "--role", "admin", "--password", "x" * 20,
               "--db", path).returncode == 2  # a password never goes on the command line
    short = run("user", "add", "--name", "boss", "--role", "admin", "--db", path,
                stdin="short\n")
    assert short.returncode == 1 and "at least 12 characters" in short.stderr
    added = run("user", "add", "--name", "boss", "--role", "admin", "--db", path,
                stdin=PASSWORD + "\n")
    assert added.returncode == 0 and "Login is now on" in added.stdout
    assert run("user", "add", "--name", "lead", "--role", "viewer", "--db", path,
               stdin=PASSWORD + "\n").returncode == 0
    assert run("user", "disable", "--name", "lead", "--db", path).returncode == 0
    listed = run("user", "list", "--db", path)
    assert "boss\tadmin\tactive" in listed.stdout and "lead\tviewer\tdisabled" in listed.stdout
    reset = run("user", "reset-password", "--name", "lead", "--db", path,
                stdin="another long password\n")
    assert reset.returncode == 0
    missing = run("user", "disable", "--name", "ghost", "--db", path)
    assert missing.returncode == 1 and "No account is called 'ghost'" in missing.stderr


def test_only_the_lab_team_starts_a_new_phase_a_partner_adds_notes(accounts):
    db, partner = accounts["db"], accounts["partner"]
    measure = int(repo.list_measures(db)["id"].iloc[0])
    before = table_counts(db)
    with pytest.raises(PermissionDenied, match="new phase"):
        observations.add_annotation(db, partner, measure_id=measure,
                                    organisation_id=accounts["pp_id"],
                                    on_date=clock.today(), kind="phase", text="rebase")
    assert table_counts(db) == before
    observations.add_annotation(db, partner, measure_id=measure,
                                organisation_id=accounts["pp_id"], on_date=clock.today(),
                                kind="note", text="a note from the partner")
    observations.add_annotation(db, accounts["admin"], measure_id=measure,
                                organisation_id=accounts["pp_id"], on_date=clock.today(),
                                kind="phase", text="adopted")


def test_acts_end_date_is_not_after_today(accounts):
    db, admin = accounts["db"], accounts["admin"]
    cid = repo.get_challenge(db)["id"]
    idea = int(repo.list_ideas(db, cid)["id"].iloc[0])
    today = clock.today()
    cycle = repo.plan_cycle(db, admin, idea_id=idea, organisation_id=accounts["pp_id"],
                            objective="o", question="q", prediction="p",
                            start_date=today - dt.timedelta(days=7),
                            end_date=today + dt.timedelta(days=7))
    repo.record_do(db, admin, cycle, do_notes="done", went_as_planned=True)
    repo.record_study(db, admin, cycle, study_notes="s", learning="l")
    before = table_counts(db)
    with pytest.raises(InputError, match="after today"):
        repo.record_act(db, admin, cycle, decision="adopt", next_steps="n",
                        end_date=today + dt.timedelta(days=1))
    assert table_counts(db) == before
    repo.record_act(db, admin, cycle, decision="adopt", next_steps="n", end_date=today)


def test_web_sessions_tickets_tokens_idle_and_changes(accounts):
    from tracker.access import web_sessions as ws

    db, admin = accounts["db"], accounts["admin"]
    now = dt.datetime.now()
    B = "the browser's own cookie"  # noqa: N806
    viewer = auth.authenticate(db, "lead", PASSWORD)
    ticket = ws.start(db, viewer, B, now)
    token = ws.redeem(db, ticket, B, now)
    assert token and ws.redeem(db, ticket, B, now) is None  # a ticket is used once
    assert ws.redeem(db, ws.start(db, viewer, B, now), B, now + dt.timedelta(minutes=2)) is None
    assert ws.resume(db, token, now)[0].actor == "lead"
    assert db.scalar("SELECT count(*) FROM web_session WHERE token_hash = ?", [token]) == 0
    # idle too long: ended, with the reason
    scope, why = ws.resume(db, token, now + auth.IDLE_TIMEOUT + dt.timedelta(minutes=1))
    assert scope is None and "30 minutes" in why
    assert ws.resume(db, token, now) == (None, None)  # and it stays ended
    # a password reset ends the others
    token = ws.redeem(db, ws.start(db, viewer, B, now), B, now)
    auth.reset_password(db, admin, "lead", "another long password")
    scope, why = ws.resume(db, token, now)
    assert scope is None and "password or role was changed" in why
    # logging out ends it
    fresh = auth.authenticate(db, "lead", "another long password")
    token = ws.redeem(db, ws.start(db, fresh, B, now), B, now)
    ws.end(db, token, now)
    assert ws.resume(db, token, now) == (None, None)
    assert ws.ended(db, token)  # every tab holding a copy of the cookie is signed out
    # login CSRF: a ticket completes only in the browser that started the sign-in
    ticket = ws.start(db, fresh, B, now)
    assert ws.redeem(db, ticket, "another browser's cookie", now) is None
    assert ws.redeem(db, ticket, None, now) is None
    assert ws.redeem(db, ticket, B, now)  # not used up by the refusals
    with pytest.raises(ValueError):
        ws.start(db, fresh, "", now)


def test_the_tab_that_signed_in_names_its_session_by_id(accounts):
    """Issue 22: the tab that signs in goes on without a page load, so its websocket never
    carries the cookie; it keeps the session's id, and a logout, a check and activity work
    by id as by the cookie's token."""
    from tracker.access import web_sessions as ws

    db = accounts["db"]
    now = dt.datetime.now()
    B = "the browser's own cookie"  # noqa: N806
    ticket = ws.start(db, auth.authenticate(db, "lead", PASSWORD), B, now)
    session = ws.ticket_session(db, ticket)
    assert isinstance(session, int) and not ws.ended(db, session)
    token = ws.redeem(db, ticket, B, now)
    assert ws.ticket_session(db, ticket) is None  # used up
    later = now + dt.timedelta(minutes=5)
    ws.seen(db, session, later)
    assert db.scalar("SELECT last_seen FROM web_session WHERE id = ?", [session]) == later
    ws.end(db, session, later)
    assert ws.ended(db, session) and ws.ended(db, token)  # the cookie's copies end with it
    assert ws.resume(db, token, later) == (None, None)
    assert not ws.ended(db, None) and not ws.ended(db, "")


@pytest.mark.parametrize("asked, sent", [
    ("/review", "/review"), ("/outcomes?measure=3", "/outcomes?measure=3"), (None, "/"),
    ("https://evil.example/x", "/"), ("//evil.example/x", "/"), ("/\\evil.example", "/"),
    ("javascript:alert(1)", "/")])
def test_after_sign_in_the_browser_goes_only_to_this_site(asked, sent):
    from tracker.access import web_sessions

    assert web_sessions.safe_next(asked) == sent


def test_a_partner_gets_one_message_for_a_row_of_another_organisation(accounts):
    db, partner = accounts["db"], accounts["partner"]
    monday = clock.today() - dt.timedelta(days=clock.today().weekday() + 7)
    data = (f"organisation,measure,period,value\nRiverside Medical Practice (demo),REF,"
            f"{monday},5\n").encode()
    for organisation in (None, PP):
        report = ingest.check(db, data, "x.csv", partner, organisation=organisation)
        assert len(report.errors) == 1, [str(e) for e in report.errors]


def test_a_sign_in_leaves_every_cache_as_it_was(demo_db, tmp_path):
    """Caches key on `data_version`. A sign-in (and a refused one, and an export) is audited
    but changes no data: it used to move the version, so every sign-in by anyone made every
    page of every person compute its figures again. A change of the data still moves it."""
    add_role_accounts(demo_db)
    before = repo.data_version(demo_db)
    auth.authenticate(demo_db, "pp_user", PASSWORD)
    with pytest.raises(auth.AuthError):
        auth.authenticate(demo_db, "pp_user", "not the password")
    export.export_all(demo_db, ADMIN, tmp_path / "out")
    assert demo_db.scalar("SELECT max(id) FROM audit_log") > before  # all three audited
    assert repo.data_version(demo_db) == before
    org = repo.list_organisations(demo_db, ADMIN).iloc[0]
    repo.update_organisation(demo_db, ADMIN, int(org["id"]), name=org["name"],
                             kind=org["kind"], region="Somewhere else")
    assert repo.data_version(demo_db) > before
