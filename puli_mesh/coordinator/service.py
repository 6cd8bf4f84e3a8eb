"""The coordinator service: the shell around the scheduling core on the leader's ROUTER socket.

It moves bytes and reads clocks, and leaves every rule to pure modules: it decodes
worker and client messages into journal records (``records``, time passed in), runs
them (journal, core, decisions), and sends the core's decisions (ASSIGN, KILL) and the
replies when the durability pipeline (``durability``) releases them: a message that
follows from a record is held until that record is durable in the journal, so nothing
a worker or client acts on can be lost by a failover. A fenced write (a newer leader
exists) makes ``fenced`` true: the agent steps down at once.

Liveness (``worker_links``): ZooKeeper membership is the truth about which nodes are
alive (``set_members``: a node gone from ZooKeeper is lost after ``lost_grace`` and its
commands are re-queued); heartbeats only tell which workers can be reached. A send that
fails (the worker's queue is full: sends never wait) drops that worker's link: it must say
HELLO again, and the HELLO reconciles what it runs with what the core believes.

Peers: a worker message is taken as a node's only from the routing id an accepted HELLO (from
a live ZooKeeper member) tied to that node (``peers``); any other routing id gets
``hello_first``. A node's new HELLO on a new routing id drops its older link.

Guarantees: one thread (the agent's loop) calls every method; journal callbacks come
back through ``post("journal_written", (service, number, exc))`` and the loop's
``on_written``. Only this module and ``journal`` (kazoo) read clocks in the coordinator.

Not here: the policy (``SchedulingCore``), what a request means (``requests``), what a linked
worker reports (``worker_reports``, a base class), watching
ZooKeeper (the agent feeds membership, licence and pool changes in).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import zmq

from puli_mesh.coordinator import background_snapshot, hook_delivery
from puli_mesh.coordinator.client_queries import JournalFigures, LinkFacts, StatusFacts
from puli_mesh.coordinator.core import SchedulingCore
from puli_mesh.coordinator.decisions import Assign, Decision, Kill
from puli_mesh.coordinator.durability import (
    GROUP_WAIT_S,
    AssignItem,
    Batch,
    DurabilityPipeline,
    Release,
    Send,
    SendAcks,
    SnapshotSchedule,
)
from puli_mesh.coordinator.farm_metrics import FarmRecorder
from puli_mesh.coordinator.hook_events import EventGate
from puli_mesh.coordinator.ports import Journal, Router
from puli_mesh.coordinator.records import (
    HelloRecord,
    LeftRecord,
    LicenceRecord,
    PoolRecord,
    ReadyRecord,
    Record,
    ReleaseRecord,
    Result,
    TickRecord,
    decisions_of,
)
from puli_mesh.coordinator.render_nodes import RenderNodeInfo
from puli_mesh.coordinator.requests import ClientRequests
from puli_mesh.coordinator.worker_links import LostNodes, WorkerLink, scale_heartbeat_interval
from puli_mesh.coordinator.worker_reports import WorkerReports
from puli_mesh.errors import CoreError, FencedError, ProtocolError
from puli_mesh.faults import Faults, guarded
from puli_mesh.protocol import (
    AckMessage,
    AssignMessage,
    AssignsMessage,
    ByeMessage,
    ClientRequest,
    CommandSpec,
    ErrorCode,
    ErrorMessage,
    HeartbeatMessage,
    HelloMessage,
    KillfileMessage,
    KillMessage,
    QueryMessage,
    ReadyMessage,
    ReleaseMessage,
    UpdateMessage,
    UpdatesMessage,
    WelcomeMessage,
    WorkerMessage,
)

log = logging.getLogger(__name__)

TICK_EVERY_S = 0.1
"""Timers, expiry and snapshots are looked at this often, not every loop turn."""


class CoordinatorService(WorkerReports):
    """Feeds one ROUTER socket's traffic into a SchedulingCore, journals it, sends its decisions."""

    def __init__(
        self,
        router: Router,
        core: SchedulingCore,
        epoch: int,
        *,
        heartbeat_interval: float,
        heartbeat_liveness: int,
        leader_name: str,
        cluster: str,
        journal: Journal | None = None,
        post: Callable[[str, Any], None] | None = None,
        next_index: int = 1,
        lost_grace: float = 0.0,
        snapshot_every: int = 50_000,
        snapshot_interval: float = 300.0,
        group_wait: float = GROUP_WAIT_S,
        secured: bool = False,
        recorder: FarmRecorder | None = None,
    ) -> None:
        self.router = router
        self.secured = secured
        """Whether the mesh checks keys and roles (an ``--insecure`` one says so in ``status``)."""
        self.core = core
        self.epoch = epoch
        self.heartbeat_interval = heartbeat_interval
        """The configured interval; the one workers are told grows with their number (``beat_interval``)."""
        self.beat_interval = heartbeat_interval
        """The interval this leader's workers heartbeat at (``worker_links.scale_heartbeat_interval``):
        it only grows while this leader leads, so a link never counts as silent because the
        interval it was told went down."""
        self.heartbeat_liveness = heartbeat_liveness
        self.leader_name = leader_name
        self.cluster = cluster
        self.journal = journal
        self.post = post or (lambda kind, payload: None)
        self.links: dict[str, WorkerLink] = {}
        """Render node name -> its current link."""
        self.peers: dict[bytes, WorkerLink] = {}
        """Routing id -> the link it was tied to by an accepted HELLO: the only way a message is
        taken as a node's (a worker's routing id is fresh and unguessable per connection)."""
        self.dispatching = True
        self.requests = ClientRequests(self, leader_name)
        self.recorder = recorder or FarmRecorder.resumed(None)  # the history; what ``puli_mesh.metrics`` reads
        self.stats = self.recorder.stats
        self.assignments_sent = 0
        self.pipeline = DurabilityPipeline(next_index, group_wait=group_wait)
        self.journal_bytes = 0
        self.journal_batches = 0  # ZooKeeper transactions of the journal (rewrites included)
        self.snapshots = SnapshotSchedule(snapshot_every, snapshot_interval, next_index - 1, time.monotonic())
        self.last_snapshot_wall: float | None = None
        self._snapshot_thread: threading.Thread | None = None
        self._last_tick = float("-inf")
        self.lost = LostNodes(lost_grace)
        self.faults = Faults()
        self.event_gate = EventGate(core.hook_events.next_seq)
        self.hook_delivery = hook_delivery.start_for(self, journal, cluster, core.hook_events.after(0))
        self.members: set[str] | None = None
        """ZooKeeper's live members (``set_members``); None until known (then HELLO is not checked)."""

    @property
    def fenced(self) -> bool:
        """A newer leader exists: this one must step down."""
        return self.pipeline.fenced

    @property
    def next_index(self) -> int:
        return self.pipeline.next_index

    @property
    def durable_index(self) -> int:
        return self.pipeline.durable_index

    @property
    def journal_idle(self) -> bool:
        """Nothing waits to be written or acknowledged."""
        return self.pipeline.idle

    # --------------------------------------------------------------- the records
    def run(self, record: Record[Result]) -> Result:
        """Journal ``record``, apply it to the core, send or hold its decisions.

        The record is kept even if the core refuses it: replaying it raises the same
        way, and an exception may come after a partial change.
        """
        if self.journal is not None:
            self.pipeline.add(record.to_data(), time.monotonic())
        result = record.apply(self.core)
        if self.core.hook_events.next_seq != self.event_gate.next_seq:  # rare: a job ended, a node lost...
            self.event_gate.note(self.core.hook_events, self.pipeline.next_index - 1)
        self.carry_out(decisions_of(result))
        return result

    def carry_out(self, decisions: list[Decision]) -> None:
        """Send or hold what the core decided (an ASSIGN to a worker without a link is dropped)."""
        for decision in decisions:
            if isinstance(decision, Assign):
                self._send_assign(decision)
            elif isinstance(decision, Kill):
                link = self.links.get(decision.node)
                if link is not None:
                    self.hold(link.identity, KillMessage(self.epoch, decision.command_id, decision.attempt,
                                                         decision.reason).encode())

    def hold(self, identity: bytes, data: bytes) -> None:
        """Send once every record so far is durable (at once if it already is)."""
        self._deliver(self.pipeline.hold(identity, data))

    def hold_ack(self, identity: bytes, command_id: int, attempt: int, seq: int) -> None:
        """Acknowledge an UPDATE once every record so far is durable, with the other
        acknowledgements due to that worker then (at once if all is durable)."""
        self._deliver(self.pipeline.hold_ack(identity, command_id, attempt, seq))

    def _deliver(self, releases: list[Release]) -> None:
        for release in releases:
            if isinstance(release, Send):
                self._send(release.peer, release.data)
            elif isinstance(release, SendAcks):
                self._send(release.peer, AckMessage(self.epoch, release.acks).encode())
            else:
                self._send_assigns(release.peer, release.assigns)

    # ------------------------------------------------------------------ journal
    def flush(self) -> None:
        """Write the batch due now, or rewrite the failed ones once their retry is due."""
        if self.journal is None or self.pipeline.fenced:
            return
        now = time.monotonic()
        if self.pipeline.retry_pending:
            if self.dispatching:  # e.g. not while ZooKeeper is suspended
                for batch in self.pipeline.rewrites_due(now):
                    self._write(batch)
            return
        batch = self.pipeline.cut(now)
        if batch is not None:
            self._write(batch)

    def flush_due_in(self) -> float | None:
        """Seconds before the gathered records are due to be written (0: now), or None if
        no write is waiting on time (see ``DurabilityPipeline.due_in``)."""
        if self.journal is None:
            return None
        return self.pipeline.due_in(time.monotonic())

    def _write(self, batch: Batch) -> None:
        assert self.journal is not None
        number = batch.number

        def done(exc: Exception | None) -> None:  # on a kazoo thread
            self.post("journal_written", (self, number, exc))

        try:
            self.journal_bytes += self.journal.write_batch_async(number, batch.first, batch.records, done)
            self.journal_batches += 1
            self.recorder.batch_written(number, time.monotonic())
        except Exception as exc:  # e.g. not connected: retry shortly
            log.warning("journal batch %d not written: %s", number, exc)
            self.pipeline.failed(number, time.monotonic())

    def on_written(self, number: int, exc: Exception | None) -> None:
        """The loop's side of a batch write: release what it held, or retry, or give up."""
        if isinstance(exc, FencedError):
            if self.pipeline.fence(number):
                log.error("coordinator epoch %d fenced: %s", self.epoch, exc)
                self.dispatching = False
            return
        if exc is not None:
            if self.pipeline.failed(number, time.monotonic()):
                log.warning("journal batch %d failed (%s); retrying", number, exc)
            return
        self.recorder.batch_durable(number, time.monotonic())
        self._deliver(self.pipeline.written(number))
        self.flush()

    def _maybe_snapshot(self, now_mono: float) -> None:
        if self.journal is None or not self.dispatching:
            return
        index = self.pipeline.next_index - 1
        thread = self._snapshot_thread
        writing = thread is not None and thread.is_alive()
        if isinstance(thread, background_snapshot.SnapshotThread) and not writing and thread.failure:
            self._snapshot_thread = None
            raise thread.failure  # counted here, on the loop; the next one comes on schedule
        if not self.snapshots.due(index, now_mono, writing):
            return
        # Taken before the state is read: a snapshot that fails waits for its next turn, rather
        # than walking the whole tree again on every tick.
        self.snapshots.taken(index, now_mono)
        # Forked here, between two records: the child is the state after ``index`` and dumps it
        # while the loop goes on (``background_snapshot``).
        pending = background_snapshot.start(self.core)
        writer = self.journal
        pipeline = self.pipeline

        def write(blob: bytes) -> None:
            if writer.write_snapshot(blob, index, lambda: pipeline.durable_index):
                self.last_snapshot_wall = time.time()

        self._snapshot_thread = background_snapshot.SnapshotThread(pending, write)
        self._snapshot_thread.start()

    # ------------------------------------------------------------------ workers
    def on_worker_message(self, identity: bytes, msg: WorkerMessage) -> None:
        now_mono = time.monotonic()
        if isinstance(msg, HelloMessage):
            self._on_hello(identity, msg, now_mono)
            return
        link = self.peers.get(identity)
        if link is None:
            # A routing id no accepted HELLO tied to a node: a worker new to this coordinator
            # (e.g. after a leader change), a dropped older connection, or a stranger.
            self._send(identity, ErrorMessage(None, ErrorCode.HELLO_FIRST, "say HELLO first").encode())
            return
        name = link.name
        link.last_heard = now_mono
        now = time.time()
        self.recorder.request_at = now_mono  # what an ASSIGN sent while handling it is timed from
        try:
            match msg:
                case ReadyMessage():
                    if self.dispatching:
                        self.run(ReadyRecord(name, msg.free_slots, now))
                case UpdateMessage():
                    self.on_update(identity, name, msg, now)
                    self.credit(name, msg.free_slots, now)
                case UpdatesMessage():
                    self.on_updates(identity, name, msg, now)
                case ReleaseMessage():
                    holder = self.core.held_by(msg.command_id, msg.attempt)
                    if holder is not None and holder != name:
                        log.warning("licence release of command %d refused from %s: %s holds it",
                                    msg.command_id, name, holder)
                    else:
                        self.run(ReleaseRecord(msg.command_id, msg.attempt, msg.licence, now))
                case ByeMessage():
                    log.info("worker %s said BYE", name)
                    self._unlink(name)
                case HeartbeatMessage():
                    # The worker's link was silent; answer unless this side spoke lately.
                    if now_mono - link.last_sent >= self.beat_interval / 2:
                        self._send(identity, HeartbeatMessage(self.epoch, self.beat_interval).encode())
                    self.report(name, msg, now)
                case KillfileMessage():
                    self.report(name, msg, now)
        except CoreError as exc:
            log.warning("core refused %s from %s: %s", msg.kind, name, exc)
        finally:
            self.recorder.request_at = None

    def _on_hello(self, identity: bytes, msg: HelloMessage, now_mono: float) -> None:
        name = msg.name
        if self.members is not None and name not in self.members:
            # Only an agent registered in ZooKeeper may render: anyone else who can reach this
            # port could otherwise join and take commands (or report them done).
            log.warning("HELLO from %r refused: not a live member of cluster %s", name, self.cluster)
            self._send(identity, ErrorMessage(None, ErrorCode.NOT_MEMBER, (
                f"{name!r} is not a live member of cluster {self.cluster!r} in ZooKeeper; start it as "
                f"an agent of this cluster (puli-mesh agent --zk ... --cluster {self.cluster})")).encode())
            return
        older = self.links.get(name)
        if older is not None and older.identity == identity and older.welcome_index > self.pipeline.durable_index:
            # Said again while its WELCOME waits for the journal (a new leader meets every
            # node's HELLO at once): the same HELLO, not run (nor journalled) again.
            log.debug("HELLO from %s again while its WELCOME waits for the journal", name)
            return
        if (older is not None and older.identity != identity
                and older.alive(now_mono, self.beat_interval, self.heartbeat_liveness)
                and self._send(older.identity, HeartbeatMessage(self.epoch, self.beat_interval).encode())):
            # The node's link is alive on another connection (a HEARTBEAT sent on it went out:
            # its connection is open): a second connection speaking its name is not believed
            # over it. A restarted worker's old connection is closed, so the send fails, the old
            # link is dropped and the new HELLO taken at once.
            log.warning("HELLO as %s refused: the node is linked from another connection, heard "
                        "%.1fs ago", name, now_mono - older.last_heard)
            self._send(identity, ErrorMessage(None, ErrorCode.LINKED, (
                f"{name!r} is linked from another connection that is still heard from; a HELLO "
                "from this one is taken once that link falls silent")).encode())
            return
        info = RenderNodeInfo.from_hello(msg)
        self._link(WorkerLink(name, identity, msg.endpoint, now_mono,
                              resources={"cores": info.cores, "ram_mb": info.ram_mb,
                                         "free_ram_mb": info.free_ram_mb, "slots": info.slots,
                                         "pools": info.pools}))
        self.lost.returned(name)
        running = tuple((int(c), int(a)) for c, a in msg.running)
        keep, kill, _ = self.run(HelloRecord(info, running, time.time()))
        log.info("worker %s joined (epoch %d): %d slots, keeps %d, kills %d",
                 name, self.epoch, info.slots, len(keep), len(kill))
        link = self.links.get(name)
        if link is not None:
            link.welcome_index = self.pipeline.next_index - 1
        self.hold(identity, WelcomeMessage(self.epoch, keep, kill, self.beat_interval).encode())

    def _link(self, link: WorkerLink) -> None:
        """Tie ``link``'s routing id to its node, dropping the node's older link (a restarted
        worker connects with a new routing id) and whatever the routing id was tied to before."""
        before = self.peers.get(link.identity)
        if before is not None and before.name != link.name:
            self._unlink(before.name)
        older = self.links.get(link.name)
        if older is not None and older.identity != link.identity:
            log.info("worker %s connected again: its older link is dropped", link.name)
            self.peers.pop(older.identity, None)
        self.links[link.name] = self.peers[link.identity] = link
        self.beat_interval = max(self.beat_interval, scale_heartbeat_interval(self.heartbeat_interval, len(self.links)))

    def _unlink(self, name: str) -> None:
        link = self.links.pop(name, None)
        if link is not None:
            self.peers.pop(link.identity, None)

    def set_members(self, names: set[str]) -> None:
        """ZooKeeper's live members: a node missing there is lost (after ``lost_grace``)."""
        online = self.core.online_nodes()
        now_mono = time.monotonic()
        self.members = set(names)
        # Sized for every member at once: a new leader's first WELCOMEs told the small interval
        # of its first few links, and those workers, unanswered for 1.5 s while it welcomed the
        # rest of a 2,000-node farm, took it for dead and reconnected.
        self.beat_interval = max(self.beat_interval, scale_heartbeat_interval(self.heartbeat_interval, len(names)))
        self.lost.observe(set(names), online, now_mono)
        self._expire_lost(now_mono)

    def _expire_lost(self, now_mono: float) -> None:
        for name in self.lost.expired(now_mono):
            self._unlink(name)
            log.info("render node %s left the mesh; re-queueing its commands", name)
            try:
                self.run(LeftRecord(name, time.time()))
            except CoreError as exc:
                log.debug("node_left(%s): %s", name, exc)

    # ------------------------------------------------------------ cluster settings
    def set_licences(self, totals: dict[str, int]) -> None:
        known = {lic["name"]: lic["total"] for lic in self.core.licences.stats()}
        for name, total in totals.items():
            if known.get(name) != total:
                self.run(LicenceRecord(name, int(total), time.time()))

    def set_pools(self, names: list[str]) -> None:
        known = {p["name"] for p in self.core.pools()}
        for name in names:
            if name not in known:
                self.run(PoolRecord(name))

    # ----------------------------------------------------------------- sending
    def _send_assign(self, a: Assign) -> None:
        link = self.links.get(a.node)
        if link is None:
            # The core only assigns to nodes that asked for work; a vanished link
            # will come back through HELLO or be lost through ZooKeeper.
            log.warning("no link to %s for command %d", a.node, a.command_id)
            return
        if self.pipeline.all_durable:
            self._send(link.identity, self._assign_frame(a))
            self.recorder.assign_sent(time.monotonic())
        else:  # held as its ASSIGNS item, validated now: never hold what a worker refuses
            self.recorder.assign_held(link.identity)
            self._deliver(self.pipeline.hold_assign(link.identity, a.to_map()))
        self.assignments_sent += 1

    def _send_assigns(self, identity: bytes, items: list[AssignItem]) -> None:
        """Held ASSIGNs released together: one ASSIGN, or one ASSIGNS (its items are not
        validated again: they were when held, and the worker reads each alone)."""
        self.recorder.assigns_released(identity, time.monotonic())
        if len(items) == 1:
            self._send(identity, self._assign_frame(CommandSpec.from_map(items[0])))
        else:
            self._send(identity, AssignsMessage(self.epoch, items).encode())

    def _assign_frame(self, spec: CommandSpec) -> bytes:
        """The one place an ASSIGN is built (an ``Assign`` decision travels as its CommandSpec)."""
        return AssignMessage(self.epoch, spec).encode()

    def _send(self, identity: bytes, data: bytes) -> bool:
        try:
            self.router.send_multipart([identity, data], zmq.NOBLOCK)
        except zmq.ZMQError as exc:  # EHOSTUNREACH with ROUTER_MANDATORY, EAGAIN when its queue is full
            link = self.peers.get(identity)
            if link is not None:
                # What it missed (an ASSIGN, a KILL, an ACK) must not be believed delivered: with
                # its link gone, its next message gets ``hello_first`` (and it hears no heartbeat),
                # so it says HELLO with what it runs, and the core takes back what it never got.
                self._unlink(link.name)
                log.warning("send to worker %s failed (%s): link dropped until it says HELLO again",
                            link.name, exc)
            else:
                log.warning("send to %r failed: %s", identity[:32], exc)
            return False
        link = self.peers.get(identity)
        if link is not None:
            link.last_sent = time.monotonic()
        return True

    # ---------------------------------------------------------------- every turn
    def tick(self) -> None:
        """The periodic work, each step guarded on its own (``faults``): a step that fails is
        counted and logged, and the others, dispatch included, go on."""
        now_mono = time.monotonic()
        if now_mono - self._last_tick >= TICK_EVERY_S:
            self._last_tick = now_mono
            now = time.time()
            guarded(self.faults, "farm figures", self.recorder.minute, now, self.core)  # a sample a minute, kept
            guarded(self.faults, "farm metrics", self.recorder.refresh_gauges, now_mono, self.core)
            if self.hook_delivery is not None and self.event_gate.held:
                self.hook_delivery.offer(self.event_gate.durable(self.pipeline.durable_index))
            if self.dispatching:
                guarded(self.faults, "timers", self._run_timers, now)
                guarded(self.faults, "lost nodes", self._expire_lost, now_mono)
                guarded(self.faults, "snapshot", self._maybe_snapshot, now_mono)
        guarded(self.faults, "journal", self.flush)

    def _run_timers(self, now: float) -> None:
        if self.core.tick_due(now):
            self.run(TickRecord(now))

    # ------------------------------------------------------------------ clients
    def on_client_request(self, identity: bytes, msg: ClientRequest) -> None:
        if not isinstance(msg, QueryMessage):
            busy = self.pipeline.busy(identity)
            if busy is not None:  # refused before it is journalled: nothing of it is kept
                self._send(identity, ErrorMessage(msg.rid, ErrorCode.BUSY, f"{msg.kind} refused: {busy}").encode())
                return
        try:
            reply = self.requests.handle(msg, time.time())
        except ProtocolError as exc:
            reply = ErrorMessage(msg.rid, ErrorCode.INVALID, str(exc)).encode()
        if isinstance(msg, QueryMessage):
            self._send(identity, reply)
        else:
            self.hold(identity, reply)  # a SUBMIT is acknowledged only once durable

    def status_facts(self) -> StatusFacts:
        """What the status query needs from this shell, read now."""
        now_mono = time.monotonic()
        links = {name: LinkFacts(link.endpoint, (link.resources or {}).get("pools", []),  # read only
                                 link.alive(now_mono, self.beat_interval, self.heartbeat_liveness))
                 for name, link in self.links.items()}
        journal = JournalFigures(self.pipeline.next_index - 1, self.pipeline.durable_index, self.journal_bytes,
                                 self.journal_batches, self.snapshots.last_index, self.last_snapshot_wall)
        return StatusFacts(self.cluster, self.leader_name, self.epoch, self.assignments_sent, journal, links,
                           dict(self.faults.counts), self.secured)
