"""Small builders of graph representations (docs/graph-schema.md) for the core's tests."""

from __future__ import annotations

from typing import Any

from puli_mesh.coordinator import queries
from puli_mesh.coordinator.core import SchedulingCore
from puli_mesh.coordinator.decisions import Assign, SubmitResult
from puli_mesh.coordinator.render_nodes import RenderNodeInfo
from puliclient.representation import parent_indices
from puliclient.status import NodeStatus


def task(name: str, n: int = 1, *, packet: int = 1, deps: list[Any] | None = None,
         **fields: Any) -> dict[str, Any]:
    commands = []
    for i in range(n):
        s = 1 + i * packet
        e = s + packet - 1
        commands.append({"description": f"{name}_{s}_{e}", "type": "command", "task": name,
                         "arguments": {"start": s, "end": e}})
    node: dict[str, Any] = {
        "type": "Task", "name": name, "runner": "puliclient.jobs.DefaultCommandRunner",
        "arguments": {"cmd": f"echo {name}"}, "environment": {}, "dependencies": deps or [],
        "maxRN": 0, "priority": 0, "dispatchKey": 0, "validationExpression": "VALID",
        "requirements": {}, "minNbCores": 1, "maxNbCores": 0, "ramUse": 0,
        "commands": commands, "lic": "", "licence": "", "tags": {}, "timer": None,
        "maxAttempt": 1,
    }
    node.update(fields)
    return node


def group(name: str, children: list[int], *, deps: list[Any] | None = None,
          **fields: Any) -> dict[str, Any]:
    node: dict[str, Any] = {
        "type": "TaskGroup", "name": name, "arguments": {}, "environment": {},
        "dependencies": deps or [], "maxRN": 0, "priority": 0, "dispatchKey": 0,
        "requirements": {}, "tags": {}, "timer": None, "tasks": children,
        "strategy": "octopus.dispatcher.strategies.FifoStrategy",
    }
    node.update(fields)
    return node


def graph(nodes: list[dict[str, Any]], *, name: str = "g", user: str = "alice",
          pool: str = "default", max_rn: int = -1) -> dict[str, Any]:
    return {"name": name, "meta": {}, "root": 0, "tasks": nodes, "user": user,
            "poolName": pool, "maxRN": max_rn}


def single(name: str = "t", n: int = 1, *, max_rn: int = -1, pool: str = "default",
           dispatch_key: int = 0, **fields: Any) -> dict[str, Any]:
    """A graph whose root is one task group holding one task."""
    return graph([group(name + "_root", [1], dispatchKey=dispatch_key), task(name, n, **fields)],
                 name=name, max_rn=max_rn, pool=pool)


def rn(name: str, *, pools: list[str] | None = None, cores: int = 8, ram: int = 32000,
       slots: int = 1, perf: float = 1.0, pipeline: int = 0, **chars: Any) -> RenderNodeInfo:
    return RenderNodeInfo(name, pools or ["default"], cores, ram, ram, slots,
                          {"softs": [], **chars}, perf, pipeline)


def assigns(decisions: list[Any]) -> list[Assign]:
    return [d for d in decisions if isinstance(d, Assign)]


def finish(core: SchedulingCore, a: Assign, now: float, status: int = 5) -> list[Any]:
    core.command_started(a.command_id, a.attempt, now)
    return core.command_update(a.command_id, a.attempt, now, status=status)


DEEP = 1000
"""Nesting for the deep-graph tests: at Python's default recursion limit (1000), any walk
that recursed once per level would fail."""


def nested(depth: int = DEEP, *, name: str = "deep", commands: int = 2) -> dict[str, Any]:
    """``depth`` task groups, each inside the previous one (index ``i`` is the group at
    level ``i``); the deepest holds task ``bottom`` (index ``depth``, ``commands`` commands);
    the root also holds task ``top`` (index ``depth + 1``), which waits for the deepest group
    to be DONE."""
    nodes = [group(f"g{i}", [i + 1]) for i in range(depth)]
    nodes[0]["tasks"] = [1, depth + 1] if depth > 1 else [depth, depth + 1]
    nodes.append(task("bottom", commands))
    nodes.append(task("top", 1, deps=[[depth - 1, [int(NodeStatus.DONE)]]]))
    return graph(nodes, name=name)


def submit_unchecked(core: SchedulingCore, rep: dict[str, Any], now: float) -> SubmitResult:
    """``core.submit_graph(rep, now)`` without the schema check, and so without the depth
    limit in it: the core must handle any tree it is handed (a journal written under a
    larger limit hands it one)."""
    parents: list[int | None] = [None] * len(rep["tasks"])
    for child, parent in parent_indices(rep).items():
        parents[child] = parent
    core.check_graph = lambda _rep: parents  # type: ignore[method-assign]
    try:
        return core.submit_graph(rep, now)
    finally:
        del core.check_graph


def view_nodes(view: dict[str, Any]) -> list[dict[str, Any]]:
    """Every node of a ``graph_tree`` view, parents first (a loop: views may be deep)."""
    out: list[dict[str, Any]] = []
    stack = [view]
    while stack:
        n = stack.pop()
        out.append(n)
        stack.extend(reversed(n.get("children", [])))
    return out


def flat_view(view: dict[str, Any]) -> list[dict[str, Any]]:
    """A ``graph_tree`` view as its nodes without their ``children``, parents first: what
    tests compare (``==`` on a deep view would recurse once per level)."""
    return [{k: v for k, v in n.items() if k != "children"} for n in view_nodes(view)]


def whole_tree(core: SchedulingCore, graph_id: int) -> dict[str, Any]:
    """A graph's tree view without the bounds a client's view has (``queries.TREE_*_MAX``):
    the deep-graph tests look at every level."""
    return queries.node_view(core._st.nodes[graph_id], True, nodes_max=10**9, commands_max=10**9)
