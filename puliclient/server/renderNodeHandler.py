# ruff: noqa: N999 - Puli's module name, kept for its scripts
"""Puli's ``RenderNodeHandler``: find render nodes by host, id, name, pool, status and version.

Every query returns ``(list[RenderNode], summary)`` with Puli's filter semantics: AND across
the given keys, OR within a key's list; ``host`` and ``name`` are regular expressions tried
with ``re.match``; ``id`` (a mesh node's id is its name), ``pool`` and ``version`` are
exact; ``status`` takes Puli's render node statuses (``RN_IDLE``... as numbers, or names);
``None`` leaves a key out; an empty list raises ``InvalidParamError``.

Over HTTP (a :class:`~puliclient.server.server.Server` with an HTTP address) the checked
arguments are posted to the agent's ``/query/rendernode``, as Puli's client did.

How (over the mesh protocol): two answers of the leader, the status of every node (``Farm.status``) and the core's
view of the nodes it knows (``Farm.listing("nodes")``), filtered here (a farm has at most a
few thousand nodes).

Not here: jobs (``queueHandler``), the model (``puliclient.model.renderNode``).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from puliclient.model.renderNode import RenderNodeModel
from puliclient.server.filters import any_match, patterns, required, statuses, summary, values
from puliclient.server.server import Server
from puliclient.status import RenderNodeStatus


class RenderNodeHandler:
    """The render nodes of the mesh ``server`` names (None: the environment's mesh)."""

    def __init__(self, server: Server | None = None) -> None:
        self.server = server if server is not None else Server()

    def getRenderNodes(self, hostList: Iterable[str] | None = None, idList: Iterable[Any] | None = None,
                       nameList: Iterable[str] | None = None, poolList: Iterable[str] | None = None,
                       statusList: Iterable[int] | None = None,
                       versionList: Iterable[str] | None = None) -> tuple[list[RenderNodeModel], dict[str, Any]]:
        """Render nodes passing every given filter, by name; ``(nodes, summary)``."""
        started = time.monotonic()
        hosts, names = patterns("hostList", hostList), patterns("nameList", nameList)
        ids = values("idList", idList)
        pools = values("poolList", poolList)
        wanted_statuses = statuses("statusList", statusList, RenderNodeStatus)
        versions = values("versionList", versionList)
        if self.server.endpoint is not None:
            body = {"host": None if hosts is None else [h.pattern for h in hosts], "id": ids,
                    "name": None if names is None else [n.pattern for n in names], "pool": pools,
                    "status": wanted_statuses, "version": versions}
            with self.server.translated():
                answer = self.server.endpoint.json("POST", "/query/rendernode",
                                                   {k: list(v) for k, v in body.items() if v is not None})
            return [RenderNodeModel.from_json(item, self.server) for item in answer["items"]], answer["summary"]
        with self.server.translated():
            rows = self.server.farm.status()["nodes"]
            cores = {n["name"]: n for n in self.server.farm.listing("nodes")}
        every = [RenderNodeModel.from_views(row, cores.get(row["name"]), self.server)
                 for row in sorted(rows, key=lambda r: str(r["name"]))]
        found = [n for n in every
                 if any_match(hosts, n.host) and any_match(names, n.name)
                 and (ids is None or n.id in {str(i) for i in ids})
                 and (pools is None or any(p in n.pools for p in pools))
                 and (wanted_statuses is None or n.status in wanted_statuses)
                 and (versions is None or n.puliversion in versions)]
        return found, summary(len(found), len(every), started)

    def getAllRenderNodes(self) -> tuple[list[RenderNodeModel], dict[str, Any]]:
        return self.getRenderNodes()

    def getRenderNodesByHost(self, hostList: Iterable[str]) -> tuple[list[RenderNodeModel], dict[str, Any]]:
        return self.getRenderNodes(hostList=required("hostList", hostList))

    def getRenderNodesById(self, idList: Iterable[Any]) -> tuple[list[RenderNodeModel], dict[str, Any]]:
        return self.getRenderNodes(idList=required("idList", idList))

    def getRenderNodesByName(self, nameList: Iterable[str]) -> tuple[list[RenderNodeModel], dict[str, Any]]:
        return self.getRenderNodes(nameList=required("nameList", nameList))

    def getRenderNodesByPool(self, poolList: Iterable[str]) -> tuple[list[RenderNodeModel], dict[str, Any]]:
        return self.getRenderNodes(poolList=required("poolList", poolList))

    def getRenderNodesByStatus(self, statusList: Iterable[int]) -> tuple[list[RenderNodeModel], dict[str, Any]]:
        return self.getRenderNodes(statusList=required("statusList", statusList))

    def getRenderNodesByVersion(self, versionList: Iterable[str]) -> tuple[list[RenderNodeModel], dict[str, Any]]:
        return self.getRenderNodes(versionList=required("versionList", versionList))
