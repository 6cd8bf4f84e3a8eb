"""Puli's client over an agent's HTTP API, as Puli's own client talked to its dispatcher.

:class:`HttpEndpoint` is an agent's web address (``http://host:port``, ``puli-mesh agent
--http-port``) and the caller's web token; :meth:`HttpEndpoint.call` sends one request.
Where it comes from (:func:`endpoint_from_environment`): ``PULI_URL`` (``http://agent:8080``),
and the token from ``PULI_TOKEN`` (``puli-mesh keys token``) or, when that is not set, one
made now from the user's key (``PULI_KEY``, ``puli_mesh.web.auth.token_for``); an open
(``--insecure``) mesh needs none. The token travels in the ``Authorization: Bearer`` header,
never in a URL.

Guarantees: an HTTP error becomes the :class:`~puliclient.errors.FarmError` of the mesh's
``code`` (the body ``{"error", "code", "message"}``); nothing answering becomes
:class:`~puliclient.errors.FarmUnreachableError` (both then translated once by
``Server.translated``). Standard library only (``urllib``): a Puli-era script needs nothing more.

Not here: ``HttpFarm`` (``puliclient.server.server``), the routes (``puli_mesh.web.api``,
``puli_mesh.web.puli_http``), the queries (``queueHandler``, ``renderNodeHandler``).
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from puliclient.errors import FarmError, FarmUnreachableError

URL_VARIABLE = "PULI_URL"
TOKEN_VARIABLE = "PULI_TOKEN"


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    """What an agent answered: status, headers (lower-case names) and the body (JSON decoded
    when it is JSON, else text)."""

    status: int
    headers: Mapping[str, str]
    body: Any


def is_http_url(address: str | None) -> bool:
    return bool(address) and str(address).startswith(("http://", "https://"))


@dataclass(frozen=True, slots=True)
class HttpEndpoint:
    """An agent's HTTP API and the token to send (None: an open mesh)."""

    url: str
    token: str | None = None
    timeout: float = 10.0

    def call(self, method: str, path: str, body: Any = None, params: Mapping[str, Any] | None = None) -> HttpAnswer:
        """``method path`` with ``body`` as JSON; the answer, or a ``FarmError`` for 4xx/5xx."""
        url = self.url.rstrip("/") + path + (f"?{urlencode(params, doseq=True)}" if params else "")
        data = None if body is None else json.dumps(body).encode()
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        req = urllib.request.Request(url, data=data, headers=headers, method=method.upper())
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as reply:  # noqa: S310 (an http(s) URL)
                return HttpAnswer(reply.status, {k.lower(): v for k, v in reply.headers.items()},
                                  decoded(reply.read(), reply.headers.get("content-type", "")))
        except urllib.error.HTTPError as exc:
            answer = decoded(exc.read(), exc.headers.get("content-type", "") if exc.headers else "")
            code = answer.get("code", "error") if isinstance(answer, dict) else "error"
            message = answer.get("message", "") if isinstance(answer, dict) else str(answer)
            raise FarmError.from_code(str(code), f"{method.upper()} {path}: {exc.code} {message}") from exc
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            raise FarmUnreachableError(f"no answer from {self.url}: {exc}") from exc

    def json(self, method: str, path: str, body: Any = None, params: Mapping[str, Any] | None = None) -> Any:
        return self.call(method, path, body, params).body


def decoded(raw: bytes, content_type: str) -> Any:
    text = raw.decode("utf-8", errors="replace")
    if content_type.startswith("application/json"):
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text


def token_from_key(now: float) -> str | None:
    """A web token made from the user's key file (``PULI_KEY``); None without a key file."""
    from puli_mesh.client import client_key_from_environment
    from puli_mesh.web.auth import token_for

    key = client_key_from_environment()
    return None if key is None else token_for(key, now)[0]


def endpoint_for(url: str, token: str | None = None, timeout: float = 10.0) -> HttpEndpoint:
    """The endpoint at ``url``: with ``token``, else ``PULI_TOKEN``, else one made from ``PULI_KEY``."""
    token = token or os.environ.get(TOKEN_VARIABLE) or token_from_key(time.time())
    return HttpEndpoint(url, token, timeout)


def endpoint_from_environment(timeout: float = 10.0) -> HttpEndpoint | None:
    """``PULI_URL``'s endpoint, or None when it is not set (the mesh protocol then)."""
    url = os.environ.get(URL_VARIABLE)
    return endpoint_for(url, timeout=timeout) if url else None
