"""The worker's own rules, fed real protocol frames and running real processes (no socket needed).

A worker without a coordinator socket keeps everything it would send; these
tests look at what it runs: never more than its slots, pipelined commands in
their order, orders from an older epoch refused.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import zmq

from puli_mesh.config import Settings
from puli_mesh.coordinator.render_nodes import RenderNodeInfo
from puli_mesh.limits import MAX_HEARTBEAT_INTERVAL_S
from puli_mesh.node.leader_link import fresh_routing_id
from puli_mesh.node.resources import FIGURES_EVERY_S
from puli_mesh.node.worker import Worker
from puli_mesh.protocol import (
    AckMessage,
    AssignMessage,
    AssignsMessage,
    CommandSpec,
    HeartbeatMessage,
    HelloMessage,
    KillfileMessage,
    KillfileOrder,
    KillMessage,
    Message,
    ReadyMessage,
    UpdateMessage,
    UpdatesMessage,
    WelcomeMessage,
    decode,
)
from puliclient.status import CommandStatus

from .running import ASSIGN_FIELDS


@pytest.fixture
def worker(tmp_path: Path) -> Iterator[Worker]:
    context: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    w = Worker(Settings(name="w1", slots=1, pipeline=2, log_dir=tmp_path / "logs"), context)
    try:
        yield w
    finally:
        w.kill_all("test over")
        deadline = time.monotonic() + 10
        while w.running and time.monotonic() < deadline:
            w.tick()
            time.sleep(0.01)
        context.term()


def assign(command_id: int, after: int = 0, epoch: int = 4, cmd: str = "sleep 0.3") -> bytes:
    fields: dict[str, Any] = {**ASSIGN_FIELDS, "command_id": command_id, "after": after,
                              "arguments": {"cmd": cmd}, "licences": []}
    return AssignMessage(epoch, CommandSpec.from_map(fields)).encode()


def until(worker: Worker, condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        for cid in list(worker.running):
            worker.on_report(cid)
        worker.tick()
        time.sleep(0.005)


def test_pipelined_commands_wait_for_their_predecessor_then_start_in_order(worker: Worker) -> None:
    worker.on_message(assign(1))
    worker.on_message(assign(2, after=1))
    worker.on_message(assign(3, after=2))
    assert list(worker.running) == [1] and [q.command_id for q in worker.queued] == [2, 3]
    assert worker.free_slots == 0  # 1 slot + 2 waiting places, all taken
    until(worker, lambda: 1 not in worker.running, "command 1 to end")
    assert list(worker.running) == [2] and [q.command_id for q in worker.queued] == [3]
    until(worker, lambda: list(worker.running) == [3], "command 3 to start after 2")
    assert worker.queued == []


def test_a_command_sent_ahead_of_one_that_already_ended_starts_at_once(worker: Worker) -> None:
    worker.on_message(assign(1, cmd="true"))
    until(worker, lambda: not worker.running, "command 1 to end")
    worker.on_message(assign(2, after=1))
    assert list(worker.running) == [2] and worker.queued == []


def test_killing_a_waiting_command_drops_it_without_touching_the_running_one(worker: Worker) -> None:
    worker.on_message(assign(1))
    worker.on_message(assign(2, after=1))
    worker.on_message(KillMessage(epoch=4, command_id=2, attempt=1, reason="canceled").encode())
    assert worker.queued == [] and list(worker.running) == [1]


def test_stopping_gives_back_what_has_not_started(worker: Worker) -> None:
    worker.on_message(assign(1))
    worker.on_message(assign(2, after=1))
    worker.stop_accepting()
    assert worker.queued == [] and list(worker.running) == [1]
    given_back = [p.update for p in worker.pending.values() if p.update.command_id == 2]
    assert given_back and given_back[0].status == 1  # READY: the coordinator re-queues it


def test_no_more_than_the_slots_run_even_if_the_coordinator_sends_too_much(worker: Worker) -> None:
    worker.on_message(assign(1))
    worker.on_message(assign(2))  # a second ASSIGN for the only slot: reported back, not run
    assert list(worker.running) == [1]
    refused = [p.update for p in worker.pending.values() if p.update.command_id == 2]
    assert refused and refused[0].status == 1


def test_orders_from_an_older_epoch_are_refused(worker: Worker) -> None:
    worker.on_message(HeartbeatMessage(epoch=5).encode())
    worker.on_message(assign(1, epoch=4))
    assert worker.running == {} and worker.max_epoch_seen == 5
    worker.on_message(assign(1, epoch=5))
    assert list(worker.running) == [1]


def test_one_ack_clears_every_update_it_lists_and_skips_a_malformed_entry(worker: Worker) -> None:
    for cid in (1, 2, 3):
        worker.on_message(assign(cid, after=cid - 1, cmd="true"))  # 1 runs, 2 and 3 wait behind
    until(worker, lambda: not worker.running and not worker.queued, "the three commands to end")
    finals = {key: p for key, p in worker.pending.items() if p.update.status is not None}
    assert sorted(cid for cid, _attempt, _seq in finals) == [1, 2, 3]  # held until acknowledged
    (k1, k2, k3) = sorted(finals)
    worker.on_message(AckMessage(epoch=4, acks=[list(k1), ["x", None], list(k3)]).encode())  # type: ignore[list-item]
    assert [key for key in worker.pending if worker.pending[key].update.status is not None] == [k2]


@contextmanager
def following_a_router(settings: Settings) -> Iterator[tuple[Worker, zmq.Socket[bytes]]]:
    """A worker with these settings following a real ROUTER (its HELLO is on the way)."""
    context: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    router = context.socket(zmq.ROUTER)
    port = router.bind_to_random_port("tcp://127.0.0.1")
    w = Worker(settings, context)
    try:
        w.follow(f"tcp://127.0.0.1:{port}", 4)
        yield w, router
    finally:
        w.close()
        router.close(linger=0)
        context.term()


@contextmanager
def welcomed_on_router(tmp_path: Path, pipeline: int) -> Iterator[tuple[Worker, zmq.Socket[bytes]]]:
    """A worker (1 slot) connected to a real ROUTER that has read its HELLO and welcomed it."""
    with following_a_router(Settings(name="w1", slots=1, pipeline=pipeline, log_dir=tmp_path / "logs")) as (w, router):
        assert router.poll(5000), "no HELLO"
        assert isinstance(decode(router.recv_multipart()[1]), HelloMessage)
        w.on_message(WelcomeMessage(epoch=4, keep=[], kill=[]).encode())
        yield w, router


def test_the_hello_says_what_the_coordinator_makes_of_this_node(tmp_path: Path) -> None:
    settings = Settings(name="w1", slots=3, pipeline=5, pools=["gpu"], log_dir=tmp_path / "logs")
    with following_a_router(settings) as (_, router):
        assert router.poll(5000), "no HELLO"
        identity, frame = router.recv_multipart()
        hello = decode(frame)
        assert isinstance(hello, HelloMessage) and identity.startswith(b"w1#") and hello.running == []
        info = RenderNodeInfo.from_hello(hello)
        assert (info.name, info.pools, info.slots, info.pipeline) == ("w1", ["gpu"], 3, 5)
        assert info.cores >= 1 and info.ram_mb > 0 and "os" in info.characteristics


def test_an_unacknowledged_result_is_sent_again_until_acknowledged(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Against a real ROUTER: the final UPDATE goes at once, again after RESEND_AFTER_S
    without an ACK, and never again once acknowledged."""
    from puli_mesh.node import worker as worker_mod

    monkeypatch.setattr(worker_mod, "RESEND_AFTER_S", 1.0)
    with welcomed_on_router(tmp_path, pipeline=0) as (w, router):
        def updates(within: float, first_only: bool = False) -> list[UpdateMessage]:
            got: list[UpdateMessage] = []
            deadline = time.monotonic() + within
            while time.monotonic() < deadline and not (first_only and got):
                for cid in list(w.running):
                    w.on_report(cid)
                w.tick()
                while router.poll(0):
                    msg = decode(router.recv_multipart()[1])
                    if isinstance(msg, UpdateMessage):
                        got.append(msg)
                time.sleep(0.01)
            return got

        w.on_message(assign(1, cmd="true"))
        first = updates(10.0, first_only=True)  # the end, as soon as the frame exits
        assert [(m.command_id, m.status) for m in first] == [(1, 5)]
        assert updates(0.3) == []  # not again before RESEND_AFTER_S
        again = updates(1.5)
        assert again and {m.seq for m in again} == {first[0].seq}  # the same update again
        w.on_message(AckMessage(epoch=4, acks=[[1, first[0].attempt, first[0].seq]]).encode())
        assert updates(1.5) == [] and w.pending == {}


def test_several_assignments_in_one_message_are_taken_in_order_a_bad_one_alone_refused(
        worker: Worker) -> None:
    def fields(command_id: int, after: int) -> dict[str, Any]:
        return {**ASSIGN_FIELDS, "command_id": command_id, "after": after, "arguments": {"cmd": "sleep 0.3"},
                "licences": []}

    bad = {**fields(3, 1), "cores": "four"}
    worker.on_message(AssignsMessage(epoch=4, assigns=[fields(1, 0), fields(2, 1), bad, "junk"]).encode())  # type: ignore[list-item]
    assert list(worker.running) == [1] and [q.command_id for q in worker.queued] == [2]
    worker.on_message(AssignsMessage(epoch=3, assigns=[fields(9, 0)]).encode())  # an older epoch
    assert 9 not in worker.running and all(q.command_id != 9 for q in worker.queued)


def test_updates_of_frames_ending_fast_are_gathered_one_after_a_quiet_spell_goes_at_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Against a real ROUTER: the first result goes alone and at once; the next ones, ending
    within the gathering time after it, go together as one UPDATES carrying the credit."""
    from puli_mesh.node import worker as worker_mod

    monkeypatch.setattr(worker_mod, "UPDATE_GATHER_S", 2.0)  # wide: the two `true` end well within it
    monkeypatch.setattr(worker_mod, "RESEND_AFTER_S", 30.0)
    with welcomed_on_router(tmp_path, pipeline=2) as (w, router):
        router.recv_multipart()  # its READY
        got: list[Message] = []

        def drive(until_count: int, within: float) -> None:
            deadline = time.monotonic() + within
            while time.monotonic() < deadline and len(got) < until_count:
                for cid in list(w.running):
                    w.on_report(cid)
                w.tick()
                while router.poll(0):
                    msg = decode(router.recv_multipart()[1])
                    if isinstance(msg, UpdateMessage | UpdatesMessage):  # not the HEARTBEATs
                        got.append(msg)
                time.sleep(0.005)

        w.on_message(assign(1, cmd="true"))
        drive(1, 10.0)
        assert [(type(m), m.command_id) for m in got if isinstance(m, UpdateMessage)] == [(UpdateMessage, 1)]
        assert len(got) == 1
        w.on_message(assign(2, cmd="true"))
        w.on_message(assign(3, after=2, cmd="true"))
        until(w, lambda: not w.running and not w.queued, "commands 2 and 3 to end")
        assert len(got) == 1 and w.outbox_due_in(time.monotonic()) is not None  # gathered, not sent yet
        drive(2, 10.0)
        gathered = got[1]
        assert isinstance(gathered, UpdatesMessage) and gathered.free_slots == w.free_slots == 3
        items = [UpdateMessage.from_map(u) for u in gathered.updates]
        assert [(u.command_id, u.status, u.free_slots) for u in items] == [(2, 5, None), (3, 5, None)]
        assert w.outbox_due_in(time.monotonic()) is None


def test_every_connection_has_a_fresh_unguessable_routing_id_zeromq_accepts() -> None:
    ids = {fresh_routing_id("rn1") for _ in range(100)}
    assert len(ids) == 100 and all(i.startswith(b"rn1#") and len(i) == len(b"rn1#") + 24 for i in ids)
    for name in ("", "\0rn", "é" * 300):  # ZeroMQ: 1 to 255 bytes, not starting with a zero byte
        routing_id = fresh_routing_id(name)
        assert 0 < len(routing_id) <= 255 and routing_id[0] != 0


def test_a_command_that_cannot_start_fails_and_frees_its_slot(
        worker: Worker, monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever the start raises (a MemoryError building a huge frame list was one), the command
    ends in ERROR with the reason, and its slot takes the next command: it is not held for ever."""
    from puli_mesh.node import worker as worker_mod

    real_start = worker_mod.start_execution

    def failing(spec: CommandSpec, *args: Any) -> Any:
        execution = real_start(spec, *args)
        if spec.command_id == 1:
            def refuse() -> None:
                raise MemoryError("frames")
            execution.start = refuse
        return execution

    monkeypatch.setattr(worker_mod, "start_execution", failing)
    worker.on_message(assign(1))
    assert worker.running == {}
    (final,) = [p.update for p in worker.pending.values() if p.update.command_id == 1]
    assert final.status == int(CommandStatus.ERROR) and final.message == "could not start: MemoryError: frames"
    worker.on_message(assign(2, cmd="true"))
    assert list(worker.running) == [2]


class Clock:
    """The worker's clock, moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


def heard(router: zmq.Socket[bytes]) -> list[tuple[bytes, Message]]:
    out = []
    while router.poll(200):
        identity, frame = router.recv_multipart()
        out.append((identity, decode(frame)))
    return out


@contextmanager
def worker_on_router(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                     ) -> Iterator[tuple[Worker, zmq.Socket[bytes], Clock]]:
    """A worker (1 s heartbeats, liveness 3) following a real ROUTER, on a clock moved by hand."""
    from puli_mesh.node import worker as worker_mod

    clock = Clock()
    monkeypatch.setattr(worker_mod, "time", clock)
    settings = Settings(name="w1", slots=1, heartbeat_interval=1.0, heartbeat_liveness=3, log_dir=tmp_path / "logs")
    with following_a_router(settings) as (w, router):
        yield w, router, clock


def test_until_welcomed_a_worker_says_hello_again_after_a_growing_jittered_wait(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A new leader meets every node's HELLO at once: saying it again every interval, or
    reconnecting because the busy leader is silent, only made the wave bigger."""
    with worker_on_router(tmp_path, monkeypatch) as (w, router, clock):
        ((identity, first),) = heard(router)
        assert isinstance(first, HelloMessage)
        waits = []
        for _ in range(3):
            started = clock.now
            while not router.poll(50):  # what a tick sent has time to arrive before the clock moves
                clock.now += 0.25
                w.tick()
                assert clock.now - started < 60, "no HELLO again"
            ((again_from, again),) = heard(router)
            assert isinstance(again, HelloMessage) and again_from == identity  # the same connection
            waits.append(clock.now - started)
        # liveness x interval = 3 s, doubling, each spread over the upper half of its wait
        assert 1.5 <= waits[0] <= 3.25 and 3.0 <= waits[1] <= 6.25 and 6.0 <= waits[2] <= 12.25


def test_a_welcomed_worker_heartbeats_only_when_silent_at_the_interval_its_leader_tells(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with worker_on_router(tmp_path, monkeypatch) as (w, router, clock):
        heard(router)  # its HELLO
        w.on_message(WelcomeMessage(epoch=4, keep=[], kill=[], interval=4.0).encode())
        assert w.beat_interval == 4.0
        assert [type(m) for _, m in heard(router)] == [ReadyMessage]
        for _ in range(3):
            clock.now += 1.3
            w.on_message(HeartbeatMessage(epoch=4).encode())  # the leader's own: no interval in it
            w.tick()
        assert heard(router) == [] and w.beat_interval == 4.0
        clock.now += 0.2  # 4.1 s since it said anything
        w.tick()
        assert [type(m) for _, m in heard(router)] == [HeartbeatMessage]
        w.on_message(HeartbeatMessage(epoch=4, interval=1e9).encode())
        assert w.beat_interval == MAX_HEARTBEAT_INTERVAL_S  # a leader's bug is bounded
        w.on_message(HeartbeatMessage(epoch=4, interval=0.01).encode())
        assert w.beat_interval == 1.0  # never shorter than its own setting


def test_free_ram_goes_on_a_heartbeat_when_it_moved_and_is_read_only_every_few_seconds(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from puli_mesh.node import worker as worker_mod

    free = [1000]
    reads = []
    monkeypatch.setattr(worker_mod, "read_free_ram_mb", lambda: reads.append(1) or free[0])
    with worker_on_router(tmp_path, monkeypatch) as (w, router, clock):
        heard(router)  # its HELLO
        w.free_ram.told(1000)
        w.on_message(WelcomeMessage(epoch=4, keep=[], kill=[], interval=1.0).encode())
        heard(router)  # its READY
        free[0] = 1100  # not news: under FREE_RAM_STEP_MB
        clock.now += FIGURES_EVERY_S + 0.1
        w.on_message(HeartbeatMessage(epoch=4).encode())
        w.tick()
        assert news(router) == [] and len(reads) == 1
        free[0] = 5000
        for _ in range(10):  # many turns, one read
            clock.now += 0.1
            w.on_message(HeartbeatMessage(epoch=4).encode())
            w.tick()
        assert news(router) == [] and len(reads) == 1
        clock.now += FIGURES_EVERY_S
        w.on_message(HeartbeatMessage(epoch=4).encode())
        w.tick()
        assert news(router) == [5000]


def test_the_load_goes_on_the_same_heartbeat_when_it_moved_a_step(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from puli_mesh.node import worker as worker_mod

    load = [1.0]
    monkeypatch.setattr(worker_mod, "read_free_ram_mb", lambda: 1000)
    monkeypatch.setattr(worker_mod, "read_load", lambda: load[0])
    with worker_on_router(tmp_path, monkeypatch) as (w, router, clock):
        heard(router)  # its HELLO
        w.free_ram.told(1000)
        w.load.told(1.0)
        w.on_message(WelcomeMessage(epoch=4, keep=[], kill=[], interval=1.0).encode())
        heard(router)  # its READY
        load[0] = 1.2  # not news: under LOAD_STEP
        clock.now += FIGURES_EVERY_S + 0.1
        w.on_message(HeartbeatMessage(epoch=4).encode())
        w.tick()
        assert figures(router) == []  # plain heartbeats only
        load[0] = 6.0
        clock.now += FIGURES_EVERY_S + 0.1
        w.on_message(HeartbeatMessage(epoch=4).encode())
        w.tick()
        assert figures(router) == [(6.0, None)]  # one message, the load only


def figures(router: zmq.Socket[bytes]) -> list[tuple[float | None, int | None]]:
    """(load, free RAM) of each heartbeat the worker sent with a figure."""
    return [(m.load, m.free_ram_mb) for _, m in heard(router)
            if isinstance(m, HeartbeatMessage) and (m.load is not None or m.free_ram_mb is not None)]


def news(router: zmq.Socket[bytes]) -> list[int]:
    """The free RAM figures the worker sent (plain heartbeats aside)."""
    return [m.free_ram_mb for _, m in heard(router) if isinstance(m, HeartbeatMessage) and m.free_ram_mb is not None]


def test_a_killfile_holds_the_worker_and_its_order_is_told_to_every_leader(worker: Worker, tmp_path: Path) -> None:
    worker.obey_killfile(KillfileOrder.PAUSE, KillfileOrder.PAUSE)
    assert worker.free_slots == 0
    worker.on_message(assign(1))  # an assignment sent before the leader knew: given back, not run
    assert worker.running == {} and [p.update.status for p in worker.pending.values()] == [CommandStatus.READY]
    worker.obey_killfile(KillfileOrder.OFF, KillfileOrder.OFF)
    assert worker.free_slots == 3
    with welcomed_on_router(tmp_path, pipeline=0) as (w, router):
        heard(router)
        w.obey_killfile(KillfileOrder.PAUSE, KillfileOrder.KILL)
        assert [m for _, m in heard(router)] == [KillfileMessage("kill")]
        w.on_message(WelcomeMessage(epoch=5, keep=[], kill=[]).encode())  # a new leader: told what stands
        assert [m for _, m in heard(router)] == [ReadyMessage(0), KillfileMessage("pause")]
