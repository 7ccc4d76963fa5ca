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

# A rerun is under way.
RUNNING = """() => document.querySelector('[data-testid=stApp]')
  ?.getAttribute('data-test-script-state') === 'running'"""
