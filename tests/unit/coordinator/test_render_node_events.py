"""Render nodes joining again (``render_node_events.reconcile``) and obeying their killfile (the core)."""

from __future__ import annotations

from puli_mesh.coordinator.core import SchedulingCore
from puli_mesh.coordinator.decisions import Kill
from puli_mesh.protocol import KillfileOrder
from tests.unit.coordinator.graphs import assigns, rn, single


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
