"""The tracker's web server: `streamlit run server.py`.

An ASGI app (Streamlit's `st.App`) around the Streamlit script `streamlit_app.py`, so that the
tracker's own process can change what the web server answers:

- it refuses Streamlit's `/_stcore/metrics` endpoint, which Streamlit serves to anyone without
  sign-in and cannot turn off by configuration (it lists the app's sessions and memory); a
  reverse proxy in front should block it as well (README, "Running it for others");
- `/healthz` answers 200 with the database's state when the tracker can read its database,
  503 otherwise, for monitoring (no sign-in; it says nothing about the lab's data);
- `/tracker/cli` answers the command line while this process holds the embedded database
  file (tracker/app_control.py): only with the admin token this process wrote, at start, into
  the control file beside the database, and only from this machine;
- `/tracker/api/results` takes a partner system's results file with an organisation's API
  token and answers the Upload page's report as JSON (tracker/results_api.py, docs/api.md);
- `/tracker/session` turns the one-time ticket of a sign-in into the HttpOnly session cookie
  that keeps a person signed in across a refresh, a new tab or a deep link
  (tracker/web_sessions.py), then sends the browser on to the page it asked for.
"""

import contextlib
import logging

import streamlit as st
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse
from starlette.routing import Route
from streamlit import config

from tracker.access import web_sessions
from tracker.commands import app_control
from tracker.intake import api_tokens, results_api
from tracker.intake.upload_read import MAX_FILE_BYTES
from tracker.storage.engines import shared

LOG = logging.getLogger("tracker.server")
# Streamlit serves its own routes under server.baseUrlPath but not an App's routes: the
# tracker's routes go under it here, so that several labs can share one reverse proxy.
BASE = web_sessions.base_path(config.get_option("server.baseUrlPath"))
LOOPBACK = {"127.0.0.1", "::1", "localhost"}

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
    if not target.startswith(BASE + "/"):
        target = BASE + "/"
    ticket = request.query_params.get("ticket", "")
    token = await run_in_threadpool(web_sessions.redeem, shared(), ticket)
    response = RedirectResponse(target, status_code=303)
    if token:
        response.set_cookie(web_sessions.COOKIE, token, httponly=True, samesite="lax",
                            secure=request.url.scheme == "https", path=BASE or "/")
    return response


def own_url() -> str:
    """How a process on this machine reaches this server (after Streamlit chose its port)."""
    address = (config.get_option("server.address") or "").strip()
    host = "127.0.0.1" if address in ("", "0.0.0.0", "::", "localhost") else address
    if ":" in host:
        host = f"[{host}]"
    scheme = "https" if config.get_option("server.sslCertFile") else "http"
    return f"{scheme}://{host}:{config.get_option('server.port')}{BASE}"


@contextlib.asynccontextmanager
async def lifespan(_app):
    """Open the database as the server starts, and leave the command line the way in."""
    path = None
    try:
        database = await run_in_threadpool(shared)
        if database.engine == "duckdb":  # a server needs no way in
            path = database.path
            app_control.start(path, own_url())
    except Exception as exc:  # noqa: BLE001 - the pages say what is wrong with the database
        LOG.warning("The command line cannot reach this app: %s", str(exc).splitlines()[0])
    try:
        yield None
    finally:
        if path is not None:
            app_control.stop(path)


async def command_line(request):
    """POST /tracker/cli: one command of `python -m tracker`, from this machine, with the
    admin token of the control file."""
    host = request.client.host if request.client else ""
    if host not in LOOPBACK or not app_control.authorised(request.headers.get("authorization")):
        return JSONResponse({"error": "not allowed"}, status_code=403)
    try:
        payload = await request.json()
    except ValueError:
        return JSONResponse({"error": "not a command"}, status_code=400)
    answer = await run_in_threadpool(app_control.execute, shared(), payload)
    return JSONResponse(answer)


async def _body(request) -> tuple[bytes, str] | None:
    """The file of a results request (its sender's token already checked): a multipart form's
    `file`, or the raw body (its name in ?file=). None when it is larger than the limit."""
    limit = MAX_FILE_BYTES
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        form = await request.form(max_files=1, max_fields=8, max_part_size=limit + 1)
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            return b"", ""
        data = await upload.read(limit + 1)
        return None if len(data) > limit else (data, upload.filename or "")
    chunks, size = [], 0
    async for chunk in request.stream():  # read to the end (discarding past the limit), so
        size += len(chunk)                # the sender hears the answer, not a reset
        if size <= limit:
            chunks.append(chunk)
    if size > limit:
        return None
    return b"".join(chunks), request.query_params.get("file", "")


async def results(request):
    """POST /tracker/api/results: a partner system's results file (tracker/results_api.py)."""
    db = shared()
    try:
        scope = await run_in_threadpool(results_api.authenticate, db,
                                        request.headers.get("authorization"),
                                        request.client.host if request.client else None)
    except api_tokens.TokenThrottled as wait:
        return JSONResponse(results_api.refusal(429, str(wait))[1], status_code=429,
                            headers={"Retry-After": str(wait.seconds)})
    if scope is None:
        return JSONResponse(results_api.refusal(401, results_api.NO_TOKEN)[1], status_code=401,
                            headers={"WWW-Authenticate": "Bearer"})
    try:
        received = await _body(request)
    except Exception:  # noqa: BLE001 - a malformed form is the sender's to fix
        status, body = results_api.refusal(400, "The request is not a file upload: send the "
                                                "file as the body, or as the form field 'file'.")
        return JSONResponse(body, status_code=status)
    if received is None:
        status, body = results_api.refusal(413, results_api.TOO_LARGE)
        return JSONResponse(body, status_code=status)
    data, name = received
    flag = {"true", "1", "yes"}
    try:
        status, body = await run_in_threadpool(
            results_api.handle, db, scope, data, name,
            commit=request.query_params.get("commit", "").lower() in flag,
            confirm=request.query_params.get("confirm", "").lower() in flag)
    except Exception:
        LOG.exception("The results API failed on a file from %s", scope.organisation)
        status, body = results_api.refusal(500, "The tracker could not process the file and "
                                                "stored nothing. Tell the lab team.")
    return JSONResponse(body, status_code=status)


app = st.App("streamlit_app.py", lifespan=lifespan,
             middleware=[Middleware(BlockInternalEndpoints)],
             routes=[Route(BASE + web_sessions.ROUTE, start_session),
                     Route(BASE + "/healthz", healthz),
                     Route(BASE + app_control.ROUTE, command_line, methods=["POST"]),
                     Route(BASE + "/tracker/api/results", results, methods=["POST"])])
