"""``puli-mesh top``: a live full-screen view of the mesh (leader, nodes, running commands, jobs, licences,
and the share accounts' and quotas' use when some pool has a share tree or a quota exists: ``top_shares``).

Redraws in place once a second with rich ``Live`` on the alternate screen (no
flicker, the terminal is restored on exit) and fits an 80-column terminal.
Keys are read from the tty in cbreak mode with ``select`` (never blocking the
redraw): ``q`` quits, Ctrl-C too.

Guarantees: a failing request never ends the view: its error is shown and the
next refresh asks again. Not here: formatting helpers (``views``), the farm's API.
"""

from __future__ import annotations

import contextlib
import select
import sys
import termios
import time
import tty
from collections.abc import Iterator
from typing import Annotated, Any

import typer
from rich.console import Group
from rich.layout import Layout
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

import puli_mesh.cli.top_shares as top_shares
import puli_mesh.cli.views as views
from puli_mesh.cli.common import ClusterOpt, NodeOpt, ZkOpt, console, farm_for
from puliclient.errors import Error as PuliclientError
from puliclient.farm import Farm
from puliclient.status import RUNNING_COMMAND_STATUSES, NodeStatus

# Shown first in the jobs panel: what may still need someone (an ERROR job may be restarted).
SETTLED_JOBS = frozenset({NodeStatus.DONE.name, NodeStatus.CANCELED.name})
RUNNING_NAMES = [status.name for status in sorted(RUNNING_COMMAND_STATUSES)]


@contextlib.contextmanager
def cbreak_keys() -> Iterator[Any]:
    """Yield a ``poll(timeout) -> str | None`` that returns a pressed key, if any."""
    stream = sys.stdin
    if not stream.isatty():
        yield lambda timeout: (time.sleep(timeout), None)[1]
        return
    fd = stream.fileno()
    saved = termios.tcgetattr(fd)
    tty.setcbreak(fd)
    try:
        def poll(timeout: float) -> str | None:
            ready, _, _ = select.select([fd], [], [], timeout)
            if not ready:
                return None
            import os

            return os.read(fd, 16).decode(errors="replace")

        yield poll
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


TOP_NODES = 10
"""Nodes one frame lists (the panel's rows): the leader sends those that may need someone first,
and a summary of every node, so a frame costs it the same on a farm of 2,000 nodes as of 20."""

TOP_RUNNING = 12
"""Running commands one frame lists (their panel's rows); the summary counts them all."""


def snapshot(farm: Farm) -> dict[str, Any]:
    """Everything one frame shows, in four requests; six when the status says some pool has a share
    tree or a quota exists (its ``shares``; a leader without that field: always), else ``shares``
    and ``quotas`` are empty. So a farm without shares pays nothing for the panel."""
    status = farm.status(nodes_limit=TOP_NODES)
    jobs = farm.jobs()
    running = farm.commands(status=RUNNING_NAMES, limit=TOP_RUNNING)
    licences = farm.licences()
    with_shares = status.get("shares", True)
    shares = farm.shares() if with_shares else []
    quotas = farm.quotas() if with_shares else []
    return {"status": status, "jobs": jobs, "running": running, "licences": licences, "shares": shares,
            "quotas": quotas, "at": time.time()}


def summarise(nodes: list[dict[str, Any]]) -> dict[str, Any]:
    """A bounded status's ``summary`` of a whole list of nodes."""
    states: dict[str, int] = {}
    for n in nodes:
        states[n["state"]] = states.get(n["state"], 0) + 1
    return {"nodes": len(nodes), "states": states, "running": sum(n.get("running", 0) for n in nodes),
            "slots": sum(n.get("slots", 0) for n in nodes if n["state"] != "gone")}


def render(data: dict[str, Any] | None, error: str | None) -> Layout:
    layout = Layout()
    if data is None:
        layout.update(Panel(Text(error or "connecting...", style="red" if error else "dim"), title="puli-mesh top"))
        return layout
    status = data["status"]
    summary = status.get("summary") or summarise(status["nodes"])  # none from a leader before issue 14
    busy, slots = summary["running"], summary["slots"]
    # Most useful first: on a narrow terminal the long cluster name is what gets cut.
    header = Text.assemble(
        (time.strftime("%H:%M:%S", time.localtime(data["at"])), "dim"), "  leader ",
        (str(status["leader"]), "bold"), f"  epoch {status['epoch']}  slots {busy}/{slots}  jobs {len(data['jobs'])}",
        ("  q quit", "dim"), f"  cluster {status['cluster']}", no_wrap=True, overflow="ellipsis")
    if not status.get("secured", True):
        header = Text.assemble(("INSECURE  ", "bold red"), header, no_wrap=True, overflow="ellipsis")
    if error:
        header = Text.assemble((error, "red"), no_wrap=True, overflow="ellipsis")

    nodes = Table("node", "state", "use", "cpu", "free", box=None, expand=True, header_style="bold")
    for n in status["nodes"]:
        use = n.get("running", 0) / n["slots"] if n.get("slots") else 0.0
        used = views.bar(use, 6, percent=False).append(f" {n.get('running', 0)}/{n.get('slots', 0)}")
        state = views.status_text(n["state"])
        if n.get("reason"):  # the node paused itself: its killfile, or its user (``nimby: user active``)
            state.append(f" ({n['reason']})")
        views.add_row(nodes, n["name"] + ("*" if n.get("leader") else ""), state,
                      used, f"{n.get('cpu_percent', 0):.0f}%", f"{n.get('free_ram_mb', 0)}M")
    lics = Table("licence", "used", box=None, expand=True, header_style="bold")
    for lic in data["licences"]:
        share = views.bar(lic["used"] / lic["total"] if lic["total"] else 0, 8, percent=False)
        views.add_row(lics, lic["name"], share.append(f" {lic['used']}/{lic['total']}"))

    running = Table("cmd", "job", "description", "node", "progress", box=None, expand=True, header_style="bold")
    for c in data["running"][:TOP_RUNNING]:
        views.add_row(running, str(c["id"]), str(c["graph_id"]), c["description"][:24], c.get("render_node") or "-",
                      views.bar(c["completion"], 8))
    jobs = Table("id", "job", "user", "status", "progress", "eta", box=None, expand=True, header_style="bold")
    unfinished = [j for j in data["jobs"] if j["status_name"] not in SETTLED_JOBS]
    finished = [j for j in data["jobs"] if j["status_name"] in SETTLED_JOBS]
    for j in sorted(unfinished, key=lambda j: j["id"])[:12] + sorted(finished, key=lambda j: -j["id"])[:4]:
        views.add_row(jobs, str(j["id"]), j["name"][:22], j.get("user", "")[:8], views.status_text(j["status_name"]),
                      views.bar(j["completion"], 8), views.timing(j, data["at"])[2])

    for table in (nodes, lics, running, jobs):
        for column in table.columns:
            column.no_wrap = True
            column.overflow = "ellipsis"
    top_rows = max(len(status["nodes"]), len(data["licences"]), 1)
    layout.split_column(Layout(header, size=1), Layout(name="top", size=min(top_rows, 10) + 3),
                        Layout(name="bottom"))
    shown = len(status["nodes"])
    title = "nodes" if shown >= summary["nodes"] else f"nodes ({shown} of {summary['nodes']}: " + ", ".join(
        f"{k} {n}" for k, n in summary["states"].items()) + ")"
    layout["top"].split_row(Layout(Panel(nodes, title=title), ratio=5),
                            Layout(Panel(lics, title="licences"), ratio=3))
    running_rows = min(max(len(data["running"]), 1), 8)
    # a full page is only the first ones: the summary counts every command holding a slot
    running_count = len(data["running"]) if len(data["running"]) < TOP_RUNNING else max(busy, len(data["running"]))
    bottom = [Layout(Panel(running, title=f"running ({running_count})"), size=running_rows + 3)]
    shares, quotas = data.get("shares") or [], data.get("quotas") or []  # none: no panel
    if shares or quotas:
        lines = top_shares.share_lines(shares, quotas)
        bottom.append(Layout(Panel(top_shares.shares_table(lines), title=top_shares.shares_title(
            len(lines), len(shares) + len(quotas), top_shares.preempting(shares))), size=len(lines) + 3))
    layout["bottom"].split_column(*bottom, Layout(Panel(Group(jobs), title="jobs")))
    return layout


def top(node: NodeOpt = None, zk: ZkOpt = None, cluster: ClusterOpt = "default",
        interval: Annotated[float, typer.Option(help="Seconds between refreshes.")] = 1.0) -> None:
    """A live view of the mesh: leader, nodes with their use, running commands, share accounts, jobs, licences. q quits.

    Example: `puli-mesh top --node 127.0.0.1:8004`
    """
    farm = farm_for(node, zk, cluster)
    data: dict[str, Any] | None = None
    error: str | None = None
    try:
        with cbreak_keys() as poll, Live(render(None, None), console=console, screen=True,
                                          auto_refresh=False, transient=True) as live:
            while True:
                try:
                    data, error = snapshot(farm), None
                except PuliclientError as exc:  # the farm's errors: shown, and the next frame tries again
                    error = f"{exc} (retrying)"
                live.update(render(data, error), refresh=True)
                deadline = time.monotonic() + interval
                while (left := deadline - time.monotonic()) > 0:
                    key = poll(left)
                    if key and key[:1] in ("q", "Q"):
                        return
    except KeyboardInterrupt:
        return
