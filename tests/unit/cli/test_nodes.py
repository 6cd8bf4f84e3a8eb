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


def test_a_node_paused_by_its_killfile_says_so(hostile_farm: HostileFarm, capsys: pytest.CaptureFixture[str]) -> None:
    hostile_farm.node.update(state="draining", reason="killfile")
    nodes.nodes(typer.Context(typer.main.get_command(nodes.nodes_app)), node="stub")
    assert cells(capsys.readouterr().out.splitlines()[1])[1] == "draining (killfile)"


def test_a_node_edit_echoes_the_name_as_given(hostile_farm: HostileFarm, capsys: pytest.CaptureFixture[str]) -> None:
    context = typer.Context(typer.main.get_command(nodes.nodes_app))
    nodes.nodes_drain(context, hostile_farm.name, node="stub")
    assert capsys.readouterr().out == f"render node {hostile_farm.name} draining\n"
