"""Formatting shared by the operating commands and ``puli-mesh top``: times, bars, statuses, tables.

Guarantees: pure functions returning strings or rich renderables (the clock is
an argument where it matters); status names come from :mod:`puliclient.status`.
Text a user chose (job, task, command, node, pool, licence and user names, tags,
messages) is shown exactly as given: cells and labels are built here as rich
``Text``, which rich never reads as markup (``[/]``, ``[bold]``) or emoji codes.

Not here: talking to the mesh, printing. Render node states (``idle``,
``draining``...) are the coordinator's words, only styled here.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Iterable, Mapping
from typing import Any

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from puliclient.query_fields import field_value
from puliclient.status import FINAL_NODE_STATUSES, CommandStatus, NodeStatus

# Graphs, tasks and commands share most names (a graph is RUNNING, so is a command).
_STATUS_STYLES: tuple[tuple[CommandStatus | NodeStatus, str], ...] = (
    (CommandStatus.BLOCKED, "dim"), (CommandStatus.READY, "cyan"), (CommandStatus.RUNNING, "yellow"),
    (CommandStatus.ASSIGNED, "yellow"), (CommandStatus.FINISHING, "yellow"), (CommandStatus.DONE, "green"),
    (CommandStatus.ERROR, "bold red"), (CommandStatus.TIMEOUT, "bold red"), (CommandStatus.CANCELED, "magenta"),
    (NodeStatus.PAUSED, "blue"),
)
_NODE_STATE_STYLES = {
    "idle": "green", "busy": "yellow", "paused": "blue", "draining": "blue", "quarantined": "red",
    "silent": "red", "gone": "dim", "connecting": "dim",
}
STATUS_STYLE = {status.name: style for status, style in _STATUS_STYLES} | _NODE_STATE_STYLES
# Command counts, most urgent first, with the short word a table cell shows.
COUNT_ORDER: tuple[tuple[str, str], ...] = tuple((status.name, short) for status, short in (
    (CommandStatus.RUNNING, "run"), (CommandStatus.ASSIGNED, "asg"), (CommandStatus.READY, "rdy"),
    (CommandStatus.BLOCKED, "blk"), (CommandStatus.ERROR, "err"), (CommandStatus.TIMEOUT, "tmo"),
    (CommandStatus.CANCELED, "cnl"), (CommandStatus.DONE, "done")))
# Columns whose free text may end in an ellipsis when a table is too wide (see `fit`).
SHRINKABLE = frozenset({"name", "task", "description", "message", "pools", "commands", "licences"})


def status_text(name: str) -> Text:
    return Text(name, style=STATUS_STYLE.get(name, ""))


def add_row(table: Table, *cells: RenderableType) -> None:
    """Add a row whose string cells show what they hold (rich would read a ``str`` cell as markup)."""
    table.add_row(*(Text(cell) if isinstance(cell, str) else cell for cell in cells))


def last_line(message: str | None, limit: int) -> str:
    """The last line of a command's message, at most ``limit`` characters ("" if none)."""
    lines = (message or "").strip().splitlines()
    return lines[-1][:limit] if lines else ""


def tree_label(n: dict[str, Any]) -> Text:
    """A graph, task group or task in ``show``'s tree: id, name, status, progress, counts."""
    label = Text.assemble((str(n["id"]), "bold"), f" {n['name']}  ", status_text(n["status_name"]),
                          f"  {n['completion'] * 100:.0f}%  {counts(n.get('command_counts', {}))}")
    if n.get("paused"):
        label.append("  paused", style="blue")
    strategy = n.get("strategy", "")
    if strategy and not strategy.endswith(".FifoStrategy"):  # FIFO, the default, goes unsaid
        label.append(f"  {strategy.rsplit('.', 1)[-1]}", style="dim")
    return label


def command_label(c: dict[str, Any]) -> Text:
    """A command in ``show``'s tree: status, progress, node, attempts and the last line of its message."""
    where = c.get("render_node") or c.get("last_node") or "-"
    label = Text.assemble(f"command {c['id']} {c['description']}  ", status_text(c["status_name"]),
                          f"  {c['completion'] * 100:.0f}%  on {where}  attempt {c['attempts']}/{c['max_attempt']}")
    last = last_line(c.get("message"), 60)
    if last:
        label.append(f"  {last}", style="dim")
    return label


def bar(fraction: float, width: int = 12, percent: bool = True) -> Text:
    """A progress bar of block characters (readable over ssh, no colour needed)."""
    fraction = min(max(float(fraction), 0.0), 1.0)
    filled = int(round(fraction * width))
    out = Text("█" * filled, style="green" if fraction >= 1 else "yellow")
    out.append("░" * (width - filled), style="dim")
    if percent:
        out.append(f" {fraction * 100:3.0f}%")
    return out


def duration(seconds: float | None) -> str:
    if seconds is None or seconds < 0:
        return "-"
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    if seconds < 86400:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d{seconds % 86400 // 3600:02d}h"


def clock(stamp: float | None, now: float | None = None) -> str:
    """Puli's format: time only if today, else month/day and time."""
    if not stamp:
        return "-"
    now = time.time() if now is None else now
    local = time.localtime(stamp)
    if time.strftime("%Y%m%d", local) == time.strftime("%Y%m%d", time.localtime(now)):
        return time.strftime("%H:%M:%S", local)
    return time.strftime("%m/%d %H:%M", local)


def timing(job: dict[str, Any], now: float | None = None) -> tuple[str, str, str]:
    """(started, elapsed, ETA) of a job or task: the ETA extrapolates its completion."""
    now = time.time() if now is None else now
    start, end = job.get("start_time"), job.get("end_time")
    if not start:
        return "-", "-", "-"
    elapsed = (end or now) - start
    completion = float(job.get("completion") or 0.0)
    if end or job.get("status") in FINAL_NODE_STATUSES:
        eta = "-"
    elif completion > 0.0:
        eta = duration(elapsed * (1.0 - completion) / completion)
    else:
        eta = "?"
    return clock(start, now), duration(elapsed), eta


def counts(command_counts: dict[str, int]) -> str:
    """``{"DONE": 5, "ERROR": 1}`` -> ``"1 err 5 done"`` (most urgent first)."""
    parts = [f"{command_counts[k]} {short}" for k, short in COUNT_ORDER if command_counts.get(k)]
    return " ".join(parts) or "-"


def fit(table: Table) -> Table:
    """One line per row: free-text cells end in an ellipsis; ids, statuses and bars keep their width."""
    for column in table.columns:
        column.no_wrap = True
        column.overflow = "ellipsis"
        header = str(column.header)
        if header in SHRINKABLE:
            column.min_width = min(len(header) + 2, 10)
        else:
            cells = [len(c.plain) if hasattr(c, "plain") else len(str(c)) for c in column._cells]
            column.min_width = max([len(header), *cells])
    return table


JOB_CSV_FIELDS = ("id", "name", "user", "status_name", "completion", "dispatchKey", "maxRN", "running",
                  "commandCount", "readyCommandCount", "doneCommandCount", "creation_time", "start_time",
                  "end_time", "pool")
"""The columns of ``jobs --csv`` when no ``-a`` picks them."""
NODE_CSV_FIELDS = ("name", "state", "pools", "slots", "running", "cores", "load", "ram_mb", "free_ram_mb",
                   "performance", "version", "endpoint")
"""The columns of ``nodes --csv`` when no ``-a`` picks them."""


def csv_cell(value: Any) -> str:
    """A value as one CSV cell: nothing for None, a list comma-joined, a map as JSON."""
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return ",".join(map(str, value))
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    return str(value)


def csv_text(rows: Iterable[Mapping[str, Any]], fields: list[str], headers: list[str]) -> str:
    """pul_query's ``--csv``: ``;``-separated, a header row (``headers``), one row each; quoted
    by the ``csv`` module's rules (a ``;`` or a quote inside a cell), so any CSV reader given
    ``delimiter=";"`` reads it back."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\n")
    writer.writerow(headers)
    for row in rows:
        writer.writerow([csv_cell(field_value(row, f)) for f in fields])
    return out.getvalue()


def selected(rows: Iterable[Mapping[str, Any]], fields: list[str], headers: list[str]) -> list[dict[str, Any]]:
    """Only the chosen fields of each row, named as the user typed them (``--json -a``)."""
    return [{h: field_value(row, f) for f, h in zip(fields, headers, strict=True)} for row in rows]


def avoidance_text(node: Mapping[str, Any], now: float | None = None) -> str:
    """Why a node row gets less work than it could: ``avoided by job 3 until 14:02, 2 retries``
    (a row's ``avoided_by`` / ``avoided_by_commands``); empty when nothing avoids it."""
    parts = [f"avoided by job {a['job']} until {clock(a['until'], now)}" for a in node.get("avoided_by") or ()]
    retries = len(node.get("avoided_by_commands") or ())
    if retries:
        parts.append(f"{retries} failed command{'s' if retries > 1 else ''} retry elsewhere")
    return ", ".join(parts)
