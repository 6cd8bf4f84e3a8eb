"""Peers are not believed: a stranger on the leader's port cannot speak as a render node.

Written as a hostile peer would be: a raw DEALER speaking the protocol to a real leader (a real
agent process on the session's ZooKeeper), each test ending with a graph run to DONE.
"""

from __future__ import annotations

import zmq

from puli_mesh.protocol import ErrorCode, ErrorMessage, ReadyMessage, decode
from puliclient import Graph
from puliclient.status import NodeStatus

from .conftest import Mesh


def test_a_peer_using_a_nodes_name_as_routing_id_neither_takes_its_link_nor_its_work(mesh: Mesh) -> None:
    """The worker's routing id used to be its name, and the ROUTER handed a routing id over to
    whoever connected with it last: a stranger connecting as ``b"member"`` received the node's
    ASSIGNs and spoke as it. Now only the routing id of an accepted HELLO speaks for a node."""
    mesh.start_agent("member")
    mesh.wait_ready(1)
    address = mesh.agents["member"].address
    intruder = zmq.Context.instance().socket(zmq.DEALER)
    intruder.setsockopt(zmq.IDENTITY, b"member")
    intruder.setsockopt(zmq.LINGER, 0)
    try:
        intruder.connect(f"tcp://{address}")
        intruder.send(ReadyMessage(8).encode())  # asks for work as the node
        assert intruder.poll(5000), "the leader did not answer"
        refused = decode(intruder.recv())
        assert isinstance(refused, ErrorMessage) and refused.code == ErrorCode.HELLO_FIRST
        graph = Graph("while-the-intruder-listens")
        graph.addNewTask("t", {"cmd": "true"})
        url, _ = graph.submit("127.0.0.1", mesh.agents["member"].port)
        tree = mesh.wait_graph(int(url.rsplit("/", 1)[1]), {int(NodeStatus.DONE)})
        assert tree["status"] == int(NodeStatus.DONE)  # the member got and ran its command
        assert not intruder.poll(200), "the intruder received something meant for the node"
    finally:
        intruder.close(linger=0)
    names = [n["name"] for n in mesh.client_any().request("QUERY", what="status", args={})["nodes"]]
    assert names == ["member"]
