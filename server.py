"""The tracker's web server: `streamlit run server.py`.

An ASGI app (Streamlit's `st.App`) around the Streamlit script `streamlit_app.py`, so that the
tracker's own process can change what the web server answers:

- it refuses Streamlit's `/_stcore/metrics` endpoint, which Streamlit serves to anyone without
  sign-in and cannot turn off by configuration (it lists the app's sessions and memory); a
  reverse proxy in front should block it as well (README, "Running it for others");
- `/healthz` answers 200 with the database's state when the tracker can read its database,
  503 otherwise, for monitoring (no sign-in; it says nothing about the lab's data);
- `/tracker/session` turns the one-time ticket of a sign-in into the HttpOnly session cookie
  that keeps a person signed in across a refresh, a new tab or a deep link
  (tracker/web_sessions.py), then sends the browser on to the page it asked for.
"""

import streamlit as st
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse
from starlette.routing import Route

from tracker import web_sessions
from tracker.db import shared

BLOCKED = ("/_stcore/metrics",)


class BlockInternalEndpoints:
    """Answer 404 for Streamlit's internal endpoints that must not be public, under any
    base URL path (server.baseUrlPath)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["path"].rstrip("/").endswith(BLOCKED):
            await PlainTextResponse("Not found", status_code=404)(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _health() -> tuple[int, dict]:
    try:
        version = shared().scalar("SELECT max(version) FROM schema_migrations")
    except Exception as exc:  # noqa: BLE001 - the answer is the failure, in words
        return 503, {"status": "unavailable", "database": str(exc).splitlines()[0][:200]}
    return 200, {"status": "ok", "database": "ok", "schema_version": int(version or 0)}


async def healthz(request):
    """GET /healthz: 200 when the database answers, 503 (with the reason) when it does not."""
    status, body = await run_in_threadpool(_health)
    return JSONResponse(body, status_code=status)


async def start_session(request):
    """GET /tracker/session?ticket=...&next=/page: set the session cookie, go to the page."""
    target = web_sessions.safe_next(request.query_params.get("next"))
    ticket = request.query_params.get("ticket", "")
    token = await run_in_threadpool(web_sessions.redeem, shared(), ticket)
    response = RedirectResponse(target, status_code=303)
    if token:
        response.set_cookie(web_sessions.COOKIE, token, httponly=True, samesite="lax",
                            secure=request.url.scheme == "https", path="/")
    return response


app = st.App("streamlit_app.py", middleware=[Middleware(BlockInternalEndpoints)],
             routes=[Route("/tracker/session", start_session), Route("/healthz", healthz)])
