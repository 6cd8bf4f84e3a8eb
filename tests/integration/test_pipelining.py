"""Short commands are pipelined on real agents: queued behind a running one, never run beyond the slots.

Checked from what the commands record (node, start and end times), not from the
coordinator's own counters.
"""

from __future__ import annotations

from pathlib import Path

from puliclient import Graph
from puliclient.status import NodeStatus

from .conftest import Mesh
from .test_mesh_runs_graphs import RECORD, read_records

COMMANDS = 120


def max_at_once(spans: list[tuple[float, float]]) -> int:
    events = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
    running = peak = 0
    for _, delta in events:  # an end at the same instant as a start comes first
        running += delta
        peak = max(peak, running)
    return peak


def test_short_commands_are_sent_ahead_and_never_exceed_the_slots(mesh: Mesh, tmp_path: Path) -> None:
    mesh.start_agent("p1", slots=2)
    mesh.start_agent("p2", slots=1)
    mesh.wait_ready(2)
    rec = tmp_path / "records"
    graph = Graph("pipelined")
    graph.addNewTask("short", {"cmd": RECORD.format(rec=rec, sleep="0.02"), "start": 1, "end": COMMANDS,
                               "packetSize": 1})
    url, _ = graph.submit(*mesh.agents["p1"].address.split(":"))
    graph_id = int(url.rsplit("/", 1)[1])
    client = mesh.client_any()
    seen_queued = False
    while True:  # bounded by the graph's end (the test's timeout stops a hang)
        nodes = client.request("QUERY", what="nodes", args={})["items"]
        seen_queued = seen_queued or any(n["queued"] for n in nodes)
        for n in nodes:
            assert len(n["running"]) <= n["slots"]
        tree = client.request("QUERY", what="graph", args={"id": graph_id, "children": False})
        if tree["status"] in (NodeStatus.DONE, NodeStatus.ERROR, NodeStatus.CANCELED):
            break
    assert tree["status"] == NodeStatus.DONE
    assert seen_queued, "no command was ever sent ahead"
    runs = read_records(rec)
    assert len(runs) == COMMANDS and all("start" in r and "end" in r for r in runs.values())
    for node, slots in (("p1", 2), ("p2", 1)):
        spans = [(float(r["start"]), float(r["end"]))  # type: ignore[arg-type]
                 for r in runs.values() if r["node"] == node]
        assert spans, f"{node} ran nothing"
        assert max_at_once(spans) <= slots, f"{node} ran more than {slots} command(s) at once"
