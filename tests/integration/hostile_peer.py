"""What the hostile-input suites share: a raw DEALER peer speaking the protocol by hand, hostile
graph shapes, and the closing check of every such test ("a new graph still runs to DONE and
nothing earlier was lost").

Guarantees: every wait has a deadline (a wedged leader fails the test, never hangs it); the
peer is an ordinary ZeroMQ DEALER, as any program on the network could open, so what it
proves holds for any client, not only for ``MeshClient``.

Not here: the attacks themselves (each ``test_hostile_*.py`` holds its own), fixtures (``conftest``).
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

import msgpack
import zmq
from kazoo.client import KazooClient

from puli_mesh.cluster_state import dump
from puli_mesh.keys import KeyPair
from puli_mesh.protocol import PROTOCOL_VERSION, Message, decode
from puli_mesh.zkpaths import ClusterPaths
from puliclient import Graph
from puliclient.status import NodeStatus

from .conftest import Mesh, peer_key, use_key, wait_for

MSGPACK_MAX_DEPTH = 1024
"""msgpack decodes (and packs) maps nested up to this many levels."""
REPLY_TIMEOUT_S = 5.0
"""How long a peer waits for one reply: a loaded 2-core machine answers a QUERY in milliseconds."""


PeerKey = KeyPair | None | Literal["default"]
"""A raw peer's key: one given, None (no CURVE at all), or ``"default"`` (see :class:`RawPeer`)."""


class RawPeer:
    """A DEALER socket connected to one agent, sending frames built by hand. On a secured mesh
    it has a key the mesh knows (``key``; by default the node peer key when it takes a worker's
    routing ``identity``, else the test's admin key), so what it sends reaches the coordinator:
    the hostile peer here is one with a valid key."""

    def __init__(self, address: str, identity: bytes | None = None, key: PeerKey = "default") -> None:
        self.socket = zmq.Context.instance().socket(zmq.DEALER)
        self.socket.setsockopt(zmq.LINGER, 0)
        if identity is not None:
            self.socket.setsockopt(zmq.IDENTITY, identity)
        use_key(self.socket, peer_key(node=identity is not None) if key == "default" else key)
        self.socket.connect(f"tcp://{address}")

    def send(self, *frames: bytes | Message) -> None:
        self.socket.send_multipart([f.encode() if isinstance(f, Message) else f for f in frames])

    def recv(self, timeout: float = REPLY_TIMEOUT_S) -> Message | None:
        """The next message (decoded), or None if nothing came within ``timeout`` seconds."""
        if not self.socket.poll(int(timeout * 1000)):
            return None
        return decode(self.socket.recv())

    def drain(self, seconds: float = 0.5) -> list[Message]:
        """Every message that arrives within ``seconds`` (a leader sends HEARTBEATs all along)."""
        got: list[Message] = []
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            if (msg := self.recv(left)) is not None:
                got.append(msg)
        return got

    def ask(self, frame: bytes | Message, timeout: float = REPLY_TIMEOUT_S) -> Message | None:
        """Send one frame; the first reply (None if none came in time)."""
        self.send(frame)
        return self.recv(timeout)

    def close(self) -> None:
        self.socket.close(linger=0)


@contextmanager
def raw_peer(address: str, identity: bytes | None = None, key: PeerKey = "default") -> Iterator[RawPeer]:
    peer = RawPeer(address, identity, key)
    try:
        yield peer
    finally:
        peer.close()


def frame(kind: str, **fields: Any) -> bytes:
    """A frame of ``kind`` with ``fields`` exactly as given: no validation, as a hostile peer sends."""
    return msgpack.packb({"v": PROTOCOL_VERSION, "k": kind, **fields}, use_bin_type=True)


@contextmanager
def fake_member(mesh: Mesh, name: str) -> Iterator[None]:
    """``name`` registered as a live member of the mesh's cluster, as an agent would be, but with
    no agent behind it: what a hostile process with access to ZooKeeper, or a buggy agent, is.

    A plain znode, not an ephemeral one: no ZooKeeper client has to keep running meanwhile (its
    threads would draw on ``random`` while hypothesis generates examples)."""
    path = ClusterPaths(mesh.cluster).node(name)
    with _zk(mesh) as zk:
        zk.create(path, dump({"endpoint": "tcp://127.0.0.1:1", "slots": 1, "pools": ["default"],
                              "running": 0, "accepting": True}), makepath=True)
    try:
        wait_for(lambda: name in [n["name"] for n in (mesh.status() or {}).get("nodes", [])], 30,
                 f"the leader to see member {name}")
        yield
    finally:
        with _zk(mesh) as zk:
            zk.delete(path)


@contextmanager
def _zk(mesh: Mesh) -> Iterator[KazooClient]:
    zk = mesh.zk_started()
    try:
        yield zk
    finally:
        zk.stop()
        zk.close()


# ------------------------------------------------------------------ graph shapes
def one_task_graph(name: str, cmd: str = "true") -> dict[str, Any]:
    graph = Graph(name)
    graph.addNewTask(name, {"cmd": cmd})
    return graph.prepareGraphRepresentation()


def deep_groups(name: str, depth: int) -> dict[str, Any]:
    """A graph whose one task sits under ``depth`` nested task groups (built flat: no recursion)."""
    data = one_task_graph(name)
    task = data["tasks"][1]
    group = dict(data["tasks"][0])
    tasks: list[dict[str, Any]] = []
    for level in range(depth):
        tasks.append({**group, "name": f"g{level}", "tasks": [level + 1]})
    tasks.append(task)
    return {**data, "tasks": tasks, "root": 0}


def deep_msgpack(depth: int) -> bytes:
    """A msgpack map nested ``depth`` levels, written as bytes (one map of one key per level)."""
    return b"\x81\xa1x" * depth + msgpack.packb(0)


def deepest_submit(graph: dict[str, Any], placeholder: str, rid: str = "deep") -> bytes:
    """The SUBMIT frame of ``graph`` whose string ``placeholder`` is replaced by maps nested as deep
    as msgpack still decodes: the leader can read it, but a journal batch wrapping it (a few levels
    more) cannot be packed."""
    packed = frame("SUBMIT", rid=rid, graph=graph)
    marker = msgpack.packb(placeholder)
    assert packed.count(marker) == 1
    for depth in range(MSGPACK_MAX_DEPTH, 0, -1):
        data = packed.replace(marker, deep_msgpack(depth))
        try:
            msgpack.unpackb(data, strict_map_key=False)
        except ValueError:
            continue
        return data
    raise AssertionError("unreachable")


def nested_value(depth: int, leaf: Any = 0) -> Any:
    """A map nested ``depth`` levels deep (msgpack decodes up to 1024 levels)."""
    value = leaf
    for _ in range(depth):
        value = {"x": value}
    return value


# ------------------------------------------------------------------ the closing check
def submit(mesh: Mesh, graph: dict[str, Any]) -> int:
    result = mesh.client_any().request("SUBMIT", graph=graph)
    return int(result["graph_id"])


def run_to_done(mesh: Mesh, name: str, timeout: float = 60.0) -> int:
    """Submit a one-command graph through the ordinary client; its id once it is DONE."""
    graph_id = submit(mesh, one_task_graph(name))
    mesh.wait_graph(graph_id, {int(NodeStatus.DONE)}, timeout=timeout)
    return graph_id


def leader_answers(mesh: Mesh, timeout: float = 30.0) -> dict[str, Any]:
    """The status from a live agent within ``timeout`` seconds (the leader answers it)."""
    return dict(wait_for(mesh.status, timeout, "an agent answering status"))


def graphs_by_id(mesh: Mesh) -> dict[int, dict[str, Any]]:
    return {int(g["id"]): g for g in mesh.client_any().request("QUERY", what="graphs", args={})["items"]}


def assert_farm_runs(mesh: Mesh, earlier: dict[int, int], name: str = "after-the-attack",
                     timeout: float = 60.0) -> None:
    """Every agent the test did not kill -9 is alive, the leader answers ``status``, every graph
    of ``earlier`` (id -> status) is still there with that status, and a new graph runs to DONE."""
    dead = {n: p.process.returncode for n, p in mesh.agents.items()
            if p.process is not None and p.process.poll() not in (None, -signal.SIGKILL)}
    assert not dead, f"agents died (name: exit code): {dead}"
    leader_answers(mesh)
    run_to_done(mesh, name, timeout=timeout)
    listed = graphs_by_id(mesh)
    for graph_id, status in earlier.items():
        assert graph_id in listed, f"graph {graph_id} was lost"
        assert listed[graph_id]["status"] == status, listed[graph_id]
