"""Sending a graph representation to the mesh: the single door ``Graph.submit`` and
``Graph.loadAndSubmit`` go through.

Where the mesh is, in order: the ``host``/``port`` given; ``PULI_NODE``
(``host:port`` of any agent); ``PULI_ZK`` (ZooKeeper hosts, with
``PULI_CLUSTER``: the leader is read there); Puli's ``PULIHOST``/``PULIPORT``;
else ``puliserver:8004``. The transport lives in :mod:`puli_mesh.client`; this
module only turns its outcome into Puli's return value and errors.

Over HTTP, as Puli's client submitted: when ``host`` is an agent's web address
(``http://agent:8080``), or none is given and ``PULI_URL`` is set, the graph is posted to the
agent's ``/graphs/`` (with ``PULI_TOKEN``, or a token made from ``PULI_KEY``) and the
location is Puli's ``http://host:port/nodes/<id>`` (:mod:`puliclient.server.http`).
"""

from __future__ import annotations

import logging
import os
from typing import Any

from puliclient.errors import GraphSubmissionError

log = logging.getLogger(__name__)

DEFAULT_HOST = "puliserver"
DEFAULT_PORT = 8004


def resolve_address(host: str | None, port: int | str | None) -> tuple[str, int]:
    """``host``/``port``, else env ``PULIHOST``/``PULIPORT``, else puliserver:8004."""
    host = host or os.environ.get("PULIHOST") or DEFAULT_HOST
    raw_port = port if port is not None else os.environ.get("PULIPORT") or DEFAULT_PORT
    try:
        resolved_port = int(raw_port)
    except (TypeError, ValueError) as exc:
        raise GraphSubmissionError(f"port {raw_port!r} is not a number (check PULIPORT)") from exc
    return host, resolved_port


def mesh_client(host: str | None = None, port: int | str | None = None, timeout: float = 10.0) -> Any:
    """A :class:`puli_mesh.client.MeshClient` for the mesh this process should talk to: the
    given ``host``/``port``, else the environment as every client reads it
    (``MeshClient.from_environment``)."""
    from puli_mesh.client import MeshClient

    if host is None and port is None:
        return MeshClient.from_environment(timeout=timeout)
    resolved_host, resolved_port = resolve_address(host, port)
    return MeshClient(node=f"{resolved_host}:{resolved_port}", timeout=timeout)


def submit_representation(
    data: dict[str, Any], host: str | None = None, port: int | str | None = None, timeout: float = 10.0
) -> tuple[str, str]:
    """Submit ``data`` (a validated representation); return ``(location, server message)``.

    ``location`` is ``puli://<leader>/nodes/<graph id>``; the message is Puli's
    ``"Graph created. Created nodes: 12,13,14"``. The reply comes only once the
    coordinator has registered the graph. Raises ``GraphSubmissionError``.
    """
    from puli_mesh.client import MeshRequestError, MeshUnreachableError

    endpoint = http_endpoint(host, port, timeout)
    if endpoint is not None:
        return submit_over_http(data, endpoint)
    client = mesh_client(host, port, timeout)
    log.info("submitting graph %r (%d nodes) to %s", data.get("name"), len(data["tasks"]), client.describe())
    try:
        reply = client.request("SUBMIT", graph=data)
    except MeshUnreachableError as exc:
        raise GraphSubmissionError(str(exc)) from exc
    except MeshRequestError as exc:
        raise GraphSubmissionError(f"the mesh refused graph {data.get('name')!r}: {exc}") from exc
    return str(reply["url"]), str(reply["message"])


def http_endpoint(host: str | None, port: int | str | None, timeout: float) -> Any:
    """The agent's HTTP API to submit to (a :class:`puliclient.server.http.HttpEndpoint`), or
    None for the mesh protocol."""
    from puliclient.server.http import endpoint_for, endpoint_from_environment, is_http_url

    if is_http_url(host):
        return endpoint_for(str(host).rstrip("/") + (f":{port}" if port else ""), timeout=timeout)
    if host is None and port is None:
        return endpoint_from_environment(timeout)
    return None


def submit_over_http(data: dict[str, Any], endpoint: Any) -> tuple[str, str]:
    """``POST /graphs/`` as Puli's client did: ``(Location, the server's message)``."""
    from puliclient.errors import FarmError, FarmUnreachableError

    log.info("submitting graph %r (%d nodes) to %s", data.get("name"), len(data["tasks"]), endpoint.url)
    try:
        answer = endpoint.call("POST", "/graphs/", data)
    except FarmUnreachableError as exc:
        raise GraphSubmissionError(str(exc)) from exc
    except FarmError as exc:
        raise GraphSubmissionError(f"the mesh refused graph {data.get('name')!r}: {exc}") from exc
    return str(answer.headers.get("location", "")), str(answer.body)
