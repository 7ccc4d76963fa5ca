"""axe-core (from the npm registry: `npm ci` installs the version package-lock.json pins) run
in Chromium on a page the tests have open: WCAG 2.0, 2.1 and 2.2, levels A and AA.

What the tracker controls must have no violation. What only Streamlit controls is in ALLOWED,
each entry with the element it covers and its upstream reference (docs/accessibility.md lists
them for readers); anything else fails the test.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

AXE = Path(__file__).resolve().parent.parent / "node_modules" / "axe-core" / "axe.min.js"
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa"]

# rule id -> (where the node sits, so the entry covers Streamlit's own markup only; why;
# upstream). `where` names a test in _NODE_FACTS below.
ALLOWED = {
    "list": ("in_sidebar_nav",
             "Streamlit's page menu puts its section headers inside the <ul> beside the <li>",
             "streamlit/streamlit frontend/app/src/components/Sidebar/SidebarNav.tsx "
             "(Streamlit 1.67.0)"),
    "listitem": ("in_sidebar_nav",
                 "the same menu's <li> items sit in a <div> of the <ul>, not in it directly",
                 "streamlit/streamlit frontend/app/src/components/Sidebar/SidebarNav.tsx "
                 "(Streamlit 1.67.0)"),
    "target-size": ("date_segment",
                    "the day, month and year of st.date_input are react-aria segments of one "
                    "field, each narrower than 24 px; the field itself is large",
                    "streamlit/streamlit frontend/lib/src/components/widgets/DateInput "
                    "(Streamlit 1.67.0)"),
}

# For each node axe names: facts about where it sits, computed in the page.
_NODE_FACTS = """
(target) => {
  const el = document.querySelector(target);
  if (!el) return {in_sidebar_nav: false, date_segment: false};
  return {
    in_sidebar_nav: !!el.closest('[data-testid="stSidebarNav"], [data-testid="stSidebarNavItems"]'),
    date_segment: el.getAttribute('role') === 'spinbutton' && !!el.closest('[data-testid="stDateInput"]'),
  };
}
"""


def axe_source() -> str:
    if not AXE.exists():
        if os.environ.get("REQUIRE_BROWSER"):
            pytest.fail(f"axe-core is not installed ({AXE}): run `npm ci` in the project folder")
        pytest.skip("axe-core is not installed: run `npm ci` in the project folder")
    return AXE.read_text(encoding="utf-8")


def violations(page, where: str) -> list[str]:
    """axe-core's WCAG A and AA violations on `page` that are not in ALLOWED, one line each
    (`where` names the page in the message)."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(axe_source())
    found = page.evaluate(
        """async (tags) => {
             const result = await axe.run(document, {runOnly: {type: 'tag', values: tags},
                                                     resultTypes: ['violations']});
             return result.violations.map(v => ({id: v.id, help: v.help,
                 nodes: v.nodes.map(n => ({target: n.target.join(' '),
                                           html: n.html.slice(0, 200)}))}));
           }""", TAGS)
    left = []
    for rule in found:
        allowed = ALLOWED.get(rule["id"])
        for node in rule["nodes"]:
            if allowed and page.evaluate(_NODE_FACTS, node["target"])[allowed[0]]:
                continue
            left.append(f"{where}: {rule['id']} ({rule['help']}): {node['html']}")
    return left
