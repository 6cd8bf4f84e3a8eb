"""Farm figures over the last hour, kept in the coordinator's memory (no database).

Example::

    stats = FarmStats()
    stats.command_finished(CommandStatus.DONE)        # from the service, per final update
    stats.tick(time.time(), core.figures)               # from the service's tick
    stats.report(time.time(), core.figures())           # {"minutes": [...], "current": {...}}

A ring buffer of one sample per minute (60 by default): commands finished in
that minute (DONE and failed), and gauges read at its end -- queue depth (READY
commands), running commands, nodes online, slots and busy slots, licence usage. A report
adds the counts of Puli's /stats as they are now: jobs and render nodes by status.
Cost: a counter increment per finished command; one ``figures()`` call (a scan
of graphs and nodes, not of commands) per minute.

Not kept: anything across a failover (a new leader starts an empty buffer) or
older than the buffer; export with ``puli-mesh stats --json`` for longer series.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from puli_mesh.coordinator.tree import C_DONE, C_FINAL

SAMPLE_SECONDS = 60.0
KEEP_SAMPLES = 60


class FarmStats:
    """Per-minute samples of throughput, queue depth, utilisation and licence usage."""

    def __init__(self, keep: int = KEEP_SAMPLES, period: float = SAMPLE_SECONDS) -> None:
        self.period = period
        self.samples: deque[dict[str, Any]] = deque(maxlen=keep)
        self._start: float | None = None  # start of the minute being counted
        self._done = 0
        self._failed = 0

    def command_finished(self, status: int) -> None:
        """Count one command that ended (DONE, ERROR, TIMEOUT or CANCELED by its worker)."""
        if status == C_DONE:
            self._done += 1
        elif status in C_FINAL:
            self._failed += 1

    def tick(self, now: float, figures: Callable[[], dict[str, Any]]) -> None:
        """Close the current minute when it is over (``figures`` is only called then)."""
        if self._start is None:
            self._start = now
            return
        if now - self._start < self.period:
            return
        self.samples.append(self._sample(self._start, now, figures()))
        self._start = now
        self._done = self._failed = 0

    def _sample(self, start: float, end: float, figures: dict[str, Any]) -> dict[str, Any]:
        minutes = max(end - start, 1e-9) / 60.0
        slots = int(figures.get("slots", 0))
        return {
            "start": start,
            "end": end,
            "done": self._done,
            "failed": self._failed,
            "finished_per_minute": (self._done + self._failed) / minutes,
            "ready": int(figures.get("ready", 0)),
            "running": int(figures.get("running", 0)),
            "nodes_online": int(figures.get("nodes_online", 0)),
            "slots": slots,
            "busy_slots": int(figures.get("busy_slots", 0)),
            "utilisation": figures.get("busy_slots", 0) / slots if slots else 0.0,
            "licences": {k: list(v) for k, v in dict(figures.get("licences", {})).items()},
        }

    def report(self, now: float, figures: dict[str, Any]) -> dict[str, Any]:
        """Every closed minute, oldest first, the minute in progress (gauges read now), and as
        Puli's /stats gave them now: jobs and render nodes by status, each with a ``TOTAL``."""
        start = self._start if self._start is not None else now
        return {"period_s": self.period, "minutes": list(self.samples),
                "current": self._sample(start, now, figures),
                "jobs_by_status": dict(figures.get("jobs_by_status", {})),
                "render_nodes_by_status": dict(figures.get("render_nodes_by_status", {}))}
