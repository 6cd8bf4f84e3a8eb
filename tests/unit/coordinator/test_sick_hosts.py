"""Sick hosts: a failed command's retries avoid its node while another can run it, a job with K
failures on a node avoids it for T seconds then forgives it, ``clear_node``, snapshot and replay."""

from __future__ import annotations

import pytest

from puli_mesh.coordinator.core import CoreSettings, SchedulingCore
from puli_mesh.coordinator.records import EditRecord, replay
from puli_mesh.errors import IllegalTransitionError, InvalidGraphError
from puliclient.status import CommandStatus
from tests.unit.coordinator.graphs import assigns, finish, rn, single

ERROR = CommandStatus.ERROR


def two_nodes(settings: CoreSettings | None = None) -> SchedulingCore:
    core = SchedulingCore(settings or CoreSettings(retry_delay_s=0.0))
    core.node_joined(rn("a"), 0)
    core.node_joined(rn("b"), 0)
    return core


def sick_graph(n: int = 1, **tags: object) -> dict:
    rep = single("t", n, maxAttempt=10)
    rep["tasks"][0]["tags"] = dict(tags)
    return rep


def test_a_retry_avoids_the_node_it_failed_on_when_another_can_run_it():
    core = two_nodes()
    core.submit_graph(sick_graph(), 0)
    (a,) = assigns(core.request_work("a", 1, 1))
    finish(core, a, 2, status=ERROR)
    core.tick(3)  # the retry is READY again
    assert core.request_work("a", 1, 4) == []  # a asks first, but the command failed there
    (again,) = assigns(core.request_work("b", 1, 5))
    assert again.command_id == a.command_id and again.node == "b"
    assert core.avoidance_reasons("a", 5)["avoided_by_commands"] == [a.command_id]


def test_a_waiting_node_of_the_same_profile_is_offered_the_retry():
    """The node it failed on is passed over, not "every node like it": b, waiting, gets it."""
    core = two_nodes()
    core.submit_graph(sick_graph(), 0)
    (a,) = assigns(core.request_work("a", 1, 1))
    assert core.request_work("b", 1, 1) == []  # b waits with credit
    finish(core, a, 2, status=ERROR)
    core.request_work("a", 1, 2)  # a waits too
    (again,) = assigns(core.tick(3))
    assert again.node == "b"


def test_when_no_other_node_can_run_it_the_retry_goes_back():
    core = two_nodes()
    core.submit_graph(sick_graph(), 0)
    (a,) = assigns(core.request_work("a", 1, 1))
    finish(core, a, 2, status=ERROR)
    core.pause_render_node("b", 2)
    core.tick(3)
    (again,) = assigns(core.request_work("a", 1, 4))
    assert again.command_id == a.command_id


def test_k_failures_make_the_job_avoid_the_node_until_forgiven():
    core = two_nodes(CoreSettings(retry_delay_s=0.0, sick_after=2, forgive_after_s=100.0))
    gid = core.submit_graph(sick_graph(4), 0).graph_id
    core.pause_render_node("b", 0)
    for now in (1, 2):  # b paused: a's avoidances are not honoured, so a fails twice
        (a,) = assigns(core.request_work("a", 1, now))
        finish(core, a, now, status=ERROR)
    core.resume_render_node("b", 3)
    core.tick(3)
    assert core.request_work("a", 1, 4) == []  # the whole job avoids a now, not only those two
    assert core.avoidance_reasons("a", 4)["avoided_by"] == [{"job": gid, "until": 102.0}]
    assert not core.tick_due(101.0) and core.tick_due(102.0)
    (given,) = assigns(core.tick(102.0))  # forgiven: a, waiting with credit, is offered the job again
    assert given.node == "a" and given.graph_id == gid
    assert core.avoidance_reasons("a", 102)["avoided_by"] == []


def test_the_jobs_tags_win_over_the_farm_defaults():
    core = two_nodes(CoreSettings(retry_delay_s=0.0, sick_after=5))
    gid = core.submit_graph(sick_graph(2, sickAfter=1, forgiveAfter=10), 0).graph_id
    (a,) = assigns(core.request_work("a", 1, 1))
    finish(core, a, 1, status=ERROR)
    assert core.avoidance_reasons("a", 1)["avoided_by"] == [{"job": gid, "until": 11.0}]


@pytest.mark.parametrize("tags", [{"sickAfter": 0}, {"sickAfter": "3"}, {"forgiveAfter": -1},
                                  {"forgiveAfter": True}])
def test_bad_tags_are_refused_at_submission(tags):
    with pytest.raises(InvalidGraphError, match="sickAfter|forgiveAfter"):
        two_nodes().submit_graph(sick_graph(**tags), 0)


def test_clear_node_forgives_quarantine_jobs_and_commands():
    core = two_nodes(CoreSettings(retry_delay_s=0.0, sick_after=1, quarantine_after=1))
    core.submit_graph(sick_graph(2), 0)
    (a,) = assigns(core.request_work("a", 1, 1))
    finish(core, a, 1, status=ERROR)
    assert core.request_work("a", 1, 1) == []  # quarantined; its credit is kept
    assert core.render_nodes()[0]["quarantined"]
    assert core.avoidance_reasons("a", 1)["avoided_by"] and core.avoidance_reasons("a", 1)["avoided_by_commands"]
    (first,) = assigns(core.clear_node("a", 2))  # forgiven, it takes work again at once
    assert first.node == "a"
    assert core.avoidance_reasons("a", 2) == {"avoided_by": [], "avoided_by_commands": []}
    assert not core.render_nodes()[0]["quarantined"]
    with pytest.raises(IllegalTransitionError, match="neither quarantined nor avoided"):
        core.clear_node("a", 3)


def test_done_forgets_the_commands_avoidance():
    core = two_nodes()
    core.submit_graph(sick_graph(), 0)
    (a,) = assigns(core.request_work("a", 1, 1))
    finish(core, a, 2, status=ERROR)
    core.tick(3)
    (again,) = assigns(core.request_work("b", 1, 4))
    finish(core, again, 5)
    assert core.avoidance_reasons("a", 5)["avoided_by_commands"] == []


def test_avoidance_survives_a_snapshot_and_gives_the_same_decisions():
    core = two_nodes(CoreSettings(retry_delay_s=0.0, sick_after=2, forgive_after_s=50.0))
    core.submit_graph(sick_graph(3), 0)
    core.pause_render_node("b", 0)
    for now in (1, 2):
        (a,) = assigns(core.request_work("a", 1, now))
        finish(core, a, now, status=ERROR)
    core.resume_render_node("b", 3)
    data = core.snapshot()
    twin = SchedulingCore.restore(data, core.settings)
    assert twin.snapshot() == data
    for c in (core, twin):
        c.tick(3)
    assert twin.request_work("a", 1, 4) == core.request_work("a", 1, 4) == []
    assert twin.tick(52) == core.tick(52) != []  # both forgive a at 52 and offer it the job


def test_clear_node_replayed_from_the_journal_gives_the_same_state():
    core = two_nodes(CoreSettings(retry_delay_s=0.0, sick_after=1))
    core.submit_graph(sick_graph(2), 0)
    (a,) = assigns(core.request_work("a", 1, 1))
    finish(core, a, 1, status=ERROR)
    successor = SchedulingCore.restore(core.snapshot(), core.settings)
    record = EditRecord("clear_node", {"name": "a"}, 2.0)
    record.apply(core)
    assert replay(successor, [(0, record.to_data())]) == 0
    assert successor.snapshot() == core.snapshot()
    assert core.snapshot()["sick"] == {"commands": [], "jobs": [], "failures": []}


def test_a_retry_waits_for_a_busy_other_node_rather_than_go_back():
    """Busy does not matter to the escape: b could run it, so a, idle, still passes it over."""
    core = two_nodes()
    core.submit_graph(sick_graph(), 0)
    other = core.submit_graph(single("long", 1), 0).graph_id
    (a,) = assigns(core.request_work("a", 1, 1))
    (b,) = assigns(core.request_work("b", 1, 1))
    assert b.graph_id == other
    finish(core, a, 2, status=ERROR)
    core.tick(3)
    assert core.request_work("a", 1, 4) == []
    (again,) = assigns(finish(core, b, 5) + core.request_work("b", 1, 5))
    assert again.command_id == a.command_id and again.node == "b"
