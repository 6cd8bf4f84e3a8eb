"""The durability pipeline's rules, with time as an argument: no journal, no sockets."""

from __future__ import annotations

import pytest

from puli_mesh.coordinator.durability import (
    GROUP_RECORDS,
    GROUP_WAIT_S,
    MAX_HELD_BYTES_PER_PEER,
    MAX_HELD_PER_PEER,
    MAX_INFLIGHT,
    MAX_UNDURABLE_RECORDS,
    QUIET_BATCH_RECORDS,
    RETRY_WRITE_S,
    DurabilityPipeline,
    Send,
    SendAcks,
    SendAssigns,
    SnapshotSchedule,
    read_back,
)

W1, W2 = b"w1", b"w2"


def busy(pipeline: DurabilityPipeline, now: float) -> None:
    """Make the pipeline busy: a batch of more than QUIET_BATCH_RECORDS just went and is acknowledged."""
    for i in range(QUIET_BATCH_RECORDS + 1):
        pipeline.add(("busy", i), now)
    batch = pipeline.cut(now)
    assert batch is not None
    pipeline.written(batch.number)


def test_records_are_numbered_from_the_next_index() -> None:
    pipeline = DurabilityPipeline(next_index=41)
    assert pipeline.durable_index == 40
    assert [pipeline.add(r, 0.0) for r in "abc"] == [41, 42, 43]
    batch = pipeline.cut(0.0)
    assert batch is not None and (batch.first, batch.last, batch.records) == (41, 43, ["a", "b", "c"])
    assert pipeline.next_index == 44 and pipeline.durable_index == 40
    pipeline.written(batch.number)
    assert pipeline.durable_index == 43 and pipeline.idle


def test_a_quiet_pipeline_writes_at_once() -> None:
    pipeline = DurabilityPipeline()
    assert pipeline.due_in(0.0) is None  # nothing waiting: no reason to wake
    pipeline.add("a", 0.0)
    assert pipeline.due_in(0.0) == 0.0
    first = pipeline.cut(0.0)
    assert first is not None
    pipeline.written(first.number)
    # Right after a small batch it is still quiet: the next record goes at once too.
    pipeline.add("b", 0.001)
    assert pipeline.due_in(0.001) == 0.0


def test_records_gather_while_a_batch_is_in_flight() -> None:
    pipeline = DurabilityPipeline()
    pipeline.add("a", 0.0)
    first = pipeline.cut(0.0)
    assert first is not None
    pipeline.add("b", 0.001)
    assert pipeline.due_in(0.001) == pytest.approx(GROUP_WAIT_S)
    assert pipeline.cut(0.001) is None
    assert pipeline.cut(0.001 + GROUP_WAIT_S) is not None  # the group wait is over


def test_a_busy_pipeline_gathers_up_to_the_group_wait() -> None:
    pipeline = DurabilityPipeline()
    busy(pipeline, 0.0)
    pipeline.add("a", 0.005)
    pipeline.add("b", 0.010)
    assert pipeline.due_in(0.010) == pytest.approx(GROUP_WAIT_S - 0.005)  # from the oldest record
    assert pipeline.cut(0.010) is None
    batch = pipeline.cut(0.005 + GROUP_WAIT_S)
    assert batch is not None and batch.records == ["a", "b"]


def test_a_busy_pipeline_writes_a_full_group_at_once() -> None:
    pipeline = DurabilityPipeline()
    busy(pipeline, 0.0)
    for i in range(GROUP_RECORDS - 1):
        pipeline.add(i, 0.001)
    assert pipeline.due_in(0.001) > 0
    pipeline.add("last", 0.001)
    assert pipeline.due_in(0.001) == 0.0
    batch = pipeline.cut(0.001)
    assert batch is not None and len(batch.records) == GROUP_RECORDS


def test_a_busy_pipeline_is_quiet_again_after_the_group_wait_without_writes() -> None:
    pipeline = DurabilityPipeline()
    busy(pipeline, 0.0)
    pipeline.add("late", GROUP_WAIT_S)
    assert pipeline.due_in(GROUP_WAIT_S) == 0.0


def test_a_small_last_batch_leaves_it_quiet_a_big_one_busy() -> None:
    quiet = DurabilityPipeline()
    for i in range(QUIET_BATCH_RECORDS):
        quiet.add(i, 0.0)
    batch = quiet.cut(0.0)
    assert batch is not None
    quiet.written(batch.number)
    quiet.add("next", 0.001)
    assert quiet.due_in(0.001) == 0.0

    loud = DurabilityPipeline()
    busy(loud, 0.0)
    loud.add("next", 0.001)
    assert loud.due_in(0.001) == pytest.approx(GROUP_WAIT_S)


def test_at_most_max_inflight_batches_are_written_at_once() -> None:
    pipeline = DurabilityPipeline(group_wait=0.0)
    numbers = []
    for i in range(MAX_INFLIGHT):
        pipeline.add(i, float(i))
        batch = pipeline.cut(float(i))
        assert batch is not None
        numbers.append(batch.number)
    pipeline.add("more", 10.0)
    assert pipeline.due_in(10.0) is None  # an acknowledgement must come first
    assert pipeline.cut(10.0) is None
    pipeline.written(numbers[0])
    batch = pipeline.cut(10.0)
    assert batch is not None and batch.records == ["more"]


def test_what_is_held_goes_at_once_when_everything_is_durable() -> None:
    pipeline = DurabilityPipeline()
    assert pipeline.hold(W1, b"welcome") == [Send(W1, b"welcome")]
    assert pipeline.hold_ack(W1, 7, 1, 3) == [SendAcks(W1, [[7, 1, 3]])]
    assert pipeline.hold_assign(W1, {"command_id": 7}) == [SendAssigns(W1, [{"command_id": 7}])]


def test_a_batch_releases_acks_first_then_each_peers_messages_in_order_assign_runs_grouped() -> None:
    pipeline = DurabilityPipeline()
    pipeline.add("update", 0.0)
    assert pipeline.hold_ack(W1, 1, 1, 1) == []
    assert pipeline.hold_assign(W1, {"command_id": 2}) == []
    assert pipeline.hold(W1, b"kill 1") == []
    assert pipeline.hold_assign(W2, {"command_id": 3}) == []
    assert pipeline.hold_assign(W1, {"command_id": 4}) == []
    assert pipeline.hold_assign(W1, {"command_id": 5}) == []
    assert pipeline.hold_ack(W1, 6, 1, 2) == []
    assert pipeline.hold_ack(W2, 8, 1, 1) == []
    batch = pipeline.cut(0.0)
    assert batch is not None
    assert pipeline.written(batch.number) == [
        SendAcks(W1, [[1, 1, 1], [6, 1, 2]]),  # one ACK per peer and batch
        SendAcks(W2, [[8, 1, 1]]),
        SendAssigns(W1, [{"command_id": 2}]),
        Send(W1, b"kill 1"),
        SendAssigns(W2, [{"command_id": 3}]),
        SendAssigns(W1, [{"command_id": 4}, {"command_id": 5}]),  # a run: one message
    ]


def test_held_after_a_cut_waits_for_the_batches_in_flight() -> None:
    pipeline = DurabilityPipeline()
    pipeline.add("a", 0.0)
    first = pipeline.cut(0.0)
    assert first is not None
    # No record since the cut, but a batch is in flight: an ACK waits for it.
    assert pipeline.hold_ack(W1, 1, 1, 1) == []
    assert pipeline.written(first.number) == [SendAcks(W1, [[1, 1, 1]])]


def test_held_after_a_cut_goes_with_the_next_batch_when_records_came() -> None:
    pipeline = DurabilityPipeline(group_wait=0.0)
    pipeline.add("a", 0.0)
    first = pipeline.cut(0.0)
    assert first is not None
    pipeline.add("b", 0.0)
    pipeline.hold(W1, b"after b")
    assert pipeline.written(first.number) == []  # "b" is not durable yet
    second = pipeline.cut(0.0)
    assert second is not None
    assert pipeline.written(second.number) == [Send(W1, b"after b")]


def test_out_of_order_acknowledgements_release_in_order() -> None:
    pipeline = DurabilityPipeline(group_wait=0.0)
    numbers = []
    for i in range(3):
        pipeline.add(i, 0.0)
        pipeline.hold(W1, f"after {i}".encode())
        batch = pipeline.cut(0.0)
        assert batch is not None
        numbers.append(batch.number)
    assert pipeline.written(numbers[2]) == []
    assert pipeline.durable_index == 0
    assert pipeline.written(numbers[1]) == []
    assert pipeline.written(numbers[0]) == [Send(W1, b"after 0"), Send(W1, b"after 1"), Send(W1, b"after 2")]
    assert pipeline.durable_index == 3 and pipeline.idle
    assert pipeline.written(numbers[0]) == []  # a second report (a retried batch) releases nothing


def test_a_failed_write_is_retried_after_the_delay_every_unacknowledged_batch_in_order() -> None:
    pipeline = DurabilityPipeline(group_wait=0.0)
    batches = []
    for i in range(3):
        pipeline.add(i, 0.0)
        batch = pipeline.cut(0.0)
        assert batch is not None
        batches.append(batch)
    pipeline.written(batches[0].number)
    assert pipeline.failed(batches[2].number, 1.0)
    assert pipeline.failed(batches[1].number, 1.2)  # the first failure set the delay
    pipeline.add("meanwhile", 1.2)
    assert pipeline.due_in(1.2) is None and pipeline.cut(1.2) is None  # nothing new while retrying
    assert pipeline.rewrites_due(1.0 + RETRY_WRITE_S - 0.01) == []
    assert [b.number for b in pipeline.rewrites_due(1.0 + RETRY_WRITE_S)] == [batches[1].number,
                                                                               batches[2].number]
    assert not pipeline.retry_pending
    assert pipeline.rewrites_due(10.0) == []  # once
    pipeline.written(batches[1].number)
    pipeline.written(batches[2].number)
    assert pipeline.durable_index == 3
    assert pipeline.cut(10.0) is not None  # the record that came meanwhile


def test_a_failure_report_of_an_unknown_batch_changes_nothing() -> None:
    pipeline = DurabilityPipeline()
    assert not pipeline.failed(99, 0.0)
    assert not pipeline.retry_pending


def test_a_fenced_write_stops_the_pipeline() -> None:
    pipeline = DurabilityPipeline()
    pipeline.add("a", 0.0)
    batch = pipeline.cut(0.0)
    assert batch is not None
    assert not pipeline.fence(batch.number + 1)  # not ours: stale
    assert pipeline.fence(batch.number)
    assert pipeline.fenced
    pipeline.add("b", 1.0)
    assert pipeline.due_in(1.0) is None and pipeline.cut(1.0) is None
    pipeline.failed(batch.number, 1.0)
    assert pipeline.rewrites_due(10.0) == []


def test_snapshots_every_n_records_or_t_seconds_never_two_at_once() -> None:
    schedule = SnapshotSchedule(every=100, interval=300.0, last_index=0, last_at=0.0)
    assert not schedule.due(0, 1000.0, writing=False)  # nothing new since the last one
    assert not schedule.due(99, 10.0, writing=False)
    assert schedule.due(100, 10.0, writing=False)
    assert not schedule.due(100, 10.0, writing=True)
    schedule.taken(100, 10.0)
    assert not schedule.due(101, 309.0, writing=False)
    assert schedule.due(101, 310.0, writing=False)  # the interval passed, one record came


def test_read_back_replays_contiguous_records_copies_and_overlaps_once() -> None:
    batches = [(1, ["a", "b"]), (1, ["a", "b"]), (3, ["c"]), (2, ["b", "c", "d"]), (5, ["e"])]
    read = read_back(0, batches, [])
    assert read.records == [(1, "a"), (2, "b"), (3, "c"), (4, "d"), (5, "e")]
    assert read.gap is None and read.dropped_tail == []
    assert read_back(3, batches, []).records == [(4, "d"), (5, "e")]  # after a snapshot at 3


def test_read_back_reports_a_missing_batch_between_stored_ones() -> None:
    read = read_back(0, [(1, ["a", "b"]), (5, ["e"])], [])
    assert read.gap == (3, 5) and read.records == [(1, "a"), (2, "b")]
    # an incomplete batch in the middle is a gap too: its records are not all there
    assert read_back(0, [(1, ["a"]), (3, ["c"])], [(2, 2)]).gap == (2, 3)
    assert read_back(2, [(5, ["e"])], []).gap == (3, 5)  # right after the snapshot


def test_read_back_drops_an_incomplete_last_batch_only() -> None:
    read = read_back(0, [(1, ["a", "b"])], [(3, 6), (1, 2)])  # (1, 2): a retry's broken copy
    assert read.records == [(1, "a"), (2, "b")] and read.gap is None
    assert read.dropped_tail == [(3, 6)]


def test_a_peer_with_too_much_held_is_busy_until_it_is_released() -> None:
    pipeline = DurabilityPipeline()
    pipeline.add("r", 0.0)
    for _ in range(MAX_HELD_PER_PEER - 1):
        pipeline.hold(W1, b"reply")
    assert pipeline.busy(W1) is None
    pipeline.hold(W1, b"reply")
    assert "256 replies (1280 bytes) already wait" in (pipeline.busy(W1) or "")
    assert pipeline.busy(W2) is None  # only that peer
    pipeline.hold(W2, b"x" * MAX_HELD_BYTES_PER_PEER)  # or bytes
    assert pipeline.busy(W2) is not None
    batch = pipeline.cut(0.0)
    assert batch is not None and pipeline.busy(W1) is not None  # cut, still held
    released = pipeline.written(batch.number)
    assert len(released) == MAX_HELD_PER_PEER + 1
    assert pipeline.busy(W1) is None and pipeline.busy(W2) is None


def test_every_peer_is_busy_while_the_journal_is_far_behind() -> None:
    pipeline = DurabilityPipeline()
    for _ in range(MAX_UNDURABLE_RECORDS):
        pipeline.add("r", 0.0)
    assert "the journal is 50000 records behind" in (pipeline.busy(W1) or "")
    batch = pipeline.cut(0.0)
    assert batch is not None
    pipeline.written(batch.number)
    assert pipeline.busy(W1) is None
