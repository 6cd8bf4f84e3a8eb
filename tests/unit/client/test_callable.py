"""addNewCallable (client side) and CallableRunner (render-node side)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import clienthelpers
import pytest

from puliclient import CallableRunner, CommandStatus, Graph, GraphError
from puliclient.commandwatcher import watch


def callable_command(graph: Graph) -> dict[str, object]:
    data = graph.prepareGraphRepresentation()
    task = data["tasks"][1]
    return {"runner": task["runner"], "arguments": task["commands"][0]["arguments"],
            "name": task["name"]}


def test_function_callable_runs_with_json_arguments(tmp_path: Path) -> None:
    graph = Graph("g")
    out = tmp_path / "sum"
    graph.addNewCallable(clienthelpers.add, user_args=(2, 3), user_kwargs={"out": str(out)})
    command = callable_command(graph)
    arguments = command["arguments"]
    assert command["runner"] == "puliclient.CallableRunner" and command["name"] == "add"
    assert isinstance(arguments, dict)
    assert arguments["execType"] == "function" and arguments["moduleName"] == "clienthelpers"
    assert json.loads(arguments["user_args"]) == [2, 3]
    assert arguments["sysPath"][0] == str(Path(clienthelpers.__file__).resolve().parent)
    result = watch("puliclient.CallableRunner", arguments)
    assert result.status == CommandStatus.DONE and out.read_text() == "5"
    assert result.message == "returned 5"


def test_method_callable_instantiates_the_class(tmp_path: Path) -> None:
    graph = Graph("g")
    out = tmp_path / "text"
    graph.addNewCallable(clienthelpers.Writer().write, name="writer",
                         user_args=[str(out), "hello"], maxAttempt=3)
    data = graph.prepareGraphRepresentation()
    task = data["tasks"][1]
    assert task["name"] == "writer" and task["maxAttempt"] == 3
    arguments = task["commands"][0]["arguments"]
    assert (arguments["execType"], arguments["className"], arguments["methodName"]) == (
        "method", "Writer", "write")
    assert watch("puliclient.CallableRunner", arguments).status == CommandStatus.DONE
    assert out.read_text() == "hello"


def test_exception_in_the_callable_is_an_error_with_its_message() -> None:
    graph = Graph("g")
    graph.addNewCallable(clienthelpers.fail, user_args=["nope"])
    result = watch("puliclient.CallableRunner", callable_command(graph)["arguments"])  # type: ignore[arg-type]
    assert result.status == CommandStatus.ERROR
    assert result.message == "fail raised ValueError: nope"


def main_function() -> None:
    """Pretends to live in the submitting script."""


main_function.__module__ = "__main__"


def test_functions_from_main_are_refused_with_advice() -> None:
    with pytest.raises(GraphError, match="__main__.*move it into an importable module"):
        Graph("g").addNewCallable(main_function)


def test_lambdas_and_nested_functions_are_refused() -> None:
    def nested() -> None:
        pass

    with pytest.raises(GraphError, match="lambda or a nested function"):
        Graph("g").addNewCallable(lambda: None)
    with pytest.raises(GraphError, match="lambda or a nested function"):
        Graph("g").addNewCallable(nested)


def test_non_serialisable_arguments_are_refused() -> None:
    with pytest.raises(GraphError, match="arguments of callable 'add' are not JSON-serialisable"):
        Graph("g").addNewCallable(clienthelpers.add, user_args=(object(), 1))
    with pytest.raises(GraphError, match="not JSON-serialisable"):
        Graph("g").addNewCallable(clienthelpers.add, user_kwargs={"a": {1, 2}})


def test_non_callable_is_refused() -> None:
    with pytest.raises(GraphError, match="needs a function or a method"):
        Graph("g").addNewCallable(42)  # type: ignore[arg-type]


def test_callable_runner_bad_exec_type_and_missing_function() -> None:
    base = {"moduleName": "clienthelpers", "user_args": "[]", "user_kwargs": "{}"}
    bad = watch("puliclient.CallableRunner", {**base, "execType": "lambda"})
    assert bad.status == CommandStatus.ERROR and "execType must be" in bad.message
    missing = watch("puliclient.CallableRunner", {**base, "execType": "function",
                                                  "funcName": "nothing_here"})
    assert missing.status == CommandStatus.ERROR and "cannot find the callable" in missing.message
    assert CallableRunner.__name__ == "CallableRunner"


def test_sys_path_is_the_module_root_then_the_client_path_as_puli_sent_it(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    studio = tmp_path / "studio_pipeline"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.path", ["", str(studio), *sys.path, str(studio)])
    graph = Graph("g")
    graph.addNewCallable(clienthelpers.add, user_args=(1, 1))
    sys_path = callable_command(graph)["arguments"]["sysPath"]  # type: ignore[index]
    root = str(Path(clienthelpers.__file__).resolve().parent)
    assert sys_path[0] == root
    # '' is the client's directory, which means another one on a render node: sent absolute.
    assert sys_path[1:3] == [str(tmp_path), str(studio)]
    assert sys_path.count(str(studio)) == 1 and sys_path.count(root) == 1
    assert all(Path(entry).is_absolute() for entry in sys_path)

