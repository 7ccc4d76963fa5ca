"""`streamlit run server.py` on a free localhost port, for the browser and server tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import warm_start
from conftest import ROOT


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_app(db_path: Path, *, base: str = "", env: dict | None = None):
    """The app on `db_path`, under the base URL path `base` ("lab-a") if given; returns the
    process, its URL (with the base path) and its log."""
    port = free_port()
    args = ("--server.baseUrlPath", base) if base else ()
    env = {**os.environ, "TRACKER_DB": str(db_path), **(env or {})}
    log = open(db_path.with_suffix(".log"), "w")  # noqa: SIM115 - closed in _stop
    proc = warm_start.popen(  # `python -m streamlit run`, started warm (tests/warm_start.py)
        [sys.executable, "-m", "streamlit", "run", "server.py", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true", *args],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}" + (f"/{base}" if base else "")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as reply:
                if reply.status == 200:
                    return proc, url, log
        except OSError:
            time.sleep(0.3)
        if proc.poll() is not None:
            break
    proc.kill()
    log.close()
    raise RuntimeError(f"streamlit did not start: {db_path.with_suffix('.log').read_text()}")


def stop_app(proc, log):
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()
