"""Bad input never takes an agent down or loses a job: it gets a clear error instead."""

from __future__ import annotations

import msgpack
import pytest
import zmq

from puli_mesh.client import MeshRequestError
from puli_mesh.protocol import (
    PROTOCOL_VERSION,
    AckMessage,
    ErrorCode,
    ErrorMessage,
    HelloMessage,
    QueryMessage,
    ReadyMessage,
    decode,
)
from puliclient import Graph
from puliclient.status import NodeStatus

from .conftest import Mesh, peer_key, use_key


def _raw_exchange(address: str, frames: list[bytes], expect_reply: bool = True) -> ErrorMessage | None:
    """Send ``frames``; the ERROR they get back (None if ``expect_reply`` is false)."""
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    use_key(sock, peer_key())
    try:
        sock.connect(f"tcp://{address}")
        sock.send_multipart(frames)
        if not expect_reply:
            return None
        assert sock.poll(5000), "the agent did not answer"
        reply = decode(sock.recv())
        assert isinstance(reply, ErrorMessage), reply
        return reply
    finally:
        sock.close(linger=0)


def test_garbage_gets_an_error_reply_and_the_agent_keeps_serving(mesh: Mesh) -> None:
    mesh.start_agent("sturdy")
    mesh.wait_ready(1)
    address = mesh.agents["sturdy"].address
    garbage = _raw_exchange(address, [b"\xc1\xc1 not msgpack"])
    assert garbage is not None and garbage.code == ErrorCode.PROTOCOL
    assert "not valid msgpack" in garbage.message
    old = _raw_exchange(address, [msgpack.packb({"v": 99, "k": "QUERY"})])
    assert old is not None and "protocol version 99" in old.message
    wrong_type = _raw_exchange(address, [msgpack.packb(
        {"v": PROTOCOL_VERSION, "k": "QUERY", "rid": "x", "what": 3, "args": {}})])
    assert wrong_type is not None and "QUERY.what must be str" in wrong_type.message
    not_a_request = _raw_exchange(address, [AckMessage(1, [[1, 1, 1]]).encode()])
    assert not_a_request is not None and not_a_request.code == ErrorCode.INVALID
    _raw_exchange(address, [b"two", b"frames"], expect_reply=False)  # dropped and logged
    unknown_query = _raw_exchange(address, [QueryMessage("q", "everything", {}).encode()])
    assert unknown_query is not None and "unknown query 'everything'" in unknown_query.message
    # still alive and serving
    assert mesh.agents["sturdy"].alive()
    assert mesh.status() is not None and mesh.status()["leader"] == "sturdy"  # type: ignore[index]


def test_a_malformed_graph_is_refused_with_the_node_named(mesh: Mesh) -> None:
    mesh.start_agent("judge")
    mesh.wait_ready(1)
    graph = Graph("cyclic")
    a = graph.addNewTask("a", {"cmd": "true"})
    b = graph.addNewTask("b", {"cmd": "true"})
    data = graph.prepareGraphRepresentation()
    data["tasks"][1]["dependencies"] = [[2, [3]]]  # a <-> b, sent raw, past the client's own check
    data["tasks"][2]["dependencies"] = [[1, [3]]]
    with pytest.raises(MeshRequestError, match="cycle") as cycle:
        mesh.client_any().request("SUBMIT", graph=data)
    assert cycle.value.code == "invalid" and a.name in str(cycle.value) and b.name in str(cycle.value)
    del data["tasks"][1]["runner"]
    with pytest.raises(MeshRequestError) as missing:
        mesh.client_any().request("SUBMIT", graph=data)
    assert missing.value.code == "invalid" and "runner" in str(missing.value)
    unknown_pool = Graph("lost", poolName="nowhere")
    unknown_pool.addNewTask("t", {"cmd": "true"})
    with pytest.raises(MeshRequestError, match="pools add nowhere"):
        mesh.client_any().request("SUBMIT", graph=unknown_pool.prepareGraphRepresentation())
    nothing = {"items": [], "cursor": None}  # nothing half-registered
    assert mesh.client_any().request("QUERY", what="graphs", args={}) == nothing


def test_an_unknown_runner_fails_its_command_clearly(mesh: Mesh) -> None:
    mesh.start_agent("runner-check")
    mesh.wait_ready(1)
    graph = Graph("bad-runner")
    graph.addNewTask("t", {"x": 1}, runner="no_such_package.NoRunner")
    url, _ = graph.submit("127.0.0.1", mesh.agents["runner-check"].port)
    tree = mesh.wait_graph(int(url.rsplit("/", 1)[1]), {int(NodeStatus.ERROR)})
    stack, commands = [tree], []
    while stack:
        node = stack.pop()
        commands += node.get("commands", [])
        stack += node.get("children", [])
    assert len(commands) == 1
    assert "no_such_package" in commands[0]["message"]
    assert mesh.agents["runner-check"].alive()


def test_a_hello_from_outside_the_cluster_is_refused_and_the_farm_runs_on(mesh: Mesh) -> None:
    """A peer that can reach the leader's port but is no agent of the cluster (no member znode)
    says HELLO, as a render node would: it gets no link, no work, and the farm goes on."""
    mesh.start_agent("member")
    mesh.wait_ready(1)
    address = mesh.agents["member"].address
    intruder = zmq.Context.instance().socket(zmq.DEALER)
    intruder.setsockopt(zmq.IDENTITY, b"intruder")
    intruder.setsockopt(zmq.LINGER, 0)
    use_key(intruder, peer_key(node=True))  # a node key the cluster knows, on a host that is no member
    try:
        intruder.connect(f"tcp://{address}")
        intruder.send(HelloMessage(name="intruder", endpoint="tcp://127.0.0.1:1", pools=["default"], cores=64,
                                   ram_mb=1 << 20, free_ram_mb=1 << 20, slots=64, characteristics={},
                                   performance=10.0, running=[], last_epoch=0, pipeline=0).encode())
        assert intruder.poll(5000), "the leader did not answer"
        refused = decode(intruder.recv())
        assert isinstance(refused, ErrorMessage) and refused.code == ErrorCode.NOT_MEMBER
        intruder.send(ReadyMessage(64).encode())  # and asks for work anyway
        assert intruder.poll(5000)
        ignored = decode(intruder.recv())
        assert isinstance(ignored, ErrorMessage) and ignored.code == ErrorCode.HELLO_FIRST
    finally:
        intruder.close(linger=0)
    graph = Graph("after-the-intruder")
    graph.addNewTask("t", {"cmd": "true"})
    url, _ = graph.submit("127.0.0.1", mesh.agents["member"].port)
    tree = mesh.wait_graph(int(url.rsplit("/", 1)[1]), {int(NodeStatus.DONE)})
    assert tree["status"] == int(NodeStatus.DONE)
    names = [n["name"] for n in mesh.client_any().request("QUERY", what="status", args={})["nodes"]]
    assert names == ["member"]
