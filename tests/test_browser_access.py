"""A real browser: signing in as each role, sessions across refreshes, tabs and labs, a proxy in
front, and what a partner's and a viewer's websocket receives."""

from __future__ import annotations

import datetime as dt
import urllib.error
import urllib.request

import page_state
import pytest
from app_server import start_app as _start
from app_server import stop_app as _stop
from browser_steps import ARTIFACTS, build_and_download_the_pack, drawn, settle, sign_in
from conftest import PASSWORD as password

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("username, role", [("boss", "admin"), ("pp_user", "partner"),
                                            ("lead", "viewer")])
def test_log_in_as_each_role(browser, accounts_app, username, role):
    url = accounts_app
    page = browser.new_page(viewport={"width": 1400, "height": 1400})
    page.goto(f"{url}/cycles")  # a deep link still asks for the login first
    page.get_by_role("textbox", name="Username").fill(username)
    page.get_by_role("textbox", name="Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.get_by_text(f"Signed in as {username}").wait_for(timeout=30_000)
    drawn(page)  # the page the sign-in opens, its run ended and drawn
    assert page.locator("[data-testid='stException']").count() == 0
    body = page.locator("body").inner_text()
    if role == "partner":
        assert "Riverside Medical Practice" not in body and "Harbourside Homes" not in body
    nav = " ".join(page.locator("[data-testid='stSidebarNavLink']").all_inner_texts())
    assert ("Accounts" in nav) == (role == "admin")
    page.screenshot(path=str(ARTIFACTS / f"signed_in_{role}.png"), full_page=True)


def test_a_session_survives_a_refresh_and_a_new_tab_and_a_deep_link_returns(browser, accounts_app):
    """Issue 13, item 5: sign in from a deep link and land on that page; refresh and open a
    new tab, still signed in (an HttpOnly cookie, not readable by the page's scripts); log
    out, and a refresh asks for the password again."""
    url = accounts_app
    context = browser.new_context(viewport={"width": 1400, "height": 1200})
    page = context.new_page()
    page.goto(f"{url}/review")
    page.get_by_role("textbox", name="Username").fill("lead")
    page.get_by_role("textbox", name="Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("heading", name="Review").first.wait_for(timeout=30_000)
    assert page.url.endswith("/review")  # back on the page asked for
    cookie = page_state.wait_for_session_cookie(context)
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    assert page.evaluate("document.cookie").find("tracker_session") < 0
    page.reload()
    page.get_by_text("Signed in as lead").wait_for(timeout=30_000)
    page.get_by_role("heading", name="Review").first.wait_for(timeout=30_000)
    # the board member, still signed in, takes the pack: its summary lists every series
    saved = build_and_download_the_pack(page, "board_pack.pdf")
    from pypdf import PdfReader

    first = PdfReader(saved).pages[0].extract_text()
    assert "72 series, special causes first" in first
    second = context.new_page()
    second.goto(f"{url}/summary")
    second.get_by_text("Signed in as lead").wait_for(timeout=30_000)
    second.get_by_role("heading", name="Summary").first.wait_for(timeout=30_000)
    page.screenshot(path=str(ARTIFACTS / "session_after_refresh.png"))
    second.get_by_role("button", name="Log out").click()
    second.get_by_text("You have logged out").wait_for(timeout=30_000)
    page.reload()
    page.get_by_role("textbox", name="Username").wait_for(timeout=30_000)
    assert page.get_by_text("Signed in as lead").count() == 0


def test_a_sign_in_goes_on_in_the_same_page_without_loading_it_again(browser, accounts_app):
    """Issue 22, sign-in time: the sign-in used to send the browser through /tracker/session
    and load the whole page again (a second or more). Now the page that signed in draws the
    page asked for at once and asks for its cookie in the background (answered 204); a
    refresh then finds the session."""
    context = browser.new_context(viewport={"width": 1400, "height": 1200})
    page = context.new_page()
    page.goto(f"{accounts_app}/summary")
    page.get_by_role("textbox", name="Username").fill("lead")
    page.get_by_role("textbox", name="Password").fill(password)
    page.evaluate("window.signedInWithoutALoad = true")  # a page load forgets it
    answers: list[int] = []
    page.on("response", lambda r: answers.append(r.status)
            if "/tracker/session" in r.url else None)
    # the cookie can be stored a moment before the browser reports the answer that set it:
    # wait for the answer itself
    with page.expect_response(lambda r: "/tracker/session" in r.url, timeout=30_000) as asked:
        page.get_by_role("button", name="Log in").click()
        page.get_by_role("heading", name="Summary").first.wait_for(timeout=30_000)
        page.get_by_text("Signed in as lead").wait_for(timeout=30_000)
    assert page.evaluate("window.signedInWithoutALoad") is True
    page_state.wait_for_session_cookie(context)
    assert asked.value.status == 204 and answers == [204]
    page.reload()
    page.get_by_text("Signed in as lead").wait_for(timeout=30_000)
    assert page.url.endswith("/summary")
    context.close()


# What the page after a sign-in draws with, fetched the first time a page of the tab shows
# one (Streamlit names its files `Name.hash.js`): Vega-Embed, the data grid, Arrow's formats
CHART_AND_GRID_CODE = ("embed", "ArrowVegaLiteChart", "DataFrame", "arrowFormatUtils")
LOADED_SCRIPTS = """() => performance.getEntriesByType('resource')
  .map((e) => e.name.split('/').pop()).filter((n) => n.endsWith('.js'))"""


def test_the_sign_in_page_loads_the_code_of_charts_and_grids_out_of_sight(browser, accounts_app):
    """Issue 22, the server's first sign-in: after the server's own half second, most of it
    was Chromium fetching and compiling the code of charts and data grids (about 2.5 MB) once
    the Overview showed them. The sign-in page now loads it while the person types, in
    elements no one sees, reaches by keyboard or hears; after the click none of it loads."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.goto(accounts_app)
    page.get_by_role("textbox", name="Username").wait_for(timeout=30_000)
    drawn(page)  # the hidden chart has its marks: its code has run
    hidden = page.locator(".st-key-tracker_preload")
    assert hidden.count() == 1 and not hidden.is_visible()
    for testid in ("stVegaLiteChart", "stDataFrame", "stDateInput"):
        element = hidden.locator(f"[data-testid={testid}]")
        assert element.count() == 1 and not element.is_visible(), testid
    # nothing of it is read out, nor reached with the Tab key
    tree = page.locator("body").aria_snapshot()
    for hidden_part in ('"x"', "img", "grid", "table", "figure", "2000", "0"):
        assert hidden_part not in tree, (hidden_part, tree)
    words = page.locator("body").inner_text().split()
    assert "x" not in words and "0" not in words and "2000/01/01" not in words, words
    focused = []
    for _ in range(8):
        page.keyboard.press("Tab")
        focused.append(page.evaluate("() => document.activeElement.closest("
                                     "'.st-key-tracker_preload') !== null"))
    assert not any(focused)
    before = set(page.evaluate(LOADED_SCRIPTS))
    assert all(any(n.startswith(code + ".") for n in before) for code in CHART_AND_GRID_CODE)
    page.get_by_role("textbox", name="Username").fill("boss")
    page.get_by_role("textbox", name="Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.get_by_text("Signed in as boss").wait_for(timeout=30_000)
    drawn(page)
    assert page.locator("[data-testid=stVegaLiteChart]").count() > 0  # the Overview's charts
    after = set(page.evaluate(LOADED_SCRIPTS)) - before
    assert not [n for n in after if n.split(".")[0] in CHART_AND_GRID_CODE], after
    assert page.locator(".st-key-tracker_preload").count() == 0  # gone with the sign-in page
    context.close()


def test_two_labs_behind_one_address_never_share_accounts_or_data(browser, demo_path,
                                                                     tmp_path):
    """Several labs in one deployment: one database and one server each, under their own
    path. Signed in to one, a person is not signed in to the other (nor may sign in there
    with the first lab's account), neither shows the other's data, and each keeps its own
    session cookie."""
    from conftest import PASSWORD

    from tracker.access import auth
    from tracker.intake import api_tokens
    from tracker.records import repo
    from tracker.storage.db import Database

    second = tmp_path / "lab-b.duckdb"
    with Database(second) as db:
        boss = auth.Scope.admin("setup")
        repo.create_challenge(db, boss, title="Lab B: warm homes", question="What would it "
                              "take for every cold home to be warm?", aim="Half as many "
                              "admissions for falls in cold homes by March",
                              start_date=dt.date(2026, 9, 1), end_date=dt.date(2027, 6, 30))
        auth.add_user(db, boss, username="bea", role="admin", password=PASSWORD)
    with Database(demo_path) as db:
        auth.add_user(db, auth.Scope.admin("setup"), username="alice", role="admin",
                      password=PASSWORD)
        _, token = api_tokens.create(db, auth.Scope.admin("setup"),
                                     organisation="Hillview Surgery (demo)", label="x")
    proc_a, url_a, log_a = _start(demo_path, base="lab-a")
    proc_b, url_b, log_b = _start(second, base="lab-b")
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        sign_in(page, url_a, "", "alice")
        page.get_by_role("heading", name="DEMO: Peer support").first.wait_for(timeout=30_000)
        page.goto(url_b + "/")  # the same host: the browser holds lab A's cookie
        page.get_by_role("button", name="Log in").wait_for(timeout=30_000)
        assert "DEMO" not in page.content()
        page.get_by_role("textbox", name="Username").fill("alice")
        page.get_by_role("textbox", name="Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.get_by_text("do not match an active account").first.wait_for(timeout=30_000)
        sign_in(page, url_b, "", "bea")
        page.get_by_role("heading", name="Lab B: warm homes").first.wait_for(timeout=30_000)
        assert "Peer support" not in page.content()
        page.screenshot(path=str(ARTIFACTS / "lab_b.png"))
        page.goto(url_a + "/")  # lab A's session is still there
        page.get_by_text("Signed in as alice").wait_for(timeout=30_000)
        sessions = [c["path"] for c in page.context.cookies() if c["name"] == "tracker_session"]
        assert sorted(sessions) == ["/lab-a", "/lab-b"]
        page.close()
        reply = urllib.request.Request(url_b + "/tracker/api/results?file=r.csv", data=b"x",
                                       headers={"Authorization": f"Bearer {token}"})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(reply, timeout=30)
        assert refused.value.code == 401
    finally:
        _stop(proc_a, log_a)
        _stop(proc_b, log_b)


def test_signing_in_again_in_the_same_tab_opens_on_the_running_challenge(browser, demo_path):
    """A sign-in goes on in the same tab (no page load), so a second sign-in after logging out
    meets what the first left. With the next challenge set up, the first click after signing
    in again used to move the tab onto the upcoming challenge."""
    from conftest import add_role_accounts

    from tracker.access import auth
    from tracker.records import repo
    from tracker.storage.db import Database

    with Database(demo_path) as db:
        add_role_accounts(db)
        start = repo.get_challenge(db)["end_date"] + dt.timedelta(days=1)
        repo.create_challenge(db, auth.Scope.admin("setup"), title="Warm homes",
                              question="What would it take?", aim="Fewer falls",
                              start_date=start, end_date=start + dt.timedelta(days=300))
    proc, url, log = _start(demo_path)
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(url)
        for again in (False, True):
            page.get_by_role("textbox", name="Username").fill("boss")
            page.get_by_role("textbox", name="Password").fill(password)
            page.get_by_role("button", name="Log in").click()
            page.get_by_text("Signed in as boss").wait_for(timeout=30_000)
            drawn(page)
            if not again:
                page.get_by_role("button", name="Log out").click()
        for path, heading in (("ideas", "Change ideas"), ("cycles", "Test cycles (PDSA)")):
            page.locator(f"[data-testid='stSidebarNavLink'][href$='/{path}']").click()
            page.get_by_role("heading", name=heading).first.wait_for(timeout=30_000)
            settle(page)
            assert page.get_by_text("You are setting up an upcoming challenge").count() == 0
            assert page.get_by_text("No change ideas yet").count() == 0
        page.close()
    finally:
        _stop(proc, log)


@pytest.mark.parametrize("trusted, expected", [("127.0.0.1,::1", "203.0.113.9"),
                                               ("10.9.9.9", "unknown")])
def test_behind_a_proxy_failed_sign_ins_count_against_the_client_not_the_proxy(
        browser, db_path, trusted, expected):
    """Sign-in throttling counts failures per client address. Behind a reverse proxy the
    app sees the proxy; it takes the client's address from X-Forwarded-For only when the
    proxy is trusted (FORWARDED_ALLOW_IPS, which deploy/compose*.yaml sets), else every
    failure counts against one "unknown" client (here the page is reached from 127.0.0.1,
    standing in for the proxy, with the header a proxy adds)."""
    from conftest import PASSWORD

    from tracker.access import auth
    from tracker.storage.db import Database

    with Database(db_path) as db:
        auth.add_user(db, None, username="boss", role="admin", password=PASSWORD)
    proc, url, log = _start(db_path, env={"FORWARDED_ALLOW_IPS": trusted})
    try:
        context = browser.new_context(extra_http_headers={"X-Forwarded-For": "203.0.113.9"})
        page = context.new_page()
        page.goto(url + "/")
        page.get_by_role("textbox", name="Username").fill("boss")
        page.get_by_role("textbox", name="Password").fill("not the password")
        page.get_by_role("button", name="Log in").click()
        page.get_by_text("do not match").first.wait_for(timeout=30_000)
        context.close()
    finally:
        _stop(proc, log)
    with Database(db_path) as db:
        assert db.read("SELECT client FROM login_throttle")["client"].tolist() == [expected]


@pytest.mark.parametrize("username, role", [("pp_user", "partner"), ("lead", "viewer"),
                                            ("jo.community", "contributor")])
def test_a_partner_and_a_viewer_receive_nothing_planted_over_the_websocket(browser, demo_path,
                                                                           username, role):
    """Issue 20 as the browser receives it: what was planted in every text field (disguised
    names, e-mails, phone numbers) is in no frame the app sends a partner or a viewer signed
    in through the login form, on any page of their menu; the viewer's frames do name the
    organisations (a viewer reads every organisation), so the scan is not blind. Issue 22 on
    the same walk: every page each of them has passes axe-core (WCAG 2.2 AA, but for
    Streamlit's own markup: tests/accessibility.py), planted text and all. Issue 24: a
    contributor, the same, as the public reads (comments and files planted too)."""
    from accessibility import violations
    from conftest import add_role_accounts
    from test_access_app import COMMON
    from test_sharing_safely import LEAKS, NAMES_AND_CONTACTS, _frames_text, _leaks, _plant

    from tracker.storage.db import Database

    leaks = [k for k in (NAMES_AND_CONTACTS if role == "viewer" else LEAKS)
             if k != "example org"]
    with Database(demo_path) as db:
        roles = add_role_accounts(db)
        if role == "contributor":  # issue 24: reads what the public reads, and no more
            from tracker.access import auth

            auth.add_user(db, roles["admin"], username=username, role="contributor",
                          password=password)
        _plant(db, 1)
    proc, url, log = _start(demo_path)
    problems = []
    try:
        frames: list[bytes] = []
        page = browser.new_context(viewport={"width": 1400, "height": 1400}).new_page()
        page.on("websocket", lambda ws: ws.on("framereceived", lambda data: frames.append(
            data if isinstance(data, bytes) else data.encode("utf-8"))))
        page.goto(url)
        page.get_by_role("textbox", name="Username").fill(username)
        page.get_by_role("textbox", name="Password").fill(password)
        page.get_by_role("button", name="Log in").click()
        page.get_by_text(f"Signed in as {username}").wait_for(timeout=30_000)
        drawn(page)
        problems += violations(page, f"{role} on overview")
        links = page.locator("[data-testid='stSidebarNavLink']")
        names = [link.rstrip("/").rsplit("/", 1)[-1] for link in
                 links.evaluate_all("(links) => links.map((a) => a.href)")]
        if role == "contributor":
            assert names[1:] == ["ideas_sent_in", "for_you"], names
        else:
            assert set(COMMON[1:]) <= set(names), names  # every page both roles share
        for name in names[1:]:  # from the Overview, through the menu as a person goes
            page.locator(f"[data-testid='stSidebarNavLink'][href$='/{name}']").click()
            page.wait_for_url(f"**/{name}", timeout=30_000)
            settle(page)
            page.locator("[data-testid='stMain'] h1").first.wait_for(timeout=30_000)
            assert page.locator("[data-testid='stException']").count() == 0, name
            problems += violations(page, f"{role} on {name}")
        received = _frames_text(b"\n".join(frames))
        assert len(received) > (100_000 if role != "contributor" else 10_000), len(received)
        assert "Send the idea" in received and "For you" in received  # the scan reads pages
        assert _leaks(received, leaks) == [], username
        if role == "viewer":
            assert "hillview" in _leaks(received)  # named to a viewer: seen in the frames
    finally:
        _stop(proc, log)
    assert not problems, "\n".join(problems)
