"""``killOnRamOveruse`` edited at run time (``coordinator.ram_overuse_edits``): checked before it is
journalled, sent with the next commands only, replayed by a successor, kept by a snapshot."""

from __future__ import annotations

import pytest

from puli_mesh.coordinator.core import SchedulingCore
from puli_mesh.coordinator.edit_actions import apply_edit, check_edit
from puli_mesh.coordinator.records import EditRecord, SubmitRecord, replay
from puli_mesh.protocol import CommandSpec
from puliclient.status import CommandStatus
from tests.unit.coordinator.graphs import assigns, rn, single


def test_the_next_command_gets_the_flag_the_running_one_keeps_its_own() -> None:
    core = SchedulingCore()
    core.node_joined(rn("rn1", slots=1), 0.0)
    result = core.submit_graph(single("t", 2, ramUse=50), 0.0)
    task_id = result.node_ids[1]
    [first] = assigns(core.request_work("rn1", 1, 1.0))
    assert apply_edit(core, "set", {"id": task_id, "values": {"killOnRamOveruse": "true"}}, 2.0) == []
    assert core.node(task_id)["killOnRamOveruse"] is True
    core.command_started(first.command_id, first.attempt, 2.0)
    core.command_update(first.command_id, first.attempt, 3.0, status=CommandStatus.DONE.value)
    [second] = assigns(core.request_work("rn1", 1, 4.0))
    assert CommandSpec.from_map(second.to_map()).kill_on_ram_overuse is True
    assert "kill_on_ram_overuse" not in first.to_map()  # sent before the edit: its node keeps that
    restored = SchedulingCore.restore(core.snapshot())
    assert restored.node(task_id)["killOnRamOveruse"] is True
    apply_edit(core, "set", {"id": result.graph_id, "values": {"killOnRamOveruse": False}}, 5.0)  # a whole job
    assert core.node(task_id)["killOnRamOveruse"] is False


@pytest.mark.parametrize("bad", ["yes", 1, None, "", [True]])
def test_anything_but_true_or_false_is_refused_before_it_is_journalled(bad: object) -> None:
    with pytest.raises(ValueError, match="killOnRamOveruse must be true or false"):
        check_edit("set", {"id": 1, "values": {"killOnRamOveruse": bad}})
    check_edit("set", {"id": 1, "values": {"killOnRamOveruse": "FALSE"}})


def test_a_successor_replaying_the_journal_has_the_flag() -> None:
    live = SchedulingCore()
    task_id = live.submit_graph(single("t", 1, ramUse=50), 0.0).node_ids[1]
    journal = [SubmitRecord(single("t", 1, ramUse=50), 0.0, "r1"),
               EditRecord("set", {"id": task_id, "values": {"killOnRamOveruse": True}}, 1.0)]
    successor = SchedulingCore()
    assert replay(successor, enumerate(r.to_data() for r in journal)) == 0
    assert successor.node(task_id)["killOnRamOveruse"] is True
