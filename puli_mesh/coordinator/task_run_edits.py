"""Settings a task gives the commands it starts, edited at run time: ``idleTimeout`` (hung
frames) and ``killOnRamOveruse`` (``puli-mesh set ID key=value``, ``Farm.set``).

The core only carries them: each command's ASSIGN takes its task's (``assignment.assign``), and
the render node running it watches its output and progress (``puli_mesh.node.idle``) or its RAM
(``puli_mesh.node.ram_watch``). So nothing here runs per decision or per message, and the leader
watches no command's silence or memory.

Guarantees: the edits are pure and deterministic (journalled as ``set`` edits, replayed by a
successor; a snapshot keeps the values); they act on the next commands the tasks start, not on
those already running (their node has what it was sent).
Not here: validating the values (``edit_actions``, ``puliclient.representation``), watching
commands (``puli_mesh.node``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from puli_mesh.coordinator.decisions import Decision
from puli_mesh.coordinator.tree import TreeNode, iter_tasks

log = logging.getLogger(__name__)


class TaskRunEdits:
    """The core's facade for those settings: a base class of ``SchedulingCore``."""

    _node: Callable[[int], TreeNode]  # CoreViews': the node with that id, or UnknownIdError

    def set_idle_timeout(self, node_id: int, value: float | None, now: float) -> list[Decision]:
        """Every task under node ``node_id`` gets ``idleTimeout`` ``value`` (seconds; 0: off; None:
        the agents' default) for the commands it starts from now on. Decides nothing."""
        return self._set_on_tasks(node_id, "idle_timeout", value, "idleTimeout",
                                  "the agents' default" if value is None else f"{value:g} s")

    def set_kill_on_ram_overuse(self, node_id: int, value: bool, now: float) -> list[Decision]:
        """Every task under node ``node_id`` gets ``killOnRamOveruse`` ``value`` for the commands it
        starts from now on: a command using more RAM than its ``ramUse`` is killed (True) or only
        reported (False). Decides nothing."""
        return self._set_on_tasks(node_id, "kill_on_ram_overuse", value, "killOnRamOveruse", str(value))

    def _set_on_tasks(self, node_id: int, attribute: str, value: Any, key: str, shown: str) -> list[Decision]:
        node = self._node(node_id)
        for task in iter_tasks(node):
            setattr(task, attribute, value)
        log.info("node %d (%s) %s now %s", node.id, node.name, key, shown)
        return []
