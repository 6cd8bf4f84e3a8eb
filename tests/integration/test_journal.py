"""The journal on a real ZooKeeper: durability, fencing, chunking, retries, snapshots, recovery."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from kazoo.client import KazooClient

from puli_mesh.coordinator import journal as journal_mod
from puli_mesh.coordinator.core import SchedulingCore
from puli_mesh.coordinator.events import apply_event, info_record
from puli_mesh.coordinator.journal import JournalWriter, read_journal, take_epoch
from puli_mesh.coordinator.render_nodes import RenderNodeInfo
from puli_mesh.errors import FencedError
from puli_mesh.zkpaths import ClusterPaths
from puli_mesh.zkserver import ZooKeeperServer
from puliclient import Graph
from puliclient.status import CommandStatus


@pytest.fixture
def zk(zookeeper: ZooKeeperServer) -> Iterator[KazooClient]:
    client = KazooClient(hosts=zookeeper.hosts, timeout=5.0)
    client.start(timeout=5)
    yield client
    client.stop()
    client.close()


def write(writer: JournalWriter, number: int, first: int, records: list[Any]) -> Exception | None:
    done = threading.Event()
    outcome: list[Exception | None] = []

    def callback(exc: Exception | None) -> None:
        outcome.append(exc)
        done.set()

    writer.write_batch_async(number, first, records, callback)
    assert done.wait(10), "journal write did not complete"
    return outcome[0]


def test_batches_come_back_in_order(zk: KazooClient, zk_cluster: str) -> None:
    paths = ClusterPaths(zk_cluster)
    epoch, version = take_epoch(zk, paths)
    writer = JournalWriter(zk, paths, epoch, version)
    assert write(writer, 1, 1, [["pool", "a"], ["pool", "b"]]) is None
    assert write(writer, 2, 3, [["tick", 12.5]]) is None
    recovered = read_journal(zk, paths)
    assert recovered.snapshot is None
    assert recovered.records == [(1, ["pool", "a"]), (2, ["pool", "b"]), (3, ["tick", 12.5])]
    assert recovered.last_index == 3


def test_a_deposed_leader_cannot_write(zk: KazooClient, zk_cluster: str) -> None:
    paths = ClusterPaths(zk_cluster)
    old = JournalWriter(zk, paths, *take_epoch(zk, paths))
    new_epoch, new_version = take_epoch(zk, paths)
    new = JournalWriter(zk, paths, new_epoch, new_version)
    assert new_epoch == old.epoch + 1
    assert isinstance(write(old, 1, 1, [["pool", "late"]]), FencedError)
    assert write(new, 1, 1, [["pool", "fresh"]]) is None
    assert [r for _, r in read_journal(zk, paths).records] == [["pool", "fresh"]]
    assert old.write_snapshot({"x": 1}, 1, lambda: 1) is False


def test_big_batches_are_split_and_only_complete_ones_count(
    zk: KazooClient, zk_cluster: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(journal_mod, "MAX_PART_BYTES", 1000)
    paths = ClusterPaths(zk_cluster)
    writer = JournalWriter(zk, paths, *take_epoch(zk, paths))
    big = ["edit", "x", {"blob": os.urandom(5000)}, 1.0]  # does not compress: several parts
    assert write(writer, 1, 1, [big]) is None
    parts = zk.get_children(paths.journal)
    assert len(parts) > 1
    # A leader that died mid-batch leaves a partial batch: it is ignored.
    zk.delete(f"{paths.journal}/{sorted(parts, key=lambda p: p.rsplit('-', 1)[1])[-1]}")
    assert read_journal(zk, paths).records == []


def test_a_batch_stored_twice_is_replayed_once(zk: KazooClient, zk_cluster: str) -> None:
    paths = ClusterPaths(zk_cluster)
    writer = JournalWriter(zk, paths, *take_epoch(zk, paths))
    assert write(writer, 1, 1, [["pool", "a"]]) is None
    assert write(writer, 1, 1, [["pool", "a"]]) is None  # the retry after a lost reply
    assert write(writer, 2, 2, [["pool", "b"]]) is None
    assert [i for i, _ in read_journal(zk, paths).records] == [1, 2]


def _graph_rep(frames: int) -> dict[str, Any]:
    graph = Graph("journalled")
    graph.addNewTask("render", {"cmd": "true", "start": 1, "end": frames})
    return graph.prepareGraphRepresentation()


def test_snapshot_plus_tail_rebuilds_the_same_core(zk: KazooClient, zk_cluster: str) -> None:
    paths = ClusterPaths(zk_cluster)
    writer = JournalWriter(zk, paths, *take_epoch(zk, paths))
    live = SchedulingCore()
    records: list[Any] = [
        ["hello", info_record(RenderNodeInfo("rn1", slots=2)), [], 100.0],
        ["submit", _graph_rep(6), 100.5],
        ["ready", "rn1", 2, 101.0],
    ]
    for record in records:
        apply_event(live, record)
    assert write(writer, 1, 1, records) is None
    assert writer.write_snapshot(live.snapshot(), 3, lambda: 3)
    running = [c for c in live.render_nodes()[0]["running"]]
    tail = [["update", running[0], 1, 102.0, int(CommandStatus.DONE), 1.0, "ok", {}],
            ["ready", "rn1", 1, 102.0]]
    for record in tail:
        apply_event(live, record)
    assert write(writer, 2, 4, tail) is None

    recovered = read_journal(zk, paths)
    assert recovered.snapshot_index == 3
    assert [i for i, _ in recovered.records] == [4, 5]
    assert zk.get_children(paths.journal) and all(int(c.split("-")[2]) > 3 for c in zk.get_children(paths.journal))
    rebuilt = SchedulingCore.restore(recovered.snapshot or {})
    for _, record in recovered.records:
        apply_event(rebuilt, record)
    assert rebuilt.snapshot() == live.snapshot()
    # and the two make the same next decision
    now = time.time()
    assert rebuilt.request_work("rn1", 2, now) == live.request_work("rn1", 2, now)
