"""A real mesh for integration tests: the session's ZooKeeper and real agent processes."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from puli_mesh.client import MeshClient, MeshRequestError, MeshUnreachableError
from puli_mesh.local_farm import AgentProcess, agent_command, stop_agents
from puli_mesh.zkserver import ZooKeeperServer, free_port


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.1) -> Any:
    """Poll until predicate() is truthy; fail the test with ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


@dataclass
class Mesh:
    zookeeper: ZooKeeperServer
    cluster: str
    base: Path
    agents: dict[str, AgentProcess] = field(default_factory=dict)

    def start_agent(self, name: str, slots: int = 1, pools: str = "default",
                    session_timeout: float = 2.0, extra: list[str] | None = None) -> AgentProcess:
        port = free_port()
        proc = AgentProcess(name, port, self.base / name / "logs", self.base / name / "agent.log")
        cmd = agent_command(name, self.zookeeper.hosts, self.cluster, port, proc.log_dir, proc.agent_log,
                            slots=slots, pools=pools, session_timeout=session_timeout,
                            extra=["--retry-delay", "0.5", "--log-level", "debug", *(extra or [])])
        proc.process = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        self.agents[name] = proc
        return proc

    def client(self, name: str | None = None) -> MeshClient:
        proc = self.agents[name] if name else next(iter(self.agents.values()))
        return MeshClient(node=proc.address, timeout=5.0)

    def zk_client(self) -> MeshClient:
        return MeshClient(zk=self.zookeeper.hosts, cluster=self.cluster, timeout=5.0)

    def status(self) -> dict[str, Any] | None:
        for proc in self.agents.values():
            if not proc.alive():
                continue
            try:
                return dict(MeshClient(node=proc.address, timeout=1.0, tries=1).request(
                    "QUERY", what="status", args={}))
            except (MeshUnreachableError, MeshRequestError):
                continue
        return None

    def wait_ready(self, count: int | None = None, timeout: float = 30.0) -> dict[str, Any]:
        expected = len([p for p in self.agents.values() if p.alive()]) if count is None else count

        def ready() -> dict[str, Any] | None:
            status = self.status()
            if status is None:
                return None
            live = [n for n in status["nodes"] if n["state"] in ("idle", "busy")]
            return status if len(live) >= expected else None

        return wait_for(ready, timeout, f"{expected} agents connected to a leader")

    def leader(self) -> str:
        status = self.status()
        assert status is not None
        return str(status["leader"])

    def graph(self, graph_id: int) -> dict[str, Any]:
        return dict(self.client_any().request("QUERY", what="graph", args={"id": graph_id}))

    def client_any(self) -> MeshClient:
        for proc in self.agents.values():
            if proc.alive():
                return MeshClient(node=proc.address, timeout=5.0)
        raise AssertionError("no agent alive")

    def wait_graph(self, graph_id: int, statuses: set[int], timeout: float = 60.0) -> dict[str, Any]:
        def done() -> dict[str, Any] | None:
            try:
                tree = self.graph(graph_id)
            except (MeshUnreachableError, MeshRequestError):
                return None
            return tree if tree["status"] in statuses else None

        return wait_for(done, timeout, f"graph {graph_id} to reach {sorted(statuses)}")

    def kill9(self, name: str) -> None:
        proc = self.agents[name]
        assert proc.process is not None
        proc.process.send_signal(signal.SIGKILL)
        proc.process.wait(timeout=10)

    def stop(self) -> None:
        stop_agents(self.agents.values(), timeout=15)

    def agent_log(self, name: str) -> str:
        path = self.agents[name].agent_log
        return path.read_text(errors="replace") if path.exists() else ""


@pytest.fixture
def mesh(zookeeper: ZooKeeperServer, zk_cluster: str, tmp_path: Path,
         request: pytest.FixtureRequest) -> Iterator[Mesh]:
    """An empty mesh on the shared ZooKeeper; the test starts the agents it needs."""
    m = Mesh(zookeeper, zk_cluster, tmp_path)
    try:
        yield m
    finally:
        m.stop()
        failed = getattr(request.node, "rep_call", None)
        if failed is not None and failed.failed:
            for name in m.agents:
                print(f"----- agent log {name} -----\n{m.agent_log(name)[-6000:]}")


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    setattr(item, f"rep_{report.when}", report)
