"""The agent's HTTP server: uvicorn serving the web app, on a thread of its own.

Started after the agent's own sockets (``node.agent``), stopped with the agent. uvicorn runs
its own event loop on this thread; the routes run in its thread pool and reach the mesh
through the agent's ROUTER like any client (``web.context``), so nothing here ever blocks the
agent's loops and the agent's loop never waits for HTTP.

Guarantees: with ``http_port`` 0 nothing is started and FastAPI is never imported (it is
imported on :meth:`WebServer.start`, so an agent without HTTP starts as fast as before); a
port that cannot be bound is logged and the agent goes on without HTTP (a render node that
cannot serve a page still renders); :meth:`WebServer.stop` asks uvicorn to finish and waits a
bounded time for it.

Not here: the routes (``web.app``, ``web.api``), who a caller is (``web.callers``).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from puli_mesh.config import Settings
from puli_mesh.node.security import AgentSecurity

if TYPE_CHECKING:
    import uvicorn

log = logging.getLogger(__name__)

STOP_WAIT_S = 5.0
"""How long :meth:`WebServer.stop` waits for open connections to finish."""
MAX_CONNECTIONS = 200
"""Open HTTP connections at once; more are answered 503 (a flood must not take the agent's threads)."""


class WebServer:
    """uvicorn on a daemon thread, serving ``create_app`` for this agent (nothing when its
    ``http_port`` is 0)."""

    def __init__(self, settings: Settings, security: AgentSecurity,
                 metrics: Callable[[], tuple[bytes, str]] | None = None) -> None:
        self.settings = settings
        self.security = security
        self.metrics = metrics
        self.host = settings.http_host or settings.host
        self.port = settings.http_port
        self.server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    def start(self) -> None:
        if not self.port:
            return
        import uvicorn

        from puli_mesh.web.app import create_app
        from puli_mesh.web.context import AgentWebContext

        app = create_app(AgentWebContext(self.settings, self.security), self.metrics)
        config = uvicorn.Config(app, host=self.host, port=self.port, log_config=None, access_log=False,
                                limit_concurrency=MAX_CONNECTIONS, timeout_graceful_shutdown=STOP_WAIT_S,
                                lifespan="off")
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._serve, args=(self.server,), name="http", daemon=True)
        self._thread.start()
        log.info("serving HTTP on %s (API docs: %sapi/docs)", self.url, self.url)

    def _serve(self, server: uvicorn.Server) -> None:
        try:
            asyncio.run(server.serve())
        except (OSError, SystemExit) as exc:  # uvicorn exits the thread when it cannot bind
            log.error("HTTP server on %s:%d stopped: %s; the agent goes on without HTTP", self.host, self.port, exc)
        except Exception:
            log.exception("HTTP server on %s:%d failed; the agent goes on without HTTP", self.host, self.port)

    def stop(self) -> None:
        if self.server is not None:
            self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(STOP_WAIT_S + 1.0)
            self._thread = None
