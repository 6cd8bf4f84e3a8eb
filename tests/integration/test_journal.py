"""The journal on a real ZooKeeper: durability, fencing, chunking, retries, snapshots, recovery."""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Iterator
from typing import Any

import msgpack
import pytest
import zmq
from kazoo.client import KazooClient

from puli_mesh.coordinator import journal as journal_mod
from puli_mesh.coordinator.core import SchedulingCore
from puli_mesh.coordinator.decisions import Assign, Kill
from puli_mesh.coordinator.durability import GROUP_RECORDS, QUIET_BATCH_RECORDS
from puli_mesh.coordinator.journal import JournalWriter, read_journal, take_epoch
from puli_mesh.coordinator.records import HelloRecord, PoolRecord, ReadyRecord, SubmitRecord, UpdateRecord, replay
from puli_mesh.coordinator.render_nodes import RenderNodeInfo
from puli_mesh.coordinator.service import CoordinatorService
from puli_mesh.coordinator.worker_links import WorkerLink
from puli_mesh.errors import FencedError, JournalDamagedError, JournalFormatError
from puli_mesh.protocol import AssignMessage, AssignsMessage, CommandSpec, KillMessage, decode
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
    assert old.write_snapshot(journal_mod.pack({"x": 1}), 1, lambda: 1) is False


def test_a_deposed_leaders_trim_deletes_nothing_its_successor_wrote(zk: KazooClient, zk_cluster: str) -> None:
    paths = ClusterPaths(zk_cluster)
    old = JournalWriter(zk, paths, *take_epoch(zk, paths))
    assert write(old, 1, 1, [["pool", "a"], ["pool", "b"]]) is None
    assert old.write_snapshot(journal_mod.pack({"x": 1}), 1, lambda: 2)
    new = JournalWriter(zk, paths, *take_epoch(zk, paths))
    assert write(new, 1, 3, [["pool", "c"]]) is None
    assert new.write_snapshot(journal_mod.pack({"x": 2}), 3, lambda: 3)  # the successor's snapshot, newer
    kept = sorted(zk.get_children(paths.snapshots))
    batches = sorted(zk.get_children(paths.journal))
    # The deposed leader's snapshot thread, slow, trims late, as if for a snapshot at record 2.
    assert old.trim(2, keep=f"{paths.snapshots}/s-{old.epoch:06d}-{2:012d}") == 0
    assert sorted(zk.get_children(paths.snapshots)) == kept
    assert sorted(zk.get_children(paths.journal)) == batches
    recovered = read_journal(zk, paths)
    assert recovered.snapshot == {"x": 2} and recovered.snapshot_index == 3


def test_a_trim_keeps_every_snapshot_at_or_past_its_own(zk: KazooClient, zk_cluster: str) -> None:
    paths = ClusterPaths(zk_cluster)
    writer = JournalWriter(zk, paths, *take_epoch(zk, paths))
    assert write(writer, 1, 1, [["pool", "a"], ["pool", "b"], ["pool", "c"]]) is None
    assert writer.write_snapshot(journal_mod.pack({"x": 1}), 1, lambda: 3)
    assert writer.write_snapshot(journal_mod.pack({"x": 3}), 3, lambda: 3)  # trims the one at 1
    assert zk.get_children(paths.snapshots) == [f"s-{writer.epoch:06d}-{3:012d}"]
    writer.trim(2, keep="none")  # a late trim for an older snapshot
    assert zk.get_children(paths.snapshots) == [f"s-{writer.epoch:06d}-{3:012d}"]


def test_a_missing_snapshot_part_is_a_loud_failure_not_an_empty_farm(zk: KazooClient, zk_cluster: str) -> None:
    paths = ClusterPaths(zk_cluster)
    writer = JournalWriter(zk, paths, *take_epoch(zk, paths))
    assert write(writer, 1, 1, [["pool", "a"]]) is None
    assert writer.write_snapshot(journal_mod.pack({"x": 1}), 1, lambda: 1)
    (snapshot_dir,) = zk.get_children(paths.snapshots)
    zk.delete(f"{paths.snapshots}/{snapshot_dir}/p-00000")
    with pytest.raises(JournalDamagedError, match="missing a part"):
        read_journal(zk, paths)


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


def test_a_missing_batch_between_stored_ones_is_a_loud_failure(zk: KazooClient, zk_cluster: str) -> None:
    """Records 3-4 are gone while 5-6 are stored: replaying 5-6 on a state without 3-4 would
    rebuild a wrong farm, so the candidate must not lead."""
    paths = ClusterPaths(zk_cluster)
    writer = JournalWriter(zk, paths, *take_epoch(zk, paths))
    assert write(writer, 1, 1, [["pool", "a"], ["pool", "b"]]) is None
    assert write(writer, 2, 3, [["pool", "c"], ["pool", "d"]]) is None
    assert write(writer, 3, 5, [["pool", "e"], ["pool", "f"]]) is None
    (middle,) = [c for c in zk.get_children(paths.journal) if c.startswith(f"b-{3:012d}-")]
    zk.delete(f"{paths.journal}/{middle}")
    with pytest.raises(JournalDamagedError, match="lacks records 3 to 4"):
        read_journal(zk, paths)


def test_an_incomplete_batch_is_dropped_at_the_tail_and_a_loud_failure_in_the_middle(
        zk: KazooClient, zk_cluster: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """A leader that died while writing its last batch left some of its parts: never acknowledged,
    it is dropped with a log line. The same batch with a complete one after it is a gap."""
    monkeypatch.setattr(journal_mod, "MAX_PART_BYTES", 1000)
    paths = ClusterPaths(zk_cluster)
    writer = JournalWriter(zk, paths, *take_epoch(zk, paths))
    assert write(writer, 1, 1, [["pool", "a"]]) is None
    big = ["edit", "x", {"blob": os.urandom(5000)}, 1.0]  # does not compress: several parts
    assert write(writer, 2, 2, [big]) is None
    parts = sorted((c for c in zk.get_children(paths.journal) if c.startswith(f"b-{2:012d}-")),
                   key=lambda p: p.rsplit("-", 1)[1])
    assert len(parts) > 1
    zk.delete(f"{paths.journal}/{parts[-1]}")
    with caplog.at_level("WARNING", logger=journal_mod.__name__):
        recovered = read_journal(zk, paths)
    assert recovered.records == [(1, ["pool", "a"])] and recovered.last_index == 1
    assert "incomplete last batch (records 2 to 2) dropped" in caplog.text
    assert write(writer, 3, 3, [["pool", "c"]]) is None  # as if the batch were lost mid-journal
    with pytest.raises(JournalDamagedError, match="lacks records 2 to 2"):
        read_journal(zk, paths)


def test_a_batch_stored_twice_is_replayed_once(zk: KazooClient, zk_cluster: str) -> None:
    paths = ClusterPaths(zk_cluster)
    writer = JournalWriter(zk, paths, *take_epoch(zk, paths))
    assert write(writer, 1, 1, [["pool", "a"]]) is None
    assert write(writer, 1, 1, [["pool", "a"]]) is None  # the retry after a lost reply
    assert write(writer, 2, 2, [["pool", "b"]]) is None
    assert [i for i, _ in read_journal(zk, paths).records] == [1, 2]


def test_a_batch_retried_after_a_later_one_was_stored_is_read_in_index_order(
        zk: KazooClient, zk_cluster: str) -> None:
    """Batches 1 and 2 in flight; 1 fails and is written again after 2 was stored: nothing of
    batch 1 may be lost at the next recovery (ZooKeeper's order puts it last)."""
    paths = ClusterPaths(zk_cluster)
    writer = JournalWriter(zk, paths, *take_epoch(zk, paths))
    assert write(writer, 2, 3, [["pool", "c"], ["pool", "d"]]) is None
    assert write(writer, 1, 1, [["pool", "a"], ["pool", "b"]]) is None  # the retry of batch 1
    recovered = read_journal(zk, paths)
    assert [(i, r[1]) for i, r in recovered.records] == [(1, "a"), (2, "b"), (3, "c"), (4, "d")]


def test_a_journal_of_a_newer_format_is_refused_naming_both(
        zk: KazooClient, zk_cluster: str, monkeypatch: pytest.MonkeyPatch) -> None:
    paths = ClusterPaths(zk_cluster)
    writer = JournalWriter(zk, paths, *take_epoch(zk, paths))
    current = journal_mod.FORMAT
    monkeypatch.setattr(journal_mod, "FORMAT", current + 1)  # as a newer version would write it
    assert write(writer, 1, 1, [["pool", "a"]]) is None
    monkeypatch.setattr(journal_mod, "FORMAT", current)
    readable = ", ".join(map(str, sorted(journal_mod.READABLE_FORMATS)))
    assert readable == f"1, 2, 3, {current}"
    with pytest.raises(JournalFormatError, match=f"format {current + 1}.*reads formats {readable}"):
        read_journal(zk, paths)


def test_a_journal_of_the_previous_format_is_read_as_it_was_written(
        zk: KazooClient, zk_cluster: str) -> None:
    """Format 1 batches had no format field and the same records: an upgraded cluster keeps its work."""
    paths = ClusterPaths(zk_cluster)
    take_epoch(zk, paths)
    zk.ensure_path(paths.journal)
    records = [["pool", "a"], ["licence", "mtoa", 2, 100.0]]
    blob = journal_mod.pack({"epoch": 1, "batch": 1, "first": 1, "records": records})  # no "format"
    zk.create(f"{paths.journal}/b-{1:012d}-{2:012d}-",
              msgpack.packb({"e": 1, "b": 1, "p": 0, "n": 1, "d": blob}), sequence=True)
    recovered = read_journal(zk, paths)
    assert recovered.records == [(1, records[0]), (2, records[1])]
    core = SchedulingCore()
    assert replay(core, recovered.records) == 0
    assert "a" in {pool["name"] for pool in core.pools()}
    assert {lic["name"]: lic["total"] for lic in core.licences.stats()} == {"mtoa": 2}


def _graph_rep(frames: int) -> dict[str, Any]:
    graph = Graph("journalled")
    graph.addNewTask("render", {"cmd": "true", "start": 1, "end": frames})
    return graph.prepareGraphRepresentation()


def test_snapshot_plus_tail_rebuilds_the_same_core(zk: KazooClient, zk_cluster: str) -> None:
    paths = ClusterPaths(zk_cluster)
    writer = JournalWriter(zk, paths, *take_epoch(zk, paths))
    live = SchedulingCore()
    records = [HelloRecord(RenderNodeInfo("rn1", slots=2), (), 100.0), SubmitRecord(_graph_rep(6), 100.5),
               ReadyRecord("rn1", 2, 101.0)]
    for record in records:
        record.apply(live)
    assert write(writer, 1, 1, [r.to_data() for r in records]) is None
    assert writer.write_snapshot(journal_mod.pack(live.snapshot()), 3, lambda: 3)
    running = [c for c in live.render_nodes()[0]["running"]]
    tail = [UpdateRecord(running[0], 1, 102.0, int(CommandStatus.DONE), 1.0, "ok", {}), ReadyRecord("rn1", 1, 102.0)]
    for record in tail:
        record.apply(live)
    assert write(writer, 2, 4, [r.to_data() for r in tail]) is None

    recovered = read_journal(zk, paths)
    assert recovered.snapshot_index == 3
    assert [i for i, _ in recovered.records] == [4, 5]
    assert zk.get_children(paths.journal) and all(int(c.split("-")[2]) > 3 for c in zk.get_children(paths.journal))
    rebuilt = SchedulingCore.restore(recovered.snapshot or {})
    assert replay(rebuilt, recovered.records) == 0
    assert rebuilt.snapshot() == live.snapshot()
    # and the two make the same next decision
    now = time.time()
    assert rebuilt.request_work("rn1", 2, now) == live.request_work("rn1", 2, now)


class _ServiceOnZooKeeper:
    """A coordinator service writing a real journal; its kazoo callbacks come back through a queue."""

    def __init__(self, zk: KazooClient, cluster: str, group_wait: float) -> None:
        self.paths = ClusterPaths(cluster)
        epoch, version = take_epoch(zk, self.paths)
        self.context = zmq.Context()
        self.router = self.context.socket(zmq.ROUTER)
        self.router.bind("tcp://127.0.0.1:*")
        self.written: queue.Queue[tuple[int, Exception | None]] = queue.Queue()

        def post(kind: str, payload: Any) -> None:
            assert kind == "journal_written"
            self.written.put(payload[1:])

        self.service = CoordinatorService(
            self.router, SchedulingCore(), epoch, heartbeat_interval=1.0, heartbeat_liveness=3,
            leader_name="rn1", cluster=cluster, journal=JournalWriter(zk, self.paths, epoch, version),
            post=post, group_wait=group_wait)

    def acknowledge(self) -> None:
        """Wait for the next batch's acknowledgement and hand it to the service, as the agent does."""
        number, exc = self.written.get(timeout=10)
        self.service.on_written(number, exc)

    def close(self) -> None:
        self.router.close(linger=0)
        self.context.term()


def test_a_busy_leader_gathers_records_in_one_batch_a_quiet_one_writes_at_once(
        zk: KazooClient, zk_cluster: str) -> None:
    mesh = _ServiceOnZooKeeper(zk, zk_cluster, group_wait=60.0)  # time never decides here
    service = mesh.service
    try:
        service.run(PoolRecord("p0"))
        assert service.flush_due_in() == 0.0  # idle: the first record does not wait
        service.flush()
        mesh.acknowledge()
        assert service.durable_index == 1
        # A write just happened, but a small one: still quiet, the next record goes at once.
        service.run(PoolRecord("p1"))
        assert service.flush_due_in() == 0.0
        service.flush()
        # While it is in flight, records gather ...
        for i in range(2, 2 + QUIET_BATCH_RECORDS + 1):
            service.run(PoolRecord(f"p{i}"))
            service.flush()
        assert service.journal_batches == 2
        mesh.acknowledge()  # ... and go as one batch once it is acknowledged (the last one was small)
        assert service.journal_batches == 3
        mesh.acknowledge()
        first_busy = service.next_index
        # Busy (a batch of more than QUIET_BATCH_RECORDS just went): records gather.
        for i in range(1, GROUP_RECORDS):
            service.run(PoolRecord(f"q{i}"))
            service.flush()
        due = service.flush_due_in()
        assert due is not None and due > 50
        assert service.journal_batches == 3
        service.run(PoolRecord("last"))  # the group is full: written at once, as one batch
        service.flush()
        mesh.acknowledge()
        assert service.journal_batches == 4 and service.durable_index == first_busy + GROUP_RECORDS - 1
        assert service.flush_due_in() is None  # nothing gathered: the loop need not wake for it
        recovered = read_journal(zk, mesh.paths)
        assert [r[0] for r in recovered.records] == list(range(1, service.durable_index + 1))
        names = sorted(zk.get_children(mesh.paths.journal))
        assert len(names) == 4 and names[3].startswith(f"b-{first_busy:012d}-{first_busy + GROUP_RECORDS - 1:012d}-")
    finally:
        mesh.close()


def test_gathered_records_are_written_when_the_group_wait_ends(zk: KazooClient, zk_cluster: str) -> None:
    mesh = _ServiceOnZooKeeper(zk, zk_cluster, group_wait=0.2)
    service = mesh.service
    try:
        service.run(PoolRecord("a"))
        service.flush()
        service.run(PoolRecord("b"))  # right after a write: waits for more
        service.flush()
        assert service.journal_batches == 1
        deadline = time.monotonic() + 10
        while service.journal_batches < 2 and time.monotonic() < deadline:
            due = service.flush_due_in()
            assert due is not None and due <= 0.2
            time.sleep(due)  # what the agent's poll timeout does
            service.flush()
        assert service.journal_batches == 2
        mesh.acknowledge()
        mesh.acknowledge()
        assert service.durable_index == 2
    finally:
        mesh.close()


def test_what_a_batch_releases_to_a_worker_keeps_its_order_runs_of_assigns_in_one_message(
        zk: KazooClient, zk_cluster: str) -> None:
    mesh = _ServiceOnZooKeeper(zk, zk_cluster, group_wait=60.0)
    service = mesh.service
    dealer = mesh.context.socket(zmq.DEALER)
    dealer.setsockopt(zmq.IDENTITY, b"w1")
    dealer.connect(mesh.router.getsockopt(zmq.LAST_ENDPOINT).decode())
    try:
        service.links["w1"] = WorkerLink("w1", b"w1", "", time.monotonic())

        def assign(cid: int) -> Assign:
            return Assign(cid, 1, "puliclient.jobs.DefaultCommandRunner", {"cmd": "true"}, {}, None, (),
                          1, 0, 7, "t", 1, "u", f"t_{cid}_{cid}", 0, node="w1")

        service.run(PoolRecord("p"))  # a record not yet durable: what follows is held
        service.carry_out([assign(1), Kill("w1", 1, 1, "canceled"), assign(2), assign(3)])
        assert not dealer.poll(200), "sent before the record was durable"
        service.flush()
        mesh.acknowledge()
        got = []
        while dealer.poll(2000) and len(got) < 3:
            got.append(decode(dealer.recv()))
        assert [type(m) for m in got] == [AssignMessage, KillMessage, AssignsMessage]
        assert isinstance(got[0], AssignMessage) and got[0].spec.command_id == 1
        assert isinstance(got[2], AssignsMessage)
        assert [CommandSpec.from_map(a).command_id for a in got[2].assigns] == [2, 3]
        assert service.assignments_sent == 3
    finally:
        dealer.close(linger=0)
        mesh.close()
