"""The ``puli-mesh`` command line: run an agent, start a local farm, inspect the mesh.

It talks to the mesh through the same client API users have
(``puli_mesh.client``), or reads ZooKeeper directly for cluster settings.
Exit codes: 0 success, 1 the request failed (unknown id, refused edit),
2 bad usage, 3 the mesh or ZooKeeper could not be reached.
"""

from __future__ import annotations

import logging
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from puli_mesh import __version__
from puli_mesh.cli import jobs as jobs_commands
from puli_mesh.cli import top as top_commands
from puli_mesh.cli.common import (
    EXIT_FAILED,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    ClusterOpt,
    JsonOpt,
    NodeOpt,
    ZkOpt,
    console,
    fail,
    print_json,
)
from puli_mesh.client import MeshClient, MeshRequestError, MeshUnreachableError
from puli_mesh.errors import ConfigError, PuliMeshError, ZooKeeperError

APP_HELP = """Puli Mesh: a render farm of uniform agents. Try `puli-mesh up --agents 3`.

Commands find the mesh with `--node HOST:PORT` (any agent) or `--zk HOSTS`, or in
PULI_NODE / PULI_ZK. `puli-mesh COMMAND --help` shows a command's options.

A session (12 is a job id, 57 a command id, both printed by the lines before):

```
puli-mesh up --agents 3                 # a local farm; leave it running
export PULI_NODE=127.0.0.1:8004         # then, in another shell
puli-mesh exec 'render -f %%MI_FRAME%% a.ma' --end 100 --packet-size 10
puli-mesh jobs                          # id, status, progress, ETA
puli-mesh top                           # all of it, live; q quits
puli-mesh show 12                       # commands: status, node, attempts
puli-mesh pause 12                      # nothing new starts; resume 12
puli-mesh commands -g 12 --status ERROR # the failed commands
puli-mesh logs 57                       # a failed command's log
puli-mesh restart 12 --errors-only      # run the failed commands again
```
"""

app = typer.Typer(help=APP_HELP, no_args_is_help=True, rich_markup_mode="markdown")
# No help= on the groups: their callback's docstring (with its example) is the help.
licences_app = typer.Typer(invoke_without_command=True)
pools_app = typer.Typer(invoke_without_command=True)
app.add_typer(licences_app, name="licences")
app.add_typer(pools_app, name="pools")



def _setup_logging(level: str, log_file: Path | None = None) -> None:
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handlers = [logging.FileHandler(log_file)]
    logging.basicConfig(level=getattr(logging, level.upper(), logging.INFO), handlers=handlers,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("kazoo").setLevel(logging.WARNING)


def client_for(node: str | None, zk: str | None, cluster: str) -> MeshClient:
    if not node and not zk:
        raise fail("say where the mesh is: --node HOST:PORT or --zk HOSTS (or PULI_NODE / PULI_ZK)",
                   EXIT_USAGE)
    return MeshClient(node=node, zk=zk, cluster=cluster)


def ask(client: MeshClient, kind: str, **fields: Any) -> Any:
    try:
        return client.request(kind, **fields)
    except MeshUnreachableError as exc:
        raise fail(str(exc), EXIT_UNREACHABLE) from exc
    except MeshRequestError as exc:
        raise fail(f"{exc} ({exc.code})", EXIT_FAILED) from exc


# --------------------------------------------------------------------------- agent
@app.command()
def agent(
    config: Annotated[Path | None, typer.Option("--config", help="TOML settings file.")] = None,
    zk: Annotated[str | None, typer.Option(help="ZooKeeper hosts. [env PULI_ZK]")] = None,
    cluster: Annotated[str | None, typer.Option(help="Cluster name (default `default`).")] = None,
    name: Annotated[str | None, typer.Option(help="Node name (default: host name). [env PULI_NAME]")] = None,
    host: Annotated[str | None, typer.Option(help="Address others reach this agent at. [env PULI_HOST]")] = None,
    port: Annotated[int | None, typer.Option(help="Client/coordinator port (default 8004). [env PULI_PORT]")] = None,
    slots: Annotated[int | None, typer.Option(help="Commands run at once (default 1). [env PULI_SLOTS]")] = None,
    pipeline: Annotated[int | None, typer.Option(
        help="Short commands queued behind each running one (default 16; 0: off). [env PULI_PIPELINE]")] = None,
    pools: Annotated[str | None, typer.Option(help="Comma-separated pools (default `default`).")] = None,
    log_dir: Annotated[Path | None, typer.Option(help="Where command logs go. [env PULI_LOG_DIR]")] = None,
    session_timeout: Annotated[float | None, typer.Option(help="ZooKeeper session timeout, s (default 10).")] = None,
    heartbeat_interval: Annotated[float | None, typer.Option(help="Heartbeat interval, s (default 1).")] = None,
    heartbeat_liveness: Annotated[int | None, typer.Option(help="Missed heartbeats before a peer is gone.")] = None,
    grace_period: Annotated[float | None, typer.Option(help="On SIGTERM, seconds commands get to finish.")] = None,
    retry_delay: Annotated[float | None, typer.Option(help="Seconds before an ERROR is retried (default 20).")] = None,
    lost_grace: Annotated[float | None, typer.Option(help="Extra seconds before a lost node's work moves.")] = None,
    archive_after_days: Annotated[float | None, typer.Option(help="Archive finished graphs after N days.")] = None,
    log_level: Annotated[str, typer.Option(help="debug, info, warning.")] = "info",
    agent_log: Annotated[Path | None, typer.Option(help="Write the agent's own log here instead of stderr.")] = None,
) -> None:
    """Run the agent of this render node: worker always, coordinator while elected.

    Example: `puli-mesh agent --zk zk1:2181,zk2:2181 --slots 4 --pools default,gpu`
    """
    from puli_mesh.config import load_settings
    from puli_mesh.node.agent import Agent

    _setup_logging(log_level, agent_log)
    try:
        settings = load_settings(config, overrides={
            "zk": zk, "cluster": cluster, "name": name, "host": host, "port": port, "slots": slots,
            "pipeline": pipeline, "pools": pools, "log_dir": log_dir, "session_timeout": session_timeout,
            "heartbeat_interval": heartbeat_interval, "heartbeat_liveness": heartbeat_liveness,
            "grace_period": grace_period, "retry_delay": retry_delay, "lost_grace": lost_grace,
            "archive_after_days": archive_after_days,
        })
    except ConfigError as exc:
        raise fail(str(exc), EXIT_USAGE) from exc
    try:
        code = Agent(settings).run()
    except ConfigError as exc:
        raise fail(str(exc), EXIT_USAGE) from exc
    except ZooKeeperError as exc:
        raise fail(str(exc), EXIT_UNREACHABLE) from exc
    raise typer.Exit(code)


# -------------------------------------------------------------------------- status
@app.command()
def status(node: NodeOpt = None, zk: ZkOpt = None, cluster: ClusterOpt = "default", json_: JsonOpt = False) -> None:
    """Cluster, leader and epoch, and every node with its state, slots, running commands, CPU/RAM.

    Example: `puli-mesh status --node 127.0.0.1:8004 --json`
    """
    data = ask(client_for(node, zk, cluster), "QUERY", what="status", args={})
    if json_:
        print_json(data)
        return
    console.print(f"cluster [bold]{data['cluster']}[/bold]  leader [bold]{data['leader']}[/bold]  "
                  f"epoch {data['epoch']}  graphs {data.get('graphs', 0)}")
    journal = data.get("journal") or {}
    if journal:
        snap = journal.get("last_snapshot_time")
        when = time.strftime("%H:%M:%S", time.localtime(snap)) if snap else "none yet"
        console.print(f"journal {journal['records']} records ({journal['durable']} durable, "
                      f"{journal['bytes_written'] / 1e6:.1f} MB written)  last snapshot at record "
                      f"{journal['last_snapshot_record']} ({when})")
    table = Table("node", "state", "pools", "slots", "running", "cpu %", "ram free / total MB", "endpoint")
    for n in data["nodes"]:
        table.add_row(n["name"], n["state"], ",".join(n.get("pools", [])), str(n.get("slots", "")),
                      str(n.get("running", 0)), f"{n.get('cpu_percent', 0):.0f}",
                      f"{n.get('free_ram_mb', 0)} / {n.get('ram_mb', 0)}", n.get("endpoint", ""))
    console.print(table)


@app.command("step-down")
def step_down(node: NodeOpt = None, zk: ZkOpt = None, cluster: ClusterOpt = "default") -> None:
    """Hand leadership to another agent now (before maintenance of the leader's machine).

    The leader stops dispatching, waits for its journal to be durable, and leaves the
    election; another agent takes over in well under a second. Running commands go on.

    Example: `puli-mesh step-down --zk 127.0.0.1:2181`
    """
    data = ask(client_for(node, zk, cluster), "EDIT", action="step_down", args={})
    console.print(f"{data['leader']} is handing over leadership")


# ------------------------------------------------------------------------ licences
@contextmanager
def _zk_settings(zk: str | None, cluster: str) -> Iterator[tuple[Any, Any]]:
    """A ZooKeeper session on the cluster's settings (licences, pools), closed on exit."""
    from kazoo.client import KazooClient
    from kazoo.handlers.threading import KazooTimeoutError

    from puli_mesh.zkpaths import ClusterPaths

    if not zk:
        raise fail("cluster settings live in ZooKeeper: give --zk HOSTS (or PULI_ZK)", EXIT_USAGE)
    client = KazooClient(hosts=zk, timeout=5.0)
    try:
        client.start(timeout=5.0)
    except KazooTimeoutError as exc:
        raise fail(f"ZooKeeper at {zk} did not answer", EXIT_UNREACHABLE) from exc
    try:
        yield client, ClusterPaths(cluster)
    finally:
        client.stop()
        client.close()


@licences_app.callback()
def licences(ctx: typer.Context, node: NodeOpt = None, zk: ZkOpt = None, cluster: ClusterOpt = "default",
             json_: JsonOpt = False) -> None:
    """Licence tokens shared by the cluster (Puli's licence manager).

    Without a subcommand: each licence with its total, tokens in use and the nodes
    using them (Puli's `stats()`).

    Example: `puli-mesh licences set mtoa 20 --zk 127.0.0.1:2181`; `licences --json`
    """
    if ctx.invoked_subcommand is not None:
        return
    data = ask(client_for(node, zk, cluster), "QUERY", what="licences", args={})
    if json_:
        print_json(data)
        return
    table = Table("licence", "used", "total", "render nodes")
    for lic in data:
        table.add_row(lic["name"], str(lic["used"]), str(lic["total"]), ", ".join(lic["rns"]))
    console.print(table)


@licences_app.command("set")
def licences_set(
    name: Annotated[str, typer.Argument(help="Licence name, as tasks give it in `lic`.")],
    total: Annotated[int, typer.Argument(help="Number of tokens.")],
    zk: ZkOpt = None, cluster: ClusterOpt = "default",
) -> None:
    """Define a licence or change its total (lowering it never kills running commands).

    Example: `puli-mesh licences set shave 70 --zk 127.0.0.1:2181`
    """
    from puli_mesh.cluster_state import set_licence

    with _zk_settings(zk, cluster) as (client, paths):
        try:
            set_licence(client, paths, name, total)
        except ConfigError as exc:
            raise fail(str(exc), EXIT_USAGE) from exc
    console.print(f"licence {name}: {total} tokens")


@pools_app.callback()
def pools(ctx: typer.Context, node: NodeOpt = None, zk: ZkOpt = None, cluster: ClusterOpt = "default",
          json_: JsonOpt = False) -> None:
    """Pools of render nodes.

    Without a subcommand: the pools defined in the cluster and the live nodes in
    each (with --node: the coordinator's view, with the graphs of each pool).

    Example: `puli-mesh pools add gpu --zk 127.0.0.1:2181`; `puli-mesh pools`
    """
    if ctx.invoked_subcommand is not None:
        return
    if node and not zk:
        data = ask(client_for(node, None, cluster), "QUERY", what="pools", args={})
        rows = [{"name": p["name"], "nodes": sorted(p["render_nodes"]), "graphs": p["graphs"]} for p in data]
        if json_:
            print_json(sorted(rows, key=lambda r: r["name"]))
            return
        table = Table("pool", "nodes", "graphs")
        for r in sorted(rows, key=lambda r: r["name"]):
            table.add_row(r["name"], ", ".join(r["nodes"]) or "-", ", ".join(map(str, r["graphs"])) or "-")
        console.print(table)
        return
    from puli_mesh.cluster_state import read_members, read_pools

    with _zk_settings(zk, cluster) as (client, paths):
        defined = read_pools(client, paths)
        members = read_members(client, paths)
    by_pool: dict[str, list[str]] = {p: [] for p in defined}
    for name, data in members.items():
        for pool in data.get("pools", []):
            by_pool.setdefault(pool, []).append(name)
    if json_:
        print_json([{"name": p, "nodes": sorted(n)} for p, n in sorted(by_pool.items())])
        return
    table = Table("pool", "nodes")
    for pool, names in sorted(by_pool.items()):
        table.add_row(pool, ", ".join(sorted(names)) or "-")
    console.print(table)


@pools_app.command("add")
@pools_app.command("create", hidden=True)
def pools_create(name: str, zk: ZkOpt = None, cluster: ClusterOpt = "default") -> None:
    """Define a pool (graphs may name it before any node joins it). `create` is an alias.

    Example: `puli-mesh pools add gpu --zk 127.0.0.1:2181`
    """
    from puli_mesh.cluster_state import define_pool

    with _zk_settings(zk, cluster) as (client, paths):
        try:
            define_pool(client, paths, name)
        except ConfigError as exc:
            raise fail(str(exc), EXIT_USAGE) from exc
    console.print(f"pool {name} defined")


# ----------------------------------------------------------------------------- up
@app.command()
def up(
    agents: Annotated[int, typer.Option(help="How many agents to start.")] = 3,
    slots: Annotated[int, typer.Option(help="Slots per agent.")] = 1,
    base_port: Annotated[int, typer.Option(help="First agent's port (next ones follow).")] = 8004,
    data_dir: Annotated[Path | None, typer.Option(help="ZooKeeper data and logs (default: temp dir).")] = None,
    submit_examples: Annotated[bool, typer.Option(help="Submit the example graphs once the mesh is up.")] = False,
    session_timeout: Annotated[float, typer.Option(help="Session timeout of the agents, s.")] = 4.0,
) -> None:
    """Start a local farm: a private ZooKeeper and N agents on loopback. Ctrl-C stops everything.

    Example: `puli-mesh up --agents 3`, then in another shell:

    `PULI_NODE=127.0.0.1:8004 python examples/simple_command.py`
    """
    from puli_mesh.local_farm import LocalFarm

    _setup_logging("info")
    farm = LocalFarm(agents=agents, slots=slots, base_port=base_port, data_dir=data_dir,
                     session_timeout=session_timeout)

    def interrupted(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt  # SIGTERM stops the farm as cleanly as Ctrl-C

    signal.signal(signal.SIGTERM, interrupted)
    try:
        farm.start()
    except (PuliMeshError, KeyboardInterrupt) as exc:
        farm.stop()
        raise fail(f"the local farm did not start: {exc}", EXIT_UNREACHABLE) from exc
    console.print(farm.banner())
    code = 0
    try:
        if submit_examples:
            code = farm.submit_examples(console)
        farm.wait()
    except KeyboardInterrupt:
        console.print("stopping the farm...")
    finally:
        farm.stop()
    raise typer.Exit(code)


@app.command()
def version() -> None:
    """Print the version.

    Example: `puli-mesh version`
    """
    console.print(__version__)


jobs_commands.register(app)  # jobs, show, commands, edits, nodes, logs, exec, submit, stats
top_commands.register(app)
