"""Run-time edits of a running job through real agents: the next run of a command sees the new
arguments and environment, a command set DONE by hand is killed and unblocks what depends on it,
a timer holds a task until it is cleared. Edits go through the CLI as a wrangler types them
(a subprocess) and through ``Farm``; the mesh is polled in-process to wait for a state."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from puliclient import Graph
from puliclient.farm import Farm
from puliclient.status import CommandStatus, NodeStatus

from .conftest import Mesh, wait_for
from .test_cli_operating import cli
from .test_mesh_runs_graphs import submit


def command_of(tree: dict[str, Any], task: str) -> list[dict[str, Any]]:
    """The commands of the task named ``task`` in a graph view."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if node.get("name") == task and node.get("type") == "Task":
            return list(node["commands"])
        stack.extend(node.get("children", []))
    raise AssertionError(f"no task {task!r}")


def node_id(tree: dict[str, Any], name: str) -> int:
    stack = [tree]
    while stack:
        node = stack.pop()
        if node.get("name") == name and node.get("type") == "Task":
            return int(node["id"])
        stack.extend(node.get("children", []))
    raise AssertionError(f"no task {name!r}")


def test_edits_of_a_running_job_reach_the_next_runs_of_its_commands(mesh: Mesh, tmp_path: Path) -> None:
    mesh.start_agent("rn1", slots=2)
    mesh.wait_ready(1)
    record = tmp_path / "record.txt"
    graph = Graph("edited")
    # Held by a timer an hour away: edited before it runs, then released by clearing the timer.
    work = graph.addNewTask("work", {"cmd": f'echo "old $SHOT %%MI_FRAME%%" >> {record}', "start": 1, "end": 2,
                                     "packetSize": 1}, timer=time.time() + 3600)
    gate = graph.addNewTask("gate", {"cmd": "sleep 600", "start": 1, "end": 1})
    after = graph.addNewTask("after", {"cmd": f'echo "after" >> {record}', "start": 1, "end": 1})
    after.dependsOn(gate, [NodeStatus.DONE])
    assert work is not None
    graph_id = submit(mesh, graph)
    farm = Farm(node=mesh.agents["rn1"].address)

    def gate_running() -> dict[str, Any] | None:
        (cmd,) = command_of(farm.graph(graph_id), "gate")
        return cmd if cmd["status"] == int(CommandStatus.RUNNING) else None

    gate_cmd = wait_for(gate_running, 30, "the gate command to run")
    tree = farm.graph(graph_id)
    work_id = node_id(tree, "work")
    assert all(c["status"] == int(CommandStatus.READY) for c in command_of(tree, "work"))  # held by its timer

    # The task's environment and arguments, then a command's own arguments, through the CLI.
    edit = cli(mesh, "set", str(work_id), "env.SHOT=010", f'arg.cmd=echo "new $SHOT %%MI_FRAME%%" >> {record}')
    assert edit.returncode == 0, edit.stderr
    second = command_of(tree, "work")[1]
    edit = cli(mesh, "set", "--command", str(second["id"]), "description=work_9_9", "arg.start=9", "arg.end=9")
    assert edit.returncode == 0, edit.stderr
    assert farm.command(second["id"])["description"] == "work_9_9"

    # A wrangler accepts the gate by hand: killed, DONE, and what waited on it runs.
    done = cli(mesh, "done", "--command", str(gate_cmd["id"]))
    assert done.returncode == 0, done.stderr
    gate_view = farm.command(gate_cmd["id"])
    assert gate_view["status"] == int(CommandStatus.DONE) and gate_view["completion"] == 1.0

    # Release the held task: its commands run with what was edited.
    farm.set(work_id, timer=None)
    final = mesh.wait_graph(graph_id, {int(NodeStatus.DONE), int(NodeStatus.ERROR)})
    assert final["status"] == int(NodeStatus.DONE), final
    lines = sorted(record.read_text().splitlines())
    assert lines == ["after", "new 010 1", "new 010 9"], lines
    assert farm.graph(graph_id, children=True)["status"] == int(NodeStatus.DONE)
    shown = farm.graph(graph_id)
    assert next(c for c in command_of(shown, "work") if c["id"] == second["id"])["arguments"]["start"] == 9
