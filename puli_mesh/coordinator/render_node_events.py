"""What happens to render nodes: they join (or join again and say what they run), change,
leave, are paused, resumed or taken out of quarantine, give licences back early, are put in
other pools or given another performance by an operator, and are removed for good.

The core's facade (``core.SchedulingCore``) calls these between its ``_start`` and ``_done``;
each works on the :class:`CoreState` it is given and leaves its decisions in ``st.out``.

Guarantees: pure (``now`` is an argument); a HELLO re-attaches a READY command only for the
render node last given that attempt (``reconcile``): another node listing it, even with the
right token, is told to kill it. An operator's pools or performance (``set_pools``,
``set_pool_members``, ``set_performance``) outlive the node's HELLOs until cleared; moving a
node out of a pool never stops what it runs there. Only a node that left may be removed.

Not here: asking for work (``core.request_work``, the hot path, kept inline), choosing work
(``assignment``), liveness (the service decides when a node is gone).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from puli_mesh.coordinator import assignment, lifecycle
from puli_mesh.coordinator.pools import Pool
from puli_mesh.coordinator.render_nodes import RenderNode, RenderNodeInfo
from puli_mesh.coordinator.state import CoreState
from puli_mesh.coordinator.tree import C_READY, C_RUNNING, Running
from puli_mesh.errors import IllegalTransitionError, UnknownIdError
from puli_mesh.hooks import NODE_LOST
from puli_mesh.protocol import KillfileOrder

log = logging.getLogger(__name__)


def render_node(st: CoreState, name: str) -> RenderNode:
    """The render node called ``name``; :class:`UnknownIdError` if there is none."""
    n = st.render_nodes.get(name)
    if n is None:
        raise UnknownIdError(f"no render node is called {name!r}")
    return n


def define_pool(st: CoreState, name: str) -> None:
    if name not in st.pools:
        st.pools[name] = Pool(name)
        log.info("pool %s defined", name)


def join(st: CoreState, info: RenderNodeInfo, now: float) -> RenderNode:
    node = st.render_nodes.get(info.name)
    if node is None:
        node = st.render_nodes[info.name] = RenderNode(info, now)
        log.info("render node %s joined: pools %s, %d cores, %d slots", node.name,
                 ",".join(node.pools), node.cores, node.slots)
    else:
        leave_pools(st, node)
        node.apply_info(info)
        node.online = True
        node.credit = 0  # a new session: the worker says READY again when it can
        log.info("render node %s joined again", node.name)
    enter_pools(st, node)
    return node


def enter_pools(st: CoreState, node: RenderNode) -> None:
    for p in node.pools:
        define_pool(st, p)
        st.pools[p].members[node.name] = node


def leave_pools(st: CoreState, node: RenderNode) -> None:
    for p in node.pools:
        pool = st.pools.get(p)
        if pool is not None:
            pool.members.pop(node.name, None)
            pool.remove_waiting(node.name)


def stop_waiting(st: CoreState, node: RenderNode) -> None:
    """The node stays a member of its pools but no longer waits for work there."""
    for p in node.pools:
        pool = st.pools.get(p)
        if pool is not None:
            pool.remove_waiting(node.name)


def reconcile(st: CoreState, info: RenderNodeInfo, running: Iterable[tuple[int, int]],
              now: float) -> tuple[list[int], list[int]]:
    """A worker (re)joins and reports what it runs: keep what is still its own, take back a
    lost command not given to anyone else yet, kill the rest; what we thought it ran but it
    does not report is lost (back to READY). Returns (keep, kill) command ids."""
    node = join(st, info, now)
    keep: list[int] = []
    kill: list[int] = []
    reported: dict[int, int] = {}
    for cid, attempt in running:
        reported[int(cid)] = int(attempt)
        cmd = st.commands.get(int(cid))
        if cmd is not None and cmd.token == attempt:
            if cmd.run is not None and cmd.run.node is node:
                keep.append(cmd.id)
                continue
            # Only the node last given this attempt may take it back: a token alone is no
            # proof of holding (any linked worker could claim one it learnt or guessed).
            if (cmd.run is None and cmd.status == C_READY and cmd.last_node == node.name
                    and node.in_slots < node.slots and st.licences.available(cmd.task.lic)):
                assignment.reserve(st, node, cmd.task, cmd, now)
                lifecycle.set_command_status(st, cmd, C_RUNNING, now)
                keep.append(cmd.id)
                log.info("command %d re-attached to %s", cmd.id, node.name)
                continue
        kill.append(int(cid))
    for cid, run in list(node.running.items()):
        if reported.get(cid) != run.command.token:
            lifecycle.requeue(st, run.command, now)
    return keep, kill


def update(st: CoreState, name: str, now: float, *, free_ram_mb: int | None, cores: int | None,
           ram_mb: int | None, slots: int | None, pools: list[str] | None,
           characteristics: dict[str, Any] | None, performance: float | None) -> None:
    node = render_node(st, name)
    info = RenderNodeInfo(
        name, list(pools) if pools is not None else list(node.configured_pools),
        node.cores if cores is None else cores, node.ram_mb if ram_mb is None else ram_mb,
        node.free_ram_mb if free_ram_mb is None else free_ram_mb,
        node.slots if slots is None else slots,
        node.characteristics if characteristics is None else characteristics,
        node.configured_performance if performance is None else performance, pipeline=node.pipeline,
        gpus=list(node.gpus), load=node.load)
    if pools is not None or characteristics is not None or performance is not None:
        leave_pools(st, node)
        node.apply_info(info)
        enter_pools(st, node)
    else:  # resources only: keep the requirement cache
        node.cores, node.ram_mb = max(info.cores, 1), info.ram_mb
        node.free_ram_mb, node.slots = info.free_ram_mb, info.slots
    node.credit = min(node.credit, max(node.capacity - len(node.running), 0))
    if node.online:
        assignment.dispatch_node(st, node, now)


def leave(st: CoreState, name: str, now: float) -> None:
    node = render_node(st, name)
    for run in list(node.running.values()):
        lifecycle.requeue(st, run.command, now)
    node.online = False
    node.credit = 0
    stop_waiting(st, node)
    log.info("render node %s left; its commands are back to READY", name)
    st.events.add(NODE_LOST, now, node=name)


def pause(st: CoreState, name: str, now: float, kill: bool, drain: bool) -> None:
    node = render_node(st, name)
    node.paused = True
    node.draining = drain and not kill
    node.killfile = False  # an operator's pause from now on (``killfile`` sets it back for its own)
    stop_waiting(st, node)
    if kill:
        for run in list(node.running.values()):
            lifecycle.kill_decision(st, run.command, "render node paused")
            lifecycle.requeue(st, run.command, now)
    log.info("render node %s paused%s", name, " (commands killed)" if kill else "")


def resume(st: CoreState, name: str, now: float) -> None:
    node = render_node(st, name)
    if not node.paused:
        raise IllegalTransitionError(f"render node {name!r} is not paused")
    node.paused = False
    node.draining = False
    node.killfile = False
    assignment.dispatch_node(st, node, now)


def killfile(st: CoreState, name: str, order: KillfileOrder, now: float) -> None:
    """The node's killfile says ``order`` (Puli's worker killfile): PAUSE drains it, KILL also
    takes back what runs (no attempt spent), OFF undoes a pause its killfile made and no other.
    A pause an operator made stays the operator's (the killfile's KILL still kills)."""
    node = render_node(st, name)
    kill = order is KillfileOrder.KILL
    if order is KillfileOrder.OFF:
        if node.killfile and node.paused:
            resume(st, name, now)
        node.killfile = False
    elif node.paused and not node.killfile:
        if kill:
            for run in list(node.running.values()):
                lifecycle.kill_decision(st, run.command, "render node's killfile")
                lifecycle.requeue(st, run.command, now)
    elif kill or not node.paused:
        pause(st, name, now, kill=kill, drain=True)
        node.killfile = True


def clear_quarantine(st: CoreState, name: str, now: float) -> None:
    node = render_node(st, name)
    if not node.quarantined:
        raise IllegalTransitionError(f"render node {name!r} is not in quarantine")
    node.quarantined = False
    node.fail_streak = 0
    log.info("render node %s out of quarantine", name)
    assignment.dispatch_node(st, node, now)


def set_pools(st: CoreState, name: str, pools: Iterable[str] | None, now: float) -> None:
    """An operator puts node ``name`` in ``pools`` (None: back to the pools its agent
    configured). Every pool must exist (:class:`UnknownIdError`); an empty list leaves the node
    in no pool (it takes no work). What it runs goes on; new work comes from its new pools."""
    node = render_node(st, name)
    override = None if pools is None else tuple(dict.fromkeys(pools))
    for p in override or ():
        if p not in st.pools:
            raise UnknownIdError(f"no pool is called {p!r}; define it first (puli-mesh pools add {p})")
    leave_pools(st, node)
    node.pools_override = override
    node.pools = node.configured_pools if override is None else override
    node.characteristics_changed()  # the profile names the pools
    enter_pools(st, node)
    log.info("render node %s now in pools %s%s", name, ",".join(node.pools) or "(none)",
             "" if override is not None else " (its configured ones)")
    if node.online:
        assignment.dispatch_node(st, node, now)


def set_pool_members(st: CoreState, pool: str, names: Iterable[str], now: float) -> None:
    """Puli's ``PUT /pools/<pool>/rendernodes``: ``names`` are the pool's members now. Each node
    that joins or leaves the pool gets an operator's pools (:func:`set_pools`); the others keep
    theirs. Unknown pool or node: :class:`UnknownIdError`, before anything changes."""
    if pool not in st.pools:
        raise UnknownIdError(f"no pool is called {pool!r}; define it first (puli-mesh pools add {pool})")
    wanted = list(dict.fromkeys(names))
    for name in wanted:
        render_node(st, name)
    members = st.pools[pool].members
    for name in sorted(n for n in members if n not in wanted):  # sorted: a restored core's order may differ
        set_pools(st, name, [p for p in members[name].pools if p != pool], now)
    for name in wanted:
        if name not in members:
            set_pools(st, name, [*st.render_nodes[name].pools, pool], now)


def set_performance(st: CoreState, name: str, performance: float | None, now: float) -> None:
    """An operator's performance for node ``name`` (None: back to its agent's): the key that
    offers work to the faster waiting nodes first."""
    node = render_node(st, name)
    stop_waiting(st, node)  # the waiting lists are sorted by performance: re-enter with the new key
    node.performance_override = None if performance is None else float(performance)
    node.performance = node.configured_performance if performance is None else float(performance)
    log.info("render node %s performance %s", name, node.performance)
    if node.online:
        assignment.dispatch_node(st, node, now)


def remove(st: CoreState, name: str, now: float) -> None:
    """Forget node ``name`` for good (Puli's ``DELETE /rendernodes/<name>``): its record,
    quarantine, pools and overrides. Only a node that left (its commands went back to READY
    then): a connected one is :class:`IllegalTransitionError`. Back later, it joins as new."""
    node = render_node(st, name)
    if node.online:
        raise IllegalTransitionError(f"render node {name!r} is connected; stop its agent first, and "
                                     f"remove it once it has left the mesh")
    for run in list(node.running.values()):  # none once it left; never leave a reservation behind
        lifecycle.requeue(st, run.command, now)
    leave_pools(st, node)
    del st.render_nodes[name]
    log.info("render node %s removed", name)


def release_licence(st: CoreState, name: str, node_name: str) -> None:
    """Early release by a runner (Puli's ``DELETE /licenses/<name>``): the first command on
    the node holding ``name`` gives its token back."""
    run = next((r for r in render_node(st, node_name).running.values() if name in r.licences), None)
    if run is not None:
        give_licence_back(st, run, name)


def give_licence_back(st: CoreState, run: Running, name: str) -> None:
    """The run no longer holds ``name``: its end will not release it again."""
    run.licences = tuple(x for x in run.licences if x != name)
    st.licences.release((name,), run.node.name)
    st.mark_all_pools_dirty()
