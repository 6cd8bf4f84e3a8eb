"""``puli-mesh top``'s shares panel: rows from the leader's share listing, flagged
accounts first; the panel only when some pool has a share tree; the query asked sparingly."""

from __future__ import annotations

import io
from typing import Any

from rich.console import Console

from puli_mesh.cli import top, top_shares
from puli_mesh.cli.top_shares import AT_CAP, BELOW_MIN, ShareLine

from .conftest import HostileFarm, cells


def account(pool: str, name: str, use: int, min_: int = 0, max_: int = 0, weight: float = 1.0,
            **extra: Any) -> dict[str, Any]:
    return {"pool": pool, "account": name, "min": min_, "max": max_, "weight": weight, "use": use,
            "defined": True, **extra}


def test_an_account_below_its_guarantee_is_flagged_only_while_work_of_it_waits() -> None:
    shares = [account("default", "film", 1, min_=4, ready=5), account("default", "film/ana", 0, min_=2, ready=5),
              account("default", "rnd", 0, min_=3, ready=0)]
    assert top_shares.share_lines(shares) == [
        ShareLine("default/film", 1, 4, 0, 1.0, BELOW_MIN), ShareLine("default/film/ana", 0, 2, 0, 1.0, BELOW_MIN),
        ShareLine("default/rnd", 0, 3, 0, 1.0, "")]  # rnd: below its guarantee, but nothing to run
    # a row without ``ready`` (a leader before it) is never flagged below its guarantee
    assert top_shares.flag_of(account("default", "old", 0, min_=3)) == ""


def test_an_account_at_its_cap_is_flagged_and_flagged_accounts_come_first() -> None:
    shares = [account("default", "a", 2), account("default", "b", 2, max_=4), account("default", "c", 4, max_=4),
              account("gpu", "d", 0, min_=1, ready=1)]
    lines = top_shares.share_lines(shares)
    assert [(line.account, line.flag) for line in lines] == [
        ("default/c", AT_CAP), ("gpu/d", BELOW_MIN), ("default/a", ""), ("default/b", "")]


def test_the_panel_lists_at_most_a_screen_of_accounts_and_ignores_fields_it_does_not_know() -> None:
    shares = [account("default", f"p{i:02}", i, preemptible=True, quota={"x": 1}) for i in range(20)]
    lines = top_shares.share_lines(shares)
    assert len(lines) == top_shares.TOP_SHARES and lines[0].account == "default/p00"
    assert top_shares.shares_title(len(lines), len(shares)) == f"shares ({top_shares.TOP_SHARES} of 20)"
    assert top_shares.shares_title(3, 3) == "shares"


def frame(data: dict[str, Any], width: int = 120, height: int = 40) -> str:
    console = Console(file=io.StringIO(), width=width, height=height, color_system=None)
    console.print(top.render(data, None))
    out = console.file
    assert isinstance(out, io.StringIO)
    return out.getvalue()


def test_a_frame_shows_each_accounts_use_guarantee_cap_and_weight_with_its_flag(hostile_name: str) -> None:
    farm = HostileFarm(hostile_name)
    shares = [account(hostile_name, "film", 3, min_=4, weight=2.5, ready=2), account(hostile_name, "rnd", 6, max_=6)]
    jobs = [farm.job]
    text = frame({"status": farm.status(), "jobs": jobs, "running": [], "licences": [], "shares": shares, "at": 0.0})
    rows = [cells(line) for line in text.splitlines()]
    assert [f"{hostile_name}/rnd", "6", "0", "6", "1", AT_CAP] in rows
    assert [f"{hostile_name}/film", "3", "4", "-", "2.5", BELOW_MIN] in rows
    assert any(line.strip().startswith("╭") and " shares " in line for line in text.splitlines())


def test_a_farm_without_share_trees_sees_no_shares_panel() -> None:
    farm = HostileFarm("rn1")
    for data in ({"shares": []}, {}):  # an empty listing, or a frame that did not ask
        text = frame({"status": farm.status(), "jobs": [], "running": [], "licences": [], "at": 0.0, **data})
        assert "shares" not in text and "weight" not in text


def test_a_frame_asks_for_the_shares_only_when_the_status_says_there_are_some() -> None:
    asked: list[str] = []

    class CountingFarm(HostileFarm):
        has_shares: bool | None = False

        def status(self, nodes_limit: int | None = None) -> dict[str, Any]:  # type: ignore[override]
            flag = {} if self.has_shares is None else {"shares": self.has_shares}
            return {**super().status(), **flag}

        def shares(self) -> list[dict[str, Any]]:
            asked.append("shares")
            return [account("default", "film", 0)]

        def quotas(self) -> list[dict[str, Any]]:
            asked.append("quotas")
            return []

    farm = CountingFarm("rn1")
    data = top.snapshot(farm)  # type: ignore[arg-type]
    assert data["shares"] == [] and data["quotas"] == [] and asked == []
    farm.has_shares = True
    assert len(top.snapshot(farm)["shares"]) == 1 and asked == ["shares", "quotas"]  # type: ignore[arg-type]
    farm.has_shares = None  # a leader before the flag: asked every frame, as the panel may have rows
    top.snapshot(farm)  # type: ignore[arg-type]
    assert asked == ["shares", "quotas"] * 2


def test_quotas_follow_the_accounts_and_the_title_names_the_pools_that_preempt() -> None:
    shares = [account("default", "film", 2, min_=1, preempt_after=60.0), account("gpu", "rnd", 0, min_=2)]
    quotas = [{"kind": "user", "name": "ana", "max": 2, "use": 2},
              {"kind": "project", "name": "tv", "max": 5, "use": 1}]
    lines = top_shares.share_lines(shares, quotas)
    assert [(line.account, line.flag) for line in lines] == [
        ("quota user/ana", top_shares.AT_QUOTA), ("default/film", ""), ("gpu/rnd", ""), ("quota project/tv", "")]
    assert top_shares.preempting(shares) == {"default": 60.0}
    assert top_shares.shares_title(4, 4, {"default": 60.0}) == "shares, preempts: default after 60 s"
    text = frame({"status": HostileFarm("rn1").status(), "jobs": [], "running": [], "licences": [],
                  "shares": shares, "quotas": quotas, "at": 0.0}, width=80)
    rows = [cells(line) for line in text.splitlines()]
    assert ["quota user/ana", "2", "-", "2", "-", top_shares.AT_QUOTA] in rows
    assert ["quota project/tv", "1", "-", "5", "-"] in rows
    assert any("preempts: default after 60 s" in line for line in text.splitlines())
    assert max(len(line) for line in text.splitlines()) <= 80


def test_a_farm_with_only_quotas_sees_the_panel() -> None:
    text = frame({"status": HostileFarm("rn1").status(), "jobs": [], "running": [], "licences": [], "shares": [],
                  "quotas": [{"kind": "user", "name": "bo", "max": 1, "use": 0}], "at": 0.0})
    assert any(cells(line)[:1] == ["quota user/bo"] for line in text.splitlines())
