"""``jobs``, ``show``, ``commands`` and ``set`` print what the farm answers: names shown exactly as given."""

from __future__ import annotations

import csv
import io
import json
import time
from types import SimpleNamespace
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from puli_mesh.cli import jobs, views
from puli_mesh.cli.common import EXIT_USAGE, console

from .conftest import HostileFarm, cells


def test_jobs_lists_a_job_under_its_own_name(hostile_farm: HostileFarm, capsys: pytest.CaptureFixture[str]) -> None:
    name = hostile_farm.name
    jobs.jobs(node="stub")
    lines = capsys.readouterr().out.splitlines()
    assert cells(lines[0])[:3] == ["id", "name", "user"]
    assert cells(lines[1]) == ["1", name, name, "ERROR", "████████ 100%", "1 err", "-", "-", "-"]
    assert lines[2] == "1 job(s)"


def test_show_draws_the_tree_with_names_descriptions_and_messages_as_given(
        hostile_farm: HostileFarm, capsys: pytest.CaptureFixture[str]) -> None:
    name = hostile_farm.name
    jobs.show(1, node="stub")
    lines = [line.lstrip("│└├─ ") for line in capsys.readouterr().out.splitlines()]
    assert lines == [f"1 {name}  ERROR  100%  1 err  user {name} pool {name} started - elapsed - eta -",
                     f"2 {name}  ERROR  0%  1 err",
                     f"command 9 {name}  ERROR  0%  on {name}  attempt 1/3  {name}"]


def test_commands_lists_task_description_node_and_message_as_given(
        hostile_farm: HostileFarm, capsys: pytest.CaptureFixture[str]) -> None:
    name = hostile_farm.name
    jobs.commands(graph=1, node="stub")
    lines = capsys.readouterr().out.splitlines()
    assert cells(lines[1]) == ["9", "1", name, name, "ERROR", "░░░░░░░░", "0%", name, "1/3", name]


def test_set_echoes_the_assignments_as_given(hostile_farm: HostileFarm, capsys: pytest.CaptureFixture[str]) -> None:
    jobs.set_values(1, [f"tag.shot={hostile_farm.name}"], node="stub")
    assert capsys.readouterr().out == f"node 1: tag.shot={hostile_farm.name}\n"


DEEP = 1000  # at Python's default recursion limit: a renderer recursing per level fails


def _deep_job() -> dict[str, Any]:
    """A job view ``DEEP`` groups deep (as ``Farm.graph`` returns it), a task at the bottom."""
    command = {"id": 9, "description": "bottom_1_1", "status_name": "DONE", "completion": 1.0,
               "render_node": None, "last_node": "rn", "attempts": 1, "max_attempt": 1, "message": ""}
    node: dict[str, Any] = {"id": DEEP + 1, "name": "bottom", "status_name": "DONE", "completion": 1.0,
                            "command_counts": {"DONE": 1}, "commands": [command]}
    for level in reversed(range(1, DEEP + 1)):
        node = {"id": level, "name": f"g{level}", "status_name": "DONE", "completion": 1.0,
                "command_counts": {"DONE": 1}, "children": [node]}
    return {**node, "name": "deep", "user": "ana", "pool": "default", "start_time": None}


def test_show_draws_every_node_of_a_job_deeper_than_the_terminal_is_wide(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    job = _deep_job()
    farm = SimpleNamespace(graph=lambda _graph_id: job)
    monkeypatch.setattr(jobs, "farm_for", lambda *_where: farm)
    monkeypatch.setattr(console, "width", 100)
    levels = jobs.shown_levels(100)
    jobs.show(1, node="stub")
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == DEEP + 2  # the job, the groups below it, the task, its command: a line each
    assert lines[0].startswith("1 deep  DONE")
    names = [line.lstrip("│└├─ ").split("  ")[0] for line in lines[1:]]
    assert names[:levels] == [f"{level} g{level}" for level in range(2, levels + 2)]
    assert names[levels:DEEP - 1] == [f"level {level}" for level in range(levels + 1, DEEP)]
    assert lines[DEEP].lstrip("│└├─ ") == f"level {DEEP}  {DEEP + 1} bottom  DONE  100%  1 done"
    assert lines[-1].lstrip("│└├─ ").startswith("command 9 bottom_1_1  DONE")
    assert max(len(line) for line in lines) <= 100


def test_show_says_what_a_bounded_view_left_out_and_where_to_see_it(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    task = {"id": 2, "name": "render", "status_name": "READY", "completion": 0.0, "command_counts": {"READY": 9},
            "commands": [], "commands_omitted": 9}
    job = {"id": 1, "name": "big", "status_name": "READY", "completion": 0.0, "command_counts": {"READY": 9},
           "children": [task], "children_omitted": 3, "user": "ana", "pool": "default", "start_time": None}
    monkeypatch.setattr(jobs, "farm_for", lambda *_where: SimpleNamespace(graph=lambda _graph_id: job))
    jobs.show(1, node="stub")
    lines = [line.lstrip("│└├─ ") for line in capsys.readouterr().out.splitlines()]
    assert lines[2] == "... 9 more command(s): puli-mesh commands --graph 2"
    assert lines[3] == "... 3 more node(s): puli-mesh commands --graph 1"


class EditRecorder:
    """A farm that records the edits the CLI asks for."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: self.calls.append((name, args, kwargs))


def test_set_sends_each_kind_of_run_time_edit_to_its_farm_method(monkeypatch: pytest.MonkeyPatch) -> None:
    farm = EditRecorder()
    monkeypatch.setattr(jobs, "farm_for", lambda *_args: farm)
    jobs.set_values(12, ["maxRN=4", "timer=none", "maxAttempt=3", "user=bob", "tag.prod=film", "env.SHOT=010",
                         "arg.start=5"], node="stub")
    assert farm.calls == [("set", (12,), {"maxRN": 4, "timer": None, "maxAttempt": 3, "user": "bob"}),
                          ("set_tags", (12,), {"prod": "film"}),
                          ("set_environment", (12, {"SHOT": "010"}), {}),
                          ("set_arguments", (12, {"start": 5}), {})]
    farm.calls.clear()
    jobs.set_values(57, ["description=d", "arg.start=5"], command=True, node="stub")
    assert farm.calls == [("set_command", (57,), {"description": "d", "arguments": {"start": 5}})]


@pytest.mark.parametrize(("items", "command"), [(["description=d"], False), (["maxRN=4"], True),
                                                (["env.A=1"], True)])
def test_set_refuses_a_value_of_the_wrong_kind_of_target(items: list[str], command: bool,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    farm = EditRecorder()
    monkeypatch.setattr(jobs, "farm_for", lambda *_args: farm)
    with pytest.raises(typer.Exit) as exit_info:
        jobs.set_values(57, items, command=command, node="stub")
    assert exit_info.value.exit_code == EXIT_USAGE and farm.calls == []


def test_restart_no_cascade_and_done_reach_the_farm(monkeypatch: pytest.MonkeyPatch) -> None:
    app = typer.Typer()
    jobs.register(app)
    farm = EditRecorder()
    monkeypatch.setattr(jobs, "farm_for", lambda *_args: farm)
    runner = CliRunner()
    assert runner.invoke(app, ["restart", "12", "--no-cascade"]).exit_code == 0
    assert runner.invoke(app, ["restart", "--command", "57", "--no-cascade"]).exit_code == 0
    assert runner.invoke(app, ["done", "--command", "57"]).exit_code == 0
    assert runner.invoke(app, ["done", "12"]).exit_code == EXIT_USAGE
    assert farm.calls == [("edit", ("restart",), {"id": 12, "errors_only": False, "cascade": False}),
                          ("restart_command", (57,), {"cascade": False}),
                          ("done_command", (57,), {})]


class ListingFarm:
    """A farm that records what ``jobs`` and ``nodes`` ask for and answers fixed rows."""

    def __init__(self) -> None:
        self.asked: dict[str, Any] = {}
        self.rows = [{"id": 1, "name": "a;b", "user": "ana", "status_name": "DONE", "start_time": 10.5,
                      "tags": {"prod": "film"}, "pools": ["x", "y"]},
                     {"id": 2, "name": 'say "hi"', "user": "bob", "status_name": "ERROR", "start_time": None,
                      "tags": {}, "pools": []}]

    def jobs(self, **asked: Any) -> list[dict[str, Any]]:
        self.asked = asked
        return self.rows


@pytest.fixture
def listing_farm(monkeypatch: pytest.MonkeyPatch) -> ListingFarm:
    farm = ListingFarm()
    monkeypatch.setattr(jobs, "farm_for", lambda *_where: farm)
    return farm


def test_jobs_pass_time_ranges_and_sort_to_the_farm(listing_farm: ListingFarm,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    jobs.jobs(since="2024-05-01 08:00:00", started_after="2024-05-01 09:30:00", ended_before="1000",
              sort="startTime", reverse=True, node="stub", json_=True)
    asked = listing_farm.asked
    assert asked["since"] == time.mktime((2024, 5, 1, 8, 0, 0, 0, 0, -1))  # Puli's format, local time
    assert asked["started_after"] == asked["since"] + 5400
    assert asked["ended_before"] == 1000.0
    assert "created_before" not in asked and "ended_after" not in asked  # not given: not sent
    assert (asked["sort"], asked["reverse"]) == ("startTime", True)
    capsys.readouterr()


def test_jobs_attributes_print_semicolon_csv_with_a_header_that_csv_reads_back(
        listing_farm: ListingFarm, capsys: pytest.CaptureFixture[str]) -> None:
    jobs.jobs(attribute=["id", "name", "startTime", "tags:prod", "prod"], node="stub")
    out = capsys.readouterr().out
    assert list(csv.reader(io.StringIO(out), delimiter=";")) == [
        ["id", "name", "startTime", "tags:prod", "prod"],
        ["1", "a;b", "10.5", "film", "film"],
        ["2", 'say "hi"', "", "", ""],
    ]


def test_jobs_csv_without_attributes_has_the_default_columns_and_json_picks_them(
        listing_farm: ListingFarm, capsys: pytest.CaptureFixture[str]) -> None:
    jobs.jobs(csv_=True, node="stub")
    header = capsys.readouterr().out.splitlines()[0]
    assert header.split(";") == list(views.JOB_CSV_FIELDS)
    jobs.jobs(attribute=["id", "user"], json_=True, node="stub")
    assert json.loads(capsys.readouterr().out) == [{"id": 1, "user": "ana"}, {"id": 2, "user": "bob"}]
