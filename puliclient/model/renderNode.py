# ruff: noqa: N999 - Puli's module name, kept for its scripts
"""Puli's ``RenderNode`` query model: one agent of the mesh, as the leader reports it.

Built from two answers: the status row of the node (address, version, resources, state) and,
for a node the scheduling core knows, its core view (Puli's render node status number,
characteristics, performance, quarantine). A mesh node has a name and no number: ``id`` is
its name. ``host``/``port`` are its client endpoint's.

Actions, which posted to the worker's HTTP port in Puli, go through the leader:
``pause()`` (Puli's "-1": kill what runs and pause; the mesh re-queues those commands
without spending an attempt), ``resume()`` and ``setPerformanceIndex(value)`` (the
operator's performance, kept by the leader; ``None`` goes back to the agent's own).
Restarting a worker process (``restart``, ``killAndRestart``) and reading a worker's own log
(``getLog``, ``tailLog``: the mesh serves commands' logs, ``Farm.tail_log``) raise
``MeshUnsupportedError``.

Not here: finding nodes (``puliclient.server.renderNodeHandler``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from puliclient.model.labels import StatusModel, fields_of
from puliclient.status import RenderNodeStatus

if TYPE_CHECKING:
    from puliclient.server.server import Server


def endpoint_address(endpoint: str) -> tuple[str, int]:
    """``tcp://host:port`` -> ``("host", port)``; ``("", 0)`` when there is none."""
    host, _, port = endpoint.removeprefix("tcp://").rpartition(":")
    return (host, int(port)) if host and port.isdigit() else ("", 0)


@dataclass(slots=True, eq=False)
class RenderNodeModel(StatusModel):
    """One render node; its fields are Puli's ``puliclient.model.renderNode.RenderNode``'s."""

    STATUS_KIND = RenderNodeStatus
    NOT_ENCODED = frozenset({"server"})

    id: str = ""
    name: str = ""
    coresNumber: int = 0
    ramSize: int = 0
    speed: float = 0.0
    systemFreeRam: int = 0
    systemSwapPercentage: float = 0.0
    puliversion: str = ""
    commands: dict[int, dict[str, Any]] = field(default_factory=dict)
    """The commands it runs or has queued, by id: ``{"id", "queued"}``."""
    status: int = int(RenderNodeStatus.UNKNOWN)
    host: str = ""
    port: int = 0
    caracteristics: dict[str, Any] = field(default_factory=dict)
    performance: float = 0.0
    excluded: bool = False
    """Quarantined by the mesh (too many failures in a row)."""
    createDate: float = 0.0
    registerDate: float = 0.0
    lastAliveTime: float = 0.0
    pools: list[str] = field(default_factory=list)
    state: str = ""
    """``puli-mesh status``'s word for it (idle, busy, paused, draining...); not a Puli field."""
    server: Server | None = field(default=None, repr=False)

    @classmethod
    def from_views(cls, row: dict[str, Any], core: dict[str, Any] | None,
                   server: Server | None = None) -> RenderNodeModel:
        """From its status row and, when the core knows it, its core view."""
        core = core or {}
        host, port = endpoint_address(str(row.get("endpoint") or ""))
        commands = {int(c): {"id": int(c), "queued": False} for c in row.get("running_commands") or []}
        commands.update({int(c): {"id": int(c), "queued": True} for c in row.get("queued_commands") or []})
        characteristics = dict(core.get("characteristics") or {})
        return cls(id=str(row["name"]), name=str(row["name"]), coresNumber=int(row.get("cores") or 0),
                   ramSize=int(row.get("ram_mb") or 0), speed=float(characteristics.get("speed") or 0.0),
                   systemFreeRam=int(row.get("free_ram_mb") or 0), puliversion=str(row.get("version") or ""),
                   commands=commands, status=int(core.get("status", RenderNodeStatus.UNKNOWN)), host=host,
                   port=port, caracteristics=characteristics, performance=float(core.get("performance") or 0.0),
                   excluded=bool(core.get("quarantined")), pools=list(row.get("pools") or []),
                   state=str(row.get("state") or ""), server=server)

    @classmethod
    def from_json(cls, data: dict[str, Any], server: Server | None = None) -> RenderNodeModel:
        """From Puli's JSON of a render node (its ``encode()``: ``/query/rendernode``'s items)."""
        node = cls(**fields_of(cls, data), server=server)
        node.commands = {int(k): v for k, v in (data.get("commands") or {}).items()}  # JSON keys are text
        return node

    def _server(self) -> Server:
        from puliclient.server.server import RequestError

        if self.server is None:
            raise RequestError(f"render node {self.name} was not read from a mesh: nothing to edit", "invalid")
        return self.server

    def pause(self) -> bool:
        """Kill what it runs (re-queued, no attempt spent) and give it nothing new (Puli's "-1")."""
        server = self._server()
        with server.translated():
            server.farm.pause_node(self.name, kill=True)
        return True

    def resume(self) -> bool:
        """Give it work again (Puli's "0")."""
        server = self._server()
        with server.translated():
            server.farm.resume_node(self.name)
        return True

    @staticmethod
    def _unsupported(what: str, instead: str) -> bool:
        from puliclient.server.server import MeshUnsupportedError

        raise MeshUnsupportedError(f"the mesh cannot {what}; {instead}")

    def restart(self) -> bool:
        return self._unsupported("restart an agent process", "restart it with its service manager")

    def killAndRestart(self) -> bool:
        return self._unsupported("restart an agent process",
                                 "pause() kills what it runs; restart it with its service manager")

    def getLog(self) -> str:
        self._unsupported("serve an agent's own log", "read the agent's log file, or a command's with Farm.tail_log")
        return ""

    def tailLog(self, length: int = 100) -> str:
        self._unsupported("serve an agent's own log", "read the agent's log file, or a command's with Farm.tail_log")
        return ""

    def setPerformanceIndex(self, performance: float | None = None) -> bool:
        """Set the node's performance (the order in which waiting nodes get work, faster first);
        ``None`` goes back to the agent's own. An operator's edit: ``RequestError`` for others."""
        server = self._server()
        with server.translated():
            server.farm.set_node_performance(self.name, performance)
        if performance is not None:
            self.performance = float(performance)
        return True

    def __repr__(self) -> str:
        return f"RenderNode({self.name})"

    def __str__(self) -> str:
        return self.name


RenderNode = RenderNodeModel
"""Puli's name (``from puliclient.model.renderNode import RenderNode``); the class is named
apart from the core's ``RenderNode``."""
