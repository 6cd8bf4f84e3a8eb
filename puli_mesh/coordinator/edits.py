"""Edits on graphs, task groups, tasks and single commands (the CLI's verbs).

* pause: every task of the subtree that is not DONE is paused: its READY
  commands are not handed out, running ones go on. ``kill=True`` also kills the
  running ones and puts them back to READY without spending an attempt (Puli's
  pauseKill).
* resume: clears the pause of the subtree.
* pause/resume of one command: a paused command keeps its status (READY,
  BLOCKED...) but is not handed out until resumed; ``kill=True`` also stops it
  if it runs (back to READY, no attempt spent). DONE and CANCELED commands
  cannot be paused.
* cancel: every command that is not DONE becomes CANCELED (running ones are
  killed; ERROR ones too, so a cancelled graph reads CANCELED and can be
  archived). Cancelling a subtree that has nothing left to cancel is an
  ``IllegalTransitionError``.
* restart: every command of the subtree goes back to READY/BLOCKED with its
  attempts reset; running ones are killed and run again (a restart means "run
  this again", usually after fixing the input). ``errors_only`` restarts only
  ERROR/TIMEOUT commands. Either way the restart cascades to the nodes that
  depend on the restarted ones (transitively), which get a full restart: their
  results were computed from the old ones.
* dispatchKey, maxRN, pool: take effect at once for new assignments; lowering a
  maxRN never kills anything.
* tags: merged into the node's; a None value removes that tag. Display only.
* timer (any node): the node's own timer; a task may start once its own and every
  ancestor's timer have passed (the latest of the chain holds, as at submission), so a
  group's timer holds back every task under it without overwriting their own (Puli
  copied the group's timer over its tasks'). None clears it. Takes effect at once.
* maxAttempt (a task, or every task under a group or graph, as Puli's was recursive):
  lowering it ends the pending automatic retries of commands that used their attempts
  up (they stay in ERROR); raising it gives the commands that failed for good and now
  have attempts left their retry at once (no delay: a wrangler asked for it).
* ramUse (a task, or every task under a folder): for the next assignments; the task
  moves to the ready index of its new signature. What runs keeps its reservation.
* environment, arguments (any node): merged into the node's like tags (None removes a
  name); every task under it gets them from its next assigned command on. The commands'
  own copies of an edited argument (decomposers copy the task's into each) follow it;
  their own values (a frame range) stay (``set_arguments``).
* name (any node), user (a graph): display and the job's owner; the user is what the
  commands of the job's next assignments run as (``run_as_job_user``).
* command: description and arguments (merged, None removes) for its next run; set
  DONE by hand (a wrangler accepts a frame): a running one is killed first, no
  attempt is counted, and its dependents unblock as for a real DONE.
* restart ``cascade=False``: the restarted commands only; their dependents are left
  as they are (their READY commands wait again while a dependency is unmet).
* archive: only a DONE or CANCELED graph; it leaves the core entirely.
  ``archive_finished`` does it for every such graph that ended before a time.

Not here: render-node edits (``render_node_events``).
"""

from __future__ import annotations

import heapq
import logging
from typing import Any

from puli_mesh.coordinator import dependencies, lifecycle, submission
from puli_mesh.coordinator import pools as pools_mod
from puli_mesh.coordinator.core_shares import account_moved
from puli_mesh.coordinator.state import CoreState
from puli_mesh.coordinator.tree import (
    C_BLOCKED,
    C_CANCELED,
    C_DONE,
    C_ERROR,
    C_HOLDING,
    C_READY,
    C_TIMEOUT,
    N_CANCELED,
    N_DONE,
    PARK_TIMER,
    CommandNode,
    Folder,
    GraphNode,
    TaskNode,
    TreeNode,
    iter_nodes,
    iter_tasks,
)
from puli_mesh.errors import IllegalTransitionError, UnknownPoolError
from puli_mesh.limits import DEFAULT_GRAPH_LIMITS
from puliclient.errors import GraphError
from puliclient.representation import check_max_rn, check_value
from puliclient.status import CMD_STATUS_NAME, NodeStatus

log = logging.getLogger(__name__)


def pause(st: CoreState, node: TreeNode, now: float, kill: bool) -> None:
    for n in iter_nodes(node):
        n.paused = True
        if isinstance(n, TaskNode):
            if kill:
                for c in n.commands:
                    if c.status in C_HOLDING:
                        lifecycle.kill_decision(st, c, "paused")
                        lifecycle.requeue(st, c, now)
            lifecycle.refresh_task(st, n, now)
    log.info("node %d (%s) paused%s", node.id, node.name, " and its commands killed" if kill else "")


def resume(st: CoreState, node: TreeNode, now: float) -> None:
    for n in iter_nodes(node):
        n.paused = False
        if isinstance(n, TaskNode):
            lifecycle.refresh_task(st, n, now)
            lifecycle.make_available(st, n)
    # An ancestor stays "paused" in name only if it has no paused child left.
    p = node.parent
    while p is not None:
        p.paused = False
        p = p.parent
    log.info("node %d (%s) resumed", node.id, node.name)


def cancel(st: CoreState, node: TreeNode, now: float) -> None:
    n = 0
    for t in iter_tasks(node):
        for c in t.commands:
            n += lifecycle.cancel_command(st, c, now)
    if not n:
        raise IllegalTransitionError(
            f"node {node.id} ({node.name!r}) has nothing left to cancel: every command is "
            f"DONE or CANCELED")
    log.info("node %d (%s): %d commands canceled", node.id, node.name, n)


def restart(st: CoreState, node: TreeNode, now: float, errors_only: bool, cascade: bool = True) -> int:
    count = _restart(st, [(node, errors_only)], set(), now, cascade)
    if not count:
        raise IllegalTransitionError(
            f"node {node.id} ({node.name!r}) has nothing to restart"
            + (" (no command in ERROR or TIMEOUT)" if errors_only else " (nothing ran yet)"))
    log.info("node %d (%s): %d commands restarted%s%s", node.id, node.name, count,
             " (errors only)" if errors_only else "", "" if cascade else " (no cascade)")
    return count


def pause_command(st: CoreState, cmd: CommandNode, now: float, kill: bool) -> None:
    if cmd.status in (C_DONE, C_CANCELED):
        raise IllegalTransitionError(f"command {cmd.id} is {CMD_STATUS_NAME[cmd.status]}; "
                                     f"there is nothing to pause")
    cmd.held = True
    if kill and cmd.run is not None:
        lifecycle.kill_decision(st, cmd, "paused")
        lifecycle.requeue(st, cmd, now)
    log.info("command %d paused%s", cmd.id, " and killed" if kill else "")


def resume_command(st: CoreState, cmd: CommandNode, now: float) -> None:
    if not cmd.held:
        raise IllegalTransitionError(f"command {cmd.id} is not paused")
    cmd.held = False
    task = cmd.task
    if cmd.status == C_READY:
        if not cmd.queued:
            heapq.heappush(task.ready, cmd.idx)
            cmd.queued = True
        lifecycle.make_available(st, task)  # it may have left the index while all it had was held
        st.dirty_pools[task.graph.pool] = None
    log.info("command %d resumed", cmd.id)


def restart_one(st: CoreState, cmd: CommandNode, now: float, cascade: bool = True) -> None:
    lifecycle.reset_command(st, cmd, now)
    full: set[int] = set()
    _restart(st, _dependents_of(cmd.task, full) if cascade else [], full, now, cascade)
    log.info("command %d restarted%s", cmd.id, "" if cascade else " (no cascade)")


def _dependents_of(task: TaskNode, full: set[int]) -> list[tuple[TreeNode, bool]]:
    """What depends on this task or on a folder holding it: it ran on old results."""
    out: list[tuple[TreeNode, bool]] = []
    for x in [task, *task.ancestors()]:
        for d in x.rdeps:
            if d.dependent.id not in full:
                full.add(d.dependent.id)
                out.append((d.dependent, False))
    return out


def _restart(st: CoreState, queue: list[tuple[TreeNode, bool]], full: set[int], now: float,
             cascade: bool = True) -> int:
    count = 0
    while queue:
        target, only_errors = queue.pop(0)
        for t in iter_tasks(target):
            n = 0
            for c in t.commands:
                if only_errors:
                    if c.status not in (C_ERROR, C_TIMEOUT):
                        continue
                elif c.status in (C_READY, C_BLOCKED) and c.attempts == 0:
                    continue  # never ran: nothing to reset
                lifecycle.reset_command(st, c, now)
                n += 1
            if n:
                count += n
                if cascade:
                    queue.extend(_dependents_of(t, full))
    dependencies.process(st, now)
    return count


def set_dispatch_key(st: CoreState, node: TreeNode, value: float) -> None:
    """A graph's dispatchKey is its root node's: setting either sets both."""
    node.dispatch_key = value
    g = node.graph
    if node is not g and not (g.children and g.children[0] is node):
        return  # inside a job, order is FIFO by id; the value is kept for display
    if g.children:
        g.children[0].dispatch_key = value
    pool = st.pools[g.pool]
    was_active = g.active
    pools_mod.set_active(g, pool, False)
    g.dispatch_key = value
    pools_mod.set_active(g, pool, was_active)
    pools_mod.push_graph(g, pool)
    st.dirty_pools[g.pool] = None


def set_max_rn(st: CoreState, node: TreeNode, value: int) -> None:
    try:  # the rule of submission, so an edit cannot set what a graph could not be sent with
        check_max_rn(value, f"node {node.id} ({node.name!r})", graph=isinstance(node, GraphNode))
    except GraphError as exc:
        raise IllegalTransitionError(str(exc)) from exc
    node.max_rn = value
    g = node.graph
    pool = st.pools[g.pool]
    if isinstance(node, GraphNode):
        if node.parked and not 0 < value <= node.running:
            node.parked = False
        pools_mod.push_graph(node, pool)  # the tier (user-set maxRN first) may have changed
    elif isinstance(node, Folder):
        lifecycle.wake_folder(st, node)
    elif isinstance(node, TaskNode):
        lifecycle.unpark_task(st, node)
    st.dirty_pools[g.pool] = None


def set_pool(st: CoreState, graph: GraphNode, pool_name: str) -> None:
    if pool_name not in st.pools:
        raise UnknownPoolError(
            f"pool {pool_name!r} is not defined (known: {', '.join(sorted(st.pools))}); define "
            f"it with `puli-mesh pools add {pool_name}`")
    if pool_name == graph.pool:
        return
    old = st.pools[graph.pool]
    pools_mod.detach_graph(graph, old)
    graph.pool = pool_name
    graph.parked = False
    new = st.pools[pool_name]
    new.graphs[graph.id] = graph
    pools_mod.bind_share(graph, new)
    pools_mod.set_active(graph, new, graph.n_ready > 0 or graph.running > 0)
    for t in iter_tasks(graph):
        lifecycle.make_available(st, t)
    st.dirty_pools[pool_name] = None
    log.info("graph %d moved from pool %s to %s", graph.id, old.name, pool_name)


def set_tags(st: CoreState, node: TreeNode, tags: dict[str, object]) -> None:
    for key, value in tags.items():
        if value is None:
            node.tags.pop(str(key), None)
        else:
            node.tags[str(key)] = value
    if isinstance(node, GraphNode):  # a job's project is a tag: its share account may change
        account_moved(st, node)
    log.info("node %d (%s) tags now %s", node.id, node.name, node.tags)


def _limited(where: str, what: str, value: dict[str, Any]) -> None:
    """The submission's size rule for a merged value (default limits: a replayed edit must mean
    the same to every successor)."""
    try:
        check_value(value, where, what, DEFAULT_GRAPH_LIMITS)
    except GraphError as exc:
        raise IllegalTransitionError(str(exc)) from exc


def _merged(current: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    out = dict(current)
    for key, value in changes.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def reinherit(st: CoreState, tasks: list[TaskNode], now: float) -> None:
    """Recompute what ``tasks`` inherit after an edit (``submission.inherit``): a task whose
    signature changed moves to its new queue; one parked on a timer that moved is released
    or waits for the new time."""
    for t in tasks:
        old_sig = t.sig
        if t.bucketed:  # take it out of the bucket of its current signature
            bucket = t.graph.buckets.get(old_sig.id)
            if bucket is not None:
                bucket.tasks = [e for e in bucket.tasks if e[1] is not t]
                heapq.heapify(bucket.tasks)
            t.bucketed = False
        submission.inherit(st, t)
        if t.parked == PARK_TIMER:
            if t.eff_timer is None or t.eff_timer <= now:
                lifecycle.unpark_task(st, t)
            else:  # an earlier time than the entry it waits on; a later one re-parks when that passes
                heapq.heappush(st.timers, (t.eff_timer, t.id))
        lifecycle.make_available(st, t)
        st.dirty_pools[t.graph.pool] = None


def set_timer(st: CoreState, node: TreeNode, value: float | None, now: float) -> None:
    node.timer = value
    reinherit(st, iter_tasks(node), now)
    log.info("node %d (%s) timer now %s", node.id, node.name, value)


def set_max_attempt(st: CoreState, node: TreeNode, value: int, now: float) -> None:
    for t in iter_tasks(node):
        t.max_attempt = value
        for c in t.commands:
            if c.retry_at is not None:
                if c.attempts >= value:
                    lifecycle.clear_retry(c)  # no attempt left: it stays in ERROR
            elif c.status in (C_ERROR, C_TIMEOUT) and c.attempts < value:
                lifecycle.set_completion(c, 0.0)
                lifecycle.set_command_status(st, c, lifecycle.waiting_status(c), now)
        lifecycle.refresh_task(st, t, now)
    log.info("node %d (%s) maxAttempt now %d", node.id, node.name, value)


def set_ram_use(st: CoreState, node: TreeNode, value: int, now: float) -> None:
    tasks = iter_tasks(node)
    for t in tasks:
        t.ram_use = value
    reinherit(st, tasks, now)
    log.info("node %d (%s) ramUse now %d MB", node.id, node.name, value)


def set_environment(st: CoreState, node: TreeNode, changes: dict[str, str | None], now: float) -> None:
    merged = _merged(node.environment, changes)
    _limited(f"node {node.id} ({node.name!r})", "environment", merged)
    node.environment = merged  # type: ignore[assignment]
    reinherit(st, iter_tasks(node), now)
    log.info("node %d (%s) environment edited: %s", node.id, node.name, sorted(changes))


def set_arguments(st: CoreState, node: TreeNode, changes: dict[str, Any], now: float) -> None:
    """Merge ``changes`` into the node's arguments. A decomposer copies its task's arguments into
    every command, and a command's own value wins over the task's: so the commands' copies of an
    edited name (their value equal to the one inherited before) change with it, while values of
    their own (a frame range) stay."""
    merged = _merged(node.arguments, changes)
    _limited(f"node {node.id} ({node.name!r})", "arguments", merged)
    tasks = iter_tasks(node)
    before = [t.merged_args for t in tasks]
    node.arguments = merged
    reinherit(st, tasks, now)
    for t, inherited in zip(tasks, before, strict=True):
        for c in t.commands:
            if c.args is None:
                continue
            own = c.own_arguments()
            copies = {k: v for k, v in changes.items() if k in own and k in inherited and own[k] == inherited[k]}
            if copies:
                _set_own_arguments(c, _merged(own, copies))
    log.info("node %d (%s) arguments edited: %s", node.id, node.name, sorted(changes))


def rename(node: TreeNode, name: str) -> None:
    log.info("node %d renamed from %r to %r", node.id, node.name, name)
    node.name = name


def set_user(st: CoreState, graph: GraphNode, user: str) -> None:
    log.info("graph %d (%s) given from user %r to %r", graph.id, graph.name, graph.user, user)
    graph.user = user
    account_moved(st, graph)
    for t in iter_tasks(graph):
        t.env_cache = {}  # PULI_USER is in it


def edit_command(cmd: CommandNode, description: str | None, changes: dict[str, Any] | None) -> None:
    """A command's description and own arguments, for its next run."""
    if changes:
        merged = _merged(cmd.own_arguments(), changes)
        _limited(f"command {cmd.id}", "arguments", merged)
        _set_own_arguments(cmd, merged)
    if description is not None:
        cmd.description = description
    log.info("command %d edited", cmd.id)


def _set_own_arguments(cmd: CommandNode, arguments: dict[str, Any]) -> None:
    keys = cmd.task.cmd_arg_keys
    if not arguments:
        cmd.args = None
    elif keys and tuple(arguments) == keys:
        cmd.args = tuple(arguments.values())  # the task's key layout, as at submission
    else:
        cmd.args = arguments


def set_command_done(st: CoreState, cmd: CommandNode, now: float) -> None:
    """Accept a command by hand (Puli's ``PUT /commands/<id>`` status DONE)."""
    if cmd.status == C_DONE:
        raise IllegalTransitionError(f"command {cmd.id} is already DONE")
    if cmd.run is not None:
        lifecycle.kill_decision(st, cmd, "set DONE")
        lifecycle.release_run(st, cmd, now)
    lifecycle.clear_retry(cmd)
    cmd.held = False
    lifecycle.set_completion(cmd, 1.0)
    cmd.end_time = now
    lifecycle.set_command_status(st, cmd, C_DONE, now)
    log.info("command %d set DONE by hand", cmd.id)


# Only a graph finished for good leaves the tree: an ERROR graph is kept, since
# its failed commands may still be restarted.
ARCHIVABLE = frozenset({N_DONE, N_CANCELED})


def archive_finished(st: CoreState, before: float) -> list[int]:
    expired = [g for g in st.graphs.values()
               if g.status in ARCHIVABLE and g.end_time is not None and g.end_time < before]
    for g in expired:
        archive(st, g)
    return [g.id for g in expired]


def archive(st: CoreState, graph: GraphNode) -> None:
    if graph.status not in ARCHIVABLE:
        only = " or ".join(NodeStatus(s).name for s in sorted(ARCHIVABLE))
        raise IllegalTransitionError(
            f"graph {graph.id} ({graph.name!r}) is {NodeStatus(graph.status).name}: only {only} "
            f"graphs can be archived; cancel it first")
    pools_mod.detach_graph(graph, st.pools[graph.pool])
    nodes = iter_nodes(graph)
    dependencies.remove_graph_edges(nodes)
    for n in nodes:
        st.nodes.pop(n.id, None)
        if isinstance(n, TaskNode):
            for c in n.commands:
                st.commands.pop(c.id, None)
    del st.graphs[graph.id]
    log.info("graph %d (%s) archived", graph.id, graph.name)

