"""``puli-mesh top``'s frame (rendered in memory): every name is shown exactly as given."""

from __future__ import annotations

import io

from rich.console import Console

from puli_mesh.cli import top

from .conftest import HostileFarm, cells


def test_a_frame_shows_nodes_licences_commands_and_jobs_under_their_own_names(hostile_name: str) -> None:
    farm = HostileFarm(hostile_name)
    data = {"status": farm.status(), "jobs": farm.jobs(), "running": [{**farm.command, "render_node": hostile_name}],
            "licences": farm.licences(), "at": 0.0}
    console = Console(file=io.StringIO(), width=120, height=30, color_system=None)
    console.print(top.render(data, None))
    out = console.file
    assert isinstance(out, io.StringIO)
    lines = out.getvalue().splitlines()
    rows = [cells(line) for line in lines]
    assert rows[0][1:] == [f"leader {hostile_name}", "epoch 3", "slots 0/2", "jobs 1", "q quit",
                           f"cluster {hostile_name}"]  # the first cell is the local time
    assert [hostile_name, "idle", "░░░░░░ 0/2", "5%", "100M", hostile_name, "████░░░░ 1/2"] in rows
    assert ["9", "1", hostile_name, hostile_name, "░░░░░░░░", "0%"] in rows
    assert ["1", hostile_name, hostile_name[:8], "ERROR", "████████ 100%", "-"] in rows


def test_an_error_is_shown_as_given() -> None:
    console = Console(file=io.StringIO(), width=80, height=5, color_system=None)
    console.print(top.render(None, "no graph [/] (not_found)"))
    out = console.file
    assert isinstance(out, io.StringIO)
    assert cells(out.getvalue().splitlines()[1]) == ["no graph [/] (not_found)"]


def test_an_insecure_mesh_says_so_first() -> None:
    farm = HostileFarm("rn1")
    data = {"status": {**farm.status(), "secured": False}, "jobs": [], "running": [], "licences": [], "at": 0.0}
    console = Console(file=io.StringIO(), width=120, height=10, color_system=None)
    console.print(top.render(data, None))
    out = console.file
    assert isinstance(out, io.StringIO)
    assert cells(out.getvalue().splitlines()[0])[0] == "INSECURE"
