"""``puli-mesh exec`` and ``submit``: put work on the farm.

``exec`` builds a one-task graph over a frame range (Puli's puliexec) and submits
it with :meth:`puliclient.farm.Farm.submit`; ``submit`` runs the user's own
submission script with PULI_NODE / PULI_ZK pointing at the mesh of the command line.

Guarantees: ``exec --wait`` exits 0 only if the graph ends DONE; errors leave
through :func:`puli_mesh.cli.common.reported_errors`. Not here: building graphs
(``puliclient``), the submission protocol (``puliclient.farm``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import MutableMapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

import puli_mesh.cli.arguments as arguments
import puli_mesh.cli.views as views
from puli_mesh.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    NO_MESH,
    ClusterOpt,
    NodeOpt,
    ZkOpt,
    console,
    err_console,
    fail,
    farm_for,
    reported_errors,
)
from puliclient.farm import Farm
from puliclient.status import FINAL_NODE_STATUSES, NodeStatus

if TYPE_CHECKING:
    from puliclient.graph import Graph


def exec_graph(cmd: str, start: int, end: int, packet_size: int, pool: str, name: str | None, priority: int,
               max_rn: int, lic: str, timeout: float | None, timer: float | None, ram_use: int,
               user: str | None, prod: str | None, idle_timeout: float | None = None, gpus: int = 0) -> Graph:
    """puliexec's one-task graph: ``cmd`` over frames ``start``..``end``, ``packet_size`` a command;
    ``timer``: the epoch it may start at; ``ram_use``: MB a node must have free; ``prod``: the prod tag;
    ``idle_timeout``: the task's ``idleTimeout`` (None: the farm's default); ``gpus``: GPUs each
    command books."""
    from puliclient import Graph

    graph = Graph(name or f"exec: {cmd[:60]}", poolName=pool, maxRN=max_rn, user=user,
                  tags={"prod": prod} if prod else None)
    arguments: dict[str, Any] = {"cmd": cmd, "start": start, "end": end, "packetSize": packet_size}
    if timeout is not None:
        arguments["timeout"] = timeout
    graph.addNewTask(name or "exec", arguments=arguments, lic=lic, dispatchKey=priority, timer=timer,
                     ramUse=ram_use, tags={"prod": prod} if prod else None, idleTimeout=idle_timeout, gpus=gpus)
    return graph


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
    idle_timeout: Annotated[str | None, typer.Option(
        "--idle-timeout", help="Kill a command as hung after this long without output nor progress: "
                               "600, 10m, 1h30m; 0: never (default: the farm's).")] = None,
    time_delay: Annotated[str | None, typer.Option(
        "--time-delay", help="Start no sooner than this from now: 3h30m, 100m, 90 (seconds).")] = None,
    min_ram: Annotated[int, typer.Option("--min-ram", "--minRam", min=0,
                                         help="MB of free RAM a node needs (ramUse).")] = 0,
    gpus: Annotated[int, typer.Option("--gpus", min=0, help="GPUs each command books on its node.")] = 0,
    user: Annotated[str | None, typer.Option("--user", "-u", help="Owner (default: you).")] = None,
    prod: Annotated[str | None, typer.Option("--prod", "-P", help="The job's prod tag.")] = None,
    local: Annotated[bool, typer.Option("--local", help="Run here, now (Graph.execute()), no mesh: "
                                        "exit 0 if DONE, 1 otherwise.")] = False,
    wait: Annotated[bool, typer.Option("--wait", "-w", help="Show progress; exit 0 if DONE, 1 otherwise.")] = False,
    node: NodeOpt = None, zk: ZkOpt = None, cluster: ClusterOpt = "default",
) -> None:
    """Run a shell command on the farm over a frame range (Puli's puliexec).

    It prints the job's id (for `jobs`, `show`, `restart`); --wait follows it to the end;
    --local runs it on this machine instead.

    Example: `puli-mesh exec 'render -f %%MI_FRAME%%' --end 100 --packet-size 10 --time-delay 1h --prod film`
    """
    if end < start or packet_size < 1:
        raise fail("need --start <= --end and --packet-size >= 1", EXIT_USAGE)
    with reported_errors():
        timer = None if time_delay is None else time.time() + arguments.parse_delay(time_delay)
        idle = None if idle_timeout is None else arguments.parse_seconds("--idle-timeout", idle_timeout)
    graph = exec_graph(cmd, start, end, packet_size, pool, name, priority, max_rn, lic, timeout, timer, min_ram,
                       user, prod, idle_timeout=idle, gpus=gpus)
    if local:
        with reported_errors():
            status = graph.execute()
        console.print(f"{graph.name}: {NodeStatus(status).name}")
        raise typer.Exit(EXIT_OK if status == NodeStatus.DONE else EXIT_FAILED)
    farm = farm_for(node, zk, cluster)
    with reported_errors():
        location, _message = farm.submit(graph)
    graph_id = Farm.graph_id(location)
    console.print(f"submitted graph {graph_id} ({(end - start) // packet_size + 1} commands)")
    if not wait:
        return
    with reported_errors():
        final = _wait_with_progress(farm, graph_id)
    console.print(f"graph {graph_id}: {final['status_name']}")
    raise typer.Exit(EXIT_OK if final["status"] == NodeStatus.DONE else EXIT_FAILED)


def _wait_with_progress(farm: Farm, graph_id: int) -> dict[str, Any]:
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("graph {task.fields[gid]}"), BarColumn(), TaskProgressColumn(),
                  TextColumn("{task.fields[counts]}"), TimeElapsedColumn(), console=err_console) as progress:
        task = progress.add_task("run", total=1.0, gid=graph_id, counts="")
        while True:
            tree = farm.graph(graph_id)
            progress.update(task, completed=tree["completion"], counts=views.counts(tree.get("command_counts", {})))
            if tree["status"] in FINAL_NODE_STATUSES:
                return tree
            time.sleep(0.3)


def _point_environment(env: MutableMapping[str, str], node: str | None, zk: str | None, cluster: str) -> None:
    """PULI_NODE / PULI_ZK / PULI_CLUSTER for the mesh the CLI points at (node wins)."""
    if node:
        env["PULI_NODE"] = node
        env.pop("PULI_ZK", None)
    elif zk:
        env["PULI_ZK"] = zk
        env.pop("PULI_NODE", None)
    env["PULI_CLUSTER"] = cluster


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
        raise fail(NO_MESH, EXIT_USAGE)
    env = dict(os.environ)
    _point_environment(env, node, zk, cluster)
    result = subprocess.run([sys.executable, str(script), *(args or [])], env=env, check=False)
    raise typer.Exit(result.returncode)
