"""Snapshots: deep graphs survive dump -> msgpack -> load, and format-1 snapshots (each
folder's children nested in it) still load to the same state."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgpack
import pytest

from puli_mesh.coordinator import snapshot
from puli_mesh.coordinator.core import SchedulingCore
from puli_mesh.errors import CoreError
from puliclient.status import CommandStatus, NodeStatus
from tests.unit.coordinator.graphs import (
    DEEP,
    assigns,
    finish,
    flat_view,
    graph,
    group,
    nested,
    rn,
    submit_unchecked,
    task,
)

FORMAT_1 = Path(__file__).with_name("snapshot_format1.json")
DONE = int(NodeStatus.DONE)


def through_msgpack(data: dict[str, Any]) -> dict[str, Any]:
    """What a successor reads back: packed and unpacked as the journal does."""
    return msgpack.unpackb(msgpack.packb(data, use_bin_type=True), raw=False, strict_map_key=False)


def farm() -> SchedulingCore:
    """A small farm in every kind of state a snapshot stores: groups, met and unmet
    dependencies, running and finished commands, a licence in use, a retry pending, a
    timer, a paused task, a pipelined node, tags, edits. Its snapshot in format 1 is
    ``snapshot_format1.json`` (written by the code before format 2, from this function)."""
    core = SchedulingCore()
    core.set_licence("lic_a", 2, 0)
    core.node_joined(rn("a", slots=2), 0)
    core.node_joined(rn("b", slots=1, pipeline=1), 0)
    first = core.submit_graph(graph([
        group("root", [1, 2, 3], tags={"shot": ["s1", 2]}),
        group("inner", [4, 5], arguments={"cmd": "echo inner"}),
        task("render", 3, packet=2, lic="lic_a", maxAttempt=2),
        task("late", 1, timer=500.0),
        task("comp", 2, deps=[[2, [DONE]]]),
        task("held", 1),
    ], name="first"), 1)
    second = core.submit_graph(graph([group("root2", [1]), task("only", 2)], name="second"), 2)
    core.pause(first.node_ids[5], 3)
    core.set_dispatch_key(second.graph_id, 7, 3)
    core.set_tags(first.node_ids[2], {"note": {"k": [1, 2]}}, 3)
    a = assigns(core.request_work("a", 2, 4))
    b = assigns(core.request_work("b", 2, 4))
    finish(core, a[0], 10)
    core.command_started(a[1].command_id, a[1].attempt, 11)
    core.command_update(a[1].command_id, a[1].attempt, 12, status=int(CommandStatus.ERROR))
    core.command_started(b[0].command_id, b[0].attempt, 13)
    core.command_update(b[0].command_id, b[0].attempt, 14, completion=0.5, message="half")
    return core


def test_a_deep_graph_survives_a_snapshot_through_msgpack():
    core = SchedulingCore()
    core.node_joined(rn("a", slots=2), 0)
    gid = submit_unchecked(core, nested(DEEP), 0).graph_id
    first, second = assigns(core.request_work("a", 2, 1))
    finish(core, first, 2)
    data = core.snapshot()
    restored = SchedulingCore.restore(through_msgpack(data))
    assert flat_view(restored.graph_tree(gid)) == flat_view(core.graph_tree(gid))
    assert restored.snapshot() == data
    # The same events give the same decisions: the deepest group ends, top is released.
    for twin in (core, restored):
        finish(twin, second, 3)
    assert restored.request_work("a", 2, 3) == core.request_work("a", 2, 3) != []
    assert flat_view(restored.graph_tree(gid)) == flat_view(core.graph_tree(gid))


def test_user_values_nested_deeper_than_the_stack_are_dumped():
    core = SchedulingCore()
    deep: Any = "bottom"
    for i in range(DEEP):
        deep = {i: (deep,)} if i % 2 else [deep]
    rep = graph([group("root", [1]), task("t", 1, arguments={"cmd": "x", "deep": deep})])
    submit_unchecked(core, rep, 0)
    dumped = core.snapshot()["graphs"][0][-1]["arguments"]["deep"]
    for i in reversed(range(DEEP)):  # int keys became str, tuples lists: all that changes
        dumped = dumped[str(i)][0] if i % 2 else dumped[0]
    assert dumped == "bottom"


START = 7  # a command row's start time in a snapshot
RUN_TIMES = ("tpf_sum", "tpf_min", "tpf_max", "done_s", "avg_time_per_frame_s",
             "min_time_per_frame_s", "max_time_per_frame_s")


def without_run_times(data: Any) -> Any:
    """``data`` without the commands' start times and the per-frame times drawn from them.

    Format 1 was written when a command started at the time its RUNNING report arrived; it
    now starts when it got its slot, which is 4 in ``farm()``, and 10, 11 and 13 in the file.
    """
    if isinstance(data, dict):
        command = "attempts" in data
        return {k: None if k in RUN_TIMES or (command and k == "start_time") else without_run_times(v)
                for k, v in data.items() if k != "sick"}
    if isinstance(data, list):
        if len(data) > 14 and isinstance(data[0], int) and isinstance(data[6], int):  # a command row
            return [None if i == START else without_run_times(v) for i, v in enumerate(data)]
        return [without_run_times(v) for v in data]
    return data


def test_a_format_1_snapshot_loads_to_the_same_state():
    old = json.loads(FORMAT_1.read_text())
    assert old["format"] == 1 and "children" in old["graphs"][0]
    live = farm()
    restored = SchedulingCore.restore(old)
    # Format 1 predates sick hosts: a restored core knows of no avoidance, all else is equal.
    assert restored.snapshot()["sick"] == {"commands": [], "jobs": [], "failures": []}
    assert without_run_times(restored.snapshot()) == without_run_times(live.snapshot())
    assert restored.snapshot()["graphs"][1][2]["commands"][0][START] == 10  # as the file says
    for g in live.graphs():
        assert without_run_times(restored.graph_tree(g["id"])) == without_run_times(live.graph_tree(g["id"]))
    assert restored.render_nodes() == live.render_nodes()
    assert restored.request_work("a", 2, 20) == live.request_work("a", 2, 20)


def test_the_snapshot_stores_each_graph_flat_parents_first():
    nodes = farm().snapshot()["graphs"][0]
    assert [(n["type"], n["name"]) for n in nodes] == [
        ("Graph", "first"), ("TaskGroup", "root"), ("TaskGroup", "inner"), ("Task", "comp"),
        ("Task", "held"), ("Task", "render"), ("Task", "late")]
    ids = [n["id"] for n in nodes]
    assert nodes[0]["parent"] is None
    assert all(ids.index(n["parent"]) < ids.index(n["id"]) for n in nodes[1:])
    assert all("children" not in n for n in nodes)


def test_an_unknown_format_is_refused_by_name():
    data = farm().snapshot()
    data["format"] = snapshot.FORMAT + 1
    with pytest.raises(CoreError, match=f"format {snapshot.FORMAT + 1}.*reads.*1, {snapshot.FORMAT}"):
        SchedulingCore.restore(data)
