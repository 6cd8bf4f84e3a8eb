"""Refused requests leave no trace, and accepted ones are stored once: a hostile client against a
real leader over a raw DEALER (issue 12, "journalled before validated", the retried SUBMIT).

Each test ends with "a new graph still runs to DONE and nothing earlier was lost"."""

from __future__ import annotations

import pytest

from puli_mesh.protocol import ErrorCode, ErrorMessage, ResultMessage
from puli_mesh.zkpaths import ClusterPaths
from puliclient.status import NodeStatus

from .conftest import Mesh, wait_for
from .hostile_peer import (
    assert_farm_runs,
    deepest_submit,
    frame,
    graphs_by_id,
    one_task_graph,
    raw_peer,
    run_to_done,
)

DONE = int(NodeStatus.DONE)
REFUSED = {ErrorCode.INVALID, ErrorCode.PROTOCOL}


def zk_bytes(mesh: Mesh, path: str) -> int:
    """The bytes of every znode under ``path`` (ZooKeeper keeps them all in RAM)."""
    zk = mesh.zk_started()
    try:
        total, todo = 0, [path]
        while todo:
            p = todo.pop()
            if not zk.exists(p):
                continue
            data, _ = zk.get(p)
            total += len(data or b"")
            todo += [f"{p}/{c}" for c in zk.get_children(p)]
        return total
    finally:
        zk.stop()
        zk.close()


@pytest.mark.parametrize("where", ["arguments", "meta", "tags"])
def test_a_submit_nested_too_deep_to_store_is_refused_at_once(mesh: Mesh, where: str) -> None:
    """A small SUBMIT nested ~1,000 maps deep decodes, but could never be packed into the journal:
    once journalled, the write was retried forever and nothing after it became durable."""
    mesh.start_agent("keeper")
    mesh.wait_ready(1)
    before = run_to_done(mesh, "before")
    graph = one_task_graph("deep")
    if where == "arguments":
        graph["tasks"][1]["commands"][0]["arguments"]["x"] = "@DEEP@"
    elif where == "meta":
        graph["meta"] = {"x": "@DEEP@"}
    else:
        graph["tasks"][1]["tags"] = {"x": "@DEEP@"}
    data = deepest_submit(graph, "@DEEP@")
    with raw_peer(mesh.agents["keeper"].address) as peer:
        reply = peer.ask(data, timeout=10)
    assert isinstance(reply, ErrorMessage), f"no refusal within 10 s: {reply!r} (the journal is wedged?)"
    assert reply.code in REFUSED and reply.rid in ("deep", None), reply
    assert any(w in reply.message.lower() for w in ("deep", "nest", "depth", "level")), reply.message  # says what
    assert not [g for g in graphs_by_id(mesh).values() if g["name"] == "deep"]
    assert_farm_runs(mesh, {before: DONE})


def test_megabytes_of_junk_are_refused_and_never_stored_in_zookeeper(mesh: Mesh) -> None:
    """Junk of up to 64 MB per message went into the journal, i.e. into ZooKeeper's RAM. Above
    the message limit (16 MB) it is refused on decoding; a long name is refused by the graph's
    string limits. Neither adds anything to the journal."""
    mesh.start_agent("keeper")
    mesh.wait_ready(1)
    before = run_to_done(mesh, "before")
    journal = ClusterPaths(mesh.cluster).journal
    stored = zk_bytes(mesh, journal)
    huge = one_task_graph("huge")
    huge["meta"] = {"junk": "x" * (17 * 1024 * 1024)}
    long_name = one_task_graph("long")
    long_name["name"] = long_name["tasks"][1]["name"] = "n" * (1024 * 1024)  # past the client's own check
    with raw_peer(mesh.agents["keeper"].address) as peer:
        # Above the message limit, ZeroMQ drops the frame unread and the connection with it
        # (MAXMSGSIZE): no answer. (Our own client refuses to send such a message, saying why.)
        assert peer.ask(frame("SUBMIT", rid="huge", graph=huge), timeout=5) is None
    with raw_peer(mesh.agents["keeper"].address) as peer:
        reply = peer.ask(frame("SUBMIT", rid="long", graph=long_name), timeout=20)
        assert isinstance(reply, ErrorMessage), f"accepted, or no answer within 20 s: {reply!r}"
        assert reply.code in REFUSED and "name_length" in reply.message, reply
    run_to_done(mesh, "between")  # one small record is journalled after the refusals
    grown = zk_bytes(mesh, journal) - stored
    assert grown < 256 * 1024, f"the journal grew by {grown} bytes"
    assert_farm_runs(mesh, {before: DONE})


def test_a_submit_retried_after_a_failover_creates_its_graph_once(mesh: Mesh) -> None:
    """A client whose SUBMIT reached the old leader, but whose answer did not reach it, sends the
    same request (same rid) to the successor: the graph must not be created twice."""
    for name in ("rn1", "rn2"):
        mesh.start_agent(name)
    mesh.wait_ready(2)
    leader = mesh.leader()
    before = run_to_done(mesh, "before")
    request = frame("SUBMIT", rid="once-only", graph=one_task_graph("once"))
    with raw_peer(mesh.agents[leader].address) as peer:
        first = peer.ask(request)
    assert isinstance(first, ResultMessage), first
    graph_id = int(first.data["graph_id"])
    mesh.kill9(leader)
    survivor = next(n for n in mesh.agents if n != leader)
    wait_for(lambda: (s := mesh.status()) is not None and s["leader"] == survivor, 60, "the survivor to lead")
    mesh.wait_ready(1, timeout=60)
    with raw_peer(mesh.agents[survivor].address) as peer:
        retried = peer.ask(request, timeout=10)
    assert isinstance(retried, ResultMessage), retried
    assert int(retried.data["graph_id"]) == graph_id
    assert [g["id"] for g in graphs_by_id(mesh).values() if g["name"] == "once"] == [graph_id]
    mesh.wait_graph(graph_id, {DONE})
    assert_farm_runs(mesh, {before: DONE, graph_id: DONE})
