"""Run-time edits Puli allowed: timer, maxAttempt, ramUse, environment, arguments, name, user,
a command's description/arguments and DONE by hand, restart without cascade.

Each through the EDIT table (``apply_edit``), as a client's edit and a successor's replay apply it."""

from __future__ import annotations

from typing import Any

import pytest

from puli_mesh.coordinator.core import SchedulingCore
from puli_mesh.coordinator.decisions import Kill
from puli_mesh.coordinator.edit_actions import apply_edit, check_edit
from puli_mesh.coordinator.records import EditRecord, replay
from puli_mesh.errors import IllegalTransitionError, UnknownIdError
from puliclient.status import CommandStatus, NodeStatus

from .graphs import assigns, finish, graph, group, rn, single, task

DONE, ERROR, READY, BLOCKED = (int(CommandStatus.DONE), int(CommandStatus.ERROR), int(CommandStatus.READY),
                               int(CommandStatus.BLOCKED))


def core_with(rep: dict[str, Any], *, ram: int = 32000) -> tuple[SchedulingCore, list[int], list[int]]:
    """A core with one idle node and ``rep`` submitted: (core, node ids, command ids)."""
    core = SchedulingCore()
    core.node_joined(rn("rn1", ram=ram), 0.0)
    result = core.submit_graph(rep, 0.0)
    assert not assigns(result.decisions)  # nobody asked for work yet
    cids = [c["id"] for c in core.commands(result.graph_id)]
    return core, [result.graph_id, *result.node_ids], cids


def edit(core: SchedulingCore, action: str, now: float, **args: Any) -> list[Any]:
    check_edit(action, args)
    return apply_edit(core, action, args, now)


# ------------------------------------------------------------------ timer
def test_a_timer_set_on_a_task_holds_it_until_then_and_none_clears_it() -> None:
    core, (_g, _root, t), _ = core_with(single("t", 2))
    edit(core, "set", 1.0, id=t, values={"timer": 100})
    assert core.node(t)["timer"] == 100
    assert assigns(core.request_work("rn1", 1, 2.0)) == []
    assert len(assigns(edit(core, "set", 3.0, id=t, values={"timer": None}))) == 1  # offered to the waiting node


def test_a_groups_timer_holds_every_task_under_it_the_latest_of_the_chain_wins() -> None:
    core, (_g, root, t), _ = core_with(single("t", 1, timer=50.0))
    edit(core, "set", 1.0, id=root, values={"timer": 80.5})
    assert assigns(core.request_work("rn1", 1, 60.0)) == []  # its own has passed, the group's has not
    assert core.node(t)["timer"] == 50.0  # not overwritten (Puli copied the group's over it)
    assert len(assigns(core.request_work("rn1", 1, 81.0))) == 1


def test_moving_the_timer_of_a_parked_task_earlier_releases_it_at_the_new_time() -> None:
    core, (_g, _root, t), _ = core_with(single("t", 1, timer=1000.0))
    assert core.request_work("rn1", 1, 1.0) == []  # parked on its timer, the node waits
    edit(core, "set", 2.0, id=t, values={"timer": 50})
    assert core.tick(49.0) == []
    assert len(assigns(core.tick(51.0))) == 1  # offered to the waiting node at the new time


# ------------------------------------------------------------- maxAttempt
def test_raising_max_attempt_retries_the_commands_that_failed_for_good() -> None:
    core, (_g, _root, t), (cid,) = core_with(single("t", 1))
    (a,) = assigns(core.request_work("rn1", 1, 1.0))
    finish(core, a, 2.0, status=ERROR)
    assert core.command(cid)["status"] == ERROR and core.node(t)["status"] == int(NodeStatus.ERROR)
    edit(core, "set", 3.0, id=t, values={"maxAttempt": 2})
    assert core.node(t)["maxAttempt"] == 2
    (again,) = assigns(core.request_work("rn1", 1, 4.0))
    assert again.command_id == cid and core.command(cid)["attempts"] == 1  # the attempt it spent stays


def test_lowering_max_attempt_ends_the_pending_retries_that_have_no_attempt_left() -> None:
    core, (g, _root, t), (cid,) = core_with(single("t", 1, maxAttempt=3))
    (a,) = assigns(core.request_work("rn1", 1, 1.0))
    finish(core, a, 2.0, status=ERROR)
    assert core.command(cid)["retry_at"] is not None
    edit(core, "set", 3.0, id=g, values={"maxAttempt": 1})  # on the graph: every task under it
    assert core.node(t)["maxAttempt"] == 1
    assert core.command(cid)["retry_at"] is None
    assert assigns(core.tick(1000.0)) == [] and core.command(cid)["status"] == ERROR
    assert core.node(t)["status"] == int(NodeStatus.ERROR)


# ---------------------------------------------------------------- ramUse
def test_ram_use_moves_the_task_to_its_new_signature_for_the_next_assignment() -> None:
    core, (_g, _root, t), _ = core_with(single("t", 2), ram=1000)
    edit(core, "set", 1.0, id=t, values={"ramUse": 4000})  # more than the node has
    assert core.node(t)["ramUse"] == 4000
    assert core.request_work("rn1", 1, 2.0) == []
    (a,) = assigns(edit(core, "set", 3.0, id=t, values={"ramUse": 600}))  # the node waits: offered at once
    assert a.ram_mb == 600 and a.task_id == t


def test_lowering_ram_use_offers_the_task_to_a_node_already_waiting() -> None:
    core, (_g, _root, t), _ = core_with(single("t", 1, ramUse=4000), ram=1000)
    assert core.request_work("rn1", 1, 1.0) == []
    (a,) = assigns(edit(core, "set", 2.0, id=t, values={"ramUse": 0}))
    assert a.task_id == t



def test_a_gpus_edit_sends_the_task_to_nodes_with_that_many_free_gpus_from_its_next_assignment() -> None:
    core, (_g, _root, t), _ = core_with(single("t", 2))  # rn1 has no GPU
    edit(core, "set", 1.0, id=t, values={"gpus": 1})
    assert core.node(t)["gpus"] == 1
    assert core.request_work("rn1", 1, 2.0) == []
    gpu = rn("gpu1")
    gpu.gpus = ["7"]
    core.node_joined(gpu, 3.0)
    (a,) = assigns(core.request_work("gpu1", 1, 4.0))
    assert a.gpus == ("7",) and a.task_id == t
    (b,) = assigns(edit(core, "set", 5.0, id=t, values={"gpus": 0}))  # rn1 waits: offered at once
    assert b.node == "rn1" and b.gpus is None
    for bad in (-1, 65, "many"):
        with pytest.raises(ValueError, match="gpus"):
            check_edit("set", {"id": t, "values": {"gpus": bad}})

# ------------------------------------------------- environment and arguments
def test_environment_and_arguments_reach_the_next_command_and_an_empty_value_removes() -> None:
    core, (_g, root, t), _ = core_with(single("t", 3))
    edit(core, "environment", 1.0, id=root, environment={"SHOT": "010", "KEEP": "1"})
    edit(core, "arguments", 1.0, id=t, arguments={"cmd": "echo new", "extra": [1, 2]})
    (a,) = assigns(core.request_work("rn1", 1, 2.0))
    assert a.environment["SHOT"] == "010" and a.environment["KEEP"] == "1"
    assert a.arguments["cmd"] == "echo new" and a.arguments["extra"] == [1, 2]
    edit(core, "environment", 3.0, id=root, environment={"SHOT": None})
    edit(core, "arguments", 3.0, id=t, arguments={"extra": None})
    finish(core, a, 4.0)
    (b,) = assigns(core.request_work("rn1", 1, 5.0))
    assert "SHOT" not in b.environment and b.environment["KEEP"] == "1"
    assert "extra" not in b.arguments and b.arguments["cmd"] == "echo new"


def test_an_argument_edit_reaches_the_commands_copies_of_it_but_not_their_own_values() -> None:
    rep = single("t", 2)
    for c in rep["tasks"][1]["commands"]:  # as a decomposer makes them: the task's arguments copied in
        c["arguments"] = {"cmd": "echo t", **c["arguments"]}
    rep["tasks"][1]["commands"][1]["arguments"]["cmd"] = "echo special"
    core, (_g, _root, t), (first, second) = core_with(rep)
    edit(core, "arguments", 1.0, id=t, arguments={"cmd": "echo new", "start": 100})
    assert core.command(first)["arguments"] == {"cmd": "echo new", "start": 1, "end": 1}  # start: its own
    assert core.command(second)["arguments"]["cmd"] == "echo special"
    (a,) = assigns(core.request_work("rn1", 1, 2.0))
    assert (a.arguments["cmd"], a.arguments["start"]) == ("echo new", 1)


def test_an_edit_beyond_the_graph_limits_is_refused_by_the_core_with_nothing_changed() -> None:
    core, (_g, _root, t), _ = core_with(single("t", 1))
    for i in range(10):  # each within the limits, their sum not
        edit(core, "arguments", 1.0, id=t, arguments={f"a{j}": 0 for j in range(i * 1000, (i + 1) * 1000 - 1)})
    before = core.snapshot()
    with pytest.raises(IllegalTransitionError, match="value_items"):
        edit(core, "arguments", 2.0, id=t, arguments={f"b{j}": 0 for j in range(100)})
    assert core.snapshot() == before


# ----------------------------------------------------------- name and user
def test_a_jobs_name_and_user_change_and_the_next_command_runs_as_the_new_user() -> None:
    core, (g, _root, _t), _ = core_with(single("t", 2))
    edit(core, "set", 1.0, id=g, values={"name": "renamed"})
    edit(core, "set_user", 1.0, id=g, user="bob")
    view = core.graph_tree(g, False)
    assert (view["name"], view["user"]) == ("renamed", "bob")
    assert core.owner(node_id=g) == "bob"
    (a,) = assigns(core.request_work("rn1", 1, 2.0))
    assert a.user == "bob" and a.environment["PULI_USER"] == "bob"


def test_set_user_names_a_graph() -> None:
    core, (_g, _root, t), _ = core_with(single("t", 1))
    with pytest.raises(UnknownIdError, match="not a graph"):
        edit(core, "set_user", 1.0, id=t, user="bob")


# ---------------------------------------------------------------- commands
def test_a_commands_description_and_arguments_change_for_its_next_run() -> None:
    core, _ids, (first, second) = core_with(single("t", 2))
    edit(core, "command_set", 1.0, id=second, description="t_7_7", arguments={"start": 7, "end": 7, "x": "y"})
    edit(core, "command_set", 1.0, id=first, arguments={"start": 5})  # the task's key layout is kept
    view = core.command(second)
    assert view["description"] == "t_7_7" and view["arguments"] == {"start": 7, "end": 7, "x": "y"}
    (a,) = assigns(core.request_work("rn1", 1, 2.0))
    assert a.command_id == first and a.arguments["start"] == 5 and a.arguments["end"] == 1
    finish(core, a, 3.0)
    (b,) = assigns(core.request_work("rn1", 1, 4.0))
    assert (b.name, b.arguments["start"], b.arguments["x"]) == ("t_7_7", 7, "y")


def test_a_running_command_set_done_is_killed_and_its_dependents_unblock() -> None:
    rep = graph([group("root", [1, 2]), task("a", 1), task("b", 1, deps=[[1, [int(NodeStatus.DONE)]]])])
    core, (_g, _root, a_id, b_id), (a_cmd, b_cmd) = core_with(rep)
    (run,) = assigns(core.request_work("rn1", 1, 1.0))
    assert run.command_id == a_cmd and core.command(b_cmd)["status"] == BLOCKED
    decisions = edit(core, "command_done", 2.0, id=a_cmd)
    assert Kill("rn1", a_cmd, run.attempt, "set DONE") in decisions
    assert core.command(a_cmd)["status"] == DONE and core.command(a_cmd)["completion"] == 1.0
    assert core.command(a_cmd)["attempts"] == 0  # nothing ran to its end
    (nxt,) = assigns(decisions) or assigns(core.request_work("rn1", 1, 3.0))
    assert nxt.command_id == b_cmd  # the dependency on DONE is met
    assert core.command_update(a_cmd, run.attempt, 4.0, status=int(CommandStatus.CANCELED)) == []  # late: stale
    with pytest.raises(IllegalTransitionError, match="already DONE"):
        edit(core, "command_done", 5.0, id=a_cmd)


# --------------------------------------------------------- restart, no cascade
def test_restart_without_cascade_leaves_the_dependents_as_they_are() -> None:
    rep = graph([group("root", [1, 2]), task("a", 1), task("b", 1, deps=[[1, [int(NodeStatus.DONE)]]])])
    for cascade in (False, True):
        core, (_g, _root, a_id, b_id), (a_cmd, b_cmd) = core_with(rep)
        for now in (1.0, 3.0):
            (run,) = assigns(core.request_work("rn1", 1, now))
            finish(core, run, now + 1)
        edit(core, "restart", 10.0, id=a_id, cascade=cascade)
        assert core.command(a_cmd)["status"] == READY
        assert core.command(b_cmd)["status"] == (DONE if not cascade else BLOCKED)
        core2, _, (a2, b2) = core_with(rep)
        for now in (1.0, 3.0):
            (run,) = assigns(core2.request_work("rn1", 1, now))
            finish(core2, run, now + 1)
        edit(core2, "command_restart", 10.0, id=a2, cascade=cascade)
        assert core2.command(b2)["status"] == (DONE if not cascade else BLOCKED)


# ---------------------------------------------------- replay and snapshots
EDITS: list[tuple[str, dict[str, Any]]] = [
    ("set", {"values": {"timer": 5.5, "maxAttempt": 3, "ramUse": 100, "name": "n"}}),
    ("environment", {"environment": {"A": "1"}}),
    ("arguments", {"arguments": {"cmd": "echo x"}}),
    ("set_user", {"user": "bob"}),
]


def test_edits_replayed_on_a_fresh_core_and_a_restored_snapshot_give_the_same_state() -> None:
    live, (g, _root, t), (c1, c2) = core_with(single("t", 2))
    replayed, _, _ = core_with(single("t", 2))
    (run,) = assigns(live.request_work("rn1", 1, 1.0))
    assigns(replayed.request_work("rn1", 1, 1.0))
    records = [EditRecord(action, {**args, "id": g if action == "set_user" else t}, 2.0) for action, args in EDITS]
    records += [EditRecord("command_set", {"id": c2, "description": "d", "arguments": {"start": 9}}, 3.0),
                EditRecord("command_done", {"id": run.command_id}, 4.0)]
    for r in records:
        r.apply(live)
    assert replay(replayed, [(i, r.to_data()) for i, r in enumerate(records)]) == 0
    assert replayed.snapshot() == live.snapshot()
    restored = SchedulingCore.restore(live.snapshot())
    assert restored.snapshot() == live.snapshot()
    view = restored.node(t)
    assert (view["timer"], view["maxAttempt"], view["ramUse"], view["name"]) == (5.5, 3, 100, "n")
    # The next decisions agree: the edited arguments, environment and user went through the snapshot.
    nxt_live = assigns(live.request_work("rn1", 1, 10.0))
    nxt_restored = assigns(restored.request_work("rn1", 1, 10.0))
    assert nxt_live == nxt_restored and nxt_live[0].arguments["start"] == 9
    assert nxt_live[0].environment["A"] == "1" and nxt_live[0].user == "bob" and nxt_live[0].ram_mb == 100


# --------------------------------------------------------------- malformed
@pytest.mark.parametrize(("action", "args", "error", "match"), [
    ("set", {"id": 1, "values": {"timer": float("inf")}}, ValueError, "timer"),
    ("set", {"id": 1, "values": {"timer": "tomorrow"}}, ValueError, "timer"),
    ("set", {"id": 1, "values": {"timer": True}}, ValueError, "timer"),
    ("set", {"id": 1, "values": {"maxAttempt": 0}}, ValueError, "maxAttempt must be >= 1"),
    ("set", {"id": 1, "values": {"maxAttempt": 10**30}}, ValueError, "must be an integer"),
    ("set", {"id": 1, "values": {"ramUse": -1}}, ValueError, "'ramUse' must be >= 0"),
    ("set", {"id": 1, "values": {"name": ""}}, ValueError, "name is empty"),
    ("set", {"id": 1, "values": {"name": "n" * 2000}}, ValueError, "above the limit of 1024"),
    ("set", {"id": 1, "values": {"user": "bob"}}, KeyError, "set_user"),
    ("environment", {"id": 1, "environment": {"A": 1}}, ValueError, "must map str to str"),
    ("environment", {"id": 1, "environment": {}}, ValueError, "non-empty mapping"),
    ("environment", {"id": 1, "environment": {"": "x"}}, ValueError, "empty"),
    ("environment", {"id": 1, "environment": {"A": "x" * 70_000}}, ValueError, "string_length"),
    ("arguments", {"id": 1, "arguments": ["cmd"]}, ValueError, "mapping"),
    ("arguments", {"id": 1, "arguments": {"a": object()}}, ValueError, "not plain data"),
    ("arguments", {"id": 1, "arguments": {"a": {1: "x"}}}, ValueError, "not a string"),
    ("arguments", {"id": 1, "arguments": {f"k{i}": 0 for i in range(10_001)}}, ValueError, "value_items"),
    ("set_user", {"id": 1, "user": ""}, ValueError, "user is empty"),
    ("set_user", {"id": 1, "user": 5}, ValueError, "user must be a string"),
    ("command_set", {"id": 1}, KeyError, "description or arguments"),
    ("command_set", {"id": 1, "description": 7}, ValueError, "description must be a string"),
    ("command_set", {"id": 1, "arguments": {"x": float("nan"), "y": "z" * 70_000}}, ValueError, "string_length"),
])
def test_malformed_values_are_refused_by_check_edit_before_any_core_sees_them(
        action: str, args: dict[str, Any], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        check_edit(action, args)
    core, (g, _root, _t), (cid, *_) = core_with(single("t", 1))
    before = core.snapshot()
    args = {**args, "id": cid if action.startswith("command_") else g}
    with pytest.raises(error, match=match):  # on replay too: the same parsing applies it
        apply_edit(core, action, args, 1.0)
    assert core.snapshot() == before


def test_the_timer_accepts_epoch_numbers_and_none() -> None:
    for value in (0, 1_700_000_000, 1.7e9, None):
        check_edit("set", {"id": 1, "values": {"timer": value}})
