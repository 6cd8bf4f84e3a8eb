"""Graphs shaped to overflow a recursion (issue 12, "recursion on user-shaped data"), thrown at a
real leader: status propagation, the snapshot, the successor's load of it, the tree views.

A graph of ~1,000 nested groups used to overflow status propagation and the snapshot (~500
levels suffice there); the snapshot failed in the leader's periodic work, and every successor
replayed the same record and failed the same way. Any accepted depth must work; a deeper graph
is refused with a clear error. Each test ends with "a new graph still runs to DONE and nothing
earlier was lost"."""

from __future__ import annotations

import pytest

from puli_mesh.client import MeshRequestError
from puliclient.status import NodeStatus

from .conftest import Mesh, wait_for
from .hostile_peer import assert_farm_runs, deep_groups, leader_answers, run_to_done, submit
from .test_cli_operating import cli

DONE = int(NodeStatus.DONE)
ACCEPTED_DEPTH = 60
"""Nested groups that any sane graph-depth limit accepts (the issue's example limit is 64)."""
HOSTILE_DEPTH = 1000


def wait_snapshot_past(mesh: Mesh, record: int) -> None:
    wait_for(lambda: leader_answers(mesh)["journal"]["last_snapshot_record"] >= record, 30,
             f"a snapshot at or past record {record}")


def test_deep_graphs_are_run_snapshotted_and_replayed_by_a_successor(mesh: Mesh,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PULI_SNAPSHOT_EVERY", "1")  # a snapshot after every record: at once
    for name in ("rn1", "rn2"):
        mesh.start_agent(name)
    mesh.wait_ready(2)
    before = run_to_done(mesh, "before")
    earlier = {before: DONE}

    shallow = submit(mesh, deep_groups("deep-ok", ACCEPTED_DEPTH))
    mesh.wait_graph(shallow, {DONE})
    earlier[shallow] = DONE
    try:
        deep: int | None = submit(mesh, deep_groups("deep-hostile", HOSTILE_DEPTH))
    except MeshRequestError as exc:  # refused by the graph-depth limit: clearly, and before the journal
        assert exc.code == "invalid" and any(w in str(exc).lower() for w in ("deep", "depth", "level", "nest")), exc
        deep = None
    if deep is not None:
        mesh.wait_graph(deep, {DONE})
        earlier[deep] = DONE

    status = leader_answers(mesh)
    wait_snapshot_past(mesh, status["journal"]["records"])
    assert not any(leader_answers(mesh)["faults"].values()), leader_answers(mesh)["faults"]

    # The tree views walk the whole depth too: the server's and the CLI's.
    for graph_id in earlier:
        tree = mesh.graph(graph_id)
        assert tree["status"] == DONE
    shown = cli(mesh, "show", str(shallow))
    assert shown.returncode == 0 and "Traceback" not in shown.stderr, shown.stderr[-2000:]

    # The successor loads that snapshot (the whole depth), leads, and takes snapshots of its own.
    leader = mesh.leader()
    mesh.kill9(leader)
    wait_for(lambda: (s := mesh.status()) is not None and s["leader"] != leader, 60, "a new leader")
    mesh.wait_ready(1, timeout=60)
    assert_farm_runs(mesh, earlier)
    wait_snapshot_past(mesh, leader_answers(mesh)["journal"]["records"])
    assert not any(leader_answers(mesh)["faults"].values()), leader_answers(mesh)["faults"]
    assert mesh.graph(shallow)["status"] == DONE
