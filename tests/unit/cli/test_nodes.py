"""``puli-mesh nodes`` prints render node names and pools exactly as given."""

from __future__ import annotations

from typing import Any

import pytest
import typer

from puli_mesh.cli import cluster, nodes

from .conftest import HostileFarm, cells


def test_nodes_lists_a_node_and_its_pools_under_their_own_names(
        hostile_farm: HostileFarm, capsys: pytest.CaptureFixture[str]) -> None:
    name = hostile_farm.name
    nodes.nodes(typer.Context(typer.main.get_command(nodes.nodes_app)), node="stub")
    lines = capsys.readouterr().out.splitlines()
    assert cells(lines[1]) == [name, "idle", name, "2", "0", "5%", "1.50", "100/200", "-", "-"]  # no GPUs, no commands
    assert lines[2] == "* leader"


def test_nodes_shows_the_gpus_in_use_of_a_node_that_has_some(
        hostile_farm: HostileFarm, capsys: pytest.CaptureFixture[str]) -> None:
    hostile_farm.node.update(gpus=2, gpus_used=1)
    nodes.nodes(typer.Context(typer.main.get_command(nodes.nodes_app)), node="stub")
    assert cells(capsys.readouterr().out.splitlines()[1])[8] == "1/2"


def test_a_node_paused_by_its_killfile_says_so(hostile_farm: HostileFarm, capsys: pytest.CaptureFixture[str]) -> None:
    hostile_farm.node.update(state="draining", reason="killfile")
    nodes.nodes(typer.Context(typer.main.get_command(nodes.nodes_app)), node="stub")
    assert cells(capsys.readouterr().out.splitlines()[1])[1] == "draining (killfile)"


def test_a_node_edit_echoes_the_name_as_given(hostile_farm: HostileFarm, capsys: pytest.CaptureFixture[str]) -> None:
    context = typer.Context(typer.main.get_command(nodes.nodes_app))
    nodes.nodes_drain(context, hostile_farm.name, node="stub")
    assert capsys.readouterr().out == f"render node {hostile_farm.name} draining\n"


class RecordingFarm:
    """Keeps the node edits the commands ask for."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    def __getattr__(self, method: str) -> Any:
        return lambda *args, **kwargs: self.calls.append((method, args, kwargs))


@pytest.fixture
def recording_farm(monkeypatch: pytest.MonkeyPatch) -> RecordingFarm:
    farm = RecordingFarm()
    for module in (nodes, cluster):
        monkeypatch.setattr(module, "farm_for", lambda *_where: farm)
    return farm


def test_node_values_are_parsed_and_an_empty_one_clears() -> None:
    assert nodes.parse_node_values(["pools=gpu, default", "performance=1.5"]) == {
        "pools": ["gpu", "default"], "performance": 1.5}
    assert nodes.parse_node_values(["pools=", "performance="]) == {"pools": None, "performance": None}
    with pytest.raises(ValueError, match="write pools=NAME,NAME or performance=NUMBER"):
        nodes.parse_node_values(["slots=3"])
    with pytest.raises(ValueError, match="performance must be a number, not 'fast'"):
        nodes.parse_node_values(["performance=fast"])


def test_nodes_set_remove_and_pools_set_nodes_make_one_edit_each(
        recording_farm: RecordingFarm, capsys: pytest.CaptureFixture[str]) -> None:
    context = typer.Context(typer.main.get_command(nodes.nodes_app))
    nodes.nodes_set(context, "rn1", ["pools=gpu,default", "performance=2"], node="stub")
    nodes.nodes_remove(context, "rn2", node="stub")
    cluster.pools_set_nodes("gpu", ["rn1", "rn3"], node="stub")
    assert recording_farm.calls == [
        ("set_node", ("rn1",), {"pools": ["gpu", "default"], "performance": 2.0}),
        ("remove_node", ("rn2",), {}),
        ("set_pool_nodes", ("gpu", ["rn1", "rn3"]), {}),
    ]
    assert capsys.readouterr().out.splitlines() == [
        "render node rn1 set: pools gpu,default, performance 2.0", "render node rn2 removed", "pool gpu: rn1, rn3"]


def test_nodes_set_refuses_an_unknown_key_as_a_usage_error(recording_farm: RecordingFarm) -> None:
    context = typer.Context(typer.main.get_command(nodes.nodes_app))
    with pytest.raises(typer.Exit) as exited:
        nodes.nodes_set(context, "rn1", ["colour=red"], node="stub")
    assert exited.value.exit_code == 2 and recording_farm.calls == []


def test_a_node_with_an_operators_pools_is_marked(
        hostile_farm: HostileFarm, capsys: pytest.CaptureFixture[str]) -> None:
    hostile_farm.node = {**hostile_farm.node, "pools": ["gpu"], "pools_override": ["gpu"]}
    nodes.nodes(typer.Context(typer.main.get_command(nodes.nodes_app)), node="stub")
    assert cells(capsys.readouterr().out.splitlines()[1])[2] == "gpu (set)"


def test_nodes_pass_pul_rn_constraints_and_print_csv(monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    asked: dict[str, object] = {}

    class Farm:
        def nodes(self, **filters: object) -> list[dict[str, object]]:
            asked.update(filters)
            return [{"name": "rn1", "state": "idle", "pools": ["default", "gpu"], "ram_mb": 64000,
                     "performance": 2.5}]

    monkeypatch.setattr(nodes, "farm_for", lambda *_where: Farm())
    nodes.nodes(typer.Context(typer.main.get_command(nodes.nodes_app)), name=["rn*"], speed="+2", ram="-65000",
                cores="8", sort="ramSize", reverse=True, attribute=["name", "ramSize", "speed", "pools"],
                node="stub")
    assert asked == {"pool": None, "state": None, "name": ["rn*"], "speed": "+2", "ram": "-65000", "cores": "8",
                     "sort": "ramSize", "reverse": True}
    assert capsys.readouterr().out == 'name;ramSize;speed;pools\nrn1;64000;2.5;default,gpu\n'


def test_an_avoided_node_says_by_which_jobs_and_commands(
        hostile_farm: HostileFarm, capsys: pytest.CaptureFixture[str]) -> None:
    hostile_farm.node.update(avoided_by=[{"job": 7, "until": 1.0}], avoided_by_commands=[12, 13])
    nodes.nodes(typer.Context(typer.main.get_command(nodes.nodes_app)), node="stub")
    state = capsys.readouterr().out.splitlines()[1]
    assert "avoided by job 7 until" in state and "2 failed commands retry elsewhere" in state


def test_nodes_clear_forgives_through_the_farm(recording_farm: RecordingFarm,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    nodes.nodes_clear(typer.Context(typer.main.get_command(nodes.nodes_app)), "rn1", node="stub")
    assert recording_farm.calls == [("clear_node", ("rn1",), {})]
    assert capsys.readouterr().out.startswith("render node rn1 forgiven")
