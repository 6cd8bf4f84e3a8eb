"""Dependencies: a node waits (BLOCKED) until each node it depends on is in one
of the listed node statuses.

* A dependency of a task group applies to everything inside it: a task is
  blocked while its own dependencies or any ancestor's are unmet.
* Event-driven: when a node's status changes (``lifecycle.set_node_status``
  queues it) only its reverse dependencies are re-checked. A dependency that
  stops being met (the source was restarted) blocks the dependent's READY
  commands again; running commands are never touched.
* The initial blocked state is computed at submit (:func:`install`), before any
  command can be assigned (Puli left new dependents READY for one cycle).

Unmeetable dependencies (deliberate choice): when a source ends in a final
status that is not listed (e.g. it failed but the dependent wanted DONE), the
dependent simply stays BLOCKED; nothing is cancelled, the rest of the graph
runs to its end, and a restart of the source (or a cancel of the dependent)
resolves it. Such a dependency is reported as ``unmeetable`` in queries. With
the folder precedence of ``tree`` the graph then reads ERROR if the source
failed, BLOCKED if it was cancelled or finished in an unlisted status; it is not
"finished" (DONE/CANCELED) until someone acts, because its blocked commands are
not final. We prefer that to silently cancelling work a user may still want.

Not here: cycle detection (``submission``), status rules (``tree``).
"""

from __future__ import annotations

from puli_mesh.coordinator.lifecycle import set_command_status
from puli_mesh.coordinator.state import CoreState
from puli_mesh.coordinator.tree import C_BLOCKED, C_READY, N_FINAL, TaskNode, TreeNode, iter_tasks


class Dependency:
    __slots__ = ("source", "dependent", "statuses", "met")

    def __init__(self, source: TreeNode, dependent: TreeNode, statuses: frozenset[int]) -> None:
        self.source = source
        self.dependent = dependent
        self.statuses = statuses
        self.met = False

    @property
    def unmeetable(self) -> bool:
        return not self.met and self.source.status in N_FINAL


def effectively_blocked(node: TreeNode) -> bool:
    n: TreeNode | None = node
    while n is not None:
        if n.unmet:
            return True
        n = n.parent
    return False


def install(dependent: TreeNode, source: TreeNode, statuses: frozenset[int]) -> Dependency:
    """Create an edge and count it against the dependent if unmet right now."""
    d = Dependency(source, dependent, statuses)
    d.met = source.status in statuses
    if not d.met:
        dependent.unmet += 1
    dependent.deps.append(d)
    source.rdeps.append(d)
    return d


def apply_block_state(st: CoreState, node: TreeNode, now: float) -> None:
    """Block or release the commands of every task under ``node`` as its deps say."""
    for t in iter_tasks(node):
        _apply_task(st, t, now)


def _apply_task(st: CoreState, t: TaskNode, now: float) -> None:
    blocked = effectively_blocked(t)
    if blocked == t.blocked:
        return
    t.blocked = blocked
    if blocked:
        for c in t.commands:
            if c.status == C_READY:
                set_command_status(st, c, C_BLOCKED, now)
    else:
        for c in t.commands:
            if c.status == C_BLOCKED:
                set_command_status(st, c, C_READY, now)


def process(st: CoreState, now: float) -> None:
    """Re-check the dependents of every node whose status changed, until stable."""
    q = st.dep_queue
    while q:
        src = q.popleft()
        status = src.status
        for d in src.rdeps:
            met = status in d.statuses
            if met == d.met:
                continue
            d.met = met
            dep = d.dependent
            was_free = dep.unmet == 0
            dep.unmet += -1 if met else 1
            if (dep.unmet == 0) != was_free:
                apply_block_state(st, dep, now)


def remove_graph_edges(nodes: list[TreeNode]) -> None:
    """Forget the edges of archived nodes (dependencies never cross graphs)."""
    for n in nodes:
        n.deps = []
        n.rdeps = []
