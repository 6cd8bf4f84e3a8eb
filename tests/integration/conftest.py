"""A real mesh for integration tests: the session's ZooKeeper and real agent processes."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import zmq
from kazoo.client import KazooClient

from puli_mesh import cluster_keys, key_registry, keys, zk_access
from puli_mesh.access import Role
from puli_mesh.client import MeshClient, MeshRequestError, MeshUnreachableError
from puli_mesh.keys import KeyPair, KeyRecord
from puli_mesh.local_farm import AgentProcess, agent_command, stop_agents
from puli_mesh.zkpaths import ClusterPaths
from puli_mesh.zkserver import ZooKeeperServer, free_port

NODE_PEER_KEY = "node-peer"
"""A client key of role ``node`` each test mesh registers, for peers that speak the worker protocol."""
HANDSHAKE_WAITS = (0.05, 0.1, 0.2, 0.4, 0.8)
"""How long each try to shake hands with a key just registered waits for an answer. A refused
handshake is never answered, so each try that comes before the agent's registry watch costs its
whole wait: the agent learns a key within milliseconds and answers a QUERY in a few, so short
tries first (one fixed 0.5-s try cost 0.6 s a key and agent); longer ones after, for a loaded
machine."""


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
    keys: Path | None = None
    """The agents' keys directory; None: the mesh runs open (``--insecure``)."""

    def secure(self) -> Path:
        """Make the cluster's keys as ``puli-mesh keys init`` does, and a node peer key; returns
        the admin's key file (the tests' ``PULI_KEY``)."""
        made = cluster_keys.init_cluster(self.base / "keys", self.zookeeper.hosts, self.cluster, "admin",
                                         "test-host", time.time())
        self.keys = made.directory
        self.add_key(NODE_PEER_KEY, Role.NODE)
        return made.admin_key

    def add_key(self, name: str, role: Role) -> KeyPair:
        """A client key ``name`` of ``role``, registered in the cluster (in ``keys/clients``)."""
        assert self.keys is not None, "the mesh runs open"
        server_key = keys.load_key_pair(self.keys / f"{keys.CLUSTER_KEY}{keys.SECRET_SUFFIX}").public_key
        pair = keys.create_key_pair(self.keys / "clients", name, server_key=server_key)
        zk = self.zk_started()
        try:
            key_registry.write_record(zk, ClusterPaths(self.cluster),
                                      KeyRecord(name, role, pair.public_key.decode(), time.time()))
        finally:
            zk.stop()
            zk.close()
        for proc in self.agents.values():  # each agent learns the key through its own registry watch
            if proc.alive():
                waits = iter(HANDSHAKE_WAITS)
                wait_for(lambda proc=proc, waits=waits: self.handshakes(proc, pair, next(waits, HANDSHAKE_WAITS[-1])),
                         10, f"agent {proc.name} to know key {name}", interval=0.02)
        return pair

    @staticmethod
    def handshakes(proc: AgentProcess, pair: KeyPair, timeout: float = 0.5) -> bool:
        """Whether ``proc`` lets ``pair`` in within ``timeout`` s (any answer, a refusal included,
        proves the handshake)."""
        try:
            MeshClient(node=proc.address, key=pair, timeout=timeout, tries=1).request(
                "QUERY", what="status", args={})
        except MeshRequestError:
            return True
        except MeshUnreachableError:
            return False
        return True

    def zk_started(self) -> KazooClient:
        """A started ZooKeeper client with the cluster's credential (anonymous when open); the
        caller stops and closes it."""
        credential = zk_access.read_credential(self.keys) if self.keys is not None else None
        zk = zk_access.connect(self.zookeeper.hosts, 5.0, credential)
        zk.start(timeout=10)
        return zk

    def key(self, name: str) -> KeyPair:
        assert self.keys is not None, "the mesh runs open"
        return keys.load_key_pair(self.keys / "clients" / f"{name}{keys.SECRET_SUFFIX}")

    def start_agent(self, name: str, slots: int = 1, pools: str = "default",
                    session_timeout: float = 2.0, extra: list[str] | None = None) -> AgentProcess:
        port = free_port()
        proc = AgentProcess(name, port, self.base / name / "logs", self.base / name / "agent.log")
        cmd = agent_command(name, self.zookeeper.hosts, self.cluster, port, proc.log_dir, proc.agent_log,
                            slots=slots, pools=pools, session_timeout=session_timeout,
                            extra=["--retry-delay", "0.5", "--log-level", "debug", *(extra or [])], keys=self.keys)
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


def peer_key(node: bool = False) -> KeyPair | None:
    """The key a hand-made peer of this test uses: the test's admin key (``PULI_KEY``), or with
    ``node`` the mesh's node peer key (for the worker protocol); None when the mesh runs open."""
    admin = os.environ.get("PULI_KEY")
    if not admin:
        return None
    path = Path(admin).parent / "clients" / f"{NODE_PEER_KEY}{keys.SECRET_SUFFIX}" if node else Path(admin)
    return keys.load_client_key(path)


def use_key(sock: zmq.Socket[bytes], pair: KeyPair | None) -> None:
    """Make ``sock`` (before it connects) a CURVE client with the client key ``pair`` (None: open)."""
    if pair is None:
        return
    assert pair.secret_key is not None and pair.server_key is not None
    sock.curve_secretkey = pair.secret_key
    sock.curve_publickey = pair.public_key
    sock.curve_serverkey = pair.server_key


@pytest.fixture
def mesh(zookeeper: ZooKeeperServer, zk_cluster: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
         request: pytest.FixtureRequest) -> Iterator[Mesh]:
    """An empty, secured mesh on the shared ZooKeeper (its admin key is this test's ``PULI_KEY``);
    the test starts the agents it needs."""
    m = Mesh(zookeeper, zk_cluster, tmp_path)
    monkeypatch.setenv("PULI_KEY", str(m.secure()))
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
