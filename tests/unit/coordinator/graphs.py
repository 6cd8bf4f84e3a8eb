"""Small builders of graph representations (docs/graph-schema.md) for the core's tests."""

from __future__ import annotations

from typing import Any

from puli_mesh.coordinator.core import SchedulingCore
from puli_mesh.coordinator.decisions import Assign
from puli_mesh.coordinator.render_nodes import RenderNodeInfo


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
