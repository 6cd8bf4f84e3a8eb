"""Many simulated render nodes in one process, for ``bench/scale.py`` (run by it, not by hand).

    python bench/simulated_nodes.py CONFIG_JSON

Each node is what the leader sees of a real agent: an ephemeral member znode under the
cluster's ``nodes/`` (all made by this process's one ZooKeeper session, with the member ACL and
the cluster's credential), and its own DEALER over CURVE (the simulator's one registered node
key) speaking the worker protocol as ``node/worker.py`` does: HELLO (with what it runs) ->
WELCOME, READY, ASSIGN(S), UPDATE(S) until ACKed, HEARTBEAT when it has said nothing for an
interval (the one the leader tells in WELCOME and HEARTBEAT), HELLO again after a jittered,
doubling wait until welcomed, reconnection (fresh routing id, HELLO) when a welcomed node's
leader is silent for ``liveness`` intervals or when the leader znode names another leader.
One slot, no pipeline. A command "runs" for the seconds of its ``sleep N`` argument (else the
frame time set by the controller) without any process, then reports DONE with its credit.

Control: JSON lines on stdin (``{"op": "mark"}``, ``{"op": "stats"}``, ``{"op": "frame",
"seconds": S}``, ``{"op": "quit"}``), one JSON line answer each on stdout. Times sent back are
wall-clock (``time.time()``) so the controller can compare them with its own.

Not here: scenarios and figures (``bench/scale.py``); anything the agent's rules decide.
"""

from __future__ import annotations

import heapq
import json
import os
import random
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zmq

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from puli_mesh import cluster_state, zk_access  # noqa: E402
from puli_mesh.keys import load_key_pair  # noqa: E402
from puli_mesh.limits import MAX_MESSAGE_BYTES, WORKER_HWM  # noqa: E402
from puli_mesh.node.leader_link import RECONNECT_IVL_MAX_MS, fresh_routing_id, interval_told, spread  # noqa: E402
from puli_mesh.protocol import (  # noqa: E402
    AckMessage,
    AssignMessage,
    AssignsMessage,
    CommandSpec,
    ErrorMessage,
    HeartbeatMessage,
    HelloMessage,
    KillMessage,
    ReadyMessage,
    UpdateMessage,
    WelcomeMessage,
    decode,
)
from puli_mesh.zkpaths import ClusterPaths  # noqa: E402
from puliclient.status import CommandStatus  # noqa: E402

TURN_S = 0.01
RESEND_AFTER_S = 2.0
DONE = int(CommandStatus.DONE)


@dataclass(slots=True)
class Node:
    """One simulated render node and what it has told the leader."""

    name: str
    socket: zmq.Socket[bytes] | None = None
    welcomed: bool = False
    last_heard: float = 0.0
    last_sent: float = 0.0
    running: tuple[int, int] | None = None  # (command id, attempt)
    ends_at: float = 0.0
    asked_at: float | None = None  # when its last credit went out with nothing running (wall)
    pending: dict[tuple[int, int, int], UpdateMessage] = field(default_factory=dict)
    sent_at: dict[tuple[int, int, int], float] = field(default_factory=dict)
    welcome_epoch: int = 0
    welcomed_at: float = 0.0  # wall
    backoff: float = 0.0  # as a worker's: doubles on each silent spell, up to 32 s; reset when heard
    reconnect_at: float = 0.0
    beat: float = 0.0  # the heartbeat interval its leader told it (its own until then)
    hello_wait: float = 0.0  # as a worker's: before the next HELLO if no WELCOME comes
    hello_again_at: float = 0.0


class Simulator:
    """The nodes, their sockets, one poll loop."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.paths = ClusterPaths(config["cluster"])
        self.interval = float(config["heartbeat_interval"])
        self.liveness = int(config["heartbeat_liveness"])
        self.frame_s = float(config.get("frame_s", 1.0))
        self.frame_spread = float(config.get("frame_spread", 0.0))
        self.random = random.Random(config.get("seed", 0))
        self.context: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
        key = load_key_pair(Path(config["node_key"]))
        self.secret, self.public = key.secret_key, key.public_key
        self.server_key = load_key_pair(Path(config["keys"]) / "cluster.key", secret=False).public_key
        credential = zk_access.read_credential(Path(config["keys"]))
        self.zk = zk_access.connect(config["zk"], 10.0, credential)
        self.zk.start(timeout=30)
        self.credential = credential
        self.nodes = [Node(name) for name in config["names"]]
        self.by_socket: dict[zmq.Socket[bytes], Node] = {}
        self.poller = zmq.Poller()
        self.ends: list[tuple[float, int, str]] = []  # (monotonic end, command id, node name)
        self.by_name = {n.name: n for n in self.nodes}
        self.endpoint: str | None = None
        self.epoch = 0
        self.leader_changed = threading.Event()
        self._leader: cluster_state.LeaderInfo | None = None
        self.seq = 0
        self.mark()
        self.started: Counter[int] = Counter()  # every command id started here since the beginning

    def mark(self) -> None:
        self.latencies: list[float] = []
        self.first_assign: dict[str, float] = {}
        self.first_new_epoch_assign: float | None = None
        self.mark_epoch = self.epoch

    # ------------------------------------------------------------------ ZooKeeper
    def register(self) -> None:
        zk_access.ensure_znode(self.zk, self.paths, self.paths.nodes, self.credential)
        data = {"endpoint": "tcp://127.0.0.1:1", "slots": 1, "pools": ["default"], "running": 0,
                "accepting": True, "pid": os.getpid(), "faults": 0, "cores": 8, "ram_mb": 32768,
                "free_ram_mb": 30000, "load": 0.0, "cpu_percent": 0.0, "os": "linux", "version": "simulated"}
        results = [self.zk.create_async(self.paths.node(n.name), cluster_state.dump(data),
                                        acl=zk_access.acl_for(self.paths, self.paths.node(n.name), self.credential),
                                        ephemeral=True) for n in self.nodes]
        for result in results:
            result.get(timeout=60)
        self.zk.DataWatch(self.paths.leader, self._on_leader)

    def _on_leader(self, data: bytes | None, _stat: Any) -> None:
        self._leader = cluster_state.parse_leader(data)
        self.leader_changed.set()

    # ------------------------------------------------------------------ links
    def connect(self, node: Node, now: float) -> None:
        self.close(node)
        if self.endpoint is None:
            return
        sock = self.context.socket(zmq.DEALER)
        sock.setsockopt(zmq.IDENTITY, fresh_routing_id(node.name))
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.RECONNECT_IVL_MAX, RECONNECT_IVL_MAX_MS)
        sock.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)
        sock.setsockopt(zmq.SNDHWM, WORKER_HWM)
        sock.setsockopt(zmq.RCVHWM, WORKER_HWM)
        sock.curve_secretkey = self.secret
        sock.curve_publickey = self.public
        sock.curve_serverkey = self.server_key
        sock.connect(self.endpoint)
        node.socket = sock
        self.by_socket[sock] = node
        self.poller.register(sock, zmq.POLLIN)
        node.last_heard = now
        node.beat = self.interval
        node.hello_wait = self.interval * self.liveness
        self.hello(node, now)

    def close(self, node: Node) -> None:
        if node.socket is not None:
            self.poller.unregister(node.socket)
            del self.by_socket[node.socket]
            node.socket.close(linger=0)
            node.socket = None
        node.welcomed = False

    def send(self, node: Node, frame: bytes, now: float) -> None:
        if node.socket is None:
            return
        try:
            node.socket.send(frame, zmq.NOBLOCK)
            node.last_sent = now
        except zmq.Again:
            pass

    def hello(self, node: Node, now: float) -> None:
        node.hello_again_at = now + spread(node.hello_wait)
        node.hello_wait = min(node.hello_wait * 2, 32.0)
        running = [list(node.running)] if node.running else []
        for cid, attempt, _ in node.pending:
            if [cid, attempt] not in running:
                running.append([cid, attempt])
        self.send(node, HelloMessage(
            name=node.name, endpoint="tcp://127.0.0.1:1", pools=["default"], cores=8, ram_mb=32768,
            free_ram_mb=30000, slots=1, characteristics={"os": "linux", "softs": []}, performance=1.0,
            running=running, last_epoch=self.epoch, pipeline=0).encode(), now)

    def ask(self, node: Node, now: float) -> None:
        """READY with the node's credit; an idle node's request is timed until its ASSIGN."""
        free = 0 if node.running else 1
        self.send(node, ReadyMessage(free).encode(), now)
        if free:
            node.asked_at = time.time()

    # ------------------------------------------------------------------ incoming
    def on_frame(self, node: Node, frame: bytes, now: float) -> None:
        msg = decode(frame)
        node.last_heard = now
        node.backoff = self.interval
        epoch = getattr(msg, "epoch", None)
        if epoch is not None:
            if epoch < self.epoch:
                return
            self.epoch = epoch
        if isinstance(msg, WelcomeMessage):
            node.welcomed = True
            node.beat = interval_told(self.interval, msg.interval)
            node.welcome_epoch, node.welcomed_at = msg.epoch, time.time()
            if node.running and node.running[0] in msg.kill:
                node.running = None
            for key, update in node.pending.items():
                self.send(node, update.encode(), now)
                node.sent_at[key] = now
            self.ask(node, now)
        elif isinstance(msg, AssignMessage):
            self.take(node, msg.spec, msg.epoch, now)
        elif isinstance(msg, AssignsMessage):
            for item in msg.assigns:
                self.take(node, CommandSpec.from_map(item), msg.epoch, now)
        elif isinstance(msg, AckMessage):
            for cid, attempt, seq in msg.acks:
                node.pending.pop((cid, attempt, seq), None)
                node.sent_at.pop((cid, attempt, seq), None)
        elif isinstance(msg, KillMessage):
            if node.running == (msg.command_id, msg.attempt):
                node.running = None
                self.finish(node, msg.command_id, msg.attempt, int(CommandStatus.CANCELED), now)
        elif isinstance(msg, ErrorMessage):
            if node.welcomed:  # HELLO again after a wait, as a worker does
                node.hello_wait = self.interval
                node.hello_again_at = now + spread(node.hello_wait)
            node.welcomed = False
        elif isinstance(msg, HeartbeatMessage) and msg.interval is not None:
            node.beat = interval_told(self.interval, msg.interval)

    def take(self, node: Node, spec: CommandSpec, epoch: int, now: float) -> None:
        wall = time.time()
        if node.asked_at is not None:
            self.latencies.append(wall - node.asked_at)
            node.asked_at = None
        self.first_assign.setdefault(node.name, wall)
        if epoch > self.mark_epoch and self.first_new_epoch_assign is None:
            self.first_new_epoch_assign = wall
        if node.running is not None:
            # one slot: give it back, as a worker with no room does
            self.finish(node, spec.command_id, spec.attempt, int(CommandStatus.READY), now, credit=False)
            return
        node.running = (spec.command_id, spec.attempt)
        self.started[spec.command_id] += 1
        node.ends_at = now + self.frame_time(spec)
        heapq.heappush(self.ends, (node.ends_at, spec.command_id, node.name))

    def frame_time(self, spec: CommandSpec) -> float:
        """Its ``sleep N`` (else the controller's frame time), times 1 +/- the spread, at random."""
        seconds = self.frame_s
        cmd = spec.arguments.get("cmd")
        if isinstance(cmd, str) and cmd.startswith("sleep "):
            try:
                seconds = float(cmd.split()[1])
            except ValueError:
                pass
        return seconds * self.random.uniform(1 - self.frame_spread, 1 + self.frame_spread)

    def finish(self, node: Node, cid: int, attempt: int, status: int, now: float, credit: bool = True) -> None:
        self.seq += 1
        free = (0 if node.running else 1) if credit else None
        update = UpdateMessage(cid, attempt, self.seq, status, 1.0, None, None, free)
        node.pending[(cid, attempt, self.seq)] = update
        node.sent_at[(cid, attempt, self.seq)] = now
        if node.welcomed:
            self.send(node, update.encode(), now)
            if free:
                node.asked_at = time.time()

    # ------------------------------------------------------------------ timers
    def turn(self, now: float) -> None:
        while self.ends and self.ends[0][0] <= now:
            _, cid, name = heapq.heappop(self.ends)
            node = self.by_name[name]
            if node.running is not None and node.running[0] == cid:
                attempt = node.running[1]
                node.running = None
                self.finish(node, cid, attempt, DONE, now)

    def housekeeping(self, now: float) -> None:
        if self.leader_changed.is_set():
            self.leader_changed.clear()
            leader = self._leader
            if leader is not None and leader.epoch >= self.epoch and leader.endpoint != self.endpoint:
                self.endpoint = leader.endpoint
                for node in self.nodes:
                    node.backoff = self.interval
                    self.connect(node, now)
        for node in self.nodes:
            if node.socket is None:
                if self.endpoint is not None and now >= node.reconnect_at:
                    self.connect(node, now)
                continue
            if not node.welcomed:
                if now >= node.hello_again_at:
                    self.hello(node, now)
                continue
            if now - node.last_heard > node.beat * self.liveness:
                self.close(node)  # as worker.tick: reconnect after a back-off
                node.backoff = max(node.backoff, self.interval)
                node.reconnect_at = now + node.backoff
                node.backoff = min(node.backoff * 2, 32.0)
                continue
            for key, sent in list(node.sent_at.items()):
                if now - sent >= RESEND_AFTER_S:
                    node.sent_at[key] = now
                    self.send(node, node.pending[key].encode(), now)
            if now - node.last_sent >= node.beat:
                self.send(node, HeartbeatMessage(self.epoch).encode(), now)

    # ------------------------------------------------------------------ control
    def control(self, line: str) -> dict[str, Any] | None:
        request = json.loads(line)
        op = request["op"]
        if op == "mark":
            self.mark()
            return {"ok": True}
        if op == "frame":
            self.frame_s = float(request["seconds"])
            return {"ok": True}
        if op == "stats":
            cpu = os.times()
            return {"latencies": self.latencies, "first_assign": self.first_assign,
                    "busy": sum(1 for n in self.nodes if n.running),
                    "attached": sum(1 for n in self.nodes if n.welcomed and n.welcome_epoch >= self.epoch),
                    "welcomed_at": max((n.welcomed_at for n in self.nodes), default=0.0),
                    "all_attached": all(n.welcomed and n.welcome_epoch >= self.epoch for n in self.nodes),
                    "epoch": self.epoch, "first_new_epoch_assign": self.first_new_epoch_assign,
                    "started": {str(c): k for c, k in self.started.items() if k > 1},
                    "starts": sum(self.started.values()), "cpu_s": cpu.user + cpu.system}
        if op == "quit":
            return None
        return {"error": f"unknown op {op!r}"}

    def run(self) -> None:
        self.register()
        stdin = sys.stdin.fileno()
        os.set_blocking(stdin, False)
        self.poller.register(stdin, zmq.POLLIN)
        buffer = b""
        print(json.dumps({"ready": len(self.nodes)}), flush=True)
        next_housekeeping = 0.0
        while True:
            timeout = TURN_S
            if self.ends:
                timeout = min(timeout, max(0.0, self.ends[0][0] - time.monotonic()))
            ready = self.poller.poll(int(timeout * 1000))
            now = time.monotonic()
            for sock, _ in ready:
                if sock == stdin:
                    chunk = os.read(stdin, 65536)
                    if not chunk:
                        return
                    buffer += chunk
                    while b"\n" in buffer:
                        line, buffer = buffer.split(b"\n", 1)
                        answer = self.control(line.decode())
                        if answer is None:
                            return
                        print(json.dumps(answer), flush=True)
                    continue
                node = self.by_socket.get(sock)  # type: ignore[call-overload]
                if node is None:
                    continue
                for _ in range(100):
                    try:
                        frame = sock.recv(zmq.NOBLOCK)  # type: ignore[union-attr]
                    except zmq.Again:
                        break
                    self.on_frame(node, frame, now)
            self.turn(now)
            if now >= next_housekeeping:
                next_housekeeping = now + self.interval / 5
                self.housekeeping(now)

    def stop(self) -> None:
        for node in self.nodes:
            self.close(node)
        self.context.term()
        self.zk.stop()
        self.zk.close()


def main() -> None:
    simulator = Simulator(json.loads(sys.argv[1]))
    try:
        simulator.run()
    finally:
        simulator.stop()


if __name__ == "__main__":
    main()
