"""``jobs``, ``show``, ``commands`` and ``set`` print what the farm answers: names shown exactly as given."""

from __future__ import annotations

import pytest

from puli_mesh.cli import jobs

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
