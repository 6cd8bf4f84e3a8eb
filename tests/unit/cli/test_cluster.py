"""``status``, ``step-down``, ``licences``, ``pools`` and ``stats`` print names exactly as given."""

from __future__ import annotations

import pytest
import typer

from puli_mesh.cli import cluster

from .conftest import HostileFarm, cells


def group_context(app: typer.Typer) -> typer.Context:
    return typer.Context(typer.main.get_command(app))


def test_status_shows_the_cluster_leader_and_nodes_as_named(
        hostile_farm: HostileFarm, capsys: pytest.CaptureFixture[str]) -> None:
    name = hostile_farm.name
    cluster.status(node="stub")
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"cluster {name}  leader {name}  epoch 3  graphs 1"
    assert [cells(line) for line in lines if name in line][1:] == [
        [name, "idle", name, "2", "0", "5", "100 / 200", name]]
    cluster.step_down(node="stub")
    assert capsys.readouterr().out == f"{name} is handing over leadership\n"


def test_licences_list_and_set_show_the_licence_and_nodes_as_named(
        hostile_farm: HostileFarm, capsys: pytest.CaptureFixture[str]) -> None:
    name = hostile_farm.name
    cluster.licences(group_context(cluster.licences_app), node="stub")
    assert [cells(line) for line in capsys.readouterr().out.splitlines() if name in line] == [[name, "1", "2", name]]
    cluster.licences_set(name, 2, zk="stub")
    assert capsys.readouterr().out == f"licence {name}: 2 tokens\n"


def test_pools_of_the_coordinator_and_of_the_cluster_show_names_as_given(
        hostile_farm: HostileFarm, capsys: pytest.CaptureFixture[str]) -> None:
    name = hostile_farm.name
    cluster.pools(group_context(cluster.pools_app), node="stub")
    assert [cells(line) for line in capsys.readouterr().out.splitlines() if name in line] == [[name, name, "1"]]
    cluster.pools(group_context(cluster.pools_app), zk="stub")
    assert [cells(line) for line in capsys.readouterr().out.splitlines() if name in line] == [[name, name]]
    cluster.pools_create(name, zk="stub")
    assert capsys.readouterr().out == f"pool {name} defined\n"


def test_stats_show_licence_names_as_given(hostile_farm: HostileFarm, capsys: pytest.CaptureFixture[str]) -> None:
    cluster.stats(node="stub")
    lines = capsys.readouterr().out.splitlines()
    assert cells(lines[1]) == ["- (now)", "1", "0", "1.0", "0", "0", "1", "█████░░░░░", "50%",
                               f"{hostile_farm.name} 1/2"]


def test_stats_end_with_jobs_and_render_nodes_by_status(hostile_farm: HostileFarm, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    data = {**hostile_farm.stats(), "jobs_by_status": {"ERROR": 2, "RUNNING": 1, "TOTAL": 3},
            "render_nodes_by_status": {"IDLE": 4, "TOTAL": 4}}
    monkeypatch.setattr(hostile_farm, "stats", lambda: data)
    cluster.stats(node="stub")
    lines = capsys.readouterr().out.splitlines()
    assert lines[-2:] == ["jobs: ERROR 2  RUNNING 1  TOTAL 3", "render nodes: IDLE 4  TOTAL 4"]
