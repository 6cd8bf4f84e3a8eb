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


def test_the_history_keeps_the_newest_hours_and_rolls_over_at_each_hour() -> None:
    from puli_mesh.coordinator.stats import HOUR_S, hour_of

    stats = FarmStats(keep=5, history_hours=3)
    t = 10 * HOUR_S - 120.0  # two minutes before hour 10
    stats.tick(t, lambda: FIGURES)
    closed = []
    while t < 14 * HOUR_S:
        t += 60.0
        stats.command_finished(int(CommandStatus.DONE))
        sample = stats.tick(t, lambda: FIGURES)
        assert sample is not None
        closed.append(sample)
    assert sorted(stats.hours) == [11, 12, 13]  # 3 hours: 9 and 10 rolled out
    assert stats.oldest_hour() == 11 and len(stats.hour(12)) == 60
    assert [hour_of(s) for s in stats.hour(13)] == [13] * 60
    assert len(stats.samples) == 5  # ``stats`` shows the last few
    assert stats.done_total == len(closed) == closed[-1]["done_total"]
    since = stats.since(12 * HOUR_S + 30 * 60)
    assert since[0]["start"] == 12 * HOUR_S + 30 * 60 and len(since) == 30 + 60
    assert stats.since(0) == [s for s in closed if hour_of(s) >= 11]


def test_resumed_totals_go_on_and_a_sample_names_a_bounded_number_of_pools() -> None:
    from puli_mesh.coordinator.stats import SAMPLE_KEYS_MAX

    stats = FarmStats()
    stats.resume([{"start": 120.0, "done_total": 9, "failed_total": 1}, {"start": 60.0, "done_total": 5}])
    assert (stats.done_total, stats.failed_total) == (9, 1)  # from the newest, whatever the order
    stats.tick(180.0, dict)
    stats.command_finished(int(CommandStatus.ERROR))
    assert stats.report(200.0, {})["totals"] == {"done": 9, "failed": 2}  # the minute in progress counts
    many = {**FIGURES, "ready_by_pool": {f"p{i:03d}": i for i in range(200)},
            "licences": {f"l{i:03d}": [i, 500] for i in range(200)}}
    sample = stats.tick(240.0, lambda: many)
    assert sample is not None and sample["failed_total"] == 2
    assert len(sample["ready_by_pool"]) == len(sample["licences"]) == SAMPLE_KEYS_MAX
    assert min(sample["ready_by_pool"].values()) == 200 - SAMPLE_KEYS_MAX  # the busiest kept
    assert min(used for used, _ in sample["licences"].values()) == 200 - SAMPLE_KEYS_MAX


def test_an_hour_keeps_at_most_its_share_of_samples_whatever_the_period() -> None:
    from puli_mesh.coordinator.stats import HOUR_SAMPLES_MAX

    stats = FarmStats(period=1.0)
    for t in range(0, 500):
        stats.tick(float(t), lambda: FIGURES)
    assert len(stats.hour(0)) == HOUR_SAMPLES_MAX and stats.hour(0)[-1]["end"] == 499.0
