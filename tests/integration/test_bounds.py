"""Bounded everything, over real sockets: a peer that floods the leader and never reads holds a
bounded amount of its memory, and everybody else is served meanwhile."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import msgpack
import zmq

from puli_mesh.protocol import PROTOCOL_VERSION
from puliclient import Graph
from puliclient.farm import Farm
from puliclient.status import NodeStatus

from .conftest import Mesh, peer_key, use_key

FLOOD_S = 4.0
BIG = 4 * 1024 * 1024


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def flood(address: str, stop: threading.Event, sent: list[int]) -> None:
    """Big messages as fast as the leader lets us, never reading a reply: half not msgpack at
    all, half a valid QUERY carrying 4 MiB of padding (each gets an answer nobody reads)."""
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.SNDHWM, 1000)
    sock.setsockopt(zmq.RCVHWM, 1)  # our side reads as little as ZeroMQ allows: replies back up
    use_key(sock, peer_key())
    sock.connect(f"tcp://{address}")
    junk = b"\xc1" * BIG
    query = msgpack.packb({"v": PROTOCOL_VERSION, "k": "QUERY", "rid": "f", "what": "status",
                           "args": {"pad": "x" * BIG}})
    try:
        while not stop.is_set():
            try:
                sock.send(junk if sent[0] % 2 else query, zmq.NOBLOCK)
                sent[0] += 1
            except zmq.Again:
                time.sleep(0.001)
    finally:
        sock.close(linger=0)


def test_a_flooding_peer_that_never_reads_holds_bounded_memory_and_the_farm_runs_on(mesh: Mesh) -> None:
    leader = mesh.start_agent("leader")
    mesh.wait_ready(1)
    assert leader.process is not None
    pid = leader.process.pid
    before = rss_mb(pid)
    stop, sent = threading.Event(), [0]
    flooders = [threading.Thread(target=flood, args=(leader.address, stop, sent), daemon=True) for _ in range(2)]
    for t in flooders:
        t.start()
    peak = before
    farm = Farm(node=leader.address)
    try:
        graph = Graph("under-flood")
        graph.addNewTask("t", {"cmd": "true", "start": 1, "end": 3})
        graph_id = Farm.graph_id(farm.submit(graph)[0])
        answered = 0
        deadline = time.monotonic() + FLOOD_S
        while time.monotonic() < deadline:
            assert farm.status()["leader"] == "leader"  # another client is answered meanwhile
            answered += 1
            peak = max(peak, rss_mb(pid))
        final = farm.wait(graph_id, timeout=60)
    finally:
        stop.set()
        for t in flooders:
            t.join(10)
    assert sent[0] > 50, f"the flood sent only {sent[0]} messages"
    assert final["status"] == NodeStatus.DONE and answered > 0
    # 2 connections x (8 queued + 1 being read) x 4 MiB, the copies decoding makes, and slack
    assert peak - before < 300, f"the leader grew from {before:.0f} to {peak:.0f} MB"
    assert leader.alive()
