"""The farm's figures through real agents: the history query answers a sample a period, and a
new leader, after a kill -9 of the old one, still has the old samples and goes on counting."""

from __future__ import annotations

import time
from typing import Any

import pytest

from puli_mesh import zk_access
from puli_mesh.zkpaths import ClusterPaths
from puliclient import Graph
from puliclient.errors import FarmError
from puliclient.farm import Farm
from puliclient.status import NodeStatus

from .conftest import Mesh, wait_for

COMMANDS = 3


def history(farm: Farm, since: float | None = None) -> list[dict[str, Any]] | None:
    try:
        return farm.history(since=since)
    except FarmError:  # between two leaders
        return None


def test_the_history_and_the_commands_done_survive_a_leader_failover(mesh: Mesh,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PULI_HISTORY_PERIOD", "1")  # a sample a second, not a minute
    mesh.start_agent("rn1")
    mesh.start_agent("rn2")
    mesh.wait_ready(2)
    leader = mesh.leader()
    survivor = next(name for name in mesh.agents if name != leader)
    started = time.time()
    graph = Graph("counted")
    task = graph.addNewTask("t", {"cmd": "true"})
    for i in range(COMMANDS):
        task.addCommand(f"c{i}", {"start": i, "end": i})
    reply = mesh.client(leader).request("SUBMIT", graph=graph.prepareGraphRepresentation())
    done = mesh.wait_graph(int(reply["graph_id"]), {int(NodeStatus.DONE)})["doneCommandCount"]
    assert done >= COMMANDS

    old = Farm(node=mesh.agents[leader].address)

    def counted_twice() -> list[dict[str, Any]] | None:
        samples = history(old) or []
        # two samples past the last command: the first of them has been stored a period ago
        return samples if len([s for s in samples if s["done_total"] == done]) >= 2 else None

    before = wait_for(counted_twice, 30, "two samples counting every command done")
    assert all(s["end"] > s["start"] for s in before) and before[-1]["end"] > started
    assert sum(s["done"] for s in before) == done and max(s["busy_slots"] for s in before) <= 2
    assert [s["start"] for s in before] == sorted(s["start"] for s in before)

    mesh.kill9(leader)
    wait_for(lambda: (s := mesh.status()) is not None and s["leader"] == survivor, 60, "the survivor to lead")
    new = Farm(node=mesh.agents[survivor].address)
    kept_start = before[-2]["start"]

    def resumed() -> list[dict[str, Any]] | None:
        samples = history(new, since=kept_start) or []
        fresh = [s for s in samples if s["start"] > before[-1]["start"]]
        return samples if fresh and fresh[-1]["nodes_online"] >= 1 else None

    after = wait_for(resumed, 30, "the new leader's history to go on")
    assert after[0]["start"] == kept_start  # the old leader's samples, read back from ZooKeeper
    assert after[-1]["done_total"] == done  # the total goes on from the kept samples
    assert new.stats()["totals"]["done"] == done
    zk = mesh.zk_started()
    try:
        paths = ClusterPaths(mesh.cluster)
        assert zk.get_children(paths.history)  # one znode an hour...
        assert zk_access.check_tree(zk, paths) == []  # ...private to the cluster's credential
    finally:
        zk.stop()
        zk.close()
