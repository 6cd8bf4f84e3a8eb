"""The scheduling core: Puli's dispatcher as a pure state machine. Events in, decisions out.

Example::

    core = SchedulingCore()
    core.node_joined(RenderNodeInfo("rn1", cores=8, ram_mb=32000, free_ram_mb=30000, slots=2), now)
    result = core.submit_graph(graph_representation, now)     # SubmitResult
    decisions = core.request_work("rn1", free_slots=2, now=now)  # [Assign, Assign]
    core.command_started(a.command_id, a.attempt, now)
    core.command_update(a.command_id, a.attempt, now, status=CommandStatus.DONE)

Facade (every mutating method returns ``list[Decision]``, :class:`Assign` or :class:`Kill`,
except ``submit_graph``, whose :class:`SubmitResult` holds them, and ``reconcile_node``)::

    SchedulingCore(settings: CoreSettings | None = None)
    check_graph(representation); submit_graph(representation, now, rid=None) -> SubmitResult  # InvalidGraphError...
    submitted(rid) -> SubmitResult | None  # what the SUBMIT with that request id created
    node_joined(info: RenderNodeInfo, now)
    reconcile_node(info, running: list[(command_id, attempt)], now)
        -> (keep: list[int], kill: list[int], decisions)        # a worker (re)joins
    node_updated(name, now, *, free_ram_mb=None, cores=None, ram_mb=None, slots=None, pools=None, ...)
    node_left(name, now)                 # its commands back to READY, no attempt spent
    request_work(name, free_slots, now)  # credit; unused credit is remembered
    command_started(command_id, attempt, now)
    command_update(command_id, attempt, now, *, status=None, completion=None, message=None, stats=None)
    command_progress(command_id, attempt, now, *, completion=None, message=None, stats=None)
    held_by(command_id, attempt) -> render node name | None
    tick(now)                            # due retries and timers; graphs past archive_after_s archived
    pause(node_id, now, kill=False); resume(node_id, now); cancel(node_id, now)
    restart(node_id, now, errors_only=False, cascade=True); restart_command(command_id, now, cascade=True)
    cancel_command(command_id, now); set_command_done(command_id, now)
    edit_command(command_id, now, description=None, arguments=None)  # arguments: merge, None removes
    set_timer(node_id, timer, now); set_max_attempt(node_id, n, now); set_ram_use(node_id, mb, now)
    set_environment(node_id, changes, now); set_arguments(node_id, changes, now)  # merge, None removes
    rename(node_id, name, now); set_user(graph_id, user, now)
    set_dispatch_key(node_id, value, now); set_max_rn(node_id, value, now); set_pool(graph_id, pool, now)
    set_strategy(node_id, strategy, now)  # a group's (or a graph's root group's) strategy
    define_pool(name); clear_quarantine(name, now); clear_node(name, now)  # sick_host_edits
    pause_render_node(name, now, kill=False, drain=False); resume_render_node(name, now)
    set_node_pools(name, pools | None, now); set_pool_nodes(pool, names, now)  # operator's pools
    set_node_performance(name, value | None, now); remove_render_node(name, now)  # a node that left
    node_killfile(name, order: KillfileOrder, now)  # a node's killfile: pause, kill, or undo its own pause
    free_ram_changes(name, free_ram_mb) -> bool; killfile_changes(name, order) -> bool  # news to journal?
    node_load(name, load)  # a worker's load average, not journalled: shown, never decided on (live_load)
    set_tags(node_id, tags: dict, now)   # merge; a None value removes the tag
    set_licence(name, total, now); release_licence(name, render_node, now)
    archive(graph_id, now); archive_finished(before, now) -> archived graph ids
    # queries (plain data)
    graphs(); graph_tree(graph_id); node(node_id); command(command_id); render_nodes(); render_node_briefs(); pools()
    commands(node_id=None, statuses=None, render_node=None, limit=None); licences.stats(); figures()
    snapshot() -> dict; SchedulingCore.restore(data, settings=None)
    hook_events  # the EventOutbox: jobs ended, commands failed for good, nodes quarantined or lost

Worker events about an unknown command or an older attempt token are ignored
(they return ``[]``): they are late results of an assignment that no longer
stands. Edits on unknown ids raise :class:`UnknownIdError`; edits that make no
sense in the current state raise :class:`IllegalTransitionError`.

Guarantees: pure (no I/O, no clock, no threads: ``now`` is an argument);
deterministic (the same events give the same decisions, also after
``snapshot``/``restore``); never more assignments than a node's credit and
free slots; licences, maxRN (graph, group, task), pool, requirements, cores,
RAM, timers, pause and quarantine are respected by every assignment.

Not here: sockets, ZooKeeper, journalling (the service does them).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from puli_mesh.coordinator import (
    assignment,
    dependencies,
    edits,
    lifecycle,
    render_node_events,
    submission,
)
from puli_mesh.coordinator import pools as pools_mod
from puli_mesh.coordinator import snapshot as snapshot_mod
from puli_mesh.coordinator.core_shares import CoreShares
from puli_mesh.coordinator.core_views import CoreViews
from puli_mesh.coordinator.decisions import Decision, SubmitResult
from puli_mesh.coordinator.gpu_edits import GpuEdits
from puli_mesh.coordinator.hook_events import EventOutbox
from puli_mesh.coordinator.licences import LicenseManager
from puli_mesh.coordinator.live_load import LiveLoad
from puli_mesh.coordinator.render_nodes import RenderNodeInfo
from puli_mesh.coordinator.sick_host_edits import SickHostEdits
from puli_mesh.coordinator.state import CoreSettings, CoreState
from puli_mesh.coordinator.task_run_edits import TaskRunEdits
from puli_mesh.coordinator.tree import (
    C_ASSIGNED,
    C_BLOCKED,
    C_DONE,
    C_ERROR,
    C_FINAL,
    C_FINISHING,
    C_READY,
    C_REPORTABLE,
    C_RUNNING,
    C_TIMEOUT,
    N_CANCELED,
    N_DONE,
    GraphNode,
    TaskGroupNode,
)
from puli_mesh.errors import IllegalTransitionError
from puli_mesh.protocol import KillfileOrder
from puliclient.errors import GraphError
from puliclient.status import CMD_STATUS_NAME
from puliclient.strategies import strategy_name

__all__ = ["CoreSettings", "RenderNodeInfo", "SchedulingCore", "SubmitResult"]

log = logging.getLogger(__name__)


class SchedulingCore(CoreViews, TaskRunEdits, SickHostEdits, GpuEdits, CoreShares, LiveLoad):
    """Events in, decisions out. See the module docstring for the whole facade."""

    def __init__(self, settings: CoreSettings | None = None) -> None:
        self.settings = settings or CoreSettings()
        self._st = CoreState(self.settings)
        self._archive_cutoff = float("-inf")  # finished graphs that ended before it are archived
        # The graph ``check_graph`` last passed, with its parents: a client's SUBMIT is checked,
        # then applied in the same turn of the loop, so the check is not run twice on a big graph.
        self._checked: tuple[Any, list[int | None]] | None = None

    @property
    def licences(self) -> LicenseManager:
        return self._st.licences

    @property
    def hook_events(self) -> EventOutbox:
        """The events hooks may ask for (``hook_events``): the service hands them to delivery."""
        return self._st.events

    # ------------------------------------------------------------ plumbing
    def _start(self, now: float) -> None:
        """Every event first releases the tasks whose timer has passed, so a timer is
        honoured at the first event after it, not only at ``tick``."""
        if self._st.timers:
            lifecycle.timers_due(self._st, now)

    def _done(self, now: float) -> list[Decision]:
        """Settle dependencies, offer new work to waiting nodes, hand out the decisions."""
        st = self._st
        while st.dep_queue or st.dirty_pools:
            if st.dep_queue:
                dependencies.process(st, now)
            assignment.flush_waiting(st, now)
        out = st.out
        if not out:
            return []
        st.out = []
        return out

    # --------------------------------------------------------------- graphs
    def check_graph(self, representation: Any) -> list[int | None]:
        """What ``submit_graph`` refuses (schema, pool, licences), with no change: a client's
        SUBMIT is checked so before it is journalled. Returns each node's parent index."""
        self._checked = None
        parents = submission.validate(self._st, representation)
        self._checked = (representation, parents)
        return parents

    def submit_graph(self, representation: dict[str, Any], now: float, rid: str | None = None) -> SubmitResult:
        """Build the graph; a client's request id ``rid`` is remembered (``submitted``)."""
        checked, self._checked = self._checked, None
        if checked is not None and checked[0] is representation:  # checked just before: nothing moved since
            parents = checked[1]
        else:
            parents = self.check_graph(representation)  # first: a refused graph changes nothing
            self._checked = None
        self._start(now)
        graph, ids = submission.build(self._st, representation, parents, now)
        if rid is not None:
            self._st.submitted.remember(rid, graph.id, len(ids), now)
        log.info("graph %d %r submitted by %s to pool %s: %d nodes", graph.id, graph.name,
                 graph.user, graph.pool, len(ids))
        return SubmitResult(graph.id, ids, self._done(now))

    def submitted(self, rid: str) -> SubmitResult | None:
        """What the SUBMIT with request id ``rid`` created (no decisions), if it is remembered
        (``submitted.KEPT_SUBMITS``); it may since have been archived."""
        known = self._st.submitted.get(rid)
        return None if known is None else SubmitResult(known.graph_id, known.node_ids, [])

    def archive(self, graph_id: int, now: float) -> list[Decision]:
        self._start(now)
        edits.archive(self._st, self._graph(graph_id))
        return self._done(now)

    def archive_finished(self, before: float, now: float) -> list[int]:
        """Archive every DONE or CANCELED graph that ended before ``before``; their ids."""
        self._start(now)
        archived = edits.archive_finished(self._st, before)
        self._done(now)
        return archived

    # --------------------------------------------------------- render nodes
    def define_pool(self, name: str) -> list[Decision]:
        render_node_events.define_pool(self._st, name)
        return []

    def node_joined(self, info: RenderNodeInfo, now: float) -> list[Decision]:
        self._start(now)
        render_node_events.join(self._st, info, now)
        return self._done(now)

    def reconcile_node(self, info: RenderNodeInfo, running: Iterable[tuple[int, int]],
                       now: float) -> tuple[list[int], list[int], list[Decision]]:
        """A worker (re)joins and reports what it runs (``render_node_events.reconcile``):
        the commands it keeps, those it must kill, and the decisions."""
        self._start(now)
        keep, kill = render_node_events.reconcile(self._st, info, running, now)
        return keep, kill, self._done(now)

    def node_updated(self, name: str, now: float, *, free_ram_mb: int | None = None,
                     cores: int | None = None, ram_mb: int | None = None,
                     slots: int | None = None, pools: list[str] | None = None,
                     characteristics: dict[str, Any] | None = None,
                     performance: float | None = None) -> list[Decision]:
        self._start(now)
        render_node_events.update(self._st, name, now, free_ram_mb=free_ram_mb, cores=cores,
                                  ram_mb=ram_mb, slots=slots, pools=pools,
                                  characteristics=characteristics, performance=performance)
        return self._done(now)

    def node_left(self, name: str, now: float) -> list[Decision]:
        """Its commands go back to READY, no attempt spent."""
        self._start(now)
        render_node_events.leave(self._st, name, now)
        return self._done(now)

    def request_work(self, name: str, free_slots: int, now: float) -> list[Decision]:
        st = self._st
        if st.timers:  # self._start(now), inlined: once per request
            lifecycle.timers_due(st, now)
        node = st.render_nodes.get(name)
        if node is None:
            node = render_node_events.render_node(st, name)  # raises the unknown-node error
        if not node.online:
            raise IllegalTransitionError(f"render node {name!r} left the mesh; it must join "
                                         f"again before it asks for work")
        credit = node.slots * (1 + node.pipeline) - len(node.running)  # node.capacity, inlined
        free_slots = int(free_slots)
        if free_slots < credit:
            credit = free_slots
        node.credit = credit if credit > 0 else 0
        assignment.dispatch_node(st, node, now, ahead=True)
        return self._done(now)

    def pause_render_node(self, name: str, now: float, kill: bool = False,
                          drain: bool = False) -> list[Decision]:
        """No new work for ``name``; ``kill`` re-queues what runs (no attempt spent);
        ``drain`` (never with kill) lets it finish and marks the node as draining."""
        self._start(now)
        render_node_events.pause(self._st, name, now, kill, drain)
        return self._done(now)

    def node_killfile(self, name: str, order: KillfileOrder, now: float) -> list[Decision]:
        """The node's killfile says ``order`` (``render_node_events.killfile``)."""
        self._start(now)
        render_node_events.killfile(self._st, name, order, now)
        return self._done(now)

    def free_ram_changes(self, name: str, free_ram_mb: int) -> bool:
        """Whether a node known here (and online) has another free RAM than ``free_ram_mb``."""
        node = self._st.render_nodes.get(name)
        return node is not None and node.online and node.free_ram_mb != free_ram_mb

    def killfile_changes(self, name: str, order: KillfileOrder) -> bool:
        """Whether ``node_killfile(name, order)`` would change anything (KILL always may)."""
        node = self._st.render_nodes.get(name)
        if node is None or not node.online:
            return False
        return order is KillfileOrder.KILL or node.killfile != (order is KillfileOrder.PAUSE)

    def resume_render_node(self, name: str, now: float) -> list[Decision]:
        self._start(now)
        render_node_events.resume(self._st, name, now)
        return self._done(now)

    def clear_quarantine(self, name: str, now: float) -> list[Decision]:
        self._start(now)
        render_node_events.clear_quarantine(self._st, name, now)
        return self._done(now)

    def set_node_pools(self, name: str, pools: list[str] | None, now: float) -> list[Decision]:
        """An operator's pools for ``name``, kept over its HELLOs; None: its configured ones."""
        self._start(now)
        render_node_events.set_pools(self._st, name, pools, now)
        return self._done(now)

    def set_pool_nodes(self, pool: str, names: list[str], now: float) -> list[Decision]:
        """``names`` are ``pool``'s members now (Puli's ``PUT /pools/<pool>/rendernodes``)."""
        self._start(now)
        render_node_events.set_pool_members(self._st, pool, names, now)
        return self._done(now)

    def set_node_performance(self, name: str, value: float | None, now: float) -> list[Decision]:
        self._start(now)
        render_node_events.set_performance(self._st, name, value, now)
        return self._done(now)

    def remove_render_node(self, name: str, now: float) -> list[Decision]:
        self._start(now)
        render_node_events.remove(self._st, name, now)
        return self._done(now)

    # ------------------------------------------------------------- licences
    def set_licence(self, name: str, total: int, now: float) -> list[Decision]:
        self._start(now)
        self._st.licences.set_total(name, int(total))
        self._st.mark_all_pools_dirty()
        return self._done(now)

    def release_licence(self, name: str, render_node: str, now: float) -> list[Decision]:
        """Early release by a runner (Puli's ``DELETE /licenses/<name>``): the first
        command on ``render_node`` holding ``name`` gives its token back."""
        self._start(now)
        render_node_events.release_licence(self._st, name, render_node)
        return self._done(now)

    def release_command_licence(self, command_id: int, attempt: int, name: str,
                                now: float) -> list[Decision]:
        """The runner of ``command_id`` gave its token of ``name`` back before ending
        (Puli's ``updateLicense`` release): the next command needing it may start."""
        self._start(now)
        cmd = self._st.commands.get(command_id)
        run = cmd.run if cmd is not None else None
        if cmd is None or run is None or cmd.token != attempt or name not in run.licences:
            log.debug("licence %s release by command %s attempt %s ignored", name, command_id, attempt)
            return []
        render_node_events.give_licence_back(self._st, run, name)
        return self._done(now)

    # ------------------------------------------------------- worker events
    def command_started(self, command_id: int, attempt: int, now: float) -> list[Decision]:
        st = self._st
        if st.timers:  # self._start(now), inlined: once per command
            lifecycle.timers_due(st, now)
        cmd = st.commands.get(command_id)
        if cmd is None or cmd.token != attempt or cmd.run is None:
            log.debug("stale start of command %s attempt %s ignored", command_id, attempt)
            return []
        if cmd.status == C_ASSIGNED:
            # Its worker started it when it got its slot; the report comes later (after at
            # least RUNNING_REPORT_DELAY_S, and after the ends of shorter ones).
            cmd.start_time = cmd.run.assigned_at
            lifecycle.set_command_status(st, cmd, C_RUNNING, now)
        if not (st.dep_queue or st.dirty_pools or st.out):  # the usual case: nothing follows
            return []
        return self._done(now)

    def command_update(self, command_id: int, attempt: int, now: float, *,
                       status: int | None = None, completion: float | None = None,
                       message: str | None = None,
                       stats: dict[str, Any] | None = None) -> list[Decision]:
        st = self._st
        if st.timers:  # self._start(now), inlined: once per command
            lifecycle.timers_due(st, now)
        cmd = st.commands.get(command_id)
        if cmd is None or cmd.token != attempt or cmd.run is None:
            log.debug("stale update of command %s attempt %s ignored", command_id, attempt)
            return []
        if status is not None:
            status = int(status)
            if status not in C_REPORTABLE:
                raise IllegalTransitionError(
                    f"command {command_id}: a worker cannot report status {status}; expected "
                    f"one of {', '.join(CMD_STATUS_NAME[s] for s in sorted(C_REPORTABLE))} "
                    f"({CMD_STATUS_NAME[C_READY]} means refused)")
        if stats is not None:
            cmd.stats = dict(stats)
        if message is not None:
            cmd.message = message
        if status == C_READY:  # the worker refused it: not the command's fault
            lifecycle.requeue(st, cmd, now)
            return self._done(now)
        if status in (C_RUNNING, C_FINISHING):
            if cmd.start_time is None:
                cmd.start_time = cmd.run.assigned_at  # when it got its slot: see command_started
            lifecycle.set_command_status(st, cmd, status, now)
        if completion is not None and cmd.status in (C_RUNNING, C_FINISHING, C_ERROR, C_TIMEOUT):
            lifecycle.set_completion(cmd, min(max(float(completion), 0.0), 1.0))
        if status is not None and status in C_FINAL:
            # A DONE per command would flood the leader's log on a big farm (the journal
            # has them); failures stand out.
            if status != C_DONE:
                log.info("command %d attempt %d ended %s on %s", command_id, attempt,
                         CMD_STATUS_NAME[status], cmd.run.node.name)
            lifecycle.finish(st, cmd, status, now, message)
        else:
            cmd.update_time = now
        return self._done(now)

    def command_progress(self, command_id: int, attempt: int, now: float, *, completion: float | None = None,
                         message: str | None = None, stats: dict[str, Any] | None = None) -> None:
        """A running command's progress (an UPDATE without status): shown, never journalled, so it
        changes nothing a decision depends on (no timer starts here, nothing is decided)."""
        cmd = self._st.commands.get(command_id)
        if cmd is None or cmd.token != attempt or cmd.run is None:
            return
        if stats is not None:
            cmd.stats = dict(stats)
        if message is not None:
            cmd.message = message
        if completion is not None and cmd.status in (C_RUNNING, C_FINISHING, C_ERROR, C_TIMEOUT):
            lifecycle.set_completion(cmd, min(max(float(completion), 0.0), 1.0))
        cmd.update_time = now

    def held_by(self, command_id: int, attempt: int) -> str | None:
        """The render node running (or holding, pipelined) this attempt; None if it is stale."""
        cmd = self._st.commands.get(command_id)
        run = cmd.run if cmd is not None and cmd.token == attempt else None
        return run.node.name if run is not None else None

    def tick_due(self, now: float) -> bool:
        """Whether ``tick(now)`` would change anything (a retry delay or a timer has passed, a
        borrower may be preempted, or a new minute's archive cutoff is due)."""
        st, keep_for = self._st, self.settings.archive_after_s
        return bool((st.retries and st.retries[0][0] <= now) or (st.timers and st.timers[0][0] <= now) or
                    st.sick.due(now) or self.preempt_due(now) or (keep_for > 0 and (now // 60.0) * 60.0 - keep_for
                                                                  > self._archive_cutoff))

    def tick(self, now: float) -> list[Decision]:
        self._start(now)
        lifecycle.retries_due(self._st, now)
        lifecycle.timers_due(self._st, now)
        keep_for = self.settings.archive_after_s
        if keep_for > 0:
            # A scan of the graphs, so at most once a minute, with a cutoff on whole
            # minutes: a graph ends at the time of the event that finishes it, so a
            # second scan with the same cutoff finds nothing new, and a core restored
            # from a snapshot and replaying the same ticks archives the same graphs.
            cutoff = (now // 60.0) * 60.0 - keep_for
            if cutoff > self._archive_cutoff:
                self._archive_cutoff = cutoff
                edits.archive_finished(self._st, cutoff)
        return self._done(now)

    # ------------------------------------------------------------------ edits
    def pause(self, node_id: int, now: float, kill: bool = False) -> list[Decision]:
        self._start(now)
        node = self._node(node_id)
        if node.status in (N_DONE, N_CANCELED):
            raise IllegalTransitionError(f"node {node_id} ({node.name!r}) is finished; there "
                                         f"is nothing to pause")
        edits.pause(self._st, node, now, kill)
        return self._done(now)

    def resume(self, node_id: int, now: float) -> list[Decision]:
        self._start(now)
        node = self._node(node_id)
        from puli_mesh.coordinator.tree import iter_nodes

        if not any(n.paused for n in iter_nodes(node)):
            raise IllegalTransitionError(f"node {node_id} ({node.name!r}) is not paused")
        edits.resume(self._st, node, now)
        return self._done(now)

    def cancel(self, node_id: int, now: float) -> list[Decision]:
        self._start(now)
        edits.cancel(self._st, self._node(node_id), now)
        return self._done(now)

    def restart(self, node_id: int, now: float, errors_only: bool = False, cascade: bool = True) -> list[Decision]:
        self._start(now)
        edits.restart(self._st, self._node(node_id), now, errors_only, cascade)
        return self._done(now)

    def cancel_command(self, command_id: int, now: float) -> list[Decision]:
        self._start(now)
        cmd = self._command(command_id)
        if not lifecycle.cancel_command(self._st, cmd, now):
            raise IllegalTransitionError(f"command {command_id} is already "
                                         f"{CMD_STATUS_NAME[cmd.status]}")
        return self._done(now)

    def pause_command(self, command_id: int, now: float, kill: bool = False) -> list[Decision]:
        self._start(now)
        edits.pause_command(self._st, self._command(command_id), now, kill)
        return self._done(now)

    def resume_command(self, command_id: int, now: float) -> list[Decision]:
        self._start(now)
        edits.resume_command(self._st, self._command(command_id), now)
        return self._done(now)

    def restart_command(self, command_id: int, now: float, cascade: bool = True) -> list[Decision]:
        self._start(now)
        cmd = self._command(command_id)
        if cmd.status in (C_READY, C_BLOCKED) and cmd.attempts == 0:
            raise IllegalTransitionError(f"command {command_id} never ran; nothing to restart")
        edits.restart_one(self._st, cmd, now, cascade)
        return self._done(now)

    def _edit(self, now: float, edit: Callable[..., None], *args: Any) -> list[Decision]:
        """Run one of ``edits``' functions (``edit(state, *args, now)``) as an event."""
        self._start(now)
        edit(self._st, *args, now)
        return self._done(now)

    def set_command_done(self, command_id: int, now: float) -> list[Decision]:
        return self._edit(now, edits.set_command_done, self._command(command_id))

    def edit_command(self, command_id: int, now: float, description: str | None = None,
                     arguments: dict[str, Any] | None = None) -> list[Decision]:
        edits.edit_command(self._command(command_id), description, arguments)
        return []

    def set_timer(self, node_id: int, timer: float | None, now: float) -> list[Decision]:
        return self._edit(now, edits.set_timer, self._node(node_id), timer)

    def set_max_attempt(self, node_id: int, value: int, now: float) -> list[Decision]:
        return self._edit(now, edits.set_max_attempt, self._node(node_id), value)

    def set_ram_use(self, node_id: int, value: int, now: float) -> list[Decision]:
        return self._edit(now, edits.set_ram_use, self._node(node_id), value)

    def set_environment(self, node_id: int, changes: dict[str, str | None], now: float) -> list[Decision]:
        return self._edit(now, edits.set_environment, self._node(node_id), changes)

    def set_arguments(self, node_id: int, changes: dict[str, Any], now: float) -> list[Decision]:
        return self._edit(now, edits.set_arguments, self._node(node_id), changes)

    def rename(self, node_id: int, name: str, now: float) -> list[Decision]:
        edits.rename(self._node(node_id), name)
        return []

    def set_user(self, graph_id: int, user: str, now: float) -> list[Decision]:
        edits.set_user(self._st, self._graph(graph_id), user)
        return self._done(now)  # its quotas (or share account) may have room: work may start

    def set_dispatch_key(self, node_id: int, value: float, now: float) -> list[Decision]:
        self._start(now)
        edits.set_dispatch_key(self._st, self._node(node_id), value)
        return self._done(now)

    def set_max_rn(self, node_id: int, value: int, now: float) -> list[Decision]:
        self._start(now)
        edits.set_max_rn(self._st, self._node(node_id), int(value))
        return self._done(now)

    def set_tags(self, node_id: int, tags: dict[str, Any], now: float) -> list[Decision]:
        self._start(now)
        edits.set_tags(self._st, self._node(node_id), tags)
        return self._done(now)

    def set_pool(self, graph_id: int, pool: str, now: float) -> list[Decision]:
        self._start(now)
        edits.set_pool(self._st, self._graph(graph_id), pool)
        return self._done(now)

    def set_strategy(self, node_id: int, strategy: str, now: float) -> list[Decision]:
        """How a group orders its children (``puliclient.strategies`` name); a graph's id
        means its root group. IllegalTransitionError for a task or an unknown strategy."""
        self._start(now)
        node = self._node(node_id)
        if isinstance(node, GraphNode) and node.children:
            node = node.children[0]
        if not isinstance(node, TaskGroupNode):
            raise IllegalTransitionError(f"node {node_id} is a task: only a group has children to order")
        try:
            name = strategy_name(strategy)
        except GraphError as exc:
            raise IllegalTransitionError(str(exc)) from None
        pools_mod.set_strategy(node.graph, node, name)
        return self._done(now)

    # ------------------------------------------------------------ durability
    def snapshot(self) -> dict[str, Any]:
        return snapshot_mod.dump(self._st)

    @classmethod
    def restore(cls, data: dict[str, Any], settings: CoreSettings | None = None) -> SchedulingCore:
        core = cls(settings)
        snapshot_mod.load(core._st, data)
        return core

