"""Hung frames on the coordinator's side: a task's ``idleTimeout``, kept and edited at run time.

The core only carries the value: each command's ASSIGN takes its task's (``assignment.assign``),
and the render node running it watches its output and progress (``puli_mesh.node.idle``). So
nothing here runs per decision or per message, and the leader watches no command's silence.

Guarantees: the edit is pure and deterministic (journalled, replayed by a successor); it acts
on the next commands the tasks start, not on those already running (their node has the value
it was sent).
Not here: validating the value (``edit_actions``, ``puliclient.representation``), watching
commands (``puli_mesh.node``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from puli_mesh.coordinator.decisions import Decision
from puli_mesh.coordinator.tree import TreeNode, iter_tasks

log = logging.getLogger(__name__)


class IdleTimeoutEdits:
    """The core's facade for ``idleTimeout``: a base class of ``SchedulingCore``."""

    _node: Callable[[int], TreeNode]  # CoreViews': the node with that id, or UnknownIdError

    def set_idle_timeout(self, node_id: int, value: float | None, now: float) -> list[Decision]:
        """Every task under node ``node_id`` gets ``idleTimeout`` ``value`` (seconds; 0: off; None:
        the agents' default) for the commands it starts from now on. Decides nothing."""
        node = self._node(node_id)
        for task in iter_tasks(node):
            task.idle_timeout = value
        log.info("node %d (%s) idleTimeout now %s", node.id, node.name,
                 "the agents' default" if value is None else f"{value:g} s")
        return []
