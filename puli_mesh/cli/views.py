"""Formatting shared by the operating commands and ``puli-mesh top``: times, bars, statuses.

Pure functions returning strings or rich renderables; nothing here talks to the mesh.
"""

from __future__ import annotations

import time
from typing import Any

from rich.text import Text

STATUS_STYLE = {
    "BLOCKED": "dim", "READY": "cyan", "RUNNING": "yellow", "ASSIGNED": "yellow", "FINISHING": "yellow",
    "DONE": "green", "ERROR": "bold red", "TIMEOUT": "bold red", "CANCELED": "magenta", "PAUSED": "blue",
    "idle": "green", "busy": "yellow", "paused": "blue", "draining": "blue", "quarantined": "red",
    "silent": "red", "gone": "dim", "connecting": "dim",
}
COUNT_ORDER = (("RUNNING", "run"), ("ASSIGNED", "asg"), ("READY", "rdy"), ("BLOCKED", "blk"),
               ("ERROR", "err"), ("TIMEOUT", "tmo"), ("CANCELED", "cnl"), ("DONE", "done"))


def status_text(name: str) -> Text:
    return Text(name, style=STATUS_STYLE.get(name, ""))


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
    if end or job.get("status_name") in ("DONE", "ERROR", "CANCELED"):
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


def parse_since(value: str, now: float | None = None) -> float:
    """``2h``, ``30m``, ``1d``, ``45s``, an epoch or ``YYYY-mm-dd[ HH:MM[:SS]]`` -> epoch seconds."""
    now = time.time() if now is None else now
    value = value.strip()
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    if value and value[-1] in units and value[:-1].replace(".", "", 1).isdigit():
        return now - float(value[:-1]) * units[value[-1]]
    try:
        return float(value)
    except ValueError:
        pass
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"):
        try:
            return time.mktime(time.strptime(value, fmt))
        except ValueError:
            continue
    raise ValueError(f"--since {value!r}: give a duration (2h, 30m, 1d) or a date (2024-05-01 12:00)")
