"""A render node's live state through real agents: its killfile, and the free RAM and load it reports as they change.

Through real agent processes, a real ZooKeeper and real ZeroMQ; what the node runs and how
the leader sees it are read back with queries and ``puli-mesh nodes``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from puli_mesh.node.killfile import EXIT_KILLFILE_STOP
from puli_mesh.node.resources import TEST_FREE_RAM_FILE, TEST_LOAD_FILE
from puliclient import Graph

from .conftest import Mesh, wait_for
from .test_cli_operating import cli


def submit(mesh: Mesh, graph: Graph) -> int:
    url, _ = graph.submit(*next(iter(mesh.agents.values())).address.split(":"))
    return int(url.rsplit("/", 1)[1])


def command_of(mesh: Mesh, graph_id: int) -> dict[str, Any]:
    client = mesh.client_any()
    (cmd,) = client.request("QUERY", what="commands", args={"id": graph_id})["items"]
    return dict(client.request("QUERY", what="command", args={"id": cmd["id"]}))


def node_row(mesh: Mesh, name: str) -> dict[str, Any]:
    status = mesh.status() or {"nodes": []}
    return next((n for n in status["nodes"] if n["name"] == name), {})


def cancel_and_wait(mesh: Mesh, graph_id: int, node: str) -> None:
    """End a test's long command, so its agent stops at once at teardown (a SIGTERM'd agent
    lets what runs finish: a two-minute frame held every teardown 15 s, until SIGKILL)."""
    assert cli(mesh, "cancel", str(graph_id)).returncode == 0
    wait_for(lambda: node_row(mesh, node)["running"] == 0, 20, "the cancelled command to end")


def test_a_killfile_pauses_the_node_and_minus_one_requeues_its_command_without_an_attempt(
        mesh: Mesh, tmp_path: Path) -> None:
    killfile = tmp_path / "killfile"
    mesh.start_agent("kf1", extra=["--killfile", str(killfile)])
    mesh.wait_ready(1)
    graph = Graph("killfile")
    graph.addNewTask("long", {"cmd": "sleep 120"})
    graph_id = submit(mesh, graph)
    wait_for(lambda: command_of(mesh, graph_id)["status_name"] == "RUNNING", 30, "the command to run")

    killfile.write_text("-1")
    shown = wait_for(lambda: (c := command_of(mesh, graph_id))["status_name"] == "READY" and c, 20,
                     "the command to be taken back")
    assert shown["attempts"] == 0  # killed by the killfile: no attempt spent
    row = wait_for(lambda: (r := node_row(mesh, "kf1"))["reason"] == "killfile" and r, 10, "the killfile's pause")
    assert row["state"] in ("paused", "draining") and row["running"] == 0
    assert killfile.read_text() == ""  # emptied: the node stays paused
    listed = cli(mesh, "nodes")
    assert listed.returncode == 0 and "(killfile)" in listed.stdout, listed.stdout + listed.stderr
    assert command_of(mesh, graph_id)["status_name"] == "READY"  # it takes nothing new

    killfile.unlink()
    wait_for(lambda: command_of(mesh, graph_id)["status_name"] == "RUNNING", 20, "the node to take work again")
    assert node_row(mesh, "kf1")["reason"] == ""
    cancel_and_wait(mesh, graph_id, "kf1")


def test_a_task_needing_more_ram_than_a_node_reports_waits_until_it_reports_more(
        mesh: Mesh, tmp_path: Path, monkeypatch: Any) -> None:
    free_ram = tmp_path / "free_ram"
    free_ram.write_text("1000")
    monkeypatch.setenv(TEST_FREE_RAM_FILE, str(free_ram))
    mesh.start_agent("ram1")
    mesh.wait_ready(1)
    wait_for(lambda: node_row(mesh, "ram1").get("free_ram_mb") == 1000, 10, "the HELLO's free RAM")
    graph = Graph("ram")
    graph.addNewTask("big", {"cmd": "sleep 60"}, ramUse=3000)
    graph_id = submit(mesh, graph)
    wait_for(lambda: command_of(mesh, graph_id)["status_name"] == "READY", 10, "the command to be READY")

    free_ram.write_text("6000")  # read within the worker's figures interval (8 s)
    wait_for(lambda: command_of(mesh, graph_id)["status_name"] in ("ASSIGNED", "RUNNING"), 30,
             "the command to be given to the node once it reports more free RAM")
    assert node_row(mesh, "ram1")["free_ram_mb"] == 6000
    cancel_and_wait(mesh, graph_id, "ram1")


def test_a_nodes_load_reaches_the_listings_as_it_changes_not_a_minute_late(
        mesh: Mesh, tmp_path: Path, monkeypatch: Any) -> None:
    load = tmp_path / "load"
    load.write_text("0.5")
    monkeypatch.setenv(TEST_LOAD_FILE, str(load))
    mesh.start_agent("load1")
    mesh.wait_ready(1)
    wait_for(lambda: node_row(mesh, "load1").get("load") == 0.5, 10, "the HELLO's load")
    load.write_text("7.25")  # read within the worker's figures interval (8 s); member data: 60 s
    wait_for(lambda: node_row(mesh, "load1").get("load") == 7.25, 20, "the new load on a HEARTBEAT")
    listed = cli(mesh, "nodes")
    assert listed.returncode == 0 and "7.25" in listed.stdout, listed.stdout + listed.stderr


def test_minus_two_in_the_killfile_makes_the_agent_exit_with_its_code_leaving_the_file_empty(
        mesh: Mesh, tmp_path: Path) -> None:
    killfile = tmp_path / "killfile"
    proc = mesh.start_agent("kf2", extra=["--killfile", str(killfile)])
    mesh.wait_ready(1)
    killfile.write_text("-2")
    assert proc.process is not None
    assert proc.process.wait(timeout=30) == EXIT_KILLFILE_STOP
    assert killfile.read_text() == ""  # so the restarted agent stays paused instead of leaving again
