"""Sending a graph representation to the mesh: the single door ``Graph.submit`` and
``Graph.loadAndSubmit`` go through.

The mesh client protocol does not exist yet, so :func:`submit_representation`
only checks that something listens at ``host:port`` and then refuses: it
always raises ``GraphSubmissionError``, never pretends to have submitted. The
real ZeroMQ client replaces its body, keeping its signature.
"""

from __future__ import annotations

import logging
import os
import socket
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


def submit_representation(
    data: dict[str, Any], host: str, port: int, timeout: float = 10.0
) -> tuple[str, str]:
    """Submit ``data`` (a validated representation) to the mesh at ``host:port``.

    Returns ``(location, server message)``. For now it always raises
    ``GraphSubmissionError``: "no mesh reachable" when nothing listens, "mesh
    protocol not available" when something does.
    """
    log.info("submitting graph %r (%d nodes) to %s:%d", data.get("name"), len(data["tasks"]),
             host, port)
    try:
        connection = socket.create_connection((host, port), timeout=timeout)
    except OSError as exc:
        raise GraphSubmissionError(f"no mesh reachable at {host}:{port} ({exc})") from exc
    connection.close()
    raise GraphSubmissionError(
        f"something answers at {host}:{port}, but the mesh protocol not available in this "
        "client yet: graph not submitted"
    )
