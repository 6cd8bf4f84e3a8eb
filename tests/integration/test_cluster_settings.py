"""Cluster settings through the leader (``SETTINGS``): licences, pools and keys reach ZooKeeper."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import zmq
from kazoo.client import KazooClient

from puli_mesh import key_registry
from puli_mesh.access import Role
from puli_mesh.client import MeshRequestError
from puli_mesh.cluster_state import read_licences, read_pools
from puli_mesh.zkpaths import ClusterPaths

from .conftest import Mesh, wait_for


@pytest.fixture
def zk(mesh: Mesh) -> Iterator[KazooClient]:
    client = KazooClient(hosts=mesh.zookeeper.hosts)
    client.start(timeout=10)
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
    client = mesh.client()
    admin_public = zmq.curve_keypair()[0].decode()
    user_public = zmq.curve_keypair()[0].decode()
    added = client.add_key("root", "admin", admin_public)
    assert (added["name"], added["role"], added["revoked_at"]) == ("root", "admin", None)
    client.add_key("alice", "user", user_public)

    paths = ClusterPaths(mesh.cluster)
    records = key_registry.read_records(zk, paths)
    assert {n: (r.role, r.public_key) for n, r in records.items()} == {
        "root": (Role.ADMIN, admin_public), "alice": (Role.USER, user_public)}
    assert [k["name"] for k in client.list_keys()] == ["alice", "root"]

    with pytest.raises(MeshRequestError, match="'alice' is registered already") as again:
        client.add_key("alice", "user", zmq.curve_keypair()[0].decode())
    assert again.value.code == "refused"
    with pytest.raises(MeshRequestError, match="registered already, as 'alice'"):
        client.add_key("bob", "user", user_public)

    revoked = client.revoke_key("alice")
    assert revoked["revoked_at"] is not None
    assert key_registry.read_records(zk, paths)["alice"].revoked
    with pytest.raises(MeshRequestError, match="last live admin key") as last:
        client.revoke_key("root")
    assert last.value.code == "refused"
    with pytest.raises(MeshRequestError, match="no key is named 'nobody'") as unknown:
        client.revoke_key("nobody")
    assert unknown.value.code == "not_found"
    assert not key_registry.read_records(zk, paths)["root"].revoked
    assert mesh.status() is not None  # the leader is as healthy as before

