"""The worker part of an agent: pull commands from the leader, run them, report.

Paranoid Pirate on the worker side: one DEALER connected to the leader's
ROUTER, any message from the coordinator counts as a heartbeat, a HEARTBEAT goes
only on a link this side said nothing on for an interval (the leader's, told in
WELCOME and HEARTBEAT: it grows with the farm), and after ``liveness`` silent
intervals the worker reconnects with back-off. Until its WELCOME comes, it says
HELLO again after a jittered, growing wait (a new leader meets every node's HELLO
at once; saying it again every interval made a slow takeover slower). It follows
the leader znode: when the leader changes it reconnects to the new endpoint and
says HELLO with what it runs, so running commands survive a coordinator change.
Every connection has a fresh, unguessable routing id (``fresh_routing_id``).

Guarantees: an UPDATE carrying a final status is re-sent until acknowledged, so
a result produced while no leader answers is delivered to the next one; orders
from an epoch older than the newest seen are refused; never more than ``slots``
commands run at once. Pipelined commands (an ASSIGN with ``after``) wait in
``queued`` and start, in order, as soon as the command they wait behind is no
longer here and a slot is free; a worker that stops gives back what has not
started. Not done here: deciding anything about scheduling.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zmq

from puli_mesh.config import Settings
from puli_mesh.errors import ProtocolError
from puli_mesh.limits import MAX_MESSAGE_BYTES, WORKER_HWM
from puli_mesh.node.command import ExecutionEvent
from puli_mesh.node.execution import CommandExecution
from puli_mesh.node.launch import CommandLaunch
from puli_mesh.node.leader_link import RECONNECT_IVL_MAX_MS, fresh_routing_id, interval_told, spread
from puli_mesh.node.resources import (
    FIGURES_EVERY_S,
    FREE_RAM_STEP_MB,
    LOAD_STEP,
    FigureReport,
    node_gpus,
    read_free_ram_mb,
    read_load,
    read_resources,
)
from puli_mesh.node.shell_execution import ShellFramesExecution, start_execution
from puli_mesh.protocol import (
    AckMessage,
    AssignMessage,
    AssignsMessage,
    ByeMessage,
    CommandSpec,
    ErrorCode,
    ErrorMessage,
    HeartbeatMessage,
    HelloMessage,
    KillfileMessage,
    KillfileOrder,
    KillMessage,
    Message,
    ReadyMessage,
    ReleaseMessage,
    UpdateMessage,
    UpdatesMessage,
    WelcomeMessage,
    decode,
)
from puliclient.status import CommandStatus

log = logging.getLogger(__name__)

FAILED_STATUSES = frozenset({int(CommandStatus.ERROR), int(CommandStatus.TIMEOUT)})
"""How a command that failed here ends (a CANCELED one was stopped on purpose)."""
RESEND_AFTER_S = 2.0
HELLO_WAIT_MAX_S = 32.0
RAN_REMEMBERED = 100_000
"""Commands whose log this agent finds at once (about 10 MB): far more than a node runs in days."""
UPDATE_GATHER_S = 0.005
"""While frames end fast, their UPDATEs are gathered this long into one UPDATES (one message
and one READY record for the coordinator instead of one per command); an update after a
quiet spell goes at once."""
RUNNING_REPORT_DELAY_S = 0.05
PROGRESS_EVERY_S = 1.0
@dataclass(slots=True)
class PendingUpdate:
    """An UPDATE not yet acknowledged."""

    update: UpdateMessage  # without a credit: the one it carries is the credit when it is sent
    with_credit: bool = False  # a final UPDATE: it also stands for a READY
    sent_at: float = 0.0


@dataclass
class RunningCommand:
    """A command running on this node, and what the worker has told the coordinator about it."""

    execution: CommandExecution | ShellFramesExecution
    started: float = field(default_factory=time.monotonic)
    running_reported: bool = False
    last_progress_sent: float = 0.0
    pending_progress: dict[str, Any] = field(default_factory=dict)  # event kind -> its latest value


class Worker:
    """Owns the DEALER socket and the running commands of one agent."""

    def __init__(self, settings: Settings, context: zmq.Context[zmq.Socket[bytes]]) -> None:
        self.settings = settings
        self.context = context
        self.socket: zmq.Socket[bytes] | None = None
        self.leader_endpoint: str | None = None
        self.max_epoch_seen = 0
        self.running: dict[int, RunningCommand] = {}
        self.queued: list[CommandSpec] = []  # pipelined: assigned here, waiting for a slot
        self.ran: dict[int, int] = {}
        """command id -> task id of the last ``RAN_REMEMBERED`` commands started here: a LOGS
        request finds their log without scanning every task's directory (``logs.find_log``)."""
        self.ran_by: dict[int, str] = {}
        """command id -> the user of its job, for the same commands: who may read its log."""
        self.secure: Callable[[zmq.Socket[bytes]], None] | None = None
        """Makes the link to the coordinator a CURVE client (``node.security``); None: open mesh."""
        self.pending: dict[tuple[int, int, int], PendingUpdate] = {}
        self._next_resend = 0.0  # when the oldest pending update is due to be sent again
        self._outbox: list[PendingUpdate] = []  # new updates gathered into the next UPDATES
        self._outbox_due = 0.0
        self._last_update_sent = float("-inf")
        self.accepting = True
        self.killfile: KillfileOrder | None = None  # the order of its killfile (``node.killfile``), if any
        self.free_ram = FigureReport(FREE_RAM_STEP_MB)
        self.load = FigureReport(LOAD_STEP)
        self.gpus = node_gpus(settings.gpus)  # said in every HELLO; detected once
        self._figures_due = 0.0
        self.commands_run = 0  # ended here, any final status (``puli_mesh.metrics``)
        self.commands_failed = 0  # ended here in ERROR or TIMEOUT
        self._seq = 0
        self._last_heard = 0.0
        self._last_sent = 0.0
        self._welcomed = False
        self._backoff = settings.heartbeat_interval
        self.beat_interval = settings.heartbeat_interval
        """The interval this worker heartbeats at: its own, or the longer one its leader told it."""
        self._hello_wait = settings.heartbeat_interval  # before the next HELLO, if no WELCOME comes
        self._hello_again_at = 0.0
        self._reconnect_at = 0.0
        self.log_dir = Path(settings.log_dir)
        self.launch = CommandLaunch.from_settings(settings)  # the commands' environment and account
        self._handlers: dict[type[Message], Callable[[Any], None]] = {
            WelcomeMessage: self._on_welcome, AssignMessage: self._on_assign, AssignsMessage: self._on_assigns,
            KillMessage: self._on_kill, AckMessage: self._on_ack, HeartbeatMessage: self._on_heartbeat,
            ErrorMessage: self._on_error,
        }

    # ----------------------------------------------------------------- connection
    def follow(self, endpoint: str | None, epoch: int) -> None:
        """The leader znode changed: connect to the new coordinator."""
        if epoch and epoch < self.max_epoch_seen:
            log.warning("ignoring leader %s with old epoch %d < %d", endpoint, epoch, self.max_epoch_seen)
            return
        if endpoint == self.leader_endpoint and self.socket is not None:
            return
        self.leader_endpoint = endpoint
        self._backoff = self.settings.heartbeat_interval
        self._connect()

    def _connect(self) -> None:
        self._close()
        self._welcomed = False
        if self.leader_endpoint is None:
            return
        sock = self.context.socket(zmq.DEALER)
        sock.setsockopt(zmq.IDENTITY, fresh_routing_id(self.settings.name))
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.RECONNECT_IVL_MAX, RECONNECT_IVL_MAX_MS)
        sock.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)  # a bigger frame is dropped by ZeroMQ, unread
        sock.setsockopt(zmq.SNDHWM, WORKER_HWM)
        sock.setsockopt(zmq.RCVHWM, WORKER_HWM)
        if self.secure is not None:
            self.secure(sock)
        sock.connect(self.leader_endpoint)
        self.socket = sock
        now = time.monotonic()
        self._last_heard = now
        self.beat_interval = self.settings.heartbeat_interval  # until the new leader tells its own
        self._hello_wait = self.settings.heartbeat_interval * self.settings.heartbeat_liveness
        log.info("worker %s connecting to coordinator %s", self.settings.name, self.leader_endpoint)
        self._send_hello()

    def _close(self) -> None:
        if self.socket is not None:
            self.socket.close(linger=0)
            self.socket = None

    def close(self) -> None:
        if self.socket is not None and self._welcomed:
            self._send(ByeMessage())
        self._close()

    def _send(self, msg: Message) -> None:
        if self.socket is None:
            return
        try:
            self.socket.send(msg.encode(), zmq.NOBLOCK)
            self._last_sent = time.monotonic()
        except zmq.Again:
            log.debug("worker send queue full; %s dropped (will be retried if it matters)", msg.kind)

    def _send_hello(self) -> None:
        # The next one, if no WELCOME comes: after a wait that doubles up to 32 s, spread.
        self._hello_again_at = time.monotonic() + spread(self._hello_wait)
        self._hello_wait = min(self._hello_wait * 2, HELLO_WAIT_MAX_S)
        res = read_resources()
        self.free_ram.told(res.free_ram_mb)
        self.load.told(res.load)
        self._figures_due = time.monotonic() + FIGURES_EVERY_S  # what it says now is not news then
        self._send(HelloMessage(
            name=self.settings.name,
            endpoint=self.settings.endpoint,
            pools=list(self.settings.pools),
            cores=res.cores,
            ram_mb=res.ram_mb,
            free_ram_mb=res.free_ram_mb,
            slots=self.settings.slots,
            characteristics={"os": res.os, "softs": [], **self.settings.characteristics},
            performance=float(self.settings.performance),
            running=self._still_ours(),
            last_epoch=self.max_epoch_seen,
            pipeline=self.settings.pipeline,
            gpus=self.gpus or None,
            load=res.load,
        ))

    def _still_ours(self) -> list[list[int]]:
        """What runs here, plus what ended here but whose result the coordinator has not acknowledged:
        a new leader must keep those assignments so the held results are accepted."""
        ours = {cid: r.execution.spec.attempt for cid, r in self.running.items()}
        ours.update((spec.command_id, spec.attempt) for spec in self.queued)
        for pending in self.pending.values():
            update = pending.update
            if update.status is not None:
                ours.setdefault(update.command_id, update.attempt)
        return [[cid, attempt] for cid, attempt in sorted(ours.items())]

    @property
    def linked(self) -> bool:
        """Welcomed by a leader on the current connection."""
        return self._welcomed and self.socket is not None

    @property
    def free_slots(self) -> int:
        """The credit it asks for: free slots, plus free places in its pipeline queue."""
        if not self.accepting or self.killfile is KillfileOrder.PAUSE:
            return 0
        capacity = self.settings.slots * (1 + self.settings.pipeline)
        return max(0, capacity - len(self.running) - len(self.queued))

    def _send_ready(self) -> None:
        if self._welcomed:
            self._send(ReadyMessage(self.free_slots))

    # ------------------------------------------------------------------ incoming
    def on_message(self, frame: bytes) -> None:
        try:
            msg = decode(frame)
        except ProtocolError as exc:
            log.warning("worker dropped a bad message from the coordinator: %s", exc)
            return
        self._last_heard = time.monotonic()
        self._backoff = self.settings.heartbeat_interval
        epoch: int | None = getattr(msg, "epoch", None)  # every order carries its coordinator's epoch
        if epoch is not None:
            if epoch < self.max_epoch_seen:
                log.warning("refusing %s from old epoch %d (newest seen %d)", msg.kind, epoch, self.max_epoch_seen)
                return
            self.max_epoch_seen = epoch
        handler = self._handlers.get(type(msg))
        if handler is None:
            log.warning("worker got unexpected %s", msg.kind)
            return
        try:
            handler(msg)
        except Exception:  # a bad order must not take the agent (and its running commands) down
            log.exception("worker could not handle %s", msg.kind)

    def _on_welcome(self, msg: WelcomeMessage) -> None:
        self._welcomed = True
        self.beat_interval = interval_told(self.settings.heartbeat_interval, msg.interval)
        given_away = {int(cid) for cid in msg.kill}
        self.queued = [spec for spec in self.queued if spec.command_id not in given_away]
        for cid in given_away:
            run = self.running.get(cid)
            if run is not None:
                log.info("coordinator epoch %d says command %s is no longer ours: killing it", msg.epoch, cid)
                run.execution.kill(reason="reassigned by the coordinator")
        self._outbox = []  # all of it is pending: sent again just below
        for pending in self.pending.values():
            pending.sent_at = 0.0  # deliver held results to the new leader now
        self._next_resend = 0.0
        self._flush_pending(time.monotonic())
        self._send_ready()
        if self.killfile is not None:  # a new leader may know an older one (or none)
            self._send(KillfileMessage(self.killfile))

    def _on_assigns(self, msg: AssignsMessage) -> None:
        """Several ASSIGNs in one message (one journal batch's for this worker), in order;
        a malformed one is refused alone."""
        for item in msg.assigns:
            try:
                spec = CommandSpec.from_map(item)
            except ProtocolError as exc:
                log.warning("worker dropped a bad assignment: %s", exc)
                continue
            try:
                self._take(spec)
            except Exception:  # as on_message: one bad order must not drop the others
                log.exception("worker could not handle an assignment")

    def _on_assign(self, msg: AssignMessage) -> None:
        self._take(msg.spec)

    def _take(self, spec: CommandSpec) -> None:
        """Run ``spec`` now, queue it behind the command it was sent ahead of, or give it back."""
        if spec.command_id in self.running or any(q.command_id == spec.command_id for q in self.queued):
            log.info("command %d is already here; duplicate ASSIGN ignored", spec.command_id)
            return
        if spec.after and self.accepting and self.free_slots > 0:
            self.queued.append(spec)
            self._start_queued()
            return
        if not self.accepting or self.killfile is KillfileOrder.PAUSE or spec.after \
                or len(self.running) >= self.settings.slots:
            log.warning("no room for command %d; reporting it back", spec.command_id)
            self._queue_update(spec.command_id, spec.attempt, int(CommandStatus.READY),
                               message="worker had no free slot")
            return
        self._start(spec)

    def _start_queued(self) -> None:
        """Start, in order, the pipelined commands whose predecessor has ended, while slots are free."""
        while self.queued and len(self.running) < self.settings.slots:
            here = {q.command_id for q in self.queued}
            spec = next((q for q in self.queued if q.after not in self.running and q.after not in here), None)
            if spec is None:
                return
            self.queued.remove(spec)
            self._start(spec)

    def _give_back_queued(self, reason: str) -> None:
        """Commands that have not started go back to the coordinator (READY: no attempt spent)."""
        queued, self.queued = self.queued, []
        for spec in queued:
            self._queue_update(spec.command_id, spec.attempt, int(CommandStatus.READY), message=reason)

    def _start(self, spec: CommandSpec) -> None:
        execution = start_execution(spec, self.log_dir, self.settings.name, self.settings.cluster, self.launch,
                                    self.settings.idle_timeout)
        self.running[spec.command_id] = RunningCommand(execution)
        ran = self.ran
        ran[spec.command_id] = spec.task_id
        self.ran_by[spec.command_id] = spec.user
        if len(ran) > RAN_REMEMBERED:
            self.ran_by.pop(next(iter(ran)), None)
            del ran[next(iter(ran))]
        log.debug("command %d attempt %d (%s) starting", spec.command_id, spec.attempt, spec.name)
        try:
            execution.start()
        except Exception as exc:  # e.g. arguments no process can be made of: it fails, and frees its slot
            log.exception("command %d attempt %d could not start", spec.command_id, spec.attempt)
            try:
                execution.kill(reason="it could not start")  # whatever part of it did start
            except Exception:
                log.exception("command %d: could not kill what started of it", spec.command_id)
            self._handle_events(spec.command_id, [ExecutionEvent(
                spec.command_id, spec.attempt, "end", status=CommandStatus.ERROR,
                message=f"could not start: {type(exc).__name__}: {exc}"[:1000])])
            return
        self._handle_events(spec.command_id, execution.check(time.monotonic()))

    def _on_kill(self, msg: KillMessage) -> None:
        waiting = next((q for q in self.queued if q.command_id == msg.command_id
                        and q.attempt == msg.attempt), None)
        if waiting is not None:  # not started: nothing to kill, the coordinator has taken it back
            log.info("dropping queued command %s: %s", msg.command_id, msg.reason)
            self.queued.remove(waiting)
            self._start_queued()
            self._send_ready()
            return
        run = self.running.get(msg.command_id)
        if run is None or run.execution.spec.attempt != msg.attempt:
            return
        log.info("killing command %s: %s", msg.command_id, msg.reason)
        run.execution.kill(reason=msg.reason)

    def _on_ack(self, msg: AckMessage) -> None:
        for triple in msg.acks:
            try:
                command_id, attempt, seq = (int(x) for x in triple)
            except (TypeError, ValueError):
                log.warning("ignoring a malformed acknowledgement %r", triple)
                continue
            self.pending.pop((command_id, attempt, seq), None)

    def _on_heartbeat(self, msg: HeartbeatMessage) -> None:
        if msg.interval is not None:  # else it keeps the one it was told
            self.beat_interval = interval_told(self.settings.heartbeat_interval, msg.interval)

    def _on_error(self, msg: ErrorMessage) -> None:
        log.warning("coordinator error: %s %s", msg.code, msg.message)
        if msg.code in (ErrorCode.NOT_LEADER, ErrorCode.HELLO_FIRST, ErrorCode.NOT_MEMBER, ErrorCode.LINKED):
            # tick() says HELLO again after a wait (a new member's HELLO may reach the leader
            # before the leader has seen its member znode)
            if self._welcomed:
                self._hello_wait = self.settings.heartbeat_interval
                self._hello_again_at = time.monotonic() + spread(self._hello_wait)
            self._welcomed = False

    # ------------------------------------------------------------------ execution
    @property
    def report_fds(self) -> dict[int, int]:
        """fd -> command id of every running command's report pipe."""
        fds: dict[int, int] = {}
        for cid, run in self.running.items():
            fd = run.execution.report_fd
            if fd is not None and fd >= 0:
                fds[fd] = cid
        return fds

    def on_report(self, command_id: int) -> None:
        run = self.running.get(command_id)
        if run is not None:
            self._handle_events(command_id, run.execution.read_reports())

    def _handle_events(self, command_id: int, events: list[ExecutionEvent]) -> None:
        run = self.running.get(command_id)
        if run is None:
            return
        spec = run.execution.spec
        for event in events:
            if event.kind == "end":
                del self.running[command_id]
                self.commands_run += 1
                self.commands_failed += int(event.status) in FAILED_STATUSES
                # The final UPDATE carries the new credit: no separate READY needed.
                self._queue_update(command_id, spec.attempt, int(event.status),
                                   completion=float(event.completion), message=event.message, with_credit=True)
                self._start_queued()
                return
            if event.kind == "licence":
                # Best effort: if it is lost, the token comes back when the command ends anyway.
                log.info("command %d gives licence %s back early", command_id, event.value)
                self._send(ReleaseMessage(command_id, spec.attempt, str(event.value)))
            if event.kind in ("completion", "message", "stats"):
                run.pending_progress[event.kind] = event.value

    def _queue_update(self, command_id: int, attempt: int, status: int, completion: float | None = None,
                      message: str | None = None, with_credit: bool = False) -> None:
        """A status to deliver: kept until acknowledged; ``with_credit``: it also stands for a READY."""
        self._seq += 1
        update = UpdateMessage(command_id, attempt, self._seq, status, completion, message, None)
        now = time.monotonic()
        pending = PendingUpdate(update, with_credit, sent_at=now)
        self.pending[(command_id, attempt, self._seq)] = pending
        if now + RESEND_AFTER_S < self._next_resend:
            self._next_resend = now + RESEND_AFTER_S
        if not self._outbox:
            self._outbox_due = max(now, self._last_update_sent + UPDATE_GATHER_S)
        self._outbox.append(pending)
        if now >= self._outbox_due:
            self._send_outbox(now)

    def outbox_due_in(self, now: float) -> float | None:
        """Seconds until the gathered updates must go (None: nothing gathered)."""
        return max(0.0, self._outbox_due - now) if self._outbox else None

    def _send_outbox(self, now: float) -> None:
        """The gathered updates as one message; the credit after them stands for a READY."""
        outbox, self._outbox = self._outbox, []
        if self.socket is None or not self._welcomed:
            return  # they stay pending: the WELCOME of the next coordinator sends them again
        self._last_update_sent = now
        credit = self.free_slots if any(p.with_credit for p in outbox) else None
        for pending in outbox:
            pending.sent_at = now
        if len(outbox) == 1:
            self._send_update(outbox[0])
            return
        self._send(UpdatesMessage([p.update.to_map() for p in outbox], credit))

    def _send_update(self, pending: PendingUpdate) -> None:
        update = pending.update
        if pending.with_credit:
            update = dataclasses.replace(update, free_slots=self.free_slots)
        self._send(update)

    def _flush_pending(self, now: float) -> None:
        """Send again every update unacknowledged for RESEND_AFTER_S. Updates wait for one
        ACK per journal batch, so several are usually pending: they are walked only when
        one of them is due."""
        if self.socket is None or not self._welcomed or now < self._next_resend:
            return
        due = []
        next_resend = now + RESEND_AFTER_S
        for p in self.pending.values():
            if now - p.sent_at >= RESEND_AFTER_S:
                due.append(p)
            elif p.sent_at + RESEND_AFTER_S < next_resend:
                next_resend = p.sent_at + RESEND_AFTER_S
        self._next_resend = next_resend
        for pending in due:
            pending.sent_at = now
            self._send_update(pending)

    # ----------------------------------------------------------------- every turn
    def tick(self) -> None:
        now = time.monotonic()
        for cid in list(self.running):
            run = self.running.get(cid)
            if run is None:
                continue
            events = run.execution.check(now)
            if events:
                self._handle_events(cid, events)
                run = self.running.get(cid)
            if run is not None and not run.running_reported and now - run.started >= RUNNING_REPORT_DELAY_S:
                # Short commands never say RUNNING: their final UPDATE says all there is.
                run.running_reported = True
                self._queue_update(cid, run.execution.spec.attempt, int(CommandStatus.RUNNING))
            if run is not None and run.pending_progress and now - run.last_progress_sent >= PROGRESS_EVERY_S:
                progress = run.pending_progress
                run.pending_progress = {}
                run.last_progress_sent = now
                if self._welcomed:
                    self._seq += 1
                    self._send(UpdateMessage(cid, run.execution.spec.attempt, self._seq, None,
                                             progress.get("completion"), progress.get("message"),
                                             progress.get("stats")))
        if self._outbox and now >= self._outbox_due:
            self._send_outbox(now)
        self._flush_pending(now)
        if self.leader_endpoint is None:
            return
        if self.socket is None:
            if now >= self._reconnect_at:
                self._connect()
            return
        if not self._welcomed:
            # No reconnection for silence here: a leader busy welcoming a whole farm is slow, not
            # gone (a dead one is replaced through ZooKeeper, and ``follow`` reconnects then).
            if now >= self._hello_again_at:
                self._send_hello()
            return
        interval = self.beat_interval
        if now - self._last_heard > interval * self.settings.heartbeat_liveness:
            log.warning("coordinator %s silent for %.1fs; reconnecting in %.1fs",
                        self.leader_endpoint, now - self._last_heard, self._backoff)
            self._close()
            self._reconnect_at = now + self._backoff
            self._backoff = min(self._backoff * 2, 32.0)
            return
        if now >= self._figures_due:  # a HEARTBEAT with the figures that changed (few reads: not each turn)
            self._figures_due = now + max(FIGURES_EVERY_S, interval)
            free_ram, load = self.free_ram.news(read_free_ram_mb()), self.load.news(read_load())
            if free_ram is not None or load is not None:
                self._send(HeartbeatMessage(self.max_epoch_seen, free_ram_mb=free_ram, load=load))
        if now - self._last_sent >= interval:
            self._send(HeartbeatMessage(self.max_epoch_seen))

    def stop_accepting(self) -> None:
        self.accepting = False
        self._give_back_queued("the agent is stopping; not started")

    def obey_killfile(self, order: KillfileOrder, report: KillfileOrder | None) -> None:
        """Its killfile says ``order`` from now on; ``report`` (None: no change) goes to the leader,
        who kills and re-queues what runs on a KILL. With no leader to tell, it kills here."""
        held_before = self.killfile is KillfileOrder.PAUSE
        self.killfile = order
        if report is KillfileOrder.KILL and not self._welcomed:
            self.kill_all("the node's killfile")
        if report is not None and self._welcomed:
            self._send(KillfileMessage(report))
        if held_before and order is not KillfileOrder.PAUSE:
            self._send_ready()

    def kill_all(self, reason: str) -> None:
        self._give_back_queued(f"{reason}; not started")
        for run in self.running.values():
            run.execution.kill(reason=reason)
