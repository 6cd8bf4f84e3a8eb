"""Fixtures of the CLI's unit tests: names rich would read as markup, and a farm in memory that uses them."""

from __future__ import annotations

import re
from typing import Any

import pytest

import puli_mesh.cli.cluster as cluster
import puli_mesh.cli.jobs as jobs
import puli_mesh.cli.nodes as nodes
from puli_mesh.cli.common import console

# What a user may name a job, a node, a pool...: to rich's markup these are a closing tag with
# nothing to close, a style, a hyperlink, a lone bracket; ':smile:' is an emoji code.
HOSTILE = ("[/]", "[bold red]x", "[link=file:///etc]y", "[", ":smile:")


def cells(line: str) -> list[str]:
    """The cells of a table line, without borders (cells stand two spaces apart or more)."""
    return [cell.strip() for cell in re.split(r" {2,}|│|┃", line.strip()) if cell.strip()]


class HostileFarm:
    """What :class:`puliclient.farm.Farm` answers (only what the views read), ``name`` in every free-text field."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.command = {"id": 9, "graph_id": 1, "task_name": name, "description": name, "status_name": "ERROR",
                        "completion": 0.0, "render_node": None, "last_node": name, "attempts": 1, "max_attempt": 3,
                        "message": f"started\n{name}\n"}
        self.job = {"id": 1, "name": name, "user": name, "status": 4, "status_name": "ERROR", "completion": 1.0,
                    "command_counts": {"ERROR": 1}, "start_time": None, "end_time": None, "pool": name}
        self.node = {"name": name, "state": "idle", "pools": [name], "slots": 2, "running": 0, "cpu_percent": 5,
                     "load": 1.5, "free_ram_mb": 100, "ram_mb": 200, "running_commands": [], "endpoint": name,
                     "leader": False}

    def jobs(self, **_filters: Any) -> list[dict[str, Any]]:
        return [self.job]

    def graph(self, _graph_id: int) -> dict[str, Any]:
        task = {"id": 2, "name": self.name, "status_name": "ERROR", "completion": 0.0,
                "command_counts": {"ERROR": 1}, "commands": [self.command]}
        return {**self.job, "children": [task]}

    def commands(self, **_filters: Any) -> list[dict[str, Any]]:
        return [self.command]

    def nodes(self, **_filters: Any) -> list[dict[str, Any]]:
        return [self.node]

    def status(self) -> dict[str, Any]:
        return {"cluster": self.name, "leader": self.name, "epoch": 3, "graphs": 1, "nodes": [self.node]}

    def licences(self) -> list[dict[str, Any]]:
        return [{"name": self.name, "used": 1, "total": 2, "rns": [self.name]}]

    def shares(self) -> list[dict[str, Any]]:
        return []  # no pool has a share tree

    def quotas(self) -> list[dict[str, Any]]:
        return []  # and no quota

    def pools(self) -> list[dict[str, Any]]:
        return [{"name": self.name, "render_nodes": [self.name], "graphs": [1]}]

    def cluster_pools(self) -> list[dict[str, Any]]:
        return [{"name": self.name, "nodes": [self.name]}]

    def stats(self) -> dict[str, Any]:
        minute = {"start": None, "done": 1, "failed": 0, "finished_per_minute": 1.0, "ready": 0, "running": 0,
                  "nodes_online": 1, "utilisation": 0.5, "licences": {self.name: (1, 2)}}
        return {"minutes": [], "current": minute}

    def step_down(self) -> str:
        return self.name

    def set_licence(self, _name: str, _total: int) -> None:
        pass

    def define_pool(self, _name: str) -> None:
        pass

    def pause_node(self, _name: str, kill: bool = False) -> None:
        pass

    def resume_node(self, _name: str) -> None:
        pass

    def drain_node(self, _name: str) -> None:
        pass

    def set_tags(self, _node_id: int, **_tags: str | None) -> None:
        pass


@pytest.fixture(params=HOSTILE)
def hostile_name(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def hostile_farm(hostile_name: str, monkeypatch: pytest.MonkeyPatch) -> HostileFarm:
    """The commands' farm is a :class:`HostileFarm`; the console is wide enough that no cell is cut."""
    farm = HostileFarm(hostile_name)
    for module in (jobs, nodes, cluster):
        monkeypatch.setattr(module, "farm_for", lambda *_where: farm)
    monkeypatch.setattr(cluster, "settings_farm", lambda *_where: farm)
    monkeypatch.setattr(console, "width", 200)
    return farm
