"""What Tasks and TaskGroups share: name, arguments, environment, tags, dependencies.

``Node`` is internal; users build :class:`~puliclient.task.Task` and
:class:`~puliclient.taskgroup.TaskGroup`. Defaults documented as ``{}`` or
``[DONE]`` are immutable here (``EMPTY``, a tuple) and copied on use, so no
two nodes ever share a dict by accident.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

from puliclient.errors import ConnectionError, GraphError
from puliclient.hierarchical import HierarchicalDict
from puliclient.representation import BY_FRAME_COMMAND_STATUSES
from puliclient.status import NodeStatus, is_status, known_statuses

EMPTY: Mapping[str, Any] = MappingProxyType({})
DEFAULT_END_STATUS: tuple[int, ...] = (NodeStatus.DONE,)


def status_list(statusList: Any, where: str) -> list[int]:
    """``statusList`` as a list of node-status ints; ``ConnectionError`` if malformed."""
    if isinstance(statusList, str | bytes) or not isinstance(statusList, Iterable):
        raise ConnectionError(f"{where}: the status list must be a list, not {statusList!r}")
    statuses = list(statusList)
    if not statuses:
        raise ConnectionError(f"{where}: the status list is empty")
    for status in statuses:
        if not is_status(status, NodeStatus):
            raise ConnectionError(
                f"{where}: {status!r} is not a node status ({known_statuses(NodeStatus)})"
            )
    return [int(status) for status in statuses]


class Node:
    """Common part of Task and TaskGroup."""

    def __init__(
        self,
        name: str,
        arguments: Mapping[str, Any] | None,
        environment: Mapping[str, str] | None,
        tags: Mapping[str, Any] | None,
        timer: float | None,
        priority: int,
        dispatchKey: int,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise GraphError(f"a node name must be a non-empty string, not {name!r}")
        self.name = name
        self.parent: Node | None = None  # the TaskGroup holding this node
        self.arguments = HierarchicalDict(None, arguments)
        self.environment = HierarchicalDict(None, environment)
        self.tags: dict[str, Any] = dict(tags or {})
        self.timer = timer
        self.priority = priority
        self.dispatchKey = dispatchKey
        self.requirements: dict[str, Any] = {}
        self.maxRN = 0
        self.dependencies: dict[Node, list[int]] = {}
        self.frame_sources: set[Node] = set()  # the sources of ``dependencies`` waited for frame by frame

    def dependsOn(self, node: Node, statusList: Iterable[int] = DEFAULT_END_STATUS,
                  byFrame: bool = False) -> None:
        """Wait until ``node`` is in any of ``statusList`` (node statuses, default [DONE]).

        ``byFrame=True``: each command waits only for the commands of ``node`` whose frame
        range (``start``..``end`` arguments) meets its own, whatever the packet sizes; the
        statuses must then be final ones (DONE, ERROR, CANCELED). On a group it holds for
        every task inside it. Where a command of either side has no frame range, the
        dependency is an ordinary whole-node one (see docs/graph-schema.md).
        """
        if not isinstance(node, Node):
            raise ConnectionError(
                f"'{self.name}' can only depend on a Task or a TaskGroup, not {node!r}"
            )
        if node is self:
            raise ConnectionError(f"'{self.name}' cannot depend on itself")
        if not isinstance(byFrame, bool):
            raise ConnectionError(f"dependency of '{self.name}': byFrame must be True or False, "
                                  f"not {byFrame!r}")
        statuses = status_list(statusList, f"dependency of '{self.name}'")
        if byFrame:
            wrong = [s for s in statuses if s not in BY_FRAME_COMMAND_STATUSES]
            if wrong:
                allowed = ", ".join(s.name for s in BY_FRAME_COMMAND_STATUSES)
                raise ConnectionError(f"dependency of '{self.name}': a frame-by-frame dependency "
                                      f"waits for final statuses only ({allowed}), not {wrong!r}")
            self.frame_sources.add(node)
        else:
            self.frame_sources.discard(node)
        self.dependencies[node] = statuses

    def updateTags(self, pTags: Mapping[str, Any]) -> None:
        """Add or overwrite tags."""
        self.tags.update(pTags)

    def setEnv(self, pEnv: Mapping[str, str]) -> None:
        """Replace this node's own environment."""
        self.environment.clear()
        self.environment.update(pEnv)

    def attach_to(self, group: Node) -> None:
        """Make ``group`` (a TaskGroup, which checks the kind) this node's single parent."""
        if self.parent is not None:
            raise GraphError(
                f"'{self.name}' already belongs to group '{self.parent.name}'; "
                "a node has a single parent"
            )
        self.parent = group
        self.arguments.parent = group.arguments
        self.environment.parent = group.environment

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"
