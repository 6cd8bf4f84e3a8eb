"""The service shell on an in-memory journal and router: no ZooKeeper, no sockets.

Its clocks are a fake the test moves, so every time rule runs in microseconds.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import zmq

from puli_mesh.coordinator import background_snapshot, durability
from puli_mesh.coordinator import service as service_mod
from puli_mesh.coordinator.core import SchedulingCore
from puli_mesh.coordinator.durability import RETRY_WRITE_S
from puli_mesh.coordinator.in_memory import InMemoryJournal, InMemoryRouter
from puli_mesh.coordinator.records import SubmitRecord, decode_record
from puli_mesh.coordinator.service import CoordinatorService
from puli_mesh.coordinator.worker_links import HEARTBEATS_PER_S, WorkerLink
from puli_mesh.errors import FencedError, ZooKeeperError
from puli_mesh.limits import DROPPED_STATS_KEY
from puli_mesh.protocol import (
    AckMessage,
    AssignMessage,
    AssignsMessage,
    ByeMessage,
    ClientRequest,
    EditMessage,
    ErrorCode,
    ErrorMessage,
    HeartbeatMessage,
    HelloMessage,
    KillfileMessage,
    QueryMessage,
    ReadyMessage,
    ReleaseMessage,
    ResultMessage,
    SubmitMessage,
    UpdateMessage,
    UpdatesMessage,
    WelcomeMessage,
    WorkerMessage,
    decode,
)
from puliclient.status import CommandStatus

from .graphs import single

W1 = b"w1"
DONE = int(CommandStatus.DONE)


@dataclass
class FakeTime:
    """Stands for the ``time`` module inside ``service``: both clocks move together."""

    now: float = 1000.0

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.now


@dataclass
class Shell:
    service: CoordinatorService
    router: InMemoryRouter
    journal: InMemoryJournal
    clock: FakeTime
    posted: list[tuple[int, Exception | None]] = field(default_factory=list)

    def acknowledge(self, number: int | None = None, exc: Exception | None = None) -> None:
        """Complete a pending write and hand its report to the service, as the agent's loop does."""
        self.journal.complete(number, exc)
        number_done, exc_done = self.posted.pop(0)
        self.service.on_written(number_done, exc_done)

    def say(self, msg: WorkerMessage, identity: bytes = W1) -> None:
        heard = decode(msg.encode())  # through the wire, as the agent hands it over
        assert isinstance(heard, WorkerMessage)
        self.service.on_worker_message(identity, heard)

    def ask(self, msg: ClientRequest, identity: bytes = b"client") -> None:
        heard = decode(msg.encode())
        assert isinstance(heard, ClientRequest)
        self.service.on_client_request(identity, heard)

    def hello(self, slots: int = 1, running: list[list[int]] | None = None, identity: bytes = W1) -> None:
        self.say(HelloMessage(name="w1", endpoint="tcp://w1:1", pools=["default"], cores=4, ram_mb=4096,
                              free_ram_mb=4096, slots=slots, characteristics={}, performance=1.0,
                              running=running or [], last_epoch=0, pipeline=0), identity)

    def heard(self) -> list[tuple[bytes, str]]:
        return [(identity, msg.kind) for identity, msg in self.router.take()]


def make_shell(monkeypatch: pytest.MonkeyPatch, **settings: Any) -> Shell:
    clock = FakeTime()
    monkeypatch.setattr(service_mod, "time", clock)
    router, journal = InMemoryRouter(), InMemoryJournal()
    posted: list[tuple[int, Exception | None]] = []

    def post(kind: str, payload: tuple[CoordinatorService, int, Exception | None]) -> None:
        assert kind == "journal_written"
        posted.append(payload[1:])

    service = CoordinatorService(router, SchedulingCore(), 3, heartbeat_interval=1.0, heartbeat_liveness=3,
                                 leader_name="leader", cluster="c", journal=journal, post=post, **settings)
    return Shell(service, router, journal, clock, posted)


@pytest.fixture
def shell(monkeypatch: pytest.MonkeyPatch) -> Iterator[Shell]:
    yield make_shell(monkeypatch)


def test_a_welcome_and_its_assignments_wait_until_their_records_are_durable(shell: Shell) -> None:
    service = shell.service
    service.run(SubmitRecord(single("t", 2), 1000.0))
    shell.hello(slots=2)
    shell.say(ReadyMessage(2))
    assert shell.heard() == []  # nothing before the journal has it
    service.flush()
    assert len(shell.journal.pending) == 1  # quiet: one batch at once, every record in it
    assert [decode_record(r).KIND for r in shell.journal.pending[0].records] == ["submit", "hello", "ready"]
    shell.acknowledge()
    assert shell.heard() == [(W1, "WELCOME"), (W1, "ASSIGNS")]
    assert service.durable_index == 3 and service.journal_idle
    assert service.assignments_sent == 2


def test_updates_are_acknowledged_once_durable_one_ack_per_batch(shell: Shell) -> None:
    service = shell.service
    service.run(SubmitRecord(single("t", 2), 1000.0))
    shell.hello(slots=2)
    shell.say(ReadyMessage(2))
    service.flush()
    shell.acknowledge()
    assigned = [a["command_id"] for _, m in shell.router.take() if isinstance(m, AssignsMessage) for a in m.assigns]
    updates = [{"command_id": cid, "attempt": 1, "seq": seq, "status": DONE, "completion": 1.0, "message": None,
                "stats": None} for seq, cid in enumerate(assigned, start=1)]
    shell.say(UpdatesMessage(updates, None))
    service.flush()
    assert shell.heard() == []
    shell.acknowledge()
    (ack,) = [m for _, m in shell.router.take()]
    assert isinstance(ack, AckMessage) and ack.acks == [[assigned[0], 1, 1], [assigned[1], 1, 2]]


def test_a_submit_is_answered_once_durable_a_query_at_once(shell: Shell) -> None:
    shell.ask(SubmitMessage("r1", single("t", 1)))
    shell.ask(QueryMessage("r2", "graphs", {}))
    (query,) = shell.router.take()
    assert isinstance(query[1], ResultMessage) and [g["name"] for g in query[1].data["items"]] == ["t"]
    shell.service.flush()
    shell.acknowledge()
    ((identity, reply),) = shell.router.take()
    assert identity == b"client" and reply.rid == "r1" and reply.data["url"] == "puli://leader/nodes/1"


def test_an_unknown_edit_is_refused_and_not_journalled(shell: Shell) -> None:
    shell.ask(EditMessage("r1", "explode", {}))
    ((_, reply),) = shell.router.take()
    assert (reply.kind, reply.code) == ("ERROR", "invalid") and "explode" in reply.message
    assert shell.service.next_index == 1


def test_a_refused_submit_is_answered_at_once_and_leaves_no_record(shell: Shell) -> None:
    shell.ask(SubmitMessage("r1", single("lost", 1, pool="nowhere")))
    shell.ask(SubmitMessage("r2", {"name": "broken", "tasks": "not a list"}))
    (_, unknown_pool), (_, malformed) = shell.router.take()  # at once: there is nothing to wait for
    assert (unknown_pool.kind, unknown_pool.code) == ("ERROR", "not_found") and "nowhere" in unknown_pool.message
    assert (malformed.kind, malformed.code) == ("ERROR", "invalid")
    assert shell.service.next_index == 1 and shell.journal.pending == []


def test_the_status_query_reads_the_shell_through_its_facts(shell: Shell) -> None:
    shell.hello()
    shell.service.flush()
    shell.acknowledge()
    shell.router.take()
    shell.service.requests.members_data = {"w1": {"endpoint": "tcp://w1:1", "cores": 4}}
    shell.ask(QueryMessage("r", "status", {}))
    ((_, reply),) = shell.router.take()
    status = reply.data
    assert status["epoch"] == 3 and status["journal"]["records"] == 1 and status["journal"]["durable"] == 1
    assert [(n["name"], n["state"]) for n in status["nodes"]] == [("w1", "idle")]
    shell.clock.now += 3.5  # silent past its heartbeat liveness
    shell.ask(QueryMessage("r", "status", {}))
    ((_, reply),) = shell.router.take()
    assert reply.data["nodes"][0]["state"] == "silent"


def test_a_failed_write_is_retried_after_the_delay(shell: Shell) -> None:
    service = shell.service
    shell.hello()
    service.flush()
    shell.acknowledge(exc=ZooKeeperError("connection lost"))
    assert shell.heard() == [] and shell.journal.writes == 1
    shell.clock.now += RETRY_WRITE_S / 2
    service.flush()
    assert shell.journal.writes == 1
    shell.clock.now += RETRY_WRITE_S / 2
    service.flush()
    assert shell.journal.writes == 2
    shell.acknowledge()
    assert shell.heard() == [(W1, "WELCOME")]


def test_a_write_that_cannot_start_is_retried_but_not_while_dispatching_is_off(shell: Shell) -> None:
    service = shell.service
    shell.journal.refuse_writes = ZooKeeperError("not connected")
    shell.hello()
    service.flush()
    assert shell.journal.writes == 0 and not service.journal_idle
    shell.journal.refuse_writes = None
    service.dispatching = False  # e.g. ZooKeeper suspended
    shell.clock.now += RETRY_WRITE_S
    service.flush()
    assert shell.journal.writes == 0
    service.dispatching = True
    service.flush()
    shell.acknowledge()
    assert shell.heard() == [(W1, "WELCOME")]


def test_a_fenced_write_makes_the_leader_step_down_and_releases_nothing(shell: Shell) -> None:
    service = shell.service
    shell.hello()
    service.flush()
    shell.acknowledge(exc=FencedError("epoch 3 was superseded"))
    assert service.fenced and not service.dispatching
    assert shell.heard() == []
    service.run(SubmitRecord(single("t", 1), 1000.0))
    assert service.flush_due_in() is None
    service.flush()
    assert shell.journal.writes == 1


def test_a_busy_leader_gathers_records_until_the_group_wait_ends(shell: Shell) -> None:
    service = shell.service
    for name in ("a", "b", "c", "d", "e"):
        service.set_pools([name])
    service.flush()
    assert service.flush_due_in() is None  # in flight: the acknowledgement wakes the loop
    service.set_pools(["f"])
    service.flush()
    assert shell.journal.writes == 1
    shell.acknowledge()  # a batch of 5 just went: busy, "f" waits for the group
    assert shell.journal.writes == 1
    due = service.flush_due_in()
    assert due is not None and due > 0
    shell.clock.now += due
    service.tick()
    assert shell.journal.writes == 2


def test_worker_messages_before_hello_are_answered_with_hello_first(shell: Shell) -> None:
    shell.say(ReadyMessage(1))
    ((_, reply),) = shell.router.take()
    assert (reply.kind, reply.code) == ("ERROR", "hello_first")


def test_the_leader_answers_heartbeats_on_silent_links_and_never_beats_by_itself(shell: Shell) -> None:
    shell.hello()
    shell.service.flush()
    shell.acknowledge()
    ((_, welcome),) = shell.router.take()
    assert isinstance(welcome, WelcomeMessage) and welcome.interval == 1.0
    for _ in range(5):  # an idle farm: the leader walks no link to beat it
        shell.clock.now += 1.0
        shell.service.tick()
    assert shell.heard() == []
    shell.say(HeartbeatMessage(3))
    ((_, beat),) = shell.router.take()
    assert isinstance(beat, HeartbeatMessage) and beat.interval == 1.0
    shell.clock.now += 0.2
    shell.say(HeartbeatMessage(3))  # it spoke on this link 0.2 s ago: the worker heard it then
    assert shell.heard() == []


def test_the_interval_told_grows_with_the_links_and_never_shrinks_while_leading(shell: Shell) -> None:
    service = shell.service
    for i in range(1200):
        service._link(WorkerLink(f"n{i}", f"n{i}#x".encode(), "", shell.clock.now))
    assert service.beat_interval == 1200 / HEARTBEATS_PER_S
    for i in range(1200):
        service._unlink(f"n{i}")
    assert service.beat_interval == 1200 / HEARTBEATS_PER_S
    shell.hello()
    service.flush()
    shell.acknowledge()
    ((_, welcome),) = shell.router.take()
    assert isinstance(welcome, WelcomeMessage) and welcome.interval == 1200 / HEARTBEATS_PER_S


def test_a_hello_said_again_while_its_welcome_waits_for_the_journal_is_not_run_again(shell: Shell) -> None:
    shell.hello()
    shell.hello()  # the worker's patience ran out before the journal wrote the first one
    shell.service.flush()
    assert len(shell.journal.pending) == 1 and len(shell.journal.pending[0].records) == 1
    shell.acknowledge()
    assert shell.heard() == [(W1, "WELCOME")]
    shell.hello()  # welcomed already: a HELLO again on this link is run (a reconciliation)
    shell.service.flush()
    assert len(shell.journal.pending) == 1


def test_a_node_gone_from_zookeeper_is_lost_after_the_grace_and_its_commands_requeued(
        monkeypatch: pytest.MonkeyPatch) -> None:
    shell = make_shell(monkeypatch, lost_grace=5.0)
    service = shell.service
    service.run(SubmitRecord(single("t", 1), 1000.0))
    shell.hello()
    shell.say(ReadyMessage(1))
    service.set_members({"w1"})
    service.flush()
    shell.acknowledge()
    assert service.core.command(1)["status"] == int(CommandStatus.ASSIGNED)
    service.set_members(set())
    shell.clock.now += 4.9
    service.tick()
    assert "w1" in service.links
    shell.clock.now += 0.2
    service.tick()
    assert "w1" not in service.links
    assert service.core.command(1)["status"] == int(CommandStatus.READY)


def test_snapshots_are_taken_every_n_records(monkeypatch: pytest.MonkeyPatch) -> None:
    shell = make_shell(monkeypatch, snapshot_every=2)
    service = shell.service
    service.set_pools(["a"])
    service.tick()
    assert shell.journal.snapshots == []
    service.set_pools(["b"])
    shell.clock.now += 1.0
    at_two = service.core.snapshot()
    service.tick()
    service.set_pools(["c"])  # the loop goes on while the snapshot is taken
    thread = service._snapshot_thread
    assert thread is not None
    thread.join(5)
    assert [index for index, _ in shell.journal.snapshots] == [2]
    assert shell.journal.snapshots[0][1] == at_two != service.core.snapshot()  # the state after record 2
    assert service.snapshots.last_index == 2 and service.last_snapshot_wall == shell.clock.now


def test_a_failing_snapshot_is_counted_waits_its_turn_and_dispatch_goes_on(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    shell = make_shell(monkeypatch, snapshot_every=2)
    service = shell.service
    attempts: list[int] = []
    start = background_snapshot.start

    def counted_start(core: SchedulingCore) -> background_snapshot.PendingSnapshot:
        attempts.append(1)
        return start(core)

    def broken_snapshot() -> dict[str, Any]:  # runs in the snapshot's own process
        raise RecursionError("maximum recursion depth exceeded")  # e.g. a graph nested too deep

    monkeypatch.setattr(background_snapshot, "start", counted_start)
    monkeypatch.setattr(service.core, "snapshot", broken_snapshot)
    service.set_pools(["a", "b"])
    shell.clock.now += 1.0
    service.tick()
    thread = service._snapshot_thread
    assert attempts == [1] and thread is not None
    thread.join(5)
    for _ in range(3):  # three ticks: the failure is counted once, the snapshot not tried again on each
        shell.clock.now += 1.0
        service.tick()
    assert attempts == [1] and service.faults.counts == {"snapshot": 1}
    assert "RecursionError: maximum recursion depth exceeded" in caplog.text
    assert shell.journal.snapshots == []
    service.run(SubmitRecord(single("t", 1), shell.clock.now))  # the leader still dispatches
    shell.hello()
    shell.say(ReadyMessage(1))
    service.flush()
    while shell.journal.pending:
        shell.acknowledge()
    assert shell.heard() == [(W1, "WELCOME"), (W1, "ASSIGN")]
    shell.ask(QueryMessage("r", "status", {}))
    ((_, reply),) = shell.router.take()
    assert reply.data["faults"] == {"snapshot": 1}


def test_progress_is_acknowledged_not_journalled_and_starts_no_timer(shell: Shell) -> None:
    service = shell.service
    service.run(SubmitRecord(single("now", 1), 1000.0))
    service.run(SubmitRecord(single("later", 1, timer=1100.0), 1000.0))
    shell.hello(slots=2)
    shell.say(ReadyMessage(2))  # "now" runs; "later" waits on its timer
    service.flush()
    while shell.journal.pending:
        shell.acknowledge()
    (assigned,) = [m.spec for _, m in shell.router.take() if isinstance(m, AssignMessage)]
    records = service.next_index
    shell.clock.now = 1200.0  # the timer has passed; only a journalled tick may start it
    shell.say(UpdateMessage(command_id=assigned.command_id, attempt=assigned.attempt, seq=1, status=None,
                            completion=0.5, message="half", stats=None))
    assert service.next_index == records  # nothing journalled
    assert service.core.tick_due(1200.0)
    assert shell.heard() == [(W1, "ACK")]
    assert service.core.command(assigned.command_id)["message"] == "half"  # shown


def test_a_hello_from_a_name_that_is_not_a_zookeeper_member_is_refused(shell: Shell) -> None:
    service = shell.service
    service.set_members({"w2"})
    shell.hello()  # w1 is not a member
    ((_, reply),) = shell.router.take()
    assert (reply.kind, reply.code) == ("ERROR", "not_member") and "'w1' is not a live member" in reply.message
    assert "w1" not in service.links and service.next_index == 1  # no link, nothing journalled
    service.set_members({"w1", "w2"})  # its member znode appears: the worker's next HELLO is welcome
    shell.hello()
    service.flush()
    shell.acknowledge()
    assert shell.heard() == [(W1, "WELCOME")]


def test_only_the_node_holding_an_attempt_may_report_on_it(shell: Shell) -> None:
    service = shell.service
    service.run(SubmitRecord(single("t", 1), 1000.0))
    shell.hello()
    shell.say(HelloMessage(name="w2", endpoint="tcp://w2:1", pools=["default"], cores=4, ram_mb=4096,
                           free_ram_mb=4096, slots=1, characteristics={}, performance=1.0, running=[],
                           last_epoch=0, pipeline=0), identity=b"w2")
    shell.say(ReadyMessage(1))  # w1 gets the command
    service.flush()
    while shell.journal.pending:
        shell.acknowledge()
    (assigned,) = [m.spec for i, m in shell.router.take() if i == W1 and isinstance(m, AssignMessage)]
    records = service.next_index
    # w2 knows the attempt token (it is no secret to a member) and reports the command DONE.
    shell.say(UpdateMessage(command_id=assigned.command_id, attempt=assigned.attempt, seq=1, status=DONE,
                            completion=1.0, message="not mine", stats=None), identity=b"w2")
    shell.say(ReleaseMessage(assigned.command_id, assigned.attempt, "any"), identity=b"w2")
    assert service.next_index == records  # nothing journalled, nothing acknowledged
    assert shell.heard() == []
    assert service.core.command(assigned.command_id)["status_name"] == "ASSIGNED"
    shell.say(UpdateMessage(command_id=assigned.command_id, attempt=assigned.attempt, seq=1, status=DONE,
                            completion=1.0, message=None, stats=None))  # the holder may
    assert service.core.command(assigned.command_id)["status_name"] == "DONE"
    service.flush()
    while shell.journal.pending:
        shell.acknowledge()
    shell.router.take()
    records = service.next_index
    # An attempt nobody holds now (this one ended; a made-up one): stale, whoever sends it. It is
    # acknowledged, so that a worker stops sending it again, and neither applied nor journalled.
    for attempt in (assigned.attempt, assigned.attempt + 5):
        shell.say(UpdateMessage(command_id=assigned.command_id, attempt=attempt, seq=2, status=int(
            CommandStatus.ERROR), completion=0.0, message="late", stats=None), identity=b"w2")
    service.flush()
    assert service.next_index == records and not shell.journal.pending
    assert [(to, m.kind) for to, m in shell.router.take()] == [(b"w2", "ACK")] * 2
    assert service.core.command(assigned.command_id)["status_name"] == "DONE"


def test_a_message_is_a_nodes_only_from_the_routing_id_its_hello_tied(shell: Shell) -> None:
    """Speaking with a node's name as routing id (what ROUTER_HANDOVER let anyone take over)
    is no longer speaking as that node: only the routing id of its accepted HELLO is."""
    service = shell.service
    service.run(SubmitRecord(single("t", 1), 1000.0))
    tied = b"w1#0123456789abcdef01234567"
    shell.hello(identity=tied)
    service.flush()
    shell.acknowledge()
    assert shell.heard() == [(tied, "WELCOME")]
    records = service.next_index
    shell.say(ReadyMessage(1), identity=b"w1")  # the node's name, not its routing id
    ((to, reply),) = shell.router.take()
    assert (to, reply.kind, reply.code) == (b"w1", "ERROR", "hello_first")
    assert service.next_index == records  # nothing journalled, nothing assigned
    shell.say(ReadyMessage(1), identity=tied)
    service.flush()
    shell.acknowledge()
    assert shell.heard() == [(tied, "ASSIGN")]


def test_a_restarted_worker_is_reconciled_by_its_hello_and_its_older_link_dropped(shell: Shell) -> None:
    service = shell.service
    service.run(SubmitRecord(single("t", 2), 1000.0))
    first, second = b"w1#first", b"w1#second"
    shell.hello(identity=first)
    shell.say(ReadyMessage(1), identity=first)
    service.flush()
    shell.acknowledge()
    (assigned,) = [m.spec for _, m in shell.router.take() if isinstance(m, AssignMessage)]
    shell.hello(identity=second)  # the first connection is open and heard from: not believed over it
    assert [(to, m.kind, getattr(m, "code", None)) for to, m in shell.router.take()] == [
        (first, "HEARTBEAT", None), (second, "ERROR", "linked")]
    assert service.core.command(assigned.command_id)["status_name"] == "ASSIGNED"
    shell.clock.now += service.heartbeat_interval * service.heartbeat_liveness + 0.1  # it fell silent
    shell.hello(identity=second)  # restarted: it runs nothing
    assert service.core.command(assigned.command_id)["status_name"] == "READY"  # lost, re-queued
    assert set(service.peers) == {second} and service.links["w1"].identity == second
    shell.say(ReadyMessage(1), identity=first)  # the dead connection's routing id is no one's
    assert [(to, m.kind) for to, m in shell.router.take()] == [(first, "ERROR")]
    shell.say(ReadyMessage(1), identity=second)
    service.flush()
    while shell.journal.pending:
        shell.acknowledge()
    assert shell.heard() == [(second, "WELCOME"), (second, "ASSIGN")]
    shell.say(ByeMessage(), identity=second)
    assert service.peers == {} and service.links == {}


def nested_list(depth: int) -> Any:
    value: Any = 0
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize("request_message", [
    # Keys the schema and the edit do not read, nested past what msgpack packs: neither check looks
    # at them. Handed over without the decoder (which bounds nesting), as an in-process caller would.
    SubmitMessage("deep", {**single("deep"), "junk": nested_list(1100)}),
    EditMessage("deep", "pause", {"id": 1, "junk": nested_list(1100)}),
])
def test_a_record_that_cannot_be_packed_is_refused_never_journalled_nor_retried(
        shell: Shell, request_message: ClientRequest) -> None:
    service = shell.service
    service.on_client_request(b"client", request_message)
    ((_, reply),) = shell.router.take()  # answered at once: nothing was journalled to wait for
    assert isinstance(reply, ErrorMessage) and reply.code == ErrorCode.INVALID
    assert "cannot be journalled" in reply.message
    assert service.next_index == 1 and service.journal_idle
    assert service.core.figures()["graphs"] == 0
    # What comes next becomes durable: the old code journalled the record, the in-memory journal
    # (like ZooKeeper's) could not pack its batch, and every write was retried for ever behind it.
    shell.ask(SubmitMessage("ok", single("ok")))
    service.flush()
    shell.acknowledge()
    assert not service.pipeline.retry_pending and service.durable_index == 1
    assert [msg.kind for _, msg in shell.router.take()] == ["RESULT"]


def test_a_report_above_the_limits_is_stored_cut_and_journalled_so(shell: Shell) -> None:
    service = shell.service
    service.run(SubmitRecord(single("t", 1), 1000.0))
    shell.hello()
    shell.say(ReadyMessage(1))
    service.flush()
    shell.acknowledge()
    ((_, assign),) = [(i, m) for i, m in shell.router.take() if isinstance(m, AssignMessage | AssignsMessage)]
    command_id = assign.spec.command_id if isinstance(assign, AssignMessage) else assign.assigns[0]["command_id"]
    limits = service.core.settings.graph_limits
    huge = {f"s{i}": i for i in range(limits.stats_items + 1)}
    shell.say(UpdateMessage(command_id, 1, 1, DONE, 1.0, "E" * 100_000, huge))
    stored = service.core.command(command_id)
    assert len(stored["message"]) == limits.message_length and "100000 characters" in stored["message"]
    assert list(stored["stats"]) == [DROPPED_STATS_KEY]
    service.flush()
    (batch,) = shell.journal.pending
    journalled = decode_record(batch.records[-1])
    assert len(journalled.message) == limits.message_length and list(journalled.stats) == [DROPPED_STATS_KEY]


class FullRouter(InMemoryRouter):
    """A router whose queue to some peers is full: a send to them fails at once, as a ROUTER's
    with ROUTER_MANDATORY and NOBLOCK does."""

    def __init__(self) -> None:
        super().__init__()
        self.full: set[bytes] = set()

    def send_multipart(self, msg_parts: Any, flags: int = 0, /) -> None:
        if msg_parts[0] in self.full:
            raise zmq.Again()
        super().send_multipart(msg_parts, flags)


def test_an_assign_that_cannot_be_sent_is_taken_back_when_the_worker_says_hello_again(
        monkeypatch: pytest.MonkeyPatch) -> None:
    shell = make_shell(monkeypatch)
    router = FullRouter()
    shell.router = shell.service.router = router
    service = shell.service
    service.run(SubmitRecord(single("t", 1), 1000.0))
    shell.hello()
    service.flush()
    shell.acknowledge()
    assert shell.heard() == [(W1, "WELCOME")]
    router.full.add(W1)
    shell.say(ReadyMessage(1))
    service.flush()
    shell.acknowledge()  # the ASSIGN is released, and its send fails: the worker never gets it
    assert shell.heard() == [] and "w1" not in service.links
    (cmd,) = service.core.commands()
    assert cmd["status_name"] == "ASSIGNED"  # what the core believes, until the worker says otherwise
    router.full.clear()
    shell.say(ReadyMessage(1))  # anything it says now: say HELLO first
    assert [(m.kind, getattr(m, "code", None)) for _, m in router.take()] == [("ERROR", "hello_first")]
    shell.hello(running=[])  # it runs nothing: the command it never got goes back to READY
    service.flush()
    shell.acknowledge()
    assert shell.heard() == [(W1, "WELCOME")]
    assert service.core.command(cmd["id"])["status_name"] == "READY"
    shell.say(ReadyMessage(1))
    service.flush()
    shell.acknowledge()
    assert shell.heard() == [(W1, "ASSIGN")]  # and it is given again


def test_a_peer_that_never_says_hello_leaves_nothing_behind(shell: Shell) -> None:
    service = shell.service
    for msg in (ReadyMessage(1), ReleaseMessage(1, 1, "mtoa")):
        shell.say(msg, identity=b"stranger")
    assert [(m.kind, getattr(m, "code", None)) for _, m in shell.router.take()] == [("ERROR", "hello_first")] * 2
    assert service.links == {} and service.next_index == 1 and service.core.render_nodes() == []


def test_a_client_with_too_many_replies_waiting_is_refused_before_anything_is_journalled(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(durability, "MAX_HELD_PER_PEER", 2)
    shell = make_shell(monkeypatch)
    service = shell.service
    for rid in ("r1", "r2", "r3"):
        shell.ask(SubmitMessage(rid, single("t", 1)))
    ((_, refused),) = shell.router.take()
    assert (refused.kind, refused.code, refused.rid) == ("ERROR", "busy", "r3")
    assert "2 replies" in refused.message and service.next_index == 3  # r3 was never journalled
    shell.ask(QueryMessage("q", "graphs", {}))  # a query is answered at once, busy or not
    assert [m.kind for _, m in shell.router.take()] == ["RESULT"]
    service.flush()
    shell.acknowledge()
    assert [m.rid for _, m in shell.router.take()] == ["r1", "r2"]
    shell.ask(SubmitMessage("r3", single("t", 1)))  # once they are answered, it is taken
    service.flush()
    shell.acknowledge()
    assert [(m.kind, m.rid) for _, m in shell.router.take()] == [("RESULT", "r3")]


class ClosedConnection:
    """A ROUTER (with ``ROUTER_MANDATORY``) on which one routing id's connection is closed."""

    def __init__(self, router: InMemoryRouter, closed: bytes) -> None:
        self.router, self.closed = router, closed

    def send_multipart(self, parts: Any, flags: int = 0, /) -> None:
        if parts[0] == self.closed:
            raise zmq.ZMQError(zmq.EHOSTUNREACH)
        self.router.send_multipart(parts, flags)


def test_a_restarted_workers_hello_is_taken_at_once_when_its_old_connection_is_closed(shell: Shell) -> None:
    service = shell.service
    first, second = b"w1#first", b"w1#second"
    shell.hello(identity=first)
    service.flush()
    shell.acknowledge()
    shell.router.take()
    service.router = ClosedConnection(shell.router, first)  # the old process is gone
    shell.hello(identity=second)
    assert set(service.peers) == {second} and service.links["w1"].identity == second


def test_a_new_leader_tells_its_first_workers_the_interval_of_the_whole_farm(shell: Shell) -> None:
    shell.service.set_members({"w1"} | {f"n{i}" for i in range(1999)})
    shell.hello()
    shell.service.flush()
    shell.acknowledge()
    ((_, welcome),) = shell.router.take()
    assert isinstance(welcome, WelcomeMessage) and welcome.interval == 2000 / HEARTBEATS_PER_S


def test_a_workers_free_ram_and_killfile_are_journalled_when_news_and_bad_ones_refused(shell: Shell) -> None:
    service = shell.service
    shell.hello()
    service.flush()
    shell.acknowledge()
    shell.router.take()
    shell.say(HeartbeatMessage(3, free_ram_mb=1000))
    shell.say(HeartbeatMessage(3, free_ram_mb=1000))  # the same: nothing new
    shell.say(HeartbeatMessage(3, free_ram_mb=-1))  # refused, logged
    shell.say(KillfileMessage("explode"))  # refused, logged
    shell.say(KillfileMessage("pause"))
    service.flush()
    (batch,) = shell.journal.pending
    assert [decode_record(r).KIND for r in batch.records] == ["free_ram", "killfile"]
    (node,) = service.core.render_nodes()
    assert node["free_ram_mb"] == 1000 and node["paused"] and node["killfile"]


class OfferedEvents:
    """Stands for the hook delivery thread: what the service offered it."""

    def __init__(self) -> None:
        self.offered: list[Any] = []

    def offer(self, events: list[Any]) -> None:
        self.offered += events


def test_a_hook_event_is_offered_only_once_its_record_is_durable(shell: Shell) -> None:
    service = shell.service
    delivery = OfferedEvents()
    service.hook_delivery = delivery  # type: ignore[assignment]  # an in-memory journal starts none
    service.run(SubmitRecord(single("t", 1), 1000.0))
    shell.hello(slots=1)
    shell.say(ReadyMessage(1))
    service.flush()
    while shell.journal.pending:
        shell.acknowledge()
    (assigned,) = [m.spec for i, m in shell.router.take() if i == W1 and isinstance(m, AssignMessage)]
    shell.say(UpdateMessage(command_id=assigned.command_id, attempt=assigned.attempt, seq=1, status=DONE,
                            completion=1.0, message=None, stats=None))
    shell.clock.now += 1.0
    service.tick()  # the job_done is journalled (written now), not yet durable
    assert delivery.offered == [] and shell.journal.pending
    while shell.journal.pending:
        shell.acknowledge()
    shell.clock.now += 1.0
    service.tick()
    assert [(e.kind, e.job_id) for e in delivery.offered] == [("job_done", 1)]
