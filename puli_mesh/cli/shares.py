"""``puli-mesh shares``: share accounts of a pool set, listed with their use, and removed.

``set`` and ``remove`` ask the leader (``SETTINGS``: ``share_set``, ``share_remove``), which keeps
the trees in ZooKeeper with the other cluster settings and feeds them to its core at once;
``list`` asks the core (``QUERY shares``): each account's use against its guarantee and cap.

Guarantees: an account is given as ``POOL/PROJECT`` or ``POOL/PROJECT/USER`` and split here;
errors leave through :func:`puli_mesh.cli.common.reported_errors`.

``quota user/NAME|project/NAME --max N`` sets a quota across pools (``share_quota``);
``preempt POOL on|off`` turns the pool's preemption on or off (``SETTINGS``: ``share_preempt``).

Not here: the rules (``coordinator.shares``, ``coordinator.preemption``), where trees are kept
(``share_store``).
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

import puli_mesh.cli.views as views
from puli_mesh.cli.common import (
    EXIT_USAGE,
    ClusterOpt,
    JsonOpt,
    NodeOpt,
    ZkOpt,
    console,
    fail,
    farm_for,
    print_json,
    reported_errors,
)
from puli_mesh.coordinator.shares import PREEMPT_AFTER_S

# No help=: the callback's docstring (with its example) is the group's help.
shares_app = typer.Typer(no_args_is_help=True)

AccountArg = Annotated[str, typer.Argument(help="POOL/PROJECT or POOL/PROJECT/USER (a job's project is its "
                                                "prod tag, else its project tag, else '-').")]


def split_account(text: str) -> tuple[str, str]:
    """``POOL/PROJECT[/USER]`` as (pool, ``PROJECT[/USER]``); a usage error otherwise."""
    pool, sep, account = text.partition("/")
    if not sep or not pool or not account:
        raise fail(f"{text!r}: an account is POOL/PROJECT or POOL/PROJECT/USER", EXIT_USAGE)
    return pool, account


@shares_app.callback()
def shares_group() -> None:
    """Share trees: per pool, accounts (project, then user) with guaranteed slots, a cap and a weight.
    Free slots go to whoever has work; an account below its guarantee gets the next free slot.

    Example: `puli-mesh shares set default/film --min 40 --max 80 --weight 2`
    """


@shares_app.command("set")
def shares_set(
    account: AccountArg,
    min_slots: Annotated[int, typer.Option("--min", help="Slots guaranteed when it has work.")] = 0,
    max_slots: Annotated[int, typer.Option("--max", help="Slots at most (0: no cap).")] = 0,
    weight: Annotated[float, typer.Option("--weight", help="Its share of the slots above the guarantees.")] = 1.0,
    node: NodeOpt = None, zk: ZkOpt = None, cluster: ClusterOpt = "default",
) -> None:
    """Define a share account or change it (role operator).

    Example: `puli-mesh shares set default/film/ana --min 4 --weight 1`
    """
    pool, name = split_account(account)
    farm = farm_for(node, zk, cluster)
    with reported_errors():
        farm.set_share(pool, name, min=min_slots, max=max_slots, weight=weight)
    console.print(Text(f"share {pool}/{name}: min {min_slots}, max {max_slots or 'none'}, weight {weight:g}"))


@shares_app.command("preempt")
def shares_preempt(
    pool: Annotated[str, typer.Argument(help="The pool whose share tree preempts (or stops).")],
    state: Annotated[str, typer.Argument(help="on or off.")],
    after: Annotated[float, typer.Option("--after", help="Never preempt a command younger than this (s).")]
    = PREEMPT_AFTER_S,
    node: NodeOpt = None, zk: ZkOpt = None, cluster: ClusterOpt = "default",
) -> None:
    """Preemption (role operator): an account below its guarantee that finds no room gets slots back
    at once, by killing the youngest commands (older than --after) of the accounts most over their
    own guarantee, requeued without spending an attempt. Off by default.

    Example: `puli-mesh shares preempt default on --after 120`
    """
    if state not in ("on", "off"):
        raise fail(f"{state!r}: say on or off", EXIT_USAGE)
    farm = farm_for(node, zk, cluster)
    with reported_errors():
        farm.set_share_preempt(pool, after if state == "on" else None)
    console.print(Text(f"pool {pool} preempts commands older than {after:g} s" if state == "on"
                       else f"pool {pool} does not preempt"))


@shares_app.command("quota")
def shares_quota(
    who: Annotated[str, typer.Argument(help="user/NAME or project/NAME (a job's prod tag, else its project tag).")],
    max_slots: Annotated[int, typer.Option("--max", help="Commands held at most, in all pools (0: no quota).")],
    node: NodeOpt = None, zk: ZkOpt = None, cluster: ClusterOpt = "default",
) -> None:
    """A quota across pools (role operator): a user or a project holds at most --max commands
    whatever the pool; its jobs get no new slot until one ends. --max 0 removes it.

    Example: `puli-mesh shares quota project/film --max 200`
    """
    kind, sep, name = who.partition("/")
    if not sep or kind not in ("user", "project") or not name:
        raise fail(f"{who!r}: a quota is for user/NAME or project/NAME", EXIT_USAGE)
    farm = farm_for(node, zk, cluster)
    with reported_errors():
        farm.set_share_quota(kind, name, max_slots)
    console.print(Text(f"quota {kind}/{name}: " + (f"at most {max_slots}" if max_slots else "removed")))


@shares_app.command("list")
def shares_list(node: NodeOpt = None, zk: ZkOpt = None, cluster: ClusterOpt = "default",
                json_: JsonOpt = False) -> None:
    """Each account defined or in use: its slots in use against its guarantee and cap, its READY commands waiting.

    Example: `puli-mesh shares list`
    """
    farm = farm_for(node, zk, cluster)
    with reported_errors():
        data = farm.shares()
        quotas = farm.quotas()
    if json_:
        print_json(data)  # the accounts, as before; `--json` of the quotas: Farm.quotas or GET /api/quotas
        return
    table = Table("account", "use", "ready", "min", "max", "weight", "preempt", "")
    for row in data:
        ready = row.get("ready", 0)  # READY commands waiting; none from a leader before this field
        # a guarantee is owed only to work that waits: an idle account below its min is fine
        state = "below guarantee" if row["use"] < row["min"] and ready > 0 else (
            "at cap" if 0 < row["max"] <= row["use"] else "")
        after = row.get("preempt_after")
        views.add_row(table, f"{row['pool']}/{row['account']}" + ("" if row["defined"] else " (implicit)"),
                      str(row["use"]), str(ready), str(row["min"]), str(row["max"] or "-"), f"{row['weight']:g}",
                      "-" if after is None else f"after {after:g} s", state)
    console.print(table)
    if quotas:
        quota_table = Table("quota", "use", "max", "")
        for row in quotas:
            views.add_row(quota_table, f"{row['kind']}/{row['name']}", str(row["use"]), str(row["max"]),
                          "at quota" if row["use"] >= row["max"] else "")
        console.print(quota_table)


@shares_app.command("remove")
def shares_remove(account: AccountArg, node: NodeOpt = None, zk: ZkOpt = None,
                  cluster: ClusterOpt = "default") -> None:
    """Remove a share account (role operator): its jobs fall back to an implicit account.

    Example: `puli-mesh shares remove default/film`
    """
    pool, name = split_account(account)
    farm = farm_for(node, zk, cluster)
    with reported_errors():
        farm.remove_share(pool, name)
    console.print(Text(f"share {pool}/{name} removed"))
