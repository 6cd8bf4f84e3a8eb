"""Reading a saved graph file (ours or Puli's) into a representation ready to submit or run.

``Graph.loadAndSubmit`` and ``python -m puliclient.local_execution FILE`` both
load through :func:`load_graph_file`, so a file behaves the same whichever way
it is used. A file written by Puli's ``Graph.save()`` holds tasks that were
never decomposed (empty ``commands``): they are decomposed here, as Puli's
client did before submitting (:func:`decompose_saved_tasks`).

Not here: the schema check (:mod:`puliclient.representation`), sending or
running anything.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from puliclient.errors import GraphError, JobTypeImportError
from puliclient.hierarchical import HierarchicalDict, ancestry
from puliclient.representation import (
    Representation,
    command_data,
    node_label,
    parent_indices,
    validateRepresentation,
)
from puliclient.task import DEFAULT_DECOMPOSER, Task


def load_graph_file(path: str | Path) -> Representation:
    """The validated, fully decomposed representation saved in ``path`` (JSON).

    Raises ``GraphError`` for a file that cannot be read or is not JSON, and,
    naming the node, for anything the representation's validation refuses or a
    decomposer that cannot be loaded.
    """
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise GraphError(f"cannot read graph file {str(path)!r}: {exc}") from exc
    except RecursionError as exc:  # json nests one C call per level
        raise GraphError(f"cannot read graph file {str(path)!r}: its values are nested deeper "
                         "than Python reads JSON") from exc
    return decompose_saved_tasks(data)


def decompose_saved_tasks(data: Any) -> Representation:
    """A saved representation as it is submitted: a validated copy, every task decomposed.

    Puli's ``Graph.save()`` wrote tasks before decomposition, with an empty
    ``commands`` list; its client decomposed them only when submitting. Each
    such task is decomposed here as Puli's client would have: its decomposer
    (the task's optional ``decomposer`` key, a dotted path; Puli's files have
    none, so ``puliclient.jobs.DefaultTaskDecomposer``) runs on a Task built
    from the node, with the node's own ``arguments`` (and its groups'
    arguments and environment to fall back on, as in a built graph). Tasks that
    have commands are left as they are; ``data`` is not modified.

    Raises ``GraphError`` naming the node for anything
    :func:`validateRepresentation` refuses, for a decomposer that cannot be
    loaded, and for a task that still has no command afterwards.
    """
    validateRepresentation(data, require_commands=False)
    result: Representation = _copied(data)
    parents = parent_indices(result)
    for i, node in enumerate(result["tasks"]):
        if node["type"] == "Task" and not node["commands"]:
            node["commands"] = _decompose_saved_task(result, parents, i)
    validateRepresentation(result)
    return result


def _copied(value: Any) -> Any:
    """A deep copy: dicts and lists walked with an explicit stack (a file's values may be
    nested deeper than Python's stack), anything else ``copy.deepcopy``'d."""
    if type(value) not in (dict, list):
        return copy.deepcopy(value)
    top: Any = {} if type(value) is dict else []
    stack: list[tuple[Any, Any]] = [(value, top)]
    while stack:
        source, target = stack.pop()
        pairs = source.items() if type(source) is dict else enumerate(source)
        for key, item in pairs:
            if type(item) in (dict, list):
                inner: Any = {} if type(item) is dict else []
                stack.append((item, inner))
                item = inner
            else:
                item = copy.deepcopy(item)
            if type(target) is dict:
                target[key] = item
            else:
                target.append(item)
    return top


def _decompose_saved_task(
    data: Mapping[str, Any], parents: Mapping[int, int], i: int
) -> list[dict[str, Any]]:
    node = data["tasks"][i]
    where = f"task {node_label(data, i)}"
    decomposer = node.get("decomposer", DEFAULT_DECOMPOSER)
    if not decomposer:
        return []  # commands were to be added by hand: validation reports the task
    try:
        task = Task(
            node["name"],
            node["arguments"],
            runner=node["runner"],
            decomposer=decomposer,
            runnerPackages=node.get("runnerPackages"),
            watcherPackages=node.get("watcherPackages"),
            maxRN=node["maxRN"],
            priority=node["priority"],
            dispatchKey=node["dispatchKey"],
            environment=node["environment"],
            validator=node["validationExpression"],
            minNbCores=node["minNbCores"],
            maxNbCores=node["maxNbCores"],
            ramUse=node["ramUse"],
            requirements=node["requirements"],
            lic=node["lic"],
            tags=node["tags"],
            timer=node.get("timer"),
            maxAttempt=node.get("maxAttempt", 1),
            idleTimeout=node.get("idleTimeout"),
            gpus=node.get("gpus", 0),
            killOnRamOveruse=node.get("killOnRamOveruse", False),
        )
    except JobTypeImportError as exc:
        raise GraphError(f"{where}: {exc}") from exc
    arguments: HierarchicalDict | None = None
    environment: HierarchicalDict | None = None
    for ancestor in ancestry(parents, i)[:-1]:  # the root first, as Node.attach_to chains them
        arguments = HierarchicalDict(arguments, data["tasks"][ancestor]["arguments"])
        environment = HierarchicalDict(environment, data["tasks"][ancestor]["environment"])
    task.arguments.parent = arguments
    task.environment.parent = environment
    task.decompose()
    return [
        command_data(command.description, task.name, command.arguments, where)
        for command in task.commands
    ]
