"""Hook events derived from the core's state changes, kept through a snapshot, held until durable."""

from __future__ import annotations

from puli_mesh import hooks
from puli_mesh.coordinator.core import CoreSettings, SchedulingCore
from puli_mesh.coordinator.hook_events import EventGate, EventOutbox
from puliclient.status import CommandStatus
from tests.unit.coordinator.graphs import assigns, finish, rn, single

ERROR, DONE = CommandStatus.ERROR, CommandStatus.DONE


def kinds(core: SchedulingCore) -> list[str]:
    return [e.kind for e in core.hook_events.after(0)]


def test_a_job_done_is_one_event_with_the_job() -> None:
    core = SchedulingCore()
    core.node_joined(rn("a"), 0)
    gid = core.submit_graph(single("t", 2), 0).graph_id
    for now in (1, 5):
        (a,) = assigns(core.request_work("a", 1, now))
        finish(core, a, now)
    assert kinds(core) == ["job_done"]  # the job, once: not its first command's end
    (event,) = core.hook_events.after(0)
    assert (event.kind, event.job_id, event.user, event.status, event.time) == ("job_done", gid, "alice", "DONE", 5)
    doc = event.document("prod")
    assert doc["id"] == "prod:1" and doc["job"]["name"] == core.graphs()[0]["name"] and doc["command"] is None


def test_a_failure_with_a_retry_left_is_no_event_the_last_one_is_two() -> None:
    core = SchedulingCore(CoreSettings(retry_delay_s=10.0))
    core.node_joined(rn("a"), 0)
    core.submit_graph(single("t", 1, maxAttempt=2), 0)
    (a,) = assigns(core.request_work("a", 1, 0))
    finish(core, a, 1, status=ERROR)
    assert kinds(core) == []  # retried: neither the command nor the job failed for good
    assert core.request_work("a", 1, 2) == []  # credit, used once the retry is due
    (b,) = assigns(core.tick(11))
    finish(core, b, 12, status=ERROR)
    assert kinds(core) == ["command_failed", "job_error"]
    failed = core.hook_events.after(0)[0]
    assert (failed.command_id, failed.attempt, failed.node, failed.status) == (a.command_id, 2, "a", "ERROR")


def test_cancel_quarantine_and_a_lost_node_are_events() -> None:
    core = SchedulingCore(CoreSettings(quarantine_after=2))
    core.node_joined(rn("a"), 0)
    gid = core.submit_graph(single("t", 3), 0).graph_id
    for now in (1, 2):
        (a,) = assigns(core.request_work("a", 1, now))
        finish(core, a, now, status=ERROR)
    assert kinds(core) == ["command_failed", "node_quarantined", "command_failed"]  # the node, as its streak ends
    core.cancel(gid, 3)
    core.node_left("a", 4)
    assert kinds(core)[3:] == ["job_canceled", "node_lost"]
    assert core.hook_events.after(0)[-1].node == "a"


def test_the_outbox_survives_a_snapshot_with_its_sequence() -> None:
    core = SchedulingCore()
    core.node_joined(rn("a"), 0)
    core.submit_graph(single("t", 1), 0)
    (a,) = assigns(core.request_work("a", 1, 0))
    finish(core, a, 1, status=DONE)
    restored = SchedulingCore.restore(core.snapshot())
    assert restored.hook_events.after(0) == core.hook_events.after(0)
    restored.node_left("a", 2)
    assert restored.hook_events.after(1)[0].seq == 2
    old = core.snapshot()
    del old["hook_events"]  # a snapshot from before hooks
    assert SchedulingCore.restore(old).hook_events.after(0) == []


def test_the_outbox_is_bounded_by_age_and_count() -> None:
    outbox = EventOutbox()
    outbox.add("node_lost", 0.0, node="a")
    outbox.add("node_lost", hooks.GIVE_UP_S + 1, node="b")
    assert [e.node for e in outbox.events] == ["b"]
    for i in range(hooks.OUTBOX_MAX_EVENTS + 5):
        outbox.add("node_lost", hooks.GIVE_UP_S + 2, node=str(i))
    assert len(outbox.events) == hooks.OUTBOX_MAX_EVENTS and outbox.last_seq == hooks.OUTBOX_MAX_EVENTS + 7
    assert [e.seq for e in outbox.after(outbox.last_seq - 2)] == [outbox.last_seq - 1, outbox.last_seq]


def test_the_gate_holds_events_until_their_record_is_durable() -> None:
    outbox = EventOutbox()
    gate = EventGate(outbox.next_seq)
    outbox.add("node_lost", 1.0, node="a")
    gate.note(outbox, 7)
    outbox.add("node_lost", 2.0, node="b")
    outbox.add("node_lost", 2.0, node="c")
    gate.note(outbox, 9)
    gate.note(outbox, 10)  # nothing new: nothing held
    assert gate.durable(6) == []
    assert [e.node for e in gate.durable(8)] == ["a"]
    assert [e.node for e in gate.durable(100)] == ["b", "c"]
    assert not gate.held
