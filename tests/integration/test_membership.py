"""An agent's member znode against a real ZooKeeper: what it writes, and how often."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kazoo.client import KazooClient

from puli_mesh import cluster_state, zk_access
from puli_mesh.node.membership import FIGURES_EVERY_S, Membership
from puli_mesh.zkpaths import ClusterPaths
from puli_mesh.zkserver import ZooKeeperServer


@pytest.fixture
def zk(zookeeper: ZooKeeperServer) -> Iterator[KazooClient]:
    client = zk_access.connect(zookeeper.hosts, 5.0, None)
    client.start(timeout=10)
    try:
        yield client
    finally:
        client.stop()
        client.close()


def test_the_member_data_is_written_when_it_changes_and_its_figures_once_a_minute(
        zk: KazooClient, zk_cluster: str) -> None:
    """At 2,000 agents a write each 10 s was 200 quorum writes a second, most of them a new
    load average: the figures wait a minute, anything else goes at once."""
    paths = ClusterPaths(zk_cluster)
    membership = Membership(zk, paths, "rn1", lambda _kind, _value: None)
    data = {"endpoint": "tcp://127.0.0.1:1", "accepting": True, "load": 0.5, "running": 0}
    membership.register(data, wait=1.0)

    def stored() -> tuple[dict[str, object], int]:
        raw, stat = zk.get(paths.node("rn1"))
        value = cluster_state.load(raw)
        assert isinstance(value, dict)
        return value, stat.version

    membership.update(data, now=100.0)  # the first write of this life
    _, version = stored()
    membership.update({**data, "load": 3.0, "running": 1}, now=110.0)  # figures only: not yet
    assert stored() == ({**data}, version)
    membership.update({**data, "load": 3.0, "accepting": False}, now=111.0)  # a real change: at once
    assert stored() == ({**data, "load": 3.0, "accepting": False}, version + 1)
    membership.update({**data, "load": 4.0, "accepting": False}, now=111.0 + FIGURES_EVERY_S)
    assert stored() == ({**data, "load": 4.0, "accepting": False}, version + 2)
    membership.close()
