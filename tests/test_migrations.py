import duckdb
import pytest

from tracker.storage import base as dbmod
from tracker.storage.base import DatabaseError, migration_files
from tracker.storage.db import Database, migrate


def test_fresh_database_gets_every_migration(db):
    applied = db.read("SELECT version, name FROM schema_migrations ORDER BY version")
    expected = [v for v, _, _ in migration_files()]
    assert applied["version"].tolist() == expected
    tables = set(db.read("SELECT table_name FROM information_schema.tables")["table_name"])
    for table in ("challenge", "driver", "idea", "organisation", "measure", "cycle",
                  "cycle_measure", "result", "upload_batch", "annotation", "audit_log",
                  "current_result"):
        assert table in tables


def test_rerun_is_a_no_op(db_path):
    Database(db_path).close()
    con = duckdb.connect(str(db_path))
    try:
        assert migrate(con) == []
        assert con.execute("SELECT count(*) FROM schema_migrations").fetchone()[0] == len(
            migration_files())
    finally:
        con.close()
    with Database(db_path) as again:  # reopening migrates nothing and keeps the data
        assert again.scalar("SELECT count(*) FROM schema_migrations") == len(migration_files())


def test_a_failing_migration_rolls_back_whole(tmp_path):
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "0001_ok.sql").write_text("CREATE TABLE a (x INTEGER);")
    (folder / "0002_bad.sql").write_text("CREATE TABLE b (x INTEGER); SELECT * FROM nowhere;")
    con = duckdb.connect(str(tmp_path / "m.duckdb"))
    with pytest.raises(duckdb.Error):
        migrate(con, folder)
    tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables")
              .fetchall()}
    assert "a" in tables and "b" not in tables
    assert [r[0] for r in con.execute("SELECT version FROM schema_migrations").fetchall()] == [1]
    con.close()


def test_badly_named_migration_is_an_error(tmp_path):
    (tmp_path / "1_oops.sql").write_text("SELECT 1;")
    with pytest.raises(DatabaseError, match="NNNN_name.sql"):
        migration_files(tmp_path)


def test_default_path_follows_tracker_db(monkeypatch, tmp_path):
    monkeypatch.setenv("TRACKER_DB", str(tmp_path / "x.duckdb"))
    assert dbmod.default_path() == tmp_path / "x.duckdb"
    monkeypatch.delenv("TRACKER_DB")
    assert dbmod.default_path() == dbmod.ROOT / "db" / "tracker.duckdb"


def test_transaction_rolls_back_on_error(db):
    with pytest.raises(RuntimeError), db.transaction() as cur:
        cur.execute("INSERT INTO organisation (name, kind) VALUES ('A', 'charity')")
        raise RuntimeError("boom")
    assert db.scalar("SELECT count(*) FROM organisation") == 0
