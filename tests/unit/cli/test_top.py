"""``puli-mesh top``'s frame (rendered in memory): every name is shown exactly as given."""

from __future__ import annotations

import io
from typing import Any

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


def test_a_node_that_paused_itself_shows_why() -> None:
    farm = HostileFarm("rn1")
    farm.node.update(state="paused", reason="nimby: user active")
    data = {"status": farm.status(), "jobs": [], "running": [], "licences": [], "at": 0.0}
    console = Console(file=io.StringIO(), width=120, height=10, color_system=None)
    console.print(top.render(data, None))
    out = console.file
    assert isinstance(out, io.StringIO)
    assert "paused (nimby: user active)" in out.getvalue()


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


class AskedFarm(HostileFarm):
    """Records what a snapshot asks; its status is bounded to ``nodes_limit`` with a summary of 2,000 nodes."""

    def __init__(self) -> None:
        super().__init__("rn1")
        self.asked: list[tuple[str, dict[str, Any]]] = []

    def status(self, nodes_limit: int | None = None) -> dict[str, Any]:  # type: ignore[override]
        self.asked.append(("status", {"nodes_limit": nodes_limit}))
        summary = {"nodes": 2000, "states": {"silent": 1, "busy": 1990, "idle": 9}, "slots": 4000, "running": 1990,
                   "as_of": 0.0}
        return {**super().status(), "summary": summary}

    def commands(self, **filters: Any) -> list[dict[str, Any]]:
        self.asked.append(("commands", filters))
        return [self.command] * filters["limit"]


def test_a_frame_asks_for_one_screen_of_nodes_and_running_commands_and_shows_the_whole_farm_counted() -> None:
    farm = AskedFarm()
    data = top.snapshot(farm)  # type: ignore[arg-type]
    assert farm.asked == [("status", {"nodes_limit": top.TOP_NODES}),
                          ("commands", {"status": top.RUNNING_NAMES, "limit": top.TOP_RUNNING})]
    console = Console(file=io.StringIO(), width=160, height=40, color_system=None)
    console.print(top.render(data, None))
    out = console.file
    assert isinstance(out, io.StringIO)
    text = out.getvalue()
    assert "slots 1990/4000" in text  # from the summary, not from the one node listed
    assert "nodes (1 of 2000: silent 1, busy 1990, idle 9)" in text
    assert f"running ({1990})" in text


def test_a_leader_without_summaries_is_counted_from_its_nodes() -> None:
    farm = HostileFarm("rn1")
    busy = {**farm.node, "name": "rn2", "state": "busy", "running": 1}
    gone = {**farm.node, "name": "rn3", "state": "gone"}
    status = {**farm.status(), "nodes": [farm.node, busy, gone]}
    assert top.summarise(status["nodes"]) == {"nodes": 3, "states": {"idle": 1, "busy": 1, "gone": 1},
                                              "running": 1, "slots": 4}
