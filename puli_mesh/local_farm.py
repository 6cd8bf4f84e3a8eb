"""A whole farm on one machine: a private ZooKeeper and N agent processes on loopback.

Used by ``puli-mesh up`` and by the integration tests, so both start agents
exactly the same way. Every process it starts it also stops, even on errors.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
from rich.text import Text

from puli_mesh.client import MeshClient, MeshRequestError, MeshUnreachableError
from puli_mesh.cluster_keys import init_cluster
from puli_mesh.errors import PuliMeshError
from puli_mesh.keys import KeyPair, load_client_key
from puli_mesh.zkserver import ZooKeeperEnsemble, ZooKeeperServer, free_port

log = logging.getLogger(__name__)

EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "examples"
EXAMPLE_SCRIPTS = ("simple_command.py", "frame_range.py", "custom_runner.py", "callables.py")


@dataclass
class AgentProcess:
    name: str
    port: int
    log_dir: Path
    agent_log: Path
    process: subprocess.Popen[bytes] | None = None
    http_port: int = 0
    """Its HTTP server's port (0: none)."""

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str | None:
        """Its web monitor and API, when it serves HTTP."""
        return f"http://127.0.0.1:{self.http_port}/" if self.http_port else None

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


def stop_agents(processes: Iterable[AgentProcess], timeout: float = 20.0) -> None:
    """SIGTERM every agent (each hands over and lets its commands finish), then wait; SIGKILL laggards."""
    processes = list(processes)
    for proc in processes:
        if proc.alive():
            assert proc.process is not None
            proc.process.send_signal(signal.SIGTERM)
    for proc in processes:
        if proc.process is None:
            continue
        try:
            proc.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.process.kill()
            proc.process.wait(timeout=10)


def kill_machine(pid: int) -> None:
    """What a crashed machine does to an agent: it and every process it started die at once (chaos, bench)."""
    agent = psutil.Process(pid)
    tree = [agent, *agent.children(recursive=True)]
    for proc in tree:
        try:
            proc.send_signal(signal.SIGKILL)
        except psutil.Error:
            pass
    psutil.wait_procs(tree, timeout=10)


def agent_command(name: str, zk: str, cluster: str, port: int, log_dir: Path, agent_log: Path,
                  slots: int = 1, pools: str = "default", session_timeout: float = 4.0,
                  extra: list[str] | None = None, keys: Path | None = None, http_port: int = 0) -> list[str]:
    """The command line of one agent process: with the agents' keys directory ``keys``, or an
    open mesh (``--insecure``) without; HTTP on ``http_port`` (0, the default here: none, so
    agents on one host never contend for the agents' default HTTP port)."""
    return [
        sys.executable, "-m", "puli_mesh", "agent",
        "--zk", zk, "--cluster", cluster, "--name", name, "--host", "127.0.0.1",
        "--port", str(port), "--slots", str(slots), "--pools", pools,
        "--log-dir", str(log_dir), "--agent-log", str(agent_log),
        "--session-timeout", str(session_timeout), "--heartbeat-interval", "0.5",
        "--grace-period", "10", *(["--keys", str(keys)] if keys is not None else ["--insecure"]),
        "--http-port", str(http_port),
        *(extra or []),
    ]


@dataclass
class LocalFarm:
    agents: int = 3
    slots: int = 1
    base_port: int = 8004
    data_dir: Path | None = None
    session_timeout: float = 4.0
    cluster: str = "local"
    zk_servers: int = 1
    """ZooKeeper servers: 1 (standalone) or an ensemble of 3 or 5 on loopback."""
    zookeeper: ZooKeeperServer | ZooKeeperEnsemble | None = None
    processes: list[AgentProcess] = field(default_factory=list)
    insecure: bool = False
    """Run the agents open (``--insecure``); by default the farm makes its keys (``cluster_keys``)."""
    keys: Path | None = None
    """The agents' keys directory, once made."""
    admin_key: Path | None = None
    """The farm's admin key file (``PULI_KEY`` for its clients), once made."""
    http: bool = False
    """Give each agent an HTTP server on a free port of its own (``puli-mesh up`` does)."""
    _own_dir: bool = False
    _key: KeyPair | None = None

    def start(self, timeout: float = 60.0) -> None:
        if self.data_dir is None:
            self.data_dir = Path(tempfile.mkdtemp(prefix="puli-mesh-farm-"))
            self._own_dir = True
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.zk_servers > 1:
            self.zookeeper = ZooKeeperEnsemble(self.data_dir / "zookeeper", size=self.zk_servers)
        else:
            self.zookeeper = ZooKeeperServer(data_dir=self.data_dir / "zookeeper", port=free_port())
        self.zookeeper.start()
        if not self.insecure:
            made = init_cluster(self.data_dir / "keys", self.zookeeper.hosts, self.cluster, "admin", "local-host",
                                time.time())
            self.keys, self.admin_key = made.directory, made.admin_key
            self._key = load_client_key(made.admin_key)  # read once: clients poll every 0.2 s at start
        for index in range(self.agents):
            port = self.base_port + 2 * index
            name = f"agent-{index + 1}"
            proc = AgentProcess(name, port, self.data_dir / name / "logs", self.data_dir / name / "agent.log",
                                http_port=free_port() if self.http else 0)
            cmd = agent_command(name, self.zookeeper.hosts, self.cluster, port, proc.log_dir, proc.agent_log,
                                slots=self.slots, session_timeout=self.session_timeout, keys=self.keys,
                                http_port=proc.http_port)
            proc.process = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                            stderr=subprocess.DEVNULL)
            self.processes.append(proc)
        self.wait_ready(timeout)

    def client(self, timeout: float = 5.0, tries: int = 3) -> MeshClient:
        """A client of the farm (with its admin key when it has keys)."""
        return MeshClient(node=self.processes[0].address, timeout=timeout, tries=tries, key=self._key)

    def environment(self) -> dict[str, str]:
        """What a shell needs to use this farm: where it is, and the admin key."""
        first = self.processes[0]
        env = {"PULI_NODE": first.address, "PULIHOST": "127.0.0.1", "PULIPORT": str(first.port)}
        if self.admin_key is not None:
            env["PULI_KEY"] = str(self.admin_key)
        return env

    def wait_ready(self, timeout: float) -> dict[str, Any]:
        """Wait until a leader answers and sees every agent."""
        deadline = time.monotonic() + timeout
        last: str = "no answer"
        while time.monotonic() < deadline:
            for proc in self.processes:
                if not proc.alive():
                    tail = proc.agent_log.read_text(errors="replace")[-3000:] if proc.agent_log.exists() else ""
                    raise PuliMeshError(f"agent {proc.name} exited at start:\n{tail}")
            try:
                status = self.client(timeout=1.0, tries=1).request("QUERY", what="status", args={})
                connected = [n for n in status["nodes"] if n.get("state") != "gone"]
                if len(connected) >= len(self.processes):
                    return dict(status)
                last = f"{len(connected)} of {len(self.processes)} agents connected"
            except (MeshUnreachableError, MeshRequestError) as exc:
                last = str(exc)
            time.sleep(0.2)
        raise PuliMeshError(f"the local farm did not come up within {timeout:.0f}s: {last}")

    def banner(self) -> str:
        first = self.processes[0].address
        assert self.zookeeper is not None
        return (
            f"Local farm up: ZooKeeper {self.zookeeper.hosts}, cluster {self.cluster!r}, "
            f"{len(self.processes)} agents ({', '.join(p.address for p in self.processes)}).\n"
            f"Data and logs: {self.data_dir}\n"
            + (f"Keys: {self.keys} (the agents'), {self.admin_key} (the admin's: PULI_KEY below)\n"
               if self.keys is not None else "INSECURE: no keys (--insecure): anyone who reaches it owns it\n")
            + "".join(f"Web monitor and API of {p.name}: {p.url} (API docs: {p.url}api/docs)\n"
                      for p in self.processes if p.url)
            + ("Log in to the web pages with a token: `puli-mesh keys token` (after the export below)\n"
               if self.keys is not None and self.http else "")
            + f"Submit from another shell:\n"
            f"  export {' '.join(f'{k}={v}' for k, v in self.environment().items())}\n"
            f"  python examples/simple_command.py\n"
            f"  puli-mesh status --node {first}\n"
            f"Press Ctrl-C to stop."
        )

    def submit_examples(self, console: Any) -> int:
        """Submit each example graph, wait for it, report its outcome. Returns 0 if all DONE."""
        env = dict(os.environ, **self.environment())
        failures = 0
        for script in EXAMPLE_SCRIPTS:
            path = EXAMPLES_DIR / script
            if not path.exists():
                continue
            result = subprocess.run([sys.executable, str(path), "--wait"], env=env, capture_output=True,
                                    text=True, timeout=300)
            ok = result.returncode == 0
            failures += 0 if ok else 1
            # Text: what a script prints is shown as it is, never read as rich markup.
            console.print(Text(f"{'DONE ' if ok else 'FAILED'} {script}: {result.stdout.strip().splitlines()[-1:]}"))
            if not ok:
                console.print(Text(result.stderr[-2000:]))
        return 0 if failures == 0 else 1

    def wait(self) -> None:
        while all(p.alive() for p in self.processes):
            time.sleep(0.5)
        dead = [p.name for p in self.processes if not p.alive()]
        log.warning("agent(s) %s exited; stopping the farm", ", ".join(dead))

    def stop(self) -> None:
        stop_agents(self.processes)
        if self.zookeeper is not None:
            self.zookeeper.stop()
        if self._own_dir and self.data_dir is not None:
            shutil.rmtree(self.data_dir, ignore_errors=True)
