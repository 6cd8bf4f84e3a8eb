"""A task's ``killOnRamOveruse`` on the coordinator's side: stored at submission, sent in each
ASSIGN only when set, shown in the task's view, kept by a snapshot."""

from __future__ import annotations

import msgpack

from puli_mesh.coordinator.core import SchedulingCore
from puli_mesh.protocol import CommandSpec
from tests.unit.coordinator.graphs import assigns, rn, single


def test_the_kill_flag_travels_in_the_assign_with_the_ram_it_booked() -> None:
    core = SchedulingCore()
    core.node_joined(rn("rn1", slots=1), 0.0)
    task_id = core.submit_graph(single("t", 1, ramUse=50, killOnRamOveruse=True), 0.0).node_ids[1]
    [decision] = assigns(core.request_work("rn1", 1, 1.0))
    spec = CommandSpec.from_map(decision.to_map())
    assert (spec.ram_mb, spec.kill_on_ram_overuse) == (50, True)
    assert core.node(task_id)["killOnRamOveruse"] is True


def test_without_it_nothing_more_goes_on_the_wire() -> None:
    core = SchedulingCore()
    core.node_joined(rn("rn1", slots=1), 0.0)
    task_id = core.submit_graph(single("t", 1, ramUse=50), 0.0).node_ids[1]
    [decision] = assigns(core.request_work("rn1", 1, 1.0))
    assert "kill_on_ram_overuse" not in decision.to_map()  # an older worker reads the same
    assert core.node(task_id)["killOnRamOveruse"] is False


def test_a_snapshot_keeps_it() -> None:
    core = SchedulingCore()
    task_id = core.submit_graph(single("t", 1, ramUse=50, killOnRamOveruse=True), 0.0).node_ids[1]
    data = msgpack.unpackb(msgpack.packb(core.snapshot(), use_bin_type=True), raw=False, strict_map_key=False)
    restored = SchedulingCore.restore(data)
    assert restored.node(task_id)["killOnRamOveruse"] is True
    restored.node_joined(rn("rn1", slots=1), 1.0)
    [decision] = assigns(restored.request_work("rn1", 1, 2.0))
    assert decision.kill_on_ram_overuse is True
