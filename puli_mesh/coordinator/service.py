"""The coordinator service: the scheduling core behind the leader's ROUTER socket.

It only moves bytes: it decodes worker and client messages, turns them into
core events (time passed in), and sends the core's decisions (ASSIGN, KILL) to
the workers. Liveness follows DESIGN.md: ZooKeeper membership is the truth
about which nodes are alive (``member_gone`` re-queues a node's commands);
heartbeats only tell which workers can be sent work right now.

Not done here: the policy (``SchedulingCore``), ZooKeeper (the agent feeds
membership, licence and pool changes in), durability (the journal issue).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import zmq

from puli_mesh import protocol
from puli_mesh.coordinator.core import SchedulingCore
from puli_mesh.coordinator.decisions import Assign, Kill
from puli_mesh.coordinator.render_nodes import RenderNodeInfo
from puli_mesh.coordinator.requests import ClientRequests
from puli_mesh.errors import CoreError, ProtocolError

log = logging.getLogger(__name__)


@dataclass
class WorkerLink:
    """What the coordinator knows of one connected worker."""

    name: str
    identity: bytes
    endpoint: str
    last_heard: float
    last_sent: float = 0.0
    resources: dict[str, Any] | None = None


class CoordinatorService:
    """Feeds one ROUTER socket's traffic into a SchedulingCore and sends its decisions."""

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
    ) -> None:
        self.router = router
        self.core = core
        self.epoch = epoch
        self.heartbeat_interval = heartbeat_interval
        self.heartbeat_liveness = heartbeat_liveness
        self.leader_name = leader_name
        self.cluster = cluster
        self.links: dict[str, WorkerLink] = {}
        self.members: set[str] = set()
        self.dispatching = True
        self.requests = ClientRequests(self)
        self._last_tick = 0.0
        self.started_at = time.time()
        self.assignments_sent = 0

    # ------------------------------------------------------------------ workers
    def on_worker_message(self, identity: bytes, msg: protocol.Message) -> None:
        now_mono = time.monotonic()
        name = identity.decode(errors="replace")
        link = self.links.get(name)
        if msg.kind == "HELLO":
            self._on_hello(identity, msg, now_mono)
            return
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
                    self._apply(self.core.request_work(name, int(msg["free_slots"]), now))
            elif msg.kind == "UPDATE":
                decisions = self.core.command_update(
                    int(msg["command_id"]),
                    int(msg["attempt"]),
                    now,
                    status=msg["status"],
                    completion=msg["completion"],
                    message=msg["message"],
                    stats=msg["stats"],
                )
                self._send(identity, protocol.encode(
                    "ACK", command_id=msg["command_id"], attempt=msg["attempt"], seq=msg["seq"]))
                self._apply(decisions)
                free_slots = msg.get("free_slots")
                if isinstance(free_slots, int) and not isinstance(free_slots, bool) and self.dispatching:
                    self._apply(self.core.request_work(name, free_slots, now))
            elif msg.kind == "BYE":
                log.info("worker %s said BYE", name)
                self.links.pop(name, None)
            # HEARTBEAT: last_heard is enough.
        except CoreError as exc:
            log.warning("core refused %s from %s: %s", msg.kind, name, exc)

    def _on_hello(self, identity: bytes, msg: protocol.Message, now_mono: float) -> None:
        name = str(msg["name"])
        if identity.decode(errors="replace") != name:
            self._send(identity, protocol.error_reply(None, "invalid", "HELLO name must match the socket identity"))
            return
        now = time.time()
        info = RenderNodeInfo(
            name=name,
            pools=[str(p) for p in msg["pools"]],
            cores=int(msg["cores"]),
            ram_mb=int(msg["ram_mb"]),
            free_ram_mb=int(msg["free_ram_mb"]),
            slots=int(msg["slots"]),
            characteristics=dict(msg["characteristics"]),
            performance=float(msg["performance"]),
        )
        self.links[name] = WorkerLink(name, identity, str(msg["endpoint"]), now_mono,
                                      resources={"cores": info.cores, "ram_mb": info.ram_mb,
                                                 "free_ram_mb": info.free_ram_mb, "slots": info.slots,
                                                 "pools": info.pools})
        running = [(int(c), int(a)) for c, a in msg["running"]]
        keep, kill, decisions = self.core.reconcile_node(info, running, now)
        log.info("worker %s joined (epoch %d): %d slots, keeps %d, kills %d",
                 name, self.epoch, info.slots, len(keep), len(kill))
        self._send(identity, protocol.encode("WELCOME", epoch=self.epoch, keep=keep, kill=kill))
        self._apply(decisions)

    def member_gone(self, name: str) -> None:
        """ZooKeeper says this node's session ended: its commands go back to READY."""
        self.links.pop(name, None)
        log.info("render node %s left the mesh; re-queueing its commands", name)
        try:
            self._apply(self.core.node_left(name, time.time()))
        except CoreError as exc:
            log.debug("node_left(%s): %s", name, exc)

    def set_members(self, names: set[str]) -> None:
        for gone in sorted(self.members - names):
            self.member_gone(gone)
        self.members = set(names)

    # ------------------------------------------------------------ cluster settings
    def set_licences(self, totals: dict[str, int]) -> None:
        now = time.time()
        for name, total in totals.items():
            self._apply(self.core.set_licence(name, total, now))

    def set_pools(self, names: list[str]) -> None:
        for name in names:
            self.core.define_pool(name)

    # ----------------------------------------------------------------- decisions
    def _apply(self, decisions: list[Any]) -> None:
        for decision in decisions:
            if isinstance(decision, Assign):
                self._send_assign(decision)
            elif isinstance(decision, Kill):
                link = self.links.get(decision.node)
                if link is not None:
                    self._send(link.identity, protocol.encode(
                        "KILL", epoch=self.epoch, command_id=decision.command_id,
                        attempt=decision.attempt, reason=decision.reason))

    def _send_assign(self, a: Assign) -> None:
        link = self.links.get(a.node)
        data = protocol.encode(
            "ASSIGN", epoch=self.epoch, command_id=a.command_id, attempt=a.attempt, runner=a.runner,
            arguments=a.arguments, environment=a.environment, timeout=a.timeout,
            licences=list(a.licences), cores=a.cores, ram_mb=a.ram_mb, task_id=a.task_id,
            task_name=a.task_name, graph_id=a.graph_id, user=a.user, name=a.name)
        if link is None or not self._send(link.identity, data):
            # The worker vanished between READY and now: take the work back at once.
            log.warning("cannot reach %s for command %d; node considered gone", a.node, a.command_id)
            self.links.pop(a.node, None)
            self._apply(self.core.node_left(a.node, time.time()))
            return
        self.assignments_sent += 1
        log.debug("assigned command %d attempt %d to %s", a.command_id, a.attempt, a.node)

    def _send(self, identity: bytes, data: bytes) -> bool:
        try:
            self.router.send_multipart([identity, data], zmq.NOBLOCK)
        except zmq.ZMQError as exc:  # EHOSTUNREACH with ROUTER_MANDATORY, EAGAIN when full
            log.warning("send to %r failed: %s", identity, exc)
            return False
        link = self.links.get(identity.decode(errors="replace"))
        if link is not None:
            link.last_sent = time.monotonic()
        return True

    # ---------------------------------------------------------------- every turn
    def tick(self) -> None:
        now_mono = time.monotonic()
        if now_mono - self._last_tick >= 0.2:
            self._last_tick = now_mono
            if self.dispatching:
                self._apply(self.core.tick(time.time()))
        beat = protocol.encode("HEARTBEAT")
        for link in list(self.links.values()):
            if now_mono - link.last_sent >= self.heartbeat_interval:
                self._send(link.identity, beat)

    def link_alive(self, name: str) -> bool:
        link = self.links.get(name)
        if link is None:
            return False
        return time.monotonic() - link.last_heard <= self.heartbeat_interval * self.heartbeat_liveness

    # ------------------------------------------------------------------ clients
    def on_client_request(self, msg: protocol.Message) -> bytes:
        try:
            return self.requests.handle(msg)
        except ProtocolError as exc:
            return protocol.error_reply(msg.get("rid"), "invalid", str(exc))
