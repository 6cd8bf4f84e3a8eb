"""A task's ``killOnRamOveruse`` edited at run time (``puli-mesh set ID killOnRamOveruse=true``).

The core only carries the flag: each command's ASSIGN takes its task's (``assignment``), and the
render node running it watches its RAM (``puli_mesh.node.ram_watch``). So nothing here runs per
decision or per message.

Guarantees: the edit is pure and deterministic (journalled as a ``set`` edit, replayed by a
successor; a snapshot keeps the flag); it acts on the next commands the tasks start, not on
those already running (their node has the flag it was sent).
Not here: reading the value (``edit_actions``), watching RAM (``puli_mesh.node``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from puli_mesh.coordinator.decisions import Decision
from puli_mesh.coordinator.tree import TreeNode, iter_tasks

log = logging.getLogger(__name__)


class RamOveruseEdits:
    """The core's facade for ``killOnRamOveruse``: a base class of ``SchedulingCore``."""

    _node: Callable[[int], TreeNode]  # CoreViews': the node with that id, or UnknownIdError

    def set_kill_on_ram_overuse(self, node_id: int, value: bool, now: float) -> list[Decision]:
        """Every task under node ``node_id`` gets ``killOnRamOveruse`` ``value`` for the commands it
        starts from now on: a command using more RAM than its ``ramUse`` is killed (True) or only
        reported (False). Decides nothing."""
        node = self._node(node_id)
        for task in iter_tasks(node):
            task.kill_on_ram_overuse = value
        log.info("node %d (%s) killOnRamOveruse now %s", node.id, node.name, value)
        return []
