"""The run-time edit of a task's GPUs (``puli-mesh set ID gpus=N``), and its place in the core's facade.

:class:`GpuEdits` is a base class of :class:`~puli_mesh.coordinator.core.SchedulingCore` (as
``core_views.CoreViews`` is), so the facade stays one object while ``core`` stays short.

Guarantees: pure, like every edit: time is an argument, the same edit on the same state gives the
same state (a successor replays it from the journal). The new figure counts from each task's next
assignment: a running command keeps the GPUs it booked (as with ``ramUse``).

Not here: checking the value (``edit_actions``, with ``puliclient.representation.check_gpus``),
booking GPUs (``render_nodes``, ``assignment``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from puli_mesh.coordinator.edits import reinherit
from puli_mesh.coordinator.state import CoreState
from puli_mesh.coordinator.tree import TreeNode, iter_tasks

if TYPE_CHECKING:
    from puli_mesh.coordinator.decisions import Decision

log = logging.getLogger(__name__)


def set_gpus(st: CoreState, node: TreeNode, value: int, now: float) -> None:
    """Every task under ``node`` books ``value`` GPUs per command (a new signature: the ready
    index moves its work to the nodes that have them)."""
    tasks = iter_tasks(node)
    for t in tasks:
        t.gpus = value
    reinherit(st, tasks, now)
    log.info("node %d (%s) gpus now %d", node.id, node.name, value)


class GpuEdits:
    """The core's GPU edit (module docstring)."""

    _st: CoreState
    if TYPE_CHECKING:
        def _edit(self, now: float, edit: Callable[..., None], *args: Any) -> list[Decision]: ...
        def _node(self, node_id: int) -> TreeNode: ...

    def set_gpus(self, node_id: int, value: int, now: float) -> list[Decision]:
        return self._edit(now, set_gpus, self._node(node_id), value)
