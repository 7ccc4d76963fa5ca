"""Every benchmark script runs, at a tiny size, so that none can rot unnoticed (issue 12,
item 18: bench/ingest.py had failed on main). No timing is asserted: the figures belong in
docs/benchmarks.md, measured on a quiet machine."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import ROOT

SMOKE = {
    "ingest.py": (["--rows", "20000"], "validated commit"),
    "pages.py": (["--runs", "1"], "overview"),
    "collaboration.py": (["--runs", "1", "--scale-db", "{tmp}/scale.duckdb", "--orgs", "3",
                          "--measures", "2", "--years", "1", "--people", "30"],
                         "scale: progress"),
    "learning.py": (["--runs", "1", "--no-pdf", "--scale-db", "{tmp}/scale.duckdb", "--orgs", "3",
                     "--measures", "2", "--years", "1"], "internal report of all"),
    "report.py": (["--runs", "1", "--no-pack"], "summary"),
    "spc.py": (["--series", "20", "--points", "30", "--loop-series", "5"], "series"),
    "server_load.py": (["--seconds", "3", "--partners", "1", "--cli", "1"],
                       "current values stored twice: 0"),
    "scale.py": (["--orgs", "3", "--measures", "2", "--years", "1", "--rebuild", "--db",
                  "{tmp}/scale.duckdb"], "pack for one organisation (pptx)"),
}


def test_every_bench_script_has_a_smoke_run():
    assert {p.name for p in (ROOT / "bench").glob("*.py")} == set(SMOKE)


@pytest.mark.parametrize("script", sorted(SMOKE))
def test_bench_script_runs_small(script, tmp_path):
    args, expect = SMOKE[script]
    done = subprocess.run([sys.executable, str(ROOT / "bench" / script),
                           *[a.format(tmp=tmp_path) for a in args]],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert expect in done.stdout, done.stdout
