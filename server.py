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
  (tracker/web_sessions.py): asked in the background by the page that signed in, which
  carries on without a page load.
"""

import contextlib
import logging
import os
import secrets

import streamlit as st
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.formparsers import MultiPartParser
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route
from streamlit import config

from tracker.access import auth, first_run, hosts, web_sessions
from tracker.commands import app_control
from tracker.intake import api_tokens, results_api
from tracker.intake.upload_read import MAX_FILE_BYTES
from tracker.storage.base import is_unreachable, keep_files_private
from tracker.storage.engines import shared

# uvicorn (Streamlit's web server) takes the client's address from X-Forwarded-For when the
# request comes from an address in FORWARDED_ALLOW_IPS, which defaults to this machine: any
# local program could then pose as any client (and dodge the sign-in and API throttles). The
# tracker trusts a proxy only where FORWARDED_ALLOW_IPS is set (deploy/compose*.yaml); see
# UntrustedForwarding.
TRUSTS_A_PROXY = bool(os.environ.get("FORWARDED_ALLOW_IPS", "").strip())
keep_files_private()  # the database, its backups and the control file: the server's user only

LOG = logging.getLogger("tracker.server")
# Streamlit serves its own routes under server.baseUrlPath but not an App's routes: the
# tracker's routes go under it here, so that several labs can share one reverse proxy.
BASE = web_sessions.base_path(config.get_option("server.baseUrlPath"))
LOOPBACK = {"127.0.0.1", "::1", "localhost"}

BLOCKED = ("/_stcore/metrics",)
# a results file (MAX_FILE_BYTES) and the few fields of a multipart form around it
MAX_BODY = MAX_FILE_BYTES + 64 * 1024
DRAIN_AT_MOST = 2 * MAX_BODY  # a larger body is refused without reading it to the end


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


class UntrustedForwarding:
    """Where FORWARDED_ALLOW_IPS is not set, undo uvicorn's default trust of this machine as a
    proxy: a request whose client address uvicorn took from its own X-Forwarded-For header
    came from this machine, and is counted as coming from it. (uvicorn reads the setting
    before it imports this module, so it cannot be changed here; it trusts only loopback by
    default, so a replaced address means a loopback peer.)"""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if not TRUSTS_A_PROXY and scope["type"] in ("http", "websocket") and scope.get("client"):
            claimed = [value.decode("latin-1") for name, value in scope["headers"]
                       if name == b"x-forwarded-for"]
            if claimed and _claimed_by(tuple(scope["client"]), ", ".join(claimed)):
                scope = {**scope, "client": ("127.0.0.1", 0)}
        await self.app(scope, receive, send)


def _claimed_by(client: tuple, forwarded_for: str) -> bool:
    """Whether `client` is one of the addresses a X-Forwarded-For header names (as uvicorn
    parses them: "host", "host:port", "[v6]:port")."""
    for item in forwarded_for.split(","):
        item = item.strip()
        host, port = item, 0
        if item.startswith("[") and "]" in item:
            host, rest = item[1:item.index("]")], item[item.index("]") + 1:]
            port = int(rest[1:]) if rest[1:].isdigit() else 0
        elif item.count(":") == 1 and item.rsplit(":", 1)[1].isdigit():
            host, port = item.rsplit(":", 1)[0], int(item.rsplit(":", 1)[1])
        if (host, port) == (client[0], int(client[1] or 0)):
            return True
    return False


class AllowedHosts:
    """Answer only to the names this server is reached by (the Host header): loopback names,
    the address it listens on, and TRACKER_ALLOWED_HOSTS (tracker/access/hosts.py). A page
    of another site whose name an attacker points at this machine (DNS rebinding) is refused,
    its websocket included. /healthz answers any name (a proxy's checks use the server's own
    address, and it tells nothing of the lab)."""

    def __init__(self, app):
        self.app = app
        self.allowed = hosts.allowed_hosts(os.environ.get("TRACKER_ALLOWED_HOSTS"),
                                                  config.get_option("server.address"))

    async def __call__(self, scope, receive, send):
        if scope["type"] in ("http", "websocket") and \
                scope["path"].rstrip("/") != BASE + "/healthz" and \
                not hosts.host_allowed(Headers(scope=scope).get("host"), self.allowed):
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
                return
            await PlainTextResponse(
                "This tracker does not answer to this address. Its operator can add the name to "
                "TRACKER_ALLOWED_HOSTS (docs/deploy.md).", status_code=421)(scope, receive, send)
            return
        await self.app(scope, receive, send)


class BrowserCookie:
    """Give each browser a random cookie (web_sessions.BROWSER_COOKIE) with the first page it
    loads, before any sign-in form: a sign-in's ticket is then redeemed only in the browser
    that started it. Pages only: not Streamlit's own routes, files, or the tracker's routes."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        path = scope.get("path", "")
        tail = path[len(BASE):] if path.startswith(BASE) else path
        if scope["type"] != "http" or scope.get("method") != "GET" or \
                tail.startswith(("/_stcore", "/static", "/component", "/media", "/tracker/",
                                 "/healthz")) or "." in tail.rsplit("/", 1)[-1] or \
                web_sessions.BROWSER_COOKIE in Request(scope).cookies:
            await self.app(scope, receive, send)
            return
        value = secrets.token_urlsafe(24)
        secure = "; Secure" if scope.get("scheme") == "https" else ""
        cookie = (f"{web_sessions.BROWSER_COOKIE}={value}; Path={BASE or '/'}; HttpOnly; "
                  f"SameSite=Lax{secure}").encode("latin-1")

        async def send_with_cookie(message):
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []),
                                                  (b"set-cookie", cookie)]}
            await send(message)

        await self.app(scope, receive, send_with_cookie)


class SafeFiles:
    """Files the app hands out (/media: images on a page, downloads) are never taken for
    something else by the browser: no type sniffing, no script or frame may run in one
    opened on its own (a sandbox), and anything but an image is a download
    (`Content-Disposition: attachment`), even where a page shows it. An attachment's type was
    checked from its content when it was stored (tracker/community/attachments.py); this is
    the second wall."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        path = scope.get("path", "")
        tail = path[len(BASE):] if path.startswith(BASE) else path
        if scope["type"] != "http" or not tail.startswith("/media/"):
            await self.app(scope, receive, send)
            return

        async def send_safely(message):
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", [])
                           if k.lower() not in (b"x-content-type-options",
                                                b"content-security-policy")]
                kind = next((v for k, v in headers if k.lower() == b"content-type"), b"")
                if not kind.startswith((b"image/png", b"image/jpeg", b"image/webp")) and not \
                        any(k.lower() == b"content-disposition" for k, _ in headers):
                    headers.append((b"content-disposition", b"attachment"))
                headers += [(b"x-content-type-options", b"nosniff"),
                            (b"content-security-policy", b"default-src 'none'; sandbox")]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_safely)


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
    """GET /tracker/session?ticket=...: set the session cookie. With `then=stay`, asked in the
    background by the page that signed in (which carries on), the answer is 204 No Content;
    a browser that opens the address as a page (a link) is sent on to `next=/page`."""
    target = web_sessions.safe_next(request.query_params.get("next"))
    if not target.startswith(BASE + "/"):
        target = BASE + "/"
    ticket = request.query_params.get("ticket", "")
    token = await run_in_threadpool(web_sessions.redeem, shared(), ticket,
                                    request.cookies.get(web_sessions.BROWSER_COOKIE))
    if request.query_params.get("then") == "stay" and \
            request.headers.get("sec-fetch-mode") != "navigate":
        response = Response(status_code=204, headers={"Cache-Control": "no-store"})
    else:
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
        if not await run_in_threadpool(auth.accounts_exist, database):
            first_run.setup_code()  # printed in the log, for the first-run page
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


async def _bounded_body(request) -> bytes | None:
    """The request's body in memory, or None when it is larger than MAX_BODY: refused from
    its Content-Length before reading, else by counting as it streams in. Nothing of it is
    ever written to disk (Starlette's form parser spools file parts to a temporary file,
    and its part limit does not cover them: a 400 MB body filled the temporary folder)."""
    try:
        declared = int(request.headers.get("content-length", ""))
    except ValueError:
        declared = None
    if declared is not None and declared > DRAIN_AT_MOST:
        return None  # not worth reading to the end: the sender's connection is reset
    keep = declared is None or declared <= MAX_BODY
    chunks, size = [], 0
    async for chunk in request.stream():  # read to the end, keeping nothing past the limit,
        size += len(chunk)                # so the sender hears the answer, not a reset
        if keep and size <= MAX_BODY:
            chunks.append(chunk)
    return None if size > MAX_BODY or not keep else b"".join(chunks)


async def _body(request) -> tuple[bytes, str] | None:
    """The file of a results request (its sender's token already checked): a multipart form's
    `file`, or the raw body (its name in ?file=). None when it is larger than the limit."""
    body = await _bounded_body(request)
    if body is None:
        return None
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        async def stream():
            yield body

        parser = MultiPartParser(request.headers, stream(), max_files=1, max_fields=8,
                                 max_part_size=MAX_BODY)
        parser.spool_max_size = MAX_BODY  # the file part stays in memory, as the body did
        form = await parser.parse()
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            return b"", ""
        data = await upload.read(MAX_FILE_BYTES + 1)
        return None if len(data) > MAX_FILE_BYTES else (data, upload.filename or "")
    if len(body) > MAX_FILE_BYTES:
        return None
    return body, request.query_params.get("file", "")


UNAVAILABLE_WAIT = 30  # seconds a sender is asked to wait while the database is not answering


def _unavailable() -> JSONResponse:
    status, body = results_api.refusal(503, "The tracker's database is not answering just now "
                                            f"(restarting?), so nothing was stored. Send the "
                                            f"file again in {UNAVAILABLE_WAIT} seconds.")
    return JSONResponse(body, status_code=status,
                        headers={"Retry-After": str(UNAVAILABLE_WAIT)})


async def results(request):
    """POST /tracker/api/results: a partner system's results file (tracker/results_api.py).
    While a PostgreSQL server does not answer: 503, with Retry-After."""
    try:
        return await _results(request)
    except Exception as exc:
        if not is_unreachable(exc):
            raise
        LOG.warning("The results API could not reach the database: %s",
                    str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        return _unavailable()


async def _results(request):
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
            confirm=any(request.query_params.get(name, "").lower() in flag
                        for name in ("accept_unusual", "confirm")))
    except Exception as exc:
        if is_unreachable(exc):
            raise
        LOG.exception("The results API failed on a file from %s", scope.organisation)
        status, body = results_api.refusal(500, "The tracker could not process the file and "
                                                "stored nothing. Tell the lab team.")
    return JSONResponse(body, status_code=status)


app = st.App("streamlit_app.py", lifespan=lifespan,
             middleware=[Middleware(UntrustedForwarding), Middleware(AllowedHosts),
                         Middleware(BlockInternalEndpoints), Middleware(SafeFiles),
                         Middleware(BrowserCookie)],
             routes=[Route(BASE + web_sessions.ROUTE, start_session),
                     Route(BASE + "/healthz", healthz),
                     Route(BASE + app_control.ROUTE, command_line, methods=["POST"]),
                     Route(BASE + "/tracker/api/results", results, methods=["POST"])])
