"""Sick hosts on a real mesh: a command that fails on one node succeeds on its retry on the other;
the job then avoids the node it failed on (shown by `nodes`, also after a new leader replayed
it), until `nodes clear` forgives it."""

from __future__ import annotations

from puliclient import Graph
from puliclient.farm import Farm

from .conftest import Mesh, wait_for
from .test_cli_operating import EXIT_FAILED, cli, cli_json


def avoided(mesh: Mesh, name: str) -> list[dict]:
    return {n["name"]: n for n in cli_json(mesh, "nodes")}[name]["avoided_by"]


def test_a_command_failing_on_one_node_succeeds_on_its_retry_on_the_other(mesh: Mesh) -> None:
    for name in ("sick1", "well1"):
        mesh.start_agent(name)
    mesh.wait_ready(2)
    leader = mesh.leader()
    farm = Farm(node=mesh.agents[leader].address)
    farm.pause_node("well1")  # the first run must be on sick1
    # Fails on sick1 only. One failure makes the job avoid sick1 (its tags win over the farm's 3).
    graph = Graph("flaky", tags={"sickAfter": 1, "forgiveAfter": 3600})
    graph.addNewTask("t", {"cmd": '[ "$PULI_NODE_NAME" != sick1 ]', "start": 1, "end": 1, "packetSize": 1},
                     maxAttempt=10)
    gid = Farm.graph_id(farm.submit(graph)[0])
    wait_for(lambda: farm.commands(graph=gid)[0]["attempts"] >= 1, 30, "the first run to fail on sick1")
    farm.resume_node("well1")

    final = farm.wait(gid, timeout=60)
    (command,) = farm.commands(graph=gid)
    assert final["status_name"] == "DONE" and command["last_node"] == "well1", command
    assert command["attempts"] < 10  # sick1 was not tried until the attempts ran out
    shown = avoided(mesh, "sick1")
    assert [a["job"] for a in shown] == [gid]
    assert "avoided by job" in cli(mesh, "nodes").stdout

    # A new leader rebuilt from the journal (or a snapshot) knows it too.
    assert farm.step_down() == leader
    wait_for(lambda: mesh.status() is not None and mesh.leader() != leader, 30, "a new leader")
    mesh.wait_ready(2)
    assert avoided(mesh, "sick1") == shown

    cleared = cli(mesh, "nodes", "clear", "sick1")
    assert cleared.returncode == 0, cleared.stderr
    assert avoided(mesh, "sick1") == []
    again = cli(mesh, "nodes", "clear", "sick1")
    assert again.returncode == EXIT_FAILED and "neither quarantined nor avoided" in again.stdout + again.stderr
