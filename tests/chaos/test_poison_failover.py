"""Poison, then kill -9: the worst hostile input of issue 12 thrown at a real leader at once, then
its machine dies. The successor must lead (it replays whatever of the poison was journalled, and
loads any snapshot taken of it) and the farm must run: a new graph to DONE, earlier graphs intact."""

from __future__ import annotations

import pytest

from puli_mesh.client import MeshRequestError, MeshUnreachableError
from puli_mesh.protocol import EditMessage, QueryMessage, UpdateMessage
from puliclient.status import CommandStatus, NodeStatus

from ..integration.conftest import Mesh, wait_for
from ..integration.hostile_peer import (
    assert_farm_runs,
    deep_groups,
    deepest_submit,
    leader_answers,
    one_task_graph,
    raw_peer,
    run_to_done,
    submit,
)
from ..integration.test_hostile_peers import hello

pytestmark = pytest.mark.slow

DONE = int(NodeStatus.DONE)


def test_poison_then_kill_9_of_the_leader_the_successor_leads_and_the_farm_runs(
        mesh: Mesh, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PULI_SNAPSHOT_EVERY", "1")  # whatever poison is journalled gets snapshotted too
    for name in ("rn1", "rn2", "rn3"):
        mesh.start_agent(name)
    mesh.wait_ready(3)
    leader = mesh.leader()
    earlier = {run_to_done(mesh, "before"): DONE}
    running = submit(mesh, one_task_graph("running", "sleep 2"))
    address = mesh.agents[leader].address

    with raw_peer(address) as poisoner, raw_peer(address, leader.encode()) as impostor:
        # Too deep to journal (it wedged the journal), too deep to walk (it killed every snapshot).
        graph = one_task_graph("deep-args")
        graph["tasks"][1]["commands"][0]["arguments"]["x"] = "@DEEP@"
        poisoner.send(deepest_submit(graph, "@DEEP@", rid="poison-1"))
        try:
            deep = submit(mesh, deep_groups("deep-groups", 1000))
        except (MeshRequestError, MeshUnreachableError):
            deep = None
        # Values that cannot be stored, a filter that backtracks for seconds.
        poisoner.send(EditMessage("poison-2", "set", {"id": earlier and next(iter(earlier)),
                                                      "priority": 2**64 - 1}))
        poisoner.send(QueryMessage("poison-3", "graphs", {"name": "(a+)+$"}))
        # A peer speaking as the leader's own worker, forging results.
        impostor.send(hello(leader))
        for token in range(3):
            impostor.send(UpdateMessage(1, token, token + 1, int(CommandStatus.ERROR), 1.0, "forged", None))
        poisoner.drain(1.0)
    # The poisoned leader still works: a graph submitted now is acknowledged, runs, and is durable.
    earlier[run_to_done(mesh, "between", timeout=30)] = DONE

    mesh.kill9(leader)
    wait_for(lambda: (s := mesh.status()) is not None and s["leader"] not in (None, leader), 60,
             "a successor to lead")
    mesh.wait_ready(2, timeout=60)
    mesh.wait_graph(running, {DONE}, timeout=60)  # its node survived; or it was run again
    earlier[running] = DONE
    if deep is not None:
        try:
            mesh.wait_graph(deep, {DONE}, timeout=30)
            earlier[deep] = DONE
        except AssertionError:
            pytest.fail(f"an accepted graph ({deep}, 1,000 nested groups) did not run to DONE")
    assert_farm_runs(mesh, earlier, name="after-the-poison")
    # And the successor can snapshot what it replayed.
    records = leader_answers(mesh)["journal"]["records"]
    wait_for(lambda: leader_answers(mesh)["journal"]["last_snapshot_record"] >= records, 30, "a snapshot")
    assert not any(leader_answers(mesh)["faults"].values()), leader_answers(mesh)["faults"]
