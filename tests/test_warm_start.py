"""The tests' warm start (tests/warm_start.py, issue 23): a command or app server forked from
the helper behaves as the same command started plainly: the same exit code, output, errors,
working folder, environment and standard input; a timeout still stops it; an app server
answers and stops as a plain one does."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request

import pytest
import warm_start
from app_server import start_app, stop_app
from conftest import ROOT

PROBE = """import json, os, sys
print(json.dumps({"argv": sys.argv[1:], "cwd": os.getcwd(), "probe": os.environ.get("PROBE"),
                  "path0": sys.path[0], "stdin": sys.stdin.read(),
                  "tracker_loaded_before": [m for m in sys.modules if m.split(".")[0] in
                                            ("tracker", "app", "streamlit_app", "server")]}))
print("to stderr", file=sys.stderr)
sys.exit(int(sys.argv[1]))
"""


def both(args, **kwargs):
    """The same command, plainly and warm."""
    plain = subprocess.run(args, capture_output=True, text=True, timeout=120, **kwargs)
    warm = warm_start.run(args, capture_output=True, text=True, timeout=120, **kwargs)
    return plain, warm


def test_a_command_run_warm_is_the_command_run_plainly(tmp_path):
    lab = tmp_path / "lab.duckdb"
    env = {**os.environ, "TRACKER_DB": str(lab)}
    for args, stdin in ((["--help"], None), (["init"], None), (["init"], None),
                        (["user", "list"], None),
                        (["user", "add", "--name", "boss", "--role", "admin"], "short\n"),
                        (["user", "add", "--name", "b@d name!", "--role", "admin"], "x" * 20),
                        (["report", "--out", str(tmp_path / "pack.docx")], None),
                        (["no-such-command"], None)):
        plain, warm = both([sys.executable, "-m", "tracker", *args], cwd=ROOT, env=env,
                           input=stdin)
        assert (warm.returncode, warm.stdout, warm.stderr) == (
            plain.returncode, plain.stdout, plain.stderr), args
    assert warm.returncode == 2 and "invalid choice" in warm.stderr


def test_a_script_gets_its_own_folder_environment_input_and_exit_code(tmp_path):
    script = tmp_path / "probe.py"
    script.write_text(PROBE)
    (tmp_path / "elsewhere").mkdir()
    for code in ("0", "3"):
        plain, warm = both([sys.executable, str(script), code], cwd=tmp_path / "elsewhere",
                           env={**os.environ, "PROBE": f"value {code}"}, input="typed\n")
        assert (warm.returncode, warm.stdout, warm.stderr) == (
            plain.returncode, plain.stdout, plain.stderr)
        assert warm.returncode == int(code) and warm.stderr == "to stderr\n"
        assert f'"probe": "value {code}"' in warm.stdout and '"stdin": "typed\\n"' in warm.stdout
    # the helper itself never imports the tracker or the app: a child imports them afresh,
    # under its own environment
    assert '"tracker_loaded_before": []' in warm.stdout


def test_an_overrunning_command_is_stopped_and_reported_as_subprocess_does(tmp_path):
    script = tmp_path / "slow.py"
    script.write_text("import time\nprint('started', flush=True)\ntime.sleep(60)\n")
    with pytest.raises(subprocess.TimeoutExpired):
        warm_start.run([sys.executable, str(script)], capture_output=True, text=True,
                       timeout=1)
    after = warm_start.run([sys.executable, "-m", "tracker", "--help"], cwd=ROOT,
                           capture_output=True, text=True, timeout=120)
    assert after.returncode == 0  # the helper goes on serving


def test_an_app_server_started_warm_answers_and_stops_as_a_plain_one(tmp_path, demo_template,
                                                                     monkeypatch):
    import shutil

    codes = {}
    for mode in ("off", "on"):
        monkeypatch.setenv(warm_start.ENV, mode)
        path = tmp_path / f"{mode}.duckdb"
        shutil.copy(demo_template, path)
        proc, url, log = start_app(path)
        assert isinstance(proc, warm_start.Started) == (mode == "on")
        with urllib.request.urlopen(url + "/_stcore/health", timeout=10) as reply:
            assert reply.status == 200
        assert proc.poll() is None
        stop_app(proc, log)
        codes[mode] = proc.returncode
        assert "Traceback" not in path.with_suffix(".log").read_text()
    assert codes["on"] == codes["off"]
