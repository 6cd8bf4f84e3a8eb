"""What the operating tools need from the core: last node, drain, tags, command
listing, farm figures and archiving finished graphs after a delay."""

from __future__ import annotations

import pytest

from puli_mesh.coordinator.core import CoreSettings, SchedulingCore
from puli_mesh.coordinator.decisions import Kill
from puli_mesh.errors import IllegalTransitionError, UnknownIdError
from puliclient.status import CommandStatus
from tests.unit.coordinator.graphs import assigns, finish, rn, single


def test_last_node_stays_after_the_command_ended_and_survives_a_snapshot() -> None:
    core = SchedulingCore()
    core.node_joined(rn("a"), 0)
    core.submit_graph(single("t", 1), 0)
    (a,) = assigns(core.request_work("a", 1, 0))
    assert core.command(a.command_id)["last_node"] == "a"
    finish(core, a, 1)
    view = core.command(a.command_id)
    assert view["render_node"] is None and view["last_node"] == "a"
    restored = SchedulingCore.restore(core.snapshot())
    assert restored.command(a.command_id)["last_node"] == "a"


def test_drain_lets_running_work_finish_and_takes_nothing_new() -> None:
    core = SchedulingCore()
    core.node_joined(rn("a"), 0)
    core.submit_graph(single("t", 2), 0)
    (a,) = assigns(core.request_work("a", 1, 0))
    assert core.pause_render_node("a", 1, drain=True) == []  # nothing killed
    view = core.render_nodes()[0]
    assert view["draining"] and view["paused"] and view["running"] == [a.command_id]
    assert core.command(a.command_id)["status_name"] == "ASSIGNED"
    finish(core, a, 2)
    assert assigns(core.request_work("a", 1, 3)) == []  # drained: the second command waits
    assert SchedulingCore.restore(core.snapshot()).render_nodes()[0]["draining"]
    assert len(assigns(core.resume_render_node("a", 4))) == 1
    assert not core.render_nodes()[0]["draining"]


def test_tags_merge_and_none_removes() -> None:
    core = SchedulingCore()
    gid = core.submit_graph(single("t", 1), 0).graph_id
    core.set_tags(gid, {"prod": "film", "shot": "s01"}, 0)
    core.set_tags(gid, {"shot": None, "step": "light"}, 0)
    assert core.graph_tree(gid)["tags"] == {"prod": "film", "step": "light"}


def test_commands_listing_filters_by_subtree_status_and_node() -> None:
    core = SchedulingCore()
    core.node_joined(rn("a"), 0)
    core.node_joined(rn("b"), 0)
    g1 = core.submit_graph(single("one", 3), 0).graph_id
    core.submit_graph(single("two", 2), 0)
    (a,) = assigns(core.request_work("a", 1, 0))
    (b,) = assigns(core.request_work("b", 1, 0))
    finish(core, b, 1, status=int(CommandStatus.ERROR))
    assert len(core.commands()) == 5
    assert [c["id"] for c in core.commands(node_id=g1)] == sorted(c["id"] for c in core.commands(node_id=g1))
    assert len(core.commands(node_id=g1)) == 3
    assert [c["id"] for c in core.commands(statuses=[int(CommandStatus.ERROR)])] == [b.command_id]
    assert [c["id"] for c in core.commands(render_node="a")] == [a.command_id]
    assert len(core.commands(limit=2)) == 2
    counts = core.graph_tree(g1)["command_counts"]
    assert sum(counts.values()) == 3 and counts.get("ASSIGNED", 0) + counts.get("ERROR", 0) == 1


def test_figures_count_queue_running_slots_and_licences() -> None:
    core = SchedulingCore()
    core.set_licence("shave", 2, 0)
    core.node_joined(rn("a", slots=2, cores=2), 0)
    core.submit_graph(single("t", 5, lic="shave", maxNbCores=1), 0)
    assert len(assigns(core.request_work("a", 2, 0))) == 2
    f = core.figures()
    assert (f["ready"], f["running"], f["slots"], f["busy_slots"]) == (3, 2, 2, 2)
    assert f["licences"] == {"shave": [2, 2]}


def test_finished_graphs_are_archived_after_the_setting_and_not_before() -> None:
    core = SchedulingCore(CoreSettings(archive_after_s=100.0))
    core.node_joined(rn("a"), 0)
    done = core.submit_graph(single("done", 1), 0).graph_id
    running = core.submit_graph(single("running", 1), 0).graph_id
    (a,) = assigns(core.request_work("a", 1, 0))
    assert a.graph_id == done
    finish(core, a, 10)
    core.tick(50)
    core.tick(115)  # 105 s after it ended, but the cutoff is on whole minutes: 60 - 100 < 10
    assert {g["id"] for g in core.graphs()} == {done, running}
    core.tick(200)
    assert {g["id"] for g in core.graphs()} == {running}  # unfinished graphs stay, however old


def test_archive_finished_by_hand_and_never_when_unset() -> None:
    core = SchedulingCore()
    gid = core.submit_graph(single("t", 1), 0).graph_id
    core.cancel(gid, 5)
    core.tick(10**9)
    assert [g["id"] for g in core.graphs()] == [gid]  # archive_after_s = 0: never automatically
    assert core.archive_finished(4, 6) == []
    assert core.archive_finished(10, 11) == [gid]
    with pytest.raises(UnknownIdError):
        core.graph_tree(gid)


def test_resuming_a_node_that_is_not_paused_is_refused() -> None:
    core = SchedulingCore()
    core.node_joined(rn("a"), 0)
    with pytest.raises(IllegalTransitionError, match="not paused"):
        core.resume_render_node("a", 0)


def test_tick_is_due_once_a_minute_when_archiving_is_on() -> None:
    core = SchedulingCore(CoreSettings(archive_after_s=100.0))
    assert core.tick_due(30)
    core.tick(30)
    assert not core.tick_due(59)
    assert core.tick_due(61)
    assert not SchedulingCore().tick_due(10**9)


def test_graph_view_without_children_keeps_status_and_counts_but_no_tree() -> None:
    core = SchedulingCore()
    core.node_joined(rn("a"), 0)
    gid = core.submit_graph(single("t", 3), 0).graph_id
    (a,) = assigns(core.request_work("a", 1, 0))
    finish(core, a, 1)
    alone = core.graph_tree(gid, children=False)
    whole = core.graph_tree(gid)
    assert "children" not in alone and whole["children"]
    assert {k: v for k, v in whole.items() if k != "children"} == alone
    assert alone["doneCommandCount"] == 1 and alone["commandCount"] == 3


def test_a_paused_command_is_not_handed_out_until_resumed_and_the_rest_goes_on() -> None:
    core = SchedulingCore()
    core.node_joined(rn("a"), 0)
    gid = core.submit_graph(single("t", 2), 0).graph_id
    first_id = core.commands(node_id=gid)[0]["id"]
    core.pause_command(first_id, 0)
    assert core.command(first_id)["paused"] and core.command(first_id)["status_name"] == "READY"
    (a,) = assigns(core.request_work("a", 1, 0))
    assert a.command_id != first_id  # its sibling runs
    finish(core, a, 1)
    assert assigns(core.request_work("a", 1, 2)) == []  # only the paused one is left
    assert SchedulingCore.restore(core.snapshot()).command(first_id)["paused"]
    (b,) = assigns(core.resume_command(first_id, 3) + core.request_work("a", 1, 3))
    assert b.command_id == first_id
    finish(core, b, 4)
    assert core.graph_tree(gid)["status_name"] == "DONE"


def test_pausing_a_running_command_with_kill_requeues_it_without_spending_an_attempt() -> None:
    core = SchedulingCore()
    core.node_joined(rn("a"), 0)
    core.submit_graph(single("t", 1), 0)
    (a,) = assigns(core.request_work("a", 1, 0))
    out = core.pause_command(a.command_id, 1, kill=True)
    assert [d.command_id for d in out if isinstance(d, Kill)] == [a.command_id]
    view = core.command(a.command_id)
    assert view["status_name"] == "READY" and view["attempts"] == 0 and view["paused"]
    assert assigns(core.request_work("a", 1, 2)) == []
    (again,) = assigns(core.resume_command(a.command_id, 3))  # a still asks for work: it runs again
    assert again.command_id == a.command_id and again.attempt > a.attempt
    with pytest.raises(IllegalTransitionError, match="not paused"):
        core.resume_command(a.command_id, 4)


def test_done_commands_cannot_be_paused_and_unknown_ids_are_named() -> None:
    core = SchedulingCore()
    core.node_joined(rn("a"), 0)
    core.submit_graph(single("t", 1), 0)
    (a,) = assigns(core.request_work("a", 1, 0))
    finish(core, a, 1)
    with pytest.raises(IllegalTransitionError, match="is DONE"):
        core.pause_command(a.command_id, 2)
    with pytest.raises(UnknownIdError):
        core.pause_command(999, 2)
