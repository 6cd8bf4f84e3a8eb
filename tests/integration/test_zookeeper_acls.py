"""A cluster's znodes, made by the project's own code with the cluster's credential, are closed to
any ZooKeeper client without it (a real ZooKeeper): it cannot read the keys, the epoch, the
election, the journal or the snapshots, and cannot write anything; it can read what clients need
(the leader, the members, the licences, the pools). A cluster run insecure is secured afterwards
by ``lock_down``; secured agents leave only znodes that follow the rule. Over TLS (Debian's
ZooKeeper with a Netty TLS port, certificates made with ``openssl``) the same holds, and a client
without the right certificates does not connect."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import zmq
from kazoo.client import KazooClient
from kazoo.exceptions import NoAuthError
from kazoo.handlers.threading import KazooTimeoutError

from puli_mesh import cluster_state, zk_access
from puli_mesh.access import Role
from puli_mesh.cluster_state import LeaderInfo
from puli_mesh.coordinator.journal import JournalWriter, pack, read_journal, take_epoch
from puli_mesh.errors import ConfigError
from puli_mesh.key_registry import read_records, write_record
from puli_mesh.keys import AGENT_KEY, CLUSTER_KEY, KeyRecord, create_key_pair
from puli_mesh.local_farm import AgentProcess, agent_command, stop_agents
from puli_mesh.node.membership import Membership
from puli_mesh.zk_access import ZooKeeperCredential, ZooKeeperOptions
from puli_mesh.zkpaths import ClusterPaths
from puli_mesh.zkserver import ZOOKEEPER_JAR, ZooKeeperServer, free_port
from tests.integration.conftest import wait_for

CREDENTIAL = ZooKeeperCredential("puli-mesh", "the-cluster-secret")
WRONG = ZooKeeperCredential("puli-mesh", "a-guess")


def started(client: KazooClient) -> KazooClient:
    client.start(timeout=10)
    return client


@dataclass
class Cluster:
    """A cluster's tree built through the project's functions, and the client that built it."""

    paths: ClusterPaths
    zk: KazooClient
    membership: Membership
    snapshot_dir: str


def build_cluster(zk: KazooClient, paths: ClusterPaths, credential: ZooKeeperCredential | None) -> Cluster:
    """What a running cluster holds: a member and an election contender, an epoch, a journal batch
    and a snapshot, a licence, a pool, the leader, a key record."""
    membership = Membership(zk, paths, "rn1", lambda _kind, _value: None)
    membership.register({"endpoint": "tcp://127.0.0.1:1"}, wait=1.0)
    membership.join_election()
    wait_for(lambda: zk.exists(paths.election) and zk.get_children(paths.election), 10, "an election contender")
    epoch, version = take_epoch(zk, paths)
    writer = JournalWriter(zk, paths, epoch, version)
    stored = threading.Event()
    failures: list[Exception | None] = []

    def done(exc: Exception | None) -> None:
        failures.append(exc)
        stored.set()

    writer.write_batch_async(1, 1, [["noop"]], done)
    assert stored.wait(10) and failures == [None]
    assert writer.write_snapshot(pack({"state": 1}), 1, lambda: 1)
    stored.clear()
    writer.write_batch_async(2, 2, [["noop"]], done)  # the snapshot trimmed the first
    assert stored.wait(10) and failures == [None, None]
    cluster_state.set_licence(zk, paths, "mtoa", 3)
    cluster_state.define_pool(zk, paths, "gpu")
    cluster_state.ensure_shared(zk, paths, credential)
    cluster_state.publish_leader(zk, paths, LeaderInfo("rn1", "tcp://127.0.0.1:1", epoch), credential)
    write_record(zk, paths, KeyRecord("alice", Role.USER, zmq.curve_keypair()[0].decode(), time.time()))
    snapshot_dir = f"{paths.snapshots}/{zk.get_children(paths.snapshots)[0]}"
    return Cluster(paths, zk, membership, snapshot_dir)


@pytest.fixture
def secured(zookeeper: ZooKeeperServer, zk_cluster: str) -> Iterator[Cluster]:
    """A secured cluster: locked down first (as ``keys init`` does), then built by its agents' code."""
    zk = started(zk_access.connect(zookeeper.hosts, 5.0, CREDENTIAL))
    paths = ClusterPaths(zk_cluster)
    zk_access.lock_down(zk, paths, CREDENTIAL)
    cluster = build_cluster(zk, paths, CREDENTIAL)
    try:
        yield cluster
    finally:
        cluster.membership.close()
        zk.stop()
        zk.close()


@pytest.fixture(params=["anonymous", "wrong-digest"])
def outsider(request: pytest.FixtureRequest, zookeeper: ZooKeeperServer) -> Iterator[KazooClient]:
    """A ZooKeeper client without the cluster's credential: none at all, or a guessed one."""
    auth = [] if request.param == "anonymous" else [("digest", WRONG.auth)]
    zk = started(KazooClient(hosts=zookeeper.hosts, timeout=5.0, auth_data=auth))
    try:
        yield zk
    finally:
        zk.stop()
        zk.close()


def test_the_tree_built_by_a_secured_cluster_follows_the_rule(secured: Cluster) -> None:
    assert zk_access.check_tree(secured.zk, secured.paths) == []
    # ... and the walk did look at every kind of znode.
    tree = zk_access.walk(secured.zk, secured.paths.base)
    p = secured.paths
    for path in (p.keys, p.key("alice"), p.epoch, p.election, p.journal, p.snapshot, secured.snapshot_dir,
                 p.nodes, p.node("rn1"), p.leader, p.licence("mtoa"), p.pool("gpu")):
        assert path in tree


def test_an_outsider_cannot_read_the_private_znodes(secured: Cluster, outsider: KazooClient) -> None:
    p = secured.paths
    reads: list[Callable[[], Any]] = [
        lambda: outsider.get(p.keys), lambda: outsider.get_children(p.keys), lambda: outsider.get(p.key("alice")),
        lambda: outsider.get(p.epoch), lambda: outsider.get_children(p.election),
        lambda: outsider.get_children(p.journal), lambda: outsider.get(p.snapshot),
        lambda: outsider.get_children(p.snapshots), lambda: outsider.get_children(secured.snapshot_dir),
        lambda: read_records(outsider, p), lambda: read_journal(outsider, p),
    ]
    for index, read in enumerate(reads):
        with pytest.raises(NoAuthError):
            read()
            pytest.fail(f"read #{index} was allowed")
    batch = secured.zk.get_children(p.journal)[0]
    with pytest.raises(NoAuthError):
        outsider.get(f"{p.journal}/{batch}")
    part = secured.zk.get_children(secured.snapshot_dir)[0]
    with pytest.raises(NoAuthError):
        outsider.get(f"{secured.snapshot_dir}/{part}")


def test_an_outsider_cannot_write_anything(secured: Cluster, outsider: KazooClient) -> None:
    p = secured.paths
    batch = f"{p.journal}/{secured.zk.get_children(p.journal)[0]}"
    fake_leader = cluster_state.dump({"name": "evil", "endpoint": "tcp://10.0.0.66:8004", "epoch": 99})
    writes: list[Callable[[], Any]] = [
        lambda: outsider.set(p.leader, fake_leader), lambda: outsider.delete(p.leader),
        lambda: outsider.set(p.epoch, b"1000"), lambda: outsider.delete(p.epoch),
        lambda: outsider.set(p.base, b"x"), lambda: outsider.create(f"{p.base}/rogue", b""),
        lambda: outsider.set(batch, b"x"), lambda: outsider.delete(batch),
        lambda: outsider.create(f"{p.journal}/b-000000000002-000000000002-", b"x", sequence=True),
        lambda: outsider.set(p.snapshot, b"x"), lambda: outsider.create(f"{p.snapshots}/s-rogue", b""),
        lambda: outsider.set(p.licence("mtoa"), b"0"), lambda: outsider.delete(p.licence("mtoa")),
        lambda: outsider.create(p.licence("rogue"), b"5"),
        lambda: outsider.delete(p.pool("gpu")), lambda: outsider.create(p.pool("rogue"), b""),
        lambda: outsider.set(p.node("rn1"), b"{}"), lambda: outsider.delete(p.node("rn1")),
        lambda: outsider.create(p.node("rogue"), b"{}", ephemeral=True),
        lambda: outsider.create(f"{p.election}/rogue", b"", ephemeral=True, sequence=True),
        lambda: outsider.set(p.keys, b"x"), lambda: outsider.set(p.key("alice"), b"{}"),
        lambda: outsider.delete(p.key("alice")), lambda: outsider.create(p.key("mallory"), b"{}"),
        lambda: outsider.set_acls(p.leader, zk_access.private_acl(None)),
        lambda: cluster_state.set_licence(outsider, p, "mtoa", 0),
        lambda: cluster_state.define_pool(outsider, p, "rogue2"),
    ]
    for index, write in enumerate(writes):
        with pytest.raises(NoAuthError):
            write()
            pytest.fail(f"write #{index} was allowed")
    assert cluster_state.read_leader(secured.zk, p) == cluster_state.read_leader(outsider, p)
    assert cluster_state.read_leader(secured.zk, p).name == "rn1"  # type: ignore[union-attr]


def test_an_outsider_reads_what_clients_need(secured: Cluster, outsider: KazooClient) -> None:
    p = secured.paths
    leader = cluster_state.read_leader(outsider, p)
    assert leader is not None and leader.name == "rn1"
    assert list(cluster_state.read_members(outsider, p)) == ["rn1"]
    assert cluster_state.read_licences(outsider, p) == {"mtoa": 3}
    assert cluster_state.read_pools(outsider, p) == ["gpu"]


def test_an_insecure_cluster_is_secured_later_by_lock_down(zookeeper: ZooKeeperServer, zk_cluster: str) -> None:
    paths = ClusterPaths(zk_cluster)
    anonymous = started(zk_access.connect(zookeeper.hosts, 5.0, None))
    cluster = build_cluster(anonymous, paths, None)
    owner = started(zk_access.connect(zookeeper.hosts, 5.0, CREDENTIAL))
    try:
        assert zk_access.check_tree(anonymous, paths) == []  # open, as an insecure mesh's tree is
        before = zk_access.check_tree(owner, paths)
        assert any(line.startswith(f"{paths.epoch}:") for line in before)
        assert any(line.startswith(f"{paths.leader}:") for line in before)
        zk_access.lock_down(owner, paths, CREDENTIAL)
        assert zk_access.check_tree(owner, paths) == []
        with pytest.raises(NoAuthError):
            anonymous.get(paths.epoch)
        with pytest.raises(NoAuthError):
            anonymous.set(paths.leader, b"{}")
        assert cluster_state.read_pools(anonymous, paths) == ["gpu"]
        zk_access.lock_down(owner, paths, CREDENTIAL)  # again: harmless
        assert zk_access.check_tree(owner, paths) == []
        # Another credential cannot take the cluster over with lock_down.
        intruder = started(zk_access.connect(zookeeper.hosts, 5.0, WRONG))
        try:
            with pytest.raises(ConfigError, match="another credential"):
                zk_access.lock_down(intruder, paths, WRONG)
        finally:
            intruder.stop()
            intruder.close()
    finally:
        cluster.membership.close()
        for zk in (anonymous, owner):
            zk.stop()
            zk.close()


def test_secured_agents_leave_only_znodes_that_follow_the_rule(zookeeper: ZooKeeperServer, zk_cluster: str,
                                                               tmp_path: Path) -> None:
    """Real agents with a keys directory: after an election, a takeover and a failover, every
    znode of their cluster carries the ACL of the rule, and an outsider still finds the leader."""
    keys = tmp_path / "keys"
    credential = zk_access.write_credential(keys)
    create_key_pair(keys, CLUSTER_KEY)
    agent_key = create_key_pair(keys, AGENT_KEY)
    paths = ClusterPaths(zk_cluster)
    owner = started(zk_access.connect(zookeeper.hosts, 5.0, credential))
    anonymous = started(KazooClient(hosts=zookeeper.hosts, timeout=5.0))
    agents: dict[str, AgentProcess] = {}
    try:
        zk_access.lock_down(owner, paths, credential)  # what `keys init` does
        write_record(owner, paths, KeyRecord(AGENT_KEY, Role.NODE, agent_key.public_key.decode(), time.time()))
        for name in ("rn1", "rn2"):
            proc = AgentProcess(name, free_port(), tmp_path / name / "logs", tmp_path / name / "agent.log")
            proc.process = subprocess.Popen(
                agent_command(name, zookeeper.hosts, zk_cluster, proc.port, proc.log_dir, proc.agent_log,
                              session_timeout=2.0, keys=keys),
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            agents[name] = proc
        first = wait_for(lambda: cluster_state.read_leader(anonymous, paths), 30, "a leader")
        wait_for(lambda: len(cluster_state.read_members(anonymous, paths)) == 2, 30, "both members")
        assert zk_access.check_tree(owner, paths) == []
        stop_agents([agents[first.name]], timeout=15)
        second = wait_for(lambda: (leader := cluster_state.read_leader(anonymous, paths)) is not None
                          and leader.name != first.name and leader, 30, "the other agent to lead")
        assert second.epoch > first.epoch
        assert zk_access.check_tree(owner, paths) == []
        with pytest.raises(NoAuthError):
            anonymous.get(paths.epoch)
    finally:
        stop_agents(agents.values(), timeout=15)
        for zk in (owner, anonymous):
            zk.stop()
            zk.close()


# ------------------------------------------------------------------ an ensemble that runs TLS
NETTY_JARS = ("netty-codec.jar", "netty-resolver.jar", "netty-transport-native-unix-common.jar")
"""What Debian's ZooKeeper jar does not list on its class path but its Netty server needs."""


def openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def make_certificate(directory: Path, name: str, ca: str, extension: str | None = None) -> tuple[Path, Path]:
    """A key and a certificate signed by ``ca`` (``directory/<ca>.pem``, ``.key``), PEM."""
    key, csr, cert = directory / f"{name}.key", directory / f"{name}.csr", directory / f"{name}.pem"
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr), "-subj", f"/CN={name}")
    extra = ["-extfile", str(directory / "ext.cnf")] if extension else []
    if extension:
        (directory / "ext.cnf").write_text(extension + "\n")
    openssl("x509", "-req", "-in", str(csr), "-CA", str(directory / f"{ca}.pem"), "-CAkey",
            str(directory / f"{ca}.key"), "-CAcreateserial", "-out", str(cert), "-days", "2", *extra)
    return key, cert


@dataclass
class TlsZooKeeper:
    hosts: str
    certificates: Path


@pytest.fixture(scope="module")
def tls_zookeeper(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsZooKeeper]:
    """Debian's ZooKeeper on a TLS-only client port (Netty), asking for client certificates."""
    base = tmp_path_factory.mktemp("zookeeper-tls")
    for ca in ("ca", "other-ca"):
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(base / f"{ca}.key"),
                "-out", str(base / f"{ca}.pem"), "-days", "2", "-subj", f"/CN={ca}")
    server_key, server_cert = make_certificate(base, "server", "ca", "subjectAltName=IP:127.0.0.1")
    make_certificate(base, "agent", "ca")
    (base / "server-bundle.pem").write_text(server_key.read_text() + server_cert.read_text())
    port = free_port()
    (base / "zoo.cfg").write_text("\n".join([
        "tickTime=500", f"dataDir={base / 'data'}", f"secureClientPort={port}",
        "serverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory",
        f"ssl.keyStore.location={base / 'server-bundle.pem'}", "ssl.keyStore.type=PEM",
        f"ssl.trustStore.location={base / 'ca.pem'}", "ssl.trustStore.type=PEM", "ssl.clientAuth=need",
        "admin.enableServer=false", "minSessionTimeout=1000", "maxSessionTimeout=60000", ""]))
    java = shutil.which("java")
    assert java is not None, "the ZooKeeper fixture needs java"
    classpath = ":".join([str(ZOOKEEPER_JAR), *(str(ZOOKEEPER_JAR.parent / jar) for jar in NETTY_JARS)])
    with open(base / "zookeeper.out", "wb") as out:
        server = subprocess.Popen([java, "-Xmx256m", "-XX:TieredStopAtLevel=1", "-cp", classpath,
                                   "org.apache.zookeeper.server.ZooKeeperServerMain", str(base / "zoo.cfg")],
                                  stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        hosts = f"127.0.0.1:{port}"
        wait_for(lambda: server.poll() is None and listening(port), 30, "ZooKeeper's TLS port")
        yield TlsZooKeeper(hosts, base)
    finally:
        server.terminate()
        server.wait(timeout=15)


def listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def tls_options(tls: TlsZooKeeper, ca: str = "ca", certificate: bool = True) -> ZooKeeperOptions:
    d = tls.certificates
    return ZooKeeperOptions(zk_tls_ca=str(d / f"{ca}.pem"), zk_tls_cert=str(d / "agent.pem") if certificate else "",
                            zk_tls_key=str(d / "agent.key") if certificate else "")


def test_agents_reach_an_ensemble_over_tls_with_the_same_acls(tls_zookeeper: TlsZooKeeper) -> None:
    paths = ClusterPaths("tls")
    zk = started(zk_access.connect(tls_zookeeper.hosts, 5.0, CREDENTIAL, tls_options(tls_zookeeper)))
    outsider = started(zk_access.connect(tls_zookeeper.hosts, 5.0, None, tls_options(tls_zookeeper)))
    try:
        zk_access.lock_down(zk, paths, CREDENTIAL)
        epoch, _ = take_epoch(zk, paths)
        cluster_state.set_licence(zk, paths, "mtoa", 2)
        cluster_state.publish_leader(zk, paths, LeaderInfo("rn1", "tcp://127.0.0.1:1", epoch), CREDENTIAL)
        assert zk_access.check_tree(zk, paths) == []
        # A client with a certificate the ensemble trusts, but without the cluster's credential.
        assert cluster_state.read_licences(outsider, paths) == {"mtoa": 2}
        with pytest.raises(NoAuthError):
            outsider.get(paths.epoch)
        with pytest.raises(NoAuthError):
            outsider.set(paths.leader, b"{}")
    finally:
        for client in (zk, outsider):
            client.stop()
            client.close()


@pytest.mark.parametrize(("ca", "certificate"), [("other-ca", True), ("ca", False)],
                         ids=["server-not-trusted", "no-client-certificate"])
def test_a_tls_ensemble_is_not_reached_without_the_right_certificates(tls_zookeeper: TlsZooKeeper, ca: str,
                                                                      certificate: bool) -> None:
    client = zk_access.connect(tls_zookeeper.hosts, 2.0, CREDENTIAL, tls_options(tls_zookeeper, ca, certificate))
    try:
        with pytest.raises(KazooTimeoutError):
            client.start(timeout=2)
    finally:
        client.stop()
        client.close()
