"""The command line, run as users run it: a real process on a real file."""

import subprocess
import sys
import time

import pandas as pd
import warm_start
from conftest import ROOT

from tracker.storage.db import Database


def run(*args, env=None):
    return warm_start.run([sys.executable, "-m", "tracker", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, env=env)


def test_init_creates_and_reinit_is_harmless(tmp_path):
    path = tmp_path / "new" / "t.duckdb"
    first = run("init", "--db", str(path))
    assert first.returncode == 0 and "ready" in first.stdout and path.exists()
    assert run("init", "--db", str(path)).returncode == 0


def test_demo_then_refuse_then_if_empty(tmp_path):
    """The demo loads once, and never over data. Loaded with `--accounts` (issue 24): an
    account for each role with one password printed once (stored only hashed), the partner's
    question mentions the lab lead, who finds it under For you, and the contributor sees what
    became of the ideas they sent."""
    import re

    from tracker.access import auth
    from tracker.community import comments, submissions
    from tracker.records import repo

    path = tmp_path / "d.duckdb"
    loaded = run("demo", "--db", str(path), "--seed", "3", "--accounts")
    assert loaded.returncode == 0, loaded.stderr
    assert "PDSA cycles" in loaded.stdout
    with Database(path) as db:  # the results' own weeks, not the challenge's end (issue 22)
        last = db.scalar("SELECT max(period) FROM result")
    assert f"to {pd.Timestamp(last):%d %b %Y}); the challenge runs" in loaded.stdout
    again = run("demo", "--db", str(path))
    assert again.returncode == 1
    assert "already holds data" in again.stderr and "Traceback" not in again.stderr
    assert run("demo", "--db", str(path), "--if-empty").returncode == 0

    password = re.search(r"the password (\S+) \(shown only now\)", loaded.stdout).group(1)
    assert "pp_coordinator: Partner organisation, Peer Pathways (demo)" in loaded.stdout
    assert "community_voice: Contributor" in loaded.stdout
    with Database(path) as db:
        roles = dict(db.read("SELECT username, role FROM account").values.tolist())
        assert sorted(roles.values()) == ["admin", "contributor", "partner", "partner", "viewer"]
        assert password not in db.read("SELECT * FROM account").to_csv()
        lab = auth.authenticate(db, "lab_lead", password)
        asked = comments.for_you(db, lab)
        mention = asked[asked["why"] == "mentioned you"]
        assert len(mention) == 1 and "@lab_lead" in mention["text"].iloc[0], asked
        partner = auth.authenticate(db, "pp_coordinator", password)
        assert "replied to you" in set(comments.for_you(db, partner)["why"])
        contributor = auth.authenticate(db, "community_voice", password)
        sent = submissions.mine(db, contributor, int(repo.get_challenge(db)["id"]))
        assert set(sent["status"]) == {"accepted", "parked", "sent"}, sent


def test_wrong_usage_exits_2(tmp_path):
    assert run("frobnicate").returncode == 2
    assert run("demo", "--seed", "many").returncode == 2
    assert run("demo", "--as-of", "yesterday", "--db", str(tmp_path / "x.duckdb")).returncode == 2


def test_tracker_db_environment_variable(tmp_path):
    import os
    env = {**os.environ, "TRACKER_DB": str(tmp_path / "env.duckdb")}
    assert run("init", env=env).returncode == 0
    assert (tmp_path / "env.duckdb").exists()


def test_a_holder_is_named_by_its_program_not_by_the_files_it_was_given(tmp_path):
    """Another program that holds a file in a folder called "tracker" is not the tracker."""
    from tracker.storage import base

    folder = tmp_path / "tracker-files"
    folder.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)",
                               str(folder / "held.duckdb")])
    try:
        said = base._holder(f"Conflicting lock is held in python (PID {holder.pid})")
        assert said.startswith(f"another program (process {holder.pid}") and "command line" \
            not in said
    finally:
        holder.kill()
        holder.wait()


def test_locked_database_gets_a_clear_message(tmp_path):
    path = tmp_path / "held.duckdb"
    assert run("init", "--db", str(path)).returncode == 0
    holder = subprocess.Popen(
        [sys.executable, "-c",
         f"import duckdb, time; c = duckdb.connect({str(path)!r}); print('ready', flush=True); "
         "time.sleep(60)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        started = time.monotonic()
        result = run("demo", "--db", str(path))
        assert result.returncode == 1
        assert "in use by another program" in result.stderr
        assert "Traceback" not in result.stderr
        assert time.monotonic() - started < 100
    finally:
        holder.kill()
        holder.wait()


def test_a_file_that_is_not_a_database(tmp_path):
    path = tmp_path / "notes.duckdb"
    path.write_text("these are my meeting notes, not a database")
    result = run("init", "--db", str(path))
    assert result.returncode == 1
    assert "Cannot open" in result.stderr and "Traceback" not in result.stderr
