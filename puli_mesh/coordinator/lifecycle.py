"""Command and node transitions: the only code that changes a status.

Every change goes through :func:`set_command_status` or :func:`set_node_status`,
which keep the tree's counters exact, propagate statuses up to the graph,
queue dependency re-checks and put newly READY work into the ready index. The
rest of the core calls the named transitions below:

* :func:`finish` -- a holding command ended (DONE/ERROR/TIMEOUT/CANCELED):
  frees its slot, cores, RAM and licences, counts the attempt, schedules an
  automatic retry (``retry_delay_s``) while attempts remain, updates the node's
  failure streak (quarantine), what avoids the node now (``sick_hosts``) and the
  time-per-frame figures;
* :func:`requeue` -- the command lost its node (node gone, pause-and-kill,
  worker refused it): back to READY without spending an attempt;
* :func:`cancel_command`, :func:`reset_command` -- edits, with a ``Kill``
  decision when the command holds a node.

Guarantees: a status change climbs the tree in a loop, never by recursion, so a graph
nested at any depth propagates to its root.

Not here: choosing work (``assignment``), dependency bookkeeping
(``dependencies``).
"""

from __future__ import annotations

import heapq
import logging

from puli_mesh.coordinator import pools as pools_mod
from puli_mesh.coordinator import quotas, sick_hosts
from puli_mesh.coordinator.decisions import Kill
from puli_mesh.coordinator.render_nodes import give_back_gpus
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
    N_ERROR,
    N_FINAL,
    N_RUNNING,
    PARK_GROUP_CAP,
    PARK_NONE,
    PARK_TASK_CAP,
    PARK_TIMER,
    CommandNode,
    Folder,
    TaskNode,
    TreeNode,
    folder_status,
    frames_of,
    task_status,
)
from puli_mesh.hooks import COMMAND_FAILED, JOB_CANCELED, JOB_DONE, JOB_ERROR, NODE_QUARANTINED
from puliclient.representation import BY_FRAME_COMMAND_STATUSES
from puliclient.status import CommandStatus, NodeStatus

log = logging.getLogger(__name__)

FRAME_MEETING = frozenset(int(c) for meeting in BY_FRAME_COMMAND_STATUSES.values() for c in meeting)
"""The command statuses that may meet a frame-by-frame dependency (final ones): a source
command's change between two others (READY, ASSIGNED, RUNNING...) meets none and unmeets none."""


# ----------------------------------------------------------------- statuses
def set_command_status(st: CoreState, cmd: CommandNode, new: int, now: float) -> None:
    old = cmd.status
    if old == new:
        return
    task = cmd.task
    counts = task.counts
    counts[old] -= 1
    counts[new] += 1
    cmd.status = new
    cmd.update_time = now
    if task.frame_rdeps and (old in FRAME_MEETING or new in FRAME_MEETING):
        st.dep_queue.append(cmd)  # a source of frame-by-frame dependencies: ``dependencies`` re-checks it
    g = task.graph
    if new == C_READY:
        g.n_ready += 1
        if not g.active:
            pools_mod.set_active(g, st.pools[g.pool], True)
        if not cmd.queued:
            heapq.heappush(task.ready, cmd.idx)
            cmd.queued = True
        if not task.bucketed and not st.building:
            make_available(st, task)
    elif old == C_READY:
        g.n_ready -= 1
        if g.n_ready == 0 and g.running == 0 and not st.building:
            pools_mod.set_active(g, st.pools[g.pool], False)
        if new in C_HOLDING and task.status == N_RUNNING:
            return  # one more holding command in a running task: it stays RUNNING
    elif old in C_HOLDING and new in C_HOLDING:
        return  # ASSIGNED -> RUNNING -> FINISHING: the task's status cannot change
    s = task_status(task)
    if s != task.status:
        set_node_status(st, task, s, now)


def set_node_status(st: CoreState, node: TreeNode, new: int, now: float) -> None:
    """Set ``node``'s status and carry the change up through every ancestor it changes.

    A loop, not recursion: a graph may be nested deeper than Python's stack. Dependents
    are queued child first, as each level changes.
    """
    while True:
        old = node.status
        node.status = new
        if new == N_RUNNING and node.start_time is None:
            node.start_time = now
        node.end_time = now if new in N_FINAL else None
        if node.rdeps:
            st.dep_queue.append(node)
        p = node.parent
        if p is None:
            if new in JOB_EVENT_OF:  # a job ended: rare next to the changes above, so the test is cheap
                job_event(st, node, JOB_EVENT_OF[new], now)
            return
        cc = p.child_counts
        cc[old] -= 1
        cc[new] += 1
        new = folder_status(p)
        if new == p.status:
            return
        node = p


JOB_EVENT_OF = {N_DONE: JOB_DONE, N_ERROR: JOB_ERROR, N_CANCELED: JOB_CANCELED}
"""The hook event of a job (a graph) entering each of these statuses."""


def job_event(st: CoreState, graph: TreeNode, kind: str, now: float) -> None:
    """Note that ``graph`` (a root: a job) ended, for the hooks (``hook_events``)."""
    st.events.add(kind, now, job_id=graph.id, job_name=graph.name, user=getattr(graph, "user", None),
                  pool=getattr(graph, "pool", None), status=NodeStatus(graph.status).name)


def refresh_task(st: CoreState, task: TaskNode, now: float) -> None:
    s = task_status(task)
    if s != task.status:
        set_node_status(st, task, s, now)


def waiting_status(cmd: CommandNode) -> int:
    """Where a command goes when it may run again: BLOCKED while its task's dependencies or
    the source commands covering its frames are unmet."""
    task = cmd.task
    return C_BLOCKED if task.blocked or (task.frame_wait and cmd.idx in task.frame_wait) else C_READY


# ------------------------------------------------------------ ready index
def make_available(st: CoreState, task: TaskNode) -> None:
    """Put the task in its pool's ready index if it has READY work and nothing parks it."""
    if task.bucketed or task.paused or task.parked != PARK_NONE or not task.counts[C_READY]:
        return
    g = task.graph
    pools_mod.add_task(task, st.pools[g.pool])
    st.dirty_pools[g.pool] = None


def wake_folder(st: CoreState, folder: Folder) -> None:
    """A folder went below its maxRN: its parked tasks may run again."""
    tasks = folder.parked_tasks
    folder.parked_tasks = []
    for t in tasks:
        if t.parked == PARK_GROUP_CAP:
            t.parked = PARK_NONE
            make_available(st, t)


def unpark_task(st: CoreState, task: TaskNode) -> None:
    if task.parked in (PARK_TASK_CAP, PARK_TIMER):
        task.parked = PARK_NONE
    make_available(st, task)


def timers_due(st: CoreState, now: float) -> None:
    timers = st.timers
    while timers and timers[0][0] <= now:
        _at, tid = heapq.heappop(timers)
        task = st.nodes.get(tid)
        if isinstance(task, TaskNode) and task.parked == PARK_TIMER:
            task.parked = PARK_NONE
            make_available(st, task)


# ---------------------------------------------------------------- holding
def hold_delta(task: TaskNode, delta: int) -> None:
    n: TreeNode | None = task
    while n is not None:
        n.running += delta
        n = n.parent


def release_run(st: CoreState, cmd: CommandNode, now: float) -> None:
    """Give back everything the command holds: slot, cores, RAM, licences, maxRN.

    The command waiting right behind it on the node (pipelining) moves up: into
    its slot, with its cores and RAM (same task, same needs), or behind what it
    was itself waiting for -- exactly what the worker does with its queue.
    """
    run = cmd.run
    if run is None:
        return
    cmd.run = None
    node = run.node
    node.running.pop(cmd.id, None)
    node.used_cores -= run.cores
    node.used_ram -= run.ram_mb
    gpus = run.gpus  # given back unless a follower takes the slot with them
    follower = None
    if node.followers:  # pipelining: it waited behind one, or one waits behind it
        if run.after and node.followers.get(run.after) is run:
            del node.followers[run.after]
        follower = node.followers.pop(cmd.id, None)
    if follower is not None:
        if run.after:
            follower.after = run.after
            node.followers[run.after] = follower
        else:
            follower.after = 0
            follower.cores, follower.ram_mb, follower.gpus = run.cores, run.ram_mb, gpus
            gpus = ()
            follower.assigned_at = now
            node.used_cores += run.cores
            node.used_ram += run.ram_mb
    if gpus:
        give_back_gpus(node, gpus)
    if run.licences:
        st.licences.release(run.licences, node.name)
        st.mark_all_pools_dirty()
    task = cmd.task
    n: TreeNode | None = task
    while n is not None:  # hold_delta(task, -1), inlined: once per command end
        n.running -= 1
        n = n.parent
    g = task.graph
    if g.share is not None:
        g.share.charge(-1)
    if st.quotas:
        quotas.charge(st, g, -1)
    pool = st.pools[g.pool]
    if task.parked == PARK_TASK_CAP and not 0 < task.max_rn <= task.running:
        task.parked = PARK_NONE
        make_available(st, task)
    p = task.parent
    while p is not None and p is not g:
        if p.parked_tasks and not 0 < p.max_rn <= p.running:
            wake_folder(st, p)
        p = p.parent
    if g.parked and not 0 < g.max_rn <= g.running:
        g.parked = False
    pools_mod.push_graph(g, pool, better=True)
    if g.running == 0 and g.n_ready == 0:
        pools_mod.set_active(g, pool, False)
    if pool.waiting:  # only nodes already waiting need the offer; others ask themselves
        st.dirty_pools[g.pool] = None
    if node.credit > 0 and node.can_take_work():  # it had credit but no room: offer it work again
        for name in node.pools:
            pool_n = st.pools.get(name)
            if pool_n is not None:
                pool_n.add_waiting(node.name, node.performance)
            st.dirty_pools[name] = None


def set_completion(cmd: CommandNode, value: float) -> None:
    cmd.task.completion_sum += value - cmd.completion
    cmd.completion = value


def clear_retry(cmd: CommandNode) -> None:
    if cmd.retry_at is not None:
        cmd.retry_at = None
        cmd.task.n_retry -= 1


# ------------------------------------------------------------- transitions
def finish(st: CoreState, cmd: CommandNode, status: int, now: float, message: str | None) -> None:
    """A holding command ended with a final status."""
    run = cmd.run
    node = run.node if run is not None else None
    started = cmd.start_time if cmd.start_time is not None else (
        run.assigned_at if run is not None else now)
    # A short command's start may never be reported (its worker sends the end alone): it
    # started no later than it was assigned, which is what its times then say.
    cmd.start_time = started
    release_run(st, cmd, now)
    cmd.end_time = now
    if message is not None:
        cmd.message = message
    task = cmd.task
    if status == C_DONE:
        cmd.attempts += 1
        task.completion_sum += 1.0 - cmd.completion  # set_completion(cmd, 1.0), inlined
        cmd.completion = 1.0
        took = now - started
        if took < 0.0:
            took = 0.0
        task.done_n += 1
        task.done_s += took
        if node is not None:
            node.fail_streak = 0
        if st.sick.commands:
            sick_hosts.forget_command(st.sick, cmd.id)
        step = task.merged_args.get("step")
        own = cmd.args
        if own is not None and (own.__class__ is dict or "step" in task.cmd_arg_keys):
            step = cmd.own_arguments().get("step", step)
        frames = frames_of(cmd.description, step)
        if frames:  # on the task only: a folder's figures are summed when asked (queries)
            per_frame = took / frames
            task.frames_n += frames
            task.tpf_sum += took
            if task.tpf_min is None or per_frame < task.tpf_min:
                task.tpf_min = per_frame
            if task.tpf_max is None or per_frame > task.tpf_max:
                task.tpf_max = per_frame
    elif status in (C_ERROR, C_TIMEOUT):
        cmd.attempts += 1
        if node is not None:
            node.fail_streak += 1
            if node.fail_streak >= st.settings.quarantine_after and not node.quarantined:
                node.quarantined = True
                log.warning("render node %s quarantined after %d failures in a row "
                            "(last: command %d)", node.name, node.fail_streak, cmd.id)
                st.events.add(NODE_QUARANTINED, now, node=node.name, command_id=cmd.id,
                              attempt=cmd.attempts, message=message)
            sick_hosts.command_failed(st, cmd, node.name, cmd.attempts < task.max_attempt, now)
        if cmd.attempts < task.max_attempt:
            cmd.retry_at = now + st.settings.retry_delay_s
            task.n_retry += 1
            heapq.heappush(st.retries, (cmd.retry_at, cmd.id, cmd.token))
        else:  # no attempt left: the command failed for good
            g = task.graph
            st.events.add(COMMAND_FAILED, now, job_id=g.id, job_name=g.name, user=g.user, pool=g.pool,
                          status=CommandStatus(status).name, command_id=cmd.id, attempt=cmd.attempts,
                          message=cmd.message, node=None if node is None else node.name)
    set_command_status(st, cmd, status, now)


def retries_due(st: CoreState, now: float) -> None:
    if st.sick.expiry:  # the jobs' forgiveness of sick nodes: timers of the same tick
        sick_hosts.forgive_due(st, now)
    if st.preempting:  # a borrower's command may have grown old enough to preempt (``preemption``)
        st.dirty_pools.update(dict.fromkeys(st.preempting))
    retries = st.retries
    while retries and retries[0][0] <= now:
        at, cid, token = heapq.heappop(retries)
        cmd = st.commands.get(cid)
        if cmd is None or cmd.retry_at != at or cmd.token != token:
            continue
        clear_retry(cmd)
        set_completion(cmd, 0.0)
        log.info("command %d retried (attempt %d of %d)", cid, cmd.attempts + 1,
                 cmd.task.max_attempt)
        set_command_status(st, cmd, waiting_status(cmd), now)


def requeue(st: CoreState, cmd: CommandNode, now: float) -> None:
    """The command lost its node through no fault of its own: READY, no attempt spent."""
    release_run(st, cmd, now)
    set_completion(cmd, 0.0)
    cmd.start_time = None
    set_command_status(st, cmd, waiting_status(cmd), now)


def kill_decision(st: CoreState, cmd: CommandNode, reason: str) -> None:
    if cmd.run is not None:
        st.out.append(Kill(cmd.run.node.name, cmd.id, cmd.token, reason))


def cancel_command(st: CoreState, cmd: CommandNode, now: float) -> bool:
    """Cancel one command (kill it if it holds a node). DONE and CANCELED stay."""
    if cmd.status in (C_DONE, C_CANCELED):
        return False
    if cmd.run is not None:
        kill_decision(st, cmd, "canceled")
        release_run(st, cmd, now)
        cmd.end_time = now
    clear_retry(cmd)
    if st.sick.commands:
        sick_hosts.forget_command(st.sick, cmd.id)
    set_command_status(st, cmd, C_CANCELED, now)
    return True


def reset_command(st: CoreState, cmd: CommandNode, now: float) -> None:
    """Restart: back to READY (or BLOCKED) as if never run; kills it if it runs."""
    if cmd.run is not None:
        kill_decision(st, cmd, "restarted")
        release_run(st, cmd, now)
    clear_retry(cmd)
    if st.sick.commands:  # as if never run: it avoids nothing
        sick_hosts.forget_command(st.sick, cmd.id)
    cmd.attempts = 0
    set_completion(cmd, 0.0)
    cmd.message = ""
    cmd.start_time = cmd.end_time = None
    set_command_status(st, cmd, waiting_status(cmd), now)
