"""Shared fixtures: real DuckDB files in tmp_path, migrated by the real runner."""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tracker import demo  # noqa: E402
from tracker.db import Database  # noqa: E402

AS_OF = dt.date.today()
# The app's daily backup thread is tested on its own (test_hardening_data); the app and
# browser tests run without it. A test that wants it sets the variable itself.
os.environ.setdefault("TRACKER_BACKUP_AT", "off")


@pytest.fixture
def db_path(tmp_path) -> Path:
    return tmp_path / "tracker.duckdb"


@pytest.fixture
def db(db_path):
    database = Database(db_path)
    yield database
    database.close()


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory) -> Path:
    """The demo challenge, built once per test run; tests get their own copy."""
    path = tmp_path_factory.mktemp("demo") / "demo.duckdb"
    with Database(path) as database:
        demo.load_demo(database, seed=1, as_of=AS_OF)
        database.checkpoint()
    return path


@pytest.fixture
def demo_path(demo_template, tmp_path) -> Path:
    path = tmp_path / "demo.duckdb"
    shutil.copy(demo_template, path)
    return path


@pytest.fixture
def demo_db(demo_path):
    database = Database(demo_path)
    yield database
    database.close()


def open_app(monkeypatch, path):
    """The app (AppTest through streamlit_app.py) on the database at `path`, run once."""
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("TRACKER_DB", str(path))
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=90)
    at.run()
    assert not at.exception
    return at


def shown(text: str) -> str:
    """Markdown as a person reads it: the tracker escapes user text before Streamlit renders
    it, and AppTest hands back the escaped source."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", str(text))


def table_counts(database: Database) -> dict[str, int]:
    """Rows in every table: a fingerprint to prove that a refused write changed nothing."""
    tables = database.read(
        "SELECT table_name FROM information_schema.tables"
        " WHERE table_schema = 'main' AND table_type = 'BASE TABLE'")["table_name"]
    return {t: int(database.scalar(f'SELECT count(*) FROM "{t}"')) for t in tables}


PASSWORD = "correct horse battery"
PARTNER_ORG = "Peer Pathways (demo)"


def add_role_accounts(database: Database) -> dict:
    """On the demo: an admin 'boss', a partner 'pp_user' of Peer Pathways and a viewer
    'lead', all with PASSWORD. Returns the admin's scope and the organisation ids by name."""
    from tracker import auth, repo

    orgs = repo.list_organisations(database, auth.Scope.admin("setup")).set_index("name")["id"]
    auth.add_user(database, None, username="boss", role="admin", password=PASSWORD)
    boss = auth.authenticate(database, "boss", PASSWORD)
    auth.add_user(database, boss, username="pp_user", role="partner", password=PASSWORD,
                  organisation_id=int(orgs[PARTNER_ORG]), email="pp@example.org")
    auth.add_user(database, boss, username="lead", role="viewer", password=PASSWORD,
                  email="lead@example.org")
    return {"admin": boss, "orgs": orgs}
