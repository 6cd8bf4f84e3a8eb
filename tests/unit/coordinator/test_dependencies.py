"""Dependencies: initial blocked state, release on status, ERROR deps, groups, unmeetable."""

from __future__ import annotations

import msgpack

from puli_mesh.coordinator.core import SchedulingCore
from puliclient.status import CommandStatus, NodeStatus
from tests.unit.coordinator.graphs import DEEP, assigns, finish, graph, group, rn, submit_unchecked, task

DONE, ERROR = int(NodeStatus.DONE), int(NodeStatus.ERROR)


def statuses(core: SchedulingCore, gid: int) -> dict[str, str]:
    out = {}

    def walk(n):
        out[n["name"]] = n["status_name"]
        for c in n.get("children", []):
            walk(c)

    walk(core.graph_tree(gid))
    return out


def test_dependent_is_blocked_from_the_start_and_released_when_done():
    core = SchedulingCore()
    core.node_joined(rn("a"), 0)
    r = core.submit_graph(graph([group("root", [1, 2]), task("first", 1),
                                 task("second", 1, deps=[[1, [DONE]]])]), 0)
    assert statuses(core, r.graph_id)["second"] == "BLOCKED"
    (a,) = assigns(core.request_work("a", 1, 0))
    assert a.task_name == "first"
    assert core.request_work("a", 0, 0) == []
    core.command_started(a.command_id, a.attempt, 1)
    out = core.command_update(a.command_id, a.attempt, 2, status=CommandStatus.DONE)
    assert out == []  # the node has no credit left
    (b,) = assigns(core.request_work("a", 1, 3))
    assert b.task_name == "second"


def test_release_goes_to_a_waiting_node_at_once():
    core = SchedulingCore()
    core.node_joined(rn("a"), 0)
    core.node_joined(rn("b"), 0)
    core.submit_graph(graph([group("root", [1, 2]), task("first", 1),
                             task("second", 1, deps=[[1, [DONE]]])]), 0)
    (a,) = assigns(core.request_work("a", 1, 0))
    assert core.request_work("b", 1, 0) == []  # b waits with credit
    (b,) = assigns(finish(core, a, 5))
    assert b.node == "b" and b.task_name == "second"


def test_error_status_dependency_runs_the_fallback_only_on_failure():
    core = SchedulingCore()
    core.node_joined(rn("a"), 0)
    r = core.submit_graph(graph([
        group("root", [1, 2, 3]), task("main", 1),
        task("on_error", 1, deps=[[1, [ERROR]]]),
        task("on_done", 1, deps=[[1, [DONE]]]),
    ]), 0)
    (a,) = assigns(core.request_work("a", 1, 0))
    finish(core, a, 1, status=CommandStatus.ERROR)
    (b,) = assigns(core.request_work("a", 1, 2))
    assert b.task_name == "on_error"
    finish(core, b, 3)
    s = statuses(core, r.graph_id)
    assert s["on_done"] == "BLOCKED"
    # The unmeetable dependency is reported; the graph reads ERROR (a source failed).
    tree = core.graph_tree(r.graph_id)
    dep = tree["children"][0]["children"][2]["dependencies"][0]
    assert dep["unmeetable"] is True
    assert tree["status_name"] == "ERROR"
    assert core.request_work("a", 1, 4) == []


def test_unmeetable_dependency_leaves_the_rest_of_the_graph_running():
    core = SchedulingCore()
    core.node_joined(rn("a"), 0)
    r = core.submit_graph(graph([
        group("root", [1, 2, 3]), task("src", 1), task("dep", 1, deps=[[1, [DONE]]]),
        task("other", 2),
    ]), 0)
    (a,) = assigns(core.request_work("a", 1, 0))
    core.cancel_command(a.command_id, 1)
    names = []
    for t in range(2):
        (x,) = assigns(core.request_work("a", 1, 2 + t))
        names.append(x.task_name)
        finish(core, x, 3 + t)
    assert names == ["other", "other"]
    s = statuses(core, r.graph_id)
    assert s["dep"] == "BLOCKED" and s["src"] == "CANCELED"
    assert core.graphs()[0]["status_name"] == "BLOCKED"
    # Restarting the source meets the dependency later.
    core.restart(r.node_ids[1], 10)
    (y,) = assigns(core.request_work("a", 1, 11))
    assert y.task_name == "src"
    finish(core, y, 12)
    (z,) = assigns(core.request_work("a", 1, 13))
    assert z.task_name == "dep"


def test_group_dependency_applies_to_everything_inside():
    core = SchedulingCore()
    core.node_joined(rn("a", slots=4, cores=4), 0)
    # group "late" depends on task "early" (no client push-down here: the core handles it)
    core.submit_graph(graph([
        group("root", [1, 2]), task("early", 1, maxNbCores=1),
        group("late", [3, 4], deps=[[1, [DONE]]]),
        task("l1", 1, maxNbCores=1), task("l2", 1, maxNbCores=1),
    ]), 0)
    out = assigns(core.request_work("a", 4, 0))
    assert [x.task_name for x in out] == ["early"]
    more = assigns(finish(core, out[0], 1))
    assert sorted(x.task_name for x in more) == ["l1", "l2"]


def test_dependency_on_a_group_waits_for_all_of_it():
    core = SchedulingCore()
    core.node_joined(rn("a", slots=4, cores=4), 0)
    core.submit_graph(graph([
        group("root", [1, 4]), group("g", [2, 3]), task("g1", 1, maxNbCores=1),
        task("g2", 1, maxNbCores=1), task("after", 1, maxNbCores=1, deps=[[1, [DONE]]]),
    ]), 0)
    out = assigns(core.request_work("a", 4, 0))
    assert sorted(x.task_name for x in out) == ["g1", "g2"]
    assert assigns(finish(core, out[0], 1)) == []
    (c,) = assigns(finish(core, out[1], 2))
    assert c.task_name == "after"


def test_restarted_source_blocks_its_dependents_again():
    core = SchedulingCore()
    core.node_joined(rn("a"), 0)
    r = core.submit_graph(graph([group("root", [1, 2]), task("src", 1),
                                 task("dep", 2, deps=[[1, [DONE]]])]), 0)
    (a,) = assigns(core.request_work("a", 1, 0))
    finish(core, a, 1)
    assert statuses(core, r.graph_id)["dep"] == "READY"
    core.restart(r.node_ids[1], 2)
    assert statuses(core, r.graph_id)["dep"] == "BLOCKED"
    (b,) = assigns(core.request_work("a", 1, 3))
    assert b.task_name == "src"


def test_a_dependency_across_a_deep_graph_blocks_releases_and_wakes_its_tasks():
    # g0 holds "first" and g1; g1 (maxRN 1) waits for "first" and holds the chain of groups
    # down to g{DEEP-1}, which holds "bottom": every release climbs DEEP folders.
    nodes = [group(f"g{i}", [i + 1]) for i in range(DEEP)]
    nodes[0]["tasks"] = [1, DEEP + 1]
    nodes[1].update(dependencies=[[DEEP + 1, [DONE]]], maxRN=1)
    nodes += [task("bottom", 2), task("first", 1)]
    core = SchedulingCore()
    core.node_joined(rn("a", slots=2), 0)
    r = submit_unchecked(core, graph(nodes, name="deep"), 0)
    bottom = r.node_ids[DEEP]
    assert core.node(bottom)["status_name"] == "BLOCKED"
    (first,) = assigns(core.request_work("a", 1, 1))
    finish(core, first, 2)
    assert core.node(bottom)["status_name"] == "READY"
    (one,) = assigns(core.request_work("a", 2, 3))  # g1's maxRN: one at a time
    (two,) = assigns(finish(core, one, 4))  # below g1's maxRN again: its parked task wakes
    assert core.command(two.command_id)["task_id"] == bottom
    core.restart(r.node_ids[DEEP + 1], 6)  # "first" again: bottom's READY work is blocked again
    finish(core, two, 7)
    assert core.node(r.node_ids[1])["status_name"] == "BLOCKED"
    assert core.graphs()[0]["status_name"] == "READY"


# ------------------------------------------------------------------ frame by frame
BY_FRAME = {"byFrame": True}


def by_status(core: SchedulingCore, node_id: int) -> dict[str, str]:
    """Each command's description -> its status name."""
    return {c["description"]: c["status_name"] for c in core.commands(node_id)}


def render_comp(render_packet: int = 1, comp_packet: int = 1, frames: int = 4,
                statuses: list[int] | None = None) -> dict:
    return graph([group("root", [1, 2]),
                  task("render", frames // render_packet, packet=render_packet),
                  task("comp", frames // comp_packet, packet=comp_packet,
                       deps=[[1, statuses or [DONE], BY_FRAME]])])


def run_one(core: SchedulingCore, node: str, now: float):
    (a,) = assigns(core.request_work(node, 1, now))
    core.command_started(a.command_id, a.attempt, now)
    return a


def test_by_frame_comp_frame_starts_when_its_render_frame_is_done_while_others_run():
    core = SchedulingCore()
    for n in "abcd":
        core.node_joined(rn(n), 0)
    r = core.submit_graph(render_comp(), 0)
    render, comp = r.node_ids[1], r.node_ids[2]
    assert set(by_status(core, comp).values()) == {"BLOCKED"}
    first = run_one(core, "a", 1)
    second = run_one(core, "b", 1)
    assert first.task_name == second.task_name == "render"
    out = core.command_update(first.command_id, first.attempt, 2, status=CommandStatus.DONE)
    assert out == []  # a has no credit left; comp_1_1 waits for it
    s = by_status(core, comp)
    assert s == {"comp_1_1": "READY", "comp_2_2": "BLOCKED", "comp_3_3": "BLOCKED", "comp_4_4": "BLOCKED"}
    assert by_status(core, render)["render_2_2"] == "RUNNING"
    for n in "cd":
        (nxt,) = assigns(core.request_work(n, 1, 3))
        assert nxt.task_name == "render"  # render frames first in FIFO order...
    (comp1,) = assigns(core.request_work("a", 1, 3))
    assert comp1.task_name == "comp"  # ...then comp frame 1, while render 2 to 4 have not ended
    assert core.command(comp1.command_id)["description"] == "comp_1_1"
    tree = core.graph_tree(r.graph_id)
    dep = tree["children"][0]["children"][1]["dependencies"][0]
    assert dep["byFrame"] is True and dep["met"] is False


def test_by_frame_with_different_packet_sizes_waits_for_every_intersecting_render_command():
    core = SchedulingCore()
    core.node_joined(rn("a", slots=4), 0)
    # render 1-2, 3-4, 5-6, 7-8 ; comp 1-4, 5-8
    r = core.submit_graph(render_comp(render_packet=2, comp_packet=4, frames=8), 0)
    comp = r.node_ids[2]
    renders = assigns(core.request_work("a", 4, 1))
    by_desc = {core.command(a.command_id)["description"]: a for a in renders}
    finish(core, by_desc["render_1_2"], 2)
    assert by_status(core, comp) == {"comp_1_4": "BLOCKED", "comp_5_8": "BLOCKED"}
    finish(core, by_desc["render_3_4"], 3)
    assert by_status(core, comp) == {"comp_1_4": "READY", "comp_5_8": "BLOCKED"}
    finish(core, by_desc["render_7_8"], 4)
    assert by_status(core, comp)["comp_5_8"] == "BLOCKED"
    finish(core, by_desc["render_5_6"], 5)
    assert by_status(core, comp)["comp_5_8"] == "READY"
    # and the other way round: small comp packets on big render packets
    core2 = SchedulingCore()
    core2.node_joined(rn("a", slots=2), 0)
    r2 = core2.submit_graph(render_comp(render_packet=4, comp_packet=1, frames=8), 0)
    first, _second = assigns(core2.request_work("a", 2, 1))
    finish(core2, first, 2)
    s = by_status(core2, r2.node_ids[2])
    assert [s[f"comp_{i}_{i}"] for i in range(1, 9)] == ["READY"] * 4 + ["BLOCKED"] * 4


def test_by_frame_restart_reblocks_comp_frames_not_started_and_leaves_the_others():
    core = SchedulingCore()
    core.node_joined(rn("a", slots=4), 0)
    r = core.submit_graph(render_comp(), 0)
    comp = r.node_ids[2]
    renders = assigns(core.request_work("a", 4, 1))
    for i, a in enumerate(renders):
        finish(core, a, 2 + i)
    (c1,) = [a for a in assigns(core.request_work("a", 1, 10)) if a.task_name == "comp"]
    assert core.command(c1.command_id)["description"] == "comp_1_1"
    finish(core, c1, 11)
    (c2,) = assigns(core.request_work("a", 1, 12))
    core.command_started(c2.command_id, c2.attempt, 12)  # comp_2_2 runs
    # Re-run render frames 1, 2 and 3 without cascade.
    for a in renders[:3]:
        core.restart_command(a.command_id, 13, cascade=False)
    s = by_status(core, comp)
    assert s == {"comp_1_1": "DONE", "comp_2_2": "RUNNING", "comp_3_3": "BLOCKED", "comp_4_4": "READY"}
    # the running comp frame, requeued, waits again for its render frame
    core.node_left("a", 14)
    assert by_status(core, comp)["comp_2_2"] == "BLOCKED"


def test_by_frame_restart_with_cascade_restarts_the_comp_task_as_any_dependency():
    core = SchedulingCore()
    core.node_joined(rn("a", slots=4), 0)
    r = core.submit_graph(render_comp(), 0)
    renders = assigns(core.request_work("a", 4, 1))
    for i, a in enumerate(renders):
        finish(core, a, 2 + i)
    for i, a in enumerate(assigns(core.request_work("a", 4, 10))):
        finish(core, a, 11 + i)
    assert set(by_status(core, r.node_ids[2]).values()) == {"DONE"}
    core.restart_command(renders[1].command_id, 20)  # cascade: the default
    s = by_status(core, r.node_ids[2])
    assert s == {"comp_1_1": "READY", "comp_2_2": "BLOCKED", "comp_3_3": "READY", "comp_4_4": "READY"}


def test_by_frame_error_waits_for_the_last_attempt():
    core = SchedulingCore()
    core.node_joined(rn("a", slots=2), 0)
    g = graph([group("root", [1, 2]), task("render", 2, maxAttempt=2),
               task("fix", 2, deps=[[1, [ERROR], BY_FRAME]])])
    r = core.submit_graph(g, 0)
    a, _b = assigns(core.request_work("a", 2, 1))
    finish(core, a, 2, status=CommandStatus.ERROR)  # a retry is pending: not final yet
    assert by_status(core, r.node_ids[2])["fix_1_1"] == "BLOCKED"
    core.tick(100)
    (again,) = [x for x in assigns(core.request_work("a", 1, 100)) if x.task_name == "render"]
    finish(core, again, 101, status=CommandStatus.ERROR)
    assert by_status(core, r.node_ids[2]) == {"fix_1_1": "READY", "fix_2_2": "BLOCKED"}


def test_by_frame_without_frame_arguments_falls_back_to_the_whole_task():
    core = SchedulingCore()
    core.node_joined(rn("a", slots=2), 0)
    plain = task("comp", 2, deps=[[1, [DONE], BY_FRAME]])
    plain["commands"][1]["arguments"] = {}  # one comp command without a frame range
    r = core.submit_graph(graph([group("root", [1, 2]), task("render", 2), plain]), 0)
    a, b = assigns(core.request_work("a", 2, 1))
    finish(core, a, 2)
    assert set(by_status(core, r.node_ids[2]).values()) == {"BLOCKED"}  # waits for all of render
    finish(core, b, 3)
    assert set(by_status(core, r.node_ids[2]).values()) == {"READY"}
    dep = core.node(r.node_ids[2])["dependencies"][0]
    assert dep["byFrame"] is False


def test_by_frame_on_a_group_holds_for_each_task_inside_and_on_a_group_source():
    core = SchedulingCore()
    core.node_joined(rn("a", slots=4), 0)
    # root: [renders(group: r1 frames 1-2, r2 frames 3-4), comps(group: comp 1-4, also pushed down)]
    r2 = task("r2", 2)
    for i, c in enumerate(r2["commands"]):
        c["arguments"] = {"start": 3 + i, "end": 3 + i}
        c["description"] = f"r2_{3 + i}_{3 + i}"
    g = graph([group("root", [1, 4]), group("renders", [2, 3]), task("r1", 2), r2,
               group("comps", [5], deps=[[1, [DONE], BY_FRAME]]),
               task("comp", 4, deps=[[1, [DONE], BY_FRAME]])])
    r = core.submit_graph(g, 0)
    comp = r.node_ids[5]
    assert len(core.node(comp)["dependencies"]) == 1  # the pushed-down copy is not doubled
    renders = {core.command(a.command_id)["description"]: a for a in assigns(core.request_work("a", 4, 1))}
    finish(core, renders["r2_3_3"], 2)
    assert by_status(core, comp) == {"comp_1_1": "BLOCKED", "comp_2_2": "BLOCKED", "comp_3_3": "READY",
                                     "comp_4_4": "BLOCKED"}
    finish(core, renders["r2_4_4"], 3)
    finish(core, renders["r1_1_1"], 4)
    assert by_status(core, comp)["comp_1_1"] == "READY"
    assert by_status(core, comp)["comp_2_2"] == "BLOCKED"


def test_by_frame_survives_a_snapshot_and_keeps_blocking_per_frame():
    core = SchedulingCore()
    core.node_joined(rn("a", slots=2), 0)
    r = core.submit_graph(render_comp(), 0)
    a, b = assigns(core.request_work("a", 2, 1))
    finish(core, a, 2)
    data = core.snapshot()
    packed = msgpack.unpackb(msgpack.packb(data, use_bin_type=True), raw=False, strict_map_key=False)
    back = SchedulingCore.restore(packed)  # what a successor reads back from the journal
    assert back.snapshot() == data
    comp = r.node_ids[2]
    assert by_status(back, comp) == by_status(core, comp)
    assert by_status(back, comp)["comp_2_2"] == "BLOCKED"
    finish(back, b, 3)  # render_2_2 on the restored core
    assert by_status(back, comp)["comp_2_2"] == "READY"
    assert by_status(back, comp)["comp_3_3"] == "BLOCKED"
    back.restart_command(b.command_id, 4, cascade=False)
    assert by_status(back, comp)["comp_2_2"] == "BLOCKED"
