"""Render nodes joining again (``render_node_events.reconcile`` through the core's facade)."""

from __future__ import annotations

from puli_mesh.coordinator.core import SchedulingCore
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
