"""Pipelining: commands of short tasks sent ahead to wait behind a running one on its node."""

from __future__ import annotations

from puli_mesh.coordinator.core import CoreSettings, SchedulingCore
from puli_mesh.coordinator.decisions import Assign, Kill
from puliclient.status import CommandStatus
from tests.unit.coordinator.graphs import assigns, rn, single

DONE = int(CommandStatus.DONE)


def core_with(slots: int = 1, pipeline: int = 2, **settings: float) -> SchedulingCore:
    core = SchedulingCore(CoreSettings(**settings))  # type: ignore[arg-type]
    core.node_joined(rn("a", slots=slots, pipeline=pipeline), 0)
    return core


def end(core: SchedulingCore, a: Assign, now: float, status: int = DONE) -> list[object]:
    return core.command_update(a.command_id, a.attempt, now, status=status)


def warm_up(core: SchedulingCore, now: float = 0.0, duration: float = 0.1) -> float:
    """Run the task's first three commands one by one, each ``duration`` long: it is then short."""
    for _ in range(3):
        (a,) = assigns(core.request_work("a", 1, now))
        now += duration
        end(core, a, now)
    return now


def test_nothing_is_sent_ahead_before_the_task_has_shown_it_is_short() -> None:
    core = core_with()
    core.submit_graph(single("t", 10), 0)
    (first,) = assigns(core.request_work("a", 3, 0))  # credit for 3, but the task is unknown
    assert first.after == 0
    # The credit left takes the next command into the freed slot; one DONE is not
    # enough to send more ahead (pipeline_after_done is 3).
    after_end = assigns(end(core, first, 0.1)) + assigns(core.request_work("a", 3, 0.1))
    assert [a.after for a in after_end] == [0]


def test_a_short_task_fills_the_queue_behind_its_running_command_in_order() -> None:
    core = core_with()
    core.submit_graph(single("t", 10), 0)
    now = warm_up(core)
    slot, second, third = assigns(core.request_work("a", 3, now))
    assert (slot.after, second.after, third.after) == (0, slot.command_id, second.command_id)
    view = core.render_nodes()[0]
    assert view["running"] == [slot.command_id] and view["queued"] == [second.command_id, third.command_id]
    # What waits gets the slot's resources in its environment, not zero cores.
    assert second.cores == slot.cores and second.environment["PULI_ALLOCATED_CORES"] == str(slot.cores)
    assert assigns(core.request_work("a", 3, now)) == []  # the queue is full (pipeline 2 per slot)


def test_long_commands_are_never_sent_ahead() -> None:
    core = core_with()
    core.submit_graph(single("t", 10), 0)
    now = warm_up(core, duration=5.0)  # pipeline_below_s is 1 s
    assert [a.after for a in assigns(core.request_work("a", 3, now))] == [0]


def test_when_a_command_ends_the_one_behind_it_takes_its_slot_and_resources() -> None:
    core = core_with()
    core.submit_graph(single("t", 10), 0)
    now = warm_up(core)
    slot, second, third = assigns(core.request_work("a", 3, now))
    free_before = core.render_nodes()[0]["free_cores"]
    end(core, slot, now + 0.1)
    view = core.render_nodes()[0]
    assert view["running"] == [second.command_id] and view["queued"] == [third.command_id]
    assert view["free_cores"] == free_before  # the reservation moved, nothing leaked
    # The freed place in the queue is filled again when the worker asks.
    (fourth,) = assigns(core.request_work("a", 1, now + 0.1))
    assert fourth.after == third.command_id
    # Run time of a promoted command counts from the moment it got the slot.
    end(core, second, now + 0.3)
    assert core.graph_tree(1)["avg_time_per_frame_s"] < 0.2


def test_cancelling_a_waiting_command_closes_the_gap_and_kills_it_on_the_node() -> None:
    core = core_with()
    gid = core.submit_graph(single("t", 10), 0).graph_id
    now = warm_up(core)
    slot, second, third = assigns(core.request_work("a", 3, now))
    out = core.cancel_command(second.command_id, now)
    assert [d for d in out if isinstance(d, Kill)] == [Kill("a", second.command_id, second.attempt, "canceled")]
    view = core.render_nodes()[0]
    assert view["running"] == [slot.command_id] and view["queued"] == [third.command_id]
    end(core, slot, now + 0.1)
    assert core.render_nodes()[0]["running"] == [third.command_id]
    assert core.graph_tree(gid)["command_counts"]["CANCELED"] == 1


def test_a_lost_node_gives_back_what_waited_on_it_without_spending_attempts() -> None:
    core = core_with()
    gid = core.submit_graph(single("t", 10), 0).graph_id
    now = warm_up(core)
    held = assigns(core.request_work("a", 3, now))
    core.node_left("a", now)
    for a in held:
        cmd = core.command(a.command_id)
        assert cmd["status_name"] == "READY" and cmd["attempts"] == 0
    assert core.graph_tree(gid)["readyCommandCount"] == 7


def test_task_max_rn_counts_waiting_commands() -> None:
    core = core_with(pipeline=3)
    core.submit_graph(single("t", 10, maxRN=2), 0)
    now = warm_up(core)
    assert len(assigns(core.request_work("a", 4, now))) == 2  # 1 running + 1 waiting = maxRN


def test_licences_are_taken_by_waiting_commands_too() -> None:
    core = core_with(pipeline=3)
    core.set_licence("shave", 2, 0)
    core.submit_graph(single("t", 10, lic="shave"), 0)
    now = warm_up(core)
    assert len(assigns(core.request_work("a", 4, now))) == 2
    assert core.licences.stats()[0]["used"] == 2


def test_a_paused_task_gets_nothing_ahead() -> None:
    core = core_with()
    gid = core.submit_graph(single("t", 10), 0).graph_id
    now = warm_up(core)
    (slot,) = assigns(core.request_work("a", 1, now))
    core.pause(gid, now)
    assert assigns(core.request_work("a", 2, now)) == []


def test_snapshot_keeps_the_queues_and_the_same_decisions_follow() -> None:
    core = core_with(slots=2)
    core.submit_graph(single("t", 20), 0)
    now = warm_up(core)
    held = assigns(core.request_work("a", 6, now))
    assert sorted(a.after != 0 for a in held) == [False, False, True, True, True, True]
    twin = SchedulingCore.restore(core.snapshot(), core.settings)
    assert twin.render_nodes() == core.render_nodes()
    for c in (core, twin):
        end(c, held[0], now + 0.1)
    assert twin.render_nodes() == core.render_nodes()
    assert twin.request_work("a", 6, now + 0.1) == core.request_work("a", 6, now + 0.1)


def test_a_node_without_pipeline_never_gets_commands_ahead() -> None:
    core = core_with(pipeline=0)
    core.submit_graph(single("t", 10), 0)
    now = warm_up(core)
    assert [a.after for a in assigns(core.request_work("a", 3, now))] == [0]


def test_credit_beyond_the_free_slots_does_not_put_a_busy_node_first_in_line() -> None:
    core = SchedulingCore()
    core.node_joined(rn("a", slots=1, pipeline=2), 0)
    core.node_joined(rn("b", slots=1), 0)
    core.set_licence("one", 1, 0)
    core.submit_graph(single("t", 4, lic="one"), 0)
    (first,) = assigns(core.request_work("a", 3, 0))  # a asks for its slot and its queue
    assert assigns(core.request_work("b", 1, 0)) == []  # the only token is taken
    # a's command ends; b asked before a asks again: b gets the token and the next command
    (second,) = assigns(end(core, first, 1))
    assert second.node == "b"


def test_how_deep_a_node_is_filled_follows_the_task_s_run_time() -> None:
    """About pipeline_window_s (0.25 s) of work per slot, at most the node's pipeline."""
    for duration, depth in ((0.1, 2), (0.01, 8), (0.9, 1)):
        core = core_with(pipeline=8)
        core.submit_graph(single("t", 30), 0)
        now = warm_up(core, duration=duration)
        sent = assigns(core.request_work("a", 9, now))
        assert [a.after for a in sent][1:] == [a.command_id for a in sent][:-1]  # one chain
        assert len(sent) == 1 + depth, duration


def test_commands_sent_ahead_of_a_gpu_command_get_its_gpus_and_keep_them_booked() -> None:
    core = SchedulingCore()
    info = rn("a", slots=2, pipeline=2)
    info.gpus = ["0", "1"]
    core.node_joined(info, 0)
    core.submit_graph(single("t", 10, gpus=1, maxNbCores=1), 0)
    now = warm_up(core)
    got = assigns(core.request_work("a", 6, now))
    slots = [a for a in got if not a.after]
    assert sorted(a.gpus or () for a in slots) == [("0",), ("1",)]
    by_id = {a.command_id: a for a in got}
    for a in got:  # what waits behind a slot will use that slot's GPU
        root = a
        while root.after:
            root = by_id[root.after]
        assert a.gpus == root.gpus
    node = core._st.render_nodes["a"]
    first = slots[0]
    follower = next(a for a in got if a.after == first.command_id)
    end(core, first, now + 0.1)  # its follower takes the slot with its GPU: none is freed
    assert node.running[follower.command_id].gpus == first.gpus and node.free_gpus == []
