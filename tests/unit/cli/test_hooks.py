"""``puli-mesh hooks add|list|remove``: the arguments reach the farm, hooks show as named."""

from __future__ import annotations

from typing import Any

import pytest

from puli_mesh.cli import hooks
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
    assert [(r[0], r[2], r[3]) for r in rows] == [(name, "http://ci/x", name)]  # events may be cut to fit
    assert rows[0][1].startswith("job_done,job_")
    hooks.hooks_remove(name, node="stub")
    assert list(farm.kept) == ["two"] and capsys.readouterr().out == f"hook {name} removed\n"
