"""A real browser: the lab team's learning, shared notes and the learning report (internal and public,
opened offline), and the reports' accessibility."""

from __future__ import annotations

import datetime as dt

import pytest
from app_server import start_app as _start
from app_server import stop_app as _stop
from browser_steps import ARTIFACTS, choose, download, drawn, open_offline, open_page, settle

from tracker import clock

pytestmark = pytest.mark.browser


def test_the_lab_team_writes_learning_shares_notes_and_makes_both_reports(browser, demo_path):
    """Issue 10: a synthesis for an adopted idea and a new version for an abandoned one, two
    notes marked shareable, then the internal and the public report, each opened offline."""
    from playwright.sync_api import expect

    proc, url, log = _start(demo_path)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 2400})
        open_page(page, f"{url}/learning", "What we learned")
        adopted = "Self-referral QR code on waiting-room screens"
        choose(page, "Open an idea's learning record", adopted)
        page.get_by_label("Key learning (a few sentences)").fill(
            "A QR code costs nothing to keep but does not drive referrals.")
        page.locator("[data-testid='stRadio']").filter(has_text="Recommendation") \
            .get_by_text("Test further", exact=True).click()
        page.get_by_label("Reason for the recommendation").fill(
            "Few scans at two practices; worth a test with a clearer call to action.")
        page.get_by_role("button", name="Save as a new version").click()
        page.get_by_text(f"Synthesis of '{adopted}' saved").first.wait_for(timeout=30_000)
        settle(page)
        main = page.locator("[data-testid='stMain']")
        # the save reruns the page twice (the message, then the record): wait for the record
        expect(main).to_contain_text("Recommendation: Test further.", timeout=30_000)
        drawn(page)

        abandoned = "WhatsApp group moderated by a peer supporter"
        choose(page, "Open an idea's learning record", abandoned)
        settle(page)  # the record of the chosen idea redraws before its form takes typing
        page.get_by_text("Revise the synthesis (saves version 2)").click()
        page.get_by_label("Key learning (a few sentences)").fill(
            "An always-on group chat put too much on volunteers; a moderated weekly chat "
            "might not.")
        page.get_by_role("button", name="Save as a new version").click()
        page.get_by_text(f"Synthesis of '{abandoned}' saved").first.wait_for(timeout=30_000)
        settle(page)
        expect(main).to_contain_text("Earlier versions (1)", timeout=30_000)
        drawn(page)  # the rerun that shows the record has finished drawing it
        # two notes of its first cycle: what was learned in public, study notes to partners
        cycle = page.get_by_test_id("stExpander").filter(has_text="Cycle 1 ·").first
        cycle.locator("summary").click()  # scrolls it into view first
        form = cycle.get_by_test_id("stForm")
        form.get_by_role("radiogroup", name="What was learned") \
            .get_by_role("radio", name="Public").click()
        form.get_by_role("radiogroup", name="Study notes") \
            .get_by_role("radio", name="Partners").click()
        form.get_by_role("button", name="Save sharing").click()
        page.get_by_text("Sharing saved").first.wait_for(timeout=30_000)
        settle(page)
        page.screenshot(path=str(ARTIFACTS / "learning.png"), full_page=True)

        # the internal report (lab admin only), then the public one
        page.get_by_text("Public version (disclosure control applied)").click()
        page.get_by_role("button", name="Build the report").click()
        internal = download(page, "Download the internal learning report",
                             ARTIFACTS / "learning-internal.html")
        page.get_by_text("Public version (disclosure control applied)").click()
        page.get_by_role("button", name="Build the report").click()
        public = download(page, "Download the public learning report",
                           ARTIFACTS / "learning-public.html")
    finally:
        _stop(proc, log)
    inside = open_offline(browser, internal, ARTIFACTS / "learning_report_internal.png")
    outside = open_offline(browser, public, ARTIFACTS / "learning_report_public.png")
    assert "Internal version" in inside and "Public version" in outside
    for text in (inside, outside):
        assert "A QR code costs nothing to keep but does not drive referrals." in text
        assert "a moderated weekly chat might not" in text
    assert "Hillview Surgery (demo)" in inside and "Hillview Surgery" not in outside
    assert "What this version withholds" in outside


def test_the_html_reports_pass_axe(browser, demo_learning_reports, demo_path, tmp_path):
    """The learning report (both versions) and the digest, opened in Chromium as a reader
    opens the file, pass axe-core's WCAG 2.2 AA checks with nothing allowed. The demo's
    reports are the ones test_learning.py reads (built once per run: conftest)."""
    from accessibility import violations

    from tracker.access import auth
    from tracker.learning import whats_new
    from tracker.storage.db import Database

    admin = auth.Scope.admin("test")
    with Database(demo_path) as db:
        pages = {"learning report (public)": demo_learning_reports["public"],
                 "learning report (internal)": demo_learning_reports["internal"],
                 "digest": whats_new.digest(db, admin, clock.today() - dt.timedelta(days=28),
                                            tmp_path / "digest.html").read_text()}
    problems = []
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    for name, html in pages.items():
        page.set_content(html)
        problems += violations(page, name)
    assert not problems, "\n".join(problems)
