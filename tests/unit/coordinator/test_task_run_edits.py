"""Settings a task gives the commands it starts (``coordinator.task_run_edits``): ``idleTimeout``
stored at submission, sent in each ASSIGN, edited at run time (``set``), kept by a snapshot and
by a successor's replay; ``killOnRamOveruse`` edited at run time: checked before it is
journalled, sent with the next commands only, replayed by a successor, kept by a snapshot."""

from __future__ import annotations

from typing import Any

import msgpack
import pytest

from puli_mesh.coordinator.core import SchedulingCore
from puli_mesh.coordinator.edit_actions import apply_edit, check_edit
from puli_mesh.coordinator.records import EditRecord, SubmitRecord, replay
from puli_mesh.errors import CoreError
from puli_mesh.limits import MAX_IDLE_TIMEOUT_S
from puli_mesh.protocol import CommandSpec
from puliclient.status import CommandStatus
from tests.unit.coordinator.graphs import assigns, rn, single


def core_with(**fields: Any) -> tuple[SchedulingCore, int, int]:
    """A core with one idle node and one task of 3 commands in a group: (core, the group's id, the task's)."""
    core = SchedulingCore()
    core.node_joined(rn("rn1", slots=1), 0.0)
    result = core.submit_graph(single("t", 3, **fields), 0.0)
    return core, result.node_ids[0], result.node_ids[1]


def edit(core: SchedulingCore, now: float, **args: Any) -> None:
    check_edit("set", args)
    apply_edit(core, "set", args, now)


def test_the_tasks_idle_timeout_travels_in_its_assign_and_on_the_wire() -> None:
    core, _, task_id = core_with(idleTimeout=2)
    [decision] = assigns(core.request_work("rn1", 1, 1.0))
    assert decision.idle_timeout == 2.0
    assert CommandSpec.from_map(decision.to_map()).idle_timeout == 2.0
    assert core.node(task_id)["idleTimeout"] == 2.0


def test_without_one_the_assign_leaves_it_to_the_agents_default() -> None:
    core, _, task_id = core_with()
    [decision] = assigns(core.request_work("rn1", 1, 1.0))
    assert decision.idle_timeout is None
    assert "idle_timeout" not in decision.to_map()  # absent on the wire: an older worker reads the same
    assert core.node(task_id)["idleTimeout"] is None


def test_zero_is_sent_it_turns_the_agents_default_off() -> None:
    core, _, _ = core_with(idleTimeout=0)
    [decision] = assigns(core.request_work("rn1", 1, 1.0))
    assert decision.to_map()["idle_timeout"] == 0.0


def test_set_changes_the_next_commands_of_every_task_under_a_node() -> None:
    core, group_id, task_id = core_with()
    edit(core, 1.0, id=group_id, values={"idleTimeout": 600})
    [decision] = assigns(core.request_work("rn1", 1, 2.0))
    assert decision.idle_timeout == 600.0
    edit(core, 3.0, id=task_id, values={"idleTimeout": None})  # back to the agents' default
    assert core.node(task_id)["idleTimeout"] is None


@pytest.mark.parametrize("value", [-1, MAX_IDLE_TIMEOUT_S + 1, "soon", True, float("nan"), float("inf"), [5]])
def test_set_refuses_a_bad_idle_timeout_before_it_is_journalled(value: Any) -> None:
    with pytest.raises(ValueError, match="idleTimeout"):
        check_edit("set", {"id": 1, "values": {"idleTimeout": value}})


def test_set_on_an_unknown_id_is_refused() -> None:
    core, _, _ = core_with()
    with pytest.raises(CoreError):
        apply_edit(core, "set", {"id": 999, "values": {"idleTimeout": 5}}, 1.0)


def test_a_snapshot_and_a_replayed_edit_keep_it() -> None:
    core, _, task_id = core_with(idleTimeout=30)
    data = msgpack.unpackb(msgpack.packb(core.snapshot(), use_bin_type=True), raw=False, strict_map_key=False)
    restored = SchedulingCore.restore(data)
    assert restored.node(task_id)["idleTimeout"] == 30.0
    record = EditRecord("set", {"id": task_id, "values": {"idleTimeout": 90}}, 5.0)
    assert replay(restored, [(0, record.to_data())]) == 0
    assert restored.node(task_id)["idleTimeout"] == 90.0


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
