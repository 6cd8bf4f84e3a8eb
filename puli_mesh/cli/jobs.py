"""``puli-mesh`` commands on jobs and their commands: jobs, show, commands, edits, set, archive.

Built on :class:`puliclient.farm.Farm`, the API pipeline tools use. Every listing
takes ``--json``. Edits take ids, or filters (Puli's ``pul_set_pause``); an edit
with neither is refused rather than touching the whole farm.

Guarantees: the mesh's errors leave through
:func:`puli_mesh.cli.common.reported_errors` (0 ok, 1 refused, 2 bad usage,
3 unreachable). Not here: parsing option values (``arguments``), formatting
(``views``).
"""

# No `from __future__ import annotations`: the edit commands' options are built in a closure
# (`hidden=not with_kill`), which typer can only read from annotations evaluated at definition.
import time
from collections.abc import Callable
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

import puli_mesh.cli.arguments as arguments
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
    print_json,
    reported_errors,
)
from puliclient.farm import Farm

UserOpt = Annotated[list[str] | None, typer.Option("--user", "-u", help="Owner (repeat for several).")]
StatusOpt = Annotated[list[str] | None, typer.Option("--status", "-s", help="RUNNING, ERROR... (repeat).")]
TagOpt = Annotated[list[str] | None, typer.Option("--tag", "-t", help="KEY=VALUE tag (repeat).")]
PoolOpt = Annotated[list[str] | None, typer.Option("--pool", "-p", help="Pool (repeat).")]
SinceOpt = Annotated[str | None, typer.Option("--since", help="Submitted in the last 2h/30m/1d, or since a date.")]
IdsArg = Annotated[list[int] | None, typer.Argument(help="Graph, task group or task ids.", show_default=False)]
LimitOpt = Annotated[int | None, typer.Option(
    "--limit", min=1, help="Show the first N (by id); all by default, fetched a page at a time.")]
CommandFlag = Annotated[bool, typer.Option("--command", "-c", help="The ids are command ids.")]


# ---------------------------------------------------------------------- jobs
def jobs(user: UserOpt = None, status: StatusOpt = None, name: NameOpt = None, tag: TagOpt = None,
         pool: PoolOpt = None, since: SinceOpt = None, limit: LimitOpt = None, node: NodeOpt = None,
         zk: ZkOpt = None, cluster: ClusterOpt = "default", json_: JsonOpt = False) -> None:
    """Jobs (graphs) with their progress, command counts, start, elapsed time and ETA.

    Filters combine with AND; a repeated option means any of its values.

    Example: `puli-mesh jobs --user ana --status RUNNING --status ERROR --since 2h`
    """
    farm = farm_for(node, zk, cluster)
    with reported_errors():
        rows = farm.jobs(**arguments.job_filters(user, status, name, tag, pool, since), limit=limit)
    if json_:
        print_json(rows)
        return
    wide = console.width >= 100  # the start time is the first thing an 80-column terminal drops
    table = Table("id", "name", "user", "status", "progress", "commands", *(["started"] if wide else []),
                  "elapsed", "eta", box=None, header_style="bold")
    now = time.time()
    for j in sorted(rows, key=lambda r: r["id"]):
        started, elapsed, eta = views.timing(j, now)
        views.add_row(table, str(j["id"]), j["name"], j.get("user", ""), views.status_text(j["status_name"]),
                      views.bar(j["completion"], 8 if wide else 6), views.counts(j.get("command_counts", {})),
                      *([started] if wide else []), elapsed, eta)
    console.print(views.fit(table))
    console.print(f"[dim]{len(rows)} job(s)[/dim]")


# ---------------------------------------------------------------------- show
def shown_levels(width: int) -> int:
    """How many levels ``show`` indents on a terminal ``width`` columns wide: each takes 4
    columns, and rich drops the lines of a label left with no room at all."""
    return max(4, width // 10)


def _add_children(branch: Tree, n: dict[str, Any], levels: int) -> None:
    """Add ``n``'s subtree under ``branch``: at every level its children, then its commands.

    Nodes deeper than ``levels`` are drawn under their ancestor at that level, in order,
    each labelled with its level, so a deep job still shows every node. A loop over an
    explicit stack: a job may be nested deeper than Python's stack.
    """
    stack: list[tuple[Tree, dict[str, Any], int]] = [(branch, n, 0)]
    while stack:
        parent, node, level = stack.pop()
        if level < 0:  # its commands, once its children are drawn, then what the view left out
            for c in node.get("commands", []) or []:
                parent.add(views.command_label(c))
            for key, what in (("children_omitted", "node(s)"), ("commands_omitted", "command(s)")):
                if node.get(key):  # a big job's view is bounded: say what is not drawn, and where it is
                    parent.add(Text(f"... {node[key]} more {what}: puli-mesh commands --graph {node['id']}",
                                    style="dim"))
            continue
        here = parent
        if level > 0:
            label = views.tree_label(node)
            if level > levels:  # one line each, however many there are
                label = Text(f"level {level}  ", style="dim", no_wrap=True, overflow="ellipsis").append_text(label)
            here = parent.add(label)
        under = here if level <= levels else parent  # past ``levels``: beside it, in order
        stack.append((here, node, -1))
        stack.extend((under, child, level + 1) for child in reversed(node.get("children", []) or []))


def show(graph_id: Annotated[int, typer.Argument(help="Graph id (from `puli-mesh jobs`).")],
         node: NodeOpt = None, zk: ZkOpt = None, cluster: ClusterOpt = "default", json_: JsonOpt = False) -> None:
    """One job's tree: task groups, tasks and commands with status, progress, node, attempts, last message.

    Example: `puli-mesh show 12`
    """
    farm = farm_for(node, zk, cluster)
    with reported_errors():
        tree = farm.graph(graph_id)
    if json_:
        print_json(tree)
        return
    started, elapsed, eta = views.timing(tree)
    label = views.tree_label(tree).append(f"  user {tree.get('user')} pool {tree.get('pool')} started {started} "
                                          f"elapsed {elapsed} eta {eta}", style="dim")
    root = Tree(label)
    _add_children(root, tree, shown_levels(console.width))
    console.print(root)


# ------------------------------------------------------------------ commands
def commands(graph: Annotated[int | None, typer.Option("--graph", "-g", help="Graph, task group or task id.")] = None,
             status: StatusOpt = None,
             on: Annotated[str | None, typer.Option("--on", help="Render node that runs or last ran it.")] = None,
             limit: LimitOpt = None,
             node: NodeOpt = None, zk: ZkOpt = None, cluster: ClusterOpt = "default", json_: JsonOpt = False) -> None:
    """Commands with status, progress, node, attempts and last message.

    Example: `puli-mesh commands --graph 12 --status ERROR` (then `puli-mesh logs ID`)
    """
    farm = farm_for(node, zk, cluster)
    with reported_errors():
        rows = farm.commands(graph=graph, status=arguments.upper_statuses(status), node=on, limit=limit)
    if json_:
        print_json(rows)
        return
    table = Table("id", "graph", "task", "description", "status", "progress", "node", "attempts", "message",
                  box=None, header_style="bold")
    for c in rows:
        views.add_row(table, str(c["id"]), str(c["graph_id"]), c.get("task_name", ""), c["description"],
                      views.status_text(c["status_name"]), views.bar(c["completion"], 8),
                      c.get("render_node") or c.get("last_node") or "-",
                      f"{c['attempts']}/{c['max_attempt']}", views.last_line(c.get("message"), 50))
    console.print(views.fit(table))


# --------------------------------------------------------------------- edits
def _edit_targets(farm: Farm, ids: list[int] | None, filters: dict[str, Any]) -> list[int]:
    if ids:
        return list(ids)
    if not arguments.has_filter(filters):
        raise fail("name the jobs: give ids, or filters (--user, --name, --status, --tag, --pool, --since)",
                   EXIT_USAGE)
    return [int(j["id"]) for j in farm.jobs(**filters)]


_PAST = {"pause": "paused", "resume": "resumed", "cancel": "canceled", "restart": "restarted"}


def _command_edit(farm: Farm, verb: str) -> Callable[..., None]:
    """The Farm method that applies ``verb`` (not ``pause``: it takes ``kill``) to one command."""
    return {"cancel": farm.cancel_command, "restart": farm.restart_command, "resume": farm.resume_command}[verb]


def _run_edit(verb: str, ids: list[int] | None, command: bool, user: list[str] | None, status: list[str] | None,
              name: list[str] | None, tag: list[str] | None, pool: list[str] | None, since: str | None,
              node: str | None, zk: str | None, cluster: str, **args: Any) -> None:
    with reported_errors():
        filters = arguments.job_filters(user, status, name, tag, pool, since)
    farm = farm_for(node, zk, cluster)
    with reported_errors():
        targets = list(ids or []) if command else _edit_targets(farm, ids, filters)
        if command and not targets:
            raise fail("--command needs command ids", EXIT_USAGE)
        for target in targets:
            if command and verb == "pause":
                farm.pause_command(target, kill=bool(args.get("kill")))
            elif command:
                _command_edit(farm, verb)(target)
            else:
                farm.edit(verb, id=target, **args)
            console.print(f"{_PAST[verb]} {'command ' if command else ''}{target}")
    if not targets:
        console.print(f"{verb}: no job matched")


def _edit_command(verb: str, doc: str, with_kill: bool = False, with_errors: bool = False,
                  on_commands: bool = False) -> Any:
    def command(ids: IdsArg = None, user: UserOpt = None, status: StatusOpt = None, name: NameOpt = None,
                tag: TagOpt = None, pool: PoolOpt = None, since: SinceOpt = None,
                kill: Annotated[bool, typer.Option("--kill", help="Also stop what runs (it runs again "
                                                   "later, no attempt spent).", hidden=not with_kill)] = False,
                errors_only: Annotated[bool, typer.Option("--errors-only", "-e", help="Only commands in ERROR or "
                                                          "TIMEOUT.", hidden=not with_errors)] = False,
                cmd: Annotated[bool, typer.Option("--command", "-c", help="The ids are command ids.",
                                                  hidden=not on_commands)] = False,
                node: NodeOpt = None, zk: ZkOpt = None, cluster: ClusterOpt = "default") -> None:
        args: dict[str, Any] = {}
        if with_kill:
            args["kill"] = kill
        if with_errors:
            args["errors_only"] = errors_only
        _run_edit(verb, ids, cmd and on_commands, user, status, name, tag, pool, since, node, zk, cluster, **args)

    command.__doc__ = doc
    command.__name__ = verb
    return command


def set_values(node_id: Annotated[int, typer.Argument(help="Graph, task group or task id.")],
               assignments: Annotated[list[str], typer.Argument(help="priority=N, maxRN=N, pool=NAME, strategy=NAME "
                                                                "(a group's), tag.KEY=VALUE (tag.KEY= removes it).")],
               node: NodeOpt = None, zk: ZkOpt = None, cluster: ClusterOpt = "default") -> None:
    """Change a job's (or a task's) priority, maxRN, pool, strategy (groups) or tags; takes effect at once.

    Example: `puli-mesh set 12 priority=10 maxRN=4 tag.prod=film`
    """
    with reported_errors():
        values, tags = arguments.parse_assignments(assignments)
    farm = farm_for(node, zk, cluster)
    with reported_errors():
        if values:
            farm.set(node_id, **values)
        if tags:
            farm.set_tags(node_id, **tags)
    console.print(Text(f"node {node_id}: " + ", ".join(assignments)))


def archive(ids: Annotated[list[int], typer.Argument(help="Graph ids (DONE or CANCELED).")],
            node: NodeOpt = None, zk: ZkOpt = None, cluster: ClusterOpt = "default") -> None:
    """Remove finished (DONE or CANCELED) jobs from the farm. Agents can do it on their own
    after `archive_after_days` (a setting).

    Example: `puli-mesh archive 12 13`
    """
    farm = farm_for(node, zk, cluster)
    with reported_errors():
        for graph_id in ids:
            farm.archive(graph_id)
            console.print(f"archived graph {graph_id}")


def register(app: typer.Typer) -> None:
    """Add these commands to the ``puli-mesh`` app, in the order its help lists them."""
    app.command()(jobs)
    app.command()(show)
    app.command()(commands)
    app.command("pause")(_edit_command(
        "pause", "Pause jobs (or task groups, tasks), or single commands with --command: nothing new "
        "starts; --kill also stops what runs.\n\n"
        "Example: `puli-mesh pause 12`; `puli-mesh pause --user ana --status RUNNING`", with_kill=True,
        on_commands=True))
    app.command("resume")(_edit_command(
        "resume", "Resume paused jobs, or single commands with --command.\n\n"
        "Example: `puli-mesh resume 12`; `puli-mesh resume --command 57`", on_commands=True))
    app.command("cancel")(_edit_command(
        "cancel", "Cancel jobs (running commands are killed), or single commands with --command.\n\n"
        "Example: `puli-mesh cancel 12`; `puli-mesh cancel --command 57`", on_commands=True))
    app.command("restart")(_edit_command(
        "restart", "Run jobs again: every command, or with --errors-only those in ERROR/TIMEOUT; "
        "--command restarts single commands.\n\nExample: `puli-mesh restart --errors-only 12`",
        with_errors=True, on_commands=True))
    app.command("set")(set_values)
    app.command()(archive)
