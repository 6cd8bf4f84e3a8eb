"""The coordinator service: the scheduling core behind the leader's ROUTER socket.

It only moves bytes: it decodes worker and client messages, turns them into
core events (``events`` records, time passed in), journals them, and sends the
core's decisions (ASSIGN, KILL) and the replies once they are durable.

Durability (docs/architecture.md, "Durability"): every record is appended to
the ZooKeeper journal in group-committed batches (up to ``MAX_INFLIGHT`` in
flight; while busy, records gather for up to ``GROUP_WAIT_S`` before a batch
is cut). A message that results from a record (an ASSIGN, a WELCOME, an ACK, a
SUBMIT's reply) is held until that record is durable, so nothing a worker or
client acts on can be lost by a failover. What a batch releases to one worker
keeps its order, with its ACKs in one message and each run of ASSIGNs in one
``ASSIGNS``. A fenced write
(a newer leader exists) makes ``fenced`` true: the agent steps down at once.

Liveness: ZooKeeper membership is the truth about which nodes are alive
(``set_members``: a node gone from ZooKeeper is lost after ``lost_grace`` and its
commands are re-queued); heartbeats only tell which workers can be reached.

Not done here: the policy (``SchedulingCore``), watching ZooKeeper (the agent
feeds membership, licence and pool changes in).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import zmq

from puli_mesh import protocol
from puli_mesh.coordinator.core import SchedulingCore
from puli_mesh.coordinator.decisions import Assign, Decision, Kill
from puli_mesh.coordinator.events import Event, apply_event, decisions_of, info_record
from puli_mesh.coordinator.journal import JournalWriter
from puli_mesh.coordinator.render_nodes import RenderNodeInfo
from puli_mesh.coordinator.requests import ClientRequests
from puli_mesh.coordinator.stats import FarmStats
from puli_mesh.errors import CoreError, FencedError, ProtocolError

log = logging.getLogger(__name__)

RETRY_WRITE_S = 0.5
MAX_INFLIGHT = 4
"""Journal batches written but not yet acknowledged: pipelining hides ZooKeeper's fsync."""
GROUP_WAIT_S = 0.02
GROUP_RECORDS = 256
"""Group commit: on a busy mesh a batch waits up to GROUP_WAIT_S (20 ms; Puli's own
dispatcher cycled every few seconds) for GROUP_RECORDS records. Each ZooKeeper
transaction costs the leader (kazoo) and ZooKeeper a millisecond or more of CPU
together on a small loaded machine, so a batch per record or two was most of the
mesh's cost per command (bench/mesh_throughput.py). A quiet mesh writes at once, so a
lone submission waits for nothing: quiet means nothing in flight and either no write for
GROUP_WAIT_S or a last batch of at most QUIET_BATCH_RECORDS (one command's end is two)."""
QUIET_BATCH_RECORDS = 4


@dataclass
class WorkerLink:
    """What the coordinator knows of one connected worker."""

    name: str
    identity: bytes
    endpoint: str
    last_heard: float
    last_sent: float = 0.0
    resources: dict[str, Any] | None = None


@dataclass
class _Batch:
    number: int
    first: int
    records: list[Event]
    held: list[tuple[bytes, bytes | dict[str, Any]]]
    acks: dict[bytes, list[list[int]]]
    durable: bool = False


class CoordinatorService:
    """Feeds one ROUTER socket's traffic into a SchedulingCore, journals it, sends its decisions."""

    def __init__(
        self,
        router: zmq.Socket[bytes],
        core: SchedulingCore,
        epoch: int,
        *,
        heartbeat_interval: float,
        heartbeat_liveness: int,
        leader_name: str,
        cluster: str,
        journal: JournalWriter | None = None,
        post: Callable[[str, Any], None] | None = None,
        next_index: int = 1,
        lost_grace: float = 0.0,
        snapshot_every: int = 50_000,
        snapshot_interval: float = 300.0,
        group_wait: float = GROUP_WAIT_S,
    ) -> None:
        self.router = router
        self.core = core
        self.epoch = epoch
        self.heartbeat_interval = heartbeat_interval
        self.heartbeat_liveness = heartbeat_liveness
        self.leader_name = leader_name
        self.cluster = cluster
        self.journal = journal
        self.post = post or (lambda kind, payload: None)
        self.lost_grace = lost_grace
        self.snapshot_every = snapshot_every
        self.snapshot_interval = snapshot_interval
        self.group_wait = group_wait
        self.links: dict[str, WorkerLink] = {}
        self.members: set[str] | None = None
        self.dispatching = True
        self.fenced = False
        self.requests = ClientRequests(self)
        self.stats = FarmStats()
        self.started_at = time.time()
        self.assignments_sent = 0
        # journal state
        self.next_index = next_index
        self.durable_index = next_index - 1
        self._records: list[Event] = []
        self._records_since = 0.0  # when the oldest unwritten record came
        self._last_write = 0.0
        self._last_batch_records = 0
        # (identity, an encoded message, or the fields of an ASSIGN: the ASSIGNs a batch
        # releases to one worker go as one ASSIGNS message)
        self._held: list[tuple[bytes, bytes | dict[str, Any]]] = []
        # identity -> [command id, attempt, seq] of the UPDATEs to acknowledge once durable:
        # one ACK per worker and batch, not one per UPDATE
        self._held_acks: dict[bytes, list[list[int]]] = {}
        self._inflight: deque[_Batch] = deque()
        self._retry_at: float | None = None
        self._batch_no = 0
        self.journal_bytes = 0
        self.journal_batches = 0  # ZooKeeper transactions of the journal (rewrites included)
        self.last_snapshot_index = next_index - 1
        self.last_snapshot_at = time.monotonic()
        self.last_snapshot_wall: float | None = None
        self._snapshot_thread: threading.Thread | None = None
        self._last_tick = 0.0
        self._lost_at: dict[str, float] = {}

    # --------------------------------------------------------------- the events
    def run_event(self, event: Event) -> Any:
        """Record ``event`` in the journal, apply it to the core, queue its decisions.

        The record is kept even if the core refuses the event: replaying it
        raises the same way, and an exception may come after a partial change.
        """
        if self.journal is not None:
            if not self._records:
                self._records_since = time.monotonic()
            self._records.append(event)
            self.next_index += 1
        result = apply_event(self.core, event)
        self._apply(decisions_of(result))
        return result

    def _apply(self, decisions: list[Decision]) -> None:
        for decision in decisions:
            if isinstance(decision, Assign):
                self._send_assign(decision)
            elif isinstance(decision, Kill):
                link = self.links.get(decision.node)
                if link is not None:
                    self.hold(link.identity, protocol.encode(
                        "KILL", epoch=self.epoch, command_id=decision.command_id,
                        attempt=decision.attempt, reason=decision.reason))

    def _release(self, held: list[tuple[bytes, bytes | dict[str, Any]]],
                 acks: dict[bytes, list[list[int]]]) -> None:
        """Send what a durable batch held: one ACK per worker, and each worker's messages in
        their order, a run of ASSIGNs as one message."""
        for identity, triples in acks.items():
            self._send(identity, protocol.encode("ACK", epoch=self.epoch, acks=triples))
        runs: dict[bytes, list[dict[str, Any]]] = {}
        for identity, item in held:
            if isinstance(item, dict):
                runs.setdefault(identity, []).append(item)
                continue
            run = runs.pop(identity, None)
            if run:
                self._send_assigns(identity, run)
            self._send(identity, item)
        for identity, run in runs.items():
            self._send_assigns(identity, run)

    def _send_assigns(self, identity: bytes, assigns: list[dict[str, Any]]) -> None:
        if len(assigns) == 1:
            self._send(identity, protocol.encode("ASSIGN", epoch=self.epoch, **assigns[0]))
        else:  # each item is checked against the ASSIGN schema by the worker
            self._send(identity, protocol.encode("ASSIGNS", epoch=self.epoch, assigns=assigns))

    def hold_ack(self, identity: bytes, command_id: int, attempt: int, seq: int) -> None:
        """Acknowledge an UPDATE once every record so far is durable, with the other
        acknowledgements due to that worker then (at once if all is durable)."""
        triple = [command_id, attempt, seq]
        if self._all_durable():
            self._send(identity, protocol.encode("ACK", epoch=self.epoch, acks=[triple]))
        else:
            self._held_acks.setdefault(identity, []).append(triple)

    def _all_durable(self) -> bool:
        """Whether every record so far is durable (or nothing is journalled): what
        follows from them may be sent at once."""
        return self.journal is None or (not self._records and not self._inflight)

    def hold(self, identity: bytes, data: bytes) -> None:
        """Send once every record so far is durable (at once if it already is)."""
        if self._all_durable():
            self._send(identity, data)
        else:
            self._held.append((identity, data))

    # ------------------------------------------------------------------ journal
    def flush(self) -> None:
        """Write the records gathered so far, up to ``MAX_INFLIGHT`` batches at once.

        ZooKeeper applies one session's requests in order, so batches are stored,
        acknowledged and released in the order they were written.
        """
        if self.journal is None or self.fenced:
            return
        if self._retry_at is not None:
            if time.monotonic() < self._retry_at or not self.dispatching:
                return
            self._retry_at = None
            for pending in self._inflight:  # rewrite every unacknowledged batch, in order
                if not pending.durable:
                    self._write(pending)
            return
        if not self._records:
            if (self._held or self._held_acks) and not self._inflight:  # nothing left to wait for
                held, self._held = self._held, []
                acks, self._held_acks = self._held_acks, {}
                self._release(held, acks)
            return
        due = self.flush_due_in()
        if due is None or due > 0:
            return
        self._last_write = time.monotonic()
        self._last_batch_records = len(self._records)
        self._batch_no += 1
        first = self.next_index - len(self._records)
        batch = _Batch(self._batch_no, first, self._records, self._held, self._held_acks)
        self._records, self._held, self._held_acks = [], [], {}
        self._inflight.append(batch)
        self._write(batch)

    def flush_due_in(self) -> float | None:
        """Seconds before the gathered records are due to be written (0: now; see
        GROUP_WAIT_S), or None if no write is waiting on time (nothing gathered, no
        journal, a retry pending, or as many batches in flight as allowed: their
        acknowledgement wakes the loop)."""
        if (not self._records or self.journal is None or self.fenced or self._retry_at is not None
                or len(self._inflight) >= MAX_INFLIGHT):
            return None
        if len(self._records) >= GROUP_RECORDS:
            return 0.0
        now = time.monotonic()
        if not self._inflight and (now - self._last_write >= self.group_wait
                                   or self._last_batch_records <= QUIET_BATCH_RECORDS):
            return 0.0  # quiet: nothing to wait for
        return max(0.0, self._records_since + self.group_wait - now)

    def _write(self, batch: _Batch) -> None:
        assert self.journal is not None
        number = batch.number

        def done(exc: Exception | None) -> None:  # on a kazoo thread
            self.post("journal_written", (self, number, exc))

        try:
            self.journal_bytes += self.journal.write_batch_async(batch.number, batch.first, batch.records, done)
            self.journal_batches += 1
        except Exception as exc:  # e.g. not connected: retry shortly
            log.warning("journal batch %d not written: %s", number, exc)
            self._retry_at = self._retry_at or time.monotonic() + RETRY_WRITE_S

    def on_written(self, number: int, exc: Exception | None) -> None:
        """The loop's side of a batch write: release what it held, or retry, or give up."""
        batch = next((b for b in self._inflight if b.number == number), None)
        if batch is None:
            return
        if isinstance(exc, FencedError):
            log.error("coordinator epoch %d fenced: %s", self.epoch, exc)
            self.fenced = True
            self.dispatching = False
            return
        if exc is not None:
            log.warning("journal batch %d failed (%s); retrying", number, exc)
            self._retry_at = self._retry_at or time.monotonic() + RETRY_WRITE_S
            return
        batch.durable = True
        while self._inflight and self._inflight[0].durable:
            done = self._inflight.popleft()
            self.durable_index = done.first + len(done.records) - 1
            self._release(done.held, done.acks)
        self.flush()

    @property
    def journal_idle(self) -> bool:
        return not self._records and not self._inflight

    def _maybe_snapshot(self, now_mono: float) -> None:
        if self.journal is None or not self.dispatching:
            return
        if self._snapshot_thread is not None and self._snapshot_thread.is_alive():
            return
        since = self.next_index - 1 - self.last_snapshot_index
        if since <= 0:
            return
        if since < self.snapshot_every and now_mono - self.last_snapshot_at < self.snapshot_interval:
            return
        index = self.next_index - 1
        state = self.core.snapshot()  # on the loop: the state must not move while it is read
        self.last_snapshot_index = index
        self.last_snapshot_at = now_mono
        writer = self.journal

        def write() -> None:
            if writer.write_snapshot(state, index, lambda: self.durable_index):
                self.last_snapshot_wall = time.time()

        self._snapshot_thread = threading.Thread(target=write, name="snapshot", daemon=True)
        self._snapshot_thread.start()

    # ------------------------------------------------------------------ workers
    def on_worker_message(self, identity: bytes, msg: protocol.Message) -> None:
        now_mono = time.monotonic()
        name = identity.decode(errors="replace")
        if msg.kind == "HELLO":
            self._on_hello(identity, msg, now_mono)
            return
        link = self.links.get(name)
        if link is None:
            # A worker that has not said HELLO to this coordinator (e.g. after a
            # leader change): ask it to introduce itself.
            self._send(identity, protocol.error_reply(None, "hello_first", "say HELLO first"))
            return
        link.last_heard = now_mono
        now = time.time()
        try:
            if msg.kind == "READY":
                if self.dispatching:
                    self.run_event(("ready", name, int(msg["free_slots"]), now))
            elif msg.kind == "UPDATE":
                self._on_update(identity, name, msg.fields, now)
                self._credit(name, msg.get("free_slots"), now)
            elif msg.kind == "UPDATES":
                self._on_updates(identity, name, msg, now)
            elif msg.kind == "RELEASE":
                self.run_event(("release", int(msg["command_id"]), int(msg["attempt"]), str(msg["licence"]), now))
            elif msg.kind == "BYE":
                log.info("worker %s said BYE", name)
                self.links.pop(name, None)
            # HEARTBEAT: last_heard is enough.
        except CoreError as exc:
            log.warning("core refused %s from %s: %s", msg.kind, name, exc)

    def _on_update(self, identity: bytes, name: str, fields: dict[str, Any], now: float) -> None:
        """One UPDATE's fields (validated): a final status is journalled, progress is not."""
        status = fields["status"]
        if status is None:
            # Progress only: not journalled, changes no decision.
            self.core.command_update(int(fields["command_id"]), int(fields["attempt"]), now,
                                     completion=fields["completion"], message=fields["message"],
                                     stats=fields["stats"])
        else:
            self.run_event(("update", int(fields["command_id"]), int(fields["attempt"]), now, int(status),
                            fields["completion"], fields["message"], fields["stats"]))
            self.stats.command_finished(int(status))  # counts finals only
        self.hold_ack(identity, int(fields["command_id"]), int(fields["attempt"]), int(fields["seq"]))

    def _on_updates(self, identity: bytes, name: str, msg: protocol.Message, now: float) -> None:
        """Several UPDATEs in their order, then one READY with the credit after them. A
        malformed or refused item is dropped alone (the worker sends it again unacknowledged)."""
        for fields in msg["updates"]:
            try:
                protocol.check("UPDATE", fields)
                self._on_update(identity, name, fields, now)
            except ProtocolError as exc:
                log.warning("dropped a bad update from %s: %s", name, exc)
            except CoreError as exc:
                log.warning("core refused an update from %s: %s", name, exc)
        self._credit(name, msg["free_slots"], now)

    def _credit(self, name: str, free_slots: object, now: float) -> None:
        """An update's ``free_slots`` stands for a READY."""
        if isinstance(free_slots, int) and not isinstance(free_slots, bool) and self.dispatching:
            self.run_event(("ready", name, free_slots, now))

    def _on_hello(self, identity: bytes, msg: protocol.Message, now_mono: float) -> None:
        name = str(msg["name"])
        if identity.decode(errors="replace") != name:
            self._send(identity, protocol.error_reply(None, "invalid", "HELLO name must match the socket identity"))
            return
        info = RenderNodeInfo(
            name=name,
            pools=[str(p) for p in msg["pools"]],
            cores=int(msg["cores"]),
            ram_mb=int(msg["ram_mb"]),
            free_ram_mb=int(msg["free_ram_mb"]),
            slots=int(msg["slots"]),
            characteristics=dict(msg["characteristics"]),
            performance=float(msg["performance"]),
            pipeline=int(msg["pipeline"]),
        )
        self.links[name] = WorkerLink(name, identity, str(msg["endpoint"]), now_mono,
                                      resources={"cores": info.cores, "ram_mb": info.ram_mb,
                                                 "free_ram_mb": info.free_ram_mb, "slots": info.slots,
                                                 "pools": info.pools})
        self._lost_at.pop(name, None)
        running = [[int(c), int(a)] for c, a in msg["running"]]
        keep, kill, _ = self.run_event(("hello", info_record(info), running, time.time()))
        log.info("worker %s joined (epoch %d): %d slots, keeps %d, kills %d",
                 name, self.epoch, info.slots, len(keep), len(kill))
        self.hold(identity, protocol.encode("WELCOME", epoch=self.epoch, keep=keep, kill=kill))

    def set_members(self, names: set[str]) -> None:
        """ZooKeeper's live members: a node missing there is lost (after ``lost_grace``)."""
        known = {n["name"] for n in self.core.render_nodes() if n.get("online")}
        if self.members is not None:
            known |= self.members
        now_mono = time.monotonic()
        for gone in sorted(known - names):
            self._lost_at.setdefault(gone, now_mono + self.lost_grace)
        for back in names & set(self._lost_at):
            del self._lost_at[back]
        self.members = set(names)
        self._expire_lost(now_mono)

    def _expire_lost(self, now_mono: float) -> None:
        for name, deadline in sorted(self._lost_at.items()):
            if now_mono >= deadline:
                del self._lost_at[name]
                self.links.pop(name, None)
                log.info("render node %s left the mesh; re-queueing its commands", name)
                try:
                    self.run_event(("left", name, time.time()))
                except CoreError as exc:
                    log.debug("node_left(%s): %s", name, exc)

    # ------------------------------------------------------------ cluster settings
    def set_licences(self, totals: dict[str, int]) -> None:
        known = {lic["name"]: lic["total"] for lic in self.core.licences.stats()}
        for name, total in totals.items():
            if known.get(name) != total:
                self.run_event(("licence", name, int(total), time.time()))

    def set_pools(self, names: list[str]) -> None:
        known = {p["name"] for p in self.core.pools()}
        for name in names:
            if name not in known:
                self.run_event(("pool", name))

    # ----------------------------------------------------------------- sending
    def _send_assign(self, a: Assign) -> None:
        link = self.links.get(a.node)
        if link is None:
            # The core only assigns to nodes that asked for work; a vanished link
            # will come back through HELLO or be lost through ZooKeeper.
            log.warning("no link to %s for command %d", a.node, a.command_id)
            return
        fields: dict[str, Any] = {
            "command_id": a.command_id, "attempt": a.attempt, "runner": a.runner,
            "arguments": a.arguments, "environment": a.environment, "timeout": a.timeout,
            "licences": list(a.licences), "cores": a.cores, "ram_mb": a.ram_mb, "task_id": a.task_id,
            "task_name": a.task_name, "graph_id": a.graph_id, "user": a.user, "name": a.name,
            "after": a.after}
        if self._all_durable():
            self._send_assigns(link.identity, [fields])
        else:
            protocol.check("ASSIGN", {"epoch": self.epoch, **fields})  # never hold what a worker refuses
            self._held.append((link.identity, fields))
        self.assignments_sent += 1

    def _send(self, identity: bytes, data: bytes) -> bool:
        try:
            self.router.send_multipart([identity, data], zmq.NOBLOCK)
        except zmq.ZMQError as exc:  # EHOSTUNREACH with ROUTER_MANDATORY, EAGAIN when full
            log.warning("send to %r failed: %s", identity[:32], exc)
            return False
        link = self.links.get(identity.decode(errors="replace"))
        if link is not None:
            link.last_sent = time.monotonic()
        return True

    # ---------------------------------------------------------------- every turn
    def tick(self) -> None:
        now_mono = time.monotonic()
        if now_mono - self._last_tick >= 0.1:
            self._last_tick = now_mono
            now = time.time()
            self.stats.tick(now, self.core.figures)  # one sample a minute
            if self.dispatching:
                if self.core.tick_due(now):
                    self.run_event(("tick", now))
                self._expire_lost(now_mono)
                self._maybe_snapshot(now_mono)
            beat = protocol.encode("HEARTBEAT", epoch=self.epoch)
            for link in list(self.links.values()):
                if now_mono - link.last_sent >= self.heartbeat_interval:
                    self._send(link.identity, beat)
        self.flush()

    def link_alive(self, name: str) -> bool:
        link = self.links.get(name)
        if link is None:
            return False
        return time.monotonic() - link.last_heard <= self.heartbeat_interval * self.heartbeat_liveness

    # ------------------------------------------------------------------ clients
    def on_client_request(self, identity: bytes, msg: protocol.Message) -> None:
        try:
            reply = self.requests.handle(msg)
        except ProtocolError as exc:
            reply = protocol.error_reply(msg.get("rid"), "invalid", str(exc))
        if msg.kind == "QUERY":
            self._send(identity, reply)
        else:
            self.hold(identity, reply)  # a SUBMIT is acknowledged only once durable
