"""Assignment: pools, requirements, cores/RAM packing, licences, maxRN, ordering, credit."""

from __future__ import annotations

from collections import Counter

import pytest

from puli_mesh.coordinator.core import SchedulingCore
from puli_mesh.errors import IllegalTransitionError
from puliclient.status import CommandStatus
from tests.unit.coordinator.graphs import assigns, finish, graph, group, rn, single, task


def test_never_more_than_the_credit_and_the_rest_is_remembered():
    core = SchedulingCore()
    core.node_joined(rn("a", slots=4, cores=4), 0)
    core.submit_graph(single("t", 2, maxNbCores=1), 0)
    assert len(assigns(core.request_work("a", 3, 0))) == 2
    # One credit is left: new work goes there at once.
    out = assigns(core.submit_graph(single("u", 5, maxNbCores=1), 1).decisions)
    assert [a.task_name for a in out] == ["u"]


def test_credit_is_capped_by_free_slots():
    core = SchedulingCore()
    core.node_joined(rn("a", slots=2, cores=8), 0)
    core.submit_graph(single("t", 10, maxNbCores=1), 0)
    assert len(assigns(core.request_work("a", 50, 0))) == 2


def test_pools_keep_graphs_on_their_nodes():
    core = SchedulingCore()
    core.node_joined(rn("cpu"), 0)
    core.node_joined(rn("gpu", pools=["gpu"]), 0)
    core.submit_graph(single("g", 1, pool="gpu"), 0)
    assert core.request_work("cpu", 1, 0) == []
    (a,) = assigns(core.request_work("gpu", 1, 0))
    assert a.node == "gpu"


def test_node_in_two_pools_serves_both():
    core = SchedulingCore()
    core.node_joined(rn("both", pools=["default", "gpu"], slots=2, cores=2), 0)
    core.submit_graph(single("d", 1, maxNbCores=1), 0)
    core.submit_graph(single("g", 1, pool="gpu", maxNbCores=1), 0)
    assert sorted(a.task_name for a in assigns(core.request_work("both", 2, 0))) == ["d", "g"]


def test_requirements_match_characteristics():
    core = SchedulingCore()
    core.node_joined(rn("plain"), 0)
    core.node_joined(rn("maya", softs=["Maya", "nuke"], os="linux", gpu_mem=8, ver=5), 0)
    reqs = {"softs": ["maya"], "os": "linux", "gpu_mem": 4, "ver": [2, 7]}
    core.submit_graph(single("t", 1, requirements=reqs), 0)
    assert core.request_work("plain", 1, 0) == []
    assert assigns(core.request_work("maya", 1, 0))[0].node == "maya"


def test_requirement_mismatch_is_decided_per_signature_not_per_task():
    core = SchedulingCore()
    core.node_joined(rn("plain"), 0)
    for i in range(200):
        core.submit_graph(single(f"t{i}", 1, requirements={"softs": ["houdini"]}), 0)
    core.submit_graph(single("ok", 1), 0)
    (a,) = assigns(core.request_work("plain", 1, 0))
    assert a.task_name == "ok"


def test_default_task_gets_an_equal_share_of_the_node_and_declared_cores_pack():
    core = SchedulingCore()
    core.node_joined(rn("a", slots=4, cores=8), 0)
    core.submit_graph(single("shared", 5), 0)
    out = assigns(core.request_work("a", 4, 0))
    assert [a.cores for a in out] == [2, 2, 2, 2]  # --slots 4 runs 4 commands of 8/4 cores
    assert not assigns(finish(core, out[0], 1))  # credit used up: nothing until the worker asks
    (nxt,) = assigns(core.request_work("a", 1, 1))
    assert nxt.cores == 2
    core.cancel(core.graphs()[0]["id"], 1)
    out = assigns(core.submit_graph(single("packed", 10, minNbCores=2, maxNbCores=2), 1).decisions)
    out += assigns(core.request_work("a", 4, 2))
    assert [a.cores for a in out] == [2, 2, 2, 2]


def test_min_cores_zero_needs_every_core_free():
    core = SchedulingCore()
    core.node_joined(rn("a", slots=2, cores=8), 0)
    core.submit_graph(single("small", 1, minNbCores=1, maxNbCores=1), 0)
    core.submit_graph(single("all", 1, minNbCores=0, maxNbCores=0), 0)
    out = assigns(core.request_work("a", 2, 0))
    assert [a.task_name for a in out] == ["small"]
    (b,) = assigns(finish(core, out[0], 1))
    assert b.task_name == "all" and b.cores == 8


def test_ram_is_reserved_per_command():
    core = SchedulingCore()
    core.node_joined(rn("a", slots=4, cores=8, ram=10000), 0)
    core.submit_graph(single("big", 5, maxNbCores=1, ramUse=4000), 0)
    out = assigns(core.request_work("a", 4, 0))
    assert len(out) == 2 and all(a.ram_mb == 4000 for a in out)
    assert out[0].environment["PULI_ALLOCATED_MEMORY"] == "4000"
    core.node_updated("a", 1, free_ram_mb=3000)
    assert assigns(finish(core, out[0], 2)) == []  # reported free RAM is too low now
    core.node_updated("a", 3, free_ram_mb=9000)  # and the node still has credit: it gets one
    assert len(core.render_nodes()[0]["running"]) == 2


def test_licences_all_or_nothing_and_given_back():
    core = SchedulingCore()
    core.set_licence("mtoa", 5, 0)
    core.set_licence("shave", 1, 0)
    core.node_joined(rn("a", slots=4, cores=4), 0)
    core.submit_graph(single("both", 3, lic="mtoa&shave", maxNbCores=1), 0)
    out = assigns(core.request_work("a", 4, 0))
    assert len(out) == 1 and out[0].licences == ("mtoa", "shave")
    stats = {s["name"]: s for s in core.licences.stats()}
    assert stats["mtoa"]["used"] == 1 and stats["shave"]["used"] == 1
    assert stats["shave"]["rns"] == ["a"]
    # shave is exhausted: mtoa must not be taken alone
    (b,) = assigns(finish(core, out[0], 1, status=CommandStatus.ERROR))
    assert b.licences == ("mtoa", "shave")
    stats = {s["name"]: s for s in core.licences.stats()}
    assert stats["mtoa"]["used"] == 1 and stats["shave"]["used"] == 1


def test_licences_released_on_every_ending():
    core = SchedulingCore()
    core.set_licence("nuke", 1, 0)
    core.node_joined(rn("a"), 0)
    core.node_joined(rn("b"), 0)
    r = core.submit_graph(single("t", 5, lic="nuke"), 0)
    (a,) = assigns(core.request_work("a", 1, 0))
    assert core.request_work("b", 1, 0) == []
    (b,) = assigns(core.node_left("a", 1))  # lost node: licence back, b takes the work
    assert b.node == "b" and b.command_id == a.command_id and b.attempt == a.attempt + 1
    (c,) = [d for d in core.cancel_command(b.command_id, 2)]  # Kill decision
    assert c.node == "b"
    assert core.licences.stats()[0]["used"] == 0
    core.node_joined(rn("a"), 3)
    (d,) = assigns(core.request_work("a", 1, 3))
    core.command_update(d.command_id, d.attempt, 4, status=CommandStatus.TIMEOUT)
    assert core.licences.stats()[0]["used"] == 0
    core.request_work("b", 1, 5)
    core.pause(r.graph_id, 6, kill=True)
    assert core.licences.stats()[0]["used"] == 0


def test_lowering_a_total_blocks_new_work_but_kills_nothing():
    core = SchedulingCore()
    core.set_licence("mtoa", 2, 0)
    for n in "abc":
        core.node_joined(rn(n), 0)
    core.submit_graph(single("t", 5, lic="mtoa"), 0)
    a = assigns(core.request_work("a", 1, 0)) + assigns(core.request_work("b", 1, 0))
    assert len(a) == 2
    assert [d for d in core.set_licence("mtoa", 1, 1)] == []
    assert core.request_work("c", 1, 1) == []
    assert assigns(finish(core, a[0], 2)) == []  # 1 used, total 1
    assert len(assigns(finish(core, a[1], 3))) == 1  # c was waiting
    (x,) = assigns(core.request_work("a", 1, 4) + core.set_licence("mtoa", 3, 4))
    assert x.node == "a"


def test_early_release_by_the_runner_is_not_given_back_twice():
    core = SchedulingCore()
    core.set_licence("mtoa", 1, 0)
    core.node_joined(rn("a"), 0)
    core.node_joined(rn("b"), 0)
    core.submit_graph(single("t", 3, lic="mtoa"), 0)
    (a,) = assigns(core.request_work("a", 1, 0))
    assert core.request_work("b", 1, 0) == []
    (b,) = assigns(core.release_licence("mtoa", "a", 1))
    assert b.node == "b"
    finish(core, a, 2)
    assert core.licences.stats()[0]["used"] == 1


def test_max_rn_task_group_and_graph():
    core = SchedulingCore()
    core.node_joined(rn("a", slots=20, cores=20), 0)
    core.submit_graph(single("t", 10, maxNbCores=1, maxRN=2), 0)
    assert len(assigns(core.request_work("a", 20, 0))) == 2
    core2 = SchedulingCore()
    core2.node_joined(rn("a", slots=20, cores=20), 0)
    core2.submit_graph(graph([group("root", [1, 2], maxRN=3), task("x", 5, maxNbCores=1),
                              task("y", 5, maxNbCores=1)]), 0)
    out = assigns(core2.request_work("a", 20, 0))
    assert len(out) == 3
    (nxt,) = assigns(finish(core2, out[0], 1))  # one slot of the group frees: one more runs
    assert nxt.task_name == "x"
    core3 = SchedulingCore()
    core3.node_joined(rn("a", slots=20, cores=20), 0)
    core3.submit_graph(single("g", 10, maxNbCores=1, max_rn=4), 0)
    assert len(assigns(core3.request_work("a", 20, 0))) == 4


def test_max_rn_edits_take_effect_at_once():
    core = SchedulingCore()
    core.node_joined(rn("a", slots=10, cores=10), 0)
    r = core.submit_graph(single("t", 10, maxNbCores=1, max_rn=2), 0)
    assert len(assigns(core.request_work("a", 10, 0))) == 2
    assert len(assigns(core.set_max_rn(r.graph_id, 5, 1))) == 3
    assert core.set_max_rn(r.graph_id, 1, 2) == []  # lowering kills nothing
    assert core.render_nodes()[0]["running"].__len__() == 5
    with pytest.raises(IllegalTransitionError, match="maxRN is -1; a task or group maxRN is 0 \\(unbounded\\)"):
        core.set_max_rn(r.node_ids[1], -1, 3)  # -1 (unbounded) is a graph's value only, as at submit
    assert len(assigns(core.set_max_rn(r.node_ids[1], 0, 3))) == 0  # task cap is free; graph 1
    assert len(assigns(core.set_max_rn(r.graph_id, 0, 4))) == 5


def test_user_max_rn_jobs_are_served_first():
    core = SchedulingCore()
    core.node_joined(rn("a", slots=10, cores=10), 0)
    core.submit_graph(single("fair", 10, maxNbCores=1, dispatch_key=100), 0)
    core.submit_graph(single("capped", 10, maxNbCores=1, max_rn=3), 0)
    out = assigns(core.request_work("a", 10, 0))
    assert [a.task_name for a in out[:3]] == ["capped"] * 3
    assert Counter(a.task_name for a in out) == {"capped": 3, "fair": 7}


def test_fair_share_by_dispatch_key_over_slots():
    core = SchedulingCore()
    for i in range(3):
        core.node_joined(rn(f"n{i}", slots=4, cores=4), 0)
    core.submit_graph(single("low", 50, maxNbCores=1, dispatch_key=0), 0)
    core.submit_graph(single("high", 50, maxNbCores=1, dispatch_key=1), 0)
    got = []
    for i in range(3):
        got += assigns(core.request_work(f"n{i}", 4, 0))
    # weights 1 and 2: 12 slots shared 4 / 8; the higher key goes first on ties
    assert Counter(a.task_name for a in got) == {"low": 4, "high": 8}
    assert got[0].task_name == "high"


def test_one_big_job_does_not_starve_a_small_one():
    core = SchedulingCore()
    core.node_joined(rn("a", slots=4, cores=4), 0)
    core.submit_graph(single("big", 1000, maxNbCores=1), 0)
    first = assigns(core.request_work("a", 4, 0))
    core.submit_graph(single("small", 3, maxNbCores=1), 1)
    names = []
    for a in first:
        finish(core, a, 2)
    names = [a.task_name for a in assigns(core.request_work("a", 4, 3))]
    assert Counter(names) == {"big": 2, "small": 2}


def test_equal_keys_go_by_submission_order_and_fifo_inside_a_job():
    core = SchedulingCore()
    core.node_joined(rn("a"), 0)
    core.submit_graph(graph([group("root", [1, 2]), task("t1", 2), task("t2", 2)], name="A"), 0)
    core.submit_graph(single("B", 2), 0)
    order = []
    for t in range(6):
        (a,) = assigns(core.request_work("a", 1, t))
        order.append((a.graph_id, a.name))
        finish(core, a, t)
    assert [n for g, n in order if g == 1] == ["t1_1_1", "t1_2_2", "t2_1_1", "t2_2_2"]
    assert [n for g, n in order if g == 5] == ["B_1_1", "B_2_2"]
    # one slot, nothing running at each decision: shares tie, submission order decides
    assert [g for g, _ in order] == [1, 1, 1, 1, 5, 5]
    assert order[0][0] == 1


def test_faster_waiting_node_gets_new_work_first():
    core = SchedulingCore()
    core.node_joined(rn("slow", perf=1.0), 0)
    core.node_joined(rn("fast", perf=3.0), 0)
    core.request_work("slow", 1, 0)
    core.request_work("fast", 1, 0)
    (a,) = assigns(core.submit_graph(single("t", 1), 1).decisions)
    assert a.node == "fast"


def test_paused_and_quarantined_nodes_get_nothing():
    core = SchedulingCore()
    core.node_joined(rn("a"), 0)
    core.submit_graph(single("t", 3), 0)
    core.pause_render_node("a", 0)
    assert core.request_work("a", 1, 0) == []
    assert len(assigns(core.resume_render_node("a", 1))) == 1


def test_a_command_may_give_its_licence_back_before_it_ends() -> None:
    core = SchedulingCore()
    core.node_joined(rn("a", slots=2), 0)
    core.set_licence("shave", 1, 0)
    core.submit_graph(single("t", 2, lic="shave", maxNbCores=1), 0)
    (first,) = assigns(core.request_work("a", 2, 0))  # one token: one command
    (second,) = assigns(core.release_command_licence(first.command_id, first.attempt, "shave", 1))
    assert core.licences.stats()[0]["used"] == 1  # now held by the second
    assert core.release_command_licence(first.command_id, first.attempt, "shave", 2) == []  # given once
    core.command_update(first.command_id, first.attempt, 3, status=5)
    assert core.licences.stats()[0]["used"] == 1  # its end does not give the token twice
    core.command_update(second.command_id, second.attempt, 4, status=5)
    assert core.licences.stats()[0]["used"] == 0
