"""The tracker's web server: `streamlit run server.py`.

An ASGI app (Streamlit's `st.App`) around the Streamlit script `streamlit_app.py`, so that the
tracker's own process can change what the web server answers:

- it refuses Streamlit's `/_stcore/metrics` endpoint, which Streamlit serves to anyone without
  sign-in and cannot turn off by configuration (it lists the app's sessions and memory); a
  reverse proxy in front should block it as well (README, "Running it for others");
- `/tracker/session` turns the one-time ticket of a sign-in into the HttpOnly session cookie
  that keeps a person signed in across a refresh, a new tab or a deep link
  (tracker/web_sessions.py), then sends the browser on to the page it asked for.
"""

import streamlit as st
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse, RedirectResponse
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
             routes=[Route("/tracker/session", start_session)])
