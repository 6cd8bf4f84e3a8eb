"""``puli-mesh`` commands that operate the farm: jobs, show, commands, edits, nodes, logs, exec, submit, stats.

Built on :class:`puliclient.farm.Farm`, the API pipeline tools use. Every listing
takes ``--json``; exit codes are those of ``cli.py`` (0 ok, 1 the mesh refused:
unknown id, illegal edit, 2 bad usage, 3 unreachable).
"""

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.tree import Tree

from puli_mesh.cli import views
from puli_mesh.cli.common import (
    EXIT_FAILED,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    ClusterOpt,
    JsonOpt,
    NodeOpt,
    ZkOpt,
    console,
    err_console,
    fail,
    print_json,
)
from puliclient.farm import Farm, FarmError, FarmUnreachableError

UserOpt = Annotated[list[str] | None, typer.Option("--user", "-u", help="Owner (repeat for several).")]
StatusOpt = Annotated[list[str] | None, typer.Option("--status", "-s", help="RUNNING, ERROR... (repeat).")]
NameOpt = Annotated[list[str] | None, typer.Option("--name", "-n", help="Regular expression searched in the name.")]
TagOpt = Annotated[list[str] | None, typer.Option("--tag", "-t", help="KEY=VALUE tag (repeat).")]
PoolOpt = Annotated[list[str] | None, typer.Option("--pool", "-p", help="Pool (repeat).")]
SinceOpt = Annotated[str | None, typer.Option("--since", help="Submitted in the last 2h/30m/1d, or since a date.")]
IdsArg = Annotated[list[int] | None, typer.Argument(help="Graph, task group or task ids.", show_default=False)]
CommandFlag = Annotated[bool, typer.Option("--command", "-c", help="The ids are command ids.")]


def make_farm(node: str | None, zk: str | None, cluster: str) -> Farm:
    if not node and not zk:
        raise fail("say where the mesh is: --node HOST:PORT or --zk HOSTS (or PULI_NODE / PULI_ZK)", EXIT_USAGE)
    return Farm(node=node, zk=None if node else zk, cluster=cluster)


@contextmanager
def farm_errors() -> Iterator[None]:
    """The mesh's refusals and silences as exit codes."""
    try:
        yield
    except FarmUnreachableError as exc:
        raise fail(str(exc), EXIT_UNREACHABLE) from exc
    except FarmError as exc:
        raise fail(f"{exc} ({exc.code})", EXIT_USAGE if exc.code == "invalid" else EXIT_FAILED) from exc


def _tags(pairs: list[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise fail(f"--tag {pair!r}: write KEY=VALUE", EXIT_USAGE)
        out[key] = value
    return out


def _filters(user: list[str] | None, status: list[str] | None, name: list[str] | None,
             tag: list[str] | None, pool: list[str] | None, since: str | None) -> dict[str, Any]:
    try:
        since_at = views.parse_since(since) if since else None
    except ValueError as exc:
        raise fail(str(exc), EXIT_USAGE) from exc
    return {"user": user or None, "status": [s.upper() for s in status or []] or None, "name": name or None,
            "tags": _tags(tag) or None, "pool": pool or None, "since": since_at}


# ---------------------------------------------------------------------- jobs
def jobs(user: UserOpt = None, status: StatusOpt = None, name: NameOpt = None, tag: TagOpt = None,
         pool: PoolOpt = None, since: SinceOpt = None, node: NodeOpt = None, zk: ZkOpt = None,
         cluster: ClusterOpt = "default", json_: JsonOpt = False) -> None:
    """Jobs (graphs) with their progress, command counts, start, elapsed time and ETA.

    Filters combine with AND; a repeated option means any of its values.

    Example: `puli-mesh jobs --user ana --status RUNNING --status ERROR --since 2h`
    """
    farm = make_farm(node, zk, cluster)
    with farm_errors():
        rows = farm.jobs(**_filters(user, status, name, tag, pool, since))
    if json_:
        print_json(rows)
        return
    wide = console.width >= 100  # the start time is the first thing an 80-column terminal drops
    table = Table("id", "name", "user", "status", "progress", "commands", *(["started"] if wide else []),
                  "elapsed", "eta", box=None, header_style="bold")
    now = time.time()
    for j in sorted(rows, key=lambda r: r["id"]):
        started, elapsed, eta = views.timing(j, now)
        table.add_row(str(j["id"]), j["name"], j.get("user", ""), views.status_text(j["status_name"]),
                      views.bar(j["completion"], 8 if wide else 6), views.counts(j.get("command_counts", {})),
                      *([started] if wide else []), elapsed, eta)
    console.print(_fit(table))
    console.print(f"[dim]{len(rows)} job(s)[/dim]")


# ---------------------------------------------------------------------- show
def _tree_label(n: dict[str, Any]) -> str:
    label = (f"[bold]{n['id']}[/bold] {n['name']}  [{views.STATUS_STYLE.get(n['status_name'], '')}]"
             f"{n['status_name']}[/]  {n['completion'] * 100:.0f}%  {views.counts(n.get('command_counts', {}))}")
    if n.get("paused"):
        label += "  [blue]paused[/blue]"
    return label


def _add_children(branch: Tree, n: dict[str, Any]) -> None:
    for child in n.get("children", []) or []:
        _add_children(branch.add(_tree_label(child)), child)
    for c in n.get("commands", []) or []:
        where = c.get("render_node") or c.get("last_node") or "-"
        message = (c.get("message") or "").strip().splitlines()
        last = f"  [dim]{message[-1][:60]}[/dim]" if message else ""
        style = views.STATUS_STYLE.get(c["status_name"], "")
        branch.add(f"command {c['id']} {c['description']}  [{style}]{c['status_name']}[/]  "
                   f"{c['completion'] * 100:.0f}%  on {where}  attempt {c['attempts']}/{c['max_attempt']}{last}")


def show(graph_id: Annotated[int, typer.Argument(help="Graph id (from `puli-mesh jobs`).")],
         node: NodeOpt = None, zk: ZkOpt = None, cluster: ClusterOpt = "default", json_: JsonOpt = False) -> None:
    """One job's tree: task groups, tasks and commands with status, progress, node, attempts, last message.

    Example: `puli-mesh show 12`
    """
    farm = make_farm(node, zk, cluster)
    with farm_errors():
        tree = farm.graph(graph_id)
    if json_:
        print_json(tree)
        return
    started, elapsed, eta = views.timing(tree)
    root = Tree(_tree_label(tree) + f"  [dim]user {tree.get('user')} pool {tree.get('pool')} "
                f"started {started} elapsed {elapsed} eta {eta}[/dim]")
    _add_children(root, tree)
    console.print(root)


# ------------------------------------------------------------------ commands
def commands(graph: Annotated[int | None, typer.Option("--graph", "-g", help="Graph, task group or task id.")] = None,
             status: StatusOpt = None,
             on: Annotated[str | None, typer.Option("--on", help="Render node that runs or last ran it.")] = None,
             limit: Annotated[int, typer.Option(help="At most this many.")] = 200,
             node: NodeOpt = None, zk: ZkOpt = None, cluster: ClusterOpt = "default", json_: JsonOpt = False) -> None:
    """Commands with status, progress, node, attempts and last message.

    Example: `puli-mesh commands --graph 12 --status ERROR` (then `puli-mesh logs ID`)
    """
    farm = make_farm(node, zk, cluster)
    with farm_errors():
        rows = farm.commands(graph=graph, status=[s.upper() for s in status or []] or None, node=on, limit=limit)
    if json_:
        print_json(rows)
        return
    table = Table("id", "graph", "task", "description", "status", "progress", "node", "attempts", "message",
                  box=None, header_style="bold")
    for c in rows:
        message = (c.get("message") or "").strip().splitlines()
        table.add_row(str(c["id"]), str(c["graph_id"]), c.get("task_name", ""), c["description"],
                      views.status_text(c["status_name"]), views.bar(c["completion"], 8),
                      c.get("render_node") or c.get("last_node") or "-",
                      f"{c['attempts']}/{c['max_attempt']}", message[-1][:50] if message else "")
    console.print(_fit(table))


# --------------------------------------------------------------------- edits
def _edit_targets(farm: Farm, ids: list[int] | None, filters: dict[str, Any]) -> list[int]:
    if ids:
        return list(ids)
    if not any(v for v in filters.values()):
        raise fail("name the jobs: give ids, or filters (--user, --name, --status, --tag, --pool, --since)",
                   EXIT_USAGE)
    return [int(j["id"]) for j in farm.jobs(**filters)]


_PAST = {"pause": "paused", "resume": "resumed", "cancel": "canceled", "restart": "restarted"}


def _run_edit(verb: str, ids: list[int] | None, command: bool, filters: dict[str, Any], node: str | None,
              zk: str | None, cluster: str, **args: Any) -> None:
    farm = make_farm(node, zk, cluster)
    with farm_errors():
        targets = list(ids or []) if command else _edit_targets(farm, ids, filters)
        if command and not targets:
            raise fail("--command needs command ids", EXIT_USAGE)
        for target in targets:
            if command and verb == "pause":
                farm.pause_command(target, kill=bool(args.get("kill")))
            elif command:
                {"cancel": farm.cancel_command, "restart": farm.restart_command,
                 "resume": farm.resume_command}[verb](target)
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
        _run_edit(verb, ids, cmd and on_commands, _filters(user, status, name, tag, pool, since), node, zk,
                  cluster, **args)

    command.__doc__ = doc
    command.__name__ = verb
    return command


def set_values(node_id: Annotated[int, typer.Argument(help="Graph, task group or task id.")],
               assignments: Annotated[list[str], typer.Argument(help="priority=N, maxRN=N, pool=NAME, tag.KEY=VALUE "
                                                                "(tag.KEY= removes it).")],
               node: NodeOpt = None, zk: ZkOpt = None, cluster: ClusterOpt = "default") -> None:
    """Change a job's (or a task's) priority, maxRN, pool or tags; takes effect at once.

    Example: `puli-mesh set 12 priority=10 maxRN=4 tag.prod=film`
    """
    values: dict[str, Any] = {}
    tags: dict[str, Any] = {}
    for item in assignments:
        key, sep, value = item.partition("=")
        if not sep:
            raise fail(f"{item!r}: write KEY=VALUE (priority=10, maxRN=4, pool=gpu, tag.prod=film)", EXIT_USAGE)
        if key.startswith("tag."):
            tags[key[4:]] = value or None
        elif key in ("priority", "dispatchKey", "maxRN"):
            try:
                values[key] = int(value)
            except ValueError as exc:
                raise fail(f"{key} must be a whole number, not {value!r}", EXIT_USAGE) from exc
        elif key in ("pool", "poolName"):
            values["pool"] = value
        else:
            raise fail(f"{key!r} cannot be set; use priority, maxRN, pool or tag.KEY", EXIT_USAGE)
    farm = make_farm(node, zk, cluster)
    with farm_errors():
        if values:
            farm.set(node_id, **values)
        if tags:
            farm.set_tags(node_id, **tags)
    console.print(f"node {node_id}: " + ", ".join(assignments))


def archive(ids: Annotated[list[int], typer.Argument(help="Graph ids (DONE or CANCELED).")],
            node: NodeOpt = None, zk: ZkOpt = None, cluster: ClusterOpt = "default") -> None:
    """Remove finished (DONE or CANCELED) jobs from the farm. Agents can do it on their own
    after `archive_after_days` (a setting).

    Example: `puli-mesh archive 12 13`
    """
    farm = make_farm(node, zk, cluster)
    with farm_errors():
        for graph_id in ids:
            farm.archive(graph_id)
            console.print(f"archived graph {graph_id}")


# --------------------------------------------------------------------- nodes
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
    farm = make_farm(node, zk, cluster)
    with farm_errors():
        rows = farm.nodes(pool=pool, state=state, name="|".join(name) if name else None)
    if json_:
        print_json(rows)
        return
    table = Table("node", "state", "pools", "slots", "running", "cpu", "ram free/total MB", "commands",
                  box=None, header_style="bold")
    for n in rows:
        name_text = n["name"] + (" *" if n.get("leader") else "")
        table.add_row(name_text, views.status_text(n["state"]), ",".join(n.get("pools", [])), str(n.get("slots", 0)),
                      str(n.get("running", 0)), f"{n.get('cpu_percent', 0):.0f}%",
                      f"{n.get('free_ram_mb', 0)}/{n.get('ram_mb', 0)}",
                      ",".join(str(c) for c in n.get("running_commands", [])) or "-")
    console.print(_fit(table))
    console.print("[dim]* leader[/dim]")


def _node_edit(ctx: typer.Context, where: tuple[str | None, str | None, str], name: str, verb: str,
               **args: Any) -> None:
    # --node/--zk may come before the verb (the group's) or after it (the verb's own).
    node, zk, cluster = where
    outer = ctx.obj or (None, None, "default")
    farm = make_farm(node or outer[0], zk or outer[1], cluster if cluster != "default" else outer[2])
    with farm_errors():
        {"pause": farm.pause_node, "resume": farm.resume_node, "drain": farm.drain_node}[verb](name, **args)
    killed = " (commands killed, they run again elsewhere)" if args.get("kill") else ""
    console.print(f"render node {name} {dict(pause='paused', drain='draining', resume='resumed')[verb]}{killed}")


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


# ---------------------------------------------------------------------- logs
def logs(command_id: Annotated[int, typer.Argument(help="Command id (from `puli-mesh commands` or `show`).")],
         follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing until the command ends.")] = False,
         tail: Annotated[int | None, typer.Option("--tail", help="Only the last N lines (then follow).")] = None,
         node: NodeOpt = None, zk: ZkOpt = None, cluster: ClusterOpt = "default") -> None:
    """A command's log, served by the render node that ran it (also after it ended).

    Example: `puli-mesh logs 57 --tail 20`; `puli-mesh logs 57 -f`
    """
    farm = make_farm(node, zk, cluster)
    out = sys.stdout.buffer
    with farm_errors():
        offset = 0
        if tail is not None:
            piece = farm.read_log(command_id, offset=0, limit=1)
            text = farm.tail_log(command_id, tail)
            out.write(text.encode())
            out.flush()
            offset = int(piece["size"])
            if not follow:
                return
        if follow:
            try:
                for chunk in farm.follow_log(command_id, offset=offset, interval=0.3):
                    out.write(chunk)
                    out.flush()
            except KeyboardInterrupt:
                return
            return
        while True:
            piece = farm.read_log(command_id, offset=offset)
            out.write(bytes(piece["data"]))
            if not piece["data"] or int(piece["next_offset"]) >= int(piece["size"]):
                break
            offset = int(piece["next_offset"])
        out.flush()


# ---------------------------------------------------------------------- exec
def exec_command(
    cmd: Annotated[str, typer.Argument(help="Shell command; %%MI_FRAME%%, %%MI_START%%, %%MI_END%% are replaced.")],
    start: Annotated[int, typer.Option(help="First frame.")] = 1,
    end: Annotated[int, typer.Option(help="Last frame.")] = 1,
    packet_size: Annotated[int, typer.Option("--packet-size", help="Frames per command.")] = 1,
    pool: Annotated[str, typer.Option(help="Pool of render nodes.")] = "default",
    name: Annotated[str | None, typer.Option(help="Job name (default: the command).")] = None,
    priority: Annotated[int, typer.Option(help="dispatchKey: higher first.")] = 0,
    max_rn: Annotated[int, typer.Option("--max-rn", help="At most this many nodes at once (-1: no cap).")] = -1,
    lic: Annotated[str, typer.Option("--lic", help="Licences, `a&b`.")] = "",
    timeout: Annotated[float | None, typer.Option(help="Seconds before a command is killed.")] = None,
    wait: Annotated[bool, typer.Option("--wait", "-w", help="Show progress; exit 0 if DONE, 1 otherwise.")] = False,
    node: NodeOpt = None, zk: ZkOpt = None, cluster: ClusterOpt = "default",
) -> None:
    """Run a shell command on the farm over a frame range (Puli's puliexec).

    It prints the job's id (for `jobs`, `show`, `restart`); --wait follows it to the end.

    Example: `puli-mesh exec 'render -f %%MI_FRAME%%' --end 100 --packet-size 10`
    """
    from puliclient import Graph
    from puliclient.errors import Error as PuliclientError

    if end < start or packet_size < 1:
        raise fail("need --start <= --end and --packet-size >= 1", EXIT_USAGE)
    farm = make_farm(node, zk, cluster)
    graph = Graph(name or f"exec: {cmd[:60]}", poolName=pool, maxRN=max_rn)
    arguments: dict[str, Any] = {"cmd": cmd, "start": start, "end": end, "packetSize": packet_size}
    if timeout is not None:
        arguments["timeout"] = timeout
    graph.addNewTask(name or "exec", arguments=arguments, lic=lic, dispatchKey=priority)
    env_before = {k: os.environ.get(k) for k in ("PULI_NODE", "PULI_ZK", "PULI_CLUSTER")}
    try:
        _point_environment(os.environ, node, zk, cluster)
        location, _message = graph.submit()
    except PuliclientError as exc:
        raise fail(str(exc), EXIT_UNREACHABLE if "reachable" in str(exc) else EXIT_FAILED) from exc
    finally:
        for key, value in env_before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    graph_id = Farm.graph_id(location)
    console.print(f"submitted graph {graph_id} ({(end - start) // packet_size + 1} commands)")
    if not wait:
        return
    with farm_errors():
        final = _wait_with_progress(farm, graph_id)
    console.print(f"graph {graph_id}: {final['status_name']}")
    raise typer.Exit(0 if final["status_name"] == "DONE" else EXIT_FAILED)


def _wait_with_progress(farm: Farm, graph_id: int) -> dict[str, Any]:
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("graph {task.fields[gid]}"), BarColumn(), TaskProgressColumn(),
                  TextColumn("{task.fields[counts]}"), TimeElapsedColumn(), console=err_console) as progress:
        task = progress.add_task("run", total=1.0, gid=graph_id, counts="")
        while True:
            tree = farm.graph(graph_id)
            progress.update(task, completed=tree["completion"], counts=views.counts(tree.get("command_counts", {})))
            if tree["status_name"] in ("DONE", "ERROR", "CANCELED"):
                return tree
            time.sleep(0.3)


def _point_environment(env: Any, node: str | None, zk: str | None, cluster: str) -> None:
    """PULI_NODE / PULI_ZK / PULI_CLUSTER for the mesh the CLI points at (node wins)."""
    if node:
        env["PULI_NODE"] = node
        env.pop("PULI_ZK", None)
    elif zk:
        env["PULI_ZK"] = zk
        env.pop("PULI_NODE", None)
    env["PULI_CLUSTER"] = cluster


# -------------------------------------------------------------------- submit
def submit(script: Annotated[Path, typer.Argument(help="A Python submission script (it calls graph.submit()).")],
           args: Annotated[list[str] | None, typer.Argument(help="Arguments for the script.")] = None,
           node: NodeOpt = None, zk: ZkOpt = None, cluster: ClusterOpt = "default") -> None:
    """Run a submission script against the mesh this command points at (sets PULI_NODE/PULI_ZK).

    Its exit code is returned.

    Example: `puli-mesh submit examples/frame_range.py --node 127.0.0.1:8004`
    """
    if not script.is_file():
        raise fail(f"{script} is not a file", EXIT_USAGE)
    if not node and not zk:
        raise fail("say where the mesh is: --node HOST:PORT or --zk HOSTS (or PULI_NODE / PULI_ZK)", EXIT_USAGE)
    env = dict(os.environ)
    _point_environment(env, node, zk, cluster)
    result = subprocess.run([sys.executable, str(script), *(args or [])], env=env, check=False)
    raise typer.Exit(result.returncode)


# --------------------------------------------------------------------- stats
def stats(node: NodeOpt = None, zk: ZkOpt = None, cluster: ClusterOpt = "default", json_: JsonOpt = False) -> None:
    """The last hour, a line per minute: commands finished, queue depth, running, node use, licences.

    Figures are kept in the coordinator's memory (a new leader starts afresh).

    Example: `puli-mesh stats --json > farm-stats.json`
    """
    farm = make_farm(node, zk, cluster)
    with farm_errors():
        data = farm.stats()
    if json_:
        print_json(data)
        return
    table = Table("minute", "done", "failed", "finished/min", "queue", "running", "nodes", "utilisation",
                  "licences", box=None, header_style="bold")
    for s in [*data["minutes"], data["current"]]:
        lics = " ".join(f"{k} {u}/{t}" for k, (u, t) in sorted(s["licences"].items())) or "-"
        label = views.clock(s["start"]) + (" (now)" if s is data["current"] else "")
        table.add_row(label, str(s["done"]), str(s["failed"]), f"{s['finished_per_minute']:.1f}", str(s["ready"]),
                      str(s["running"]), str(s["nodes_online"]), views.bar(s["utilisation"], 10), lics)
    console.print(_fit(table))


_SHRINKABLE = {"name", "task", "description", "message", "pools", "commands", "licences"}


def _fit(table: Table) -> Table:
    """One line per row: free-text cells end in an ellipsis; ids, statuses and bars keep their width."""
    for column in table.columns:
        column.no_wrap = True
        column.overflow = "ellipsis"
        header = str(column.header)
        if header in _SHRINKABLE:
            column.min_width = min(len(header) + 2, 10)
        else:
            cells = [len(c.plain) if hasattr(c, "plain") else len(str(c)) for c in column._cells]
            column.min_width = max([len(header), *cells])
    return table


def register(app: typer.Typer) -> None:
    """Add these commands to the ``puli-mesh`` app."""
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
    app.add_typer(nodes_app, name="nodes")
    app.command()(logs)
    app.command("exec")(exec_command)
    app.command()(submit)
    app.command()(stats)
