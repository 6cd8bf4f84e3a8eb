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
import sys
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
from puliclient.query_fields import JOB_ALIASES, JOB_FIELDS

UserOpt = Annotated[list[str] | None, typer.Option("--user", "-u", help="Owner (repeat for several).")]
StatusOpt = Annotated[list[str] | None, typer.Option("--status", "-s", help="RUNNING, ERROR... (repeat).")]
TagOpt = Annotated[list[str] | None, typer.Option("--tag", "-t", help="KEY=VALUE tag (repeat).")]
PoolOpt = Annotated[list[str] | None, typer.Option("--pool", "-p", help="Pool (repeat).")]
SinceOpt = Annotated[str | None, typer.Option("--since", "--created-after",
                                              help="Submitted in the last 2h/30m/1d, or since a date.")]
IdsArg = Annotated[list[int] | None, typer.Argument(help="Graph, task group or task ids.", show_default=False)]
LimitOpt = Annotated[int | None, typer.Option(
    "--limit", min=1, help="Show the first N (by id); all by default, fetched a page at a time.")]
CommandFlag = Annotated[bool, typer.Option("--command", "-c", help="The ids are command ids.")]


# ---------------------------------------------------------------------- jobs
def _time_option(flag: str, help_: str) -> Any:
    return Annotated[str | None, typer.Option(flag, help=help_ + " (2h/30m/1d ago, or 'YYYY-mm-dd HH:MM:SS').")]


AttributeOpt = Annotated[list[str] | None, typer.Option(
    "--attribute", "-a", help="A field to show (repeat; Puli's names too, tags:KEY): CSV unless --json.")]
SortOpt = Annotated[str | None, typer.Option("--sort", "-o", help="Sort by this field (default: id).")]
ReverseOpt = Annotated[bool, typer.Option("--reverse", "-r", help="Sort in descending order.")]
CsvOpt = Annotated[bool, typer.Option("--csv", "-c", help="';'-separated values with a header row (pul_query).")]


Columns = tuple[list[str], list[str]]
"""The fields ``-a``/``--csv`` show and their headers (as the user typed them)."""


def chosen_columns(attribute: list[str] | None, csv_: bool, known: tuple[str, ...], aliases: dict[str, str],
                   defaults: tuple[str, ...], sort: str | None = None, tags: bool = False) -> Columns | None:
    """The columns of pul_query's ``-a``/``--csv`` output (None: neither given), checked with
    ``sort`` before the mesh is asked anything: a typo costs no listing (exit 2)."""
    with reported_errors():
        if sort is not None:
            arguments.listing_fields([sort], known, aliases, tags)
        if not (attribute or csv_):
            return None
        headers = list(attribute or defaults)
        return arguments.listing_fields(headers, known, aliases, tags), headers


def listing_output(rows: list[dict[str, Any]], columns: Columns | None, json_: bool) -> bool:
    """Print ``rows`` as pul_query did for ``-a``/``--csv``/``--json`` (``-a`` implies CSV unless
    ``--json``); False: neither was asked, the caller draws its table."""
    if json_:
        print_json(rows if columns is None else views.selected(rows, *columns))
    elif columns is not None:
        sys.stdout.write(views.csv_text(rows, *columns))
    return json_ or columns is not None


def jobs(user: UserOpt = None, status: StatusOpt = None, name: NameOpt = None, tag: TagOpt = None,
         pool: PoolOpt = None, since: SinceOpt = None,
         created_before: _time_option("--created-before", "Submitted before") = None,
         started_after: _time_option("--started-after", "Started at or after") = None,
         started_before: _time_option("--started-before", "Started before") = None,
         ended_after: _time_option("--ended-after", "Ended at or after") = None,
         ended_before: _time_option("--ended-before", "Ended before") = None,
         attribute: AttributeOpt = None, sort: SortOpt = None, reverse: ReverseOpt = False, csv_: CsvOpt = False,
         limit: LimitOpt = None, node: NodeOpt = None,
         zk: ZkOpt = None, cluster: ClusterOpt = "default", json_: JsonOpt = False) -> None:
    """Jobs (graphs) with their progress, command counts, start, elapsed time and ETA.

    Filters combine with AND; a repeated option means any of its values. Time ranges
    (--since/--created-after, --started-after...) are Puli's constraint_creationtime/starttime/endtime.
    -a picks the fields (pul_query's attributes) and prints CSV, or JSON with --json.

    Example: `puli-mesh jobs --user ana --status RUNNING --status ERROR --since 2h`;
    `puli-mesh jobs -a id -a name -a startTime -o startTime -r --started-after '2024-05-01 08:00:00'`
    """
    with reported_errors():
        filters = arguments.job_filters(user, status, name, tag, pool, since)
        filters |= arguments.time_ranges({"created_before": created_before, "started_after": started_after,
                                          "started_before": started_before, "ended_after": ended_after,
                                          "ended_before": ended_before})
    columns = chosen_columns(attribute, csv_, JOB_FIELDS, JOB_ALIASES, views.JOB_CSV_FIELDS, sort, tags=True)
    farm = farm_for(node, zk, cluster)
    with reported_errors():
        rows = farm.jobs(**filters, sort=sort, reverse=reverse, limit=limit)
    if listing_output(rows, columns, json_):
        return
    wide = console.width >= 100  # the start time is the first thing an 80-column terminal drops
    table = Table("id", "name", "user", "status", "progress", "commands", *(["started"] if wide else []),
                  "elapsed", "eta", box=None, header_style="bold")
    now = time.time()
    for j in rows:
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


_PAST = {"pause": "paused", "resume": "resumed", "cancel": "canceled", "restart": "restarted", "done": "set DONE"}


def _command_edit(farm: Farm, verb: str) -> Callable[..., None]:
    """The Farm method that applies ``verb`` (not ``pause``: it takes ``kill``) to one command."""
    return {"cancel": farm.cancel_command, "restart": farm.restart_command, "resume": farm.resume_command,
            "done": farm.done_command}[verb]


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
        if verb == "done" and not command:
            raise fail("done accepts commands: give --command and their ids", EXIT_USAGE)
        for target in targets:
            if command and verb == "pause":
                farm.pause_command(target, kill=bool(args.get("kill")))
            elif command and verb == "restart":
                farm.restart_command(target, cascade=bool(args.get("cascade", True)))
            elif command:
                _command_edit(farm, verb)(target)
            else:
                farm.edit(verb, id=target, **args)
            console.print(f"{_PAST[verb]} {'command ' if command else ''}{target}")
    if not targets:
        console.print(f"{verb}: no job matched")


def _edit_command(verb: str, doc: str, with_kill: bool = False, with_errors: bool = False,
                  on_commands: bool = False, with_cascade: bool = False) -> Any:
    def command(ids: IdsArg = None, user: UserOpt = None, status: StatusOpt = None, name: NameOpt = None,
                tag: TagOpt = None, pool: PoolOpt = None, since: SinceOpt = None,
                kill: Annotated[bool, typer.Option("--kill", help="Also stop what runs (it runs again "
                                                   "later, no attempt spent).", hidden=not with_kill)] = False,
                errors_only: Annotated[bool, typer.Option("--errors-only", "-e", help="Only commands in ERROR or "
                                                          "TIMEOUT.", hidden=not with_errors)] = False,
                cmd: Annotated[bool, typer.Option("--command", "-c", help="The ids are command ids.",
                                                  hidden=not on_commands)] = False,
                cascade: Annotated[bool, typer.Option("--cascade/--no-cascade", help="Also restart what depends "
                                                      "on them (it ran on their old results).",
                                                      hidden=not with_cascade)] = True,
                node: NodeOpt = None, zk: ZkOpt = None, cluster: ClusterOpt = "default") -> None:
        args: dict[str, Any] = {}
        if with_kill:
            args["kill"] = kill
        if with_errors:
            args["errors_only"] = errors_only
        if with_cascade:
            args["cascade"] = cascade
        _run_edit(verb, ids, cmd and on_commands, user, status, name, tag, pool, since, node, zk, cluster, **args)

    command.__doc__ = doc
    command.__name__ = verb
    return command


def _set_command(farm: Farm, command_id: int, values: dict[str, Any], tags: dict[str, Any],
                 runtime: arguments.RuntimeEdits) -> None:
    """``set --command``: a command has a description and arguments only."""
    if values or tags or runtime.values or runtime.environment:
        raise fail("a command takes description=TEXT and arg.NAME=VALUE only", EXIT_USAGE)
    farm.set_command(command_id, description=runtime.description, arguments=runtime.arguments or None)


def set_values(node_id: Annotated[int, typer.Argument(help="Graph, task group or task id (a command's with "
                                                      "--command).")],
               assignments: Annotated[list[str], typer.Argument(
                   help="priority=N, maxRN=N, pool=NAME, strategy=NAME (a group's), tag.KEY=VALUE, "
                        "timer=DATE|EPOCH|none, maxAttempt=N, ramUse=MB, idleTimeout=SECONDS|none, "
                        "killOnRamOveruse=true|false, name=TEXT, "
                        "user=NAME, env.NAME=VALUE, "
                        "arg.NAME=VALUE (an empty tag., env. or arg. value removes it); with --command: "
                        "description=TEXT, arg.NAME=VALUE.")],
               command: CommandFlag = False,
               node: NodeOpt = None, zk: ZkOpt = None, cluster: ClusterOpt = "default") -> None:
    """Change a job's (or a group's, a task's) priority, maxRN, pool, strategy (a group's), tags, timer,
    maxAttempt, ramUse, environment, arguments, name or user (user: operators only), or a command's
    description and arguments. Environment and arguments are for the next command run; the rest takes effect at once.

    Example: `puli-mesh set 12 priority=10 maxRN=4 tag.prod=film timer=2026-05-01T20:00 env.SHOT=010`;
    `puli-mesh set --command 57 arg.start=5`
    """
    with reported_errors():
        runtime = arguments.parse_runtime_edits([a for a in assignments if arguments.is_runtime_edit(a)])
        values, tags = arguments.parse_assignments([a for a in assignments if not arguments.is_runtime_edit(a)])
        if runtime.description is not None and not command:
            raise fail("description= is a command's: add --command", EXIT_USAGE)
    farm = farm_for(node, zk, cluster)
    with reported_errors():
        if command:
            _set_command(farm, node_id, values, tags, runtime)
        else:
            if values or runtime.values:
                farm.set(node_id, **values, **runtime.values)
            if tags:
                farm.set_tags(node_id, **tags)
            if runtime.environment:
                farm.set_environment(node_id, runtime.environment)
            if runtime.arguments:
                farm.set_arguments(node_id, runtime.arguments)
    console.print(Text(f"{'command' if command else 'node'} {node_id}: " + ", ".join(assignments)))


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
        "--command restarts single commands; --no-cascade leaves what depends on them as it is.\n\n"
        "Example: `puli-mesh restart --errors-only 12`", with_errors=True, on_commands=True, with_cascade=True))
    app.command("done")(_edit_command(
        "done", "Accept single commands by hand as DONE (--command): one that runs is killed first; what "
        "depends on it runs as after a real DONE.\n\nExample: `puli-mesh done --command 57`", on_commands=True))
    app.command("set")(set_values)
    app.command()(archive)
