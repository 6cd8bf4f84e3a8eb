"""GPUs booked like cores, through real agents: an agent told it has two GPUs (``--gpus 2``,
fake ones: the test machine need have none) runs two one-GPU commands at once, each seeing
its own ``CUDA_VISIBLE_DEVICES``, and a third waits for a GPU to be free."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from puliclient import Graph
from puliclient.status import NodeStatus

from .conftest import Mesh, wait_for
from .test_cli_operating import cli
from .test_live_node import node_row, submit

# Each command writes the GPUs it sees, then waits (at most 30 s) until two commands have
# written theirs: the first two can only end if they ran at the same time.
RENDEZVOUS = ('echo "$CUDA_VISIBLE_DEVICES" > {dir}/$PULI_COMMAND_ID; i=0; '
              'while [ $(ls {dir} | wc -l) -lt 2 ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done')


def commands(mesh: Mesh, graph_id: int) -> list[dict[str, Any]]:
    client = mesh.client_any()
    items = client.request("QUERY", what="commands", args={"id": graph_id})["items"]
    return [dict(client.request("QUERY", what="command", args={"id": c["id"]})) for c in items]


def test_an_agent_with_two_gpus_runs_two_one_gpu_commands_at_once_each_on_its_own_gpu(
        mesh: Mesh, tmp_path: Path) -> None:
    seen = tmp_path / "seen"
    seen.mkdir()
    mesh.start_agent("gpu1", slots=3, extra=["--gpus", "2"])
    mesh.wait_ready(1)
    wait_for(lambda: node_row(mesh, "gpu1").get("gpus") == 2, 10, "the node's two GPUs")
    graph = Graph("gpus")
    for name in ("a", "b", "c"):
        graph.addNewTask(name, {"cmd": RENDEZVOUS.format(dir=seen)}, gpus=1, maxNbCores=1)
    graph_id = submit(mesh, graph)
    mesh.wait_graph(graph_id, {int(NodeStatus.DONE)}, timeout=60)  # the first two met
    ran = sorted(commands(mesh, graph_id), key=lambda c: c["start_time"])
    gpus = {c["id"]: (seen / str(c["id"])).read_text().strip() for c in ran}
    assert {gpus[ran[0]["id"]], gpus[ran[1]["id"]]} == {"0", "1"}, gpus  # two at once: one GPU each
    # the third got a GPU only once one of the first two had given it back
    assert ran[2]["start_time"] >= min(ran[0]["end_time"], ran[1]["end_time"])
    assert gpus[ran[2]["id"]] in ("0", "1")
    assert node_row(mesh, "gpu1")["gpus_used"] == 0
    listed = cli(mesh, "nodes")
    assert listed.returncode == 0 and "0/2" in listed.stdout, listed.stdout + listed.stderr
