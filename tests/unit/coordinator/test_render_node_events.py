"""Render nodes joining again (``render_node_events.reconcile``) and obeying their killfile (the core)."""

from __future__ import annotations

import pytest

from puli_mesh.coordinator.core import SchedulingCore
from puli_mesh.coordinator.decisions import Kill
from puli_mesh.errors import IllegalTransitionError, UnknownIdError
from puli_mesh.protocol import KillfileOrder
from tests.unit.coordinator.graphs import assigns, finish, rn, single


def test_only_the_node_last_given_an_attempt_may_reattach_it():
    """The attempt token is no proof of holding: a HELLO from another node listing a READY
    command with the right token gets a kill, and the command stays free for its own node."""
    core = SchedulingCore()
    core.node_joined(rn("a"), 0)
    core.node_joined(rn("b"), 0)
    core.submit_graph(single("t", 1), 0)
    (x,) = assigns(core.request_work("a", 1, 0))
    core.node_left("a", 1)
    assert core.command(x.command_id)["status_name"] == "READY"

    keep, kill, _ = core.reconcile_node(rn("b"), [(x.command_id, x.attempt)], 2)
    assert keep == [] and kill == [x.command_id]
    assert core.command(x.command_id)["status_name"] == "READY"
    assert core.render_nodes()[1]["name"] == "b" and not core.commands(render_node="b")

    keep, kill, _ = core.reconcile_node(rn("a"), [(x.command_id, x.attempt)], 3)
    assert keep == [x.command_id] and kill == []
    shown = core.command(x.command_id)
    assert shown["status_name"] == "RUNNING" and shown["render_node"] == "a"


def test_a_node_cannot_claim_a_command_another_node_runs():
    core = SchedulingCore()
    core.node_joined(rn("a"), 0)
    core.submit_graph(single("t", 1), 0)
    (x,) = assigns(core.request_work("a", 1, 0))
    keep, kill, _ = core.reconcile_node(rn("b"), [(x.command_id, x.attempt)], 1)
    assert keep == [] and kill == [x.command_id]
    assert core.command(x.command_id)["render_node"] == "a"


# ------------------------------------------------------------ operator's pools, performance, removal
def pool_members(core: SchedulingCore) -> dict[str, list[str]]:
    return {p["name"]: p["render_nodes"] for p in core.pools()}


def test_an_operators_pools_outlive_a_hello_with_other_pools_until_cleared():
    core = SchedulingCore()
    core.define_pool("gpu")
    core.node_joined(rn("a", pools=["default"]), 0)
    core.set_node_pools("a", ["gpu"], 1)
    core.node_left("a", 2)
    core.reconcile_node(rn("a", pools=["default", "farm"]), [], 3)  # its agent says other pools
    view = core.render_nodes()[0]
    assert view["pools"] == ["gpu"] and view["pools_override"] == ["gpu"]
    assert view["configured_pools"] == ["default", "farm"]
    assert pool_members(core)["gpu"] == ["a"] and pool_members(core)["default"] == []

    core.set_node_pools("a", None, 4)  # cleared: what its agent said
    view = core.render_nodes()[0]
    assert view["pools"] == ["default", "farm"] and view["pools_override"] is None
    assert pool_members(core)["gpu"] == [] and pool_members(core)["farm"] == ["a"]


def test_new_work_follows_the_new_pools_and_what_runs_goes_on():
    core = SchedulingCore()
    core.define_pool("gpu")
    core.node_joined(rn("a"), 0)
    core.submit_graph(single("d", 2), 0)
    core.submit_graph(single("g", 1, pool="gpu"), 0)
    (running,) = assigns(core.request_work("a", 1, 1))
    decisions = core.set_node_pools("a", ["gpu"], 2)
    assert decisions == []  # nothing killed, and no free slot yet
    assert core.command(running.command_id)["status_name"] == "ASSIGNED"
    (nxt,) = assigns(finish(core, running, 3) + core.request_work("a", 1, 4))
    assert core.command(nxt.command_id)["task_name"] == "g"  # the gpu job, not the default's second command


def test_an_unknown_pool_is_refused_and_nothing_changes():
    core = SchedulingCore()
    core.node_joined(rn("a"), 0)
    with pytest.raises(UnknownIdError, match="no pool is called 'nope'"):
        core.set_node_pools("a", ["nope"], 1)
    with pytest.raises(UnknownIdError):
        core.set_pool_nodes("nope", ["a"], 1)
    with pytest.raises(UnknownIdError, match="no render node"):
        core.set_pool_nodes("default", ["a", "ghost"], 1)
    assert core.render_nodes()[0]["pools"] == ["default"] and core.render_nodes()[0]["pools_override"] is None


def test_a_pools_member_list_is_replaced_as_puli_did():
    core = SchedulingCore()
    core.define_pool("gpu")
    for name in ("a", "b", "c"):
        core.node_joined(rn(name, pools=["default", "gpu"] if name == "c" else ["default"]), 0)
    core.set_pool_nodes("gpu", ["a", "b"], 1)
    assert pool_members(core)["gpu"] == ["a", "b"]
    views = {v["name"]: v for v in core.render_nodes()}
    assert views["a"]["pools"] == ["default", "gpu"] and views["c"]["pools"] == ["default"]
    assert views["c"]["pools_override"] == ["default"]  # it left the pool by an operator's word
    core.set_pool_nodes("gpu", [], 2)
    assert pool_members(core)["gpu"] == []


def test_performance_orders_the_waiting_nodes_and_outlives_a_hello():
    core = SchedulingCore()
    for name in ("a", "b"):
        core.node_joined(rn(name), 0)
        core.request_work(name, 1, 0)  # both wait; equal performance: by name, a first
    core.set_node_performance("b", 3.0, 1)
    (x,) = assigns(core.submit_graph(single("t", 1), 2).decisions)
    assert x.node == "b"
    core.set_node_performance("b", None, 3)
    (y,) = assigns(core.submit_graph(single("u", 1), 4).decisions)
    assert y.node == "a"
    core.set_node_performance("a", 0.5, 5)
    core.node_left("a", 6)
    core.reconcile_node(rn("a", perf=1.0), [], 7)
    view = {v["name"]: v for v in core.render_nodes()}["a"]
    assert view["performance"] == 0.5 and view["performance_override"] == 0.5


def test_only_a_node_that_left_is_removed_and_it_comes_back_as_new():
    core = SchedulingCore()
    core.define_pool("gpu")
    core.node_joined(rn("a"), 0)
    core.set_node_pools("a", ["gpu"], 0)
    core.submit_graph(single("t", 1), 0)
    with pytest.raises(IllegalTransitionError, match="stop its agent first"):
        core.remove_render_node("a", 1)
    core.node_left("a", 2)
    core.remove_render_node("a", 3)
    assert core.render_nodes() == [] and pool_members(core)["gpu"] == []
    with pytest.raises(UnknownIdError):
        core.remove_render_node("a", 4)
    core.node_joined(rn("a"), 5)
    assert core.render_nodes()[0]["pools"] == ["default"] and core.render_nodes()[0]["pools_override"] is None


def test_removing_forgets_quarantine_and_running_bookkeeping():
    core = SchedulingCore()
    core.node_joined(rn("a"), 0)
    core.submit_graph(single("t", 1), 0)
    (x,) = assigns(core.request_work("a", 1, 1))
    core.node_left("a", 2)  # its command went back to READY then
    assert core.command(x.command_id)["status_name"] == "READY"
    core.remove_render_node("a", 3)
    core.node_joined(rn("b"), 4)
    (again,) = assigns(core.request_work("b", 1, 5))
    assert again.command_id == x.command_id


def killfile_core() -> SchedulingCore:
    core = SchedulingCore()
    core.node_joined(rn("a"), 0)
    core.submit_graph(single("t", 3), 0)
    return core


def test_an_empty_killfile_drains_the_node_and_its_removal_gives_it_work_again():
    core = killfile_core()
    (x,) = assigns(core.request_work("a", 1, 0))
    assert core.node_killfile("a", KillfileOrder.PAUSE, 1) == []  # what runs goes on
    (view,) = core.render_nodes()
    assert view["paused"] and view["draining"] and view["killfile"] and view["running"] == [x.command_id]
    core.command_started(x.command_id, x.attempt, 2)
    assert assigns(core.command_update(x.command_id, x.attempt, 3, status=5)) == []  # nothing new
    (y,) = assigns(core.node_killfile("a", KillfileOrder.OFF, 4) + core.request_work("a", 1, 4))
    assert not core.render_nodes()[0]["paused"] and not core.render_nodes()[0]["killfile"]


def test_a_kill_in_the_killfile_requeues_what_runs_without_spending_an_attempt():
    core = killfile_core()
    (x,) = assigns(core.request_work("a", 1, 0))
    core.command_started(x.command_id, x.attempt, 1)
    decisions = core.node_killfile("a", KillfileOrder.KILL, 2)
    assert [d.command_id for d in decisions if isinstance(d, Kill)] == [x.command_id]
    shown = core.command(x.command_id)
    assert shown["status_name"] == "READY" and shown["attempts"] == 0
    (view,) = core.render_nodes()
    assert view["paused"] and view["killfile"] and not view["draining"]


def test_the_killfile_never_undoes_an_operators_pause():
    core = killfile_core()
    core.pause_render_node("a", 1)
    core.node_killfile("a", KillfileOrder.PAUSE, 2)
    assert not core.render_nodes()[0]["killfile"]  # the operator's pause stays the operator's
    core.node_killfile("a", KillfileOrder.OFF, 3)
    assert core.render_nodes()[0]["paused"]
    # ...and an operator's pause taken over a killfile's is the operator's from then on
    core.resume_render_node("a", 4)
    core.node_killfile("a", KillfileOrder.PAUSE, 5)
    core.pause_render_node("a", 6)
    core.node_killfile("a", KillfileOrder.OFF, 7)
    assert core.render_nodes()[0]["paused"]


def test_the_killfiles_pause_survives_a_snapshot():
    core = killfile_core()
    core.node_killfile("a", KillfileOrder.PAUSE, 1)
    restored = SchedulingCore.restore(core.snapshot())
    assert restored.render_nodes()[0]["killfile"] and restored.render_node_briefs()["a"].killfile
    restored.node_killfile("a", KillfileOrder.OFF, 2)
    assert not restored.render_nodes()[0]["paused"]


def test_an_update_of_a_nodes_characteristics_keeps_its_pipeline():
    """``node_updated`` rebuilt the node's info without its pipeline: short commands then stopped
    being sent ahead to it."""
    core = SchedulingCore()
    core.node_joined(rn("a", pipeline=16), 0)
    core.node_updated("a", 1, characteristics={"softs": ["nuke"]}, free_ram_mb=1000)
    assert core._st.render_nodes["a"].pipeline == 16
