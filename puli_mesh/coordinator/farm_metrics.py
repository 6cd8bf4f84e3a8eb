"""The leader's farm figures for Prometheus: the histograms the coordinator service observes
and the snapshot of the farm's gauges its loop takes, rendered as metric families.

``FarmObservations`` are two ``prometheus_client`` histograms (dispatch latency, journal batch
latency) that the service observes on its loop, one set per service (a new leader starts them
anew, as Prometheus expects of a restarted process). ``FarmGauges`` is the farm at one moment
(from the core's ``figures()`` and ``command_counts()`` and the stats' totals), taken by the
service only when a scrape asked for it and the last one is older than
:data:`FARM_GAUGES_MAX_AGE_S`: scraping costs the loop nothing per command, and a farm nobody
scrapes pays nothing but the histograms' observations. ``farm_families`` renders it.

Guarantees: pure (the service passes the time in); a ``FarmGauges`` is never changed once taken,
so another thread (the scrape) reads it whole. Not here: the registry, the node's own metrics,
HTTP (``puli_mesh.metrics``, the web layer).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from prometheus_client import Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from puli_mesh.coordinator.core import SchedulingCore
from puli_mesh.coordinator.stats import SAMPLE_SECONDS, FarmStats, hour_of

FARM_GAUGES_MAX_AGE_S = 10.0
"""How old the farm's gauges a scrape reads may be (the leader rebuilds them at most this often)."""

DISPATCH_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
JOURNAL_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class FarmObservations:
    """The leader's histograms, observed by the coordinator service on its loop (one per
    service: a new leader starts them anew, as Prometheus expects of a restarted counter)."""

    def __init__(self) -> None:
        # registry=None: collected by the agent's FarmCollector while this service leads
        self.dispatch_latency = Histogram(
            "puli_mesh_dispatch_latency_seconds",
            "From a node's request for work (READY, or a final update's credit) to its ASSIGN sent",
            buckets=DISPATCH_BUCKETS, registry=None)
        self.journal_batch_latency = Histogram(
            "puli_mesh_journal_batch_latency_seconds",
            "From a journal batch cut to ZooKeeper's confirmation that it is durable",
            buckets=JOURNAL_BUCKETS, registry=None)

    def collect(self) -> Iterator[Metric]:
        yield from self.dispatch_latency.collect()
        yield from self.journal_batch_latency.collect()


@dataclass(frozen=True, slots=True)
class FarmGauges:
    """The farm's figures at one moment, taken on the coordinator's loop (read only)."""

    taken_at: float
    """Monotonic time it was taken."""
    jobs_by_status: dict[str, int]
    commands_by_status: dict[str, int]
    ready_by_pool: dict[str, int]
    licences: dict[str, list[int]]
    """Licence -> [used, total]."""
    nodes_online: int
    slots: int
    busy_slots: int
    finished: dict[str, int] = field(default_factory=dict)
    """``done`` and ``failed``: commands finished since the farm's history began."""

    @classmethod
    def of(cls, taken_at: float, figures: dict[str, Any], commands: dict[str, int],
           finished: dict[str, int]) -> FarmGauges:
        """From the core's ``figures()`` and ``command_counts()`` and the stats' totals."""
        jobs = {k: v for k, v in figures.get("jobs_by_status", {}).items() if k != "TOTAL"}
        return cls(taken_at, jobs, dict(commands), dict(figures.get("ready_by_pool", {})),
                   {k: list(v) for k, v in figures.get("licences", {}).items()},
                   int(figures.get("nodes_online", 0)), int(figures.get("slots", 0)),
                   int(figures.get("busy_slots", 0)), dict(finished))


def _labelled(name: str, doc: str, label: str, values: dict[str, Any], index: int | None = None,
              kind: type[GaugeMetricFamily] | type[CounterMetricFamily] = GaugeMetricFamily) -> Metric:
    family = kind(name, doc, labels=[label])
    for key, value in sorted(values.items()):
        family.add_metric([key], value if index is None else value[index])
    return family


def farm_families(g: FarmGauges) -> Iterator[Metric]:
    yield _labelled("puli_mesh_jobs", "Jobs (graphs) by status", "status", g.jobs_by_status)
    yield _labelled("puli_mesh_commands", "Commands by status", "status", g.commands_by_status)
    yield _labelled("puli_mesh_commands_finished", "Commands finished (outcome done or failed) since the "
                    "farm's history began; goes on across a failover", "outcome", g.finished, kind=CounterMetricFamily)
    yield _labelled("puli_mesh_queue_depth", "READY commands per pool", "pool", g.ready_by_pool)
    yield _labelled("puli_mesh_licence_used", "Licence tokens in use", "licence", g.licences, 0)
    yield _labelled("puli_mesh_licence_total", "Licence tokens in all", "licence", g.licences, 1)
    yield GaugeMetricFamily("puli_mesh_render_nodes_online", "Render nodes online", value=g.nodes_online)
    yield GaugeMetricFamily("puli_mesh_slots", "Slots of the render nodes online", value=g.slots)
    yield GaugeMetricFamily("puli_mesh_slots_busy", "Slots running commands", value=g.busy_slots)


class HistoryStore(Protocol):
    """Where the leader keeps its per-minute samples: ``cluster_history.ZooKeeperHistory``."""

    def read(self) -> list[dict[str, Any]]:
        """Every sample kept (blocking: at takeover)."""
        ...

    def write_hour(self, hour: int, samples: list[dict[str, Any]], keep_from: int | None) -> None:
        """Store one hour's samples and drop the hours before ``keep_from`` (never blocks)."""
        ...


class FarmRecorder:
    """The leader's figures beside its core: the per-minute history (kept in ``store``), the
    gauges snapshot a scrape reads, the histograms and what their observations are timed from.
    The service calls it with the times it read (monotonic ``now_mono``, wall ``now``)."""

    __slots__ = ("stats", "store", "observations", "gauges", "gauges_wanted", "request_at",
                 "assign_waits", "batch_cut")

    def __init__(self, stats: FarmStats, store: HistoryStore | None = None) -> None:
        self.stats = stats
        self.store = store
        self.observations = FarmObservations()
        self.gauges: FarmGauges | None = None
        self.gauges_wanted = False
        """Set by a scrape (another thread): the next tick takes a snapshot if this one is old."""
        self.request_at: float | None = None
        """When the worker message being handled arrived: a request for work, if it is one."""
        self.assign_waits: dict[bytes, float] = {}
        """Peer -> when the request behind its oldest held ASSIGN arrived."""
        self.batch_cut: dict[int, float] = {}
        """Journal batch number -> when it was first written."""

    @classmethod
    def resumed(cls, store: HistoryStore | None, period: float = SAMPLE_SECONDS) -> FarmRecorder:
        """A new leader's: the figures of the leaders before it, read from ``store`` (blocking),
        and a sample every ``period`` seconds."""
        stats = FarmStats(period=period)
        if store is not None:
            stats.resume(store.read())
        return cls(stats, store)

    def minute(self, now: float, core: SchedulingCore) -> None:
        """Close the minute when it is over, and store its hour."""
        sample = self.stats.tick(now, core.figures)
        if sample is not None and self.store is not None:
            hour = hour_of(sample)
            self.store.write_hour(hour, self.stats.hour(hour), self.stats.oldest_hour())

    def refresh_gauges(self, now_mono: float, core: SchedulingCore) -> None:
        """A new snapshot if a scrape asked and the last one is older than FARM_GAUGES_MAX_AGE_S."""
        if not self.gauges_wanted or (self.gauges is not None
                                      and 0 <= now_mono - self.gauges.taken_at < FARM_GAUGES_MAX_AGE_S):
            return
        self.gauges_wanted = False
        totals = {"done": self.stats.done_total, "failed": self.stats.failed_total}
        self.gauges = FarmGauges.of(now_mono, core.figures(), core.command_counts(), totals)

    def assign_sent(self, now_mono: float) -> None:
        """An ASSIGN went out at once: its latency, if a request for work asked for it."""
        if self.request_at is not None:
            self.observations.dispatch_latency.observe(now_mono - self.request_at)

    def assign_held(self, peer: bytes) -> None:
        """An ASSIGN waits for the journal: timed from the request that asked for it."""
        if self.request_at is not None:
            self.assign_waits.setdefault(peer, self.request_at)

    def assigns_released(self, peer: bytes, now_mono: float) -> None:
        started = self.assign_waits.pop(peer, None)
        if started is not None:
            self.observations.dispatch_latency.observe(now_mono - started)

    def batch_written(self, number: int, now_mono: float) -> None:
        self.batch_cut.setdefault(number, now_mono)  # a rewrite keeps its first time

    def batch_durable(self, number: int, now_mono: float) -> None:
        started = self.batch_cut.pop(number, None)
        if started is not None:
            self.observations.journal_batch_latency.observe(now_mono - started)
