"""``puli-mesh nodes``: list the render nodes, pause, drain or resume one, set its pools or
performance, remove one that left.

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
    EXIT_USAGE,
    ClusterOpt,
    JsonOpt,
    NameOpt,
    NodeOpt,
    ZkOpt,
    console,
    fail,
    farm_for,
    reported_errors,
)
from puli_mesh.cli.jobs import AttributeOpt, CsvOpt, ReverseOpt, chosen_columns, listing_output
from puliclient.query_fields import NODE_ALIASES, NODE_FIELDS

# No help=: the callback's docstring (with its example) is the group's help.
nodes_app = typer.Typer(invoke_without_command=True)


@nodes_app.callback()
def nodes(ctx: typer.Context, pool: Annotated[str | None, typer.Option("--pool", "-p", help="Only this pool.")] = None,
          state: Annotated[list[str] | None, typer.Option("--state", "--status",
                                                          help="idle, busy, paused, draining...")] = None,
          name: NameOpt = None,
          speed: Annotated[str | None, typer.Option(help="Performance index: +N above, -N below, N exactly.")] = None,
          ram: Annotated[str | None, typer.Option(help="RAM in MB: +N above, -N below, N exactly.")] = None,
          cores: Annotated[str | None, typer.Option(help="Cores: +N above, -N below, N exactly.")] = None,
          attribute: AttributeOpt = None,
          sort: Annotated[str | None, typer.Option("--sort", "-o", help="Sort by this field (default: name).")] = None,
          reverse: ReverseOpt = False, csv_: CsvOpt = False,
          node: NodeOpt = None, zk: ZkOpt = None, cluster: ClusterOpt = "default",
          json_: JsonOpt = False) -> None:
    """Render nodes: list them, pause, drain or resume one.

    Without a subcommand: each node with its pools, slots, running commands, CPU,
    RAM and state. pul_rn's constraints: --speed/--ram/--cores +N (more than N) or -N
    (less than N); -a picks the fields (Puli's names too: ramSize, speed...) and prints CSV.

    Example: `puli-mesh nodes --pool gpu --state idle`; `puli-mesh nodes --ram=+16000 -o speed -r`;
    `puli-mesh nodes drain rn12`
    """
    if ctx.invoked_subcommand is not None:
        ctx.obj = (node, zk, cluster)
        return
    columns = chosen_columns(attribute, csv_, NODE_FIELDS, NODE_ALIASES, views.NODE_CSV_FIELDS, sort)
    farm = farm_for(node, zk, cluster)
    with reported_errors():
        rows = farm.nodes(pool=pool, state=state, name=name, speed=speed, ram=ram, cores=cores, sort=sort,
                          reverse=reverse)
    if listing_output(rows, columns, json_):
        return
    table = Table("node", "state", "pools", "slots", "running", "cpu", "load", "ram free/total MB", "gpus used/total",
                  "commands", box=None, header_style="bold")
    for n in rows:
        name_text = n["name"] + (" *" if n.get("leader") else "")
        pools_text = ",".join(n.get("pools", [])) + (" (set)" if n.get("pools_override") is not None else "")
        state = views.status_text(n["state"])
        if n.get("reason"):  # e.g. paused by its killfile, not by an operator
            state.append(f" ({n['reason']})")
        avoided = views.avoidance_text(n)
        if avoided:  # why it gets less work than it could (``nodes clear`` forgives it)
            state.append(f" ({avoided})")
        views.add_row(table, name_text, state, pools_text,
                      str(n.get("slots", 0)), str(n.get("running", 0)), f"{n.get('cpu_percent', 0):.0f}%",
                      f"{n.get('load', 0):.2f}", f"{n.get('free_ram_mb', 0)}/{n.get('ram_mb', 0)}",
                      f"{n.get('gpus_used', 0)}/{n['gpus']}" if n.get("gpus") else "-",
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
                  "unquarantine": "clear_quarantine", "clear": "clear_node", "set": "set_node",
                  "remove": "remove_node"}[verb]
        getattr(farm, method)(name, **args)
    killed = " (commands killed, they run again elsewhere)" if args.get("kill") else ""
    changed = ", ".join(f"{k} " + ("its own" if v is None else ",".join(v) if isinstance(v, list) else str(v))
                        for k, v in args.items())
    done = dict(pause="paused", drain="draining", resume="resumed", unquarantine="out of quarantine",
                clear="forgiven: out of quarantine, avoided by no job or command",
                set=f"set: {changed}", remove="removed")[verb]
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


@nodes_app.command("clear")
def nodes_clear(ctx: typer.Context, name: Annotated[str, typer.Argument(help="Render node name.")],
                node: NodeOpt = None, zk: ZkOpt = None, cluster: ClusterOpt = "default") -> None:
    """Forgive a node: end its quarantine and every job's and failed command's avoidance of it
    (a job avoids a node after `sick_after` failures there, for `forgive_after` seconds; `nodes`
    shows why a node is avoided). A node neither quarantined nor avoided: exit code 1.

    Example: `puli-mesh nodes clear rn12`
    """
    _node_edit(ctx, (node, zk, cluster), name, "clear")


@nodes_app.command("unquarantine")
def nodes_unquarantine(ctx: typer.Context, name: Annotated[str, typer.Argument(help="Render node name.")],
                       node: NodeOpt = None, zk: ZkOpt = None, cluster: ClusterOpt = "default") -> None:
    """Take a node out of quarantine (after `quarantine_after` failures in a row it takes no work;
    `resume` does not end a quarantine). A node not in quarantine: exit code 1.

    Example: `puli-mesh nodes unquarantine rn12`
    """
    _node_edit(ctx, (node, zk, cluster), name, "unquarantine")


NODE_SETTABLE = ("pools", "performance")
"""What ``puli-mesh nodes set`` changes on a render node."""


def parse_node_values(items: list[str]) -> dict[str, Any]:
    """``pools=a,b performance=1.5`` -> ``{"pools": ["a", "b"], "performance": 1.5}``; an empty
    value (``pools=``) is None: back to what the node's agent says. ``ValueError`` otherwise."""
    values: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or key not in NODE_SETTABLE:
            raise ValueError(f"{item!r}: write pools=NAME,NAME or performance=NUMBER (an empty value "
                             "goes back to the node's own)")
        if not value:
            values[key] = None
        elif key == "pools":
            values[key] = [p.strip() for p in value.split(",") if p.strip()]
        else:
            try:
                values[key] = float(value)
            except ValueError:
                raise ValueError(f"performance must be a number, not {value!r}") from None
    return values


@nodes_app.command("set")
def nodes_set(ctx: typer.Context, name: Annotated[str, typer.Argument(help="Render node name.")],
              assignments: Annotated[list[str], typer.Argument(help="pools=a,b and/or performance=1.5 "
                                                               "(pools= or performance=: the node's own again).")],
              node: NodeOpt = None, zk: ZkOpt = None, cluster: ClusterOpt = "default") -> None:
    """Set a node's pools or performance (faster nodes get work first), kept when it joins again,
    until cleared with an empty value. Each pool must exist; what runs goes on.

    Example: `puli-mesh nodes set rn12 pools=gpu,default performance=2`; `puli-mesh nodes set rn12 pools=`
    """
    try:
        values = parse_node_values(assignments)
    except ValueError as exc:
        raise fail(str(exc), EXIT_USAGE) from exc
    _node_edit(ctx, (node, zk, cluster), name, "set", **values)


@nodes_app.command("remove")
def nodes_remove(ctx: typer.Context, name: Annotated[str, typer.Argument(help="Render node name.")],
                 node: NodeOpt = None, zk: ZkOpt = None, cluster: ClusterOpt = "default") -> None:
    """Forget a node that left the mesh for good (its quarantine, pools, performance). A node still
    connected is refused (exit code 1): stop its agent first. If it comes back, it joins as new.

    Example: `puli-mesh nodes remove rn12`
    """
    _node_edit(ctx, (node, zk, cluster), name, "remove")
