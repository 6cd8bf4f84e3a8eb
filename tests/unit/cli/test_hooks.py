"""``puli-mesh hooks add|list|remove``: the arguments reach the farm, hooks show as named."""

from __future__ import annotations

import json
from typing import Any

import pytest

from puli_mesh.cli import hooks
from puli_mesh.cli.common import console
from puli_mesh.hooks import EVENT_KINDS

from .conftest import HOSTILE, cells


class HookFarm:
    def __init__(self) -> None:
        self.kept: dict[str, dict[str, Any]] = {}

    def add_hook(self, name: str, events: list[str], url: str | None = None, command: str | None = None,
                 user: str | None = None, pool: str | None = None) -> dict[str, Any]:
        self.kept[name] = {"name": name, "events": events, "url": url, "command": command, "user": user,
                           "pool": pool, "added_at": 1.0}
        return self.kept[name]

    def hooks(self) -> list[dict[str, Any]]:
        return list(self.kept.values())

    def remove_hook(self, name: str) -> None:
        del self.kept[name]


@pytest.fixture
def farm(monkeypatch: pytest.MonkeyPatch) -> HookFarm:
    stub = HookFarm()
    monkeypatch.setattr(console, "width", 200)  # a wide terminal: nothing cut
    monkeypatch.setattr(hooks, "farm_for", lambda *_args: stub)
    return stub


@pytest.mark.parametrize("name", HOSTILE)
def test_add_list_remove(farm: HookFarm, name: str, capsys: pytest.CaptureFixture[str]) -> None:
    hooks.hooks_add(name, on="all", url="http://ci/x", user=name, node="stub")
    assert farm.kept[name]["events"] == list(EVENT_KINDS)
    assert capsys.readouterr().out.startswith(f"hook {name}: job_done")
    hooks.hooks_add("two", on="job_done,node_lost", command="notify", node="stub")
    assert farm.kept["two"]["events"] == ["job_done", "node_lost"]
    capsys.readouterr()
    hooks.hooks_list(node="stub")
    rows = [cells(line) for line in capsys.readouterr().out.splitlines() if "http://ci/x" in line]
    assert rows == [[name, ",".join(EVENT_KINDS), "http://ci/x", name]]
    hooks.hooks_list(node="stub", json_=True)
    assert json.loads(capsys.readouterr().out)[0]["events"] == list(EVENT_KINDS)
    hooks.hooks_remove(name, node="stub")
    assert list(farm.kept) == ["two"] and capsys.readouterr().out == f"hook {name} removed\n"
