"""The tracker's web server: `streamlit run server.py`.

An ASGI app (Streamlit's `st.App`) around the Streamlit script `streamlit_app.py`, so that the
tracker's own process can change what the web server answers. Today it refuses Streamlit's
`/_stcore/metrics` endpoint, which Streamlit serves to anyone without sign-in and cannot turn
off by configuration (it lists the app's sessions and memory). A reverse proxy in front should
block it as well (README, "Running it for others").
"""

import streamlit as st
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse

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


app = st.App("streamlit_app.py", middleware=[Middleware(BlockInternalEndpoints)])
