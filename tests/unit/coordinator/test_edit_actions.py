"""The one table of edit actions: each parses its arguments and changes the core, live and on replay alike."""

from __future__ import annotations

from typing import Any

import pytest

from puli_mesh.coordinator.core import SchedulingCore
from puli_mesh.coordinator.edit_actions import EDIT_ACTIONS, apply_edit
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
    ("explode", {"id": 1}, KeyError, "unknown edit 'explode'; known: archive, cancel"),
    ("pause", {}, KeyError, "id"),
    ("set", {"id": 1, "values": {"colour": "red"}}, KeyError, "'colour' cannot be set"),
    ("tags", {"id": 1, "tags": ["prod"]}, ValueError, "tags must be a mapping"),
    ("pause", {"id": "one"}, ValueError, "one"),
    ("resume", {"id": 999}, UnknownIdError, "999"),
    ("archive", {"id": 1}, IllegalTransitionError, "archive"),
    ("clear_quarantine", {"name": "rn1"}, IllegalTransitionError, "not in quarantine"),
])
def test_a_bad_edit_says_what_is_wrong(action: str, args: dict[str, Any], error: type[Exception], match: str) -> None:
    core, _, _ = farm()
    with pytest.raises(error, match=match):
        apply_edit(core, action, args, 1.0)


def test_an_edit_replayed_from_the_journal_does_what_it_did_live() -> None:
    live, graph_id, _ = farm()
    replayed, _, _ = farm()
    record = EditRecord("set", {"id": graph_id, "values": {"maxRN": 1}}, 1.0)
    record.apply(live)
    assert replay(replayed, [(1, record.to_data())]) == 0
    assert replayed.snapshot() == live.snapshot()
