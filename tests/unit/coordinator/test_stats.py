"""The coordinator's per-minute stats ring."""

from __future__ import annotations

from puli_mesh.coordinator.stats import FarmStats
from puliclient.status import CommandStatus

FIGURES = {"ready": 7, "running": 2, "nodes_online": 2, "slots": 4, "busy_slots": 2,
           "licences": {"shave": [1, 3]}}


def test_stats_close_one_sample_a_minute_and_keep_the_last_hour() -> None:
    stats = FarmStats(keep=3)
    calls = []

    def figures() -> dict[str, object]:
        calls.append(1)
        return FIGURES

    stats.tick(0, figures)
    for _ in range(4):
        stats.command_finished(int(CommandStatus.DONE))
    stats.command_finished(int(CommandStatus.ERROR))
    stats.command_finished(int(CommandStatus.RUNNING))  # not final: not counted
    stats.tick(30, figures)
    assert stats.samples == type(stats.samples)() and not calls  # the minute is not over: no scan
    stats.tick(60, figures)
    (s,) = stats.samples
    assert (s["done"], s["failed"], s["finished_per_minute"]) == (4, 1, 5.0)
    assert (s["ready"], s["utilisation"], s["licences"]) == (7, 0.5, {"shave": [1, 3]})
    for t in (120, 180, 240, 300):
        stats.tick(t, figures)
    assert [s["start"] for s in stats.samples] == [120, 180, 240]  # ring of 3
    report = stats.report(330, FIGURES)
    assert report["current"]["start"] == 300 and report["current"]["done"] == 0


def test_a_report_counts_jobs_and_render_nodes_by_status_as_puli_stats_did() -> None:
    from puli_mesh.coordinator.core import SchedulingCore
    from tests.unit.coordinator.graphs import rn, single

    core = SchedulingCore()
    for name in ("rn1", "rn2", "rn3"):
        core.node_joined(rn(name), 0.0)
    for i in range(3):
        core.submit_graph(single(f"t{i}", 1), 0.0)
    core.request_work("rn1", 1, 0.0)  # one job gets a node
    core.pause_render_node("rn3", 0.0)
    report = FarmStats().report(10.0, core.figures())
    assert report["jobs_by_status"] == {"READY": 2, "RUNNING": 1, "TOTAL": 3}
    assert report["render_nodes_by_status"] == {"ASSIGNED": 1, "IDLE": 1, "PAUSED": 1, "TOTAL": 3}
    assert FarmStats().report(0.0, {})["jobs_by_status"] == {}  # figures without them: nothing to count
