"""A real mesh runs a frame-by-frame dependency: comp frame N starts once render frame N is done,
before the last render frame ends. Checked from what the commands themselves record."""

from __future__ import annotations

from pathlib import Path

from puliclient import Graph
from puliclient.status import NodeStatus

from .conftest import Mesh

# Render frame 4 takes seconds, the others a moment: comp frames 1-3 can only start before it
# ends if they wait for their own render frames, not for the whole render task.
RECORD = (
    'echo "start {task} %%MI_FRAME%% $(date +%s.%N)" >> {rec}; '
    "sleep {sleep}; "
    'echo "end {task} %%MI_FRAME%% $(date +%s.%N)" >> {rec}'
)


def read_times(path: Path) -> dict[tuple[str, int], dict[str, float]]:
    """(task, frame) -> {"start": t, "end": t}."""
    out: dict[tuple[str, int], dict[str, float]] = {}
    for line in path.read_text().splitlines():
        what, task, frame, stamp = line.split()
        out.setdefault((task, int(frame)), {})[what] = float(stamp)
    return out


def test_comp_frames_start_as_their_render_frames_end_on_a_two_slot_farm(mesh: Mesh, tmp_path: Path) -> None:
    mesh.start_agent("rn1", slots=2)
    mesh.wait_ready(1)
    rec = tmp_path / "records.txt"
    graph = Graph("byframe")
    render = graph.addNewTask("render", arguments={
        "cmd": RECORD.format(task="render", rec=rec, sleep="$((%%MI_FRAME%% / 4 * 5))"), "start": 1, "end": 4})
    comp = graph.addNewTask("comp", arguments={
        "cmd": RECORD.format(task="comp", rec=rec, sleep="0.1"), "start": 1, "end": 4})
    comp.dependsOn(render, byFrame=True)
    url, _body = graph.submit("127.0.0.1", mesh.agents["rn1"].port)
    graph_id = int(url.rsplit("/", 1)[1])
    final = mesh.wait_graph(graph_id, {int(NodeStatus.DONE), int(NodeStatus.ERROR)}, timeout=60)
    assert final["status"] == NodeStatus.DONE
    times = read_times(rec)
    for frame in range(1, 5):
        assert times[("comp", frame)]["start"] >= times[("render", frame)]["end"]
    last_render_end = max(times[("render", f)]["end"] for f in range(1, 5))
    early = [f for f in range(1, 4) if times[("comp", f)]["start"] < last_render_end]
    assert early, f"no comp frame started before the last render frame ended: {times}"
    # the coordinator's view agrees: the comp task's dependency is frame by frame and met
    comp_node = next(n for n in final["children"][0]["children"] if n["name"] == "comp")
    assert comp_node["dependencies"][0]["byFrame"] is True
