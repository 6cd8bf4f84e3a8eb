"""Farm figures over the last hours, a sample a minute, that a new leader reads back.

Example::

    stats = FarmStats()
    stats.resume(store.read())                          # a new leader: the kept history
    stats.command_finished(CommandStatus.DONE)          # from the service, per final update
    sample = stats.tick(time.time(), core.figures)      # from the service's tick: a closed minute, or None
    stats.report(time.time(), core.figures())           # {"minutes": [...], "current": {...}, "totals": {...}}
    stats.since(time.time() - 3600)                     # the history query

One sample per minute: commands finished in that minute (DONE and failed), the totals since
the farm's history began (``done_total``, ``failed_total``: they go on across a failover, from
the last sample kept), and gauges read at its end -- queue depth (READY commands) in all and
per pool, running commands, nodes online, slots and busy slots (utilisation), licence usage.
A report adds the counts of Puli's /stats as they are now: jobs and render nodes by status.

The history is grouped in hours (:func:`hour_of` a sample's start): the shell stores each
closed minute's hour whole (one ZooKeeper znode an hour, ``cluster_history``), and at most
``history_hours`` hours are kept (the oldest dropped first, :meth:`FarmStats.oldest_hour`).
A sample names at most :data:`SAMPLE_KEYS_MAX` pools and licences (the busiest) and an hour keeps
at most :data:`HOUR_SAMPLES_MAX` samples, so an hour stays far below ZooKeeper's 1 MB node
limit (60 samples of ~4 KB at most).

Cost: a counter increment per finished command; one ``figures()`` call (a scan of graphs and
nodes, not of commands) per minute.

Guarantees: pure (time is an argument); nothing here reads a clock or ZooKeeper.
Not kept: the minute in progress across a failover (its finished commands are not in any
sample: at most a minute of them is missing from the totals).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from puli_mesh.coordinator.tree import C_DONE, C_FINAL

SAMPLE_SECONDS = 60.0
KEEP_SAMPLES = 60
"""Samples of ``stats`` (the last hour)."""
HISTORY_HOURS = 24
"""Hours of samples kept for the charts and the history query."""
HOUR_S = 3600
HOUR_SAMPLES_MAX = 60
"""Samples one hour keeps (a period under a minute, for tests, keeps the newest of each hour)."""
SAMPLE_KEYS_MAX = 64
"""Pools (and licences) one sample names: the ones with the most READY commands (in use)."""


def hour_of(sample: dict[str, Any]) -> int:
    """The hour a sample belongs to (hours since the epoch, of its start)."""
    return int(sample["start"] // HOUR_S)


def _busiest(values: dict[str, Any], key: Callable[[Any], float]) -> dict[str, Any]:
    if len(values) <= SAMPLE_KEYS_MAX:
        return dict(values)
    return dict(sorted(values.items(), key=lambda kv: (-key(kv[1]), kv[0]))[:SAMPLE_KEYS_MAX])


class FarmStats:
    """Per-minute samples of throughput, queue depth, utilisation and licence usage."""

    def __init__(self, keep: int = KEEP_SAMPLES, period: float = SAMPLE_SECONDS,
                 history_hours: int = HISTORY_HOURS) -> None:
        self.period = period
        self.samples: deque[dict[str, Any]] = deque(maxlen=keep)
        self.history_hours = history_hours
        self.hours: dict[int, list[dict[str, Any]]] = {}
        """Hour (:func:`hour_of`) -> its samples, oldest first; the newest ``history_hours`` hours."""
        self.done_total = 0
        self.failed_total = 0
        self._start: float | None = None  # start of the minute being counted
        self._done = 0
        self._failed = 0

    def resume(self, samples: Iterable[dict[str, Any]]) -> None:
        """Take the kept history (a new leader's, read from its store): samples in any order;
        the totals go on from the newest one."""
        ordered = sorted(samples, key=lambda s: s["start"])
        for sample in ordered:
            self._keep(sample)
        if ordered:
            last = ordered[-1]
            self.done_total = max(self.done_total, int(last.get("done_total", 0)))
            self.failed_total = max(self.failed_total, int(last.get("failed_total", 0)))

    def command_finished(self, status: int) -> None:
        """Count one command that ended (DONE, ERROR, TIMEOUT or CANCELED by its worker)."""
        if status == C_DONE:
            self._done += 1
        elif status in C_FINAL:
            self._failed += 1

    def tick(self, now: float, figures: Callable[[], dict[str, Any]]) -> dict[str, Any] | None:
        """Close the current minute when it is over (``figures`` is only called then): the
        sample closed, for the shell to store its hour (:meth:`hour`), or None."""
        if self._start is None:
            self._start = now
            return None
        if now - self._start < self.period:
            return None
        self.done_total += self._done
        self.failed_total += self._failed
        sample = self._sample(self._start, now, figures())
        self._keep(sample)
        self._start = now
        self._done = self._failed = 0
        return sample

    def _keep(self, sample: dict[str, Any]) -> None:
        self.samples.append(sample)
        hour = self.hours.setdefault(hour_of(sample), [])
        hour.append(sample)
        del hour[:-HOUR_SAMPLES_MAX]
        while len(self.hours) > self.history_hours:
            del self.hours[min(self.hours)]

    def hour(self, hour: int) -> list[dict[str, Any]]:
        """The samples of one hour kept, oldest first (what the shell stores for that hour)."""
        return list(self.hours.get(hour, ()))

    def oldest_hour(self) -> int | None:
        """The oldest hour kept: the store drops the hours before it."""
        return min(self.hours) if self.hours else None

    def since(self, since: float) -> list[dict[str, Any]]:
        """Every kept sample that started at or after ``since``, oldest first."""
        first = int(since // HOUR_S)
        return [s for h in sorted(self.hours) if h >= first for s in self.hours[h] if s["start"] >= since]

    def _sample(self, start: float, end: float, figures: dict[str, Any]) -> dict[str, Any]:
        minutes = max(end - start, 1e-9) / 60.0
        slots = int(figures.get("slots", 0))
        return {
            "start": start,
            "end": end,
            "done": self._done,
            "failed": self._failed,
            "done_total": self.done_total,
            "failed_total": self.failed_total,
            "finished_per_minute": (self._done + self._failed) / minutes,
            "ready": int(figures.get("ready", 0)),
            "ready_by_pool": _busiest(dict(figures.get("ready_by_pool", {})), float),
            "running": int(figures.get("running", 0)),
            "nodes_online": int(figures.get("nodes_online", 0)),
            "slots": slots,
            "busy_slots": int(figures.get("busy_slots", 0)),
            "utilisation": figures.get("busy_slots", 0) / slots if slots else 0.0,
            "licences": _busiest({k: list(v) for k, v in dict(figures.get("licences", {})).items()},
                                 lambda used_total: used_total[0]),
        }

    def report(self, now: float, figures: dict[str, Any]) -> dict[str, Any]:
        """The last closed minutes, oldest first, the minute in progress (gauges read now), the
        totals (including the minute in progress), and as Puli's /stats gave them now: jobs and
        render nodes by status, each with a ``TOTAL``."""
        start = self._start if self._start is not None else now
        return {"period_s": self.period, "minutes": list(self.samples),
                "current": self._sample(start, now, figures),
                "totals": {"done": self.done_total + self._done, "failed": self.failed_total + self._failed},
                "jobs_by_status": dict(figures.get("jobs_by_status", {})),
                "render_nodes_by_status": dict(figures.get("render_nodes_by_status", {}))}
