"""Start and stop private ZooKeeper servers (Debian's package): one, or an ensemble on loopback.

Used by ``puli-mesh up`` (a local farm on one workstation) and by the test fixtures. A single
server runs ``org.apache.zookeeper.server.ZooKeeperServerMain``; an ensemble
(:class:`ZooKeeperEnsemble`, ``puli-mesh up --zk-servers 3``) runs one ``QuorumPeerMain`` per
server, each with its own ports and data directory, so a test can kill the server that leads
the ensemble and watch the mesh go on (or stop, without a quorum). Both use
``/usr/share/java/zookeeper.jar``. Neither is a production ensemble: production runs 3 or 5
servers on their own hosts, managed by the studio (``docs/deployment.md``).
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from kazoo.client import KazooClient
from kazoo.handlers.threading import KazooTimeoutError

from puli_mesh.errors import ZooKeeperError

log = logging.getLogger(__name__)

STANDALONE_MAIN = "org.apache.zookeeper.server.ZooKeeperServerMain"
QUORUM_MAIN = "org.apache.zookeeper.server.quorum.QuorumPeerMain"
ENSEMBLE_INIT_TICKS = 20
"""Ticks a follower may take to connect and sync to a new leader (10 s at the 500 ms tick)."""
ENSEMBLE_SYNC_TICKS = 10
"""Ticks a follower may lag behind the leader before it is dropped (5 s)."""
ZOOKEEPER_JAR = Path(os.environ.get("PULI_ZOOKEEPER_JAR", "/usr/share/java/zookeeper.jar"))
INSTALL_HINT = "install Debian's ZooKeeper with `sudo apt-get install zookeeper` (or run `make setup`)"


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class ZooKeeperServer:
    """One standalone ZooKeeper process on loopback.

    ``tick_ms`` is small by default so that short session timeouts (1 s and up)
    are allowed: ZooKeeper only grants sessions between 2 and 20 ticks unless
    told otherwise, and we set the bounds explicitly.
    """

    data_dir: Path
    port: int = 0
    host: str = "127.0.0.1"
    tick_ms: int = 500
    myid: int = 0
    """This server's id in an ensemble (0: a standalone server)."""
    peers: list[str] = field(default_factory=list)
    """An ensemble's ``server.N=host:peer:election`` lines (empty: standalone)."""
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def hosts(self) -> str:
        """The connection string for kazoo (``host:port``)."""
        return f"{self.host}:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        """Start the server and return once it answers a client session."""
        self.launch()
        self.wait_ready(timeout)

    def launch(self) -> None:
        """Start the server's process, without waiting (an ensemble's member serves only once a
        quorum of its peers runs)."""
        java = shutil.which("java")
        if java is None or not ZOOKEEPER_JAR.exists():
            raise ZooKeeperError(f"ZooKeeper is not installed ({ZOOKEEPER_JAR} missing): {INSTALL_HINT}")
        if self.port == 0:
            self.port = free_port(self.host)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        config = self.data_dir / "zoo.cfg"
        config.write_text(
            "\n".join(
                [
                    f"tickTime={self.tick_ms}",
                    f"dataDir={self.data_dir / 'data'}",
                    f"clientPort={self.port}",
                    f"clientPortAddress={self.host}",
                    "minSessionTimeout=1000",
                    "maxSessionTimeout=60000",
                    "admin.enableServer=false",
                    "maxClientCnxns=0",
                    # The journal is ours to keep small; ZooKeeper's own snapshots
                    # are purged so a long-running local farm does not fill the disk.
                    "autopurge.snapRetainCount=3",
                    "autopurge.purgeInterval=1",
                    *([f"initLimit={ENSEMBLE_INIT_TICKS}", f"syncLimit={ENSEMBLE_SYNC_TICKS}", *self.peers]
                      if self.peers else []),
                    "",
                ]
            )
        )
        if self.myid:
            (self.data_dir / "data").mkdir(parents=True, exist_ok=True)
            (self.data_dir / "data" / "myid").write_text(f"{self.myid}\n")
        log_path = self.data_dir / "zookeeper.out"
        with open(log_path, "ab") as out:
            self.process = subprocess.Popen(
                [
                    java,
                    "-Xmx512m",
                    # C1 only: on a small machine C2's compilations cost ZooKeeper
                    # more CPU than they save (bench/mesh_throughput.py: about a
                    # third of the CPU per journal write).
                    "-XX:TieredStopAtLevel=1",
                    "-Dzookeeper.admin.enableServer=false",
                    "-cp",
                    str(ZOOKEEPER_JAR),
                    QUORUM_MAIN if self.peers else STANDALONE_MAIN,
                    str(config),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        log.info("zookeeper starting on %s (pid %d, data %s)", self.hosts, self.process.pid, self.data_dir)

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Block until a kazoo session can be opened, or raise ZooKeeperError."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                tail = (self.data_dir / "zookeeper.out").read_text(errors="replace")[-2000:]
                raise ZooKeeperError(f"ZooKeeper exited with code {self.process.returncode}:\n{tail}")
            if not self._serving():  # kazoo would log a dropped connection per attempt
                time.sleep(0.05)
                continue
            client = KazooClient(hosts=self.hosts, timeout=2.0)
            try:
                client.start(timeout=1.0)
                client.get_children("/")
                return
            except KazooTimeoutError:
                continue
            finally:
                client.stop()
                client.close()
        raise ZooKeeperError(f"ZooKeeper on {self.hosts} did not answer within {timeout:.0f}s")

    def _serving(self) -> bool:
        """ZooKeeper's ``srvr`` word (allowed by default) says whether it serves requests yet."""
        return self.mode() is not None

    def mode(self) -> str | None:
        """``standalone``, ``leader`` or ``follower`` while it serves requests; None otherwise."""
        try:
            with socket.create_connection((self.host, self.port), timeout=0.5) as probe:
                probe.sendall(b"srvr")
                answer = probe.recv(4096)
        except OSError:
            return None
        for line in answer.decode(errors="replace").splitlines():
            if line.startswith("Mode:"):
                return line.split(":", 1)[1].strip()
        return None

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL if it lingers)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        log.info("zookeeper on %s stopped", self.hosts)

    def kill(self) -> None:
        """SIGKILL the server (for chaos tests)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def __enter__(self) -> ZooKeeperServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass
class ZooKeeperEnsemble:
    """``size`` ZooKeeper servers on loopback forming one ensemble (quorum: a majority)."""

    data_dir: Path
    size: int = 3
    host: str = "127.0.0.1"
    servers: list[ZooKeeperServer] = field(default_factory=list, init=False)

    @property
    def hosts(self) -> str:
        """The connection string of every server, for kazoo (``host:port,host:port,...``)."""
        return ",".join(server.hosts for server in self.servers)

    def start(self, timeout: float = 60.0) -> None:
        """Start every server and return once each serves (a quorum formed)."""
        ports = [(free_port(self.host), free_port(self.host), free_port(self.host)) for _ in range(self.size)]
        peers = [f"server.{i + 1}={self.host}:{peer}:{election}" for i, (_, peer, election) in enumerate(ports)]
        self.servers = [ZooKeeperServer(self.data_dir / f"server-{i + 1}", port=client, host=self.host,
                                        myid=i + 1, peers=peers) for i, (client, _, _) in enumerate(ports)]
        for server in self.servers:
            server.launch()
        for server in self.servers:
            server.wait_ready(timeout)

    def leader(self) -> int:
        """The index of the server that leads the ensemble now (ZooKeeperError if none does)."""
        for index, server in enumerate(self.servers):
            if server.mode() == "leader":
                return index
        raise ZooKeeperError("no server of the ensemble leads it now")

    def kill(self, index: int) -> None:
        """SIGKILL server ``index`` (as a machine that dies)."""
        self.servers[index].kill()

    def restart(self, index: int) -> None:
        """Start server ``index`` again, with its data, without waiting for it to serve."""
        self.servers[index].launch()

    def stop(self) -> None:
        for server in self.servers:
            server.stop()

    def __enter__(self) -> ZooKeeperEnsemble:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

