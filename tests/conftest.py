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

from tracker import clock, demo  # noqa: E402
from tracker.storage.db import Database  # noqa: E402

# The suite runs on a fixed calendar, the same on any day: the demo is built as of AS_OF, and
# the tracker (in this process and in every app server and command the tests start) takes
# TRACKER_TODAY as today, AS_OF unless set. CI runs the date-dependent tests again at other
# dates by setting TRACKER_TEST_AS_OF and TRACKER_TODAY (tests/dates.md).
AS_OF = dt.date.fromisoformat(os.environ.get("TRACKER_TEST_AS_OF", "2026-11-25"))
os.environ.setdefault(clock.ENV, AS_OF.isoformat())
# The app's daily backup thread is tested on its own (test_hardening_data); the app and
# browser tests run without it. A test that wants it sets the variable itself.
os.environ.setdefault("TRACKER_BACKUP_AT", "off")
# Nor does the app build the learning report ahead of the click as What we learned opens
# (many tests open it; the build would take a core from the rest): tested on its own
# (test_daily_paths).
os.environ.setdefault("TRACKER_PREPARE_REPORTS", "off")
# The suite's workers keep every core busy already: a report's charts are drawn in the
# process that builds it (starting render processes would only add their start-up). The
# parallel path has its own test (test_report.py).
os.environ.setdefault("TRACKER_RENDER_PROCESSES", "1")


def _scan_streamlit_components_once() -> None:
    """Each new AppTest scans the metadata of every installed package for Streamlit
    components (0.4-0.5 s; hundreds of AppTests in the suite). The packages do not change
    while the tests run, so a worker scans once and hands later AppTests the same answer."""
    import functools

    from streamlit.components.v2 import manifest_scanner

    once = functools.cache(manifest_scanner.scan_component_manifests)
    manifest_scanner.scan_component_manifests = lambda max_workers=None: list(once())


_scan_streamlit_components_once()


def _wait_for_apptest_runs_without_spinning() -> None:
    """AppTest waits for a run by waking every millisecond to look through every event of
    the run so far for the end (`require_widgets_deltas`, Streamlit 1.67): on a page of
    many elements that is thousands of passes over a growing list, and each pass takes the
    interpreter from the script it waits on (22 CPU seconds of a suite run, sampled). Here
    the run's own end event wakes the wait, with the same timeout and the same error."""
    import threading

    from streamlit.runtime.scriptrunner import ScriptRunnerEvent
    from streamlit.testing.v1 import local_script_runner

    def require_widgets_deltas(runner, timeout: float = 3) -> None:
        ended = threading.Event()

        def on_event(sender, event, **kwargs):
            if event == ScriptRunnerEvent.SHUTDOWN:
                ended.set()

        runner.on_event.connect(on_event, weak=False)
        try:
            if runner.script_stopped() or ended.wait(timeout):
                return
        finally:
            runner.on_event.disconnect(on_event)
        runner.request_stop()
        runner.join()
        raise RuntimeError(f"AppTest script run timed out after {timeout}(s)")

    local_script_runner.require_widgets_deltas = require_widgets_deltas


_wait_for_apptest_runs_without_spinning()


def pytest_xdist_auto_num_workers(config) -> int:
    """`-n auto`: one worker per core (pyproject caps it at 4). With the longest tests handed
    out first, one at a time, 2 workers on 2 cores keep the machine 94% busy; a third worker
    kept it 99% busy but the work itself grew by a fifth (each worker's app servers and
    Chromiums contending for the same two cores: 1,337 against 1,605 CPU seconds), and the
    run took longer (714 s against 739-810 s)."""
    return os.cpu_count() or 1


# Test files live in memory where there is room: every test copies the 19 MB demo and DuckDB
# syncs each commit to disk, so on a disk the suite waits on writes for minutes. A passing
# test's copy of the demo is removed as it ends (`demo_path`), so a few GB are plenty; with
# less room (a container's small /dev/shm) they go to the usual place.
SHM, SHM_NEEDED = Path("/dev/shm"), 4 * 1024**3


def pytest_configure(config):
    if config.option.basetemp or hasattr(config, "workerinput"):
        return  # given on the command line, or a worker (xdist gives it the controller's)
    try:
        if shutil.disk_usage(SHM).free >= SHM_NEEDED and os.access(SHM, os.W_OK):
            import tempfile

            config.option.basetemp = tempfile.mkdtemp(prefix="pytest-shm-", dir=SHM)
    except OSError:
        pass


def pytest_sessionfinish(session, exitstatus):
    made = str(session.config.option.basetemp or "")
    if hasattr(session.config, "workerinput") or not made.startswith(str(SHM / "pytest-shm-")):
        return
    if exitstatus == 0:
        shutil.rmtree(made, ignore_errors=True)  # memory, not disk: give it back
    else:
        print(f"\nThe failed tests' files are in {made} (in memory: copy what you need).")


# The longest tests go first (a browser flow is 10-60 s; most tests take under a second), so
# that the parallel workers end together. pyproject.toml hands them out one at a time in this
# order (`--dist load --maxschedchunk 1`): each worker takes the next test as it finishes
# one. Work stealing (`--dist worksteal`) first gave each worker a contiguous share of the
# list, so one worker ran nearly every browser flow: 820 s against 720 s for the same suite.
SLOW_FIRST = ("tests/test_browser.py", "tests/test_browser_access.py",
              "tests/test_browser_learning.py", "tests/test_browser_community.py",
              "tests/test_bench.py", "tests/test_server_hardening.py",
              "tests/test_cli_engines.py", "tests/test_report.py", "tests/test_learning.py",
              "tests/test_sharing_safely.py", "tests/test_app.py", "tests/test_shared_server.py",
              "tests/test_demo.py")


def pytest_collection_modifyitems(config, items):
    def rank(item):
        path = item.nodeid.split("::")[0]
        return SLOW_FIRST.index(path) if path in SLOW_FIRST else len(SLOW_FIRST)

    items.sort(key=rank)  # stable: within a file, the file's own order


@pytest.fixture
def db_path(tmp_path) -> Path:
    return tmp_path / "tracker.duckdb"


ENGINES = ["duckdb", "postgresql"]


def _initdb() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return found[-1] if found else None


@pytest.fixture(scope="session")
def postgresql_server(tmp_path_factory):
    """A throwaway PostgreSQL cluster for the session (Debian's postgresql package), or the
    server TRACKER_TEST_POSTGRESQL names. Its libpq connection string, without dbname."""
    given = os.environ.get("TRACKER_TEST_POSTGRESQL")
    if given:
        yield given
        return
    initdb = _initdb()
    if initdb is None:
        if os.environ.get("REQUIRE_POSTGRESQL") == "1":
            pytest.fail("REQUIRE_POSTGRESQL=1 but no PostgreSQL: apt-get install postgresql")
        pytest.skip("no PostgreSQL (apt-get install postgresql); its engine is not tested")
    import subprocess
    import tempfile

    # not under pytest's tmp folders: those are private to root, and the server runs as the
    # postgres user
    folder = Path(tempfile.mkdtemp(prefix="tracker-pg-"))
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_postgres:
        shutil.chown(folder, "postgres")
    data = folder / "data"
    subprocess.run([*as_postgres, str(initdb), "-D", str(data), "-A", "trust", "-U",
                    "postgres"], check=True, capture_output=True)
    pg_ctl = initdb.with_name("pg_ctl")
    subprocess.run([*as_postgres, str(pg_ctl), "-D", str(data), "-w", "-l",
                    str(folder / "log"), "-o",
                    f"-k {folder} -c listen_addresses='' -c fsync=off "
                    "-c full_page_writes=off -c synchronous_commit=off", "start"],
                   check=True, capture_output=True)
    try:
        yield f"host={folder} user=postgres"
    finally:
        subprocess.run([*as_postgres, str(pg_ctl), "-D", str(data), "-m", "immediate",
                        "stop"], capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def duckdb_migrated_template(tmp_path_factory) -> Path:
    """An empty DuckDB file the real migration runner brought to the newest schema, once per
    worker: the `db` fixture's DuckDB files are copies of it."""
    path = tmp_path_factory.mktemp("migrated") / "empty.duckdb"
    with Database(path) as database:
        database.checkpoint()
    return path


@pytest.fixture(params=ENGINES)
def db(db_path, request):
    """A fresh, migrated database on each engine: a DuckDB file in tmp_path and a new database
    on the session's PostgreSQL server, each a copy of one the migration runner made for the
    worker (the migrations' own tests start from nothing: test_migrations, test_postgresql)."""
    if request.param == "duckdb":
        shutil.copy(request.getfixturevalue("duckdb_migrated_template"), db_path)
        database = Database(db_path)
        yield database
        database.close()
        return
    from tracker.storage.pg import PostgresDatabase

    database = PostgresDatabase(request.getfixturevalue("pg_migrated_url"))
    yield database
    database.close()


@pytest.fixture
def pg_url(postgresql_server):
    """A new, empty database on the session's PostgreSQL server, dropped after the test: its
    connection string (what TRACKER_DB takes, as a key=value string or a postgresql:// URL)."""
    name = _new_database(postgresql_server)
    yield _url(postgresql_server, name)
    _drop_database(postgresql_server, name)


def _new_database(postgresql_server: str, template: str | None = None) -> str:
    """A new database on the session's server (copied from `template` if given): its name."""
    import uuid

    import psycopg

    name = "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(postgresql_server + " dbname=postgres", autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}" + (f" TEMPLATE {template}" if template else ""))
    return name


def _url(postgresql_server: str, name: str) -> str:
    from urllib.parse import urlencode

    from psycopg.conninfo import conninfo_to_dict

    params = {k: v for k, v in conninfo_to_dict(postgresql_server).items() if k != "dbname"}
    return f"postgresql:///{name}?{urlencode(params)}"


def _drop_database(postgresql_server: str, name: str) -> None:
    import psycopg

    with psycopg.connect(postgresql_server + " dbname=postgres", autocommit=True) as admin:
        admin.execute(f"DROP DATABASE {name} WITH (FORCE)")


@pytest.fixture(scope="session")
def pg_migrated_template(postgresql_server):
    """A database the real migration runner brought to the newest schema, once per session's
    server: the `db` fixture's PostgreSQL databases are copies of it (PostgreSQL copies a
    template's files; running every migration for each test took most of its set-up)."""
    from tracker.storage.pg import PostgresDatabase

    name = _new_database(postgresql_server)
    PostgresDatabase(_url(postgresql_server, name)).close()
    yield name
    _drop_database(postgresql_server, name)


@pytest.fixture
def pg_migrated_url(postgresql_server, pg_migrated_template):
    """As `pg_url`, but a copy of the migrated template (no data)."""
    name = _new_database(postgresql_server, pg_migrated_template)
    yield _url(postgresql_server, name)
    _drop_database(postgresql_server, name)


def _run_folder(tmp_path_factory, worker_id) -> Path:
    """The temporary folder the parallel workers of this run share."""
    root = tmp_path_factory.getbasetemp()
    return root.parent if worker_id != "master" else root


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory, worker_id) -> Path:
    """The demo challenge, built once per test run and shared by the parallel workers (the
    first to come builds it under a lock); tests get their own copy."""
    import fcntl

    root = _run_folder(tmp_path_factory, worker_id)
    path = root / f"demo-as-of-{AS_OF}-today-{clock.today()}.duckdb"
    with open(root / "demo.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not path.exists():
            building = path.with_suffix(".building")
            with Database(building) as database:
                demo.load_demo(database, seed=1, as_of=AS_OF)
                database.checkpoint()
            building.rename(path)
    return path


@pytest.fixture(scope="session")
def built_once(tmp_path_factory, worker_id):
    """`built_once(name, build)`: what `build()` returns, built by the first worker of the
    run that asks (under a lock; the others wait rather than build it again) and read back
    by the others. For expensive results that tests only read (a report of the demo)."""
    import fcntl
    import pickle

    root = _run_folder(tmp_path_factory, worker_id)

    def get(name: str, build):
        path = root / f"{name}-today-{clock.today()}.pickle"
        with open(root / f"{name}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not path.exists():
                value = build()
                building = path.with_suffix(".building")
                building.write_bytes(pickle.dumps(value))
                building.rename(path)
                return value
        return pickle.loads(path.read_bytes())

    return get


@pytest.fixture(scope="session", autouse=True)
def charts_drawn_once(tmp_path_factory, worker_id):
    """The charts drawn by any test, app server or command of this run, kept in one folder
    for the others (`TRACKER_CHART_CACHE`): the demo's review pack and learning report are
    built by a dozen tests, and each drew the same charts again. A chart is still drawn by the
    first test that asks for it; the tests of drawing itself empty it for themselves."""
    from tracker.reports import drawing

    os.environ[drawing.CHART_CACHE] = str(_run_folder(tmp_path_factory, worker_id) / "charts")


@pytest.fixture
def demo_path(demo_template, tmp_path, request) -> Path:
    path = tmp_path / "demo.duckdb"
    shutil.copy(demo_template, path)
    yield path
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.passed:  # a failed test's copy is kept to look at
        for done in (path, path.with_suffix(".duckdb.wal")):
            done.unlink(missing_ok=True)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.rep_call = report  # for fixtures that keep a failed test's files
    return report


@pytest.fixture(scope="session")
def demo_learning_reports(demo_template, tmp_path_factory, built_once):
    """The demo's public learning report (made by a partner) and internal report, and what the
    public one may not hold (test_learning's list), built once per run for the tests that
    only read them (test_learning, and the reports' accessibility in the browser)."""
    def build():
        from test_learning import ADMIN, _forbidden_in_public, partner

        from tracker.learning import learning_report

        path = tmp_path_factory.mktemp("reports") / "demo.duckdb"
        shutil.copy(demo_template, path)
        with Database(path) as database:
            return {"public": learning_report.build_html(database, partner(database),
                                                         public=True),
                    "internal": learning_report.build_html(database, ADMIN, public=False),
                    "forbidden": _forbidden_in_public(database)}

    return built_once("learning-reports", build)


@pytest.fixture(scope="session")
def role_accounts_template(demo_template) -> Path:
    """The demo with the role accounts (`add_role_accounts`), made once per worker: hashing
    their passwords (argon2, on purpose slow) was most of what such a test spent setting up."""
    path = demo_template.with_name(f"{demo_template.stem}-roles-{os.getpid()}.duckdb")
    if not path.exists():
        building = path.with_suffix(".building")
        shutil.copy(demo_template, building)
        with Database(building) as database:
            add_role_accounts(database)
            database.checkpoint()
        building.rename(path)
    return path


@pytest.fixture
def role_accounts_db(role_accounts_template, tmp_path):
    """A copy of the demo with the role accounts, open."""
    path = tmp_path / "demo-roles.duckdb"
    shutil.copy(role_accounts_template, path)
    database = Database(path)
    yield database
    database.close()


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
        " WHERE table_schema IN ('main', 'public') AND table_type = 'BASE TABLE'"
        " ORDER BY table_name")["table_name"]
    return {t: int(database.scalar(f'SELECT count(*) FROM "{t}"')) for t in tables}


PASSWORD = "correct horse battery"
PARTNER_ORG = "Peer Pathways (demo)"


def add_role_accounts(database: Database) -> dict:
    """On the demo: an admin 'boss', a partner 'pp_user' of Peer Pathways and a viewer
    'lead', all with PASSWORD. Returns the admin's scope and the organisation ids by name."""
    from tracker.access import auth
    from tracker.records import repo

    orgs = repo.list_organisations(database, auth.Scope.admin("setup")).set_index("name")["id"]
    auth.add_user(database, None, username="boss", role="admin", password=PASSWORD)
    boss = auth.authenticate(database, "boss", PASSWORD)
    auth.add_user(database, boss, username="pp_user", role="partner", password=PASSWORD,
                  organisation_id=int(orgs[PARTNER_ORG]), email="pp@example.org")
    auth.add_user(database, boss, username="lead", role="viewer", password=PASSWORD,
                  email="lead@example.org")
    return {"admin": boss, "orgs": orgs}


# --------------------------------------------------------------------------- the browser tests
# Here rather than in tests/browser_steps.py (the steps the browser tests share), so the
# test_browser*.py files use them as fixtures without importing them.


@pytest.fixture(scope="module")
def chromium():
    """One Chromium for the module's tests (each test opens pages in contexts of its own)."""
    from browser_steps import CHROMIUM, need_browser
    from playwright.sync_api import sync_playwright

    need_browser()
    with sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run"])
        yield chromium
        chromium.close()


@pytest.fixture
def browser(chromium):
    """The module's Chromium; what a test opened in it is closed after the test."""
    yield chromium
    for context in chromium.contexts:
        context.close()


@pytest.fixture(scope="module")
def demo_app(demo_template, tmp_path_factory):
    """One app server on a copy of the demo, for the tests in this module that only read it
    (each worker of a parallel run starts its own): its URL. Its caches stay warm between
    the tests, as a lab's server does between its users."""
    path = tmp_path_factory.mktemp("demo_app") / "demo.duckdb"
    shutil.copy(demo_template, path)
    from app_server import start_app, stop_app

    proc, url, log = start_app(path)
    yield url
    stop_app(proc, log)


@pytest.fixture(scope="module")
def accounts_app(demo_template, tmp_path_factory):
    """As `demo_app`, with the role accounts (`conftest.add_role_accounts`): every visit
    begins at the sign-in."""
    path = tmp_path_factory.mktemp("accounts_app") / "demo.duckdb"
    shutil.copy(demo_template, path)
    with Database(path) as db:
        add_role_accounts(db)
    from app_server import start_app, stop_app

    proc, url, log = start_app(path)
    yield url
    stop_app(proc, log)
