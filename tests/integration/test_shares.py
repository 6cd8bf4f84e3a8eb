"""Share trees through real agents: an operator's ``puli-mesh shares set`` reaches the leader's
core, a borrower holds every slot while the guaranteed project is idle, and the guaranteed
project gets its slots back as the borrower's commands end (gated: the test ends each one);
a preempted command is a hook event."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from puliclient.errors import FarmError
from puliclient.farm import Farm

from .conftest import Mesh, wait_for
from .test_cli_coverage import Gates, ok, submitted
from .test_cli_operating import cli


@pytest.fixture
def gates(tmp_path: Path) -> Iterator[Gates]:
    """Opened all at once at teardown, so no command outlives a failed test."""
    g = Gates(tmp_path / "gates")
    try:
        yield g
    finally:
        g.open("ALL")


@pytest.fixture
def heard() -> Iterator[Path]:
    """A directory a hook's command may write in: a root agent runs it as nobody, who cannot
    reach pytest's own temporary directories."""
    out = Path(tempfile.mkdtemp(prefix="puli-hook-"))
    out.chmod(0o777)
    try:
        yield out
    finally:
        shutil.rmtree(out, ignore_errors=True)


def use(farm: Farm) -> dict[str, int]:
    return {row["account"]: row["use"] for row in farm.shares()}


def test_a_guaranteed_project_gets_its_slots_back_as_the_borrowers_commands_end(
        mesh: Mesh, gates: Gates) -> None:
    # No pipelining: the gated commands end fast once opened, so they would look short and the
    # node would be sent more of them ahead (the few seconds of work a guarantee may wait for).
    node = mesh.start_agent("rn1", slots=4, extra=["--pipeline", "0"])
    mesh.wait_ready(1)
    farm = Farm(node=node.address)
    assert "default/show" in ok(cli(mesh, "shares", "set", "default/show", "--min", "3", "--weight", "1"))
    rows: list[dict[str, Any]] = json.loads(ok(cli(mesh, "shares", "list", "--json")))
    assert rows == [{"pool": "default", "account": "show", "min": 3, "max": 0, "weight": 1.0, "use": 0,
                     "ready": 0, "defined": True, "preempt_after": None}]

    submitted(cli(mesh, "exec", gates.command("r%%MI_FRAME%%"), "--end", "8", "--prod", "rnd", "--name", "rnd"))
    wait_for(lambda: use(farm).get("rnd") == 4, 20, "the borrower to hold every slot (work conserving)")
    submitted(cli(mesh, "exec", gates.command("s%%MI_FRAME%%"), "--end", "6", "--prod", "show", "--name", "show"))
    # the work waiting for a slot, per account: show's 6 frames, rnd's 4 not running
    assert {r["account"]: r["ready"] for r in farm.shares() if "/" not in r["account"]} == {"rnd": 4, "show": 6}
    for n in (1, 2, 3):  # each slot the borrower frees goes back to the project below its guarantee
        gates.open(f"r{n}")
        wait_for(lambda n=n: use(farm).get("show") == n and use(farm).get("rnd") == 4 - n, 20,
                 f"show to hold {n} slot(s)")
    gates.open("r4")  # show is at its guarantee: the next free slot is shared by use, rnd has none
    wait_for(lambda: use(farm).get("rnd") == 1 and use(farm).get("show") == 3, 20, "rnd to get a slot back")

    shown = ok(cli(mesh, "shares", "list"))
    assert "default/show" in shown and "default/rnd (implicit)" in shown
    farm.remove_share("default", "show")
    wait_for(lambda: all(not r["defined"] for r in farm.shares()), 10, "the account to be gone")
    refused = cli(mesh, "shares", "remove", "default/show")
    assert refused.returncode == 1 and "has no share account 'show'" in refused.stderr


def test_a_share_tree_survives_the_leaders_death(mesh: Mesh) -> None:
    mesh.start_agent("a1")
    mesh.start_agent("a2")
    mesh.wait_ready(2)
    client = mesh.client_any()
    client.request("SETTINGS", action="share_set",
                   args={"pool": "default", "account": "film/ana", "min": 1, "max": 2, "weight": 3})
    old = mesh.leader()
    mesh.kill9(old)
    survivor = next(name for name in mesh.agents if name != old)

    def shares() -> list[dict[str, Any]] | None:
        try:
            status = mesh.status()
            if status is None or status["leader"] != survivor:
                return None
            return list(Farm(node=mesh.agents[survivor].address).shares())
        except FarmError:  # the new leader may still be taking over
            return None

    rows = wait_for(shares, 30, "the new leader to answer with the share tree")
    assert {"pool": "default", "account": "film/ana", "min": 1, "max": 2, "weight": 3.0, "use": 0, "ready": 0,
            "defined": True, "preempt_after": None} in rows


def test_preemption_kills_a_borrowers_command_for_a_waiting_guarantee_without_spending_an_attempt(
        mesh: Mesh, gates: Gates, heard: Path) -> None:
    node = mesh.start_agent("rn1", slots=1, extra=["--pipeline", "0"])
    mesh.wait_ready(1)
    farm = Farm(node=node.address)
    farm.add_hook("preempted", ["command_preempted"], command=f"sh -c 'cat > {heard}/$PULI_EVENT_KIND.json'")
    ok(cli(mesh, "shares", "set", "default/show", "--min", "1"))
    assert "preempts commands older than 1 s" in ok(cli(mesh, "shares", "preempt", "default", "on", "--after", "1"))
    wait_for(lambda: all(r["preempt_after"] == 1.0 for r in farm.shares()), 10, "the leader to preempt")
    rnd = submitted(cli(mesh, "exec", gates.command("r%%MI_FRAME%%"), "--end", "1", "--prod", "rnd", "--name", "rnd"))
    gates.wait_runs(1, "the borrower's long command to run")
    show = submitted(cli(mesh, "exec", gates.command("s%%MI_FRAME%%"), "--end", "1", "--prod", "show",
                         "--name", "show"))
    wait_for(lambda: use(farm).get("show") == 1 and not use(farm).get("rnd"), 20,
             "the guarantee to take the borrower's slot")
    (borrowed,) = farm.commands(graph=rnd)
    assert borrowed["status_name"] == "READY" and borrowed["attempts"] == 0  # requeued, no attempt spent
    assert "preempted for share account default/show" in borrowed["message"]
    said = heard / "command_preempted.json"  # the owner's hook hears why the frame restarted
    wait_for(lambda: said.exists() and said.stat().st_size > 0, 30, "the command_preempted hook")
    document = json.loads(said.read_text())
    assert (document["job"]["id"], document["command"]["id"], document["node"]) == (rnd, borrowed["id"], "rn1")
    assert "preempted for share account default/show" in document["command"]["message"]
    assert "after 1 s" in ok(cli(mesh, "shares", "list"))
    gates.open("s1")  # show's command ends: the borrower gets its slot back and runs again
    wait_for(lambda: use(farm).get("rnd") == 1, 20, "rnd to run again")
    assert farm.commands(graph=show)[0]["status_name"] == "DONE"
    assert "does not preempt" in ok(cli(mesh, "shares", "preempt", "default", "off"))
    wait_for(lambda: all(r["preempt_after"] is None for r in farm.shares()), 10, "preemption to be off")


def test_a_projects_quota_holds_across_pools(mesh: Mesh, gates: Gates) -> None:
    node = mesh.start_agent("rn1", slots=2, extra=["--pipeline", "0"])
    mesh.start_agent("rn2", slots=2, pools="gpu", extra=["--pipeline", "0"])
    mesh.wait_ready(2)
    farm = Farm(node=node.address)
    assert "at most 3" in ok(cli(mesh, "shares", "quota", "project/film", "--max", "3"))
    wait_for(lambda: farm.quotas() == [{"kind": "project", "name": "film", "max": 3, "use": 0}], 10,
             "the leader to hold the quota")
    submitted(cli(mesh, "exec", gates.command("a%%MI_FRAME%%"), "--end", "4", "--prod", "film", "--name", "a"))
    submitted(cli(mesh, "exec", gates.command("g%%MI_FRAME%%"), "--end", "4", "--prod", "film", "--name", "g",
                  "--pool", "gpu"))
    gates.wait_runs(3, "three film commands to run")
    wait_for(lambda: farm.quotas()[0]["use"] == 3, 10, "the quota to count them")
    assert len(gates.runs()) == 3  # four slots, two pools, one quota
    assert "at quota" in ok(cli(mesh, "shares", "list"))
    first = gates.runs()[0]
    gates.open(f"{'a' if first.node == 'rn1' else 'g'}{first.frame}")  # one ends: the next one starts
    gates.wait_runs(4, "a fourth film command once one ended")
    assert farm.quotas()[0]["use"] == 3
