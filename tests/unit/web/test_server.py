"""The agent's HTTP server thread (``puli_mesh.web.server``) on loopback: serves, stops, and a
port it cannot bind leaves the agent running without HTTP."""

from __future__ import annotations

import socket
import time

import httpx

from puli_mesh.config import Settings
from puli_mesh.node.security import AgentSecurity
from puli_mesh.web.server import WebServer
from puli_mesh.zkserver import free_port


def serving(url: str, deadline_s: float = 10.0) -> bool:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        try:
            return httpx.get(url + "api/openapi.json", timeout=1.0).status_code == 200
        except httpx.HTTPError:
            time.sleep(0.05)
    return False


def test_the_server_serves_on_its_thread_and_stops() -> None:
    server = WebServer(Settings(insecure=True, http_port=free_port()), AgentSecurity(None, None))
    server.start()
    try:
        assert serving(server.url)
        assert httpx.get(server.url + "api/whoami", timeout=5).json()["name"] == "anonymous"  # an open mesh
    finally:
        started = time.monotonic()
        server.stop()
    assert time.monotonic() - started < 3
    assert not serving(server.url, deadline_s=0.5)


def test_a_port_in_use_is_logged_and_nothing_else_happens() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = WebServer(Settings(insecure=True, http_port=port), AgentSecurity(None, None))
        server.start()
        assert server._thread is not None
        server._thread.join(10)
        assert not server._thread.is_alive()  # the thread ended; no exception reached the caller
        server.stop()


def test_with_http_port_zero_nothing_is_started() -> None:
    server = WebServer(Settings(insecure=True, http_port=0), AgentSecurity(None, None))
    server.start()
    assert server.server is None and server._thread is None
    server.stop()
