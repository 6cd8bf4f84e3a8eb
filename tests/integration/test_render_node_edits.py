"""A wrangler's edits of render nodes on a real mesh: pools set by an operator (kept when the
node connects again, also to a new leader), and removing a node that left for good."""

from __future__ import annotations

from puliclient import Graph
from puliclient.errors import FarmIllegalEditError, FarmNotFoundError
from puliclient.farm import Farm

from .conftest import Mesh, wait_for
from .test_cli_operating import EXIT_FAILED, cli, cli_json


def run_in_pool(farm: Farm, name: str, pool: str, frames: int) -> int:
    graph = Graph(name, poolName=pool)
    graph.addNewTask("t", {"cmd": "true", "start": 1, "end": frames, "packetSize": 1})
    return Farm.graph_id(farm.submit(graph)[0])


def nodes_ran(farm: Farm, graph_id: int) -> set[str]:
    final = farm.wait(graph_id, timeout=60, interval=0.1)  # frames of `true`: done in a tenth of a second
    assert final["status_name"] == "DONE", final
    return {c["last_node"] for c in farm.commands(graph=graph_id)}


def test_an_operators_pools_decide_where_work_runs_and_outlive_a_reconnection(mesh: Mesh) -> None:
    for name in ("rn1", "rn2", "rn3"):
        mesh.start_agent(name, slots=2)  # every agent says: pool "default" only
    mesh.wait_ready(3)
    leader = mesh.leader()
    farm = Farm(node=mesh.agents[leader].address)  # not the agent that stops below
    farm.define_pool("gpu")
    with_gpu = next(n for n in ("rn1", "rn2", "rn3") if n != leader)
    wait_for(lambda: "gpu" in {p["name"] for p in farm.pools()}, 10, "the leader to know pool gpu")

    with_gpu_cli = cli(mesh, "pools", "set-nodes", "gpu", with_gpu)
    assert with_gpu_cli.returncode == 0, with_gpu_cli.stderr
    shown = {n["name"]: n for n in cli_json(mesh, "nodes")}
    assert shown[with_gpu]["pools"] == ["default", "gpu"] and shown[with_gpu]["pools_override"] == ["default", "gpu"]
    assert "(set)" in cli(mesh, "nodes").stdout
    assert nodes_ran(farm, run_in_pool(farm, "gpu-work", "gpu", 4)) == {with_gpu}

    # Its agent stops and starts again, still saying "default" only: the operator's pools stay.
    mesh.kill9(with_gpu)
    # Polled in-process: each `nodes` through the CLI is a new process (half a second of imports).
    wait_for(lambda: {n["name"]: n["state"] for n in farm.nodes()}.get(with_gpu) == "gone", 30, "lost")
    mesh.start_agent(with_gpu, slots=2)
    mesh.wait_ready(3)
    assert nodes_ran(farm, run_in_pool(farm, "gpu-again", "gpu", 2)) == {with_gpu}

    # A new leader (journal or snapshot replayed) keeps them too.
    assert farm.step_down() == leader
    wait_for(lambda: mesh.status() is not None and mesh.leader() != leader, 30, "a new leader")
    mesh.wait_ready(3)
    assert {n["name"]: n for n in farm.nodes()}[with_gpu]["pools_override"] == ["default", "gpu"]
    assert nodes_ran(farm, run_in_pool(farm, "gpu-after-failover", "gpu", 2)) == {with_gpu}

    # Cleared: back to the pools its agent says; a pool that does not exist is refused.
    assert cli(mesh, "nodes", "set", with_gpu, "pools=").returncode == 0
    assert {n["name"]: n for n in cli_json(mesh, "nodes")}[with_gpu]["pools"] == ["default"]
    refused = cli(mesh, "nodes", "set", with_gpu, "pools=nowhere")
    assert refused.returncode == EXIT_FAILED and "no pool is called 'nowhere'" in refused.stderr


def test_a_stopped_nodes_record_is_removed_and_a_connected_one_is_not(mesh: Mesh) -> None:
    mesh.start_agent("keep")
    mesh.start_agent("gone")
    mesh.wait_ready(2)
    if mesh.leader() == "gone":  # remove the node that does not lead: no failover in this test
        mesh.start_agent("spare")
        mesh.wait_ready(3)
        farm = Farm(node=mesh.agents["keep"].address)
        farm.step_down()
        wait_for(lambda: mesh.status() is not None and mesh.leader() not in ("gone", None), 30, "a new leader")
    farm = Farm(node=mesh.agents["keep"].address)
    farm.set_node_performance("gone", 3.0)
    assert {n["name"]: n for n in farm.nodes()}["gone"]["performance"] == 3.0

    try:
        farm.remove_node("gone")
        raise AssertionError("a connected node was removed")
    except FarmIllegalEditError as exc:
        assert "stop its agent first" in str(exc)

    mesh.kill9("gone")
    wait_for(lambda: {n["name"]: n["state"] for n in farm.nodes()}.get("gone") == "gone", 30, "gone lost")
    removed = cli(mesh, "nodes", "remove", "gone")
    assert removed.returncode == 0, removed.stderr
    assert "gone" not in {n["name"] for n in cli_json(mesh, "nodes")}
    try:
        farm.remove_node("gone")
        raise AssertionError("a node was removed twice")
    except FarmNotFoundError:
        pass

    # Back later, it joins as a new node: its agent's performance, not the forgotten one.
    mesh.start_agent("gone")
    wait_for(lambda: {n["name"]: n.get("performance") for n in farm.nodes()}.get("gone") == 1.0, 30, "gone back")
