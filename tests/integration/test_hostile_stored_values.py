"""Values that cannot be stored, sent raw (issue 12, "values that cannot be stored"): numbers past
int64, NaN and infinities in the places of a graph and of an edit that a client fills in, as a
hostile client sends them over a raw DEALER, past ``puliclient``'s own checks. (The CLI's
``set priority=<25 digits>`` is ``test_hostile_values.py``'s.)

Each is refused with a clear error, or stored so that listings (the CLI's too), the snapshot
and a successor still work. On main every one but an infinite ``ramUse`` is accepted, and kept
safely: msgpack stores unsigned 64-bit ints and NaN. Each test ends with "a new graph still runs
to DONE and nothing earlier was lost"."""

from __future__ import annotations

import math
from typing import Any

import pytest

from puli_mesh.protocol import EditMessage, ErrorCode, ErrorMessage, ResultMessage
from puliclient.status import NodeStatus

from .conftest import Mesh, wait_for
from .hostile_peer import assert_farm_runs, frame, leader_answers, one_task_graph, raw_peer, run_to_done
from .test_cli_operating import cli

DONE = int(NodeStatus.DONE)
PAST_INT64 = 2**64 - 1
"""msgpack carries it (unsigned 64 bits); int64, which every listing and snapshot assumes, does not."""

GRAPH_VALUES: list[tuple[str, str, Any]] = [
    ("task", "priority", PAST_INT64),
    ("task", "maxRN", PAST_INT64),
    ("task", "dispatchKey", 2**63),
    ("task", "ramUse", PAST_INT64),
    ("task", "maxAttempt", PAST_INT64),
    ("task", "timer", math.nan),
    ("task", "ramUse", math.inf),
    ("tags", "nan", math.nan),
    ("tags", "inf", -math.inf),
    ("meta", "huge", PAST_INT64),
    ("arguments", "frames", math.nan),
]


def _graph_with(place: str, key: str, value: Any) -> dict[str, Any]:
    graph = one_task_graph("odd-value")
    task = graph["tasks"][1]
    if place == "task":
        task[key] = value
    elif place == "tags":
        task["tags"] = {key: value}
    elif place == "meta":
        graph["meta"] = {key: value}
    else:
        task["commands"][0]["arguments"][key] = value
    return graph


@pytest.mark.parametrize(("place", "key", "value"), GRAPH_VALUES,
                         ids=[f"{p}-{k}-{v}" for p, k, v in GRAPH_VALUES])
def test_a_graph_value_that_cannot_be_stored_is_refused_or_kept_safely(
        mesh: Mesh, monkeypatch: pytest.MonkeyPatch, place: str, key: str, value: Any) -> None:
    monkeypatch.setenv("PULI_SNAPSHOT_EVERY", "1")  # whatever is accepted is snapshotted at once
    for name in ("rn1", "rn2"):
        mesh.start_agent(name)
    mesh.wait_ready(2)
    earlier = {run_to_done(mesh, "before"): DONE}
    leader = mesh.leader()
    with raw_peer(mesh.agents[leader].address) as peer:
        reply = peer.ask(frame("SUBMIT", rid="odd", graph=_graph_with(place, key, value)), timeout=10)
    assert isinstance(reply, ResultMessage | ErrorMessage), f"no answer within 10 s: {reply!r}"
    if isinstance(reply, ErrorMessage):
        assert reply.code == ErrorCode.INVALID and key in reply.message, reply
    else:
        graph_id = int(reply.data["graph_id"])
        status = mesh.wait_graph(graph_id, {DONE, int(NodeStatus.ERROR), int(NodeStatus.READY),
                                            int(NodeStatus.BLOCKED)}, timeout=30)["status"]
        earlier[graph_id] = status
    # Listings and the snapshot still work; a successor replays it all.
    for what, args in (("graphs", {}), ("commands", {}), ("nodes", {}), ("status", {})):
        mesh.client_any().request("QUERY", what=what, args=args)
    records = leader_answers(mesh)["journal"]["records"]
    wait_for(lambda: leader_answers(mesh)["journal"]["last_snapshot_record"] >= records, 30, "a snapshot")
    mesh.kill9(leader)
    wait_for(lambda: (s := mesh.status()) is not None and s["leader"] not in (None, leader), 60, "a successor")
    mesh.wait_ready(1, timeout=60)
    assert_farm_runs(mesh, earlier)
    for command in (("jobs",), ("jobs", "--json"), ("status",)):  # what a user sees, through the CLI
        shown = cli(mesh, *command)
        assert shown.returncode == 0 and "Traceback" not in shown.stderr, (command, shown.stderr[-2000:])


@pytest.mark.parametrize("key", ["priority", "maxRN", "dispatchKey"])
def test_an_edit_past_int64_or_a_nan_tag_is_refused(mesh: Mesh, key: str) -> None:
    mesh.start_agent("rn1")
    mesh.wait_ready(1)
    graph_id = run_to_done(mesh, "before")
    with raw_peer(mesh.agents["rn1"].address) as peer:
        reply = peer.ask(EditMessage("odd", "set", {"id": graph_id, "values": {key: 2**63}}))
        tags = peer.ask(EditMessage("nan-tag", "tags", {"id": graph_id, "tags": {"x": math.nan}}))
    assert isinstance(reply, ErrorMessage) and reply.code == ErrorCode.INVALID, reply
    assert isinstance(tags, ErrorMessage) and tags.code == ErrorCode.INVALID, tags
    assert_farm_runs(mesh, {graph_id: DONE})
