"""Querying and editing a running farm from Python (what the ``puli-mesh`` CLI is built on).

Example::

    from puliclient.farm import Farm
    farm = Farm()                      # PULI_NODE, PULI_ZK, then PULIHOST/PULIPORT
    location, _ = graph.submit()
    graph_id = Farm.graph_id(location)
    final = farm.wait(graph_id)        # blocks until DONE, ERROR or CANCELED
    print(final["status_name"])

Errors: ``FarmError`` (the mesh refused: unknown id, illegal edit; ``.code``
says which) and ``FarmUnreachableError``.
"""

from __future__ import annotations

import time
from typing import Any

from puliclient.errors import Error
from puliclient.status import NodeStatus

FINISHED = frozenset({int(NodeStatus.DONE), int(NodeStatus.ERROR), int(NodeStatus.CANCELED)})


class FarmError(Error):
    """The mesh answered with an error."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class FarmUnreachableError(Error):
    """No agent of the mesh answered."""


class Farm:
    """A connection to a mesh: any agent (``node='host:port'``) or ZooKeeper (``zk='hosts'``)."""

    def __init__(self, node: str | None = None, zk: str | None = None, cluster: str | None = None,
                 timeout: float = 10.0) -> None:
        from puli_mesh.client import MeshClient

        self._client = MeshClient.from_environment(node=node, zk=zk, cluster=cluster, timeout=timeout)

    @staticmethod
    def graph_id(location: str) -> int:
        """The graph id in a ``submit()`` location (``puli://leader/nodes/12`` -> 12)."""
        return int(location.rstrip("/").rsplit("/", 1)[1])

    def request(self, kind: str, **fields: Any) -> Any:
        from puli_mesh.client import MeshRequestError, MeshUnreachableError

        try:
            return self._client.request(kind, **fields)
        except MeshUnreachableError as exc:
            raise FarmUnreachableError(str(exc)) from exc
        except MeshRequestError as exc:
            raise FarmError(exc.code, str(exc)) from exc

    def query(self, what: str, **args: Any) -> Any:
        return self.request("QUERY", what=what, args=args)

    def edit(self, action: str, **args: Any) -> Any:
        return self.request("EDIT", action=action, args=args)

    # ------------------------------------------------------------------ queries
    def status(self) -> dict[str, Any]:
        """Cluster, leader, epoch and every node."""
        return dict(self.query("status"))

    def graph(self, graph_id: int) -> dict[str, Any]:
        """One graph's whole tree (task groups, tasks, commands) with statuses."""
        return dict(self.query("graph", id=int(graph_id)))

    def graphs(self) -> list[dict[str, Any]]:
        return list(self.query("graphs"))

    def command(self, command_id: int) -> dict[str, Any]:
        return dict(self.query("command", id=int(command_id)))

    def licences(self) -> list[dict[str, Any]]:
        """Puli's ``LicenseManager.stats()``: ``[{'name', 'total', 'used', 'rns'}]``."""
        return list(self.query("licences"))

    def wait(self, graph_id: int, timeout: float | None = None, interval: float = 0.5) -> dict[str, Any]:
        """Poll until the graph is DONE, ERROR or CANCELED; return its tree. Raises TimeoutError."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            tree = self.graph(graph_id)
            if tree["status"] in FINISHED:
                return tree
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"graph {graph_id} still {tree.get('status_name')} after {timeout:.0f}s")
            time.sleep(interval)
