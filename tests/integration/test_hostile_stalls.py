"""Requests that would hold the leader's loop (issue 12, "stalls"): a client-supplied regular
expression run over every graph name, whole-farm listings, big log reads. While a hostile client
sends them, a tiny query from another client must still be answered at once: every worker's
READY, UPDATE and HEARTBEAT waits in the same loop. Each test ends with "a new graph still runs to
DONE and nothing earlier was lost"."""

from __future__ import annotations

import threading
import time
from typing import Any

from puli_mesh.protocol import ErrorCode, ErrorMessage, LogsMessage, QueryMessage, ResultMessage
from puliclient import Graph
from puliclient.status import CommandStatus, NodeStatus

from .conftest import Mesh
from .hostile_peer import RawPeer, assert_farm_runs, one_task_graph, raw_peer, run_to_done, submit

DONE = int(NodeStatus.DONE)
PROBE_MAX_S = 0.5
"""The longest a tiny query may wait behind a hostile request. The issue asks for a few
milliseconds of dispatch delay; this leaves room for a loaded 2-core machine and still fails
by far on a loop held for seconds."""
NEVER_FITS_MB = 1 << 40
"""A ``ramUse`` no node has: the command stays READY, and listing it costs what it costs."""


def probe_rtts(address: str, heavy: list[bytes], seconds: float) -> tuple[list[float], int]:
    """For ``seconds``: one hostile client sends the ``heavy`` frames round and round (each waiting
    for its reply), while a probe sends a tiny QUERY every 20 ms. The probe's round trips, and how
    many heavy requests were answered."""
    stop = threading.Event()
    answered = [0]

    def hammer() -> None:
        with raw_peer(address) as peer:
            i = 0
            while not stop.is_set():
                peer.send(heavy[i % len(heavy)])
                i += 1
                while not stop.is_set() and peer.recv(0.1) is None:
                    pass
                answered[0] += 1

    thread = threading.Thread(target=hammer, daemon=True)
    rtts: list[float] = []
    probe = RawPeer(address)
    try:
        thread.start()
        deadline = time.monotonic() + seconds
        n = 0
        while time.monotonic() < deadline:
            n += 1
            t0 = time.perf_counter()
            reply = probe.ask(QueryMessage(f"probe-{n}", "figures", {}), timeout=30)
            rtts.append(time.perf_counter() - t0)
            assert isinstance(reply, ResultMessage), f"the probe got no answer within 30 s: {reply!r}"
            time.sleep(0.02)
    finally:
        stop.set()
        thread.join(timeout=35)
        probe.close()
    return rtts, answered[0]


def test_a_catastrophic_name_filter_does_not_hold_the_loop(mesh: Mesh) -> None:
    """``(a+)+$`` against a name of 26 ``a`` and a ``!`` backtracks for seconds in ``re``. A filter
    is a substring or a glob (or a bounded matcher): answered at once, matching or refused."""
    mesh.start_agent("rn1")
    mesh.wait_ready(1)
    bait = submit(mesh, one_task_graph("a" * 26 + "!"))
    mesh.wait_graph(bait, {DONE})
    address = mesh.agents["rn1"].address
    with raw_peer(address) as hostile, raw_peer(address) as probe:
        hostile.send(QueryMessage("redos", "graphs", {"name": "(a+)+$"}))
        time.sleep(0.05)  # the hostile query is in the loop first
        t0 = time.perf_counter()
        reply = probe.ask(QueryMessage("probe", "figures", {}), timeout=60)
        waited = time.perf_counter() - t0
        answer = hostile.recv(timeout=60)
    assert isinstance(reply, ResultMessage), reply
    assert waited < PROBE_MAX_S, f"a tiny query waited {waited:.2f}s behind a name filter"
    assert isinstance(answer, ResultMessage | ErrorMessage), answer
    if isinstance(answer, ErrorMessage):
        assert answer.code == ErrorCode.INVALID, answer
    assert_farm_runs(mesh, {bait: DONE})


def test_whole_farm_listings_do_not_hold_the_loop(mesh: Mesh) -> None:
    """100,000 commands waiting (READY), in graphs of a size any limit accepts: the heaviest
    listings a client can ask (every command, the whole tree of a graph, every graph) are paged or
    cut so that the loop goes on. On main each such listing held the loop about 1 s."""
    mesh.start_agent("rn1")
    mesh.wait_ready(1)
    before = run_to_done(mesh, "before")
    crowds = [submit(mesh, _waiting_graph(f"crowd-{i}", tasks=25, commands_per_task=1000)) for i in range(4)]
    heavy = [QueryMessage("all-commands", "commands", {}).encode(),
             QueryMessage("whole-tree", "graph", {"id": crowds[0], "children": True}).encode(),
             QueryMessage("ready-commands", "commands", {"status": [int(CommandStatus.READY)]}).encode(),
             QueryMessage("all-graphs", "graphs", {}).encode()]
    rtts, answered = probe_rtts(mesh.agents["rn1"].address, heavy, seconds=6)
    assert answered >= len(heavy), f"only {answered} heavy listings answered in 6 s"
    assert max(rtts) < PROBE_MAX_S, f"a tiny query waited up to {max(rtts):.2f}s behind listings"
    assert_farm_runs(mesh, {before: DONE, **{c: int(NodeStatus.READY) for c in crowds}})


def _waiting_graph(name: str, tasks: int, commands_per_task: int) -> dict[str, Any]:
    """A graph whose commands all wait (READY): they ask more RAM than any node has."""
    graph = Graph(name)
    for t in range(tasks):
        task = graph.addNewTask(f"t{t}", {"cmd": "true"}, ramUse=NEVER_FITS_MB)
        task.commands = []
        for c in range(commands_per_task):
            task.addCommand(f"t{t}_{c}", {"cmd": "true"})
    return graph.prepareGraphRepresentation()


def test_big_log_reads_do_not_hold_the_loop(mesh: Mesh) -> None:
    """A command's log of 32 MB, read by a client asking for everything from the start, again and
    again: each read is a bounded chunk, and the loop goes on between them."""
    mesh.start_agent("rn1")
    mesh.wait_ready(1)
    big = submit(mesh, one_task_graph("chatty", "head -c 33554432 /dev/zero | tr '\\\\0' a; echo"))
    tree = mesh.wait_graph(big, {DONE})
    command_id = _only_command(tree)["id"]
    heavy = [LogsMessage("log-all", command_id, 0, 2**62).encode(),
             LogsMessage("log-tail", command_id, -(2**62), 2**62).encode()]
    with raw_peer(mesh.agents["rn1"].address) as peer:
        first = peer.ask(heavy[0], timeout=30)
    assert isinstance(first, ResultMessage), first
    rtts, answered = probe_rtts(mesh.agents["rn1"].address, heavy, seconds=5)
    assert answered >= len(heavy), f"only {answered} log reads answered in 5 s"
    assert max(rtts) < PROBE_MAX_S, f"a tiny query waited up to {max(rtts):.2f}s behind log reads"
    assert_farm_runs(mesh, {big: DONE})


def _only_command(tree: dict[str, Any]) -> dict[str, Any]:
    stack, commands = [tree], []
    while stack:
        node = stack.pop()
        commands += node.get("commands", [])
        stack += node.get("children", [])
    assert len(commands) == 1, commands
    return commands[0]
