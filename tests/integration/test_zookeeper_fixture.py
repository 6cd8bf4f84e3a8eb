"""The ZooKeeper fixture starts a real server that answers and keeps data."""

from __future__ import annotations

from kazoo.client import KazooClient

from puli_mesh.zkserver import ZooKeeperServer


def test_zookeeper_answers_and_stores_data(zookeeper: ZooKeeperServer, zk_cluster: str) -> None:
    writer = KazooClient(hosts=zookeeper.hosts, timeout=5.0)
    reader = KazooClient(hosts=zookeeper.hosts, timeout=5.0)
    writer.start(timeout=5)
    reader.start(timeout=5)
    try:
        path = f"/{zk_cluster}/probe"
        writer.create(path, b"hello", makepath=True)
        data, stat = reader.get(path)
        assert data == b"hello"
        assert stat.version == 0
        # An ephemeral node disappears for others when its session closes.
        writer.create(f"/{zk_cluster}/eph", b"", ephemeral=True)
        writer.stop()
        assert reader.exists(f"/{zk_cluster}/eph") is None
    finally:
        writer.stop()
        reader.stop()
        writer.close()
        reader.close()
