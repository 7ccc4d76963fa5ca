"""When a Streamlit page in Chromium is drawn: the rule the browser tests and
bench/browser.py both wait on (JavaScript for Playwright's `wait_for_function`). No imports,
so a bench script can read it without the tests' set-up."""

# The page is drawn: the script has finished, nothing is running, stale or a placeholder.
DRAWN = """() => {
  const app = document.querySelector('[data-testid=stApp]');
  return app !== null && app.getAttribute('data-test-script-state') === 'notRunning'
    && !document.querySelector('[data-testid=stStatusWidget]')
    && !document.querySelector('[data-stale="true"]')
    && !document.querySelector('[data-testid=stSkeleton]');
}"""

# What the page draws after its script has finished is drawn too: every Altair chart has its
# marks (Vega draws them after the element arrives) and the fonts have loaded.
CHARTS_DRAWN = """() => document.fonts.status === 'loaded'
  && [...document.querySelectorAll('[data-testid=stVegaLiteChart]')]
       .every((chart) => chart.querySelector('svg.marks g, canvas') !== null)"""

# Two frames painted (what the page drew is on the screen, for a screenshot or a click), or
# 200 ms if the page paints no frame (a tab in the background).
TWO_FRAMES = """() => new Promise((done) => {
  requestAnimationFrame(() => requestAnimationFrame(() => done(true)));
  setTimeout(() => done(false), 200);
})"""

# Watch for the next rerun: after ARM, RAN_AND_DRAWN holds once a rerun has begun (however
# quickly it ended) and the page is drawn. Waiting for RUNNING instead misses a rerun that
# began and ended before the wait started, and then waits out its whole timeout.
ARM = """() => {
  window.__trackerRan = false;
  if (!window.__trackerWatch) {
    window.__trackerWatch = new MutationObserver((records) => {
      const app = document.querySelector('[data-testid=stApp]');
      for (const r of records) {
        if (r.oldValue === 'running' || app?.getAttribute('data-test-script-state') === 'running')
          window.__trackerRan = true;
      }
    });
    // the whole document, not one element: if Streamlit draws its app element again (after
    // its connection to the server comes back), a watch on the old one would wait for ever
    window.__trackerWatch.observe(document.documentElement, {
      subtree: true, attributes: true, attributeOldValue: true,
      attributeFilter: ['data-test-script-state']});
  }
}"""
RAN_AND_DRAWN = "() => window.__trackerRan === true && (" + DRAWN + ")()"

# Count the reruns the page has finished (a running state that ended), from the first call
# on (installing the watch); returns the count so far. A test reads it when the page is
# drawn, then after a click waits for RAN_SINCE(count): a rerun that began and ended before
# the wait started is counted, not waited out.
COUNT_RUNS = """() => {
  if (!window.__trackerCounter) {
    window.__trackerRuns = 0;
    window.__trackerCounter = new MutationObserver((records) => {
      for (const r of records) if (r.oldValue === 'running') window.__trackerRuns += 1;
    });
    window.__trackerCounter.observe(document.documentElement, {  // as ARM's, the whole page
      subtree: true, attributes: true, attributeOldValue: true,
      attributeFilter: ['data-test-script-state']});
  }
  return window.__trackerRuns;
}"""
RAN_SINCE = """(seen) => seen >= 0 && (window.__trackerRuns ?? -1) > seen || document.querySelector(
  '[data-testid=stApp]')?.getAttribute('data-test-script-state') === 'running'"""

# A rerun is under way.
RUNNING = """() => document.querySelector('[data-testid=stApp]')
  ?.getAttribute('data-test-script-state') === 'running'"""


def wait_for_session_cookie(context, timeout: float = 30.0) -> dict:
    """The tracker's session cookie in a Playwright browser context, once the signed-in page
    has asked for it in the background (a sign-in no longer loads the page again)."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        found = [c for c in context.cookies() if c["name"] == "tracker_session"]
        if found or time.monotonic() > deadline:
            assert found, "the signed-in page did not get its session cookie"
            return found[0]
        time.sleep(0.05)
