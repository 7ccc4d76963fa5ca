"""Every benchmark script runs, at a tiny size, so that none can rot unnoticed (issue 12,
item 18: bench/ingest.py had failed on main). No timing is asserted: the figures belong in
docs/benchmarks.md, measured on a quiet machine."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest
import warm_start
from conftest import ROOT

SMOKE = {
    "browser.py": (["--runs", "1", "--pages", "Summary", "--db", "{demo}", "--no-report",
                    "--typing", "0"],
                   "switching challenge"),
    "ingest.py": (["--rows", "20000", "--demo", "{demo}"], "validated commit"),
    "community.py": (["--comments", "3", "--files", "1", "--runs", "1", "--demo", "{demo}"],
                     "Record tab, warm"),
    "pages.py": (["--runs", "1", "--demo", "{demo}"], "overview"),
    "collaboration.py": (["--runs", "1", "--demo", "{demo}", "--scale-db", "{tmp}/scale.duckdb",
                          "--orgs", "3",
                          "--measures", "2", "--years", "1", "--people", "30"],
                         "scale: progress"),
    "learning.py": (["--runs", "1", "--no-pdf", "--demo", "{demo}", "--scale-db",
                     "{tmp}/scale.duckdb", "--orgs", "3",
                     "--measures", "2", "--years", "1", "--ideas", "2"], "internal report of all"),
    "report.py": (["--runs", "1", "--no-pack", "--demo", "{demo}"], "summary"),
    "spc.py": (["--series", "20", "--points", "30", "--loop-series", "5"], "series"),
    "sensitive.py": (["--organisations", "5", "--people", "5", "--texts", "20", "--runs", "1"],
                     "plain scan"),
    "server_load.py": (["--seconds", "3", "--partners", "1", "--cli", "1", "--lab-team", "0",
                        "--db", "{demo}"],
                       "current values stored twice: 0"),
    "scale.py": (["--orgs", "3", "--measures", "2", "--years", "1", "--rebuild", "--db",
                  "{tmp}/scale.duckdb"], "pack for one organisation (pptx)"),
}


def test_every_bench_script_has_a_smoke_run():
    assert {p.name for p in (ROOT / "bench").glob("*.py")} == set(SMOKE)


# The small scale database the collaboration and learning smokes read (and the first adds
# people to): built once per run, copied for each (scale.py's own smoke builds it again).
USES_SCALE = {"collaboration.py", "learning.py"}


@pytest.fixture(scope="session")
def small_scale(built_once, tmp_path_factory) -> Path:
    def build() -> Path:
        sys.path.insert(0, str(ROOT / "bench"))
        import scale

        path = tmp_path_factory.mktemp("scale") / "scale.duckdb"
        scale.build(path, orgs=3, measures=2, years=1)
        return path

    return built_once("small-scale-db", build)


@pytest.mark.parametrize("script", sorted(SMOKE))
def test_bench_script_runs_small(script, tmp_path, request):
    args, expect = SMOKE[script]
    if script in USES_SCALE:
        shutil.copy(request.getfixturevalue("small_scale"), tmp_path / "scale.duckdb")
    demo = request.getfixturevalue("demo_template") if "{demo}" in args else None
    if script in ("browser.py", "community.py"):
        from tests.browser_steps import CHROMIUM

        if not Path(CHROMIUM).exists() and not os.environ.get("REQUIRE_BROWSER"):
            pytest.skip("Chromium is not installed")
    done = warm_start.run([sys.executable, str(ROOT / "bench" / script),
                           *[a.format(tmp=tmp_path, demo=demo) for a in args]],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert expect in done.stdout, done.stdout


def test_the_load_test_small_three_app_servers_on_postgresql(postgresql_server):
    """Issue 14, item 4, small: 3 app servers on one PostgreSQL database, a partner system
    posting through them in turn, a command line importing, and a lab team member signing in
    and planning cycles in Chromium, at once. Every stored file holds exactly the rows its
    answer counted, nothing is stored twice, nobody is shown an error."""
    from urllib.parse import urlencode

    from psycopg.conninfo import conninfo_to_dict

    from tests.browser_steps import CHROMIUM

    team = "1" if Path(CHROMIUM).exists() else "0"
    server = "postgresql:///postgres?" + urlencode(conninfo_to_dict(postgresql_server))
    done = warm_start.run([sys.executable, str(ROOT / "bench" / "server_load.py"),
                           "--postgresql", server, "--servers", "3", "--seconds", "5",
                           "--partners", "2", "--cli", "1", "--lab-team", team],
                          cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "3 app servers on one PostgreSQL database" in out
    assert ("stored files whose rows differ from their answer: 0; current values stored "
            "twice: 0; organisation names stored twice: 0; cycles not stored exactly once: 0"
            ) in out, out
    assert "errors: 0; tracebacks in the server logs: 0" in out, out
    assert "files stored: 0;" not in out, out
