"""PostgreSQL, where several app servers and command lines write at once: names stay unique
by the database's own indexes (migration 0009), and a lost race is said in a sentence."""

from __future__ import annotations

import threading

import pytest
import warm_start

from tracker.access import auth
from tracker.errors import ConcurrentChange, InputError
from tracker.records import repo

ADMIN = auth.Scope.admin("lab")


def _at_once(jobs: list) -> list:
    """Run the callables together (a barrier starts them); what each returned or raised."""
    barrier = threading.Barrier(len(jobs))
    outcomes: list = [None] * len(jobs)

    def run(i, job):
        barrier.wait()
        try:
            outcomes[i] = job()
        except Exception as exc:  # noqa: BLE001 - the outcome under test
            outcomes[i] = exc

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes


def test_app_servers_adding_one_organisation_at_once_store_it_once(pg_url):
    from tracker.storage.pg import PostgresDatabase

    servers = [PostgresDatabase(pg_url) for _ in range(3)]
    try:
        names = ["Age UK Leeds", "age uk leeds", "AGE UK LEEDS", "Age UK Leeds"] * 3
        outcomes = _at_once([
            (lambda db=servers[i % 3], n=n: repo.add_organisation(
                db, ADMIN, name=n, kind="charity", region="Yorkshire"))
            for i, n in enumerate(names)])
        stored = [o for o in outcomes if isinstance(o, int)]
        refused = [o for o in outcomes if isinstance(o, InputError)]
        assert len(stored) == 1, outcomes
        assert len(stored) + len(refused) == len(names), outcomes  # nothing else went wrong
        for exc in refused:  # each one a sentence: taken, or lost the race
            assert "already taken" in str(exc) or isinstance(exc, ConcurrentChange)
        assert servers[0].scalar("SELECT count(*) FROM organisation") == 1
    finally:
        for db in servers:
            db.close()


@pytest.fixture
def pg(pg_url):
    """A tracker database on PostgreSQL only (what only that engine has)."""
    from tracker.storage.pg import PostgresDatabase

    with PostgresDatabase(pg_url) as database:
        yield database


def test_the_database_refuses_a_name_the_data_layer_did_not_see(pg):
    """Belt and braces: a second organisation written past the data layer's check (by a
    writer outside the tracker, say) meets the unique index, answered in words. (The embedded
    file has one writer, whose data layer keeps names unique.)"""
    db = pg
    repo.add_organisation(db, ADMIN, name="Leeds Mind", kind="charity")
    with pytest.raises(ConcurrentChange) as refused, db.transaction() as cur:
        cur.execute("INSERT INTO organisation (name, kind) VALUES ('LEEDS MIND', 'charity')")
    assert str(refused.value).startswith("An organisation with that name was saved by "
                                         "someone else at the same moment")
    assert db.scalar("SELECT count(*) FROM organisation") == 1
    with pytest.raises(ConcurrentChange, match="An account with that username"), \
            db.transaction() as cur:
        for _ in range(2):
            cur.execute("INSERT INTO account (username, role, password_hash) "
                        "VALUES ('Ann', 'admin', 'x')")


def test_names_stay_unique_as_before_on_both_engines(db):
    """Migration 0009 is recorded on both engines; renames of a referenced organisation still
    work on the embedded file (which carries no such index)."""
    assert db.scalar("SELECT max(version) FROM schema_migrations") >= 9
    org = repo.add_organisation(db, ADMIN, name="Leeds Mind", kind="charity")
    with pytest.raises(InputError, match="already taken"):
        repo.add_organisation(db, ADMIN, name="leeds  mind", kind="charity")
    repo.update_organisation(db, ADMIN, org, name="Mind in Leeds", kind="charity")
    assert db.scalar("SELECT name FROM organisation") == "Mind in Leeds"


def test_a_failed_statement_is_not_hidden_by_the_clean_up_after_it(pg):
    """A temporary table's clean-up inside a failed transaction used to raise "current
    transaction is aborted", hiding a lost serialization race from the retry."""
    import pandas as pd

    db = pg
    with pytest.raises(Exception, match="division by zero"), db.transaction() as cur:
        cur.register("incoming", pd.DataFrame({"x": [1, 2]}))
        try:
            cur.execute("SELECT 1 / (x - x) FROM incoming").fetchall()
        finally:
            cur.unregister("incoming")


def test_partners_of_one_organisation_uploading_at_once_through_three_servers(pg_url,
                                                                             demo_path):
    """Several partners' systems send files for the same organisation to different app
    servers at the same moment: every file is stored whole (or found already stored), and
    no (organisation, measure, period) ends up with two current values."""
    import sys

    from tests.conftest import ROOT
    from tracker.intake import ingest
    from tracker.storage.pg import PostgresDatabase

    assert warm_start.run([sys.executable, "-m", "tracker", "migrate-to", "--db",
                           str(demo_path), pg_url], cwd=ROOT, capture_output=True).returncode == 0
    servers = [PostgresDatabase(pg_url) for _ in range(3)]
    try:
        org = servers[0].read("SELECT id, name FROM organisation ORDER BY id").iloc[0]
        rows = servers[0].read(
            "SELECT o.name AS organisation, m.name AS measure, r.period, r.value, r.numerator,"
            " r.denominator FROM current_result r JOIN organisation o ON o.id ="
            " r.organisation_id JOIN measure m ON m.id = r.measure_id WHERE"
            " r.organisation_id = ? ORDER BY r.measure_id, r.period DESC", [int(org["id"])])
        files = []
        for i in range(6):
            changed = rows.copy()
            changed["value"] = (changed["value"] * (1.01 + i / 100)).round(2)
            files.append(changed.to_csv(index=False).encode())
        reports = _at_once([
            (lambda db=servers[i % 3], data=data, name=f"file-{i}.csv": ingest.commit(
                db, data, name, ADMIN)) for i, data in enumerate(files)])
        for report in reports:
            assert not isinstance(report, Exception), report
            assert report.ok, report.errors
            assert report.batch_id is not None
        stored = servers[0].read("SELECT batch_id, count(*) AS n FROM result"
                                 " WHERE batch_id IN (SELECT id FROM upload_batch WHERE"
                                 " file_name LIKE 'file-%') GROUP BY batch_id")
        assert dict(zip(stored["batch_id"], stored["n"], strict=True)) == {
            r.batch_id: r.new + r.updated for r in reports}
        assert servers[0].scalar(
            "SELECT count(*) FROM (SELECT organisation_id, measure_id, period FROM"
            " current_result GROUP BY organisation_id, measure_id, period"
            " HAVING count(*) > 1) d") == 0
    finally:
        for db in servers:
            db.close()


def test_the_app_says_in_words_when_its_database_server_cannot_be_reached(monkeypatch):
    from tests.conftest import open_app

    at = open_app(monkeypatch, "postgresql://tracker:secret@/lab?host=/nonexistent")
    text = " ".join(e.value for e in at.error)
    assert "The tracker cannot open its database" in text
    assert "Cannot reach the PostgreSQL database" in text
    assert "secret" not in text and "tracker:***@" in text


def test_one_person_signing_in_on_three_servers_at_once_is_never_refused(pg_url):
    """Two tabs, two servers, a script: sign-ins and session writes of one account at the
    same moment each update the account's row. The loser of that race is run again, so every
    sign-in goes through (the 3-server load test showed the login page an error)."""
    from tracker.access import web_sessions
    from tracker.storage.pg import PostgresDatabase

    servers = [PostgresDatabase(pg_url) for _ in range(3)]
    try:
        auth.add_user(servers[0], None, username="lead", role="admin",
                      password="correct horse battery")
        outcomes = _at_once([
            (lambda db=servers[i % 3], tab=f"tab {i}": web_sessions.start(
                db, auth.authenticate(db, "lead", "correct horse battery", client=tab), tab))
            for i in range(9)])
        assert all(isinstance(o, str) for o in outcomes), outcomes
        assert servers[0].scalar("SELECT count(*) FROM audit_log WHERE action = 'login'") == 9
    finally:
        for db in servers:
            db.close()


def test_app_servers_starting_at_once_on_a_new_database_migrate_it_once(pg_url):
    from tracker.storage.pg import PostgresDatabase

    outcomes = _at_once([lambda: PostgresDatabase(pg_url) for _ in range(4)])
    try:
        assert all(isinstance(o, PostgresDatabase) for o in outcomes), outcomes
        versions = outcomes[0].read("SELECT version FROM schema_migrations ORDER BY version")
        assert list(versions["version"]) == list(range(1, len(versions) + 1))
    finally:
        for o in outcomes:
            if isinstance(o, PostgresDatabase):
                o.close()


def test_back_up_now_on_the_backups_page_on_postgresql(monkeypatch, pg_url, tmp_path):
    """Admin → Backups on a lab on PostgreSQL: a pg_dump, checked, listed; the page says
    the daily backup is the server's schedule and how to restore into a new database."""
    from streamlit.testing.v1 import AppTest

    from tests.conftest import ROOT
    from tracker.storage import backup

    monkeypatch.setenv("TRACKER_DB", pg_url)
    monkeypatch.setenv("TRACKER_BACKUP_DIR", str(tmp_path / "kept"))
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=120)
    at.run()
    at.switch_page("app_pages/backups.py").run()
    assert not at.exception
    assert "pg\\_dump" in at.markdown[0].value or any("pg" in m.value for m in at.markdown)
    assert any(m.value == "By the server's schedule" for m in at.metric)
    [b for b in at.button if b.label == "Back up now"][0].click().run()
    assert not at.exception and "and checked" in at.success[0].value
    kept = backup.list_backups(tmp_path / "kept")
    assert len(kept) == 1 and kept[0].path.suffix == ".dump"
    assert len(at.dataframe[0].value) == 1
    assert "lab_restored" in at.code[0].value
