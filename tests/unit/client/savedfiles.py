"""Graph files as Puli's ``Graph.save()`` wrote them (tasks never decomposed), for the client tests."""

from __future__ import annotations

from typing import Any


def saved_task(name: str, arguments: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """A Task node as Puli's ``Graph.save()`` wrote it: never decomposed, no command."""
    return {"type": "Task", "name": name, "runner": "puliclient.jobs.DefaultCommandRunner",
            "arguments": arguments, "environment": {}, "dependencies": [], "maxRN": 0,
            "priority": 0, "dispatchKey": 0, "validationExpression": "0", "requirements": {},
            "minNbCores": 1, "maxNbCores": 0, "ramUse": 0, "commands": [], "lic": "",
            "licence": "", "tags": {}, "timer": None, **fields}


def saved_group(name: str, tasks: list[int], **fields: Any) -> dict[str, Any]:
    """A TaskGroup node as Puli saved it."""
    return {"type": "TaskGroup", "name": name, "arguments": {}, "environment": {},
            "dependencies": [], "requirements": {}, "maxRN": 0, "priority": 0, "dispatchKey": 0,
            "strategy": "octopus.dispatcher.strategies.FifoStrategy", "tasks": tasks, "tags": {},
            "timer": None, **fields}


def saved_graph(nodes: list[dict[str, Any]]) -> dict[str, Any]:
    """The top level of a saved file, root first."""
    return {"name": "saved", "meta": {}, "root": 0, "user": "jsa", "poolName": "default",
            "maxRN": -1, "tasks": nodes}
