"""Failover with nothing lost: kill, freeze and partition the coordinator, restart ZooKeeper.

Every check is made on what the commands themselves recorded (node, times),
never on the coordinator's own view. Slow: deselect locally with -m 'not slow'.
"""

from __future__ import annotations

import signal
import time
from collections import Counter
from pathlib import Path

import msgpack
import pytest

from puli_mesh.cluster_state import read_leader, set_licence
from puli_mesh.local_farm import kill_machine
from puli_mesh.zkpaths import ClusterPaths
from puliclient import Graph
from puliclient.status import NodeStatus

from ..integration.conftest import Mesh, wait_for
from .records import RECORD, max_concurrent, read_runs

pytestmark = pytest.mark.slow

FINISHED = {int(NodeStatus.DONE), int(NodeStatus.ERROR), int(NodeStatus.CANCELED)}


def submit(mesh: Mesh, graph: Graph, agent: str) -> int:
    url, _ = graph.submit("127.0.0.1", mesh.agents[agent].port)
    return int(url.rsplit("/", 1)[1])


def leader_epoch(mesh: Mesh) -> tuple[str, int]:
    zk = mesh.zk_started()
    try:
        info = read_leader(zk, ClusterPaths(mesh.cluster))
    finally:
        zk.stop()
        zk.close()
    assert info is not None
    return info.name, info.epoch


def assert_no_late_journal_writes(mesh: Mesh) -> int:
    """No journal batch of an older epoch was stored after the current epoch was taken.

    That is the fencing: every batch is a transaction that checks the epoch
    znode's version, so a deposed leader's late write must fail. Returns how
    many batches of older epochs the journal holds (written before the change).
    """
    paths = ClusterPaths(mesh.cluster)
    zk = mesh.zk_started()
    try:
        raw, epoch_stat = zk.get(paths.epoch)
        current = int(raw.decode())
        older = 0
        for child in zk.get_children(paths.journal):
            data, stat = zk.get(f"{paths.journal}/{child}")
            epoch = int(msgpack.unpackb(data, raw=False)["e"])
            if epoch < current:
                older += 1
                assert stat.czxid < epoch_stat.mzxid, (
                    f"batch {child} of epoch {epoch} was stored after epoch {current} was taken")
    finally:
        zk.stop()
        zk.close()
    return older


def wait_new_leader(mesh: Mesh, old: str, timeout: float = 30.0) -> str:
    def new_leader() -> str | None:
        status = mesh.status()
        if status is None or status["leader"] == old:
            return None
        return str(status["leader"])

    return str(wait_for(new_leader, timeout, f"a leader other than {old}"))


def start_agents(mesh: Mesh, count: int, slots: int = 2) -> str:
    for i in range(count):
        mesh.start_agent(f"rn{i + 1}", slots=slots)
    return str(mesh.wait_ready(count)["leader"])


def test_kill9_leader_while_500_short_commands_run(mesh: Mesh, tmp_path: Path) -> None:
    leader = start_agents(mesh, 4)
    rec = tmp_path / "runs.txt"
    graph = Graph("five-hundred")
    graph.addNewTask("short", {"cmd": RECORD.format(rec=rec, sleep=0.02), "start": 1, "end": 500})
    follower = next(n for n in mesh.agents if n != leader)
    graph_id = submit(mesh, graph, follower)
    wait_for(lambda: len(read_runs(rec)) >= 60, 60, "a good part of the commands to have run")
    kill_machine(mesh.agents[leader].process.pid)  # type: ignore[union-attr]
    wait_new_leader(mesh, leader)
    tree = mesh.wait_graph(graph_id, FINISHED, timeout=120)
    assert tree["status"] == NodeStatus.DONE
    runs = read_runs(rec)
    done_frames = {r.frame for r in runs if r.end is not None}
    assert done_frames == set(range(1, 501))
    on_survivors = Counter(r.frame for r in runs if r.node != leader)
    twice = {frame: n for frame, n in on_survivors.items() if n > 1}
    assert not twice, f"frames run twice on surviving nodes: {twice}"


def test_long_commands_on_surviving_nodes_keep_running(mesh: Mesh, tmp_path: Path) -> None:
    boss = mesh.start_agent("boss", pools="office")  # leads, renders nothing of this graph
    mesh.wait_ready(1)
    for i in range(3):
        mesh.start_agent(f"rn{i + 1}", slots=2)
    assert mesh.wait_ready(4)["leader"] == "boss"
    rec = tmp_path / "runs.txt"
    graph = Graph("long")
    graph.addNewTask("long", {"cmd": RECORD.format(rec=rec, sleep=30), "start": 1, "end": 6})
    graph_id = submit(mesh, graph, "rn1")
    wait_for(lambda: len(read_runs(rec)) == 6, 30, "all six long commands to start")
    kill_machine(boss.process.pid)  # type: ignore[union-attr]
    wait_new_leader(mesh, "boss")
    tree = mesh.wait_graph(graph_id, FINISHED, timeout=90)
    assert tree["status"] == NodeStatus.DONE
    runs = read_runs(rec)
    assert len(runs) == 6, f"a command was restarted: {runs}"
    assert all(r.end is not None for r in runs)


def test_kill9_leader_right_after_submit_does_not_lose_the_graph(mesh: Mesh, tmp_path: Path) -> None:
    leader = start_agents(mesh, 3)
    out = tmp_path / "out"
    out.mkdir()
    graph = Graph("acknowledged")
    graph.addNewTask("touch", {"cmd": f"touch {out}/%%MI_FRAME%%", "start": 1, "end": 20})
    graph_id = submit(mesh, graph, leader)
    kill_machine(mesh.agents[leader].process.pid)  # type: ignore[union-attr]
    wait_new_leader(mesh, leader)
    tree = mesh.wait_graph(graph_id, FINISHED, timeout=60)
    assert tree["status"] == NodeStatus.DONE
    assert sorted(int(p.name) for p in out.iterdir()) == list(range(1, 21))


def test_a_frozen_leader_does_not_dispatch_again(mesh: Mesh, tmp_path: Path) -> None:
    leader = start_agents(mesh, 3)
    _, old_epoch = leader_epoch(mesh)
    rec = tmp_path / "runs.txt"
    graph = Graph("frozen")
    graph.addNewTask("work", {"cmd": RECORD.format(rec=rec, sleep=0.3), "start": 1, "end": 40})
    follower = next(n for n in mesh.agents if n != leader)
    graph_id = submit(mesh, graph, follower)
    wait_for(lambda: len(read_runs(rec)) >= 4, 30, "some commands to run")
    frozen = mesh.agents[leader].process
    assert frozen is not None
    frozen.send_signal(signal.SIGSTOP)
    try:
        new = wait_new_leader(mesh, leader, timeout=30)
    finally:
        frozen.send_signal(signal.SIGCONT)
    name, epoch = leader_epoch(mesh)
    assert (name, epoch) == (new, epoch) and epoch > old_epoch
    wait_for(lambda: "steps down" in mesh.agent_log(leader) or "fenced" in mesh.agent_log(leader), 30,
             "the old leader to notice it was deposed")
    tree = mesh.wait_graph(graph_id, FINISHED, timeout=90)
    assert tree["status"] == NodeStatus.DONE
    assert leader_epoch(mesh) == (new, epoch)  # the old one did not take over again
    assert assert_no_late_journal_writes(mesh) > 0  # the old leader's batches are there, all from before
    runs = read_runs(rec)
    frames = Counter(r.frame for r in runs if r.node != leader)
    assert set(r.frame for r in runs if r.end is not None) == set(range(1, 41))
    assert all(n == 1 for n in frames.values()), f"double dispatch: {frames}"


def test_zookeeper_restart_the_mesh_comes_back_and_finishes(mesh: Mesh, tmp_path: Path) -> None:
    start_agents(mesh, 3)
    rec = tmp_path / "runs.txt"
    graph = Graph("zk-restart")
    graph.addNewTask("work", {"cmd": RECORD.format(rec=rec, sleep=0.2), "start": 1, "end": 60})
    graph_id = submit(mesh, graph, "rn1")
    wait_for(lambda: len(read_runs(rec)) >= 6, 30, "some commands to run")
    mesh.zookeeper.stop()
    time.sleep(3)  # the outage itself: longer than the 2 s session timeout
    mesh.zookeeper.start()
    tree = mesh.wait_graph(graph_id, FINISHED, timeout=120)
    assert tree["status"] == NodeStatus.DONE
    assert {r.frame for r in read_runs(rec) if r.end is not None} == set(range(1, 61))


def test_a_lost_worker_is_replaced_and_licences_are_never_exceeded(mesh: Mesh, tmp_path: Path) -> None:
    leader = start_agents(mesh, 4)
    zk = mesh.zk_started()
    try:
        set_licence(zk, ClusterPaths(mesh.cluster), "chaos", 2)
    finally:
        zk.stop()
        zk.close()
    wait_for(lambda: any(lic["name"] == "chaos" for lic in mesh.client_any().request("QUERY", what="licences",
                                                                                   args={})), 15, "licence")
    rec = tmp_path / "runs.txt"
    graph = Graph("licensed")
    graph.addNewTask("lic", {"cmd": RECORD.format(rec=rec, sleep=1.5), "start": 1, "end": 8}, lic="chaos")
    graph_id = submit(mesh, graph, leader)
    victim = wait_for(lambda: next((r.node for r in read_runs(rec) if r.node != leader and r.end is None), None),
                      30, "a licensed command running on a worker")
    kill_machine(mesh.agents[victim].process.pid)  # type: ignore[union-attr]
    tree = mesh.wait_graph(graph_id, FINISHED, timeout=120)
    assert tree["status"] == NodeStatus.DONE
    runs = read_runs(rec)
    assert {r.frame for r in runs if r.end is not None} == set(range(1, 9))
    assert any(r.node == victim and r.end is None for r in runs)  # it really died mid-command
    finished_or_dead = [r if r.end is not None else
                        type(r)(r.task, r.command, r.frame, r.node, r.start, r.start + 0.001) for r in runs]
    assert max_concurrent(finished_or_dead) <= 2
