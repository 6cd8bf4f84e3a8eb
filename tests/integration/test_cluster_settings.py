"""Cluster settings through the leader (``SETTINGS``): licences, pools and keys reach ZooKeeper;
``keys init`` makes a new cluster's material on a real ZooKeeper."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import zmq
from kazoo.client import KazooClient
from kazoo.exceptions import NoAuthError

from puli_mesh import key_registry
from puli_mesh.access import Role
from puli_mesh.client import MeshRequestError
from puli_mesh.cluster_state import read_licences, read_pools
from puli_mesh.keys import load_agent_keys, load_client_key, load_key_pair
from puli_mesh.zk_access import connect, read_credential
from puli_mesh.zkpaths import ClusterPaths
from puli_mesh.zkserver import ZooKeeperServer

from .conftest import NODE_PEER_KEY, Mesh, wait_for


@pytest.fixture
def zk(mesh: Mesh) -> Iterator[KazooClient]:
    """A client with the cluster's credential: the registry is private to it."""
    client = mesh.zk_started()
    yield client
    client.stop()
    client.close()


def coordinator_licences(mesh: Mesh) -> dict[str, tuple[int, int]]:
    return {lic["name"]: (lic["used"], lic["total"])
            for lic in mesh.client_any().request("QUERY", what="licences", args={})}


def test_licences_and_pools_are_written_by_the_leader_and_reach_the_coordinator(mesh: Mesh, zk: KazooClient) -> None:
    mesh.start_agent("s1")
    mesh.start_agent("s2")
    mesh.wait_ready(2)
    follower = next(name for name in mesh.agents if name != mesh.leader())
    client = mesh.client(follower)  # redirected to the leader, which writes
    client.set_licence("nuke", 3)
    client.define_pool("gpu")
    paths = ClusterPaths(mesh.cluster)
    assert read_licences(zk, paths)["nuke"] == 3
    assert "gpu" in read_pools(zk, paths)
    wait_for(lambda: coordinator_licences(mesh).get("nuke") == (0, 3), 10, "the coordinator to know nuke")
    mesh.zk_client().set_licence("nuke", 5)  # found through ZooKeeper's leader znode
    wait_for(lambda: coordinator_licences(mesh).get("nuke") == (0, 5), 10, "the new total")
    wait_for(lambda: "gpu" in {p["name"] for p in client.request("QUERY", what="pools", args={})}, 10,
             "the coordinator to know pool gpu")

    with pytest.raises(MeshRequestError, match="total must be a whole number") as refused:
        client.request("SETTINGS", action="licence_set", args={"name": "nuke", "total": -2})
    assert refused.value.code == "invalid"
    with pytest.raises(MeshRequestError, match="not a settings action") as unknown:
        client.request("SETTINGS", action="wipe", args={})
    assert unknown.value.code == "invalid"
    assert read_licences(zk, paths)["nuke"] == 5


def test_keys_are_added_listed_and_revoked_through_the_leader(mesh: Mesh, zk: KazooClient) -> None:
    mesh.start_agent("k1")
    mesh.wait_ready(1)
    client = mesh.client()  # the test's admin key
    admin_public = zmq.curve_keypair()[0].decode()
    user_public = zmq.curve_keypair()[0].decode()
    added = client.add_key("root", "admin", admin_public)
    assert (added["name"], added["role"], added["revoked_at"]) == ("root", "admin", None)
    client.add_key("alice", "user", user_public)

    paths = ClusterPaths(mesh.cluster)
    records = key_registry.read_records(zk, paths)
    assert (records["root"].role, records["root"].public_key) == (Role.ADMIN, admin_public)
    assert (records["alice"].role, records["alice"].public_key) == (Role.USER, user_public)
    assert [k["name"] for k in client.list_keys()] == ["admin", "alice", NODE_PEER_KEY, "root", "test-host"]

    with pytest.raises(MeshRequestError, match="'alice' is registered already") as again:
        client.add_key("alice", "user", zmq.curve_keypair()[0].decode())
    assert again.value.code == "refused"
    with pytest.raises(MeshRequestError, match="registered already, as 'alice'"):
        client.add_key("bob", "user", user_public)

    revoked = client.revoke_key("alice")
    assert revoked["revoked_at"] is not None
    assert key_registry.read_records(zk, paths)["alice"].revoked
    client.revoke_key("root")
    with pytest.raises(MeshRequestError, match="last live admin key") as last:
        client.revoke_key("admin")
    assert last.value.code == "refused"
    with pytest.raises(MeshRequestError, match="no key is named 'nobody'") as unknown:
        client.revoke_key("nobody")
    assert unknown.value.code == "not_found"
    assert not key_registry.read_records(zk, paths)["admin"].revoked
    assert mesh.status() is not None  # the leader is as healthy as before


def puli_mesh(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("PULI_NODE", "PULI_ZK", "PULI_CLUSTER", "PULI_KEY")}
    return subprocess.run([sys.executable, "-m", "puli_mesh", *args], capture_output=True, text=True, timeout=60,
                          env={**clean, "COLUMNS": "200", **(env or {})})


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_keys_init_makes_the_material_registers_the_first_keys_and_refuses_a_second_init(
        zookeeper: ZooKeeperServer, zk_cluster: str, tmp_path: Path) -> None:
    directory = tmp_path / "keys"
    made = puli_mesh("keys", "init", "--dir", str(directory), "--zk", zookeeper.hosts, "--cluster", zk_cluster,
                     "--admin", "root", "--node-name", "rn01", "--json")
    assert made.returncode == 0, made.stderr
    report = json.loads(made.stdout)
    assert report["environment"] == {"agents": f"PULI_KEYS={directory}",
                                     "admin": f"PULI_KEY={directory / 'root.key_secret'}"}
    assert mode(directory) == 0o700
    assert {p.name: mode(p) for p in directory.iterdir()} == {
        "zookeeper": 0o600, "cluster.key": 0o644, "cluster.key_secret": 0o600, "agent.key": 0o644,
        "agent.key_secret": 0o600, "root.key": 0o644, "root.key_secret": 0o600}
    agent_keys = load_agent_keys(directory)  # what an agent started with --keys reads
    admin = load_client_key(directory / "root.key_secret")
    assert admin.server_key == agent_keys.cluster.public_key

    credential = read_credential(directory)
    zk = connect(zookeeper.hosts, 10.0, credential)
    zk.start(timeout=10)
    try:
        records = key_registry.read_records(zk, ClusterPaths(zk_cluster))
    finally:
        zk.stop()
        zk.close()
    assert {n: (r.role, r.public_key) for n, r in records.items()} == {
        "root": (Role.ADMIN, admin.public_key.decode()), "rn01": (Role.NODE, agent_keys.agent.public_key.decode())}
    anonymous = KazooClient(hosts=zookeeper.hosts)
    anonymous.start(timeout=10)
    try:
        with pytest.raises(NoAuthError):  # the cluster's base is locked: nobody else writes under it
            anonymous.create(f"{ClusterPaths(zk_cluster).base}/intruder", b"")
    finally:
        anonymous.stop()
        anonymous.close()

    again = puli_mesh("keys", "init", "--dir", str(tmp_path / "other"), "--zk", zookeeper.hosts,
                      "--cluster", zk_cluster)
    assert again.returncode == 1, again.stderr
    assert "has a key registry already" in again.stderr and "keys add" in again.stderr
    assert not (tmp_path / "other").exists()  # nothing written
    same_dir = puli_mesh("keys", "init", "--dir", str(directory), "--zk", zookeeper.hosts,
                         "--cluster", f"{zk_cluster}-b")
    assert same_dir.returncode == 2 and "already holds a cluster's material" in same_dir.stderr


def test_keys_add_list_revoke_from_the_cli_through_the_leader(mesh: Mesh, zk: KazooClient, tmp_path: Path) -> None:
    mesh.start_agent("c1")
    mesh.wait_ready(1)
    assert mesh.keys is not None
    cluster_public = load_key_pair(mesh.keys / "cluster.key").public_key
    where = ["--zk", mesh.zookeeper.hosts, "--cluster", mesh.cluster]
    env = {"PULI_KEY": os.environ["PULI_KEY"]}  # the mesh's admin
    added = puli_mesh("keys", "add", "ana", "--role", "user", "--out", str(tmp_path / "ana.key_secret"), *where,
                      env=env)
    assert added.returncode == 0, added.stderr
    ana = load_client_key(tmp_path / "ana.key_secret")
    assert ana.server_key == cluster_public and mode(tmp_path / "ana.key_secret") == 0o600
    records = key_registry.read_records(zk, ClusterPaths(mesh.cluster))
    assert records["ana"].public_key == ana.public_key.decode() and records["ana"].role is Role.USER
    # ana's new file is a working key: the leader knows her (as a user, who may not list keys)
    wait_for(lambda: mesh.handshakes(mesh.agents["c1"], ana), 10, "the agent to know ana's key")
    refused = puli_mesh("keys", "list", *where, env={"PULI_KEY": str(tmp_path / "ana.key_secret")})
    assert refused.returncode == 1 and "needs role admin" in refused.stderr and "(forbidden)" in refused.stderr

    listed = json.loads(puli_mesh("keys", "list", "--json", *where, env=env).stdout)
    assert [(k["name"], k["role"], k["revoked_at"]) for k in listed] == [
        ("admin", "admin", None), ("ana", "user", None), (NODE_PEER_KEY, "node", None), ("test-host", "node", None)]
    revoked = puli_mesh("keys", "revoke", "ana", *where, env=env)
    assert revoked.returncode == 0 and revoked.stdout.strip() == "key ana revoked"
    assert key_registry.read_records(zk, ClusterPaths(mesh.cluster))["ana"].revoked
    last = puli_mesh("keys", "revoke", "admin", *where, env=env)
    assert last.returncode == 1 and "last live admin key" in last.stderr and "(refused)" in last.stderr
    # A key made where it is used: only its public half reaches the admin and the registry.
    made = puli_mesh("keys", "new", str(tmp_path / "bob.key_secret"), "--cluster-key", str(mesh.keys / "cluster.key"),
                     "--json")
    assert made.returncode == 0, made.stderr
    public = json.loads(made.stdout)["public_key"]
    assert puli_mesh("keys", "add", "bob", "--role", "user", "--public-key", public, *where, env=env).returncode == 0
    bob = load_client_key(tmp_path / "bob.key_secret")
    wait_for(lambda: mesh.handshakes(mesh.agents["c1"], bob), 10, "the agent to know bob's own key")
