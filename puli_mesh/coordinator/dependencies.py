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

Frame-by-frame dependencies (``[index, [statuses], {"byFrame": true}]``): each command of
the dependent task waits only for the commands of the source (a task, or every task of a
group) whose frame range (``start``..``end`` arguments, the command's own over its task's)
meets its own, whatever the packet sizes on each side; the statuses are final node statuses,
met per source command by ``puliclient.representation.BY_FRAME_COMMAND_STATUSES``.

* The index is built once at submit (:func:`install_by_frame`): the source ranges sorted by
  start with the running maximum of their ends, so each dependent command finds the source
  commands meeting it by bisection. A change of a source command (``lifecycle`` queues the
  command in ``dep_queue``) then touches only the dependent commands it covers.
* A command is BLOCKED while its task is blocked (whole-node dependencies) or while
  ``task.frame_wait`` counts an unmet source command covering its frames.
* A dependency on a group holds for each task inside it (one edge per task: the client's
  push-down of group dependencies does not double it).
* Fallback: when a command of either side has no frame range, the dependency is installed
  as an ordinary whole-node one (what it would be without ``byFrame``).
* Restarts: a source command that is no longer met (restarted, retried) blocks again the
  dependent commands it covers that had not started (READY); those that had started or
  finished are left as they are, unless the restart cascades (the default), which restarts
  the whole dependent task as for any dependency (``edits``).

* The frame ranges are read once, at submit: a later edit of a command's ``start``/``end``
  does not move what it waits for (nor what waits for it).

Not here: cycle detection (``submission``), status rules (``tree``).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from itertools import accumulate

from puli_mesh.coordinator.lifecycle import set_command_status
from puli_mesh.coordinator.state import CoreState
from puli_mesh.coordinator.tree import (
    C_BLOCKED,
    C_READY,
    N_FINAL,
    CommandNode,
    TaskNode,
    TreeNode,
    iter_tasks,
)
from puliclient.representation import BY_FRAME_COMMAND_STATUSES, frame_range
from puliclient.status import NodeStatus


class Dependency:
    """A whole-node dependency: ``dependent`` waits until ``source`` is in one of ``statuses``."""

    __slots__ = ("source", "dependent", "statuses", "met")
    by_frame = False

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
        wait = t.frame_wait
        for c in t.commands:
            if c.status == C_BLOCKED and not (wait and c.idx in wait):
                set_command_status(st, c, C_READY, now)


def process(st: CoreState, now: float) -> None:
    """Re-check the dependents of every node whose status changed, until stable."""
    q = st.dep_queue
    while q:
        src = q.popleft()
        if src.__class__ is CommandNode:
            _source_command_changed(st, src, now)  # type: ignore[arg-type]
            continue
        status = src.status
        for d in src.rdeps:
            if d.by_frame:
                continue  # met per source command, not by the node's status
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
        if isinstance(n, TaskNode):
            n.frame_rdeps = []
            n.frame_wait = {}


# ------------------------------------------------------------------ frame by frame
class FrameDependency:
    """A frame-by-frame edge from the task ``dependent`` to ``source`` (a task or a group).

    ``blocks``: source command id -> the dependent commands whose frames it meets (only
    source commands that meet some); ``unmet``: the ids of those not met now (a dict, for
    a deterministic order).
    """

    __slots__ = ("source", "dependent", "statuses", "accepts", "blocks", "unmet")
    by_frame = True

    def __init__(self, source: TreeNode, dependent: TaskNode, statuses: frozenset[int]) -> None:
        self.source = source
        self.dependent = dependent
        self.statuses = statuses
        self.accepts = frozenset(int(c) for s in statuses for c in BY_FRAME_COMMAND_STATUSES[NodeStatus(s)])
        self.blocks: dict[int, list[CommandNode]] = {}
        self.unmet: dict[int, None] = {}

    @property
    def met(self) -> bool:
        return not self.unmet

    @property
    def unmeetable(self) -> bool:
        return not self.met and self.source.status in N_FINAL

    def command_met(self, cmd: CommandNode) -> bool:
        """A failed command waiting for its retry is not (yet) in its final status."""
        return cmd.status in self.accepts and cmd.retry_at is None


def command_frames(cmd: CommandNode) -> tuple[int, int] | None:
    """The frames a command covers: its own ``start``/``end`` arguments over its task's."""
    own = cmd.own_arguments()
    merged = cmd.task.merged_args
    return frame_range(own["start"] if "start" in own else merged.get("start"),
                       own["end"] if "end" in own else merged.get("end"))


def install_by_frame(dependent: TreeNode, source: TreeNode, statuses: frozenset[int]) -> None:
    """The frame-by-frame edges of ``dependent`` (each task under it) on ``source``, with
    their waits counted as the commands stand now (at submit, and on restore, where the
    stored statuses already agree). Statuses are not changed here: :func:`block_waiting`.
    Falls back to :func:`install` when a command of either side has no frame range."""
    sources = [c for t in iter_tasks(source) for c in t.commands]
    ranges = [command_frames(c) for c in sources]
    known = None not in ranges
    order = sorted(range(len(sources)), key=lambda k: ranges[k][0]) if known else []  # type: ignore[index]
    starts = [ranges[k][0] for k in order]  # type: ignore[index]
    reach = list(accumulate((ranges[k][1] for k in order), max))  # type: ignore[index]
    by_id = {c.id: c for c in sources}
    for t in iter_tasks(dependent):
        if any(d.source is source and d.statuses == statuses for d in t.deps):
            continue  # the same edge, pushed down from a group by the client
        own = [command_frames(c) for c in t.commands]
        if not known or None in own:
            install(t, source, statuses)
            continue
        d = FrameDependency(source, t, statuses)
        for c, (first, last) in zip(t.commands, own, strict=True):  # type: ignore[misc]
            for k in range(bisect_left(reach, first), bisect_right(starts, last)):
                s = order[k]
                if ranges[s][1] >= first:  # type: ignore[index]
                    d.blocks.setdefault(sources[s].id, []).append(c)
        wait = t.frame_wait
        for sid, covered in d.blocks.items():
            if not d.command_met(by_id[sid]):
                d.unmet[sid] = None
                for c in covered:
                    wait[c.idx] = wait.get(c.idx, 0) + 1
        t.deps.append(d)
        source.rdeps.append(d)
        for st_task in iter_tasks(source):
            st_task.frame_rdeps.append(d)


def block_waiting(st: CoreState, task: TaskNode, now: float) -> None:
    """BLOCK the READY commands of ``task`` that wait for source frames (at submit)."""
    for idx in task.frame_wait:
        c = task.commands[idx]
        if c.status == C_READY:
            set_command_status(st, c, C_BLOCKED, now)


def _source_command_changed(st: CoreState, cmd: CommandNode, now: float) -> None:
    """Re-check the frame-by-frame edges ``cmd`` is a source of; (un)block what it covers."""
    for d in cmd.task.frame_rdeps:
        covered = d.blocks.get(cmd.id)
        if covered is None:
            continue
        met = d.command_met(cmd)
        if met != (cmd.id in d.unmet):
            continue  # no change for this edge
        if met:
            del d.unmet[cmd.id]
        else:
            d.unmet[cmd.id] = None
        for c in covered:
            _wait_delta(st, c, -1 if met else 1, now)


def _wait_delta(st: CoreState, c: CommandNode, delta: int, now: float) -> None:
    t = c.task
    wait = t.frame_wait
    n = wait.get(c.idx, 0) + delta
    if n:
        wait[c.idx] = n
        if delta == 1 and c.status == C_READY:  # not started: it waits again
            set_command_status(st, c, C_BLOCKED, now)
    else:
        del wait[c.idx]
        if c.status == C_BLOCKED and not t.blocked:
            set_command_status(st, c, C_READY, now)
