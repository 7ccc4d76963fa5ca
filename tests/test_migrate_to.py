"""`python -m tracker migrate-to URL`: a lab moved from its embedded file onto PostgreSQL,
every table identical after the move (run as a real command, checked independently)."""

from __future__ import annotations

import os
import sys

import duckdb
import psycopg
import pytest
import warm_start

from tests.conftest import ROOT, add_role_accounts
from tracker.access import auth
from tracker.intake import api_tokens
from tracker.records import repo
from tracker.storage.db import Database


def _cli(*args, env_db=None):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("TRACKER_DB", None)
    if env_db:
        env["TRACKER_DB"] = env_db
    return warm_start.run([sys.executable, "-m", "tracker", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def _file_tables(path) -> dict[str, list[tuple]]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        names = [r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' "
            "AND table_type = 'BASE TABLE' AND table_name <> 'schema_migrations'").fetchall()]
        return {t: sorted(con.execute(f'SELECT * FROM "{t}"').fetchall(), key=repr)
                for t in names}
    finally:
        con.close()


def _pg_tables(url, names) -> dict[str, list[tuple]]:
    with psycopg.connect(url) as con:
        # as the tracker reads JSON: the text that was stored
        psycopg.types.json.set_json_loads(
            lambda data: data if isinstance(data, str) else data.decode(), con)
        out = {}
        for t in names:
            cols = [r[0] for r in con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = %s "
                "AND table_schema = 'public' ORDER BY ordinal_position", [t]).fetchall()]
            names_sql = ", ".join(f'"{c}"' for c in cols)
            out[t] = sorted(con.execute(f'SELECT {names_sql} FROM "{t}"').fetchall(), key=repr)
        return out


def test_a_lab_moves_onto_postgresql_with_every_table_identical(demo_path, pg_url):
    with Database(demo_path) as lab:  # a lab as it stands after months: accounts, tokens
        roles = add_role_accounts(lab)
        api_tokens.create(lab, roles["admin"], organisation="Peer Pathways (demo)",
                          label="their EPR")
        with pytest.raises(auth.AuthError):  # a failed sign-in, logged
            auth.authenticate(lab, "lead", "wrong password")
    before = _file_tables(demo_path)
    assert sum(len(rows) for rows in before.values()) > 4_000

    done = _cli("migrate-to", "--db", str(demo_path), pg_url)
    assert done.returncode == 0, done.stderr
    assert "every table checked row by row" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr

    after = _pg_tables(pg_url, before)
    for table, rows in before.items():
        assert after[table] == rows, f"{table} differs after the move"
    assert _file_tables(demo_path) == before  # the file is unchanged

    # The lab carries on there: sign-ins, new rows after the old ids, migrations recorded.
    from tracker.storage.pg import PostgresDatabase

    with PostgresDatabase(pg_url) as moved:
        assert auth.authenticate(moved, "boss", "correct horse battery") is not None
        highest = max(r[0] for r in before["organisation"])
        new_id = repo.add_organisation(moved, auth.Scope.admin("boss"), name="Leeds Mind",
                                       kind="charity")
        assert new_id > highest
        assert moved.scalar("SELECT max(version) FROM schema_migrations") >= 9


def test_the_move_refuses_a_database_that_holds_data_and_changes_nothing(demo_path, pg_url):
    assert _cli("migrate-to", "--db", str(demo_path), pg_url).returncode == 0
    counts = {t: len(rows) for t, rows in _pg_tables(pg_url, _file_tables(demo_path)).items()}

    again = _cli("migrate-to", "--db", str(demo_path), pg_url)
    assert again.returncode == 1
    assert "already holds data" in again.stderr and "Nothing was changed" in again.stderr
    assert "Traceback" not in again.stderr
    after = _pg_tables(pg_url, _file_tables(demo_path))
    assert {t: len(rows) for t, rows in after.items()} == counts


def test_the_move_says_what_is_wrong_with_its_arguments(demo_path, tmp_path, pg_url):
    not_url = _cli("migrate-to", "--db", str(demo_path), "lab.duckdb")
    assert not_url.returncode == 1 and "is not a PostgreSQL address" in not_url.stderr
    no_file = _cli("migrate-to", "--db", str(tmp_path / "nothing.duckdb"), pg_url)
    assert no_file.returncode == 1 and "There is no database file" in no_file.stderr
    from_pg = _cli("migrate-to", pg_url, env_db=pg_url)
    assert from_pg.returncode == 1 and "already on PostgreSQL" in from_pg.stderr
    unreachable = _cli("migrate-to", "--db", str(demo_path),
                       "postgresql://nobody:secret@/nowhere?host=/nonexistent")
    assert unreachable.returncode == 1
    assert "secret" not in unreachable.stderr and "Traceback" not in unreachable.stderr
    for done in (not_url, no_file, from_pg, unreachable):
        assert "Traceback" not in done.stderr
