"""The agent's web application: ``create_app(context)``, the login, errors as JSON, the body limit.

Routes:

* ``GET /login`` (a form), ``POST /login`` (the form, or JSON ``{"token": ...}``): checks a web
  token (``puli-mesh keys token``) and sets it as an HttpOnly, SameSite=Strict cookie;
  ``POST``/``GET /logout`` clears it;
* ``/api/...``: the JSON API (``web.api``); OpenAPI at ``/api/openapi.json``, docs at ``/api/docs``;
* ``GET /metrics``: the agent's Prometheus metrics (``puli_mesh.metrics``), open to any scraper
  like every Prometheus exporter (counts and gauges, no names of jobs or users);
* ``/`` and ``/monitor...``: the monitor (``web.monitor``), the wrangler's page.

Every route under ``/api/`` needs a caller (``web.callers``): a valid token in the
``Authorization: Bearer`` header or the cookie, on a secured mesh; nobody on an open one.

Adding routes (the monitor, Puli's endpoints, ``/metrics``): write an ``APIRouter`` in its own
module and add it to the routers :func:`create_app` includes.

Guarantees: a refusal or failure of the mesh is a JSON ``{"error", "code", "message"}`` with
the HTTP status of its code (:data:`HTTP_STATUS`); a request body above :data:`MAX_BODY_BYTES`
is refused (413) before it is read whole.

Not here: the routes of the API (``web.api``), the token format (``web.auth``), the server
thread (``web.server``).
"""

from __future__ import annotations

import html
import json
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from puli_mesh.errors import TokenError
from puli_mesh.limits import MAX_MESSAGE_BYTES
from puli_mesh.protocol import ErrorCode
from puli_mesh.web import api, monitor, puli_edits, puli_http
from puli_mesh.web.auth import TOKEN_LENGTH
from puli_mesh.web.callers import TOKEN_COOKIE, context_of
from puli_mesh.web.context import WebContext
from puliclient.errors import FarmError, FarmUnreachableError

log = logging.getLogger(__name__)

MAX_BODY_BYTES = MAX_MESSAGE_BYTES
"""The largest request body (a graph): what one message to the mesh may carry."""
UNREACHABLE = "unreachable"
"""The ``code`` of an error body when no agent answered (no ERROR code of the mesh says it)."""
UNAUTHORIZED = "unauthorized"
"""The ``code`` of an error body when the caller has no valid token."""

HTTP_STATUS: dict[str, int] = {
    ErrorCode.INVALID: 400, ErrorCode.NOT_FOUND: 404, ErrorCode.ILLEGAL: 409, ErrorCode.REFUSED: 409,
    ErrorCode.FORBIDDEN: 403, ErrorCode.BUSY: 429, ErrorCode.NO_LEADER: 503, ErrorCode.NOT_LEADER: 503,
    ErrorCode.PROTOCOL: 502, ErrorCode.INTERNAL: 500, UNREACHABLE: 503, UNAUTHORIZED: 401,
}
"""The HTTP status of each error code (another code: 500)."""
HTTP_ERROR_CODES: dict[int, str] = {401: UNAUTHORIZED, 404: ErrorCode.NOT_FOUND, 409: ErrorCode.ILLEGAL}
"""The ``code`` of an error body for an HTTP status this app gives itself (else ``invalid``, or
``internal`` from 500 on)."""


def error_response(status: int, error: str, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": error, "code": code, "message": message}, status_code=status)


class BodyLimit:
    """ASGI middleware: refuse (413) a request body above ``limit`` bytes, declared or streamed."""

    def __init__(self, app: Any, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: MutableMapping[str, Any], receive: Callable[[], Awaitable[Any]],
                       send: Callable[[Any], Awaitable[None]]) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length" and (not value.isdigit() or int(value) > self.limit):
                await self._refuse(scope, receive, send)
                return
        seen = 0

        async def counted() -> Any:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise HTTPException(413, f"request body above {self.limit} bytes")
            return message

        await self.app(scope, counted, send)

    async def _refuse(self, scope: MutableMapping[str, Any], receive: Callable[[], Awaitable[Any]],
                      send: Callable[[Any], Awaitable[None]]) -> None:
        response = error_response(413, HTTPStatus(413).phrase, ErrorCode.INVALID,
                                  f"request body above {self.limit} bytes")
        await response(scope, receive, send)


def install_error_handlers(app: FastAPI) -> None:
    """Every error as ``{"error", "code", "message"}`` with its HTTP status."""

    @app.exception_handler(FarmError)
    async def farm_error(_request: Request, exc: FarmError) -> JSONResponse:
        return error_response(HTTP_STATUS.get(exc.code, 500), type(exc).__name__, exc.code, str(exc))

    @app.exception_handler(FarmUnreachableError)
    async def unreachable(_request: Request, exc: FarmUnreachableError) -> JSONResponse:
        return error_response(503, type(exc).__name__, UNREACHABLE, str(exc))

    @app.exception_handler(StarletteHTTPException)  # FastAPI's HTTPException, and the router's 404, 405
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        status = exc.status_code
        code = HTTP_ERROR_CODES.get(status, ErrorCode.INVALID if status < 500 else ErrorCode.INTERNAL)
        response = error_response(status, HTTPStatus(status).phrase, code, str(exc.detail))
        if status == 401:
            response.headers["WWW-Authenticate"] = "Bearer"
        return response

    @app.exception_handler(Exception)
    async def failed(_request: Request, exc: Exception) -> JSONResponse:  # a bug: logged, answered, survived
        return error_response(500, type(exc).__name__, ErrorCode.INTERNAL, "internal error (the agent's log says more)")

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(map(str, e.get('loc', ())))}: {e.get('msg')}" for e in exc.errors()[:5])
        return error_response(422, "RequestValidationError", ErrorCode.INVALID, problems)


# --------------------------------------------------------------------- login
LOGIN_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Puli Mesh: log in</title>
<style>body{{font-family:sans-serif;max-width:40em;margin:4em auto}}input{{width:100%;font-family:monospace}}</style>
</head><body><h1>Puli Mesh</h1><p>{message}</p>
<form method="post" action="/login"><label>Token (<code>puli-mesh keys token</code>)<br>
<input name="token" autocomplete="off" autofocus></label><p><button>Log in</button></p></form></body></html>"""

async def read_login_token(request: Request) -> str:
    """The token of a login POST: a form (``token=...``) or JSON (``{"token": ...}``)."""
    body = await request.body()
    if len(body) > 4 * TOKEN_LENGTH:
        raise HTTPException(400, "login body too large")
    try:
        if request.headers.get("content-type", "").startswith("application/json"):
            value = json.loads(body).get("token")
        else:
            value = parse_qs(body.decode("ascii"), max_num_fields=4).get("token", [None])[0]
    except (ValueError, AttributeError) as exc:
        raise HTTPException(400, "a login posts a token (form field or JSON key `token`)") from exc
    if not isinstance(value, str) or not value.strip():
        raise HTTPException(400, "a login posts a token (form field or JSON key `token`)")
    return value.strip()


def add_login_routes(app: FastAPI) -> None:
    @app.get("/login", response_class=HTMLResponse, include_in_schema=False)
    def login_page() -> HTMLResponse:
        return HTMLResponse(LOGIN_PAGE.format(message="Paste a web token made with your key."))

    @app.post("/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        context = context_of(request)
        token = await read_login_token(request)
        now = time.time()
        try:
            identity = context.identify(token, now)
        except TokenError as exc:
            page = LOGIN_PAGE.format(message=f"Refused: {html.escape(str(exc))}")
            return HTMLResponse(page, status_code=401)
        wants_json = request.headers.get("content-type", "").startswith("application/json")
        response: Response = (JSONResponse(identity.to_data()) if wants_json
                              else RedirectResponse("/", status_code=303))
        max_age = None if identity.expires_at is None else max(0, int(identity.expires_at - now))
        response.set_cookie(TOKEN_COOKIE, token, max_age=max_age, httponly=True, samesite="strict",
                            secure=request.url.scheme == "https", path="/")
        log.info("web login: %s (role %s)", identity.name, identity.role)
        return response

    @app.api_route("/logout", methods=["GET", "POST"], include_in_schema=False)
    def logout() -> Response:
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(TOKEN_COOKIE, path="/", httponly=True, samesite="strict")
        return response


MetricsSource = Callable[[], tuple[bytes, str]]
"""What ``/metrics`` serves: the exposition body and its content type (``AgentMetrics.render``)."""


def add_metrics_route(app: FastAPI, metrics: MetricsSource) -> None:
    @app.get("/metrics", include_in_schema=False)
    def metrics_page() -> Response:
        body, content_type = metrics()
        return Response(body, media_type=content_type)


def create_app(context: WebContext, metrics: MetricsSource | None = None) -> FastAPI:
    """The agent's web application over ``context``; ``metrics`` serves ``/metrics``."""
    app = FastAPI(title="Puli Mesh", summary="The HTTP API of a Puli Mesh render farm (any agent answers).",
                  docs_url="/api/docs", openapi_url="/api/openapi.json", redoc_url=None,
                  swagger_ui_oauth2_redirect_url=None)
    app.state.context = context
    app.add_middleware(BodyLimit)
    install_error_handlers(app)
    add_login_routes(app)
    if metrics is not None:
        add_metrics_route(app, metrics)
    # The routers of the application, in order: add yours here.
    for router in (api.router, monitor.router, puli_http.router, puli_edits.router):
        app.include_router(router)
    return app
