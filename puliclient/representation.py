"""The graph representation: building it (``GraphDumper``) and checking it.

The format is docs/graph-schema.md (Puli's submission schema): a flat
``tasks`` list with index references, every command decomposed, task-group
dependencies pushed down to their tasks. :func:`validateRepresentation` is
the one check, used before ``save``/``submit``, by ``loadAndSubmit`` and by
the coordinator; every ``GraphError`` it raises names the node.
:func:`decompose_saved_tasks` turns a saved file (Puli saved its tasks before
decomposition) into that form, running each undecomposed task's decomposer.
:func:`resolved_command` gives what a render node needs to run one command
(arguments and environment inherited, nearest value wins).

This module does no I/O and runs no command (decomposers and expanders run
here, as they do in Puli's client before a submission).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from puliclient.errors import DependencyCycleError, GraphError, JobTypeImportError
from puliclient.hierarchical import HierarchicalDict
from puliclient.node import Node
from puliclient.status import NodeStatus
from puliclient.task import DEFAULT_DECOMPOSER, Task
from puliclient.taskgroup import TaskGroup

if TYPE_CHECKING:
    from puliclient.graph import Graph

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
_COMMAND_KEYS: dict[str, tuple[type, ...]] = {
    "description": (str,),
    "type": (str,),
    "task": (str,),
    "arguments": (dict,),
}


# --------------------------------------------------------------------------- building
_SCALARS = frozenset({str, int, float, bool, type(None)})


def _plain(value: Any, where: str) -> Any:
    """``value`` as plain JSON/msgpack data (tuples become lists); GraphError otherwise."""
    kind = type(value)
    if kind in _SCALARS:  # the usual case, without the isinstance chain (a graph has one per argument)
        return value
    if kind is dict or isinstance(value, Mapping):
        plain = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise GraphError(f"{where}: key {key!r} is not a string")
            plain[key] = item if type(item) in _SCALARS else _plain(item, where)
        return plain
    if isinstance(value, str | bool | int | float):  # subclasses: an IntEnum becomes an int
        return int(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if isinstance(value, list | tuple):
        return [_plain(item, where) for item in value]
    raise GraphError(f"{where}: {value!r} ({type(value).__name__}) is not plain data")


def _tags(tags: Mapping[str, Any], where: str) -> dict[str, Any]:
    plain = _plain(tags, where)
    # Puli's tag hack: 'shot' and 'plan' are synonyms.
    if "shot" in plain and "plan" not in plain:
        plain["plan"] = plain["shot"]
    elif "plan" in plain and "shot" not in plain:
        plain["shot"] = plain["plan"]
    return plain


class GraphDumper:
    """Turns a :class:`~puliclient.graph.Graph` into its representation (expands first)."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph

    def dump(self) -> Representation:
        root = self.graph.root
        if isinstance(root, TaskGroup):
            root.expand(root)
            nodes = root.walk()
        else:
            root.decompose()
            nodes = [root]
        index = {id(node): i for i, node in enumerate(nodes)}
        dumped = [self._dump_node(node, index) for node in nodes]
        self._push_down_group_dependencies(nodes, dumped, index)
        data: Representation = {
            "name": self.graph.name,
            "meta": _plain(self.graph.meta, f"graph '{self.graph.name}' meta"),
            "root": 0,
            "tasks": dumped,
            "user": self.graph.user,
            "poolName": self.graph.poolName,
            "maxRN": self.graph.maxRN,
        }
        validateRepresentation(data)
        return data

    def _dump_node(self, node: Node, index: Mapping[int, int]) -> dict[str, Any]:
        kind = "task" if isinstance(node, Task) else "group"
        where = f"{kind} '{node.name}'"
        dependencies = []
        for source, statuses in node.dependencies.items():
            if id(source) not in index:
                raise GraphError(
                    f"{where} depends on '{source.name}', which is not in graph "
                    f"'{self.graph.name}'; add it to the graph first"
                )
            dependencies.append([index[id(source)], [int(s) for s in statuses]])
        common = {
            "name": node.name,
            "arguments": _plain(node.arguments, f"{where} arguments"),
            "environment": _plain(node.environment, f"{where} environment"),
            "dependencies": dependencies,
            "requirements": _plain(node.requirements, f"{where} requirements"),
            "maxRN": node.maxRN,
            "priority": node.priority,
            "dispatchKey": node.dispatchKey,
            "tags": _tags(node.tags, f"{where} tags"),
            "timer": node.timer,
        }
        if isinstance(node, TaskGroup):
            children = [index[id(child)] for child in (*node.tasks, *node.taskGroups)]
            return {"type": "TaskGroup", **common, "strategy": node.strategy, "tasks": children}
        assert isinstance(node, Task)
        commands = [
            {
                "description": command.description,
                "type": "command",
                "task": node.name,
                "arguments": _plain(command.arguments, f"{where} command '{command.description}'"),
            }
            for command in node.commands
        ]
        return {
            "type": "Task",
            **common,
            "runner": node.runner,
            "validationExpression": node.validator,
            "minNbCores": node.minNbCores,
            "maxNbCores": node.maxNbCores,
            "ramUse": node.ramUse,
            "commands": commands,
            "lic": node.lic,
            "licence": node.lic,
            "maxAttempt": node.maxAttempt,
            "runnerPackages": node.runnerPackages,
            "watcherPackages": node.watcherPackages,
        }

    @staticmethod
    def _push_down_group_dependencies(
        nodes: list[Node], dumped: list[dict[str, Any]], index: Mapping[int, int]
    ) -> None:
        for i, node in enumerate(nodes):
            if not isinstance(node, TaskGroup) or not dumped[i]["dependencies"]:
                continue
            for descendant in node.walk():
                if isinstance(descendant, Task):
                    own = dumped[index[id(descendant)]]["dependencies"]
                    for dependency in dumped[i]["dependencies"]:
                        if dependency not in own:
                            own.append([dependency[0], list(dependency[1])])


# --------------------------------------------------------------------------- checking
def _node_label(data: Mapping[str, Any], i: int) -> str:
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


def _check_graph_max_rn(value: int, where: str) -> None:
    # Puli documents Graph(maxRN=-1) as "unbounded": -1 is the graph's default.
    if value < -1:
        raise GraphError(f"{where}: maxRN is {value}; use -1 (or 0) for unbounded, or a count")


def _check_node_max_rn(value: int, where: str) -> None:
    # A Task's maxRN defaults to 0 and a TaskGroup's is always 0 in Puli: -1 is
    # documented for the graph only, so a negative value on a node is a mistake.
    if value < 0:
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
            if isinstance(status, bool) or not isinstance(status, int) or status not in set(
                NodeStatus
            ):
                raise GraphError(
                    f"{where}: unknown status {status!r} in dependency on "
                    f"{_node_label(data, source)} (node statuses are 0..6)"
                )


def _check_node(data: Mapping[str, Any], i: int, require_commands: bool) -> None:
    node = data["tasks"][i]
    where = f"node {i}"
    if not isinstance(node, dict):
        raise GraphError(f"{where}: must be an object, not {type(node).__name__}")
    where = _node_label(data, i)
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
    elif kind == "TaskGroup":
        _check_keys(node, _GROUP_KEYS, _GROUP_OPTIONAL_KEYS, f"group {where}")
    else:
        raise GraphError(f"{where}: 'type' must be 'Task' or 'TaskGroup', not {kind!r}")
    _check_node_max_rn(node["maxRN"], f"{'task' if kind == 'Task' else 'group'} {where}")
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
                    f"group {_node_label(data, i)}: child {child!r} is not in the graph"
                )
            if child in parents or child == data["root"]:
                raise GraphError(
                    f"group {_node_label(data, i)}: {_node_label(data, child)} already has a "
                    "parent (or is the root)"
                )
            parents[child] = i
    return parents


def _check_structure(data: Mapping[str, Any], parents: Mapping[int, int]) -> None:
    for i in range(len(data["tasks"])):
        ancestor, seen = i, set()
        while ancestor in parents:
            if ancestor in seen:
                raise GraphError(f"{_node_label(data, i)}: group containment loops")
            seen.add(ancestor)
            ancestor = parents[ancestor]
        if ancestor != data["root"]:
            raise GraphError(f"{_node_label(data, i)} is not under the root node")


def _find_cycle(data: Mapping[str, Any]) -> list[int] | None:
    """A cycle of 'waits for' edges (dependencies, and groups waiting for children)."""
    edges: dict[int, list[int]] = {}
    for i, node in enumerate(data["tasks"]):
        targets = [dependency[0] for dependency in node["dependencies"]]
        if node["type"] == "TaskGroup":
            targets += node["tasks"]
        edges[i] = targets
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


def validateRepresentation(data: Any) -> None:
    """Check ``data`` against docs/graph-schema.md; raise ``GraphError`` naming the node.

    A dependency cycle raises ``DependencyCycleError`` with the cycle path
    (``->`` reads "waits for"; a group waits for its children).
    """
    _validate(data, require_commands=True)


def _validate(data: Any, require_commands: bool) -> None:
    if not isinstance(data, dict):
        raise GraphError(f"a graph representation is an object, not {type(data).__name__}")
    _check_keys(data, _TOP_KEYS, {}, "graph")
    where = f"graph '{data['name']}'"
    _check_graph_max_rn(data["maxRN"], where)
    if not data["tasks"]:
        raise GraphError(f"{where} has no node")
    if not 0 <= data["root"] < len(data["tasks"]):
        raise GraphError(f"{where}: root {data['root']} is not in the graph")
    for i in range(len(data["tasks"])):
        _check_node(data, i, require_commands)
    _check_structure(data, _parents(data))
    cycle = _find_cycle(data)
    if cycle is not None:
        names = " -> ".join(repr(data["tasks"][i]["name"]) for i in cycle)
        raise DependencyCycleError(
            f"{where}: dependency cycle {names} (-> means 'waits for'; a group waits for "
            "its children)"
        )


# --------------------------------------------------------------------------- saved files
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
    _validate(data, require_commands=False)
    result: Representation = copy.deepcopy(data)
    parents = _parents(result)
    for i, node in enumerate(result["tasks"]):
        if node["type"] == "Task" and not node["commands"]:
            node["commands"] = _decompose_saved_task(result, parents, i)
    validateRepresentation(result)
    return result


def _decompose_saved_task(
    data: Mapping[str, Any], parents: Mapping[int, int], i: int
) -> list[dict[str, Any]]:
    node = data["tasks"][i]
    where = f"task {_node_label(data, i)}"
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
        )
    except JobTypeImportError as exc:
        raise GraphError(f"{where}: {exc}") from exc
    arguments: HierarchicalDict | None = None
    environment: HierarchicalDict | None = None
    for ancestor in ancestry(parents, i)[:-1]:  # the root first, as Node._attach_to chains them
        arguments = HierarchicalDict(arguments, data["tasks"][ancestor]["arguments"])
        environment = HierarchicalDict(environment, data["tasks"][ancestor]["environment"])
    task.arguments.parent = arguments
    task.environment.parent = environment
    task.decompose()
    return [
        {
            "description": command.description,
            "type": "command",
            "task": task.name,
            "arguments": _plain(command.arguments, f"{where} command '{command.description}'"),
        }
        for command in task.commands
    ]


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
    arguments: dict[str, Any] = {}
    environment: dict[str, str] = {}
    for i in ancestry(parents, task_index):
        arguments.update(data["tasks"][i]["arguments"])
        environment.update(data["tasks"][i]["environment"])
    arguments.update(command["arguments"])
    return {
        "runner": task["runner"],
        "arguments": arguments,
        "environment": environment,
        "description": command["description"],
        "task": task["name"],
    }
