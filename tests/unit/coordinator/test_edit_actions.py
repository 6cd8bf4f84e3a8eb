"""The one table of edit actions: each parses its arguments and changes the core, live and on replay alike."""

from __future__ import annotations

from typing import Any

import msgpack
import pytest

from puli_mesh.coordinator.core import SchedulingCore
from puli_mesh.coordinator.edit_actions import EDIT_ACTIONS, INT64_MAX, INT64_MIN, TAG_MAX_DEPTH, apply_edit, check_edit
from puli_mesh.coordinator.records import EditRecord, replay
from puli_mesh.errors import IllegalTransitionError, UnknownIdError
from puliclient.status import CommandStatus, NodeStatus

from .graphs import assigns, rn, single


def farm() -> tuple[SchedulingCore, int, int]:
    """A core with one node running the first of two commands: (core, graph id, running command id)."""
    core = SchedulingCore()
    core.define_pool("gpu")
    core.node_joined(rn("rn1"), 0.0)
    graph_id = core.submit_graph(single("t", 2), 0.0).graph_id
    (running,) = assigns(core.request_work("rn1", 1, 0.0))
    return core, graph_id, running.command_id


def test_every_action_has_a_docstring_saying_who_calls_it() -> None:
    for name, action in EDIT_ACTIONS.items():
        assert "From" in " ".join((action.__doc__ or "").split()), name


def test_graph_edits_parse_their_arguments() -> None:
    core, graph_id, running = farm()
    apply_edit(core, "pause", {"id": graph_id, "kill": True}, 1.0)
    assert core.graph_tree(graph_id, False)["status"] == int(NodeStatus.PAUSED)
    assert core.command(running)["status"] == int(CommandStatus.READY)  # killed, back in the queue
    apply_edit(core, "resume", {"id": graph_id}, 2.0)
    apply_edit(core, "set", {"id": graph_id, "values": {"priority": "5", "maxRN": 3, "pool": "gpu"}}, 3.0)
    view = core.graph_tree(graph_id, False)
    assert (view["dispatchKey"], view["maxRN"], view["pool"]) == (5, 3, "gpu")
    apply_edit(core, "tags", {"id": graph_id, "tags": {"prod": "film"}}, 4.0)
    assert core.graph_tree(graph_id, False)["tags"] == {"prod": "film"}
    apply_edit(core, "cancel", {"id": graph_id}, 5.0)
    apply_edit(core, "archive", {"id": graph_id}, 6.0)
    assert core.graphs() == []


def test_command_and_node_edits() -> None:
    core, graph_id, running = farm()
    apply_edit(core, "command_pause", {"id": running, "kill": True}, 1.0)
    assert core.command(running)["paused"]
    apply_edit(core, "command_resume", {"id": running}, 2.0)
    apply_edit(core, "command_cancel", {"id": running}, 3.0)
    assert core.command(running)["status"] == int(CommandStatus.CANCELED)
    apply_edit(core, "command_restart", {"id": running}, 4.0)
    assert core.command(running)["status"] != int(CommandStatus.CANCELED)
    apply_edit(core, "node_drain", {"name": "rn1"}, 5.0)
    assert core.render_nodes()[0]["draining"]
    apply_edit(core, "node_resume", {"name": "rn1"}, 6.0)
    apply_edit(core, "node_pause", {"name": "rn1"}, 7.0)
    assert core.render_nodes()[0]["paused"]


@pytest.mark.parametrize(("action", "args", "error", "match"), [
    ("explode", {"id": 1}, KeyError, "unknown edit 'explode'; known: archive, arguments, cancel"),
    ("pause", {}, KeyError, "id"),
    ("set", {"id": 1, "values": {"colour": "red"}}, KeyError, "'colour' cannot be set"),
    ("tags", {"id": 1, "tags": ["prod"]}, ValueError, "tags must be a mapping"),
    ("pause", {"id": "one"}, ValueError, "one"),
    ("resume", {"id": 999}, UnknownIdError, "999"),
    ("archive", {"id": 1}, IllegalTransitionError, "archive"),
    ("clear_quarantine", {"name": "rn1"}, IllegalTransitionError, "not in quarantine"),
    ("clear_node", {"name": "rn1"}, IllegalTransitionError, "neither quarantined nor avoided"),
    ("clear_node", {"name": "nowhere"}, UnknownIdError, "nowhere"),
    ("clear_node", {"name": ["rn1"]}, ValueError, "name"),
])
def test_a_bad_edit_says_what_is_wrong(action: str, args: dict[str, Any], error: type[Exception], match: str) -> None:
    core, _, _ = farm()
    with pytest.raises(error, match=match):
        apply_edit(core, action, args, 1.0)


def test_node_edits_replayed_from_the_journal_and_a_snapshot_keep_an_operators_pools() -> None:
    """The operator's pools and performance survive replay, a snapshot and the node's next HELLO."""
    live, _, _ = farm()
    replayed, _, _ = farm()
    records = [EditRecord("node_set", {"name": "rn1", "values": {"pools": ["gpu"], "performance": 2.5}}, 1.0),
               EditRecord("pool_set_nodes", {"pool": "default", "names": ["rn1"]}, 2.0)]
    for record in records:
        record.apply(live)
    assert replay(replayed, [(i, r.to_data()) for i, r in enumerate(records)]) == 0
    assert replayed.snapshot() == live.snapshot()
    packed = msgpack.packb(live.snapshot(), use_bin_type=True)  # as the journal stores it
    restored = SchedulingCore.restore(msgpack.unpackb(packed, raw=False, strict_map_key=False))
    assert restored.snapshot() == live.snapshot()
    restored.node_left("rn1", 3.0)
    restored.reconcile_node(rn("rn1", slots=2), [], 4.0)  # its agent still says "default" only
    view = restored.render_nodes()[0]
    assert view["pools"] == ["gpu", "default"] and view["performance"] == 2.5
    with pytest.raises(KeyError, match="'colour' cannot be set on a render node"):
        apply_edit(live, "node_set", {"name": "rn1", "values": {"colour": "red"}}, 5.0)


def test_an_edit_replayed_from_the_journal_does_what_it_did_live() -> None:
    live, graph_id, _ = farm()
    replayed, _, _ = farm()
    record = EditRecord("set", {"id": graph_id, "values": {"maxRN": 1}}, 1.0)
    record.apply(live)
    assert replay(replayed, [(1, record.to_data())]) == 0
    assert replayed.snapshot() == live.snapshot()


HUGE = 10**24  # what `puli-mesh set ID priority=1000000000000000000000000` sends


@pytest.mark.parametrize(("action", "args", "match"), [
    ("set", {"id": 1, "values": {"priority": HUGE}}, "priority must be an integer from -9223372036854775808 to"),
    ("set", {"id": 1, "values": {"dispatchKey": str(HUGE)}}, "dispatchKey must be an integer from"),
    ("set", {"id": 1, "values": {"maxRN": INT64_MAX + 1}}, "maxRN must be an integer from"),
    ("set", {"id": 1, "values": {"priority": INT64_MIN - 1}}, "priority must be an integer from"),
    ("set", {"id": 1, "values": {"priority": float("inf")}}, "priority must be an integer"),
    ("set", {"id": 1, "values": {"priority": float("nan")}}, "priority must be an integer"),
    ("set", {"id": 1, "values": {"maxRN": 1e30}}, "maxRN must be an integer"),
    ("set", {"id": HUGE, "values": {"maxRN": 1}}, "id must be an integer"),
    ("pause", {"id": -HUGE}, "id must be an integer"),
    ("command_restart", {"id": HUGE}, "id must be an integer"),
    ("tags", {"id": 1, "tags": {"big": HUGE}}, "tag 'big': a number must be an integer from"),
    ("tags", {"id": 1, "tags": {"nan": float("nan")}}, "tag 'nan': a number must be finite"),
    ("tags", {"id": 1, "tags": {"deep": [[-float("inf")]]}}, "must be finite"),
    ("tags", {"id": 1, "tags": {"obj": object()}}, "object is not plain data"),
    ("tags", {"id": 1, "tags": {"keys": {1: "a"}}}, "map keys must be strings"),
    ("tags", {"id": 1, "tags": {7: "a"}}, "tag names must be strings"),
    ("tags", {"id": 1, "tags": {"k" * 2000: "a"}}, "a tag name has 2000 characters, above the limit of 1024"),
    ("tags", {"id": 1, "tags": {"k": ["x" * 70_000]}}, "a string has 70000 characters, above the limit of 65536"),
    ("set", {"id": 1, "values": {"pool": 5}}, "pool must be a string, got int 5"),
    ("set", {"id": 1, "values": {"poolName": ["gpu"]}}, "poolName must be a string"),
    ("set", {"id": 1, "values": {"pool": "p" * 1025}}, "pool has 1025 characters, above the limit of 1024"),
    ("node_pause", {"name": 3}, "name must be a string"),
    ("node_set", {"name": "rn1", "values": {"pools": "gpu"}}, "pools must be a list of names, got str"),
    ("node_set", {"name": "rn1", "values": {"pools": ["gpu", 7]}}, "each of pools must be a string"),
    ("node_set", {"name": "rn1", "values": {"performance": float("inf")}}, "performance must be a number above 0"),
    ("node_set", {"name": "rn1", "values": {"performance": 0}}, "performance must be a number above 0"),
    ("node_set", {"name": "rn1", "values": {"performance": True}}, "performance must be a number above 0"),
    ("node_set", {"name": "rn1", "values": {"performance": "fast"}}, "performance must be a number above 0"),
    ("pool_set_nodes", {"pool": "default", "names": "rn1"}, "names must be a list of names"),
    ("pool_set_nodes", {"pool": "p" * 1025, "names": []}, "pool has 1025 characters"),
    ("node_remove", {"name": None}, "name must be a string"),
])
def test_a_value_that_cannot_be_stored_is_refused_before_any_core_sees_it(
        action: str, args: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        check_edit(action, args)
    core, graph_id, _ = farm()
    before = core.snapshot()
    if args.get("id") == 1:  # the graph's id, so that only the refused value can fail
        args = {**args, "id": graph_id}
    with pytest.raises(ValueError, match=match):  # on replay too: the same parsing applies it
        apply_edit(core, action, args, 1.0)
    assert core.snapshot() == before


def test_the_int64_bounds_themselves_are_accepted() -> None:
    core, graph_id, _ = farm()
    for value in (INT64_MAX, INT64_MIN, str(INT64_MAX)):
        check_edit("set", {"id": graph_id, "values": {"priority": value}})
        apply_edit(core, "set", {"id": graph_id, "values": {"priority": value}}, 1.0)
        assert core.graph_tree(graph_id, False)["dispatchKey"] == int(value)


def test_plain_tag_values_nested_up_to_the_limit_are_accepted() -> None:
    core, graph_id, _ = farm()
    deep: Any = "leaf"
    for _ in range(TAG_MAX_DEPTH):
        deep = [deep]
    tags = {"s": "film", "n": INT64_MIN, "f": 0.5, "b": True, "m": {"k": [1, 2.5, None]}, "deep": deep}
    check_edit("tags", {"id": graph_id, "tags": tags})
    apply_edit(core, "tags", {"id": graph_id, "tags": tags}, 1.0)
    assert core.graph_tree(graph_id, False)["tags"] == tags
    with pytest.raises(ValueError, match=f"nest at most {TAG_MAX_DEPTH} deep"):
        check_edit("tags", {"id": graph_id, "tags": {"deep": [deep]}})


def test_check_edit_refuses_what_apply_edit_refuses_for_its_arguments_but_leaves_ids_to_the_core() -> None:
    with pytest.raises(KeyError, match="unknown edit"):
        check_edit("explode", {"id": 1})
    with pytest.raises(KeyError, match="'colour' cannot be set"):
        check_edit("set", {"id": 1, "values": {"colour": "red"}})
    with pytest.raises(KeyError):
        check_edit("node_pause", {})
    check_edit("resume", {"id": 999})  # an unknown id is the core's to say (not_found)
    check_edit("set", {"id": 1, "values": {"priority": "5", "maxRN": 3, "pool": "gpu"}})
