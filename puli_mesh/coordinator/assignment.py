"""Assignment: give a render node with credit the best READY command it may run.

Event-driven; no sweep of the tree. Two entry points:

* :func:`dispatch_node` -- a node asked for work (or got room back): fill its
  credit from the ready index of its pools;
* :func:`flush_waiting` -- after any event that may have created runnable work
  (a command became READY, a command ended, a licence or a maxRN was raised, a
  timer passed), offer it to the nodes still holding credit, faster first.

One decision costs O(signatures in the node's pools) + O(log jobs) + O(log
tasks): the queues of the pools are checked once per signature (requirements,
cores, RAM, licences) and the fair-share heap gives the job. Tasks that cannot
run for reasons independent of the node are *parked* out of the index the
first time they are met and woken by the event that frees them: task maxRN
(a command of the task ends), group maxRN (a command of the group ends), graph
maxRN (the graph leaves every queue), timers (``tick``), pause (``resume``). A
waiting-node pass stops early when no queue of the pool has work with free
licences, and remembers, per pass, node profiles (characteristics + free
resources) that found nothing, so a thousand idle identical nodes cost one try.

Pipelining (:func:`fill_ahead`): between two short commands a slot would sit
idle for a whole round trip (the worker's report, the journal write, the next
ASSIGN), longer than the command itself. So a node that accepts it
(``pipeline`` per slot) is also given, behind each command it runs, up to that
many more commands *of the same task*, once the task has shown it is short
(``pipeline_after_done`` commands DONE, ``pipeline_below_s`` seconds each on
average), and no more than ``pipeline_window_s`` of its work per slot
(:func:`pipeline_depth`). They wait on the node and start the moment their
predecessor ends.
Being of the same task they fit the same slot (pool, requirements, cores, RAM);
they take their licences and count for maxRN from their assignment. What this
gives up: the few seconds of work queued behind a slot are committed to it, so
a more urgent job (or a share account below its guarantee) waits for them, and a long command of a task that looked
short delays the ones behind it (they can be cancelled or killed as usual).

Inside a job, tasks come in the order of their groups' strategies (Fifo, AsIs,
Fair, WeighedFair, Priority: see ``pools``); a Fair count grows with each
:func:`reserve`, so replaying the same events (or restoring a snapshot, which
stores the counts) gives the same order.

Sick hosts (``sick_hosts``): while some command or job avoids some node,
:func:`pick_avoiding` passes over, for the node they avoid, those jobs and
commands (put back after the pick, waking no one), and that node's profile is
not remembered as "found nothing": a node like it may still take them. Nothing
is avoided: :func:`pick` as before, one test per :func:`dispatch_node`.

Known cost: waking a folder parked on its maxRN re-inserts every task parked on
it (O(tasks parked under that folder) per command end under a capped folder).

Not here: statuses (``lifecycle``), the tree's shape.
"""

from __future__ import annotations

import heapq
import logging
import math

from puli_mesh.coordinator import pools as pools_mod
from puli_mesh.coordinator import preemption, quotas, sick_hosts
from puli_mesh.coordinator.decisions import Assign
from puli_mesh.coordinator.lifecycle import set_command_status
from puli_mesh.coordinator.pools import SigQueue, count_assignment, live_task
from puli_mesh.coordinator.render_nodes import RenderNode, matches_requirements, take_gpus
from puli_mesh.coordinator.shares import ShareTree
from puli_mesh.coordinator.state import CoreState
from puli_mesh.coordinator.tree import (
    C_ASSIGNED,
    C_READY,
    PARK_GROUP_CAP,
    PARK_TASK_CAP,
    PARK_TIMER,
    CommandNode,
    Folder,
    Running,
    TaskNode,
)

log = logging.getLogger(__name__)


def _task_parked(st: CoreState, task: TaskNode, now: float) -> bool:
    """Park the task if something other than the node stops it; True if parked."""
    if task.paused:
        return True
    if 0 < task.max_rn <= task.running:
        task.parked = PARK_TASK_CAP
        return True
    g = task.graph
    p = task.parent
    while p is not None and p is not g:
        if 0 < p.max_rn <= p.running:
            task.parked = PARK_GROUP_CAP
            p.parked_tasks.append(task)
            return True
        p = p.parent
    if task.eff_timer is not None and task.eff_timer > now:
        task.parked = PARK_TIMER
        heapq.heappush(st.timers, (task.eff_timer, task.id))
        return True
    return False


def _pop_ready(task: TaskNode) -> CommandNode | None:
    ready = task.ready
    commands = task.commands
    while ready:
        cmd = commands[heapq.heappop(ready)]
        cmd.queued = False
        if cmd.status == C_READY and not cmd.held:
            return cmd  # a held one leaves the heap; resuming it puts it back
    return None


def pick_avoiding(st: CoreState, node: RenderNode, now: float) -> tuple[TaskNode, CommandNode] | None:
    """``pick`` while some command or job avoids some node (``sick_hosts``): what avoids this one
    is passed over during the pick and put back after it."""
    avoid = sick_hosts.avoidance(st, node.name, now)
    if avoid is None:
        return pick(st, node, now)
    try:
        return pick(st, node, now, avoid)
    finally:
        sick_hosts.put_back(st, avoid)


def pick(st: CoreState, node: RenderNode, now: float,
         avoid: sick_hosts.Avoidance | None = None) -> tuple[TaskNode, CommandNode] | None:
    """The best READY command this node may run now, removed from the index; ``avoid``: the jobs
    and commands to pass over (``pick_avoiding``)."""
    cands: list[SigQueue] = []
    pools = st.pools
    # Whether the node fits a signature (requirements, cores, RAM, licences), with the
    # node's figures read once: this loop runs for every signature of its pools.
    compat = node.compat
    used = node.used_cores
    free = (node.cores if node.cores >= node.slots else node.slots) - used  # free_cores
    ram = node.ram_mb - node.used_ram  # available_ram
    if node.free_ram_mb < ram:
        ram = node.free_ram_mb
    gpus = len(node.free_gpus)
    lics = st.licences.licences
    shared: list[tuple[ShareTree, int]] = []  # pools with a share tree, and the signatures that fit (bits)
    for pname in node.pools:
        pool = pools.get(pname)
        if pool is None:
            continue
        tree = pool.shares
        fits: int | None = None if tree is None else 0
        queued = pool.sig_queued
        for qs in pool.by_sig.values():  # one queue per signature; with a tree, one per account
            q = qs[0]
            if not q.heap if fits is None else not queued[q.sig.id]:
                continue
            sig = q.sig
            ok = compat.get(sig.id)
            if ok is None:
                ok = compat[sig.id] = matches_requirements(sig.requirements, node.characteristics)
            if not ok:
                continue
            if sig.min_cores > 0:
                if free < sig.min_cores:
                    continue
            elif used:  # minNbCores 0: the command wants every core free
                continue
            if sig.ram_use and ram < sig.ram_use:
                continue
            if sig.gpus > gpus:
                continue
            if sig.licences:
                for name in sig.licences:
                    lic = lics[name]
                    if lic.used >= lic.total:
                        break
                else:
                    lic = None
                if lic is not None:
                    continue
            if fits is None:
                cands.append(q)
            else:
                fits |= q.bit
        if fits:
            shared.append((tree, fits))
    # Which queues' jobs compete: the fitting ones; with share trees, those of the best rank.
    # Then the job order between them, then the job's first task with a READY command this node
    # may take; when a pass finds nothing (stale entries, a job at its quota or avoided, a
    # bucket exhausted), top() has dropped what stood in the way and the next pass goes on.
    top = pools_mod.top
    while True:
        queues = ranked_queues(cands, shared) if shared else cands
        # The best live entry (``pools.top``) of ``queues`` by the job order; the same job in two
        # of them (two signatures): its task order decides. The answer does not depend on the
        # order of ``queues``, which only says which ones are looked at first.
        if len(queues) == 1:
            best = top(queues[0])
        else:
            best = None
            for q in queues:
                heap = q.heap
                if not heap:
                    continue
                if best is not None and heap[0][0] > best[0]:
                    # A heap's first entry never ranks after its best live one (stale entries
                    # under-estimate: see ``pools``): one of a greater share needs no top().
                    continue
                e = top(q)
                if e is None:
                    continue
                if best is None or e[:3] < best[:3]:
                    best = e
                elif e[:3] == best[:3]:
                    # Same job in two signatures: the job's task order decides between them.
                    if e[4].graph.dynamic:
                        live_task(e[4].tasks)
                        live_task(best[4].tasks)
                    if e[4].tasks[0][0] < best[4].tasks[0][0]:
                        best = e
        if best is None:
            if shared and queues:
                continue  # top() emptied those queues of stale entries: the next rank
            return None
        g = best[4].graph
        if st.quotas and quotas.blocked(st, g):  # its user or project is at its quota
            continue
        if avoid is not None and sick_hosts.job_avoided(st, avoid, best, now):
            continue
        # The first READY command of the bucket's tasks, dropping the tasks that have none; with
        # ``avoid``, none whose retries avoid this node (``sick_hosts``: set aside, put back after).
        tasks = best[4].tasks
        dynamic = g.dynamic
        while tasks:
            if dynamic:  # Fair counts moved since some entries were keyed
                live_task(tasks)
            task = tasks[0][1]
            if task.counts[C_READY] and not _task_parked(st, task, now):
                cmd = _pop_ready(task)
                while avoid is not None and cmd is not None and sick_hosts.command_avoided(st, avoid, cmd, now):
                    cmd = _pop_ready(task)
                if cmd is not None:
                    if not task.counts[C_READY]:
                        heapq.heappop(tasks)
                        task.bucketed = False
                    return task, cmd
            heapq.heappop(tasks)
            task.bucketed = False
        # That bucket is exhausted; its entry is dropped by the next top().


def ranked_queues(cands: list[SigQueue], shared: list[tuple[ShareTree, int]]) -> list[SigQueue]:
    """The queues ``pick`` chooses between when some of the node's pools have a share tree
    (``shared``: each tree, and the signatures the node fits): accounts at their cap are left
    out, the queues of the best account(s) (``shares.rank``) are returned, for the job order to
    decide between them. The signatures are bits (``SigQueue.bit``), as are the ones each account
    has queued work of (``ShareAccount.mask``): an account without work this node fits costs one
    test.
    ``cands``: the fitting queues of the node's pools without a tree, ranked as an account at
    its guarantee with no use.
    Keys are read, not computed (``ShareAccount.charge`` keeps them, at no other cost: two
    charges per command). A pick passes over a tree's projects twice: once for the best key
    among those with room and work this node fits, once for the users of the projects of that
    key; a project of another key costs a few tests, its users nothing. So a pick costs the
    tree's projects plus the users of the best ones. (Projects and users kept sorted would spare
    the passes, but re-sorting them on every charge cost more than the passes at the sizes of a
    studio's trees: tens of accounts.)"""
    tied: list[SigQueue] = [q for q in cands if q.heap] if cands else []
    # The best rank so far, (project key, user key) as in ``shares.rank``, flat, in four
    # locals (comparing them costs no tuples); meaningful once ``found``.
    found = bool(tied)
    lpf, lpr, luf, lur = UNSHARED_RANK
    for tree, fits in shared:
        floor: tuple[bool, float] | None = None  # project keys up to this one had nothing
        while True:
            # The best key among the projects with room and work this node fits, above floor.
            pf = pr = first = None
            alone = True  # no other project of that key: only ``first`` is walked
            for p in tree.projects:
                if p.full or not p.mask & fits:
                    continue
                f, r = p.above, p.ratio
                if floor is not None and (f < floor[0] or (f == floor[0] and r <= floor[1])):
                    continue
                if pf is None or f < pf or (f == pf and r < pr):  # type: ignore[operator]
                    pf, pr, first, alone = f, r, p, True
                elif f == pf and r == pr:
                    alone = False
            if first is None or (found and (pf > lpf or (pf == lpf and pr > lpr))):  # type: ignore[operator]
                break  # none, or all rank below the best so far
            hit = False
            for p in (first,) if alone else tree.projects:  # that key's projects: their users
                if not alone and (p.above != pf or p.ratio != pr or p.full or not p.mask & fits):
                    continue
                same_project = found and pf == lpf and pr == lpr
                for a in p.children:
                    if a.full:
                        continue
                    m = a.mask & fits
                    if not m:
                        continue
                    af, ar = a.above, a.ratio
                    if same_project:
                        if af > luf or (af == luf and ar > lur):
                            continue  # ranks below the best so far
                        better = af != luf or ar != lur
                    else:
                        better = True
                    for q in a.queues:  # (a heap set aside by sick_hosts may be empty)
                        if q.bit & m and q.heap:
                            hit = True
                            if better:
                                lpf, lpr, luf, lur = pf, pr, af, ar
                                found = same_project = True
                                better = False
                                tied = [q]
                            else:  # the same rank: the job order decides between them
                                tied.append(q)
            if hit:
                break  # this key had work: worse keys cannot beat it
            floor = (pf, pr)  # its users were all at their cap: the next key
    return tied


UNSHARED_RANK = (True, 0.0, True, 0.0)
"""The rank (``shares.rank``, flat: project key, then user key) of a queue of a pool without a
share tree: an account at its guarantee with no use (see :func:`ranked_queues`)."""


def reserve(st: CoreState, node: RenderNode, task: TaskNode, cmd: CommandNode, now: float,
            behind: Running | None = None) -> Running:
    """Take cores, RAM, licences and a maxRN unit for ``cmd`` on ``node``.

    ``behind``: the run it is sent ahead to wait behind; it takes no cores or
    RAM until that one ends (``lifecycle.release_run`` hands them over).
    """
    lic = task.lic
    if lic:
        st.licences.reserve(lic, node.name)
    if behind is not None:
        cmd.run = run = Running(cmd, node, 0, 0, lic, now, after=behind.command.id)
        node.followers[behind.command.id] = run
    else:
        sig = task.sig
        free = (node.cores if node.cores >= node.slots else node.slots) - node.used_cores  # free_cores
        # maxNbCores 0 meant "all free cores" when Puli ran one command per node; with
        # slots it means an equal share of the node, so --slots N runs N commands.
        # minNbCores 0 still asks for the whole node.
        if sig.max_cores:
            cores = min(free, sig.max_cores)
        else:
            cores = free if sig.min_cores == 0 else min(free, node.slot_share)
        ram = sig.ram_use
        cmd.run = run = Running(cmd, node, cores, ram, lic, now)
        if sig.gpus:
            run.gpus = take_gpus(node, sig.gpus)
        node.used_cores += cores
        node.used_ram += ram
    cmd.last_node = node.name
    node.running[cmd.id] = run
    n: TaskNode | Folder | None = task
    while n is not None:  # hold_delta(task, 1), inlined: once per decision
        n.running += 1
        n = n.parent
    # One more holding command only makes the job's fair-share key worse:
    # push_graph(worse=True), inlined (the lazy increase-key of ``pools``).
    g = task.graph
    g.version += 1
    if g.dynamic:
        count_assignment(task)
    if g.share is not None:
        g.share.charge(1)
    if st.quotas:
        quotas.charge(st, g, 1)
    return run


def assign(st: CoreState, node: RenderNode, task: TaskNode, cmd: CommandNode, now: float,
           behind: Running | None = None) -> Assign:
    run = reserve(st, node, task, cmd, now, behind)
    cores, ram, lic, gpus = run.cores, run.ram_mb, run.licences, run.gpus
    if behind is not None:  # what it will have once it holds the slot
        slot = behind
        while slot.after:
            slot = slot.node.running[slot.after]
        cores, ram, gpus = slot.cores, slot.ram_mb, slot.gpus
    g = task.graph
    cmd.token += 1
    cmd.start_time = None
    cmd.end_time = None
    cmd.message = ""
    node.credit -= 1
    set_command_status(st, cmd, C_ASSIGNED, now)
    arguments = dict(task.merged_args)
    timeout = task.timeout
    own = cmd.args
    if own is not None:
        if own.__class__ is tuple:
            # Aligned with the keys at submission; zip(strict=True) would cost 0.2 us here.
            for k, v in zip(task.cmd_arg_keys, own):  # noqa: B905
                arguments[k] = v
        else:
            arguments.update(own)
        if "timeout" in arguments:
            timeout = timeout_of(arguments["timeout"])
    memory = ram if ram else min(node.free_ram_mb, node.ram_mb - node.used_ram)  # available_ram
    env = task.env_cache.get((cores, memory))
    if env is None:
        env = _environment(task, cores, memory)
    if gpus:  # a keyword argument costs every decision a little: only GPU commands pay it
        decision = Assign(cmd.id, cmd.token, task.runner, arguments, env, timeout, lic, cores, ram,
                          task.id, task.name, g.id, g.user, cmd.description, run.after, node.name, gpus=gpus)
    else:
        decision = Assign(cmd.id, cmd.token, task.runner, arguments, env, timeout, lic,
                          cores, ram, task.id, task.name, g.id, g.user, cmd.description, run.after, node.name)
    if task.idle_timeout is not None:  # set after: a keyword argument would cost every decision
        decision.idle_timeout = task.idle_timeout
    if task.kill_on_ram_overuse:
        decision.kill_on_ram_overuse = True
    return decision


def _environment(task: TaskNode, cores: int, memory: int) -> dict[str, str]:
    """The environment of a command of ``task`` given ``cores`` and ``memory`` (MB).

    Shared by the Assign decisions with the same figures (decisions are read-only),
    so a decision costs a lookup, not a copy of the task's environment."""
    cache = task.env_cache
    if len(cache) >= 16:  # free RAM varies from node to node: keep the cache small
        cache.clear()
    env = cache[(cores, memory)] = dict(task.merged_env)
    env["PULI_USER"] = task.graph.user
    env["PULI_ALLOCATED_CORES"] = str(cores)
    env["PULI_ALLOCATED_MEMORY"] = str(memory)
    return env


def timeout_of(value: object) -> float | None:
    """A command's ``timeout`` argument in seconds, or None for none: absent, not a number, 0 or
    below, or infinite (a worker refuses a non-finite one, so the command would never run)."""
    try:
        t = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return t if 0 < t < math.inf else None


def dispatch_node(st: CoreState, node: RenderNode, now: float, ahead: bool = False) -> int:
    """Fill the node's credit; keep it in its pools' waiting lists if credit remains.

    ``ahead``: also send commands ahead (only when the node itself asks for work:
    which waiting nodes a new READY command is offered to depends on the ready
    index's lazy state, which a restored core does not share)."""
    n = 0
    out = st.out
    if node.online and not node.paused and not node.quarantined:
        sick = st.sick
        avoiding = bool(sick.commands_of or sick.jobs)  # sick.active, inlined; assigning changes neither
        while node.credit > 0 and len(node.running) - len(node.followers) < node.slots:  # in_slots, inlined
            got = pick(st, node, now) if not avoiding else pick_avoiding(st, node, now)
            if got is None:
                break
            out.append(assign(st, node, got[0], got[1], now))
            n += 1
        if ahead and node.pipeline and node.credit > 0 and not (st.sick.active and st.sick.concerns(node.name)):
            n += fill_ahead(st, node, now)
    # Credit left beyond the free slots was for the queue: it is asked for again with
    # each READY. Kept, it would put a busy node first in line for the next free
    # licence or command, ahead of idle nodes that asked before it.
    if node.pipeline:  # without a queue, credit never exceeds the free slots
        room = node.slots - node.in_slots
        if node.credit > room:
            node.credit = max(room, 0)
    if node.credit > 0 and node.can_take_work():
        for pname in node.pools:
            pool = st.pools.get(pname)
            if pool is not None:
                pool.add_waiting(node.name, node.performance)
    else:
        for pname in node.pools:
            pool = st.pools.get(pname)
            if pool is not None and node.name in pool.waiting_keys:
                pool.remove_waiting(node.name)
    return n


def is_short(st: CoreState, task: TaskNode) -> bool:
    """Whether the task's commands have shown they are short enough to pipeline."""
    s = st.settings
    return task.done_n >= s.pipeline_after_done > 0 and task.done_s <= s.pipeline_below_s * task.done_n


def pipeline_depth(st: CoreState, node: RenderNode, task: TaskNode) -> int:
    """How many of a short task's commands may wait behind one running on ``node``:
    about ``pipeline_window_s`` of its work (from its average), at least one, at most
    the node's ``pipeline``. Deep for frames of a few milliseconds, whose coordinator
    round trip (a journal write included) is many commands long; shallow for commands
    of a fraction of a second, so little work is committed to one node in advance."""
    average = task.done_s / task.done_n if task.done_n else 0.0
    if average <= 0.0:
        return node.pipeline
    return max(1, min(node.pipeline, int(st.settings.pipeline_window_s / average)))


def _may_run_more(st: CoreState, task: TaskNode, now: float) -> bool:
    """What ``pick`` checks through the ready index, for one task: READY work, not
    paused or blocked, timer passed, licences free, no maxRN reached (task, groups,
    graph). Computed, not read from ``task.parked``: parking is lazy, and a restored
    core must take the same decisions."""
    if not task.counts[C_READY] or task.paused or task.blocked:
        return False
    if task.eff_timer is not None and task.eff_timer > now:
        return False
    p: TaskNode | Folder | None = task
    while p is not None:
        if 0 < p.max_rn <= p.running:
            return False
        p = p.parent
    share = task.graph.share
    if share is not None and share.capped():  # a share account's cap holds for work sent ahead too
        return False
    if st.quotas and quotas.full(st, task.graph):  # and so do quotas
        return False
    return st.licences.available(task.lic)


def fill_ahead(st: CoreState, node: RenderNode, now: float) -> int:
    """Send commands ahead behind the node's running ones (see the module docstring)."""
    n = 0
    for run in list(node.running.values()):
        if node.credit <= 0:
            break
        if run.after:
            continue
        task = run.command.task
        if not is_short(st, task) or task.graph.pool not in node.pools:  # its pool may have been edited
            continue
        tail, depth = run, 0
        while tail.command.id in node.followers:
            tail = node.followers[tail.command.id]
            depth += 1
        limit = pipeline_depth(st, node, task)
        while depth < limit and node.credit > 0 and _may_run_more(st, task, now):
            cmd = _pop_ready(task)
            if cmd is None:
                break
            st.out.append(assign(st, node, task, cmd, now, behind=tail))
            tail = cmd.run  # type: ignore[assignment]
            depth += 1
            n += 1
    return n


def flush_waiting(st: CoreState, now: float) -> None:
    """Offer new work to the nodes that hold credit, in the pools where it may be; then, if some
    pool's share tree preempts, let ``preemption`` free slots for a waiting guarantee."""
    while st.dirty_pools:
        dirty = list(st.dirty_pools)
        st.dirty_pools.clear()
        for pname in dirty:
            pool = st.pools.get(pname)
            if pool is None or not pool.waiting:
                continue
            failed: set[tuple[object, int, int, int]] = set()
            # Walked in place, not copied: a pass usually stops after a node or two, and
            # the list holds every idle node. Only the node at ``i`` can leave it meanwhile.
            waiting = pool.waiting
            i = 0
            # Only a dispatch takes work, licences or an account's room away (or drops the
            # stale entries has_work counts): it is asked again after one, not for each
            # waiting node passed over (there may be thousands).
            work = pool.has_work(st.licences)
            while work and i < len(waiting):
                key = waiting[i]
                node = st.render_nodes.get(key[1])
                if node is None or not node.can_take_work():
                    pool.remove_waiting(key[1])
                else:
                    profile = (node.profile, node.free_cores, node.available_ram, len(node.free_gpus))
                    if profile not in failed:
                        if not dispatch_node(st, node, now) and not st.sick.concerns(node.name):
                            failed.add(profile)  # (passed over for a sick host: not the profile's answer)
                        work = pool.has_work(st.licences)
                if i < len(waiting) and waiting[i] is key:
                    i += 1
        # Assignments do not create work elsewhere, but parking a graph or a task
        # never dirties a pool either, so this loop ends.
    if st.preempting and preemption.preempt(st, now):  # share trees that preempt: the freed slots are offered
        flush_waiting(st, now)
