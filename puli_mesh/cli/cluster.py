"""``puli-mesh`` commands about the cluster as a whole: status, step-down, licences, pools, stats.

Guarantees: every command goes through :class:`puliclient.farm.Farm`, the
cluster settings (licence totals, pools: changed by the leader) included; its errors leave through
:func:`puli_mesh.cli.common.reported_errors`.

Not here: jobs and commands (``jobs``), render nodes (``nodes``), the live view (``top``).
"""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

import puli_mesh.cli.views as views
from puli_mesh.cli.common import (
    ClusterOpt,
    JsonOpt,
    NodeOpt,
    ZkOpt,
    console,
    farm_for,
    print_json,
    reported_errors,
    settings_farm,
)

# No help= on the groups: their callback's docstring (with its example) is the help.
INSECURE_WARNING = "INSECURE: this mesh runs without keys (--insecure): anyone who reaches it owns it"

licences_app = typer.Typer(invoke_without_command=True)
pools_app = typer.Typer(invoke_without_command=True)


def status(node: NodeOpt = None, zk: ZkOpt = None, cluster: ClusterOpt = "default", json_: JsonOpt = False) -> None:
    """Cluster, leader and epoch, and every node with its state, slots, running commands, CPU/RAM.

    Example: `puli-mesh status --node 127.0.0.1:8004 --json`
    """
    farm = farm_for(node, zk, cluster)
    with reported_errors():
        data = farm.status()
    if json_:
        print_json(data)
        return
    console.print(Text.assemble("cluster ", (str(data["cluster"]), "bold"), "  leader ", (str(data["leader"]), "bold"),
                                f"  epoch {data['epoch']}  graphs {data.get('graphs', 0)}"))
    if not data.get("secured", True):
        console.print(Text(INSECURE_WARNING, style="bold red"))
    journal = data.get("journal") or {}
    if journal:
        snap = journal.get("last_snapshot_time")
        when = time.strftime("%H:%M:%S", time.localtime(snap)) if snap else "none yet"
        console.print(f"journal {journal['records']} records ({journal['durable']} durable, "
                      f"{journal['bytes_written'] / 1e6:.1f} MB written)  last snapshot at record "
                      f"{journal['last_snapshot_record']} ({when})")
    table = Table("node", "state", "pools", "slots", "running", "cpu %", "ram free / total MB", "endpoint")
    for n in data["nodes"]:
        views.add_row(table, n["name"], n["state"], ",".join(n.get("pools", [])), str(n.get("slots", "")),
                      str(n.get("running", 0)), f"{n.get('cpu_percent', 0):.0f}",
                      f"{n.get('free_ram_mb', 0)} / {n.get('ram_mb', 0)}", n.get("endpoint", ""))
    console.print(table)


def step_down(node: NodeOpt = None, zk: ZkOpt = None, cluster: ClusterOpt = "default") -> None:
    """Hand leadership to another agent now (before maintenance of the leader's machine).

    The leader stops dispatching, waits for its journal to be durable, and leaves the
    election; another agent takes over in well under a second. Running commands go on.

    Example: `puli-mesh step-down --zk 127.0.0.1:2181`
    """
    farm = farm_for(node, zk, cluster)
    with reported_errors():
        leader = farm.step_down()
    console.print(Text(f"{leader} is handing over leadership"))


# ------------------------------------------------------------------------ licences
@licences_app.callback()
def licences(ctx: typer.Context, node: NodeOpt = None, zk: ZkOpt = None, cluster: ClusterOpt = "default",
             json_: JsonOpt = False) -> None:
    """Licence tokens shared by the cluster (Puli's licence manager).

    Without a subcommand: each licence with its total, tokens in use and the nodes
    using them (Puli's `stats()`).

    Example: `puli-mesh licences set mtoa 20 --node 127.0.0.1:8004`; `licences --json`
    """
    if ctx.invoked_subcommand is not None:
        return
    farm = farm_for(node, zk, cluster)
    with reported_errors():
        data = farm.licences()
    if json_:
        print_json(data)
        return
    table = Table("licence", "used", "total", "render nodes")
    for lic in data:
        views.add_row(table, lic["name"], str(lic["used"]), str(lic["total"]), ", ".join(lic["rns"]))
    console.print(table)


@licences_app.command("set")
def licences_set(
    name: Annotated[str, typer.Argument(help="Licence name, as tasks give it in `lic`.")],
    total: Annotated[int, typer.Argument(help="Number of tokens.")],
    node: NodeOpt = None, zk: ZkOpt = None, cluster: ClusterOpt = "default",
) -> None:
    """Define a licence or change its total (lowering it never kills running commands).

    The leader writes it to ZooKeeper: a key of role operator or admin may.

    Example: `puli-mesh licences set shave 70 --node 127.0.0.1:8004` (or `--zk 127.0.0.1:2181`)
    """
    farm = farm_for(node, zk, cluster)
    with reported_errors():
        farm.set_licence(name, total)
    console.print(Text(f"licence {name}: {total} tokens"))


# --------------------------------------------------------------------------- pools
@pools_app.callback()
def pools(ctx: typer.Context, node: NodeOpt = None, zk: ZkOpt = None, cluster: ClusterOpt = "default",
          json_: JsonOpt = False) -> None:
    """Pools of render nodes.

    Without a subcommand: the pools defined in the cluster and the live nodes in
    each (with --node: the coordinator's view, with the graphs of each pool).

    Example: `puli-mesh pools add gpu --node 127.0.0.1:8004`; `puli-mesh pools`
    """
    if ctx.invoked_subcommand is not None:
        return
    if node and not zk:
        farm = farm_for(node, None, cluster)
        with reported_errors():
            data = farm.pools()
        rows = sorted(({"name": p["name"], "nodes": sorted(p["render_nodes"]), "graphs": p["graphs"]} for p in data),
                      key=lambda r: r["name"])
        if json_:
            print_json(rows)
            return
        table = Table("pool", "nodes", "graphs")
        for r in rows:
            views.add_row(table, r["name"], ", ".join(r["nodes"]) or "-", ", ".join(map(str, r["graphs"])) or "-")
        console.print(table)
        return
    farm = settings_farm(zk, cluster)
    with reported_errors():
        defined = farm.cluster_pools()
    if json_:
        print_json(defined)
        return
    table = Table("pool", "nodes")
    for pool in defined:
        views.add_row(table, pool["name"], ", ".join(pool["nodes"]) or "-")
    console.print(table)


@pools_app.command("add")
@pools_app.command("create", hidden=True)
def pools_create(name: str, node: NodeOpt = None, zk: ZkOpt = None, cluster: ClusterOpt = "default") -> None:
    """Define a pool (graphs may name it before any node joins it). `create` is an alias.

    The leader writes it to ZooKeeper: a key of role operator or admin may.

    Example: `puli-mesh pools add gpu --node 127.0.0.1:8004` (or `--zk 127.0.0.1:2181`)
    """
    farm = farm_for(node, zk, cluster)
    with reported_errors():
        farm.define_pool(name)
    console.print(Text(f"pool {name} defined"))


@pools_app.command("set-nodes")
def pools_set_nodes(pool: str, names: Annotated[list[str] | None, typer.Argument(help="Render node names "
                                                                                "(none: empty the pool).")] = None,
                    node: NodeOpt = None, zk: ZkOpt = None, cluster: ClusterOpt = "default") -> None:
    """Make these render nodes the pool's members (Puli's pool membership edit): nodes named join
    it, the others leave it, kept when they join again (`puli-mesh nodes set NAME pools=` goes back
    to a node's own pools). What runs goes on; new work follows the new pools.

    Example: `puli-mesh pools set-nodes gpu rn12 rn13 --node 127.0.0.1:8004`
    """
    farm = farm_for(node, zk, cluster)
    with reported_errors():
        farm.set_pool_nodes(pool, names or [])
    console.print(Text(f"pool {pool}: " + (", ".join(names) if names else "no render nodes")))


# --------------------------------------------------------------------------- stats
SPARKS = " ▁▂▃▄▅▆▇█"
SPARK_WIDTH = 60


def sparkline(values: list[float], width: int = SPARK_WIDTH) -> str:
    """``values`` as one line of at most ``width`` block characters (each the mean of its run of
    values), scaled to their largest."""
    if not values:
        return ""
    runs = max(1, -(-len(values) // width))
    means = [sum(values[i:i + runs]) / len(values[i:i + runs]) for i in range(0, len(values), runs)]
    top = max(means) or 1.0
    return "".join(SPARKS[round(m / top * (len(SPARKS) - 1))] for m in means)


def history_lines(samples: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """(figure, sparkline, its last and largest values) per chart of ``stats --history``."""
    series: dict[str, list[float]] = {
        "finished/min": [s["finished_per_minute"] for s in samples],
        "queue": [s["ready"] for s in samples],
        "utilisation %": [100 * s["utilisation"] for s in samples],
    }
    for pool in sorted({p for s in samples for p in s.get("ready_by_pool", {})}):
        series[f"queue {pool}"] = [s.get("ready_by_pool", {}).get(pool, 0) for s in samples]
    for lic in sorted({k for s in samples for k in s.get("licences", {})}):
        series[f"licence {lic}"] = [s.get("licences", {}).get(lic, (0, 0))[0] for s in samples]
    return [(name, sparkline(values), f"{values[-1]:.0f} (max {max(values):.0f})") for name, values in series.items()]


def stats(node: NodeOpt = None, zk: ZkOpt = None, cluster: ClusterOpt = "default", json_: JsonOpt = False,
          history: Annotated[bool, typer.Option("--history", help="Charts of the last hours instead.")] = False,
          hours: Annotated[float, typer.Option(help="With --history: how many hours back.")] = 24.0) -> None:
    """The last hour, a line per minute: commands finished, queue depth, running, node use, licences;
    then jobs and render nodes by status now (Puli's /stats). With `--history`: a sparkline per
    figure over the last hours (a sample a minute, kept across a leader failover).

    Example: `puli-mesh stats --json > farm-stats.json`, `puli-mesh stats --history --hours 6`
    """
    farm = farm_for(node, zk, cluster)
    if history:
        with reported_errors():
            samples = farm.history(since=time.time() - hours * 3600)
        if json_:
            print_json(samples)
            return
        if not samples:
            console.print(Text("no samples yet: the leader takes one a minute"))
            return
        console.print(Text(f"{views.clock(samples[0]['start'])} .. {views.clock(samples[-1]['end'])}, "
                           f"{len(samples)} samples; done {samples[-1]['done_total']}, "
                           f"failed {samples[-1]['failed_total']} in all", style="bold"))
        table = Table("figure", "chart", "last", box=None, header_style="bold")
        for name, line, last in history_lines(samples):
            views.add_row(table, name, line, last)
        console.print(views.fit(table))
        return
    with reported_errors():
        data = farm.stats()
    if json_:
        print_json(data)
        return
    table = Table("minute", "done", "failed", "finished/min", "queue", "running", "nodes", "utilisation",
                  "licences", box=None, header_style="bold")
    for s in [*data["minutes"], data["current"]]:
        lics = " ".join(f"{k} {u}/{t}" for k, (u, t) in sorted(s["licences"].items())) or "-"
        label = views.clock(s["start"]) + (" (now)" if s is data["current"] else "")
        views.add_row(table, label, str(s["done"]), str(s["failed"]), f"{s['finished_per_minute']:.1f}",
                      str(s["ready"]), str(s["running"]), str(s["nodes_online"]), views.bar(s["utilisation"], 10), lics)
    console.print(views.fit(table))
    for title, counts in (("jobs", data.get("jobs_by_status", {})),
                          ("render nodes", data.get("render_nodes_by_status", {}))):
        parts = [views.status_text(name).append(f" {count}", style="") for name, count in counts.items()]
        console.print(Text(f"{title}: ", style="bold").append_text(Text("  ").join(parts)))
