"""The representation (docs/graph-schema.md): building, push-down, validation, save/load, submit."""

from __future__ import annotations

import copy
import enum
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgpack
import pytest

from puli_mesh.limits import MAX_GPUS, MAX_VALUE_NESTING
from puliclient import (
    DONE,
    ERROR,
    DependencyCycleError,
    Graph,
    GraphError,
    GraphSubmissionError,
    NodeStatus,
    Task,
    TaskGroup,
)
from puliclient.graphfile import decompose_saved_tasks, load_graph_file
from puliclient.representation import plain_data, validateRepresentation
from puliclient.submission import resolve_address
from tests.unit.client.savedfiles import saved_graph, saved_group, saved_task


def sample_graph() -> Graph:
    graph = Graph("job", user="bob", poolName="linux", maxRN=4)
    prep = graph.addNewTask("prep", {"cmd": "echo prep"}, environment={"E": "1"})
    renders = graph.addNewTaskGroup("renders", arguments={"shot": "s1"})
    renders.addNewTask("beauty", {"cmd": "echo %%MI_FRAME%%", "start": 1, "end": 4,
                                  "packetSize": 2}, lic="mtoa", maxAttempt=2, timer=10.0)
    sub = renders.addNewTaskGroup("sub")
    sub.addNewTask("deep", {"cmd": "echo deep"})
    renders.dependsOn(prep, [DONE, ERROR])
    return graph


def test_top_level_and_node_fields() -> None:
    data = sample_graph().prepareGraphRepresentation()
    assert {k: data[k] for k in ("name", "meta", "root", "user", "poolName", "maxRN")} == {
        "name": "job", "meta": {}, "root": 0, "user": "bob", "poolName": "linux", "maxRN": 4}
    names = [node["name"] for node in data["tasks"]]
    assert names == ["job", "prep", "renders", "beauty", "sub", "deep"]
    root = data["tasks"][0]
    assert root["type"] == "TaskGroup" and root["tasks"] == [1, 2]
    assert root["strategy"] == "octopus.dispatcher.strategies.FifoStrategy"
    assert data["tasks"][2]["tasks"] == [3, 4]  # tasks first, then sub-groups
    beauty = data["tasks"][3]
    assert beauty["lic"] == beauty["licence"] == "mtoa"
    assert beauty["maxAttempt"] == 2 and beauty["timer"] == 10.0
    assert beauty["runner"] == "puliclient.jobs.DefaultCommandRunner"
    assert beauty["arguments"] == {"cmd": "echo %%MI_FRAME%%", "start": 1, "end": 4,
                                   "packetSize": 2}
    assert beauty["commands"][0] == {"description": "beauty_1_2", "type": "command",
                                     "task": "beauty", "arguments": {
                                         "cmd": "echo %%MI_FRAME%%", "start": 1, "end": 2,
                                         "packetSize": 2}}
    assert data["tasks"][1]["environment"] == {"E": "1"}
    # own arguments only: the inherited 'shot' is not copied down
    assert "shot" not in beauty["arguments"] and data["tasks"][2]["arguments"] == {"shot": "s1"}


def test_group_dependencies_are_pushed_down_to_every_descendant_task() -> None:
    data = sample_graph().prepareGraphRepresentation()
    assert data["tasks"][2]["dependencies"] == [[1, [DONE, ERROR]]]  # the group keeps it
    assert data["tasks"][3]["dependencies"] == [[1, [DONE, ERROR]]]
    assert data["tasks"][5]["dependencies"] == [[1, [DONE, ERROR]]]  # nested task too
    assert data["tasks"][4]["dependencies"] == []  # sub-groups are not rewritten


def test_representation_is_plain_data_for_msgpack_and_json() -> None:
    data = sample_graph().prepareGraphRepresentation()
    assert msgpack.unpackb(msgpack.packb(data, strict_types=True)) == data
    assert json.loads(json.dumps(data)) == data


def test_tag_shot_and_plan_are_synonyms() -> None:
    graph = Graph("g", tags={"shot": "s1"})
    graph.addNewTask("t", {})
    assert graph.prepareGraphRepresentation()["tasks"][0]["tags"] == {"shot": "s1", "plan": "s1"}


def test_task_root_graph() -> None:
    data = Graph("g", root=Task("only", {"cmd": "true"})).prepareGraphRepresentation()
    assert data["root"] == 0 and [n["name"] for n in data["tasks"]] == ["only"]


def test_preparing_twice_gives_the_same_representation() -> None:
    graph = sample_graph()
    assert graph.prepareGraphRepresentation() == graph.prepareGraphRepresentation()


# ---------------------------------------------------------------- errors while building
def test_cycle_raises_with_the_cycle_path() -> None:
    graph = Graph("g")
    a, b, c = (graph.addNewTask(n, {}) for n in "abc")
    graph.addChain([a, b, c])
    a.dependsOn(c)
    with pytest.raises(DependencyCycleError, match="'a' -> 'c' -> 'b' -> 'a'"):
        graph.prepareGraphRepresentation()


def test_task_depending_on_its_own_group_is_a_cycle() -> None:
    graph = Graph("g")
    group = graph.addNewTaskGroup("grp")
    task = group.addNewTask("t", {})
    task.dependsOn(group)
    with pytest.raises(DependencyCycleError, match="'grp' -> 't' -> 'grp'"):
        graph.prepareGraphRepresentation()


def test_dependency_on_a_node_outside_the_graph() -> None:
    graph = Graph("g")
    task = graph.addNewTask("t", {})
    task.dependsOn(Task("stranger", {}))
    with pytest.raises(GraphError, match="task 't' depends on 'stranger', which is not in graph"):
        graph.prepareGraphRepresentation()


def test_task_without_commands() -> None:
    graph = Graph("g")
    graph.addNewTask("empty", {}, decomposer=None)
    with pytest.raises(GraphError, match="'empty'.* has no command"):
        graph.prepareGraphRepresentation()


def test_non_plain_argument_names_the_task() -> None:
    graph = Graph("g")
    graph.addNewTask("t", {"cmd": object()})
    with pytest.raises(GraphError, match="task 't' arguments.*not plain data"):
        graph.prepareGraphRepresentation()


@pytest.mark.parametrize("value", [-1, -3])
def test_negative_task_max_rn_names_the_task(value: int) -> None:
    # Puli documents -1 ("unbounded") for the graph only; a Task's default is 0.
    graph = Graph("g")
    graph.addNewTask("t", {}, maxRN=value)
    with pytest.raises(GraphError, match=f"task node 1 \\('t'\\): maxRN is {value}"):
        graph.prepareGraphRepresentation()


def test_negative_group_max_rn_names_the_group() -> None:
    graph = Graph("g")
    group = graph.addNewTaskGroup("grp")
    group.addNewTask("t", {})
    group.maxRN = -1
    with pytest.raises(GraphError, match="node 1 \\('grp'\\): maxRN is -1"):
        graph.prepareGraphRepresentation()


def test_graph_max_rn_minus_one_is_unbounded_lower_is_refused() -> None:
    assert Graph("g", root=Task("x", {})).prepareGraphRepresentation()["maxRN"] == -1
    assert Graph("g", maxRN=0, root=Task("x", {})).prepareGraphRepresentation()["maxRN"] == 0
    with pytest.raises(GraphError, match="graph 'h': maxRN is -2"):
        Graph("h", maxRN=-2, root=Task("x", {})).prepareGraphRepresentation()


def test_wrong_type_names_the_node() -> None:
    graph = Graph("g")
    graph.addNewTask("t", {}, ramUse="lots")
    with pytest.raises(GraphError, match="task node 1 \\('t'\\): 'ramUse' must be int"):
        graph.prepareGraphRepresentation()


def test_a_task_asks_for_gpus_in_its_representation_only_when_it_needs_some() -> None:
    graph = Graph("g")
    plain = graph.addNewTask("cpu", {})
    gpu = graph.addNewTask("gpu", {}, gpus=2)
    tasks = graph.prepareGraphRepresentation()["tasks"]
    assert "gpus" not in tasks[1] and tasks[2]["gpus"] == 2  # Puli's graphs stay as Puli wrote them
    assert plain.gpus == 0 and gpu.gpus == 2
    for bad in (-1, MAX_GPUS + 1, True):
        gpu.gpus = bad
        with pytest.raises(GraphError, match="'gpus' must be"):
            graph.prepareGraphRepresentation()


# ---------------------------------------------------------------- validating raw data
@pytest.fixture
def valid() -> dict[str, Any]:
    return sample_graph().prepareGraphRepresentation()


def mutate(data: dict[str, Any], change: Any) -> dict[str, Any]:
    data = copy.deepcopy(data)
    change(data)
    return data


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        (lambda d: d["tasks"][3]["dependencies"].append([5, [DONE]]) or
         d["tasks"][5]["dependencies"].append([3, [DONE]]),
         DependencyCycleError, "'beauty' -> 'deep' -> 'beauty'"),
        (lambda d: d["tasks"][3]["dependencies"].append([99, [DONE]]),
         GraphError, "'beauty'.*depends on node 99, which is not in the graph"),
        (lambda d: d["tasks"][3]["dependencies"].append([1, [9]]),
         GraphError, "'beauty'.*unknown status 9"),
        (lambda d: d["tasks"][3].update(commands=[]), GraphError, "'beauty'.*has no command"),
        (lambda d: d["tasks"][3].update(maxRN=-5), GraphError, "'beauty'.*maxRN is -5"),
        (lambda d: d["tasks"][3].update(maxRN=-1), GraphError, "'beauty'.*maxRN is -1"),
        (lambda d: d["tasks"][2].update(maxRN=-1), GraphError, "group node 2 \\('renders'\\): maxRN is -1"),
        (lambda d: d["tasks"][3].update(dispatchKey="high"), GraphError,
         "'beauty'.*'dispatchKey' must be int"),
        (lambda d: d["tasks"][3].update(maxNbCores=True), GraphError,
         "'beauty'.*'maxNbCores' must be int"),
        (lambda d: d["tasks"][3].pop("runner"), GraphError, "'beauty'.*missing key 'runner'"),
        (lambda d: d["tasks"][3].update(environment={"A": 1}), GraphError,
         "'beauty'.*environment"),
        (lambda d: d["tasks"][3]["commands"][0].pop("arguments"), GraphError,
         "'beauty'.*command: missing key 'arguments'"),
        (lambda d: d["tasks"][2].update(type="Folder"), GraphError, "node 2.*'type' must be"),
        (lambda d: d["tasks"][2]["tasks"].append(1), GraphError, "'prep'.* already has a parent"),
        (lambda d: d["tasks"][0]["tasks"].remove(2), GraphError, "'renders'.* not under the root"),
        (lambda d: d.update(maxRN=-4), GraphError, "graph 'job': maxRN is -4"),
        (lambda d: d.pop("poolName"), GraphError, "graph: missing key 'poolName'"),
        (lambda d: d.update(root=7), GraphError, "root 7 is not in the graph"),
        # A group's dependencies hold for everything inside it, even when a raw
        # representation does not push them down: waiting for its own task is a cycle.
        (lambda d: d["tasks"][2]["dependencies"].append([3, [DONE]]),
         DependencyCycleError, "dependency cycle .*'beauty'"),
        (lambda d: d["tasks"][3].update(name=""), GraphError, "node 3 \\(''\\): 'name' is empty"),
        (lambda d: d.update(name=""), GraphError, "graph: 'name' is empty"),
        (lambda d: d["tasks"][3].update(minNbCores=-1), GraphError,
         "'beauty'.*'minNbCores' must be >= 0, not -1"),
        (lambda d: d["tasks"][3].update(ramUse=-10), GraphError, "'beauty'.*'ramUse' must be >= 0"),
    ],
)
def test_validate_representation_errors(
    valid: dict[str, Any], change: Any, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        validateRepresentation(mutate(valid, change))


def test_validate_accepts_unbounded_max_rn_and_optional_keys_missing(
    valid: dict[str, Any]
) -> None:
    def drop_optional(d: dict[str, Any]) -> None:
        d["maxRN"] = -1
        for node in d["tasks"]:
            for key in ("timer", "maxAttempt", "runnerPackages", "watcherPackages"):
                node.pop(key, None)

    validateRepresentation(mutate(valid, drop_optional))


def test_validate_refuses_non_objects() -> None:
    with pytest.raises(GraphError, match="is an object"):
        validateRepresentation([])


# ---------------------------------------------------------------- save, load, submit
@pytest.fixture
def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def listening_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_save_writes_the_decomposed_representation(tmp_path: Path) -> None:
    graph = sample_graph()
    graph.save(tmp_path / "g.json")
    saved = json.loads((tmp_path / "g.json").read_text())
    assert saved == graph.prepareGraphRepresentation()
    assert [c["description"] for c in saved["tasks"][3]["commands"]] == ["beauty_1_2",
                                                                          "beauty_3_4"]


def test_save_validates(tmp_path: Path) -> None:
    graph = Graph("g")
    graph.addNewTask("empty", {}, decomposer=None)
    with pytest.raises(GraphError, match="no command"):
        graph.save(tmp_path / "g.json")
    assert not (tmp_path / "g.json").exists()


def test_submit_without_a_mesh_raises(closed_port: int) -> None:
    with pytest.raises(GraphSubmissionError, match=f"no mesh reachable at 127.0.0.1:{closed_port}"):
        sample_graph().submit("127.0.0.1", closed_port)


def test_submit_never_pretends_to_succeed(listening_port: int) -> None:
    # Something listens but never answers like an agent: a clear error, not a hang.
    from puliclient.submission import submit_representation

    data = sample_graph().prepareGraphRepresentation()
    with pytest.raises(GraphSubmissionError, match=f"no mesh reachable at 127.0.0.1:{listening_port}"):
        submit_representation(data, "127.0.0.1", listening_port, timeout=0.3)


def test_submit_validates_before_sending(closed_port: int) -> None:
    graph = Graph("g")
    a, b = graph.addNewTask("a", {}), graph.addNewTask("b", {})
    graph.addChain([a, b, a])
    with pytest.raises(DependencyCycleError):
        graph.submit("127.0.0.1", closed_port)


def test_submit_address_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PULIHOST", raising=False)
    monkeypatch.delenv("PULIPORT", raising=False)
    assert resolve_address(None, None) == ("puliserver", 8004)
    monkeypatch.setenv("PULIHOST", "farm")
    monkeypatch.setenv("PULIPORT", "9000")
    assert resolve_address(None, None) == ("farm", 9000)
    assert resolve_address("other", 1) == ("other", 1)
    monkeypatch.setenv("PULIPORT", "http")
    with pytest.raises(GraphSubmissionError, match="PULIPORT"):
        resolve_address(None, None)


def test_submit_goes_through_submit_representation(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[tuple[dict[str, Any], Any, Any]] = []

    def fake(data: dict[str, Any], host: Any, port: Any, timeout: float = 10.0) -> tuple[str, str]:
        sent.append((data, host, port))
        return ("loc", "ok")

    monkeypatch.setattr("puliclient.submission.submit_representation", fake)
    assert sample_graph().submit() == ("loc", "ok")
    assert sent[0][1:] == (None, None) and sent[0][0]["name"] == "job"


def test_where_the_mesh_is(monkeypatch: pytest.MonkeyPatch) -> None:
    from puliclient.submission import mesh_client

    for var in ("PULIHOST", "PULIPORT", "PULI_NODE", "PULI_ZK", "PULI_CLUSTER"):
        monkeypatch.delenv(var, raising=False)
    assert mesh_client().node == "puliserver:8004"
    monkeypatch.setenv("PULIHOST", "envhost")
    monkeypatch.setenv("PULIPORT", "1234")
    assert mesh_client().node == "envhost:1234"
    monkeypatch.setenv("PULI_ZK", "zk1:2181")
    monkeypatch.setenv("PULI_CLUSTER", "paris")
    client = mesh_client()
    assert (client.node, client.zk, client.cluster) == (None, "zk1:2181", "paris")
    monkeypatch.setenv("PULI_NODE", "rn7:8004")
    assert mesh_client().node == "rn7:8004"
    assert mesh_client("explicit", 9).node == "explicit:9"


# A file as Puli 1.7's GraphDumper wrote it once the tasks were decomposed.
PULI_FILE = {
    "name": "puli_job", "meta": {}, "root": 0, "user": "jsa", "poolName": "default", "maxRN": -1,
    "tasks": [
        {"type": "TaskGroup", "name": "puli_job", "arguments": {}, "environment": {},
         "dependencies": [], "requirements": {}, "maxRN": 0, "priority": 0, "dispatchKey": 0,
         "strategy": "octopus.dispatcher.strategies.FifoStrategy", "tasks": [1, 2],
         "tags": {"prod": "test"}, "timer": None},
        {"type": "Task", "name": "render", "runner": "puliclient.jobs.DefaultCommandRunner",
         "arguments": {"cmd": "echo %%MI_FRAME%%", "start": 1, "end": 2},
         "environment": {}, "dependencies": [], "maxRN": 0, "priority": 0, "dispatchKey": 0,
         "validationExpression": "0", "requirements": {}, "minNbCores": 1, "maxNbCores": 0,
         "ramUse": 0, "lic": "", "licence": "", "tags": {}, "timer": None,
         "commands": [{"description": "render_1_1", "type": "command", "task": "render",
                       "arguments": {"cmd": "echo %%MI_FRAME%%", "start": 1, "end": 1}},
                      {"description": "render_2_2", "type": "command", "task": "render",
                       "arguments": {"cmd": "echo %%MI_FRAME%%", "start": 2, "end": 2}}]},
        {"type": "Task", "name": "comp", "runner": "puliclient.jobs.DefaultCommandRunner",
         "arguments": {"cmd": "echo comp"}, "environment": {}, "dependencies": [[1, [3]]],
         "maxRN": 0, "priority": 0, "dispatchKey": 0, "validationExpression": "0",
         "requirements": {}, "minNbCores": 1, "maxNbCores": 0, "ramUse": 0, "lic": "",
         "licence": "", "tags": {}, "timer": None, "maxAttempt": 1,
         "runnerPackages": "", "watcherPackages": "",
         "commands": [{"description": "comp", "type": "command", "task": "comp",
                       "arguments": {"cmd": "echo comp"}}]},
    ],
}


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """What reaches the submission door (still sent for real: to a closed port)."""
    seen: list[dict[str, Any]] = []
    real = __import__("puliclient.submission", fromlist=["x"]).submit_representation

    def spy(data: dict[str, Any], host: Any, port: Any, timeout: float = 10.0) -> tuple[str, str]:
        seen.append(data)
        return real(data, host, port, timeout)

    monkeypatch.setattr("puliclient.submission.submit_representation", spy)
    return seen


def test_puli_saved_file_loads_and_reaches_the_submission(
    tmp_path: Path, closed_port: int, sent: list[dict[str, Any]]
) -> None:
    path = tmp_path / "puli.json"
    path.write_text(json.dumps(PULI_FILE))
    with pytest.raises(GraphSubmissionError, match="no mesh reachable"):
        Graph.loadAndSubmit(path, "127.0.0.1", closed_port)
    assert sent == [PULI_FILE]  # unchanged


def puli_saved_file() -> dict[str, Any]:
    """A graph as Puli's ``Graph.save()`` wrote it: root group, a sub-group, two tasks."""
    return saved_graph([
        saved_group("saved", [1, 2]),
        saved_task("render", {"cmd": "echo %%MI_FRAME%%", "start": 1, "end": 10, "packetSize": 3},
                   maxAttempt=1, runnerPackages="", watcherPackages=""),
        saved_group("post", [3], arguments={"shot": "s01"}, dependencies=[[1, [DONE]]]),
        saved_task("comp", {"cmd": "echo comp"}, dependencies=[[1, [DONE]]], maxAttempt=1,
                   runnerPackages="", watcherPackages=""),
    ])


def test_saved_puli_tasks_are_decomposed_as_puli_would_before_submitting() -> None:
    saved = puli_saved_file()
    original = copy.deepcopy(saved)
    data = decompose_saved_tasks(saved)
    assert saved == original  # the input is not modified
    render = data["tasks"][1]["commands"]
    assert [c["description"] for c in render] == [
        "render_1_3", "render_4_6", "render_7_9", "render_10_10"]
    assert render[0] == {"description": "render_1_3", "type": "command", "task": "render",
                         "arguments": {"cmd": "echo %%MI_FRAME%%", "start": 1, "end": 3,
                                       "packetSize": 3}}
    assert [c["end"] for c in (c["arguments"] for c in render)] == [3, 6, 9, 10]
    # No start/end: DefaultTaskDecomposer makes one command named after the task.
    assert data["tasks"][3]["commands"] == [
        {"description": "comp", "type": "command", "task": "comp",
         "arguments": {"cmd": "echo comp"}}]
    # Everything else is as saved.
    for node, before in zip(data["tasks"], original["tasks"], strict=True):
        assert {k: v for k, v in node.items() if k != "commands"} == {
            k: v for k, v in before.items() if k != "commands"}


def test_decomposed_file_is_left_as_it_is() -> None:
    assert decompose_saved_tasks(PULI_FILE) == PULI_FILE


def test_saved_task_uses_the_decomposer_named_in_the_file() -> None:
    saved = puli_saved_file()
    saved["tasks"][3]["decomposer"] = "clienthelpers.InheritedArgumentDecomposer"
    data = decompose_saved_tasks(saved)
    # The decomposer sees the arguments the task inherits from its group, as in a built graph.
    assert [c["description"] for c in data["tasks"][3]["commands"]] == ["comp_s01"]
    assert data["tasks"][3]["decomposer"] == "clienthelpers.InheritedArgumentDecomposer"


@pytest.mark.parametrize(
    ("decomposer", "message"),
    [
        ("no.such.Decomposer",
         "task node 3 \\('comp'\\): cannot load decomposer 'no.such.Decomposer': module 'no' "
         "not found"),
        ("clienthelpers.Nope",
         "task node 3 \\('comp'\\): cannot load decomposer 'clienthelpers.Nope': module "
         "'clienthelpers' has no 'Nope'"),
        ("clienthelpers.NotARunner",
         "task node 3 \\('comp'\\): cannot load decomposer 'clienthelpers.NotARunner': it is not "
         "a subclass of puliclient.jobs.decomposers.TaskDecomposer"),
        ("Decomposer", "task node 3 \\('comp'\\): cannot load decomposer 'Decomposer': expected a "
         "dotted path"),
        (None, "task node 3 \\('comp'\\) has no command"),
        ("clienthelpers.EmptyDecomposer", "task node 3 \\('comp'\\) has no command"),
        (7, "task node 3 \\('comp'\\): 'decomposer' must be str or None"),
    ],
)
def test_saved_task_that_cannot_be_decomposed_names_the_task(
    decomposer: Any, message: str
) -> None:
    saved = puli_saved_file()
    saved["tasks"][3]["decomposer"] = decomposer
    with pytest.raises(GraphError, match=message):
        decompose_saved_tasks(saved)


def test_saved_file_is_validated_before_any_decomposer_runs() -> None:
    saved = puli_saved_file()
    saved["tasks"][1]["dependencies"] = [[3, [DONE]]]  # render <-> comp
    saved["tasks"][1]["decomposer"] = "no.such.Decomposer"
    with pytest.raises(DependencyCycleError, match="'render' -> 'comp' -> 'render'"):
        decompose_saved_tasks(saved)


def test_bad_packet_in_a_saved_task_names_the_task() -> None:
    saved = puli_saved_file()
    saved["tasks"][1]["arguments"]["packetSize"] = 0
    with pytest.raises(GraphError, match="task 'render': packetSize must be >= 1"):
        decompose_saved_tasks(saved)


def test_load_and_submit_decomposes_a_puli_saved_file_before_sending(
    tmp_path: Path, closed_port: int, sent: list[dict[str, Any]]
) -> None:
    path = tmp_path / "saved.json"
    path.write_text(json.dumps(puli_saved_file()))
    # The only error left is the network's: loading and decomposing succeeded.
    with pytest.raises(GraphSubmissionError, match="no mesh reachable"):
        Graph.loadAndSubmit(path, "127.0.0.1", closed_port)
    assert sent == [decompose_saved_tasks(puli_saved_file())]
    assert len(sent[0]["tasks"][1]["commands"]) == 4


def test_load_and_submit_validates_and_reports_unreadable_files(
    tmp_path: Path, closed_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    def must_not_send(*args: Any, **kwargs: Any) -> tuple[str, str]:
        raise AssertionError("sent a graph that should have been refused")

    monkeypatch.setattr("puliclient.submission.submit_representation", must_not_send)
    unknown = puli_saved_file()
    unknown["tasks"][1]["decomposer"] = "no.such.Decomposer"
    path = tmp_path / "unknown.json"
    path.write_text(json.dumps(unknown))
    with pytest.raises(GraphError, match="'render'.*cannot load decomposer 'no.such.Decomposer'"):
        Graph.loadAndSubmit(path, "127.0.0.1", closed_port)
    by_hand = puli_saved_file()
    by_hand["tasks"][1]["decomposer"] = None
    path.write_text(json.dumps(by_hand))
    with pytest.raises(GraphError, match="'render'.*has no command"):
        Graph.loadAndSubmit(path, "127.0.0.1", closed_port)
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(GraphError, match="cannot read graph file"):
        Graph.loadAndSubmit(tmp_path / "bad.json", "127.0.0.1", closed_port)
    with pytest.raises(GraphError, match="cannot read graph file"):
        Graph.loadAndSubmit(tmp_path / "missing.json", "127.0.0.1", closed_port)


def test_our_saved_file_round_trips_through_load_and_submit(
    tmp_path: Path, closed_port: int
) -> None:
    sample_graph().save(tmp_path / "g.json")
    with pytest.raises(GraphSubmissionError, match="no mesh reachable"):
        Graph.loadAndSubmit(tmp_path / "g.json", "127.0.0.1", closed_port)


def test_group_in_group_dependency_to_outside_group() -> None:
    graph = Graph("g")
    first = graph.addNewTaskGroup("first")
    first.addNewTask("a", {})
    second = graph.addNewTaskGroup("second")
    b = second.addNewTaskGroup("inner").addNewTask("b", {})
    second.dependsOn(first)
    data = graph.prepareGraphRepresentation()
    index = {node["name"]: i for i, node in enumerate(data["tasks"])}
    assert data["tasks"][index["b"]]["dependencies"] == [[index["first"], [DONE]]]
    assert isinstance(b, Task) and isinstance(second, TaskGroup)


def test_the_schema_check_loads_no_object_model() -> None:
    # The coordinator validates every submission with it: it must not pull in
    # tasks, decomposers or runners (nor anything that imports them back).
    import subprocess
    import sys

    code = ("import sys, puliclient.representation; "
            "print(' '.join(sorted(m for m in sys.modules if m.startswith('puliclient'))))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True).stdout.split()
    assert loaded == ["puliclient", "puliclient.errors", "puliclient.representation", "puliclient.status",
                      "puliclient.strategies"]


class IntEnumLike(enum.IntEnum):
    ONE = 1


def _nested_value(depth: int, bottom: Any, *, tuples: bool = True) -> Any:
    """``depth`` containers, each holding the next: dicts, lists and (``tuples``) tuples in turn."""
    value = bottom
    for i in range(depth):
        value = ({"k": value}, [value], (value, 1) if tuples else [value, 1])[i % 3]
    return value


def _bottom(value: Any, depth: int) -> Any:
    """What ``_nested_value(depth, ...)`` holds at the bottom; every container on the way must
    be a plain dict or list."""
    for i in reversed(range(depth)):
        assert type(value) is (dict if i % 3 == 0 else list)
        value = value["k"] if i % 3 == 0 else value[0]
    return value


def test_plain_data_copies_values_nested_to_the_limit_and_refuses_deeper_ones() -> None:
    value = _nested_value(MAX_VALUE_NESTING - 1, IntEnumLike.ONE)
    plain = plain_data(value, "deep")
    bottom = _bottom(plain, MAX_VALUE_NESTING - 1)
    assert bottom == 1 and type(bottom) is int  # tuples became lists
    with pytest.raises(GraphError, match=f"deep: lists and maps nest more than {MAX_VALUE_NESTING} levels"):
        plain_data(_nested_value(1000, IntEnumLike.ONE), "deep")  # at Python's default recursion limit


def test_plain_data_names_the_first_bad_value_depth_first() -> None:
    with pytest.raises(GraphError, match="where: key 2 is not a string"):
        plain_data({"a": [1, {2: "x"}], "b": object()}, "where")
    with pytest.raises(GraphError, match=r"where: <object .*> \(object\) is not plain data"):
        plain_data({"a": [1, (object(),)], "b": {3: 3}}, "where")


def test_a_saved_file_with_values_nested_deeper_than_the_limit_is_a_graph_error() -> None:
    saved = saved_graph([saved_group("saved", [1]),
                         saved_task("t", {"cmd": "true", "deep": _nested_value(1000, "x", tuples=False)})])
    with pytest.raises(GraphError, match="node 1 \\('t'\\): arguments: lists and maps nest more than"):
        decompose_saved_tasks(saved)


def test_a_graph_file_nested_deeper_than_json_reads_is_a_graph_error(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text('{"name": "deep", "meta": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(GraphError, match="nested deeper than Python reads JSON"):
        load_graph_file(path)


# ------------------------------------------------------------------ Puli's repr and GraphDumper shape
def test_repr_is_the_indented_json_of_the_graph_as_built_and_changes_nothing() -> None:
    graph = sample_graph()
    text = repr(graph)
    assert text.startswith("{\n    \"")  # four spaces, as Puli printed it
    data = json.loads(text)
    assert data["name"] == "job" and data["user"] == "bob" and data["poolName"] == "linux"
    by_name = {node["name"]: node for node in data["tasks"]}
    assert by_name["beauty"]["commands"] == []  # printing decomposes nothing
    beauty = graph.root.taskGroups[0].tasks[0]
    assert beauty.commands == [] and not beauty.decomposed
    assert json.loads(repr(graph))["tasks"] == data["tasks"]


def test_repr_of_a_graph_that_cannot_be_represented_says_why_without_raising() -> None:
    graph = Graph("job")
    outside = Task("outside", {"cmd": "true"})
    graph.addNewTask("t", {"cmd": "true"}).dependsOn(outside)
    text = repr(graph)
    assert text.startswith("<Graph 'job': not representable:") and "outside" in text


def test_graph_dumper_has_puli_call_shape() -> None:
    from puliclient.graph import GraphDumper

    expected = sample_graph().prepareGraphRepresentation()
    assert GraphDumper().dumpGraph(sample_graph()) == expected
    assert GraphDumper(sample_graph()).dump() == expected
    with pytest.raises(GraphError, match="needs a graph"):
        GraphDumper().dump()


def frame_graph() -> Graph:
    graph = Graph("frames")
    render = graph.addNewTask("render", {"cmd": "echo r", "start": 1, "end": 4, "packetSize": 2})
    comps = graph.addNewTaskGroup("comps")
    comp = comps.addNewTask("comp", {"cmd": "echo c", "start": 1, "end": 4})
    comps.dependsOn(render, [DONE], byFrame=True)
    comp.dependsOn(render, [DONE, ERROR], byFrame=True)
    return graph


def test_a_by_frame_dependency_is_dumped_with_its_option_and_pushed_down() -> None:
    data = frame_graph().prepareGraphRepresentation()
    names = [node["name"] for node in data["tasks"]]
    render, comps, comp = names.index("render"), names.index("comps"), names.index("comp")
    assert data["tasks"][comps]["dependencies"] == [[render, [DONE], {"byFrame": True}]]
    assert [render, [DONE], {"byFrame": True}] in data["tasks"][comp]["dependencies"]
    assert [render, [DONE, ERROR], {"byFrame": True}] in data["tasks"][comp]["dependencies"]
    assert msgpack.unpackb(msgpack.packb(data, strict_types=True)) == data


@pytest.mark.parametrize(("options", "match"), [
    ({"byFrame": 1}, "must be"), ({"byframe": True}, "must be"), ("byFrame", "must be"),
])
def test_dependency_options_are_checked(options: Any, match: str) -> None:
    data = frame_graph().prepareGraphRepresentation()
    comp = [node["name"] for node in data["tasks"]].index("comp")
    data["tasks"][comp]["dependencies"][0][2] = options
    with pytest.raises(GraphError, match=match):
        validateRepresentation(data)
    data["tasks"][comp]["dependencies"][0].extend([{}, {}])
    with pytest.raises(GraphError, match="is not"):
        validateRepresentation(data)


def test_a_by_frame_dependency_waits_for_final_statuses_only() -> None:
    data = frame_graph().prepareGraphRepresentation()
    comp = [node["name"] for node in data["tasks"]].index("comp")
    data["tasks"][comp]["dependencies"][0][1] = [int(NodeStatus.RUNNING)]
    with pytest.raises(GraphError, match="final statuses only"):
        validateRepresentation(data)
    data["tasks"][comp]["dependencies"][0][2] = {"byFrame": False}  # an ordinary one may
    validateRepresentation(data)


# ---------------------------------------------------------------- idleTimeout (hung frames)
def test_a_tasks_idle_timeout_is_in_its_representation_only_when_given() -> None:
    graph = Graph("job", user="bob")
    graph.addNewTask("sim", {"cmd": "echo sim"}, idleTimeout=600)
    graph.addNewTask("plain", {"cmd": "echo plain"})
    sim, plain = graph.prepareGraphRepresentation()["tasks"][1:]
    assert sim["idleTimeout"] == 600
    assert "idleTimeout" not in plain  # a task without one stays as Puli wrote it


@pytest.mark.parametrize("value", [-1, 30 * 24 * 3600 + 1, "600", True, float("nan"), float("inf")])
def test_a_bad_idle_timeout_is_refused_naming_the_task(value: Any) -> None:
    graph = Graph("job", user="bob")
    graph.addNewTask("sim", {"cmd": "echo sim"}, idleTimeout=value)
    with pytest.raises(GraphError, match="task .*sim.*idleTimeout"):
        graph.prepareGraphRepresentation()


def test_a_saved_task_keeps_its_idle_timeout_when_decomposed() -> None:
    saved = saved_graph([saved_group("job", [1]), saved_task("sim", {"cmd": "echo sim"}, idleTimeout=0)])
    assert decompose_saved_tasks(saved)["tasks"][1]["idleTimeout"] == 0


# ---------------------------------------------------------------- killOnRamOveruse (RAM over-use)
def test_the_kill_on_ram_overuse_flag_is_in_the_representation_only_when_set() -> None:
    graph = Graph("job", user="bob")
    graph.addNewTask("sim", {"cmd": "echo sim"}, ramUse=4096, killOnRamOveruse=True)
    graph.addNewTask("plain", {"cmd": "echo plain"}, ramUse=4096)
    sim, plain = graph.prepareGraphRepresentation()["tasks"][1:]
    assert sim["killOnRamOveruse"] is True
    assert "killOnRamOveruse" not in plain  # a task without it stays as Puli wrote it


@pytest.mark.parametrize("value", [1, "yes", [True]])
def test_a_kill_on_ram_overuse_that_is_no_bool_is_refused_naming_the_task(value: Any) -> None:
    graph = Graph("job", user="bob")
    graph.addNewTask("sim", {"cmd": "echo sim"}, ramUse=4096, killOnRamOveruse=value)
    with pytest.raises(GraphError, match="sim.*killOnRamOveruse"):
        graph.prepareGraphRepresentation()


def test_a_saved_task_keeps_its_kill_on_ram_overuse_when_decomposed() -> None:
    saved = saved_graph([saved_group("job", [1]), saved_task("sim", {"cmd": "echo sim"}, killOnRamOveruse=True)])
    assert decompose_saved_tasks(saved)["tasks"][1]["killOnRamOveruse"] is True
