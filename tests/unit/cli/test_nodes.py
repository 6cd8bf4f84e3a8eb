"""``puli-mesh nodes`` prints render node names and pools exactly as given."""

from __future__ import annotations

import pytest
import typer

from puli_mesh.cli import nodes

from .conftest import HostileFarm, cells


def test_nodes_lists_a_node_and_its_pools_under_their_own_names(
        hostile_farm: HostileFarm, capsys: pytest.CaptureFixture[str]) -> None:
    name = hostile_farm.name
    nodes.nodes(typer.Context(typer.main.get_command(nodes.nodes_app)), node="stub")
    lines = capsys.readouterr().out.splitlines()
    assert cells(lines[1]) == [name, "idle", name, "2", "0", "5%", "100/200", "-"]
    assert lines[2] == "* leader"


def test_a_node_edit_echoes_the_name_as_given(hostile_farm: HostileFarm, capsys: pytest.CaptureFixture[str]) -> None:
    context = typer.Context(typer.main.get_command(nodes.nodes_app))
    nodes.nodes_drain(context, hostile_farm.name, node="stub")
    assert capsys.readouterr().out == f"render node {hostile_farm.name} draining\n"


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
