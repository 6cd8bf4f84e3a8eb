"""Dependencies: initial blocked state, release on status, ERROR deps, groups, unmeetable."""

from __future__ import annotations

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
