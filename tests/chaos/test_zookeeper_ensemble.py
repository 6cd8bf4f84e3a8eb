"""The mesh on a real 3-server ZooKeeper ensemble while its servers die.

With a quorum (2 of 3) the mesh goes on dispatching and loses nothing, even when the server
that leads the ensemble is killed. Without one (1 of 3) the leader stops dispatching and keeps
the commands that run; once a quorum is back, the mesh resumes and every command has run once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from puli_mesh.client import MeshRequestError, MeshUnreachableError
from puli_mesh.zkserver import ZooKeeperEnsemble
from puliclient import Graph
from puliclient.status import NodeStatus

from ..integration.conftest import Mesh, wait_for

pytestmark = pytest.mark.slow

DONE = int(NodeStatus.DONE)
SESSION_S = 6.0
"""The agents' session: longer than the ensemble takes to elect a new leader (a few ticks)."""


@pytest.fixture
def ensemble(tmp_path: Path) -> Iterator[ZooKeeperEnsemble]:
    servers = ZooKeeperEnsemble(tmp_path / "ensemble", size=3)
    servers.start()
    try:
        yield servers
    finally:
        servers.stop()


def submit(mesh: Mesh, name: str, record: Path, commands: int, seconds: float) -> int:
    """A task of ``commands`` commands, each appending its name to ``record`` once it ran ``seconds``."""
    graph = Graph(name)
    graph.addNewTask(name, arguments={"cmd": f"sleep {seconds}; echo {name}-%%MI_FRAME%% >> {record}",
                                      "start": 1, "end": commands, "packetSize": 1})
    return int(mesh.client_any().request("SUBMIT", graph=graph.prepareGraphRepresentation())["graph_id"])


def dispatching(mesh: Mesh) -> bool:
    """Whether the leader answers requests (a session that moves to another server is suspended
    for a moment: the leader pauses, and says ``no_leader``, until it is back)."""
    try:
        mesh.client_any().request("QUERY", what="graphs", args={})
    except (MeshRequestError, MeshUnreachableError):
        return False
    return True


def refused_for_want_of_a_leader(mesh: Mesh) -> bool:
    try:
        mesh.client_any().request("QUERY", what="graphs", args={})
    except MeshRequestError as exc:
        return exc.code == "no_leader"
    except MeshUnreachableError:
        return False
    return False


def test_the_mesh_survives_its_zookeeper_leader_and_waits_out_a_lost_quorum(
        ensemble: ZooKeeperEnsemble, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mesh = Mesh(ensemble, "ensemble", tmp_path)  # type: ignore[arg-type]  # an ensemble has the server's hosts
    monkeypatch.setenv("PULI_KEY", str(mesh.secure()))
    record = tmp_path / "ran.txt"
    try:
        for name in ("rn1", "rn2"):
            mesh.start_agent(name, slots=2, session_timeout=SESSION_S)
        mesh.wait_ready(2)
        before = submit(mesh, "before", record, 4, 2.0)

        first = ensemble.leader()
        ensemble.kill(first)  # the ensemble elects another leader among the two left
        wait_for(lambda: any(s.mode() == "leader" for i, s in enumerate(ensemble.servers) if i != first), 30,
                 "the two servers left to elect a leader")
        wait_for(lambda: dispatching(mesh), 30, "the leader to dispatch again on the two servers left")
        during = submit(mesh, "with-quorum", record, 2, 0.1)
        mesh.wait_graph(during, {DONE}, timeout=60)
        mesh.wait_graph(before, {DONE}, timeout=60)

        running = submit(mesh, "across-the-outage", record, 2, 6.0)
        wait_for(lambda: mesh.graph(running)["status"] == int(NodeStatus.RUNNING), 30, "its commands to start")
        second = next(i for i in range(len(ensemble.servers)) if i != first and ensemble.servers[i].mode())
        ensemble.kill(second)  # one server of three: no quorum
        wait_for(lambda: refused_for_want_of_a_leader(mesh), 30, "the leader to stop dispatching")

        ensemble.restart(first)  # a quorum again
        wait_for(lambda: dispatching(mesh), 60, "the mesh to dispatch again once a quorum is back")
        mesh.wait_graph(running, {DONE}, timeout=90)
        after = submit(mesh, "after", record, 2, 0.1)
        mesh.wait_graph(after, {DONE}, timeout=60)
    finally:
        mesh.stop()
    runs = Counter(record.read_text().split())
    assert runs == Counter([f"before-{i}" for i in range(1, 5)] + ["with-quorum-1", "with-quorum-2",
                            "across-the-outage-1", "across-the-outage-2", "after-1", "after-2"])
