"""Folder strategies through real agents: a one-slot farm runs a group's tasks in the order
its strategy gives, set at submit or changed at run time (``Farm.set(id, strategy=...)``).
The order is read from the start times the commands themselves record."""

from __future__ import annotations

from pathlib import Path

from puliclient import Graph, TaskGroup
from puliclient.farm import Farm
from puliclient.status import NodeStatus

from .conftest import Mesh, wait_for

RECORD = 'echo "$PULI_TASK_NAME $(date +%s.%N)" >> {rec}; sleep 0.05'


def started_order(record: Path) -> list[str]:
    """The tasks of the recorded commands, by the start time each recorded."""
    starts = [line.split() for line in record.read_text().splitlines()]
    return [task for task, _at in sorted(starts, key=lambda s: float(s[1]))]


def prioritised(name: str, strategy: str, record: Path, paused: bool = False) -> Graph:
    root = TaskGroup(f"{name}-root", tags={"paused": True} if paused else {})
    root.strategy = strategy
    for task, priority in (("low", 1), ("high", 9), ("mid", 5)):
        root.addNewTask(f"{name}-{task}", arguments={"cmd": RECORD.format(rec=record)}, priority=priority)
    return Graph(name, root=root)


def test_a_one_slot_farm_runs_a_priority_group_in_priority_order(mesh: Mesh, tmp_path: Path) -> None:
    node = mesh.start_agent("rn1", slots=1)
    mesh.wait_ready(1)
    farm = Farm(node=node.address)
    graph_id = Farm.graph_id(farm.submit(prioritised("p", "PriorityStrategy", tmp_path / "p"))[0])
    mesh.wait_graph(graph_id, {int(NodeStatus.DONE)})
    assert started_order(tmp_path / "p") == ["p-high", "p-mid", "p-low"]

    # Submitted paused as FIFO, then made Priority at run time: the edit crosses the wire.
    graph_id = Farm.graph_id(farm.submit(prioritised("q", "FifoStrategy", tmp_path / "q", paused=True))[0])
    farm.set(graph_id, strategy="octopus.dispatcher.strategies.PriorityStrategy")
    root = wait_for(lambda: farm.graph(graph_id)["children"][0], 10, "the graph's view")
    assert root["strategy"] == "octopus.dispatcher.strategies.PriorityStrategy"
    farm.resume(graph_id)
    mesh.wait_graph(graph_id, {int(NodeStatus.DONE)})
    assert started_order(tmp_path / "q") == ["q-high", "q-mid", "q-low"]
