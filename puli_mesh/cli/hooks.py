"""``puli-mesh hooks``: event hooks added, listed and removed.

Each asks the leader (``SETTINGS``: ``hook_add``, ``hook_list``, ``hook_remove``), which keeps
the hooks in ZooKeeper with the other cluster settings; the leader delivers the events
(``puli_mesh.hooks`` says which, and how).

Guarantees: the arguments are checked here before any round trip (``puli_mesh.hooks.Hook``);
errors leave through :func:`puli_mesh.cli.common.reported_errors`.

Not here: the hooks' rules (``puli_mesh.hooks``), delivering (``coordinator.hook_delivery``).
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

import puli_mesh.cli.views as views
from puli_mesh.cli.common import ClusterOpt, JsonOpt, NodeOpt, ZkOpt, console, farm_for, print_json, reported_errors
from puli_mesh.hooks import EVENT_KINDS, parse_events

# No help=: the callback's docstring (with its example) is the group's help.
hooks_app = typer.Typer(no_args_is_help=True)


@hooks_app.callback()
def hooks_group() -> None:
    """Event hooks: POST a JSON document and/or run a command when a job ends, a command fails
    for good, a node is quarantined or lost.

    Example: `puli-mesh hooks add ci --on job_done,job_error --url https://ci.example/puli`
    """


@hooks_app.command("add")
def hooks_add(
    name: Annotated[str, typer.Argument(help="The hook's name (adding it again replaces it).")],
    on: Annotated[str, typer.Option("--on", help=f"Events, comma-separated, or 'all': {', '.join(EVENT_KINDS)}.")],
    url: Annotated[str | None, typer.Option("--url", help="POST each event's JSON here (http or https).")] = None,
    command: Annotated[str | None, typer.Option("--command", help=(
        "Run this on the leader's host with the JSON on stdin and PULI_EVENT_* variables (role admin)."))] = None,
    user: Annotated[str | None, typer.Option("--user", help="Only jobs of this user.")] = None,
    pool: Annotated[str | None, typer.Option("--pool", help="Only jobs of this pool.")] = None,
    node: NodeOpt = None, zk: ZkOpt = None, cluster: ClusterOpt = "default",
) -> None:
    """Add an event hook (role operator; admin for one with --command).

    Example: `puli-mesh hooks add done --on job_done --url http://ci:8080/puli --user ana`
    """
    farm = farm_for(node, zk, cluster)
    with reported_errors():
        hook = farm.add_hook(name, list(parse_events(on)), url=url, command=command, user=user, pool=pool)
    console.print(Text(f"hook {hook['name']}: {', '.join(hook['events'])}"))


@hooks_app.command("list")
def hooks_list(node: NodeOpt = None, zk: ZkOpt = None, cluster: ClusterOpt = "default",
               json_: JsonOpt = False) -> None:
    """Every event hook.

    Example: `puli-mesh hooks list --json`
    """
    farm = farm_for(node, zk, cluster)
    with reported_errors():
        data = farm.hooks()
    if json_:
        print_json(data)
        return
    table = Table("hook", "events", "url", "command", "user", "pool")
    for hook in data:
        views.add_row(table, hook["name"], ",".join(hook["events"]), hook.get("url") or "",
                      hook.get("command") or "", hook.get("user") or "", hook.get("pool") or "")
    console.print(table)


@hooks_app.command("remove")
def hooks_remove(name: Annotated[str, typer.Argument(help="The hook's name.")],
                 node: NodeOpt = None, zk: ZkOpt = None, cluster: ClusterOpt = "default") -> None:
    """Remove an event hook (role operator).

    Example: `puli-mesh hooks remove done`
    """
    farm = farm_for(node, zk, cluster)
    with reported_errors():
        farm.remove_hook(name)
    console.print(Text(f"hook {name} removed"))
