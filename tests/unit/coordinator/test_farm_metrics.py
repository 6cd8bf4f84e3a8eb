"""The leader's figures beside its core: history kept in a store, gauges taken when asked,
dispatch and journal latencies observed by the service shell (in memory, a fake clock)."""

from __future__ import annotations

from typing import Any

import pytest

from puli_mesh.coordinator.core import SchedulingCore
from puli_mesh.coordinator.farm_metrics import FARM_GAUGES_MAX_AGE_S, FarmRecorder
from puli_mesh.coordinator.records import SubmitRecord
from puli_mesh.coordinator.stats import FarmStats
from puli_mesh.protocol import ReadyMessage, UpdateMessage
from puliclient.status import CommandStatus

from .graphs import rn, single
from .test_service import make_shell


class MemoryHistory:
    """A HistoryStore in memory: hour -> samples, as ZooKeeper would keep them."""

    def __init__(self, samples: list[dict[str, Any]] | None = None) -> None:
        self.hours: dict[int, list[dict[str, Any]]] = {}
        for s in samples or []:
            self.hours.setdefault(int(s["start"] // 3600), []).append(s)
        self.dropped_before: list[int | None] = []

    def read(self) -> list[dict[str, Any]]:
        return [s for hour in self.hours.values() for s in hour]

    def write_hour(self, hour: int, samples: list[dict[str, Any]], keep_from: int | None) -> None:
        self.hours[hour] = list(samples)
        self.dropped_before.append(keep_from)
        self.hours = {h: v for h, v in self.hours.items() if keep_from is None or h >= keep_from}


def histogram(recorder: FarmRecorder, name: str) -> tuple[float, float]:
    """(count, sum) of one of the recorder's histograms."""
    (family,) = [f for f in recorder.observations.collect() if f.name == name]
    values = {s.name: s.value for s in family.samples}
    return values[f"{name}_count"], values[f"{name}_sum"]


def test_a_held_assign_is_timed_from_the_request_and_a_batch_from_its_write(monkeypatch: pytest.MonkeyPatch) -> None:
    shell = make_shell(monkeypatch)
    service = shell.service
    service.run(SubmitRecord(single("t", 2), 1000.0))
    shell.hello(slots=1)
    service.flush()
    shell.acknowledge()
    shell.router.take()
    shell.say(ReadyMessage(1))  # the request for work
    shell.clock.now += 0.005
    service.flush()  # its batch is written...
    shell.clock.now += 0.020
    shell.acknowledge()  # ...and durable 20 ms later: the ASSIGN goes out now
    assert [kind for _, kind in shell.heard()] == ["ASSIGN"]
    assert histogram(service.recorder, "puli_mesh_dispatch_latency_seconds") == (1, pytest.approx(0.025))
    count, total = histogram(service.recorder, "puli_mesh_journal_batch_latency_seconds")
    assert count == 2 and total == pytest.approx(0.020)  # the first batch was acknowledged at once
    # a final update's credit is a request for work too; a KILL or a WELCOME is no dispatch
    cid = service.core.command_page(None, None, None, None, None).to_map()["items"][0]["id"]
    shell.say(UpdateMessage(cid, 1, 1, int(CommandStatus.DONE), 1.0, None, None, free_slots=1))
    shell.clock.now += 0.010
    service.flush()
    shell.acknowledge()
    assert histogram(service.recorder, "puli_mesh_dispatch_latency_seconds") == (2, pytest.approx(0.035))
    assert service.recorder.request_at is None and service.recorder.assign_waits == {}


def test_a_new_leader_resumes_the_history_and_stores_each_minute_it_closes(monkeypatch: pytest.MonkeyPatch) -> None:
    before = [{"start": 3600.0 * 10 + 60 * i, "end": 3600.0 * 10 + 60 * (i + 1), "done": 1, "failed": 0,
               "done_total": 40 + i, "failed_total": 2} for i in range(3)]
    store = MemoryHistory(before)
    shell = make_shell(monkeypatch, recorder=FarmRecorder.resumed(store))
    service = shell.service
    assert (service.stats.done_total, service.stats.failed_total) == (42, 2)  # they go on
    shell.clock.now = 3600.0 * 11 + 1
    service.tick()  # starts its first minute
    service.stats.command_finished(int(CommandStatus.DONE))
    shell.clock.now += 61
    service.tick()
    (sample,) = store.hours[11]
    assert (sample["done"], sample["done_total"], sample["failed_total"]) == (1, 43, 2)
    assert store.dropped_before == [10]  # the oldest hour kept: none is dropped yet
    assert service.recorder.stats.since(3600.0 * 10 + 60) == [*before[1:], sample]


def test_gauges_are_taken_only_when_a_scrape_asked_and_the_last_are_old() -> None:
    core = SchedulingCore()
    core.node_joined(rn("rn1", slots=2), 0.0)
    core.submit_graph(single("a", 3), 0.0)
    core.submit_graph(single("b", 2, pool="default"), 0.0)
    core.request_work("rn1", 1, 0.0)
    recorder = FarmRecorder(FarmStats())
    recorder.refresh_gauges(100.0, core)
    assert recorder.gauges is None  # nobody asked
    recorder.gauges_wanted = True
    recorder.refresh_gauges(100.0, core)
    gauges = recorder.gauges
    assert gauges is not None and not recorder.gauges_wanted
    assert gauges.commands_by_status["READY"] == 4 and gauges.commands_by_status["ASSIGNED"] == 1
    assert sum(gauges.commands_by_status.values()) == 5
    assert gauges.ready_by_pool == {"default": 4} and gauges.jobs_by_status == {"READY": 1, "RUNNING": 1}
    assert (gauges.nodes_online, gauges.slots, gauges.busy_slots) == (1, 2, 1)
    recorder.gauges_wanted = True
    recorder.refresh_gauges(100.0 + FARM_GAUGES_MAX_AGE_S / 2, core)
    assert recorder.gauges is gauges  # young enough: kept
    recorder.refresh_gauges(100.0 + FARM_GAUGES_MAX_AGE_S, core)
    assert recorder.gauges is not gauges
