"""Prometheus metrics of one agent: its node always, the farm while it leads.

Example (the web layer mounts ``render`` at ``/metrics``)::

    metrics = AgentMetrics(agent)
    body, content_type = metrics.render()

One :class:`prometheus_client.CollectorRegistry` per agent (never the global default: tests run
several agents in one process), filled by two custom collectors that read the agent on scrape:

* :class:`NodeCollector` (every agent): ``puli_mesh_node_*`` -- slots and slots in use, commands
  run and failed here, CPU, RAM, whether its worker is linked to a leader, and the agent's role.
* :class:`FarmCollector`: ``puli_mesh_leader`` (1 on the leader, 0 elsewhere) on every agent;
  the farm's figures only on the leader -- jobs and commands by status, queue depth per pool,
  licences used and total, nodes and slots, commands finished (totals that go on across a
  failover), the epoch and the leaderships taken, and the two histograms the coordinator
  service observes (``farm_metrics.FarmObservations``): dispatch latency and journal batch latency.

Guarantees: a scrape never walks the core on the scraping thread: the farm's gauges are a
snapshot the coordinator's loop takes (``FarmRecorder.gauges``) when a scrape asked
for them and the last one is older than ``farm_metrics.FARM_GAUGES_MAX_AGE_S``, so a scrape costs
O(pools + licences + statuses), and a farm nobody scrapes pays nothing but the histograms'
observations. Not here: HTTP (the web layer serves ``render``), reading ZooKeeper.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from puli_mesh.coordinator.farm_metrics import FarmRecorder, farm_families
from puli_mesh.node.resources import read_resources


class LeaderView(Protocol):
    """What the farm collector reads of the coordinator service."""

    epoch: int
    recorder: FarmRecorder


class WorkerView(Protocol):
    running: dict[int, Any]
    commands_run: int
    commands_failed: int

    @property
    def linked(self) -> bool: ...


class AgentView(Protocol):
    """What the collectors read of an agent (``node.agent.Agent``)."""

    settings: Any
    worker: WorkerView
    service: Any
    role: Any


class FarmCollector:
    """The leader's view of the farm; ``puli_mesh_leader`` 0 and nothing else on a follower."""

    def __init__(self, agent: AgentView) -> None:
        self.agent = agent

    def describe(self) -> list[Metric]:
        return []  # not collected at registration: the agent may not be started yet

    def collect(self) -> Iterator[Metric]:
        service: LeaderView | None = self.agent.service  # one read: the loop may drop it meanwhile
        yield GaugeMetricFamily("puli_mesh_leader", "1 on the agent leading the cluster, else 0",
                                value=0 if service is None else 1)
        if service is None:
            return
        recorder = service.recorder
        recorder.gauges_wanted = True  # the loop takes a fresh snapshot when this one is old
        yield GaugeMetricFamily("puli_mesh_epoch", "The leader's epoch (its fencing token)", value=service.epoch)
        yield CounterMetricFamily("puli_mesh_leaderships", "Leaderships taken in this cluster (the epoch "
                                  "counter, kept in ZooKeeper): each one after the first is a failover",
                                  value=service.epoch)
        yield from recorder.observations.collect()
        gauges = recorder.gauges
        if gauges is not None:
            yield from farm_families(gauges)


class NodeCollector:
    """This agent's render node: what its worker runs, its machine, its link and role."""

    def __init__(self, agent: AgentView) -> None:
        self.agent = agent

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        agent = self.agent
        worker = agent.worker
        res = read_resources()
        yield GaugeMetricFamily("puli_mesh_node_slots", "Commands this node runs at once", value=agent.settings.slots)
        yield GaugeMetricFamily("puli_mesh_node_slots_in_use", "Commands running here", value=len(worker.running))
        yield CounterMetricFamily("puli_mesh_node_commands_run", "Commands that ended here (any final status)",
                                  value=worker.commands_run)
        yield CounterMetricFamily("puli_mesh_node_commands_failed", "Commands that ended here in ERROR or "
                                  "TIMEOUT", value=worker.commands_failed)
        yield GaugeMetricFamily("puli_mesh_node_cpu_percent", "CPU use of the machine, %", value=res.cpu_percent)
        yield GaugeMetricFamily("puli_mesh_node_ram_bytes", "RAM of the machine", value=res.ram_mb * 2**20)
        yield GaugeMetricFamily("puli_mesh_node_ram_free_bytes", "RAM available", value=res.free_ram_mb * 2**20)
        yield GaugeMetricFamily("puli_mesh_node_linked", "1 while the worker is welcomed by a leader",
                                value=1 if worker.linked else 0)
        role = GaugeMetricFamily("puli_mesh_node_role", "The agent's role: 1 for its state", labels=["state"])
        role.add_metric([str(agent.role.state.value)], 1)
        yield role


class AgentMetrics:
    """One agent's registry and its rendering in Prometheus' text format."""

    def __init__(self, agent: AgentView) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(NodeCollector(agent))  # type: ignore[arg-type]
        self.registry.register(FarmCollector(agent))  # type: ignore[arg-type]

    def render(self) -> tuple[bytes, str]:
        """The body of a ``/metrics`` answer and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
