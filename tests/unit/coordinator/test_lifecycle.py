"""Command lifecycle and edits: retries, lost nodes, quarantine, stale updates, pause,
cancel, restart, priority/maxRN/pool edits, archive, time per frame, errors."""

from __future__ import annotations

import pytest

from puli_mesh.coordinator.core import CoreSettings, SchedulingCore
from puli_mesh.coordinator.decisions import Kill
from puli_mesh.errors import IllegalTransitionError, UnknownIdError, UnknownPoolError
from puliclient.status import CommandStatus
from tests.unit.coordinator.graphs import (
    DEEP,
    assigns,
    finish,
    graph,
    group,
    nested,
    rn,
    single,
    submit_unchecked,
    task,
    view_nodes,
    whole_tree,
)

ERROR, DONE = CommandStatus.ERROR, CommandStatus.DONE


def kills(decisions):
    return [d for d in decisions if isinstance(d, Kill)]


def test_full_lifecycle_and_completion():
    core = SchedulingCore()
    core.node_joined(rn("a"), 0)
    r = core.submit_graph(single("t", 1), 0)
    (a,) = assigns(core.request_work("a", 1, 0))
    assert core.command(a.command_id)["status_name"] == "ASSIGNED"
    core.command_started(a.command_id, a.attempt, 1)
    core.command_update(a.command_id, a.attempt, 2, completion=0.5, message="half")
    c = core.command(a.command_id)
    assert c["status_name"] == "RUNNING" and c["completion"] == 0.5 and c["message"] == "half"
    assert core.graphs()[0]["status_name"] == "RUNNING"
    core.command_update(a.command_id, a.attempt, 3, status=CommandStatus.FINISHING)
    core.command_update(a.command_id, a.attempt, 4, status=DONE)
    c = core.command(a.command_id)
    assert c["status_name"] == "DONE" and c["completion"] == 1.0 and c["attempts"] == 1
    g = core.graph_tree(r.graph_id)
    assert g["status_name"] == "DONE" and g["completion"] == 1.0 and g["end_time"] == 4


def test_a_command_whose_start_was_never_reported_started_when_it_was_assigned():
    """A short command's worker may report only its end: its times must still say when it ran
    (Puli's startTime; ``jobs --started-after`` filters on it)."""
    core = SchedulingCore()
    core.node_joined(rn("a"), 0)
    core.submit_graph(single("t", 1), 0)
    (a,) = assigns(core.request_work("a", 1, 5))
    core.command_update(a.command_id, a.attempt, 6, status=DONE)
    c = core.command(a.command_id)
    assert (c["status_name"], c["start_time"], c["end_time"]) == ("DONE", 5, 6)


def test_retry_after_the_delay_up_to_max_attempt():
    core = SchedulingCore(CoreSettings(retry_delay_s=20.0))
    core.node_joined(rn("a"), 0)
    core.submit_graph(single("t", 1, maxAttempt=2), 0)
    (a,) = assigns(core.request_work("a", 1, 0))
    finish(core, a, 10, status=ERROR)
    assert core.graphs()[0]["status_name"] == "READY"  # a retry is pending
    assert core.request_work("a", 1, 11) == []
    assert core.tick(29) == []
    (b,) = assigns(core.tick(30))
    assert b.command_id == a.command_id and b.attempt == a.attempt + 1
    finish(core, b, 40, status=ERROR)
    assert core.request_work("a", 1, 41) == []
    assert core.tick(100) == []
    assert core.command(a.command_id)["attempts"] == 2
    assert core.graphs()[0]["status_name"] == "ERROR"


def test_lost_node_requeues_without_spending_an_attempt():
    core = SchedulingCore()
    core.node_joined(rn("a"), 0)
    core.node_joined(rn("b"), 0)
    core.submit_graph(single("t", 1, maxAttempt=1), 0)
    (a,) = assigns(core.request_work("a", 1, 0))
    core.command_started(a.command_id, a.attempt, 1)
    core.request_work("b", 1, 1)
    (b,) = assigns(core.node_left("a", 2))
    assert b.node == "b" and b.attempt == a.attempt + 1
    assert core.command(a.command_id)["attempts"] == 0
    # a late result of the old attempt is stale
    assert core.command_update(a.command_id, a.attempt, 3, status=DONE) == []
    assert core.command(a.command_id)["status_name"] == "ASSIGNED"
    finish(core, b, 4)
    assert core.graphs()[0]["status_name"] == "DONE"


def test_worker_refusal_requeues_without_attempt():
    core = SchedulingCore()
    core.node_joined(rn("a"), 0)
    core.submit_graph(single("t", 1), 0)
    (a,) = assigns(core.request_work("a", 1, 0))
    core.command_update(a.command_id, a.attempt, 1, status=CommandStatus.READY)
    c = core.command(a.command_id)
    assert c["status_name"] == "READY" and c["attempts"] == 0 and c["render_node"] is None


def test_stale_and_unknown_updates_are_ignored_and_bad_status_refused():
    core = SchedulingCore()
    core.node_joined(rn("a"), 0)
    core.submit_graph(single("t", 1), 0)
    (a,) = assigns(core.request_work("a", 1, 0))
    assert core.command_update(a.command_id, a.attempt + 7, 1, status=DONE) == []
    assert core.command_update(999, 1, 1, status=DONE) == []
    assert core.command_started(999, 1, 1) == []
    with pytest.raises(IllegalTransitionError, match="cannot report status 2"):
        core.command_update(a.command_id, a.attempt, 1, status=CommandStatus.ASSIGNED)
    for outside in (-1, len(CommandStatus), CommandStatus.BLOCKED):
        with pytest.raises(IllegalTransitionError, match=f"cannot report status {int(outside)}; "
                           "expected one of READY, RUNNING, FINISHING, DONE, TIMEOUT, ERROR, CANCELED"):
            core.command_update(a.command_id, a.attempt, 1, status=outside)
    assert core.command(a.command_id)["status_name"] == "ASSIGNED"


def test_quarantine_after_five_failures_in_a_row_and_clear():
    core = SchedulingCore(CoreSettings(quarantine_after=5))
    core.node_joined(rn("a"), 0)
    core.submit_graph(single("t", 10), 0)
    for i in range(5):
        (a,) = assigns(core.request_work("a", 1, i))
        finish(core, a, i, status=ERROR if i != 2 else DONE)
    assert not core.render_nodes()[0]["quarantined"]  # the DONE reset the streak
    for i in range(5, 8):
        (a,) = assigns(core.request_work("a", 1, i))
        finish(core, a, i, status=ERROR)
    assert core.render_nodes()[0]["quarantined"]
    assert core.request_work("a", 1, 9) == []
    with pytest.raises(IllegalTransitionError, match="not paused"):
        core.resume_render_node("a", 9)  # resuming does not clear a quarantine
    assert len(assigns(core.clear_quarantine("a", 10))) == 1
    with pytest.raises(IllegalTransitionError, match="not in quarantine"):
        core.clear_quarantine("a", 11)


def test_pause_resume_and_pause_kill():
    core = SchedulingCore()
    core.node_joined(rn("a", slots=2, cores=2), 0)
    r = core.submit_graph(single("t", 4, maxNbCores=1), 0)
    out = assigns(core.request_work("a", 2, 0))
    assert core.pause(r.graph_id, 1) == []  # running commands go on
    assert core.graphs()[0]["status_name"] == "PAUSED"
    finish(core, out[0], 2)
    assert core.request_work("a", 1, 2) == []  # nothing new while paused
    assert len(assigns(core.resume(r.graph_id, 3))) == 1
    ks = kills(core.pause(r.graph_id, 4, kill=True))
    assert len(ks) == 2 and all(k.reason == "paused" for k in ks)
    assert all(core.command(k.command_id)["status_name"] == "READY" for k in ks)
    assert all(core.command(k.command_id)["attempts"] == 0 for k in ks)
    assert core.request_work("a", 2, 4) == []  # the worker killed them and asks again
    assert len(assigns(core.resume(r.node_ids[1], 5))) == 2
    with pytest.raises(IllegalTransitionError, match="not paused"):
        core.resume(r.graph_id, 6)


def test_cancel_kills_running_and_cancels_waiting():
    core = SchedulingCore()
    core.node_joined(rn("a"), 0)
    r = core.submit_graph(single("t", 3), 0)
    (a,) = assigns(core.request_work("a", 1, 0))
    (k,) = kills(core.cancel(r.graph_id, 1))
    assert k.command_id == a.command_id and k.attempt == a.attempt
    assert core.graphs()[0]["status_name"] == "CANCELED"
    assert core.command_update(a.command_id, a.attempt, 2, status=ERROR) == []
    with pytest.raises(IllegalTransitionError, match="nothing left to cancel"):
        core.cancel(r.graph_id, 3)


def test_restart_errors_only_cascades_to_dependents():
    core = SchedulingCore()
    core.node_joined(rn("a", slots=4, cores=4), 0)
    r = core.submit_graph(graph([
        group("root", [1, 2, 3]), task("src", 2, maxNbCores=1),
        task("after", 1, maxNbCores=1, deps=[[1, [3, 4]]]),
        task("other", 1, maxNbCores=1),
    ]), 0)
    out = assigns(core.request_work("a", 4, 0))
    by = {a.name: a for a in out}
    finish(core, by["src_1_1"], 1)
    more = assigns(finish(core, by["src_2_2"], 2, status=ERROR))
    finish(core, by["other_1_1"], 3)
    (after,) = more or assigns(core.request_work("a", 4, 3))
    finish(core, after, 4)
    assert core.graphs()[0]["status_name"] == "ERROR"
    core.restart(r.node_ids[1], 5, errors_only=True)
    tasks = {t["name"]: t for t in core.graph_tree(r.graph_id)["children"][0]["children"]}
    src_cmds = {c["description"]: c["status_name"] for c in tasks["src"]["commands"]}
    assert src_cmds == {"src_1_1": "DONE", "src_2_2": "READY"}
    # "after" depended on src being DONE or ERROR; it is restarted and blocked again
    assert tasks["after"]["commands"][0]["status_name"] == "BLOCKED"
    assert tasks["other"]["commands"][0]["status_name"] == "DONE"
    with pytest.raises(IllegalTransitionError, match="nothing to restart"):
        core.restart(r.node_ids[3], 6, errors_only=True)


def test_restart_kills_running_commands_and_resets_attempts():
    core = SchedulingCore()
    core.node_joined(rn("a"), 0)
    r = core.submit_graph(single("t", 2), 0)
    (a,) = assigns(core.request_work("a", 1, 0))
    finish(core, a, 1)
    (b,) = assigns(core.request_work("a", 1, 2))
    decisions = core.restart(r.graph_id, 3)
    assert [k.command_id for k in kills(decisions)] == [b.command_id]
    assert core.command(a.command_id)["status_name"] == "READY"
    assert core.command(a.command_id)["attempts"] == 0


def test_restart_and_cancel_one_command():
    core = SchedulingCore()
    core.node_joined(rn("a"), 0)
    core.submit_graph(single("t", 2), 0)
    (a,) = assigns(core.request_work("a", 1, 0))
    finish(core, a, 1, status=ERROR)
    core.restart_command(a.command_id, 2)
    assert core.command(a.command_id)["status_name"] == "READY"
    with pytest.raises(IllegalTransitionError, match="never ran"):
        core.restart_command(a.command_id + 1, 3)
    core.cancel_command(a.command_id + 1, 3)
    with pytest.raises(IllegalTransitionError, match="already CANCELED"):
        core.cancel_command(a.command_id + 1, 4)


def test_dispatch_key_edit_changes_the_order():
    core = SchedulingCore()
    core.node_joined(rn("a"), 0)
    core.submit_graph(single("first", 2), 0)
    r2 = core.submit_graph(single("second", 2), 0)
    core.set_dispatch_key(r2.graph_id, 10, 0)
    (a,) = assigns(core.request_work("a", 1, 1))
    assert a.task_name == "second"
    assert core.graphs()[1]["dispatchKey"] == 10


def test_pool_edit_moves_the_graph():
    core = SchedulingCore()
    core.node_joined(rn("cpu"), 0)
    core.node_joined(rn("gpu", pools=["gpu"]), 0)
    r = core.submit_graph(single("t", 1), 0)
    core.request_work("gpu", 1, 0)
    (a,) = assigns(core.set_pool(r.graph_id, "gpu", 1))
    assert a.node == "gpu"
    with pytest.raises(UnknownPoolError, match="'nope'"):
        core.set_pool(r.graph_id, "nope", 2)


def test_after_a_pool_edit_the_old_pool_no_longer_runs_the_graph():
    core = SchedulingCore()
    core.define_pool("gpu")
    core.node_joined(rn("cpu"), 0)
    r = core.submit_graph(single("t", 2), 0)
    (a,) = assigns(core.request_work("cpu", 1, 0))  # the graph is in the default pool's queue
    core.set_pool(r.graph_id, "gpu", 1)
    finish(core, a, 2)
    assert assigns(core.request_work("cpu", 1, 3)) == []  # its READY command waits for a gpu node
    core.node_joined(rn("gpu", pools=["gpu"]), 4)
    (b,) = assigns(core.request_work("gpu", 1, 4))
    assert b.graph_id == r.graph_id


def test_archive_only_finished_graphs():
    core = SchedulingCore()
    core.node_joined(rn("a"), 0)
    r = core.submit_graph(single("t", 1), 0)
    with pytest.raises(IllegalTransitionError, match="only DONE or CANCELED"):
        core.archive(r.graph_id, 0)
    (a,) = assigns(core.request_work("a", 1, 0))
    finish(core, a, 1)
    core.archive(r.graph_id, 2)
    assert core.graphs() == []
    with pytest.raises(UnknownIdError):
        core.graph_tree(r.graph_id)
    r2 = core.submit_graph(single("u", 1), 3)
    assert r2.graph_id > r.node_ids[-1]  # ids are never reused


def test_time_per_frame_on_tasks_and_graphs():
    core = SchedulingCore()
    core.node_joined(rn("a"), 0)
    r = core.submit_graph(single("t", 2, packet=10), 0)
    (a,) = assigns(core.request_work("a", 1, 100))
    core.command_started(a.command_id, a.attempt, 100)
    core.command_update(a.command_id, a.attempt, 120, status=DONE)  # 10 frames in 20 s
    (b,) = assigns(core.request_work("a", 1, 120))
    core.command_started(b.command_id, b.attempt, 120)
    core.command_update(b.command_id, b.attempt, 160, status=DONE)  # 10 frames in 40 s
    g = core.graph_tree(r.graph_id)
    t = g["children"][0]["children"][0]
    for n in (g, t):
        assert n["avg_time_per_frame_s"] == pytest.approx(3.0)
        assert n["min_time_per_frame_s"] == pytest.approx(2.0)
        assert n["max_time_per_frame_s"] == pytest.approx(4.0)


def test_a_late_running_report_does_not_move_the_start_to_when_it_arrived():
    # The worker starts a command when it gets it and says RUNNING only later (never, for a
    # short one; after a shorter neighbour's end, sometimes): its start is its slot's time.
    core = SchedulingCore()
    core.node_joined(rn("a"), 0)
    r = core.submit_graph(single("t", 1), 0)
    (a,) = assigns(core.request_work("a", 1, 10))
    core.command_update(a.command_id, a.attempt, 15, status=int(CommandStatus.RUNNING))
    assert core.command(a.command_id)["start_time"] == 10
    core.command_update(a.command_id, a.attempt, 20, status=DONE)
    assert core.command(a.command_id)["start_time"] == 10
    assert core.graph_tree(r.graph_id)["status_name"] == "DONE"


def test_unknown_ids_raise_clear_errors():
    core = SchedulingCore()
    for call, match in [
        (lambda: core.pause(42, 0), "id 42"),
        (lambda: core.cancel(42, 0), "id 42"),
        (lambda: core.set_max_rn(42, 1, 0), "id 42"),
        (lambda: core.command(7), "command has id 7"),
        (lambda: core.request_work("ghost", 1, 0), "'ghost'"),
        (lambda: core.pause_render_node("ghost", 0), "'ghost'"),
        (lambda: core.archive(3, 0), "id 3"),
    ]:
        with pytest.raises(UnknownIdError, match=match):
            call()


def test_render_node_pause_kill_requeues():
    core = SchedulingCore()
    core.node_joined(rn("a"), 0)
    core.submit_graph(single("t", 1), 0)
    (a,) = assigns(core.request_work("a", 1, 0))
    (k,) = kills(core.pause_render_node("a", 1, kill=True))
    assert k.command_id == a.command_id
    assert core.command(a.command_id)["status_name"] == "READY"
    assert core.render_nodes()[0]["status_name"] == "PAUSED"


def test_reconcile_keeps_own_kills_others_and_reattaches_lost():
    core = SchedulingCore()
    core.node_joined(rn("a", slots=2, cores=2), 0)
    core.submit_graph(single("t", 3, maxNbCores=1), 0)
    x, y = assigns(core.request_work("a", 2, 0))
    keep, kill, _ = core.reconcile_node(rn("a", slots=2, cores=2),
                                        [(x.command_id, x.attempt), (99, 1)], 1)
    assert keep == [x.command_id] and kill == [99]
    assert core.command(y.command_id)["status_name"] == "READY"  # not reported: lost
    core.node_left("a", 2)
    keep, kill, _ = core.reconcile_node(rn("a", slots=2, cores=2),
                                        [(x.command_id, x.attempt)], 3)
    assert keep == [x.command_id]
    assert core.command(x.command_id)["status_name"] == "RUNNING"
    assert core.command(x.command_id)["render_node"] == "a"


def test_progress_changes_what_is_shown_and_nothing_a_decision_depends_on():
    """Progress is not journalled: a successor never sees it, so it must not start a timer
    (nor decide anything) that the journal's records would not start the same way."""
    core = SchedulingCore()
    core.node_joined(rn("a", slots=2), 0)
    core.submit_graph(single("now", 1), 0)
    core.submit_graph(single("later", 1, timer=100.0), 0)
    (running,) = assigns(core.request_work("a", 2, 0))
    core.command_started(running.command_id, running.attempt, 1)
    assert core.command_progress(running.command_id, running.attempt, 150.0, completion=0.5,
                                 message="frame 3") is None
    assert core.tick_due(150.0)  # the timer that passed is still the journalled tick's to start
    shown = core.command(running.command_id)
    assert shown["completion"] == 0.5 and shown["message"] == "frame 3"
    (later,) = assigns(core.tick(150.0) + core.request_work("a", 1, 150.0))
    assert later.task_name == "later"


# ------------------------------------------------------------ deep graphs
# A graph DEEP groups deep, handed to the core without the client's depth limit: every
# status change below walks up DEEP + 1 folders, at Python's default recursion limit.
def _deep(slots: int = 2) -> tuple[SchedulingCore, int, list[int]]:
    core = SchedulingCore()
    core.node_joined(rn("a", slots=slots), 0)
    r = submit_unchecked(core, nested(DEEP), 0)
    return core, r.graph_id, r.node_ids


def _statuses(core: SchedulingCore, gid: int) -> list[str]:
    """The graph's status, each group's from the root down, then ``bottom``'s and ``top``'s."""
    return [n["status_name"] for n in view_nodes(whole_tree(core, gid))]


def test_a_deep_graph_runs_to_done_and_every_status_reaches_the_root():
    core, gid, ids = _deep()
    first, second = assigns(core.request_work("a", 2, 1))  # the bottom task; top waits for it
    core.command_started(first.command_id, first.attempt, 2)
    assert _statuses(core, gid) == ["RUNNING"] * (DEEP + 2) + ["BLOCKED"]
    finish(core, first, 3)
    finish(core, second, 4)  # the deepest group is DONE: top is released
    (top,) = assigns(core.request_work("a", 2, 4))
    assert core.node(ids[DEEP + 1])["status_name"] == "RUNNING"
    assert core.node(ids[DEEP - 1])["status_name"] == "DONE"
    finish(core, top, 5)
    assert set(_statuses(core, gid)) == {"DONE"}
    assert core.graph_tree(gid)["end_time"] == 5


def test_a_deep_graph_is_cancelled_restarted_paused_and_edited():
    core, gid, ids = _deep()
    (a, _b) = assigns(core.request_work("a", 2, 1))
    assert kills(core.cancel(gid, 2)) and set(_statuses(core, gid)) == {"CANCELED"}
    core.restart(gid, 3)
    assert core.graph_tree(gid)["status_name"] == "READY"
    assert core.node(ids[DEEP + 1])["status_name"] == "BLOCKED"
    core.pause(ids[DEEP - 1], 4)
    assert core.node(ids[DEEP])["status_name"] == "PAUSED"
    assert core.graph_tree(gid)["status_name"] == "PAUSED"
    core.resume(ids[DEEP - 1], 5)
    core.set_max_rn(ids[DEEP - 1], 1, 6)
    core.set_tags(ids[DEEP - 1], {"shot": "deep"}, 6)
    core.set_dispatch_key(ids[DEEP], 3, 6)
    assert len(assigns(core.request_work("a", 2, 7))) == 1  # the deepest group's maxRN
    assert core.node(ids[DEEP - 1])["tags"] == {"shot": "deep"}
    assert core.graph_tree(gid)["status_name"] == "RUNNING"


def test_a_frame_source_command_is_rechecked_only_for_statuses_that_may_meet_a_frame(monkeypatch):
    from puli_mesh.coordinator import dependencies
    from puliclient.status import NodeStatus

    rechecked: list[str] = []
    real = dependencies._source_command_changed

    def counting(st, cmd, now):
        rechecked.append(cmd.description)
        real(st, cmd, now)

    monkeypatch.setattr(dependencies, "_source_command_changed", counting)
    core = SchedulingCore()
    core.node_joined(rn("a"), 0)
    r = core.submit_graph(graph([group("root", [1, 2]), task("render", 2),
                                 task("comp", 2, deps=[[1, [NodeStatus.DONE], {"byFrame": True}]])]), 0)
    (a,) = assigns(core.request_work("a", 1, 1))
    core.command_started(a.command_id, a.attempt, 1)
    assert rechecked == []  # READY -> ASSIGNED -> RUNNING meets no frame and unmeets none
    core.command_update(a.command_id, a.attempt, 2, status=DONE)
    assert rechecked == ["render_1_1"]
    comp = {c["description"]: c["status_name"] for c in core.commands(r.node_ids[2])}
    assert comp == {"comp_1_1": "READY", "comp_2_2": "BLOCKED"}
