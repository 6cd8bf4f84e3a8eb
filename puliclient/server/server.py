"""Puli's ``Server`` and ``request``: which mesh a query handler talks to, and its errors.

``Server(host, port)`` names an agent's client port (``puli-mesh agent --port``): the
handlers built on it ask that agent over the mesh protocol, which forwards to the leader.
``Server()`` with no address uses the environment, as :class:`puliclient.farm.Farm` does
(``PULI_NODE``, ``PULI_ZK``, then ``PULIHOST``/``PULIPORT``; ``PULI_KEY`` for the client's key).

Over HTTP, as Puli's client talked to its dispatcher: ``Server(host, port, http=True)`` (an
agent's ``--http-port``), ``Server("http://agent:8080")``, or ``Server()`` with ``PULI_URL``
set. The handlers then post Puli's JSON bodies to ``/query/job`` and ``/query/rendernode``,
the models edit through the agent's ``/api/``, and ``get/post/put/delete``/``request`` send
Puli's HTTP requests (``Server.get("/query?attr=id")``). The web token: ``token=``, else
``PULI_TOKEN``, else one made from ``PULI_KEY`` (:mod:`puliclient.server.http`).

Errors: what the mesh refuses or does not answer leaves the handlers and the models as a
:class:`RequestError` (Puli's class; ``.code`` keeps the mesh's word: ``not_found``,
``illegal``...) or, when nothing answered, a :class:`RequestTimeoutError`; a malformed
argument list is an :class:`InvalidParamError`; what the mesh cannot do at all (restart a
worker process, read a worker's own log) a :class:`MeshUnsupportedError`.
All derive from :class:`puliclient.errors.Error`.

Guarantees: every error of the farm is translated in one place (:meth:`Server.translated`).
Not here: the queries themselves (``queueHandler``, ``renderNodeHandler``), the HTTP
transport (``puliclient.server.http``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from puliclient.errors import Error, FarmError, FarmUnreachableError
from puliclient.server.http import HttpEndpoint, endpoint_for, endpoint_from_environment, is_http_url

if TYPE_CHECKING:
    from puliclient.farm import Farm


class RequestError(Error):
    """The mesh refused a request, or it could not be sent; ``code`` is the mesh's word for
    why (``not_found``, ``illegal``, ``invalid``, ``forbidden``...; ``unreachable`` when
    nothing answered; ``unsupported`` for what the mesh cannot do)."""

    def __init__(self, message: str, code: str = "error") -> None:
        super().__init__(message)
        self.code = code


class RequestTimeoutError(RequestError):
    """Nothing answered in time (no agent at the address, or no leader)."""


class InvalidParamError(Error, ValueError):
    """A query's argument is malformed: an empty list, a status that is not a node status..."""


class MeshUnsupportedError(RequestError, NotImplementedError):
    """Something Puli offered (or left unimplemented) that the mesh cannot do; the message
    says what to use instead. Also a ``NotImplementedError``, which Puli raised for most of them."""

    def __init__(self, message: str) -> None:
        super().__init__(message, "unsupported")


COMMANDS_PAGE = 1000
"""Commands asked for per page by ``HttpFarm.commands``."""


class HttpFarm:
    """The part of :class:`puliclient.farm.Farm` the query models use (a job's tree, a task's
    commands, their edits), over an agent's ``/api/``: the models work the same whichever way
    their :class:`Server` talks."""

    JOB_EDITS = ("pause", "resume", "cancel", "restart", "set")

    def __init__(self, endpoint: HttpEndpoint) -> None:
        self.endpoint = endpoint

    def graph(self, graph_id: int, children: bool = True) -> dict[str, Any]:
        return dict(self.endpoint.json("GET", f"/api/jobs/{int(graph_id)}", params={"children": children}))

    def commands(self, *, graph: int | None = None, status: list[str] | None = None,
                 node: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        params: dict[str, Any] = {k: v for k, v in (("job", graph), ("status", status), ("node", node)) if v}
        rows: list[dict[str, Any]] = []
        cursor = None
        while limit is None or len(rows) < limit:
            page = self.endpoint.json("GET", "/api/commands", params={**params, "limit": COMMANDS_PAGE,
                                                                      **({"cursor": cursor} if cursor else {})})
            rows += page["items"]
            cursor = page.get("cursor")
            if not cursor or not page["items"]:
                break
        return rows if limit is None else rows[:limit]

    def edit(self, action: str, **args: Any) -> Any:
        """A job edit as ``Farm.edit`` takes it (``id`` and the action's arguments): ``tags`` to
        ``/api/jobs/<id>/tags``, the others to ``/api/jobs/<id>/<action>``."""
        node_id = int(args.pop("id"))
        if action == "tags":
            return self.endpoint.json("POST", f"/api/jobs/{node_id}/tags", dict(args["tags"]))
        if action not in self.JOB_EDITS:
            raise MeshUnsupportedError(f"edit {action!r} over HTTP: use the mesh protocol (PULI_NODE) or Farm")
        body = args.get("values", args) if action == "set" else args
        return self.endpoint.json("POST", f"/api/jobs/{node_id}/{action}", body or None)

    def pause_node(self, name: str, kill: bool = False) -> None:
        self.endpoint.json("POST", f"/api/nodes/{quote(name, safe='')}/pause", {"kill": kill})

    def resume_node(self, name: str) -> None:
        self.endpoint.json("POST", f"/api/nodes/{quote(name, safe='')}/resume")

    def set_node_performance(self, name: str, value: float | None) -> None:
        """Puli's ``PUT /rendernodes/performance`` (None: the node's agent's own)."""
        self.endpoint.json("PUT", "/rendernodes/performance", {name: value})


def _no_http(url: str) -> MeshUnsupportedError:
    return MeshUnsupportedError(f"the mesh protocol has no HTTP API ({url!r}): give an agent's HTTP address "
                                f"(Server(host, http_port, http=True) or PULI_URL)")


def request(host: str, port: int, url: str, method: str = "get", *args: Any, **kwargs: Any) -> Any:
    """Puli's HTTP helper: ``method`` ``url`` at the agent's HTTP API ``host:port``; the JSON
    (or text) it answers; ``RequestError`` for a refusal, ``RequestTimeoutError`` for silence."""
    return Server(host, port, http=True).request(url, method, *args, **kwargs)


class Server:
    """The mesh a handler asks: the agent at ``host:port``, or the environment's mesh when
    no address is given. ``farm``: an existing :class:`~puliclient.farm.Farm` to use (tests)."""

    def __init__(self, host: str | None = None, port: int | None = None, *, farm: Farm | None = None,
                 timeout: float = 10.0, http: bool = False, token: str | None = None) -> None:
        self.host = host
        self.port = port
        self._farm: Farm | HttpFarm | None = farm
        self._timeout = timeout
        self._token = token
        self.endpoint: HttpEndpoint | None = None
        """The agent's HTTP API when this server talks HTTP (None: the mesh protocol)."""
        if is_http_url(host):
            self.endpoint = endpoint_for(str(host).rstrip("/") + (f":{port}" if port else ""), token, timeout)
        elif http:
            self.endpoint = endpoint_for(f"http://{host or 'localhost'}:{port or 8080}", token, timeout)
        elif host is None and farm is None:
            self.endpoint = endpoint_from_environment(timeout)

    @property
    def farm(self) -> Farm | HttpFarm:
        """The connection, made on first use (making it resolves the address); over HTTP, the
        part of ``Farm`` the models use."""
        if self._farm is None and self.endpoint is not None:
            self._farm = HttpFarm(self.endpoint)
        if self._farm is None:
            from puliclient.farm import Farm

            # A host without a port: the mesh client adds the agents' default port.
            node = None if self.host is None else self.host if self.port is None else f"{self.host}:{self.port}"
            from puli_mesh.errors import PuliMeshError

            try:
                with self.translated():
                    self._farm = Farm(node=node, timeout=self._timeout)
            except PuliMeshError as exc:  # no address, no key file...: before any request
                raise RequestError(f"cannot talk to the mesh: {exc}", "config") from exc
        return self._farm

    def getBaseUrl(self) -> str:
        if self.endpoint is not None:
            return self.endpoint.url
        return f"{self.host}:{self.port}" if self.host is not None else "(the environment's mesh)"

    def setHostConnection(self, host: str, port: int) -> None:
        """Ask the agent at ``host:port`` from now on (over HTTP if this server did)."""
        http = self.endpoint is not None
        self.host, self.port, self._farm = host, port, None
        self.endpoint = endpoint_for(f"http://{host}:{port}", self._token, self._timeout) if http else None

    @staticmethod
    @contextmanager
    def translated() -> Iterator[None]:
        """The farm's errors as Puli's request errors: the one place they are translated."""
        try:
            yield
        except FarmUnreachableError as exc:
            raise RequestTimeoutError(str(exc), "unreachable") from exc
        except FarmError as exc:
            raise RequestError(str(exc), exc.code) from exc

    def request(self, url: str, method: str, *args: Any, **kwargs: Any) -> Any:
        """Puli's ``Server.request``: ``method`` ``url`` (a path, with its query) at the agent's
        HTTP API; a JSON body from ``data``/``json`` (a dict, or text holding JSON)."""
        if self.endpoint is None:
            raise _no_http(url)
        body = kwargs.get("json", kwargs.get("data", args[0] if args else None))
        if isinstance(body, str | bytes):
            body = json.loads(body)
        with self.translated():
            return self.endpoint.json(method, url if url.startswith("/") else f"/{url}", body)

    def get(self, url: str, *args: Any, **kwargs: Any) -> Any:
        return self.request(url, "get", *args, **kwargs)

    def post(self, url: str, *args: Any, **kwargs: Any) -> Any:
        return self.request(url, "post", *args, **kwargs)

    def put(self, url: str, *args: Any, **kwargs: Any) -> Any:
        return self.request(url, "put", *args, **kwargs)

    def delete(self, url: str, *args: Any, **kwargs: Any) -> Any:
        return self.request(url, "delete", *args, **kwargs)
