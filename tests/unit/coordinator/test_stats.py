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
