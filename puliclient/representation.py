"""The graph representation (docs/graph-schema.md): its one check, and what a command runs.

Guarantees: :func:`validateRepresentation` is the one schema check of a
graph representation; the client runs it before ``save``/``submit``/
``execute`` and on every loaded file, and the coordinator runs it on every
submission (adding only what the client cannot know: pools, licences).
Every ``GraphError`` it raises names the node. :func:`resolved_command`
gives what a render node runs for one command, inherited values applied
(:func:`puliclient.hierarchical.merge_inherited`: nearest value wins).

Not here: building a representation from a :class:`~puliclient.graph.Graph`
(``puliclient.graph.GraphDumper``), decomposing a saved file
(:mod:`puliclient.graphfile`), sending or running anything. This module
imports no part of the object model, so the coordinator can use it without
loading decomposers or runners.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from puliclient.errors import DependencyCycleError, GraphError
from puliclient.hierarchical import merge_inherited
from puliclient.status import NodeStatus, is_status, known_statuses

Representation = dict[str, Any]

_INT = (int,)
_NUMBER_OR_NONE = (int, float, type(None))

_TOP_KEYS: dict[str, tuple[type, ...]] = {
    "name": (str,),
    "meta": (dict,),
    "root": _INT,
    "tasks": (list,),
    "user": (str,),
    "poolName": (str,),
    "maxRN": _INT,
}
_COMMON_KEYS: dict[str, tuple[type, ...]] = {
    "name": (str,),
    "arguments": (dict,),
    "environment": (dict,),
    "dependencies": (list,),
    "requirements": (dict,),
    "maxRN": _INT,
    "priority": _INT,
    "dispatchKey": _INT,
    "tags": (dict,),
}
_TASK_KEYS: dict[str, tuple[type, ...]] = {
    **_COMMON_KEYS,
    "runner": (str,),
    "validationExpression": (str,),
    "minNbCores": _INT,
    "maxNbCores": _INT,
    "ramUse": _INT,
    "commands": (list,),
    "lic": (str,),
    "licence": (str,),
}
_TASK_OPTIONAL_KEYS: dict[str, tuple[type, ...]] = {
    "timer": _NUMBER_OR_NONE,
    "maxAttempt": _INT,
    "runnerPackages": (str, type(None)),
    "watcherPackages": (str, type(None)),
    # Not in Puli's files: only read to decompose a task saved without commands.
    "decomposer": (str, type(None)),
}
_GROUP_KEYS: dict[str, tuple[type, ...]] = {**_COMMON_KEYS, "strategy": (str,), "tasks": (list,)}
_GROUP_OPTIONAL_KEYS: dict[str, tuple[type, ...]] = {"timer": _NUMBER_OR_NONE}
_TASK_RESOURCE_KEYS = ("minNbCores", "maxNbCores", "ramUse")
_COMMAND_KEYS: dict[str, tuple[type, ...]] = {
    "description": (str,),
    "type": (str,),
    "task": (str,),
    "arguments": (dict,),
}


# --------------------------------------------------------------------------- plain data
_SCALARS = frozenset({str, int, float, bool, type(None)})


def plain_data(value: Any, where: str) -> Any:
    """``value`` as plain JSON/msgpack data (tuples become lists); GraphError otherwise.

    Containers are walked depth first with an explicit stack, not recursion (a value may
    be nested deeper than Python's stack); the first value refused is the one recursion
    would have met first.
    """
    kind = type(value)
    if kind in _SCALARS:  # the usual case, without the isinstance chain (a graph has one per argument)
        return value
    top, items = _plain_or_empty(value, where)
    if items is None:
        return top
    stack: list[tuple[Any, Iterator[Any]]] = [(top, items)]
    while stack:
        copy, items = stack[-1]
        if copy.__class__ is dict:
            for key, item in items:
                if not isinstance(key, str):
                    raise GraphError(f"{where}: key {key!r} is not a string")
                if type(item) in _SCALARS:
                    copy[key] = item
                    continue
                copy[key], inner = _plain_or_empty(item, where)
                if inner is not None:
                    stack.append((copy[key], inner))
                    break
            else:
                stack.pop()
        else:
            for item in items:
                if type(item) in _SCALARS:
                    copy.append(item)
                    continue
                plain, inner = _plain_or_empty(item, where)
                copy.append(plain)
                if inner is not None:
                    stack.append((plain, inner))
                    break
            else:
                stack.pop()
    return top


def _plain_or_empty(value: Any, where: str) -> tuple[Any, Iterator[Any] | None]:
    """A scalar as plain data, with None; a container as an empty plain one, with the
    iterator of what goes in it (pairs for a mapping); GraphError for anything else."""
    if type(value) is dict or isinstance(value, Mapping):
        return {}, iter(value.items())
    if isinstance(value, str | bool | int | float):  # subclasses: an IntEnum becomes an int
        return (int(value) if isinstance(value, int) and not isinstance(value, bool) else value), None
    if isinstance(value, list | tuple):
        return [], iter(value)
    raise GraphError(f"{where}: {value!r} ({type(value).__name__}) is not plain data")


def command_data(
    description: str, task_name: str, arguments: Mapping[str, Any], where: str
) -> dict[str, Any]:
    """One entry of a task's ``commands``; ``where`` names the task in errors."""
    return {
        "description": description,
        "type": "command",
        "task": task_name,
        "arguments": plain_data(arguments, f"{where} command '{description}'"),
    }


# --------------------------------------------------------------------------- checking
def node_label(data: Mapping[str, Any], i: int) -> str:
    """``node 3 ('render')``: how every message names node ``i``."""
    node = data["tasks"][i]
    name = node.get("name") if isinstance(node, dict) else None
    return f"node {i} ({name!r})" if isinstance(name, str) else f"node {i}"


def _check_keys(
    obj: Mapping[str, Any],
    required: Mapping[str, tuple[type, ...]],
    optional: Mapping[str, tuple[type, ...]],
    where: str,
) -> None:
    for key, types in (*required.items(), *optional.items()):
        if key not in obj:
            if key in required:
                raise GraphError(f"{where}: missing key '{key}'")
            continue
        value = obj[key]
        if isinstance(value, bool) and bool not in types or not isinstance(value, types):
            expected = " or ".join("None" if t is type(None) else t.__name__ for t in types)
            raise GraphError(
                f"{where}: '{key}' must be {expected}, not {type(value).__name__} {value!r}"
            )


def check_max_rn(value: int, where: str, *, graph: bool) -> None:
    """The maxRN rule, at submission and on every later edit; ``GraphError`` if broken.

    Puli documents ``Graph(maxRN=-1)`` as "unbounded": -1 is the graph's
    default. A Task's maxRN defaults to 0 and a TaskGroup's is always 0 in
    Puli: -1 is documented for the graph only, so a negative value on a task
    or a group is a mistake. 0 is unbounded everywhere.
    """
    if graph and value < -1:
        raise GraphError(f"{where}: maxRN is {value}; use -1 (or 0) for unbounded, or a count")
    if not graph and value < 0:
        raise GraphError(
            f"{where}: maxRN is {value}; a task or group maxRN is 0 (unbounded) or a count "
            "(-1 is the graph's unbounded value only)"
        )


def _check_string_mapping(mapping: Mapping[str, Any], where: str) -> None:
    for key, value in mapping.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise GraphError(f"{where}: environment {key!r}={value!r} must map str to str")


def _check_dependencies(data: Mapping[str, Any], i: int, where: str) -> None:
    count = len(data["tasks"])
    for dependency in data["tasks"][i]["dependencies"]:
        if (
            not isinstance(dependency, list | tuple)
            or len(dependency) != 2
            or not isinstance(dependency[1], list | tuple)
        ):
            raise GraphError(f"{where}: dependency {dependency!r} is not [index, [statuses]]")
        source, statuses = dependency
        if isinstance(source, bool) or not isinstance(source, int) or not 0 <= source < count:
            raise GraphError(f"{where}: depends on node {source!r}, which is not in the graph")
        if source == i:
            raise DependencyCycleError(f"dependency cycle: {where} depends on itself")
        if not statuses:
            raise GraphError(f"{where}: empty status list in dependency on node {source}")
        for status in statuses:
            if not is_status(status, NodeStatus):
                raise GraphError(
                    f"{where}: unknown status {status!r} in dependency on "
                    f"{node_label(data, source)} (node statuses: {known_statuses(NodeStatus)})"
                )


def _check_node(data: Mapping[str, Any], i: int, require_commands: bool) -> None:
    node = data["tasks"][i]
    where = f"node {i}"
    if not isinstance(node, dict):
        raise GraphError(f"{where}: must be an object, not {type(node).__name__}")
    where = node_label(data, i)
    kind = node.get("type")
    if kind == "Task":
        _check_keys(node, _TASK_KEYS, _TASK_OPTIONAL_KEYS, f"task {where}")
        if require_commands and not node["commands"]:
            raise GraphError(
                f"task {where} has no command (its decomposer made none, or it has no "
                "decomposer and no command was added by hand)"
            )
        for command in node["commands"]:
            if not isinstance(command, dict):
                raise GraphError(f"task {where}: a command must be an object, not {command!r}")
            _check_keys(command, _COMMAND_KEYS, {}, f"task {where} command")
        if node.get("maxAttempt", 1) < 1:
            raise GraphError(f"task {where}: maxAttempt must be >= 1, not {node['maxAttempt']}")
        for key in _TASK_RESOURCE_KEYS:
            if node[key] < 0:
                raise GraphError(f"task {where}: '{key}' must be >= 0, not {node[key]}")
    elif kind == "TaskGroup":
        _check_keys(node, _GROUP_KEYS, _GROUP_OPTIONAL_KEYS, f"group {where}")
    else:
        raise GraphError(f"{where}: 'type' must be 'Task' or 'TaskGroup', not {kind!r}")
    if not node["name"]:
        raise GraphError(f"{where}: 'name' is empty")
    check_max_rn(node["maxRN"], f"{'task' if kind == 'Task' else 'group'} {where}", graph=False)
    _check_string_mapping(node["environment"], where)
    _check_dependencies(data, i, where)


def _parents(data: Mapping[str, Any]) -> dict[int, int]:
    """Child index → parent index; GraphError for a bad or shared child index."""
    parents: dict[int, int] = {}
    count = len(data["tasks"])
    for i, node in enumerate(data["tasks"]):
        if node["type"] != "TaskGroup":
            continue
        for child in node["tasks"]:
            if isinstance(child, bool) or not isinstance(child, int) or not 0 <= child < count:
                raise GraphError(
                    f"group {node_label(data, i)}: child {child!r} is not in the graph"
                )
            if child in parents or child == data["root"]:
                raise GraphError(
                    f"group {node_label(data, i)}: {node_label(data, child)} already has a "
                    "parent (or is the root)"
                )
            parents[child] = i
    return parents


def _check_structure(data: Mapping[str, Any], parents: Mapping[int, int]) -> None:
    for i in range(len(data["tasks"])):
        ancestor, seen = i, set()
        while ancestor in parents:
            if ancestor in seen:
                raise GraphError(f"{node_label(data, i)}: group containment loops")
            seen.add(ancestor)
            ancestor = parents[ancestor]
        if ancestor != data["root"]:
            raise GraphError(f"{node_label(data, i)} is not under the root node")


def _find_cycle(data: Mapping[str, Any], parents: Mapping[int, int]) -> list[int] | None:
    """A cycle of 'waits for' edges: a node waits for its own and its ancestors'
    dependencies (a group's dependencies hold for everything inside it), a group
    for its children."""
    tasks = data["tasks"]
    edges: dict[int, list[int]] = {}
    for i, node in enumerate(tasks):
        targets = [
            dependency[0] for j in ancestry(parents, i) for dependency in tasks[j]["dependencies"]
        ]
        if node["type"] == "TaskGroup":
            targets += node["tasks"]
        edges[i] = list(dict.fromkeys(targets))
    white, grey, black = 0, 1, 2
    colour = dict.fromkeys(edges, white)
    for start in edges:
        if colour[start] != white:
            continue
        stack: list[tuple[int, int]] = [(start, 0)]
        path = [start]
        colour[start] = grey
        while stack:
            node, position = stack[-1]
            if position < len(edges[node]):
                stack[-1] = (node, position + 1)
                target = edges[node][position]
                if colour[target] == grey:
                    return [*path[path.index(target) :], target]
                if colour[target] == white:
                    colour[target] = grey
                    stack.append((target, 0))
                    path.append(target)
            else:
                colour[node] = black
                stack.pop()
                path.pop()
    return None


def validateRepresentation(data: Any, *, require_commands: bool = True) -> None:
    """Check ``data`` against docs/graph-schema.md; raise ``GraphError`` naming the node.

    A dependency cycle raises ``DependencyCycleError`` with the cycle path
    (``->`` reads "waits for"; a group waits for its children, a node for
    its groups' dependencies). ``require_commands=False`` lets a task have no
    command yet (a saved file, before :mod:`puliclient.graphfile` decomposes it).
    """
    if not isinstance(data, dict):
        raise GraphError(f"a graph representation is an object, not {type(data).__name__}")
    _check_keys(data, _TOP_KEYS, {}, "graph")
    where = f"graph '{data['name']}'"
    if not data["name"]:
        raise GraphError("graph: 'name' is empty")
    check_max_rn(data["maxRN"], where, graph=True)
    if not data["tasks"]:
        raise GraphError(f"{where} has no node")
    if not 0 <= data["root"] < len(data["tasks"]):
        raise GraphError(f"{where}: root {data['root']} is not in the graph")
    for i in range(len(data["tasks"])):
        _check_node(data, i, require_commands)
    parents = _parents(data)
    _check_structure(data, parents)
    cycle = _find_cycle(data, parents)
    if cycle is not None:
        names = " -> ".join(repr(data["tasks"][i]["name"]) for i in cycle)
        raise DependencyCycleError(
            f"{where}: dependency cycle {names} (-> means 'waits for'; a group waits for "
            "its children)"
        )


# --------------------------------------------------------------------------- resolving
def parent_indices(data: Mapping[str, Any]) -> dict[int, int]:
    """Child index → parent group index, for a valid representation."""
    return _parents(data)


def ancestry(parents: Mapping[int, int], index: int) -> list[int]:
    """``index`` and its ancestors, the root first."""
    chain = [index]
    while chain[-1] in parents:
        chain.append(parents[chain[-1]])
    return chain[::-1]


def resolved_command(
    data: Mapping[str, Any], parents: Mapping[int, int], task_index: int, command_index: int
) -> dict[str, Any]:
    """What a render node runs: runner, arguments and environment with inheritance applied.

    Nearest value wins: command arguments > task > parent group > ... > root.
    """
    task = data["tasks"][task_index]
    command = task["commands"][command_index]
    chain = [data["tasks"][i] for i in ancestry(parents, task_index)]
    arguments = merge_inherited([*(node["arguments"] for node in chain), command["arguments"]])
    environment = merge_inherited([node["environment"] for node in chain])
    return {
        "runner": task["runner"],
        "arguments": arguments,
        "environment": environment,
        "description": command["description"],
        "task": task["name"],
    }
