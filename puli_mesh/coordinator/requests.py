"""Client requests the coordinator answers: SUBMIT, QUERY and EDIT.

Each request maps to one call on the scheduling core; errors become ERROR
replies with a stable ``code`` (``invalid``, ``not_found``, ``illegal``) and a
message that says what was wrong. A SUBMIT retried by a client after a lost
reply (same ``rid``) is answered from memory instead of creating the graph twice.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from puli_mesh import protocol
from puli_mesh.coordinator import operations
from puli_mesh.coordinator.core import SchedulingCore
from puli_mesh.coordinator.decisions import Decision
from puli_mesh.errors import (
    CoreError,
    IllegalTransitionError,
    InvalidGraphError,
    UnknownIdError,
    UnknownLicenceError,
    UnknownPoolError,
)

if TYPE_CHECKING:
    from puli_mesh.coordinator.service import CoordinatorService

log = logging.getLogger(__name__)

RECENT_SUBMITS = 1024


def _error_code(exc: CoreError) -> str:
    # A pool or licence name the mesh does not define is unknown, like an id: the request is
    # well formed (`puli-mesh` exits 1, not 2) and may succeed once it is defined.
    if isinstance(exc, (UnknownIdError, UnknownPoolError, UnknownLicenceError)):
        return "not_found"
    if isinstance(exc, IllegalTransitionError):
        return "illegal"
    if isinstance(exc, InvalidGraphError):
        return "invalid"
    return "refused"


class ClientRequests:
    def __init__(self, service: CoordinatorService) -> None:
        self.service = service
        self.recent_submits: OrderedDict[str, bytes] = OrderedDict()
        self.members_data: dict[str, dict[str, Any]] = {}

    def handle(self, msg: protocol.Message) -> bytes:
        rid = str(msg["rid"])
        if msg.kind == "SUBMIT" and rid in self.recent_submits:
            return self.recent_submits[rid]
        try:
            if msg.kind == "SUBMIT":
                reply = protocol.encode("RESULT", rid=rid, data=self._submit(msg["graph"]))
                self.recent_submits[rid] = reply
                while len(self.recent_submits) > RECENT_SUBMITS:
                    self.recent_submits.popitem(last=False)
                return reply
            if msg.kind == "QUERY":
                return protocol.encode("RESULT", rid=rid, data=self._query(str(msg["what"]), msg["args"]))
            if msg.kind == "EDIT":
                return protocol.encode("RESULT", rid=rid, data=self._edit(str(msg["action"]), msg["args"]))
        except CoreError as exc:
            return protocol.error_reply(rid, _error_code(exc), str(exc))
        except (KeyError, TypeError, ValueError) as exc:
            return protocol.error_reply(rid, "invalid", f"bad {msg.kind} arguments: {exc!r}")
        return protocol.error_reply(rid, "invalid", f"{msg.kind} is not a client request")

    # ------------------------------------------------------------------ submit
    def _submit(self, graph: dict[str, Any]) -> dict[str, Any]:
        service = self.service
        result = service.run_event(("submit", graph, time.time()))
        log.info("graph %d %r submitted by %s: %d nodes", result.graph_id, graph.get("name"),
                 graph.get("user"), len(result.node_ids))
        return {
            "graph_id": result.graph_id,
            "node_ids": list(result.node_ids),
            "url": f"puli://{service.leader_name}/nodes/{result.graph_id}",
            "message": "Graph created. Created nodes: " + ",".join(str(i) for i in result.node_ids),
        }

    # ------------------------------------------------------------------- query
    def _query(self, what: str, args: dict[str, Any]) -> Any:
        core = self.service.core
        handlers: dict[str, Callable[[], Any]] = {
            "status": self._status,
            "licences": lambda: core.licences.stats(),
            "graphs": lambda: core.graphs(),
            "graph": lambda: core.graph_tree(int(args["id"]), bool(args.get("children", True))),
            "command": lambda: core.command(int(args["id"])),
            "nodes": lambda: core.render_nodes(),
            "stats": lambda: self.service.stats.report(time.time(), core.figures()),
        }
        handlers.update(operations.queries(core, args))  # filtered listings, pools, figures
        handler = handlers.get(what)
        if handler is None:
            raise KeyError(f"unknown query {what!r}; known: {', '.join(sorted(handlers))}")
        return handler()

    def _status(self) -> dict[str, Any]:
        service = self.service
        core_nodes = {n["name"]: n for n in service.core.render_nodes()}
        names = sorted(set(self.members_data) | set(service.links) | set(core_nodes))
        nodes = []
        for name in names:
            member = self.members_data.get(name, {})
            core_node = core_nodes.get(name, {})
            link = service.links.get(name)
            if name not in self.members_data and name not in service.links:
                state = "gone"
            elif link is None:
                state = "connecting"
            elif not service.link_alive(name):
                state = "silent"
            elif core_node.get("draining"):
                state = "draining"
            elif core_node.get("paused"):
                state = "paused"
            elif core_node.get("quarantined"):
                state = "quarantined"
            elif member.get("accepting") is False:
                state = "draining"
            else:
                state = "busy" if core_node.get("running") else "idle"
            nodes.append({
                "name": name,
                "state": state,
                "leader": name == service.leader_name,
                "endpoint": member.get("endpoint", link.endpoint if link else ""),
                "pools": member.get("pools", (link.resources or {}).get("pools", []) if link else []),
                "slots": member.get("slots", core_node.get("slots", 0)),
                "running": len(core_node.get("running", []) or []),
                "running_commands": list(core_node.get("running", []) or []),
                "queued_commands": list(core_node.get("queued", []) or []),  # pipelined, not started
                "cores": member.get("cores", 0),
                "cpu_percent": member.get("cpu_percent", 0.0),
                "load": member.get("load", 0.0),
                "ram_mb": member.get("ram_mb", 0),
                "free_ram_mb": member.get("free_ram_mb", 0),
                "version": member.get("version", ""),
            })
        return {
            "cluster": self.service.cluster,
            "leader": service.leader_name,
            "epoch": service.epoch,
            "nodes": nodes,
            "graphs": len(service.core.graphs()),
            "assignments_sent": service.assignments_sent,
            "journal": {
                "records": service.next_index - 1,
                "durable": service.durable_index,
                "bytes_written": service.journal_bytes,
                "batches_written": service.journal_batches,
                "last_snapshot_record": service.last_snapshot_index,
                "last_snapshot_time": service.last_snapshot_wall,
            },
        }

    # -------------------------------------------------------------------- edit
    def _edit(self, action: str, args: dict[str, Any]) -> Any:
        # Through the service: the edit is journalled and replayed by a successor.
        self.service.run_event(("edit", action, dict(args), time.time()))
        return {"ok": True}


def apply_edit(core: SchedulingCore, action: str, args: dict[str, Any], now: float) -> list[Decision]:
    """One edit on the core. Called live and when a successor replays the journal: keep it pure."""
    if action in ("pause", "resume", "cancel", "restart"):
        node_id = int(args["id"])
        if action == "pause":
            return core.pause(node_id, now, kill=bool(args.get("kill", False)))
        if action == "resume":
            return core.resume(node_id, now)
        if action == "cancel":
            return core.cancel(node_id, now)
        return core.restart(node_id, now, errors_only=bool(args.get("errors_only", False)))
    if action == "set":
        node_id = int(args["id"])
        decisions: list[Decision] = []
        for key, value in dict(args["values"]).items():
            if key in ("priority", "dispatchKey"):
                decisions += core.set_dispatch_key(node_id, int(value), now)
            elif key == "maxRN":
                decisions += core.set_max_rn(node_id, int(value), now)
            elif key in ("pool", "poolName"):
                decisions += core.set_pool(node_id, str(value), now)
            else:
                raise KeyError(f"{key!r} cannot be set (priority, maxRN, pool)")
        return decisions
    if action == "node_pause":
        return core.pause_render_node(str(args["name"]), now, kill=bool(args.get("kill", False)))
    if action == "node_resume":
        return core.resume_render_node(str(args["name"]), now)
    if action == "clear_quarantine":
        return core.clear_quarantine(str(args["name"]), now)
    if action == "archive":
        return core.archive(int(args["id"]), now)
    return operations.apply_edit(core, action, args, now)  # drain, single commands, tags
