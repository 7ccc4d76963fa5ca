"""What the browser tests share: Chromium (Debian's, driven by Playwright), the app servers
they open, and the steps a person takes (open a page, wait for its run, choose, sign in,
download). The tests are in the test_browser*.py files, by what they try."""

from __future__ import annotations

import contextlib
import os
import weakref
from pathlib import Path

import page_state
import pytest
from conftest import ROOT

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")


ARTIFACTS = ROOT / "test-artifacts" / "browser"


# `SCREENSHOT_DIR=docs/screenshots python -m pytest tests/test_browser.py -k chart_type`
# refreshes the pictures in the docs from the same run.
CHART_SHOTS = Path(os.environ.get("SCREENSHOT_DIR", ARTIFACTS / "charts"))


def need_browser():
    if Path(CHROMIUM).exists():
        return
    if os.environ.get("REQUIRE_BROWSER") == "1":
        pytest.fail(f"REQUIRE_BROWSER=1 but no Chromium at {CHROMIUM}: install Debian's chromium")
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium); browser tests skipped")


DRAWN, RUNNING = page_state.DRAWN, page_state.RUNNING


def drawn(page):
    # polled every 50 ms, not on every animation frame (Playwright's default): asking for
    # frames kept Chromium drawing at 60 a second all the while a page waited on its server
    page.wait_for_function(DRAWN, timeout=120_000, polling=50)
    # then the charts' own drawing, and two frames painted (a fixed 200 ms beat here cost
    # the browser tests half a minute of waiting in all)
    page.wait_for_function(page_state.CHARTS_DRAWN, timeout=30_000, polling=20)
    page.evaluate(page_state.TWO_FRAMES)
    RUNS_SEEN[page] = page.evaluate(page_state.COUNT_RUNS)  # for the next `_settle`


RUNS_SEEN: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def open_page(page, url: str, heading: str):
    """Go to the page at `url` and wait until it is drawn: through the app's menu when the
    browser is already in the app (as a person goes, and without loading the app's scripts
    again), else by its address."""
    base, _, path = url.rpartition("/")
    link = page.locator(f"[data-testid='stSidebarNavLink'][href$='/{path}']") if path \
        and page.url.startswith(base) and "://" in base else None
    if link is not None and link.count() == 1:
        link.click()
        page.wait_for_url(url, timeout=30_000)
        settle(page)
    else:
        page.goto(url)
    page.get_by_role("heading", name=heading).first.wait_for(timeout=30_000)
    drawn(page)


def settle(page):
    """Wait for the rerun to finish: no running indicator and no faded (stale) element."""
    from playwright.sync_api import TimeoutError as NotYet

    with contextlib.suppress(NotYet):  # the rerun begins (or a quick one came and went)
        page.wait_for_function(page_state.RAN_SINCE, arg=RUNS_SEEN.get(page, -1),
                               timeout=1000, polling=50)
    drawn(page)


def choose(page, label: str, option: str):
    box = page.get_by_test_id("stSelectbox").filter(has_text=label).first
    box.scroll_into_view_if_needed()
    box.click()
    page.keyboard.type(option[:24])  # the list filters as one types, as a user would
    page.get_by_role("option", name=option).first.click()
    settle(page)


def download(page, button: str, saved: Path) -> Path:
    target = page.get_by_role("button", name=button)
    target.wait_for(timeout=180_000)
    with page.expect_download() as info:
        target.click()
    info.value.save_as(saved)
    return saved


def open_offline(browser, report: Path, shot: Path) -> str:
    """Open a downloaded report with the network cut off; nothing may be fetched."""
    context = browser.new_context(offline=True, viewport={"width": 1200, "height": 1800})
    asked = []
    page = context.new_page()
    page.on("request", lambda r: asked.append(r.url))
    page.goto(report.as_uri())
    page.wait_for_timeout(1000)
    text = page.locator("body").inner_text()
    page.screenshot(path=str(shot))
    page.locator("section.idea").first.screenshot(
        path=str(shot.with_name(shot.stem + "_idea.png")))
    context.close()
    assert asked == [report.as_uri()], asked
    return text


def sign_in(page, url: str, path: str, username: str) -> None:
    from conftest import PASSWORD

    page.goto(f"{url}/{path}")
    page.get_by_role("textbox", name="Username").fill(username)
    page.get_by_role("textbox", name="Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    # the run that shows who is signed in is the last the sign-in makes (it asks for its
    # cookie in the background): wait for it to end, not for a rerun that never comes
    page.get_by_text(f"Signed in as {username}").wait_for(timeout=30_000)
    drawn(page)


def build_and_download_the_pack(page, name: str) -> Path:
    """On the Review page: build the PDF pack and save the download as ARTIFACTS/name."""
    page.get_by_role("button", name="Build the pack").click()
    download = page.get_by_role("button", name="Download the pack (PDF)")
    download.wait_for(timeout=180_000)
    with page.expect_download() as info:
        download.click()
    saved = ARTIFACTS / name
    info.value.save_as(saved)
    return saved
