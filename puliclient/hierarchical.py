"""Inheritance down the graph: the one "nearest value wins" rule, and ``HierarchicalDict``.

Guarantees: :func:`merge_inherited` is the only place that decides how
arguments, environment and requirements are inherited (the client's
``HierarchicalDict.flattened``, :func:`resolved_command` (a graph representation's) and
the coordinator's build of a submitted graph all call it): layers are merged
from the farthest (the root group) to the nearest (the task, then the
command), so the nearest value wins (docs/graph-schema.md).

Puli's ``HierarchicalDict`` semantics are kept: ``d[key]`` falls back to the
parent group's dict, but ``get``, ``in``, ``copy``, iteration and
serialisation see the dict's own keys only, so the representation carries
each node's own values and the inheritance is resolved where the command runs.

Not here: tasks, groups, commands; this module knows only mappings.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

Value = TypeVar("Value")


def merge_inherited(layers: Iterable[Mapping[str, Value]]) -> dict[str, Value]:
    """``layers`` merged, the farthest (root) first: a key takes its nearest layer's value."""
    merged: dict[str, Value] = {}
    for layer in layers:
        merged.update(layer)
    return merged


class HierarchicalDict(dict[str, Any]):
    """A dict whose missing keys are looked up in ``parent`` (``d[key]`` only)."""

    def __init__(
        self,
        parent: HierarchicalDict | None = None,
        values: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(values or {})
        self.parent = parent

    def __missing__(self, key: str) -> Any:
        # Up the chain in a loop: a group may be nested deeper than Python's stack.
        node = self.parent
        while node is not None:
            if dict.__contains__(node, key):
                return dict.__getitem__(node, key)
            node = node.parent
        raise KeyError(key)

    def flattened(self) -> dict[str, Any]:
        """Own keys merged over every ancestor's: the nearest value wins."""
        chain: list[HierarchicalDict] = []
        node: HierarchicalDict | None = self
        while node is not None:
            chain.append(node)
            node = node.parent
        return merge_inherited(reversed(chain))


# ------------------------------------------------------ a submitted graph's commands
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
