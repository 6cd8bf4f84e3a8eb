"""The issue's "smaller holes", sent as a hostile client would over a raw DEALER to a real mesh: a
frame range no node can hold, and a client that asks for big answers and never reads them. (A
job named ``[/]`` is ``test_cli_operating.py``'s; a retried SUBMIT is ``test_hostile_journal.py``'s.)

Each test ends with "a new graph still runs to DONE and nothing earlier was lost"."""

from __future__ import annotations

import time

import psutil
import zmq

from puli_mesh.client import MeshRequestError
from puli_mesh.protocol import LogsMessage
from puliclient.status import CommandStatus, NodeStatus

from .conftest import Mesh, peer_key, use_key, wait_for
from .hostile_peer import assert_farm_runs, one_task_graph, raw_peer, run_to_done, submit

DONE = int(NodeStatus.DONE)
HUGE_END = 2**40
"""A frame range whose list of frames could never be allocated (8 TB of pointers): the agent
fails at once, it does not swap."""
MAX_GROWTH_MB = 150
"""How much a flood of unread 1 MB answers may grow an agent's memory: far below the 1,000
answers ZeroMQ holds for one peer by default."""


def test_a_huge_frame_range_does_not_leak_the_slot(mesh: Mesh) -> None:
    """One slot: a command whose frames cannot even be listed must end (or be refused), and free
    its slot; the next graph runs on the same slot."""
    mesh.start_agent("rn1", slots=1)
    mesh.wait_ready(1)
    before = run_to_done(mesh, "before")
    graph = one_task_graph("frames")
    for arguments in (graph["tasks"][1]["arguments"], graph["tasks"][1]["commands"][0]["arguments"]):
        arguments.update(start=1, end=HUGE_END, step=1)
    earlier = {before: DONE}
    try:
        frames = submit(mesh, graph)
    except MeshRequestError as exc:  # refused by a frames-per-command limit
        assert exc.code == "invalid", exc
    else:
        mesh.wait_graph(frames, {int(NodeStatus.ERROR), DONE}, timeout=30)
        (cmd,) = mesh.client_any().request("QUERY", what="commands", args={"id": frames})["items"]
        assert cmd["status"] in (int(CommandStatus.ERROR), int(CommandStatus.DONE)), cmd
        earlier[frames] = mesh.graph(frames)["status"]
    assert_farm_runs(mesh, earlier, timeout=30)


def test_a_client_that_never_reads_its_answers_does_not_grow_the_agent(mesh: Mesh) -> None:
    """300 reads of 1 MB of a log, from a client that reads none of the answers (its socket
    takes one message and the kernel's smallest buffer): what the agent holds for it is bounded."""
    mesh.start_agent("rn1")
    mesh.wait_ready(1)
    chatty = submit(mesh, one_task_graph("chatty", "head -c 4194304 /dev/zero | tr '\\\\0' a; echo"))
    mesh.wait_graph(chatty, {DONE})
    (cmd,) = mesh.client_any().request("QUERY", what="commands", args={"id": chatty})["items"]
    agent = psutil.Process(mesh.agents["rn1"].process.pid)  # type: ignore[union-attr]
    rss_before = agent.memory_info().rss
    flood = zmq.Context.instance().socket(zmq.DEALER)
    flood.setsockopt(zmq.LINGER, 0)
    flood.setsockopt(zmq.RCVHWM, 1)
    flood.setsockopt(zmq.RCVBUF, 4096)
    use_key(flood, peer_key())
    flood.connect(f"tcp://{mesh.agents['rn1'].address}")
    try:
        for i in range(300):
            flood.send(LogsMessage(f"flood-{i}", int(cmd["id"]), 0, 1 << 20).encode())
        # The most the agent grows while it answers all 300 (or drops what it will not hold).
        peak, deadline = rss_before, time.monotonic() + 3.0
        while time.monotonic() < deadline:
            peak = max(peak, agent.memory_info().rss)
            time.sleep(0.05)
        growth_mb = (peak - rss_before) / 2**20
        with raw_peer(mesh.agents["rn1"].address) as probe:  # still serving others meanwhile
            reply = probe.ask(LogsMessage("probe", int(cmd["id"]), -10, 10).encode())
            assert reply is not None
    finally:
        flood.close(linger=0)
    assert growth_mb < MAX_GROWTH_MB, f"the agent grew by {growth_mb:.0f} MB for one client's unread answers"
    wait_for(lambda: mesh.agents["rn1"].alive(), 1, "the agent alive")
    assert_farm_runs(mesh, {chatty: DONE})
