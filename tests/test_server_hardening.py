"""Issue 21, the web server's side, against a real `streamlit run server.py`: who may be admin
(local mode, the first-run page, Host, X-Forwarded-For), request bodies, sessions that end
everywhere, sign-ins that complete only in their own browser, and 503 while PostgreSQL is
down. Raw sockets where the red team used them; Chromium where a person would be."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import warm_start
from app_server import start_app, stop_app
from browser_steps import drawn as _drawn  # the same Chromium checks
from browser_steps import need_browser as _need_browser
from conftest import PASSWORD, ROOT, add_role_accounts
from page_state import wait_for_session_cookie

from tracker.access import auth
from tracker.intake import api_tokens
from tracker.storage.db import Database

CHROMIUM = os.environ.get("TRACKER_CHROMIUM", "/usr/bin/chromium")
HILLVIEW = "Hillview Surgery (demo)"


@pytest.fixture(scope="module")
def chromium():
    _need_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM,
                                    args=["--no-sandbox", "--disable-gpu",
                                          "--disable-dev-shm-usage"])
        yield browser
        browser.close()


def _raw(url: str, request: bytes, timeout: float = 30) -> bytes:
    """Send `request` as is to the server of `url`; its answer: up to the end of a
    response with a length, else what it sent first (a websocket's upgrade)."""
    host, port = url.split("//")[1].split("/")[0].split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(request)
        answer = sock.recv(65536)
        length = re.search(rb"content-length: *(\d+)", answer, re.IGNORECASE)
        while length and len(answer.split(b"\r\n\r\n", 1)[-1]) < int(length[1]):
            more = sock.recv(65536)
            if not more:
                break
            answer += more
        return answer


def _status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


# --------------------------------------------------------------------------- 4. first run


@pytest.fixture(scope="module")
def empty_app(tmp_path_factory):
    """The app on a tracker with no accounts, its temporary folder its own (item 2)."""
    folder = tmp_path_factory.mktemp("empty")
    path = folder / "lab.duckdb"
    with Database(path):
        pass
    scratch = folder / "tmp"
    scratch.mkdir()
    proc, url, log = start_app(path, env={"TMPDIR": str(scratch)})
    try:
        yield {"url": url, "path": path, "log": path.with_suffix(".log"), "tmp": scratch}
    finally:
        stop_app(proc, log)


def _setup_code(log: Path) -> str:
    found = re.findall(r"setup code:\s+([0-9a-f]{4}(?:-[0-9a-f]{4}){3})", log.read_text())
    assert found, log.read_text()[-2000:]
    return found[-1]


def test_a_forwarded_request_never_gets_local_mode_and_makes_the_first_admin_with_the_code(
        chromium, empty_app):
    """Item 4, as the red team did it: with no accounts, a request carrying
    X-Forwarded-For opened Accounts as lab admin. Now it meets the first-run page; a wrong
    setup code is refused; the code from the server's log makes the first lab admin, who is
    then signed in. The browser on this computer, with no proxy, still has local mode until
    then."""
    url = empty_app["url"]
    local = chromium.new_context()
    page = local.new_page()
    page.goto(url)
    page.get_by_text("Local mode: you are the lab admin").wait_for(timeout=30_000)
    local.close()

    proxied = chromium.new_context(extra_http_headers={"X-Forwarded-For": "203.0.113.9"},
                                   viewport={"width": 1300, "height": 1000})
    page = proxied.new_page()
    page.goto(url)
    page.get_by_text("Set up the first lab admin").wait_for(timeout=30_000)
    _drawn(page)
    assert page.locator("[data-testid='stSidebarNavLink']").count() == 0
    assert page.get_by_text("Local mode").count() == 0
    page.screenshot(path=str(empty_app["path"].with_name("first_run.png")))
    fields = page.get_by_role("textbox")

    def submit(code: str):
        fields.nth(0).fill(code)
        fields.nth(1).fill("boss")
        fields.nth(2).fill(PASSWORD)
        fields.nth(3).fill(PASSWORD)
        page.get_by_role("button", name="Create the lab admin and sign in").click()

    submit("0000-0000-0000-0000")
    page.get_by_text("That setup code is not right").wait_for(timeout=30_000)
    assert "boss" not in _accounts(empty_app["path"])  # the wrong code made nothing
    submit(_setup_code(empty_app["log"]))
    page.get_by_text("Signed in as boss").wait_for(timeout=30_000)
    page.locator("[data-testid='stSidebarNavLink'][href$='/accounts']").wait_for(timeout=30_000)
    proxied.close()


def _accounts(path: Path) -> str:
    """`python -m tracker user list`, through the running app that holds the file."""
    done = warm_start.run([sys.executable, "-m", "tracker", "user", "list", "--db", str(path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_the_server_answers_only_to_its_own_names(empty_app):
    """Item 4, DNS rebinding: a request and a websocket with Host (and Origin)
    rebind.attacker.example got answers, the websocket a 101. Now both are refused; the
    server's own names still work, and /healthz answers any name."""
    url = empty_app["url"]
    port = url.rsplit(":", 1)[1].split("/")[0]
    page = _raw(url, b"GET / HTTP/1.1\r\nHost: rebind.attacker.example\r\n"
                     b"Connection: close\r\n\r\n")
    assert _status(page) == 421 and b"TRACKER_ALLOWED_HOSTS" in page
    upgrade = ("GET /_stcore/stream HTTP/1.1\r\nHost: {host}\r\nOrigin: http://{host}\r\n"
               "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
               "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
    refused = _raw(url, upgrade.format(host="rebind.attacker.example").encode())
    assert _status(refused) == 403, refused[:200]
    accepted = _raw(url, upgrade.format(host=f"127.0.0.1:{port}").encode())
    assert _status(accepted) == 101, accepted[:200]
    assert _status(_raw(url, f"GET / HTTP/1.1\r\nHost: localhost:{port}\r\n"
                             "Connection: close\r\n\r\n".encode())) == 200
    health = _raw(url, b"GET /healthz HTTP/1.1\r\nHost: lab-north-1:8501\r\n"
                       b"Connection: close\r\n\r\n")
    assert _status(health) == 200


def test_a_forwarded_address_is_not_trusted_where_no_proxy_is_set(empty_app):
    """Item 4: from loopback, rotating X-Forwarded-For dodged the API's throttle (uvicorn
    trusts this machine as a proxy unless told otherwise). Every wrong token counts against
    the real address, so the next request must wait, whatever address it claims."""
    from tracker.access.auth import THROTTLE_FREE

    url = empty_app["url"] + "/tracker/api/results?file=r.csv"
    statuses = []
    for i in range(THROTTLE_FREE + 2):
        request = urllib.request.Request(url, data=b"x", method="POST", headers={
            "Authorization": "Bearer trk_" + "q" * 43, "X-Forwarded-For": f"198.51.100.{i}"})
        try:
            urllib.request.urlopen(request, timeout=30)
        except urllib.error.HTTPError as refused:
            statuses.append(refused.code)
    assert statuses[:THROTTLE_FREE] == [401] * THROTTLE_FREE
    assert 429 in statuses[THROTTLE_FREE:], statuses


# --------------------------------------------------------------------------- 2. bodies


@pytest.fixture(scope="module")
def token_app(demo_template, tmp_path_factory):
    folder = tmp_path_factory.mktemp("tokens")
    path = folder / "lab.duckdb"
    shutil.copy(demo_template, path)
    with Database(path) as db:
        _, secret = api_tokens.create(db, auth.Scope.admin("t"), organisation=HILLVIEW,
                                      label="nightly")
        add_role_accounts(db)
    scratch = folder / "tmp"
    scratch.mkdir()
    proc, url, log = start_app(path, env={"TMPDIR": str(scratch)})
    try:
        yield {"url": url, "token": secret, "tmp": scratch, "path": path}
    finally:
        stop_app(proc, log)


def test_a_body_past_the_limit_is_refused_before_anything_is_written(token_app):
    """Item 2: a token holder's 400 MB multipart body filled the temporary folder before the
    413. Declared that large, it is refused at once (without reading it); streamed in chunks
    with no length, it is counted and refused; the server's temporary folder stays empty;
    the answer says 50 MB."""
    url, token = token_app["url"], token_app["token"]
    head = (f"POST /tracker/api/results?commit=true HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {token}\r\nContent-Type: multipart/form-data; "
            f"boundary=b\r\nContent-Length: {400 * 1024 * 1024}\r\n\r\n").encode()
    started = time.monotonic()
    answer = _raw(url, head + b"--b\r\nContent-Disposition: form-data; name=\"file\"; "
                              b"filename=\"big.csv\"\r\n\r\n" + b"x" * 65536, timeout=60)
    assert _status(answer) == 413 and b"50 MB" in answer
    assert time.monotonic() - started < 30  # answered without the 400 MB being sent

    def chunks():
        yield b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.csv\"\r\n\r\n"
        for _ in range(60):
            yield b"y" * (1024 * 1024)
            assert not any(token_app["tmp"].iterdir()), "a part of the body reached disk"
        yield b"\r\n--b--\r\n"

    import http.client

    host, port = url.split("//")[1].split(":")
    connection = http.client.HTTPConnection(host, int(port.split("/")[0]), timeout=120)
    connection.request("POST", "/tracker/api/results", body=chunks(), encode_chunked=True,
                       headers={"Authorization": f"Bearer {token}",
                                "Content-Type": "multipart/form-data; boundary=b"})
    reply = connection.getresponse()
    body = json.loads(reply.read())
    assert reply.status == 413 and "50 MB" in body["summary"]
    assert not any(token_app["tmp"].iterdir())


# --------------------------------------------------------------------------- 11, 12. sessions


def _sign_in(page, url: str, username: str):
    page.goto(url)
    page.get_by_role("textbox", name="Username").fill(username)
    page.get_by_role("textbox", name="Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


def test_logging_out_ends_every_copy_of_the_session(chromium, token_app):
    """Item 11: a session cookie copied into browser B kept working in B's open tab after A
    logged out. Now B's tab is signed out at its next click."""
    url = token_app["url"]
    a = chromium.new_context()
    page_a = a.new_page()
    _sign_in(page_a, url, "lead")
    page_a.get_by_text("Signed in as lead").wait_for(timeout=30_000)
    b = chromium.new_context()
    b.add_cookies([wait_for_session_cookie(a)])
    page_b = b.new_page()
    page_b.goto(url)
    page_b.get_by_text("Signed in as lead").wait_for(timeout=30_000)
    _drawn(page_b)
    page_a.get_by_role("button", name="Log out").click()
    page_a.get_by_role("button", name="Log in").wait_for(timeout=30_000)
    page_b.locator("[data-testid='stSidebarNavLink'][href$='/summary']").click()
    page_b.get_by_text("this window was signed out").wait_for(timeout=30_000)
    # the message is drawn before the sign-in form below it: wait for the form
    page_b.get_by_role("button", name="Log in").wait_for(timeout=30_000)
    assert page_b.get_by_role("button", name="Log in").count() == 1
    a.close()
    b.close()


def test_a_sign_in_ticket_completes_only_in_the_browser_that_started_it(chromium, token_app):
    """Item 12, login CSRF: the attacker signs in, stops the redirect to keep the
    /tracker/session?ticket=... address, and links to it from another site. The victim's
    browser following it is not signed in as the attacker."""
    url = token_app["url"]
    attacker = chromium.new_context()
    page = attacker.new_page()
    kept: list[str] = []

    def keep(route):
        kept.append(route.request.url)
        route.abort()

    page.route("**/tracker/session?ticket=*", keep)
    _sign_in(page, url, "pp_user")
    deadline = time.monotonic() + 30
    while not kept and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    assert kept and "ticket=" in kept[0]
    attacker.close()
    for visited_first in (True, False):
        victim = chromium.new_context()
        page = victim.new_page()
        if visited_first:  # the victim has the tracker's browser cookie of its own
            page.goto(url)
            page.get_by_role("button", name="Log in").wait_for(timeout=30_000)
        page.goto(kept[0])  # as a link from the attacker's page would
        page.get_by_role("button", name="Log in").wait_for(timeout=30_000)
        _drawn(page)
        assert page.get_by_text("Signed in as").count() == 0
        assert not [c for c in victim.cookies() if c["name"] == "tracker_session"]
        victim.close()


# --------------------------------------------------------------------------- 16. PostgreSQL down


def test_while_postgresql_is_down_the_api_answers_503_and_pages_say_so(chromium, pg_url,
                                                                         postgresql_server,
                                                                         tmp_path):
    """Item 16: the API answered a plain-text 500 and pages Streamlit's generic error. Here
    the lab's database stops taking connections (and its open ones are ended), as when the
    server restarts: the API answers 503 JSON with Retry-After, a page says it in words."""
    import psycopg

    from tracker.storage.pg import PostgresDatabase

    with PostgresDatabase(pg_url) as db:
        auth.add_user(db, None, username="boss", role="admin", password=PASSWORD)
    proc, url, log = start_app(tmp_path / "pg.duckdb", env={"TRACKER_DB": pg_url})
    try:
        page = chromium.new_context().new_page()
        page.goto(url)
        page.get_by_role("button", name="Log in").wait_for(timeout=30_000)
        name = pg_url.split("///")[1].split("?")[0]
        with psycopg.connect(postgresql_server + " dbname=postgres", autocommit=True) as admin:
            admin.execute(f"ALTER DATABASE {name} ALLOW_CONNECTIONS false")
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                          " WHERE datname = %s", [name])
        request = urllib.request.Request(url + "/tracker/api/results?file=r.csv", data=b"x",
                                         method="POST",
                                         headers={"Authorization": "Bearer trk_" + "a" * 43})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=120)
        assert refused.value.code == 503
        assert refused.value.headers["Retry-After"] == "30"
        body = json.loads(refused.value.read())
        assert "not answering" in body["summary"] and "Traceback" not in str(body)
        page.reload()
        page.get_by_text("cannot reach its database server").wait_for(timeout=120_000)
        assert page.get_by_text("This app has encountered an error").count() == 0
    finally:
        with psycopg.connect(postgresql_server + " dbname=postgres", autocommit=True) as admin:
            admin.execute(f"ALTER DATABASE {pg_url.split('///')[1].split('?')[0]}"
                          " ALLOW_CONNECTIONS true")
        stop_app(proc, log)
