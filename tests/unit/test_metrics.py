"""An agent's /metrics, rendered from a leader's service and a follower, parsed with
prometheus_client's own parser."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from puli_mesh.coordinator.records import HelloRecord, ReadyRecord, SubmitRecord
from puli_mesh.metrics import AgentMetrics
from puli_mesh.node.role import RoleState
from tests.unit.coordinator.graphs import rn, single
from tests.unit.coordinator.test_service import make_shell


@dataclass
class StubWorker:
    running: dict[int, Any] = field(default_factory=dict)
    commands_run: int = 0
    commands_failed: int = 0
    linked: bool = True


def scrape(metrics: AgentMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    body, content_type = metrics.render()
    assert content_type.startswith("text/plain")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(body.decode()) for s in family.samples}


def test_a_follower_exports_its_node_and_no_farm() -> None:
    agent = SimpleNamespace(settings=SimpleNamespace(slots=4), service=None, role=SimpleNamespace(
        state=RoleState.FOLLOWING), worker=StubWorker({7: None}, commands_run=5, commands_failed=2, linked=False))
    values = scrape(AgentMetrics(agent))
    assert values[("puli_mesh_leader", ())] == 0
    assert values[("puli_mesh_node_slots", ())] == 4 and values[("puli_mesh_node_slots_in_use", ())] == 1
    assert values[("puli_mesh_node_commands_run_total", ())] == 5
    assert values[("puli_mesh_node_commands_failed_total", ())] == 2
    assert values[("puli_mesh_node_linked", ())] == 0
    assert values[("puli_mesh_node_role", (("state", "following"),))] == 1
    assert values[("puli_mesh_node_ram_bytes", ())] > 0
    assert not [name for name, _ in values if name.startswith(("puli_mesh_epoch", "puli_mesh_jobs"))]


def test_the_leader_exports_the_farm_from_its_cores_figures(monkeypatch: pytest.MonkeyPatch) -> None:
    shell = make_shell(monkeypatch)
    service = shell.service
    service.run(SubmitRecord(single("t", 3), 1000.0))
    service.run(HelloRecord(rn("w1", slots=2), (), 1000.0))
    service.run(ReadyRecord("w1", 1, 1000.0))
    service.core.set_licence("maya", 5, 1000.0)
    agent = SimpleNamespace(settings=SimpleNamespace(slots=2), service=service, worker=StubWorker(),
                            role=SimpleNamespace(state=RoleState.LEADING))
    metrics = AgentMetrics(agent)
    first = scrape(metrics)
    assert first[("puli_mesh_leader", ())] == 1 and first[("puli_mesh_epoch", ())] == 3
    assert first[("puli_mesh_leaderships_total", ())] == 3
    assert first[("puli_mesh_dispatch_latency_seconds_count", ())] == 0
    assert ("puli_mesh_jobs", (("status", "RUNNING"),)) not in first  # the loop has not taken them yet
    service.tick()  # the loop's turn: a scrape asked, so the gauges are taken
    values = scrape(metrics)
    assert values[("puli_mesh_jobs", (("status", "RUNNING"),))] == 1
    assert values[("puli_mesh_commands", (("status", "READY"),))] == 2
    assert values[("puli_mesh_commands", (("status", "ASSIGNED"),))] == 1
    assert values[("puli_mesh_queue_depth", (("pool", "default"),))] == 2
    assert values[("puli_mesh_licence_total", (("licence", "maya"),))] == 5
    assert values[("puli_mesh_licence_used", (("licence", "maya"),))] == 0
    assert (values[("puli_mesh_slots", ())], values[("puli_mesh_slots_busy", ())]) == (2, 1)
    assert values[("puli_mesh_commands_finished_total", (("outcome", "done"),))] == 0
    assert ("puli_mesh_journal_batch_latency_seconds_bucket", (("le", "+Inf"),)) in values


def test_each_agent_has_its_own_registry() -> None:
    def agent(slots: int) -> Any:
        return SimpleNamespace(settings=SimpleNamespace(slots=slots), service=None, worker=StubWorker(),
                               role=SimpleNamespace(state=RoleState.FOLLOWING))

    one, two = AgentMetrics(agent(1)), AgentMetrics(agent(2))
    assert scrape(one)[("puli_mesh_node_slots", ())] == 1 and scrape(two)[("puli_mesh_node_slots", ())] == 2
