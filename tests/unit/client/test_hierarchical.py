"""The one inheritance rule (nearest value wins) and HierarchicalDict's view of it."""

from __future__ import annotations

import pytest

from puliclient import Graph
from puliclient.hierarchical import HierarchicalDict, merge_inherited, resolved_command
from puliclient.representation import parent_indices


def nested_graph() -> Graph:
    graph = Graph("g")
    graph.root.arguments.update(x="root", y="root")
    graph.root.environment.update(E="root")
    sub = graph.addNewTaskGroup("sub", arguments={"x": "sub"}, environment={"E": "sub", "F": "sub"})
    sub.addNewTask("t", {"y": "task", "start": 1, "end": 2}, environment={"F": "task"})
    graph.addNewTask("u", {"z": "u"})
    return graph


def test_merge_inherited_lets_the_nearest_layer_win():
    root, group, task = {"a": "root", "b": "root"}, {"b": "group", "c": "group"}, {"c": "task"}
    assert merge_inherited([root, group, task]) == {"a": "root", "b": "group", "c": "task"}
    assert merge_inherited([]) == {}
    assert root == {"a": "root", "b": "root"}  # the layers are left as they were


def test_flattened_hierarchical_dict_follows_the_same_rule():
    root = HierarchicalDict(None, {"a": "root", "b": "root"})
    group = HierarchicalDict(root, {"b": "group"})
    task = HierarchicalDict(group, {"c": "task"})
    assert task.flattened() == merge_inherited([root, group, task])
    assert task["a"] == "root" and dict(task) == {"c": "task"}


def test_resolved_command_is_the_same_rule_with_the_command_nearest():
    data = nested_graph().prepareGraphRepresentation()
    parents = parent_indices(data)
    for i, node in enumerate(data["tasks"]):
        if node["type"] != "Task":
            continue
        chain = [i]
        while chain[-1] in parents:
            chain.append(parents[chain[-1]])
        layers = [data["tasks"][j] for j in reversed(chain)]
        for c, command in enumerate(node["commands"]):
            resolved = resolved_command(data, parents, i, c)
            assert resolved["arguments"] == merge_inherited(
                [*(n["arguments"] for n in layers), command["arguments"]])
            assert resolved["environment"] == merge_inherited([n["environment"] for n in layers])
    t = next(i for i, n in enumerate(data["tasks"]) if n["name"] == "t")
    resolved = resolved_command(data, parents, t, 1)
    assert resolved["arguments"] == {"x": "sub", "y": "task", "start": 2, "end": 2}
    assert resolved["environment"] == {"E": "sub", "F": "task"}


def test_a_key_is_found_up_a_chain_deeper_than_the_stack():
    chain = HierarchicalDict(None, {"root": 1})
    for i in range(1000):  # at Python's default recursion limit
        chain = HierarchicalDict(chain, {f"k{i}": i})
    assert chain["root"] == 1 and chain["k0"] == 0 and chain["k999"] == 999
    with pytest.raises(KeyError):
        chain["nowhere"]
    assert chain.flattened()["k500"] == 500
