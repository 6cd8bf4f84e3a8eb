"""The graph limits in the one schema check: each refused with the node and the limit named,
the check O(size) and free of recursion, and the defaults let a studio's biggest graph pass."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from puli_mesh.limits import MAX_VALUE_NESTING, GraphLimits
from puliclient import Graph, GraphError
from puliclient.representation import plain_data, validateRepresentation


def flat_graph(commands: int = 2) -> dict[str, Any]:
    graph = Graph("job", user="bob")
    task = graph.addNewTask("render", {"cmd": "echo %%MI_FRAME%%", "start": 1, "end": commands})
    assert task is not None
    return graph.prepareGraphRepresentation()


def deep_graph(depth: int) -> dict[str, Any]:
    """A root group, groups nested to ``depth`` levels in all, one task at the bottom."""
    tasks: list[dict[str, Any]] = []
    for i in range(depth - 1):
        tasks.append({"type": "TaskGroup", "name": f"g{i}", "arguments": {}, "environment": {}, "dependencies": [],
                      "requirements": {}, "maxRN": 0, "priority": 0, "dispatchKey": 0, "tags": {},
                      "strategy": "fifo", "tasks": [i + 1]})
    template = flat_graph(1)["tasks"][1]
    tasks.append({**template, "name": "leaf"})
    return {"name": "deep", "meta": {}, "root": 0, "tasks": tasks, "user": "u", "poolName": "default", "maxRN": -1}


def nested(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = {"k": value}
    return value


def test_the_defaults_pass_a_100k_command_graph_quickly() -> None:
    graph = Graph("big", user="bob")
    graph.addNewTask("render", {"cmd": "render -s %%MI_START%% -e %%MI_END%% shot010.ma", "start": 1,
                                "end": 100_000, "packetSize": 1})
    rep = graph.prepareGraphRepresentation()
    started = time.perf_counter()
    validateRepresentation(rep)
    assert time.perf_counter() - started < 5.0  # O(size): about a second on a loaded 2-core VM


@pytest.mark.parametrize(("change", "limits", "fragment"), [
    (lambda rep: None, GraphLimits(nodes=1), re.escape("graph 'job': 2 nodes (tasks and groups), above the limit "
                                                       "of 1 (graph limit 'nodes', the farm's setting graph_nodes)")),
    (lambda rep: None, GraphLimits(commands_per_task=1),
     re.escape("task node 1 ('render'): 2 commands, above the limit of 1")),
    (lambda rep: rep["tasks"][1]["commands"][0]["arguments"].update(end=10**12), GraphLimits(),
     "command 'render_1_1': 1000000000000 frames .* above the limit of 100000 .*frames_per_command"),
    (lambda rep: rep["tasks"][1].update(name="n" * 2000), GraphLimits(), "'name' has 2000 characters, above the limit"),
    (lambda rep: rep.update(user="u" * 2000), GraphLimits(), "graph: 'user' has 2000 characters"),
    (lambda rep: rep["tasks"][1]["tags"].update(note="x" * 100), GraphLimits(string_length=50),
     "node 1 .*tags holds a string of 100 characters, above the limit of 50"),
    (lambda rep: rep["meta"].update(big=list(range(20))), GraphLimits(value_items=10),
     "meta holds more than 10 items"),
    (lambda rep: rep["tasks"][1]["arguments"].update(deep=nested(MAX_VALUE_NESTING)), GraphLimits(),
     f"node 1 .*arguments: lists and maps nest more than {MAX_VALUE_NESTING} levels deep"),
])
def test_each_limit_is_refused_naming_the_node_and_the_limit(change: Any, limits: GraphLimits, fragment: str) -> None:
    rep = flat_graph()
    change(rep)
    with pytest.raises(GraphError, match=fragment):
        validateRepresentation(rep, limits=limits)


def test_depth_is_a_limit_and_a_deep_graph_is_checked_without_recursion() -> None:
    validateRepresentation(deep_graph(64))
    with pytest.raises(GraphError, match=r"node 64 \('leaf'\): the graph nests 65 levels deep here, above the "
                                         "limit of 64"):
        validateRepresentation(deep_graph(65))
    started = time.perf_counter()
    validateRepresentation(deep_graph(5_000), limits=GraphLimits(depth=10_000))  # far past the recursion limit
    assert time.perf_counter() - started < 5.0  # was O(size x depth): 25M steps


def test_a_cycle_through_the_hierarchy_is_still_found_in_o_size() -> None:
    rep = deep_graph(2_000)
    rep["tasks"][0]["dependencies"] = [[1999, [3]]]  # the root waits for the leaf inside it
    with pytest.raises(GraphError, match="dependency cycle"):
        validateRepresentation(rep, limits=GraphLimits(depth=5_000))


def test_plain_data_is_built_without_recursion_and_bounded() -> None:
    value = {"a": (1, [2, {"b": (3,)}]), "c": "d"}
    assert plain_data(value, "here") == {"a": [1, [2, {"b": [3]}]], "c": "d"}
    assert list(plain_data({"z": 1, "a": [2]}, "here")) == ["z", "a"]  # order kept
    assert plain_data(nested(MAX_VALUE_NESTING - 1), "here") == nested(MAX_VALUE_NESTING - 1)
    with pytest.raises(GraphError, match=f"here: lists and maps nest more than {MAX_VALUE_NESTING} levels"):
        plain_data(nested(5_000), "here")
    with pytest.raises(GraphError, match="key 1 is not a string"):
        plain_data({"a": {1: 2}}, "here")
