"""Hung frames through real agents: a task's ``idleTimeout`` (or the agent's ``--idle-timeout``)
ends a command that prints nothing and reports no progress for that long as TIMEOUT, its whole
process tree killed and an attempt spent; a command that keeps printing runs to DONE; the value
is edited at run time with ``puli-mesh set ID idleTimeout=...``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import psutil

from puliclient import Graph
from puliclient.farm import Farm
from puliclient.status import CommandStatus, NodeStatus, isFinalStatus

from .conftest import Mesh, wait_for
from .test_cli_operating import cli
from .test_mesh_runs_graphs import submit
from .test_runtime_edits import command_of, node_id

HUNG_MESSAGE = "no output nor progress for 2 s (idleTimeout): killed as hung"


def ended(farm: Farm, graph_id: int, task: str, attempts: int = 1, timeout: float = 40) -> dict[str, Any]:
    """The command of ``task`` once it has a final status after ``attempts`` runs (a failed
    command waiting for its retry shows its failure)."""
    def final() -> dict[str, Any] | None:
        (cmd,) = command_of(farm.graph(graph_id), task)
        return cmd if isFinalStatus(cmd["status"]) and cmd["attempts"] >= attempts else None

    return dict(wait_for(final, timeout, f"the command of {task} to end"))


def task_view(tree: dict[str, Any], name: str) -> dict[str, Any]:
    """The view of the task named ``name`` in a graph view."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if node.get("name") == name and node.get("type") == "Task":
            return node
        stack.extend(node.get("children", []))
    raise AssertionError(f"no task {name!r}")


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_a_silent_command_ends_timeout_its_child_gone_a_chatty_one_runs_to_done(mesh: Mesh, tmp_path: Path) -> None:
    mesh.start_agent("rn1", slots=2)
    mesh.wait_ready(1)
    pidfile = tmp_path / "child.pid"
    graph = Graph("hung")
    graph.addNewTask("hung", {"cmd": f"echo once; sleep 60 & echo $! > {pidfile}; wait"}, idleTimeout=2)
    graph.addNewTask("chatty", {"cmd": "for i in 1 2 3 4 5; do echo $i; sleep 1; done"}, idleTimeout=2)
    graph_id = submit(mesh, graph)
    farm = Farm(node=mesh.agents["rn1"].address)

    hung = ended(farm, graph_id, "hung")
    assert hung["status"] == int(CommandStatus.TIMEOUT)
    assert hung["message"].startswith(HUNG_MESSAGE)
    assert hung["attempts"] == 1  # an attempt spent, as a wall-clock timeout spends one
    assert hung["end_time"] - hung["start_time"] < 3.5  # 2 s of silence, then a SIGTERM is enough
    assert gone(int(pidfile.read_text()))  # the whole tree, not only the shell

    chatty = ended(farm, graph_id, "chatty")
    assert chatty["status"] == int(CommandStatus.DONE), chatty["message"]
    assert chatty["end_time"] - chatty["start_time"] >= 4  # ran its 5 s past 2 s limits


def test_the_agents_default_applies_a_task_turns_it_off_and_set_changes_it(mesh: Mesh) -> None:
    mesh.start_agent("rn1", slots=3, extra=["--idle-timeout", "2"])
    mesh.wait_ready(1)
    graph = Graph("defaults")
    graph.addNewTask("defaulted", {"cmd": "sleep 60"}, maxAttempt=2)
    graph.addNewTask("opted_out", {"cmd": "sleep 4"}, idleTimeout=0)
    # Held by a timer until its idleTimeout is edited: 600 s at submission, 2 s when it runs.
    graph.addNewTask("edited", {"cmd": "sleep 60"}, idleTimeout=600, timer=time.time() + 3600)
    graph_id = submit(mesh, graph)
    farm = Farm(node=mesh.agents["rn1"].address)
    edited_id = node_id(farm.graph(graph_id), "edited")
    edit = cli(mesh, "set", str(edited_id), "idleTimeout=2")
    assert edit.returncode == 0, edit.stderr
    assert task_view(farm.graph(graph_id), "edited")["idleTimeout"] == 2.0
    farm.set(edited_id, timer=None)

    defaulted = ended(farm, graph_id, "defaulted", attempts=2)
    assert defaulted["status"] == int(CommandStatus.TIMEOUT), defaulted["message"]
    assert defaulted["message"].startswith(HUNG_MESSAGE)
    assert defaulted["attempts"] == 2  # retried once, as any TIMEOUT with an attempt left
    assert task_view(farm.graph(graph_id), "defaulted")["status"] == int(NodeStatus.ERROR)  # none left

    edited = ended(farm, graph_id, "edited")
    assert edited["status"] == int(CommandStatus.TIMEOUT)
    assert edited["message"].startswith(HUNG_MESSAGE)

    opted_out = ended(farm, graph_id, "opted_out")
    assert opted_out["status"] == int(CommandStatus.DONE), opted_out["message"]
