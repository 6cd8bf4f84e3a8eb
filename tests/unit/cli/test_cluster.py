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


def test_sparklines_scale_to_their_largest_and_fit_their_width() -> None:
    assert cluster.sparkline([0, 4, 8]) == " ▄█"
    assert cluster.sparkline([]) == "" and cluster.sparkline([0, 0]) == "  "
    assert len(cluster.sparkline([float(i) for i in range(1440)], width=60)) == 60


def test_stats_history_charts_each_pool_and_licence_as_named(hostile_farm: HostileFarm, monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    name = hostile_farm.name
    samples = [{"start": 60.0 * i, "end": 60.0 * (i + 1), "finished_per_minute": float(i), "ready": 10 - i,
                "utilisation": i / 10, "ready_by_pool": {name: 10 - i}, "licences": {name: [i % 2, 2]},
                "done_total": 45, "failed_total": 1} for i in range(10)]
    asked: list[float | None] = []

    def history(since: float | None = None) -> list[dict[str, object]]:
        asked.append(since)
        return samples

    monkeypatch.setattr(hostile_farm, "history", history, raising=False)
    cluster.stats(node="stub", history=True, hours=2.0)
    out = capsys.readouterr().out
    assert "10 samples; done 45, failed 1 in all" in out
    lines = [line.strip() for line in out.splitlines()]
    assert [line for line in lines if line.startswith(f"queue {name} ")]  # the name as given, not markup
    assert [line for line in lines if line.startswith(f"licence {name} ")]
    (finished,) = [line for line in lines if line.startswith("finished/min")]
    assert cluster.sparkline([float(i) for i in range(10)]) in finished and "9 (max 9)" in finished
    assert asked[0] is not None and asked[0] > 0  # two hours back, as epoch seconds
