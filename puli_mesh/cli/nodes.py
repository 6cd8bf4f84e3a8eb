"""``puli-mesh nodes``: list the render nodes, pause, drain or resume one.

Guarantees: through :class:`puliclient.farm.Farm`; errors leave through
:func:`puli_mesh.cli.common.reported_errors`. Not here: the cluster's status
(``cluster``), the live view (``top``).
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

import puli_mesh.cli.views as views
from puli_mesh.cli.common import (
    ClusterOpt,
    JsonOpt,
    NameOpt,
    NodeOpt,
    ZkOpt,
    console,
    farm_for,
    print_json,
    reported_errors,
)

# No help=: the callback's docstring (with its example) is the group's help.
nodes_app = typer.Typer(invoke_without_command=True)


@nodes_app.callback()
def nodes(ctx: typer.Context, pool: Annotated[str | None, typer.Option("--pool", "-p", help="Only this pool.")] = None,
          state: Annotated[list[str] | None, typer.Option("--state", help="idle, busy, paused, draining...")] = None,
          name: NameOpt = None, node: NodeOpt = None, zk: ZkOpt = None, cluster: ClusterOpt = "default",
          json_: JsonOpt = False) -> None:
    """Render nodes: list them, pause, drain or resume one.

    Without a subcommand: each node with its pools, slots, running commands, CPU,
    RAM and state.

    Example: `puli-mesh nodes --pool gpu --state idle`; `puli-mesh nodes drain rn12`
    """
    if ctx.invoked_subcommand is not None:
        ctx.obj = (node, zk, cluster)
        return
    farm = farm_for(node, zk, cluster)
    with reported_errors():
        rows = farm.nodes(pool=pool, state=state, name="|".join(name) if name else None)
    if json_:
        print_json(rows)
        return
    table = Table("node", "state", "pools", "slots", "running", "cpu", "ram free/total MB", "commands",
                  box=None, header_style="bold")
    for n in rows:
        name_text = n["name"] + (" *" if n.get("leader") else "")
        state = views.status_text(n["state"])
        if n.get("reason"):  # e.g. paused by its killfile, not by an operator
            state.append(f" ({n['reason']})")
        views.add_row(table, name_text, state, ",".join(n.get("pools", [])),
                      str(n.get("slots", 0)), str(n.get("running", 0)), f"{n.get('cpu_percent', 0):.0f}%",
                      f"{n.get('free_ram_mb', 0)}/{n.get('ram_mb', 0)}",
                      ",".join(str(c) for c in n.get("running_commands", [])) or "-")
    console.print(views.fit(table))
    console.print("[dim]* leader[/dim]")


def _node_edit(ctx: typer.Context, where: tuple[str | None, str | None, str], name: str, verb: str,
               **args: Any) -> None:
    # --node/--zk may come before the verb (the group's) or after it (the verb's own).
    node, zk, cluster = where
    outer = ctx.obj or (None, None, "default")
    farm = farm_for(node or outer[0], zk or outer[1], cluster if cluster != "default" else outer[2])
    with reported_errors():
        method = {"pause": "pause_node", "resume": "resume_node", "drain": "drain_node",
                  "unquarantine": "clear_quarantine"}[verb]
        getattr(farm, method)(name, **args)
    killed = " (commands killed, they run again elsewhere)" if args.get("kill") else ""
    done = dict(pause="paused", drain="draining", resume="resumed", unquarantine="out of quarantine")[verb]
    console.print(Text(f"render node {name} {done}{killed}"))


@nodes_app.command("pause")
def nodes_pause(ctx: typer.Context, name: Annotated[str, typer.Argument(help="Render node name.")],
                kill: Annotated[bool, typer.Option("--kill", help="Also stop what runs (it runs again "
                                                   "elsewhere, no attempt spent).")] = False,
                node: NodeOpt = None, zk: ZkOpt = None, cluster: ClusterOpt = "default") -> None:
    """Give this node no new work (what runs goes on unless --kill).

    Example: `puli-mesh nodes pause rn12 --kill --node 127.0.0.1:8004`
    """
    _node_edit(ctx, (node, zk, cluster), name, "pause", kill=kill)


@nodes_app.command("drain")
def nodes_drain(ctx: typer.Context, name: Annotated[str, typer.Argument(help="Render node name.")],
                node: NodeOpt = None, zk: ZkOpt = None, cluster: ClusterOpt = "default") -> None:
    """Let this node finish what runs and take nothing new (state `draining`; resume undoes it).

    Example: `puli-mesh nodes drain rn12`, then wait for `running 0` in `nodes`
    """
    _node_edit(ctx, (node, zk, cluster), name, "drain")


@nodes_app.command("resume")
def nodes_resume(ctx: typer.Context, name: Annotated[str, typer.Argument(help="Render node name.")],
                node: NodeOpt = None, zk: ZkOpt = None, cluster: ClusterOpt = "default") -> None:
    """Give a paused or drained node work again.

    Example: `puli-mesh nodes resume rn12`
    """
    _node_edit(ctx, (node, zk, cluster), name, "resume")


@nodes_app.command("unquarantine")
def nodes_unquarantine(ctx: typer.Context, name: Annotated[str, typer.Argument(help="Render node name.")],
                       node: NodeOpt = None, zk: ZkOpt = None, cluster: ClusterOpt = "default") -> None:
    """Take a node out of quarantine (after `quarantine_after` failures in a row it takes no work;
    `resume` does not end a quarantine). A node not in quarantine: exit code 1.

    Example: `puli-mesh nodes unquarantine rn12`
    """
    _node_edit(ctx, (node, zk, cluster), name, "unquarantine")
