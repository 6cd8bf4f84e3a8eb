"""``puli-mesh shares set|list|remove``: accounts split and passed on, use shown against guarantee and cap."""

from __future__ import annotations

import json
from typing import Any

import pytest
import typer

from puli_mesh.cli import shares
from puli_mesh.cli.common import console

from .conftest import HOSTILE, cells


class ShareFarm:
    def __init__(self) -> None:
        self.kept: dict[tuple[str, str], dict[str, Any]] = {}
        self.preempt: dict[str, float | None] = {}
        self.quota: dict[tuple[str, str], int] = {}

    def set_share(self, pool: str, account: str, min: int = 0, max: int = 0, weight: float = 1.0) -> None:  # noqa: A002
        self.kept[(pool, account)] = {"pool": pool, "account": account, "min": min, "max": max,
                                      "weight": weight, "use": 3, "ready": 0 if account == "idle" else 5,
                                      "defined": True,
                                      "preempt_after": self.preempt.get(pool)}

    def set_share_preempt(self, pool: str, after: float | None) -> None:
        self.preempt[pool] = after

    def set_share_quota(self, kind: str, name: str, max: int) -> None:  # noqa: A002
        self.quota[(kind, name)] = max

    def quotas(self) -> list[dict[str, Any]]:
        return [{"kind": k, "name": n, "max": m, "use": 2} for (k, n), m in self.quota.items() if m]

    def shares(self) -> list[dict[str, Any]]:
        return list(self.kept.values())

    def remove_share(self, pool: str, account: str) -> None:
        del self.kept[(pool, account)]


@pytest.fixture
def farm(monkeypatch: pytest.MonkeyPatch) -> ShareFarm:
    stub = ShareFarm()
    monkeypatch.setattr(console, "width", 200)
    monkeypatch.setattr(shares, "farm_for", lambda *_args: stub)
    return stub


@pytest.mark.parametrize("name", HOSTILE)
def test_set_list_remove(farm: ShareFarm, name: str, capsys: pytest.CaptureFixture[str]) -> None:
    shares.shares_set(f"default/{name}/bob", min_slots=4, max_slots=0, weight=2.0, node="stub")
    assert farm.kept[("default", f"{name}/bob")]["min"] == 4
    shares.shares_set("gpu/film", min_slots=1, max_slots=3, weight=1.0, node="stub")
    capsys.readouterr()
    shares.shares_list(node="stub")
    rows = [cells(line) for line in capsys.readouterr().out.splitlines() if "default/" in line or "gpu/" in line]
    assert rows == [[f"default/{name}/bob", "3", "5", "4", "-", "2", "-", "below guarantee"],
                    ["gpu/film", "3", "5", "1", "3", "1", "-", "at cap"]]
    shares.shares_list(node="stub", json_=True)
    assert json.loads(capsys.readouterr().out)[1]["max"] == 3
    shares.shares_set("default/idle", min_slots=4, node="stub")  # below its min, but nothing waits
    capsys.readouterr()
    shares.shares_list(node="stub")
    assert [cells(line) for line in capsys.readouterr().out.splitlines() if "default/idle" in line] == [
        ["default/idle", "3", "0", "4", "-", "1", "-"]]
    farm.remove_share("default", "idle")
    shares.shares_remove("gpu/film", node="stub")
    assert list(farm.kept) == [("default", f"{name}/bob")]


@pytest.mark.parametrize("bad", ["default", "/film", "default/"])
def test_an_account_without_pool_and_project_is_a_usage_error(farm: ShareFarm, bad: str) -> None:
    with pytest.raises(typer.Exit) as exc:
        shares.shares_set(bad, node="stub")
    assert exc.value.exit_code == 2 and not farm.kept


def test_preempt_on_and_off(farm: ShareFarm, capsys: pytest.CaptureFixture[str]) -> None:
    shares.shares_preempt("gpu", "on", node="stub")
    assert farm.preempt == {"gpu": 60.0}  # the documented default
    shares.shares_preempt("gpu", "on", after=120.0, node="stub")
    shares.shares_set("gpu/film", min_slots=1, node="stub")
    capsys.readouterr()
    shares.shares_list(node="stub")
    assert [cells(line) for line in capsys.readouterr().out.splitlines() if "gpu/" in line] == [
        ["gpu/film", "3", "5", "1", "-", "1", "after 120 s"]]
    shares.shares_preempt("gpu", "off", node="stub")
    assert farm.preempt == {"gpu": None}
    with pytest.raises(typer.Exit) as exc:
        shares.shares_preempt("gpu", "yes", node="stub")
    assert exc.value.exit_code == 2


def test_quota_set_listed_and_removed(farm: ShareFarm, capsys: pytest.CaptureFixture[str]) -> None:
    shares.shares_quota("project/film", max_slots=2, node="stub")
    shares.shares_quota("user/ana", max_slots=5, node="stub")
    capsys.readouterr()
    shares.shares_list(node="stub")
    rows = [cells(line) for line in capsys.readouterr().out.splitlines() if "/film" in line or "/ana" in line]
    assert rows == [["project/film", "2", "2", "at quota"], ["user/ana", "2", "5"]]
    shares.shares_quota("user/ana", max_slots=0, node="stub")
    assert farm.quota[("user", "ana")] == 0
    for bad in ("team/x", "user/", "film"):
        with pytest.raises(typer.Exit) as exc:
            shares.shares_quota(bad, max_slots=1, node="stub")
        assert exc.value.exit_code == 2
