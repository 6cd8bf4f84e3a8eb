"""The graph representation (docs/graph-schema.md): its one check.

Guarantees: :func:`validateRepresentation` is the one schema check of a
graph representation; the client runs it before ``save``/``submit``/
``execute`` and on every loaded file, and the coordinator runs it on every
submission (adding only what the client cannot know: pools, licences).
Every ``GraphError`` it raises names the node. What a render node runs for one command,
inherited values applied, is :func:`puliclient.hierarchical.resolved_command`.

Limits: the graph is checked against a :class:`puli_mesh.limits.GraphLimits` (the client
passes none: the defaults; the coordinator its configured ones): its depth, its nodes, the
commands of a task and the frames of a command, the length of names and strings, the items
of every value a user shapes, how deep those nest. The check is O(size): depth and ancestry
are computed once, iteratively, and nothing here recurses on user-shaped data.

Not here: building a representation from a :class:`~puliclient.graph.Graph`
(``puliclient.graph.GraphDumper``), decomposing a saved file
(:mod:`puliclient.graphfile`), sending or running anything. This module
imports no part of the object model, so the coordinator can use it without
loading decomposers or runners.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from puli_mesh.limits import (
    DEFAULT_GRAPH_LIMITS,
    MAX_GPUS,
    MAX_VALUE_NESTING,
    GraphLimits,
    frame_count,
    idle_timeout_error,
)
from puliclient.errors import DependencyCycleError, GraphError
from puliclient.status import CommandStatus, NodeStatus, is_status, known_statuses
from puliclient.strategies import strategy_name

Representation = dict[str, Any]

BY_FRAME = "byFrame"
"""The option of a dependency (its third element, ``{"byFrame": true}``) that makes each command
wait only for the source's commands covering its frames."""
BY_FRAME_COMMAND_STATUSES: dict[NodeStatus, frozenset[CommandStatus]] = {
    NodeStatus.DONE: frozenset({CommandStatus.DONE}),
    NodeStatus.ERROR: frozenset({CommandStatus.ERROR, CommandStatus.TIMEOUT}),
    NodeStatus.CANCELED: frozenset({CommandStatus.CANCELED}),
}
"""The node statuses a frame-by-frame dependency may wait for, and the command statuses that
meet each one (a failed command meets ERROR only when it has no retry left)."""


def is_by_frame(dependency: Any) -> bool:
    """True for a valid dependency ``[index, [statuses], {"byFrame": true}]``."""
    return len(dependency) > 2 and bool(dependency[2].get(BY_FRAME, False))


def frame_range(start: Any, end: Any) -> tuple[int, int] | None:
    """The frames ``start``..``end`` (both included) a command covers, or None when it has no
    whole-number frame arguments (or ``end < start``). A ``step`` is ignored on purpose: a
    frame-by-frame dependency then waits for every command whose range meets its own, which
    can only wait for more, never less."""
    if start.__class__ is not int or end.__class__ is not int or end < start:
        return None
    return start, end

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
    "idleTimeout": _NUMBER_OR_NONE,
    "gpus": _INT, "killOnRamOveruse": (bool,),  # Puli Mesh's: hung frames, GPUs, RAM over-use
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
    """``value`` as plain JSON/msgpack data (tuples become lists); GraphError otherwise, or when
    lists and maps nest more than ``MAX_VALUE_NESTING`` deep. Built with a stack, never by
    recursion: the value is the user's."""
    if type(value) in _SCALARS:  # the usual case, without the isinstance chain (a graph has one per argument)
        return value
    top: list[Any] = [None]
    stack: list[tuple[Any, Any, Any, int]] = [(value, top, 0, 1)]  # (item, where it goes, its key, depth)
    while stack:
        item, into, slot, depth = stack.pop()
        if type(item) in _SCALARS:
            into[slot] = item
        elif isinstance(item, Mapping | list | tuple):
            if depth > MAX_VALUE_NESTING:
                raise GraphError(f"{where}: lists and maps nest more than {MAX_VALUE_NESTING} levels deep; "
                                 "flatten the value")
            if isinstance(item, Mapping):
                plain: Any = dict.fromkeys(item)
                for key in plain:
                    if not isinstance(key, str):
                        raise GraphError(f"{where}: key {key!r} is not a string")
                pairs = item.items()
            else:
                plain = [None] * len(item)
                pairs = enumerate(item)
            into[slot] = plain
            inner = []
            for key, child in pairs:
                if type(child) in _SCALARS:
                    plain[key] = child
                else:
                    inner.append((child, plain, key, depth + 1))
            stack.extend(reversed(inner))  # popped in order: the first bad value met is the first in the value
        elif isinstance(item, str | bool | int | float):  # subclasses: an IntEnum becomes an int
            into[slot] = int(item) if isinstance(item, int) and not isinstance(item, bool) else item
        else:
            raise GraphError(f"{where}: {item!r} ({type(item).__name__}) is not plain data")
    return top[0]


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
def _over(where: str, what: str, limit: int, field: str, hint: str) -> GraphError:
    """The error for a value above one of the graph limits: which, the limit, what to do."""
    return GraphError(f"{where}: {what}, above the limit of {limit} (graph limit '{field}', the farm's "
                      f"setting graph_{field}); {hint}")


def _check_name(value: str, where: str, key: str, limits: GraphLimits) -> None:
    if len(value) > limits.name_length:
        raise _over(where, f"'{key}' has {len(value)} characters", limits.name_length, "name_length",
                    "use a shorter name")


_FLAT = frozenset({int, float, bool, type(None)})


def _longest_key(mapping: Mapping[Any, Any]) -> int:
    """The length of the longest string key (one C loop when every key is a string, as usual)."""
    try:
        return max(map(len, mapping))
    except TypeError:  # a key that is not a string (a decoded map may have one): they have no length here
        return max((len(k) for k in mapping if isinstance(k, str)), default=0)


def check_value(value: Any, where: str, what: str, limits: GraphLimits) -> None:
    """A value a user shapes (arguments, tags, meta...): at most ``value_items`` items, strings
    of at most ``string_length`` characters (keys: ``name_length``), nesting at most
    ``MAX_VALUE_NESTING`` deep. Walked with a stack: the value is user-shaped."""
    items = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_VALUE_NESTING:
            raise GraphError(f"{where}: {what}: lists and maps nest more than {MAX_VALUE_NESTING} levels deep; "
                             "flatten the value")
        if item.__class__ is dict or isinstance(item, Mapping):
            values = item.values()
            if item and _longest_key(item) > limits.name_length:
                key = next(k for k in item if isinstance(k, str) and len(k) > limits.name_length)
                raise _over(where, f"{what}: key {key[:40]!r}... has {len(key)} characters",
                            limits.name_length, "name_length", "use a shorter key")
        else:
            values = item
        items += len(item)
        if items > limits.value_items:
            raise _over(where, f"{what} holds more than {limits.value_items} items", limits.value_items,
                        "value_items", "keep big data in files the command reads, not in the graph")
        for child in values:  # the scalars first and without isinstance: a graph has one per argument
            kind = child.__class__
            if kind is str:
                if len(child) > limits.string_length:
                    raise _over(where, f"{what} holds a string of {len(child)} characters", limits.string_length,
                                "string_length", "keep big data in files the command reads, not in the graph")
            elif kind in _FLAT:
                continue
            elif kind is dict or kind is list or isinstance(child, Mapping | list | tuple):
                stack.append((child, depth + 1))


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


def check_environment(mapping: Mapping[str, Any], where: str) -> None:
    """An environment maps str to str; ``GraphError`` otherwise (at submission and on every edit)."""
    for key, value in mapping.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise GraphError(f"{where}: environment {key!r}={value!r} must map str to str")


def check_max_attempt(value: Any, where: str) -> None:
    """``maxAttempt`` is a whole number >= 1 (at submission and on every edit); ``GraphError`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise GraphError(f"{where}: maxAttempt must be >= 1, not {value!r}")


def check_resource(key: str, value: Any, where: str) -> None:
    """``minNbCores``, ``maxNbCores``, ``ramUse``: a whole number >= 0 (at submission and on every edit)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise GraphError(f"{where}: '{key}' must be >= 0, not {value!r}")


def check_gpus(value: Any, where: str) -> None:
    """A task's ``gpus``: a whole number from 0 to ``limits.MAX_GPUS`` (at submission and on every edit)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_GPUS:
        raise GraphError(f"{where}: 'gpus' must be from 0 to {MAX_GPUS} (limits.MAX_GPUS), not {value!r}")


def check_timer(value: Any, where: str) -> None:
    """A timer is None or a finite number of epoch seconds (at submission and on every edit):
    an infinite or NaN one would hold its tasks for ever."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or value - value != 0:
        raise GraphError(f"{where}: 'timer' must be epoch seconds (a finite number) or None, not {value!r}")


def _check_dependencies(data: Mapping[str, Any], i: int, where: str) -> None:
    count = len(data["tasks"])
    for dependency in data["tasks"][i]["dependencies"]:
        if (
            not isinstance(dependency, list | tuple)
            or len(dependency) not in (2, 3)
            or not isinstance(dependency[1], list | tuple)
        ):
            raise GraphError(f"{where}: dependency {dependency!r} is not [index, [statuses]] "
                             "or [index, [statuses], {options}]")
        source, statuses = dependency[0], dependency[1]
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
        if len(dependency) == 3:
            _check_dependency_options(dependency, where, data, source)


def _check_dependency_options(dependency: Any, where: str, data: Mapping[str, Any], source: int) -> None:
    """The third element of a dependency: ``{"byFrame": bool}``, nothing else."""
    options = dependency[2]
    if not isinstance(options, dict) or set(options) - {BY_FRAME} \
            or not isinstance(options.get(BY_FRAME, False), bool):
        raise GraphError(f"{where}: the options of the dependency on {node_label(data, source)} "
                         f"must be {{{BY_FRAME!r}: true or false}}, not {options!r}")
    if options.get(BY_FRAME) and any(s not in BY_FRAME_COMMAND_STATUSES for s in dependency[1]):
        allowed = ", ".join(s.name for s in BY_FRAME_COMMAND_STATUSES)
        raise GraphError(f"{where}: a frame-by-frame dependency on {node_label(data, source)} waits "
                         f"for final statuses only ({allowed}), not {list(dependency[1])!r}")


def _check_commands(node: dict[str, Any], where: str, limits: GraphLimits) -> None:
    commands = node["commands"]
    if len(commands) > limits.commands_per_task:
        raise _over(f"task {where}", f"{len(commands)} commands", limits.commands_per_task, "commands_per_task",
                    "split the task, or give each command a bigger frame range")
    # One pass per command, with no message built unless something is wrong: a task may hold
    # 100,000 of them, checked on the leader's loop.
    name_length, string_length, items = limits.name_length, limits.string_length, limits.value_items
    command_where = f"task {where} command"
    for command in commands:
        if not isinstance(command, dict):
            raise GraphError(f"task {where}: a command must be an object, not {command!r}")
        _check_keys(command, _COMMAND_KEYS, {}, command_where)
        description = command["description"]
        arguments = command["arguments"]
        fits = len(description) <= name_length and len(arguments) <= items
        if fits and arguments:
            fits = _longest_key(arguments) <= name_length
            for value in arguments.values():  # the usual arguments: scalars, short strings
                kind = value.__class__
                if kind is str:
                    if len(value) > string_length:
                        fits = False
                elif kind not in _FLAT:
                    fits = False  # a list or a map: walked below
        if not fits:
            label = f"task {where} command {description[:40]!r}"
            _check_name(description, label, "description", limits)
            check_value(arguments, label, "arguments", limits)
        start, end, step = arguments.get("start"), arguments.get("end"), arguments.get("step", 1)
        if start.__class__ is int and end.__class__ is int and step.__class__ is int and step > 0 \
                and (end - start) // step >= limits.frames_per_command:
            frames = frame_count(start, end, step)
            raise _over(f"task {where} command {description[:40]!r}", f"{frames} frames ({start} to {end} by {step})",
                        limits.frames_per_command, "frames_per_command",
                        "cut the range into more commands (a smaller packetSize)")


def _check_node(data: Mapping[str, Any], i: int, require_commands: bool, limits: GraphLimits) -> None:
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
        _check_commands(node, where, limits)
        for key in ("runner", "lic", "licence"):
            _check_name(node[key], f"task {where}", key, limits)
        check_max_attempt(node.get("maxAttempt", 1), f"task {where}")
        if (problem := idle_timeout_error(node.get("idleTimeout"))) is not None:
            raise GraphError(f"task {where}: {problem}")
        for key in _TASK_RESOURCE_KEYS:
            check_resource(key, node[key], f"task {where}")
        check_gpus(node.get("gpus", 0), f"task {where}")
    elif kind == "TaskGroup":
        _check_keys(node, _GROUP_KEYS, _GROUP_OPTIONAL_KEYS, f"group {where}")
        try:
            strategy_name(node["strategy"])
        except GraphError as exc:
            raise GraphError(f"group {where}: {exc}") from None
    else:
        raise GraphError(f"{where}: 'type' must be 'Task' or 'TaskGroup', not {kind!r}")
    if not node["name"]:
        raise GraphError(f"{where}: 'name' is empty")
    _check_name(node["name"], where, "name", limits)
    check_max_rn(node["maxRN"], f"{'task' if kind == 'Task' else 'group'} {where}", graph=False)
    check_timer(node.get("timer"), where)
    check_environment(node["environment"], where)
    for key in ("arguments", "environment", "tags", "requirements"):
        if node[key]:
            check_value(node[key], where, key, limits)
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


def _depths(data: Mapping[str, Any], parents: Mapping[int, int], limits: GraphLimits) -> list[int]:
    """Each node's level (the root's is 1), computed once, breadth first from the root: O(size).
    GraphError for a node not under the root (or in a containment loop) and for a graph deeper
    than ``limits.depth``."""
    tasks = data["tasks"]
    root = data["root"]
    depths = [0] * len(tasks)
    depths[root] = 1
    level = [root]
    depth = 1
    while level:
        if depth > limits.depth:
            raise _over(node_label(data, level[0]), f"the graph nests {depth} levels deep here", limits.depth,
                        "depth", "nest fewer groups")
        below: list[int] = []
        for i in level:
            if tasks[i]["type"] == "TaskGroup":
                for child in tasks[i]["tasks"]:
                    depths[child] = depth + 1
                    below.append(child)
        level = below
        depth += 1
    for i, found in enumerate(depths):
        if not found:  # one walk up from the first node left out says why
            ancestor, seen = i, set()
            while ancestor in parents:
                if ancestor in seen:
                    raise GraphError(f"{node_label(data, i)}: group containment loops")
                seen.add(ancestor)
                ancestor = parents[ancestor]
            raise GraphError(f"{node_label(data, i)} is not under the root node")
    return depths


def _find_cycle(data: Mapping[str, Any], parents: Mapping[int, int]) -> list[int] | None:
    """A cycle of 'waits for' edges: a node waits for its own and its ancestors'
    dependencies (a group's dependencies hold for everything inside it), a group
    for its children.

    O(size): rather than an edge from every node to every dependency of every ancestor,
    a node waits for its parent's *inherited waits* (a stand-in node, ``-1 - group``), which
    wait for the group's own dependencies and for its parent's inherited waits. Paths between
    real nodes, hence cycles, are the same; stand-ins are left out of the cycle returned."""
    tasks = data["tasks"]
    edges: dict[int, list[int]] = {}
    for i, node in enumerate(tasks):
        targets = [-1 - parents[i]] if i in parents else []
        targets += [dependency[0] for dependency in node["dependencies"]]
        if node["type"] == "TaskGroup":
            targets += node["tasks"]
            inherited = [-1 - parents[i]] if i in parents else []
            edges[-1 - i] = inherited + [dependency[0] for dependency in node["dependencies"]]
        edges[i] = list(dict.fromkeys(targets))
    white, grey, black = 0, 1, 2
    colour = dict.fromkeys(edges, white)
    for start in range(len(tasks)):
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
                    return [n for n in (*path[path.index(target):], target) if n >= 0]
                if colour[target] == white:
                    colour[target] = grey
                    stack.append((target, 0))
                    path.append(target)
            else:
                colour[node] = black
                stack.pop()
                path.pop()
    return None


def validateRepresentation(data: Any, *, require_commands: bool = True,
                           limits: GraphLimits = DEFAULT_GRAPH_LIMITS) -> None:
    """Check ``data`` against docs/graph-schema.md; raise ``GraphError`` naming the node.

    A dependency cycle raises ``DependencyCycleError`` with the cycle path
    (``->`` reads "waits for"; a group waits for its children, a node for
    its groups' dependencies). ``require_commands=False`` lets a task have no
    command yet (a saved file, before :mod:`puliclient.graphfile` decomposes it).
    ``limits``: the graph limits to check (see the module's docstring).
    """
    if not isinstance(data, dict):
        raise GraphError(f"a graph representation is an object, not {type(data).__name__}")
    _check_keys(data, _TOP_KEYS, {}, "graph")
    where = f"graph '{data['name']}'"
    if not data["name"]:
        raise GraphError("graph: 'name' is empty")
    for key in ("name", "user", "poolName"):
        _check_name(data[key], "graph", key, limits)
    if data["meta"]:
        check_value(data["meta"], where, "meta", limits)
    check_max_rn(data["maxRN"], where, graph=True)
    if not data["tasks"]:
        raise GraphError(f"{where} has no node")
    if len(data["tasks"]) > limits.nodes:
        raise _over(where, f"{len(data['tasks'])} nodes (tasks and groups)", limits.nodes, "nodes",
                    "submit it as several graphs")
    if not 0 <= data["root"] < len(data["tasks"]):
        raise GraphError(f"{where}: root {data['root']} is not in the graph")
    for i in range(len(data["tasks"])):
        _check_node(data, i, require_commands, limits)
    parents = _parents(data)
    _depths(data, parents, limits)
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
