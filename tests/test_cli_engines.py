"""The command line on both engines, run as people run it: a real `python -m tracker`
process on a demo lab in a DuckDB file and in a PostgreSQL database (issue 14: every CLI test
on both engines). The same commands, the same answers, the same refusals."""

from __future__ import annotations

import os
import shutil
import sys
import uuid

import pytest
import warm_start
from conftest import ENGINES, PASSWORD, ROOT

from tracker.storage import backup_folder
from tracker.storage.db import Database
from tracker.storage.engines import open_database

ORG = "Peer Pathways (demo)"


def cli(location: str, *args, stdin: str = ""):
    env = {**os.environ, "TRACKER_DB": location, "PYTHONPATH": str(ROOT)}
    return warm_start.run([sys.executable, "-m", "tracker", *args], cwd=ROOT, env=env,
                          input=stdin, capture_output=True, text=True, timeout=300)


@pytest.fixture(params=ENGINES)
def empty(request, tmp_path) -> str:
    """Where a new lab goes: a file path, or an empty PostgreSQL database."""
    if request.param == "duckdb":
        return str(tmp_path / "lab.duckdb")
    return request.getfixturevalue("pg_url")


@pytest.fixture(params=ENGINES)
def lab(request, demo_template, tmp_path) -> str:
    """The demo lab on each engine (on PostgreSQL moved there by migrate-to)."""
    path = tmp_path / "demo.duckdb"
    shutil.copy(demo_template, path)
    if request.param == "duckdb":
        return str(path)
    from tracker.storage.migrate_to import migrate_to

    url = request.getfixturevalue("pg_url")
    with Database(path) as source:
        migrate_to(source, url)
    return url


def _batches(location: str) -> int:
    with open_database(location) as db:
        return int(db.scalar("SELECT count(*) FROM upload_batch"))


def test_init_then_demo_then_refused_then_if_empty(empty):
    first = cli(empty, "init")
    assert first.returncode == 0 and "Database ready" in first.stdout, first.stderr
    loaded = cli(empty, "demo", "--seed", "3")
    assert loaded.returncode == 0 and "PDSA cycles" in loaded.stdout, loaded.stderr
    again = cli(empty, "demo")
    assert again.returncode == 1 and "already holds data" in again.stderr
    assert cli(empty, "demo", "--if-empty").returncode == 0
    assert "Traceback" not in first.stderr + loaded.stderr + again.stderr


def test_accounts_and_tokens_from_the_command_line(lab):
    short = cli(lab, "user", "add", "--name", "boss", "--role", "admin", stdin="short\n")
    assert short.returncode == 1 and "at least 12 characters" in short.stderr
    added = cli(lab, "user", "add", "--name", "boss", "--role", "admin", stdin=PASSWORD + "\n")
    assert added.returncode == 0 and "Login is now on" in added.stdout, added.stderr
    taken = cli(lab, "user", "add", "--name", "BOSS", "--role", "viewer", stdin=PASSWORD + "\n")
    assert taken.returncode == 1 and "is taken" in taken.stderr
    partner = cli(lab, "user", "add", "--name", "pp_user", "--role", "partner", "--org", ORG,
                  stdin=PASSWORD + "\n")
    assert partner.returncode == 0, partner.stderr
    assert cli(lab, "user", "disable", "--name", "pp_user").returncode == 0
    listed = cli(lab, "user", "list").stdout
    assert "boss\tadmin\tactive" in listed and f"pp_user\tpartner, {ORG}\tdisabled" in listed
    missing = cli(lab, "user", "disable", "--name", "ghost")
    assert missing.returncode == 1 and "No account is called 'ghost'" in missing.stderr

    made = cli(lab, "token", "add", "--org", ORG, "--label", "their EPR")
    assert made.returncode == 0, made.stderr
    tokens = cli(lab, "token", "list").stdout
    assert "their EPR" in tokens and ORG in tokens
    nowhere = cli(lab, "token", "add", "--org", "Nowhere Trust", "--label", "x")
    assert nowhere.returncode == 1 and "Traceback" not in nowhere.stderr
    with open_database(lab) as db:
        token_id = int(db.scalar("SELECT max(id) FROM api_token"))
    assert cli(lab, "token", "revoke", "--id", str(token_id)).returncode == 0
    with open_database(lab) as db:
        assert db.scalar("SELECT revoked_at IS NOT NULL FROM api_token WHERE id = ?",
                         [token_id])
        assert db.scalar("SELECT count(*) FROM audit_log WHERE entity = 'api_token'") >= 2


def test_import_from_the_command_line(lab, tmp_path):
    with open_database(lab) as db:
        rows = db.read(
            "SELECT o.name AS organisation, m.name AS measure, r.period, r.value,"
            " r.numerator, r.denominator FROM current_result r JOIN organisation o ON o.id ="
            " r.organisation_id JOIN measure m ON m.id = r.measure_id WHERE o.name = ?"
            " AND r.denominator IS NULL"
            " ORDER BY m.name, r.period DESC", [ORG]).head(40)
    rows["value"] = (rows["value"] * 1.05).round(2)
    good = tmp_path / "good.csv"
    rows.to_csv(good, index=False)
    before = _batches(lab)

    checked = cli(lab, "import", str(good), "--dry-run")
    assert checked.returncode == 0 and "Ready:" in checked.stdout, checked.stderr
    assert _batches(lab) == before
    stored = cli(lab, "import", str(good))
    assert stored.returncode == 0 and "Stored good.csv" in stored.stdout, stored.stderr
    assert _batches(lab) == before + 1
    again = cli(lab, "import", str(good))
    assert again.returncode == 0 and "already stored" in again.stdout

    bad = tmp_path / "bad.csv"
    broken = rows.astype({"value": object})
    broken.loc[3, "value"] = "lots"
    broken.to_csv(bad, index=False)
    refused = cli(lab, "import", str(bad))
    assert refused.returncode == 1
    assert "row 5" in refused.stderr.lower() and "value" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert _batches(lab) == before + 1


def test_export_reports_and_a_backup_from_the_command_line(lab, tmp_path):
    exported = cli(lab, "export", "--out", str(tmp_path / "export"))
    assert exported.returncode == 0, exported.stderr
    assert (tmp_path / "export" / "organisations.csv").exists() or \
        len(list((tmp_path / "export").glob("*.csv"))) >= 5
    page = tmp_path / "learning.html"
    assert cli(lab, "learning", "--public", "--out", str(page)).returncode == 0
    assert "What we learned" in page.read_text()
    digest = tmp_path / "digest.md"
    done = cli(lab, "digest", "--since", "2026-01-01", "--out", str(digest))
    assert done.returncode == 0 and digest.read_text().strip(), done.stderr

    made = cli(lab, "backup", "--out", str(tmp_path / "backups"))
    assert made.returncode == 0, made.stderr
    assert "Backup written to" in made.stdout
    kept = [p for p in (tmp_path / "backups").iterdir() if p.suffix != ".sha256"]
    assert len(kept) == 1
    # its checksum beside it, private to the tracker's user like the backup itself
    checksum = kept[0].with_name(kept[0].name + ".sha256")
    assert checksum.read_text().split() == [backup_folder.sha256_of(kept[0]), kept[0].name]
    assert kept[0].stat().st_mode & 0o777 == 0o600 and checksum.stat().st_mode & 0o777 == 0o600
    if not lab.startswith("postgresql"):
        assert kept[0].suffix == ".duckdb"
        return
    assert kept[0].suffix == ".dump" and "pg_dump" in made.stdout
    # restored into a new, empty database: the same rows; never over the live lab
    import psycopg

    server = lab.split("?", 1)[1]
    fresh = "t_" + uuid.uuid4().hex[:12]
    admin_url = f"postgresql:///postgres?{server}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {fresh}")
    target = f"postgresql:///{fresh}?{server}"
    try:
        over = cli(lab, "restore", "--from", str(tmp_path / "backups"))
        assert over.returncode == 1 and "not empty" in over.stderr
        assert "Traceback" not in over.stderr
        restored = cli(target, "restore", "--from", str(tmp_path / "backups"))
        assert restored.returncode == 0, restored.stderr
        with open_database(lab) as live, open_database(target) as copy:
            for table in ("result", "cycle", "organisation", "audit_log", "upload_batch"):
                assert live.scalar(f"SELECT count(*) FROM {table}") == \
                    copy.scalar(f"SELECT count(*) FROM {table}")
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {fresh} WITH (FORCE)")
