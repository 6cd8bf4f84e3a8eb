"""Submitting graphs: validation, ids, inheritance, timers, pools and licences at submit."""

from __future__ import annotations

import pytest

from puli_mesh.coordinator.core import SchedulingCore
from puli_mesh.errors import (
    IllegalTransitionError,
    InvalidGraphError,
    UnknownLicenceError,
    UnknownPoolError,
)
from puliclient.errors import GraphError
from puliclient.representation import validateRepresentation
from tests.unit.coordinator.graphs import assigns, graph, group, rn, single, task


def test_ids_follow_the_representation_and_graph_gets_its_own():
    core = SchedulingCore()
    r = core.submit_graph(graph([group("root", [1, 2]), task("a", 2), task("b", 1)]), 0)
    assert r.graph_id == 1
    assert r.node_ids == [2, 3, 4]
    tree = core.graph_tree(r.graph_id)
    assert tree["children"][0]["id"] == 2
    assert [c["name"] for c in tree["children"][0]["children"]] == ["a", "b"]
    assert [c["id"] for c in tree["children"][0]["children"][0]["commands"]] == [1, 2]
    r2 = core.submit_graph(single("x"), 0)
    assert r2.graph_id == 5 and r2.node_ids == [6, 7]


@pytest.mark.parametrize("mutate, words", [
    (lambda g: g.pop("tasks"), "tasks"),
    (lambda g: g["tasks"][1].update(commands=[]), "no command"),
    (lambda g: g["tasks"][1].update(maxRN=-5), "maxRN"),
    (lambda g: g["tasks"][1].update(dependencies=[[7, [3]]]), "not in the graph"),
    (lambda g: g["tasks"][1].update(dependencies=[[0, [3]]]), "cycle"),
    (lambda g: g["tasks"][1].update(dependencies=[[1, [3]]]), "itself"),
    (lambda g: g["tasks"][1].update(type="Nope"), "type"),
    (lambda g: g["tasks"][1].update(maxRN=-1), "maxRN is -1"),
    (lambda g: g["tasks"][0].update(maxRN=-1), "maxRN is -1"),
    (lambda g: g["tasks"][0].update(dependencies=[[1, [3]]]), "cycle"),
    (lambda g: g["tasks"][1].update(ramUse=-1), "'ramUse' must be >= 0"),
    (lambda g: g.update(name=""), "'name' is empty"),
])
def test_invalid_graphs_are_refused_with_the_node_named(mutate, words):
    core = SchedulingCore()
    g = single("t", 2)
    mutate(g)
    with pytest.raises(InvalidGraphError, match=words):
        core.submit_graph(g, 0)
    assert core.graphs() == []


@pytest.mark.parametrize("mutate", [
    lambda g: g["tasks"][1].update(maxRN=-1),
    lambda g: g["tasks"][1].update(dependencies=[[0, [3]]]),
    lambda g: g["tasks"][1]["dependencies"].append([1, [9]]),
    lambda g: g["tasks"][1].update(minNbCores=True),
    lambda g: g.update(maxRN=-2),
    lambda g: g.pop("user"),
])
def test_the_mesh_refuses_what_the_client_refuses_with_its_message(mutate):
    g = single("t", 2)
    mutate(g)
    with pytest.raises(GraphError) as client:
        validateRepresentation(g)
    with pytest.raises(InvalidGraphError) as server:
        SchedulingCore().submit_graph(g, 0)
    assert str(server.value) == f"graph {g.get('name')!r}: {client.value}"


def test_graph_max_rn_minus_one_is_unbounded_at_submit_and_in_edits():
    # Puli documents -1 for the graph only; tasks and groups take 0 for unbounded.
    core = SchedulingCore()
    core.node_joined(rn("a", slots=3, cores=3), 0)
    r = core.submit_graph(single("t", 3, max_rn=-1, maxNbCores=1), 0)
    assert len(assigns(core.request_work("a", 3, 0))) == 3
    core.set_max_rn(r.graph_id, -1, 1)
    with pytest.raises(IllegalTransitionError, match="maxRN is -1"):
        core.set_max_rn(r.node_ids[0], -1, 1)


def test_unknown_pool_is_a_clear_error_and_default_always_exists():
    core = SchedulingCore()
    with pytest.raises(UnknownPoolError, match="'gpu'.*pools add gpu"):
        core.submit_graph(single("t", pool="gpu"), 0)
    core.define_pool("gpu")
    core.submit_graph(single("t", pool="gpu"), 0)
    core.submit_graph(single("t"), 0)


def test_unknown_licence_is_refused_at_submit_naming_the_fix():
    core = SchedulingCore()
    core.set_licence("mtoa", 3, 0)
    with pytest.raises(UnknownLicenceError, match="'shave'.*licences set shave"):
        core.submit_graph(single("t", lic="mtoa&shave"), 0)


def test_nearest_value_wins_for_arguments_and_environment():
    core = SchedulingCore()
    core.node_joined(rn("a"), 0)
    g = graph([
        group("root", [1], arguments={"x": "root", "y": "root"}, environment={"E": "root"}),
        group("sub", [2], arguments={"x": "sub"}, environment={"E": "sub", "F": "sub"}),
        task("t", 1, arguments={"y": "task"}, environment={"F": "task"}),
    ])
    g["tasks"][2]["commands"][0]["arguments"]["x"] = "command"
    core.submit_graph(g, 0)
    (a,) = assigns(core.request_work("a", 1, 0))
    assert a.arguments["x"] == "command"
    assert a.arguments["y"] == "task"
    assert a.environment["E"] == "sub" and a.environment["F"] == "task"
    assert a.environment["PULI_USER"] == "alice"
    assert a.environment["PULI_ALLOCATED_CORES"] == "8"
    assert "PULI_ALLOCATED_MEMORY" in a.environment


def test_timeout_comes_from_the_merged_arguments():
    core = SchedulingCore()
    core.node_joined(rn("a", slots=2, cores=2), 0)
    core.submit_graph(single("t", 2, arguments={"timeout": 30}, maxNbCores=1), 0)
    core.submit_graph(single("u", 1, arguments={"timeout": 0}, maxNbCores=1), 0)
    a = assigns(core.request_work("a", 2, 0))
    assert a[0].timeout == 30.0
    core.submit_graph(single("v", 1), 0)


def test_an_infinite_timeout_is_no_timeout():
    """A worker refuses an ASSIGN with a non-finite timeout: the command would never run."""
    core = SchedulingCore()
    core.node_joined(rn("a"), 0)
    core.submit_graph(single("t", 1, arguments={"timeout": float("inf")}), 0)
    (a,) = assigns(core.request_work("a", 1, 0))
    assert a.timeout is None
    assert a.to_map()  # what the worker would accept


def test_task_timer_is_not_overwritten_by_its_group():
    core = SchedulingCore()
    core.node_joined(rn("a"), 0)
    g = graph([group("root", [1], timer=None), task("t", 1, timer=100.0)])
    core.submit_graph(g, 0)
    assert core.request_work("a", 1, 50) == []
    assert assigns(core.tick(100.0))[0].task_name == "t"


def test_paused_tag_submits_paused():
    core = SchedulingCore()
    core.node_joined(rn("a"), 0)
    g = single("t")
    g["tasks"][0]["tags"] = {"paused": "true"}
    r = core.submit_graph(g, 0)
    assert core.request_work("a", 1, 0) == []
    assert core.graphs()[0]["status_name"] == "PAUSED"
    assert len(assigns(core.resume(r.graph_id, 1))) == 1


def test_task_as_graph_root():
    core = SchedulingCore()
    core.node_joined(rn("a"), 0)
    r = core.submit_graph(graph([task("solo", 1)]), 0)
    (a,) = assigns(core.request_work("a", 1, 0))
    assert a.task_id == r.node_ids[0] and a.graph_id == r.graph_id


def test_a_graph_checked_just_before_is_not_checked_again_but_any_other_is(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A client's SUBMIT is checked, then applied in the same turn: on a 100,000-command graph
    the second check would hold the leader's loop for as long again."""
    from puli_mesh.coordinator import submission

    checks: list[object] = []
    validate = submission.validate
    monkeypatch.setattr(submission, "validate", lambda st, rep: checks.append(rep) or validate(st, rep))
    core = SchedulingCore()
    first, second = single("a", 1), single("b", 1)
    core.check_graph(first)
    core.submit_graph(first, 0)
    assert checks == [first]
    core.check_graph(first)
    core.submit_graph(second, 0)  # not the graph checked: checked on its own
    core.submit_graph(first, 0)  # the check was used up by the call between
    assert checks == [first, first, second, first]
