"""Sick hosts: which commands and jobs avoid which render nodes, and when they forgive them.

Two rules, both kept here as plain bookkeeping on the core's state (``CoreState.sick``):

* **A failed command's retries avoid the node it failed on.** Each ERROR or TIMEOUT on a node,
  with attempts left, adds that node to the command's avoided nodes. The exact escape: when
  a node it avoids may pick it (``pick``), the command is set aside for that node only while
  *some other* member of its job's pool could run it -- online, not paused, not quarantined,
  not avoided by the command or its job, and matching its task's requirements (busy or not
  does not matter: it will free up). When no such node exists, the command runs where it
  failed rather than wait for ever. A command forgets its avoided nodes when it ends DONE, is
  restarted or canceled.
* **A job with K failures on a node avoids that node for T seconds.** Each ERROR or TIMEOUT of
  a job's command on a node counts; the K-th makes the whole job avoid the node until
  ``now + T``, and the count starts again (a DONE does not reset it: K failures, however
  spread). The same escape: the job is passed over only while another member of its pool
  could run that work (so a pool of one node behaves as before, and the node-wide quarantine
  still catches a node that fails everything). K and T are the
  job's ``sickAfter`` / ``forgiveAfter`` tags (a positive integer / positive seconds), else
  the farm's ``CoreSettings.sick_after`` / ``forgive_after_s``. Forgiveness is a timer of the
  core (:func:`forgive_due`, from ``tick``): time is an argument, so a successor replaying the
  same ticks forgives at the same moments.

``clear_node`` (``puli-mesh nodes clear``) forgives a node at once: its quarantine, every job's
avoidance and count, and every command's avoidance of it.

Cost: nothing per decision while nothing avoids anything (``active`` is false: ``pick`` takes
its usual path, one test per ``dispatch_node``). Otherwise only a node some command or job
avoids pays (``assignment.pick_avoiding``): its ``Avoidance`` is built once per pick, the job
entries and commands it must pass over are set aside during that pick and put back after it
(O(avoided ones · log n)), each after an escape check that walks the pool's members until one
could run the work (usually the first). Known cost: a pool where every other member is gone,
paused or unfit walks them all, per avoided job or command, per pick by the avoided node.

Guarantees: pure (no I/O, no clock); deterministic (dicts, a heap of totally ordered tuples);
everything that can still decide something is in the snapshot (:func:`dump` / :func:`load`).
Not here: choosing work (``assignment`` calls :func:`avoidance` and :func:`put_back`), the
node-wide quarantine streak (``lifecycle.finish``), how the reasons are shown (``client_queries``).
"""

from __future__ import annotations

import heapq
import logging
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from puli_mesh.coordinator import pools as pools_mod
from puli_mesh.coordinator.render_nodes import can_run
from puli_mesh.coordinator.state import CoreState, SickHosts
from puli_mesh.coordinator.tree import C_CANCELED, C_DONE, PARK_NONE, CommandNode, GraphNode, TaskNode
from puli_mesh.errors import IllegalTransitionError

if TYPE_CHECKING:
    from puli_mesh.coordinator.pools import Signature
    from puli_mesh.coordinator.queries import RenderNodeBrief

log = logging.getLogger(__name__)

SICK_AFTER_TAG = "sickAfter"
"""A job's tag: its failures on one node before it avoids that node (a positive integer)."""
FORGIVE_AFTER_TAG = "forgiveAfter"
"""A job's tag: seconds it then avoids the node (positive)."""


@dataclass(slots=True)
class Avoidance:
    """What one node must not take during one pick, and what was set aside meanwhile."""

    node: str
    commands: dict[int, None]
    jobs: dict[int, float]
    entries: list[tuple[Any, ...]] = field(default_factory=list)  # job entries popped from their heap
    held_back: list[CommandNode] = field(default_factory=list)  # commands popped from their task


# ----------------------------------------------------------------- settings
def job_settings(st: CoreState, tags: dict[str, Any]) -> tuple[int, float]:
    """A job's (K, T): its tags when valid, else the farm's settings."""
    s = st.settings
    k, t = tags.get(SICK_AFTER_TAG), tags.get(FORGIVE_AFTER_TAG)
    k = k if isinstance(k, int) and not isinstance(k, bool) and k >= 1 else s.sick_after
    valid_t = isinstance(t, int | float) and not isinstance(t, bool) and 0 < t < math.inf
    return k, float(t) if valid_t else s.forgive_after_s  # type: ignore[arg-type]


def check_tags(tags: Any) -> str | None:
    """What is wrong with a job's ``sickAfter`` / ``forgiveAfter`` tags; None when fine."""
    if not isinstance(tags, dict):
        return None
    if SICK_AFTER_TAG in tags:
        k = tags[SICK_AFTER_TAG]
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            return f"tag {SICK_AFTER_TAG} must be a positive integer, not {k!r}"
    if FORGIVE_AFTER_TAG in tags:
        t = tags[FORGIVE_AFTER_TAG]
        if not isinstance(t, int | float) or isinstance(t, bool) or not 0 < t < math.inf:
            return f"tag {FORGIVE_AFTER_TAG} must be a positive number of seconds, not {t!r}"
    return None


# ------------------------------------------------------------------- events
def command_failed(st: CoreState, cmd: CommandNode, node: str, retries_left: bool, now: float) -> None:
    """``cmd`` ended ERROR or TIMEOUT on ``node``: its retries avoid it; its job counts it."""
    sick = st.sick
    if retries_left:
        sick.commands.setdefault(cmd.id, {})[node] = None
        sick.commands_of.setdefault(node, {})[cmd.id] = None
    g = cmd.task.graph
    key = (g.id, node)
    n = sick.failures.get(key, 0) + 1
    k, t = job_settings(st, g.tags)
    if n < k:
        sick.failures[key] = n
        return
    sick.failures.pop(key, None)
    until = now + t
    sick.jobs.setdefault(node, {})[g.id] = until
    heapq.heappush(sick.expiry, (until, node, g.id))
    log.warning("job %d (%s) avoids render node %s for %.0fs after %d failures there", g.id, g.name, node, t, n)


def forget_command(sick: SickHosts, cid: int) -> None:
    """The command ended DONE, was restarted or canceled: it avoids nothing any more."""
    nodes = sick.commands.pop(cid, None)
    if nodes:
        for name in nodes:
            ids = sick.commands_of.get(name)
            if ids is not None:
                ids.pop(cid, None)
                if not ids:
                    del sick.commands_of[name]


def forgive_due(st: CoreState, now: float) -> None:
    """End the job avoidances whose time has come; their nodes may be offered that work."""
    sick = st.sick
    while sick.expiry and sick.expiry[0][0] <= now:
        until, name, gid = heapq.heappop(sick.expiry)
        jobs = sick.jobs.get(name)
        if jobs is None or jobs.get(gid) != until:
            continue  # cleared, or avoided again later: that timer decides
        del jobs[gid]
        if not jobs:
            del sick.jobs[name]
        log.info("job %d forgives render node %s", gid, name)
        mark_node_pools_dirty(st, name)


def clear_node(st: CoreState, name: str) -> None:
    """Forgive ``name`` at once: its quarantine, every job's avoidance and count of it, every
    command's avoidance of it. IllegalTransitionError when there was nothing to forgive."""
    sick = st.sick
    node = st.render_nodes.get(name)
    quarantined = node is not None and node.quarantined
    counted = [key for key in sick.failures if key[1] == name]
    if not (quarantined or name in sick.jobs or name in sick.commands_of or counted):
        raise IllegalTransitionError(f"render node {name!r} is neither quarantined nor avoided")
    if node is not None:
        node.quarantined = False
        node.fail_streak = 0
    sick.jobs.pop(name, None)  # their timers find nothing and pass
    for key in counted:
        del sick.failures[key]
    for cid in sick.commands_of.pop(name, {}):
        nodes = sick.commands.get(cid)
        if nodes is not None:
            nodes.pop(name, None)
            if not nodes:
                del sick.commands[cid]
    log.info("render node %s forgiven", name)
    mark_node_pools_dirty(st, name)


def mark_node_pools_dirty(st: CoreState, name: str) -> None:
    node = st.render_nodes.get(name)
    if node is not None:
        for pname in node.pools:
            if pname in st.pools:
                st.dirty_pools[pname] = None


# --------------------------------------------------------------- assignment
def avoidance(st: CoreState, name: str, now: float) -> Avoidance | None:
    """What node ``name`` must not take now; None when nothing avoids it (the usual path).
    Drops, on the way, commands that no longer exist or ended (archived, set DONE by hand)."""
    sick = st.sick
    cids = sick.commands_of.get(name)
    if cids:
        gone = [cid for cid in cids if (c := st.commands.get(cid)) is None or c.status in (C_DONE, C_CANCELED)]
        for cid in gone:
            forget_command(sick, cid)
        cids = sick.commands_of.get(name)
    jobs = sick.jobs.get(name)
    if jobs:
        jobs = {gid: until for gid, until in jobs.items() if until > now}
    if not cids and not jobs:
        return None
    return Avoidance(name, cids or {}, jobs or {})


def job_avoided(st: CoreState, avoid: Avoidance, entry: tuple[Any, ...], now: float) -> bool:
    """Whether a job entry of a queue (``pools``) is a job this node must pass over; if so it is
    popped from its heap (it is that heap's top) and kept to be put back."""
    if entry[2] not in avoid.jobs:
        return False
    b = entry[4]
    if not others_can_run(st, b.graph, b.queue.sig, {avoid.node: None}, now):
        return False
    heapq.heappop(entry[4].queue.heap)
    avoid.entries.append(entry)
    return True


def command_avoided(st: CoreState, avoid: Avoidance, cmd: CommandNode, now: float) -> bool:
    """Whether this node must pass ``cmd`` over (the escape in the module docstring); if so it
    is kept to be put back."""
    if cmd.id not in avoid.commands:
        return False
    task = cmd.task
    if not others_can_run(st, task.graph, task.sig, st.sick.commands.get(cmd.id, {}), now):
        return False
    avoid.held_back.append(cmd)
    return True


def others_can_run(st: CoreState, g: GraphNode, sig: Signature, avoided: dict[str, None], now: float) -> bool:
    """Whether a member of ``g``'s pool, not in ``avoided`` nor avoided by ``g``, could run a
    command of signature ``sig`` (``render_nodes.can_run``: online, not paused or quarantined, its
    requirements met)."""
    pool = st.pools.get(g.pool)
    if pool is None:
        return False
    for name, node in pool.members.items():
        if name in avoided:
            continue
        jobs = st.sick.jobs.get(name)
        if jobs and jobs.get(g.id, now) > now:
            continue
        if can_run(node, sig):  # busy or not: it will free up
            return True
    return False


def put_back(st: CoreState, avoid: Avoidance) -> None:
    """After the pick: what was set aside goes back where it was, without waking anyone (the
    other nodes were not passed over; this one would only pass them over again)."""
    for entry in avoid.entries:
        b = entry[4]
        if b.queue.pool.name in st.pools:
            heapq.heappush(b.queue.heap, entry)
    for cmd in avoid.held_back:
        task: TaskNode = cmd.task
        if not cmd.queued:
            heapq.heappush(task.ready, cmd.idx)
            cmd.queued = True
        if not (task.bucketed or task.paused or task.parked != PARK_NONE):
            pools_mod.add_task(task, st.pools[task.graph.pool])


# ------------------------------------------------------------------- views
def reasons(st: CoreState, name: str, now: float) -> dict[str, Any]:
    """Why ``name`` is passed over: the jobs avoiding it (until when), the commands avoiding it."""
    sick = st.sick
    jobs = [{"job": gid, "until": until} for gid, until in (sick.jobs.get(name) or {}).items() if until > now]
    return {"avoided_by": jobs, "avoided_by_commands": sorted(sick.commands_of.get(name) or ())}


def add_reasons(sick: SickHosts, briefs: dict[str, RenderNodeBrief]) -> None:
    """Fill each brief's ``avoided_by`` and ``avoided_by_commands`` (an avoidance past its time
    shows until the tick that forgives it, a second or so)."""
    for name, jobs in sick.jobs.items():
        brief = briefs.get(name)
        if brief is not None:
            brief.avoided_by = tuple(sorted(jobs.items()))
    for name, cids in sick.commands_of.items():
        brief = briefs.get(name)
        if brief is not None:
            brief.avoided_by_commands = tuple(sorted(cids))


# ---------------------------------------------------------------- snapshot
def dump(st: CoreState) -> dict[str, Any]:
    """Plain data; what concerns an archived job, or a command that ended (``avoidance`` drops
    those lazily), is left out: it decides nothing, and a farm's snapshot does not keep every
    failure it ever saw, whenever the lazy clean-up ran."""
    sick, graphs, commands = st.sick, st.graphs, st.commands
    return {"commands": [[cid, list(nodes)] for cid, nodes in sick.commands.items()
                         if (c := commands.get(cid)) is not None and c.status not in (C_DONE, C_CANCELED)],
            "jobs": [[name, gid, until] for name, jobs in sick.jobs.items() for gid, until in jobs.items()
                     if gid in graphs],
            "failures": [[gid, name, n] for (gid, name), n in sick.failures.items() if gid in graphs]}


def load(sick: SickHosts, data: dict[str, Any] | None) -> None:
    """Rebuild from :func:`dump` (an older snapshot without it: nothing is avoided)."""
    if not data:
        return
    for cid, nodes in data.get("commands", []):
        for name in nodes:
            sick.commands.setdefault(int(cid), {})[str(name)] = None
            sick.commands_of.setdefault(str(name), {})[int(cid)] = None
    for name, gid, until in data.get("jobs", []):
        sick.jobs.setdefault(str(name), {})[int(gid)] = float(until)
        sick.expiry.append((float(until), str(name), int(gid)))
    heapq.heapify(sick.expiry)
    for gid, name, n in data.get("failures", []):
        sick.failures[(int(gid), str(name))] = int(n)
