"""PostgreSQL, where several app servers and command lines write at once: names stay unique
by the database's own indexes (migration 0009), and a lost race is said in a sentence."""

from __future__ import annotations

import threading

import pytest

from tracker import auth, repo
from tracker.errors import ConcurrentChange, InputError

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
    from tracker.pg import PostgresDatabase

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


def test_the_database_refuses_a_name_the_data_layer_did_not_see(db):
    """Belt and braces: a second organisation written past the data layer's check (as by a
    command line racing an app server) meets the unique index, answered in words."""
    if getattr(db, "engine", "duckdb") != "postgresql":
        pytest.skip("the embedded file has one writer; its data layer keeps names unique")
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
