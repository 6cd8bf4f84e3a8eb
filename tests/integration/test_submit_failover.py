"""A client's SUBMIT is idempotent across failovers: its request id is journalled with the graph."""

from __future__ import annotations

from puli_mesh.client import MeshClient
from puliclient import Graph
from puliclient.status import NodeStatus

from .conftest import Mesh, wait_for


def test_a_submit_sent_again_to_the_successor_with_its_rid_gets_the_same_graph(mesh: Mesh) -> None:
    """The leader journals a SUBMIT and is killed (-9): the client, unsure its graph exists,
    sends the same SUBMIT, same request id, to the successor. One graph, the same id."""
    mesh.start_agent("rn1")
    mesh.start_agent("rn2")
    mesh.wait_ready(2)
    leader = mesh.leader()
    survivor = next(name for name in mesh.agents if name != leader)
    graph = Graph("submitted-once")
    graph.addNewTask("t", {"cmd": "true"})
    representation = graph.prepareGraphRepresentation()
    first = MeshClient(node=mesh.agents[leader].address, timeout=5.0).request(
        "SUBMIT", graph=representation, rid="the-client-s-rid")

    mesh.kill9(leader)
    wait_for(lambda: (s := mesh.status()) is not None and s["leader"] == survivor, 60, "the survivor to lead")
    client = MeshClient(node=mesh.agents[survivor].address, timeout=5.0)
    again = client.request("SUBMIT", graph=representation, rid="the-client-s-rid")
    assert (again["graph_id"], again["node_ids"]) == (first["graph_id"], first["node_ids"])
    named = [g for g in client.request("QUERY", what="graphs", args={})["items"] if g["name"] == "submitted-once"]
    assert [g["id"] for g in named] == [first["graph_id"]]
    tree = mesh.wait_graph(first["graph_id"], {int(NodeStatus.DONE)})
    assert tree["status"] == int(NodeStatus.DONE)
    other = client.request("SUBMIT", graph=representation)  # a new request id: a new graph
    assert other["graph_id"] > first["graph_id"]
