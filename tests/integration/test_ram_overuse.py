"""RAM over-use through real agents: a command whose process tree holds more memory than its
task's ``ramUse`` says so in its message (once, its peak in its stats) and keeps running; with
``killOnRamOveruse`` it is killed at once and ends ERROR with that message, an attempt spent;
the flag set at run time (``puli-mesh set``) reaches the task's next run."""

from __future__ import annotations

from typing import Any

from puliclient import Graph
from puliclient.farm import Farm
from puliclient.status import CommandStatus

from .conftest import Mesh, wait_for
from .test_cli_coverage import ok
from .test_cli_operating import cli
from .test_hung_frames import ended, task_view
from .test_mesh_runs_graphs import submit
from .test_runtime_edits import command_of

HOLD_200_MB = "python3 -c 'b = b\"x\" * (200 << 20); import time; time.sleep({seconds})'"


def test_an_overuse_is_said_and_with_the_flag_the_command_is_killed(mesh: Mesh) -> None:
    mesh.start_agent("rn1", slots=2)
    mesh.wait_ready(1)
    graph = Graph("ram")
    graph.addNewTask("greedy", {"cmd": HOLD_200_MB.format(seconds=15)}, ramUse=50)
    graph.addNewTask("killed", {"cmd": HOLD_200_MB.format(seconds=60)}, ramUse=50, killOnRamOveruse=True)
    graph_id = submit(mesh, graph)
    farm = Farm(node=mesh.agents["rn1"].address)
    assert task_view(farm.graph(graph_id), "killed")["killOnRamOveruse"] is True

    def said() -> dict[str, Any] | None:
        (cmd,) = command_of(farm.graph(graph_id), "greedy")
        return cmd if "booked 50 MB (ramUse)" in (cmd["message"] or "") else None

    running = wait_for(said, 20, "the greedy command to say it used more than it booked")
    assert running["status"] == int(CommandStatus.RUNNING), "said, not killed"
    assert running["message"].startswith("used 2") and running["message"].endswith(" MB, booked 50 MB (ramUse)")
    assert running["stats"]["peak_rss_mb"] >= 200

    killed = ended(farm, graph_id, "killed")
    assert killed["status"] == int(CommandStatus.ERROR)
    assert killed["message"].startswith("used 2")
    assert killed["message"].endswith(" MB, booked 50 MB (ramUse): killed (killOnRamOveruse)")
    assert killed["attempts"] == 1
    assert killed["end_time"] - killed["start_time"] < 10  # seen within a look or two, not after 60 s

    greedy = ended(farm, graph_id, "greedy")
    assert greedy["status"] == int(CommandStatus.DONE)  # over its booking, and left to run
    assert greedy["message"].endswith(" MB, booked 50 MB (ramUse)"), "its end keeps the over-use said"


def test_the_flag_set_at_run_time_kills_the_next_run(mesh: Mesh) -> None:
    mesh.start_agent("rn1", slots=1)
    mesh.wait_ready(1)
    graph = Graph("ram-edit")
    graph.addNewTask("greedy", {"cmd": HOLD_200_MB.format(seconds=2)}, ramUse=50)
    graph_id = submit(mesh, graph)
    farm = Farm(node=mesh.agents["rn1"].address)
    first = ended(farm, graph_id, "greedy")
    assert first["status"] == int(CommandStatus.DONE), "without the flag: said, left to run"
    assert first["message"].endswith(" MB, booked 50 MB (ramUse)")

    task_id = task_view(farm.graph(graph_id), "greedy")["id"]
    ok(cli(mesh, "set", str(task_id), "killOnRamOveruse=true"))  # a journalled edit on the leader
    assert task_view(farm.graph(graph_id), "greedy")["killOnRamOveruse"] is True
    farm.restart(graph_id)

    def killed() -> dict[str, Any] | None:
        (cmd,) = command_of(farm.graph(graph_id), "greedy")
        return cmd if cmd["status"] == int(CommandStatus.ERROR) else None

    again = wait_for(killed, 30, "the next run to be killed for its over-use")
    assert again["message"].endswith(" MB, booked 50 MB (ramUse): killed (killOnRamOveruse)")
    farm.set(task_id, killOnRamOveruse=False)  # and back, from Python
    assert task_view(farm.graph(graph_id), "greedy")["killOnRamOveruse"] is False
