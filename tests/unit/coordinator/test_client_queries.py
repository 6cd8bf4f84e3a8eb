"""The coordinator's per-minute stats ring and the operators' graph filters."""

from __future__ import annotations

import pytest

from puli_mesh.coordinator.client_queries import filter_graphs
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


GRAPHS = [
    {"id": 1, "name": "shot010_light", "user": "ana", "pool": "default", "status": 2, "creation_time": 100,
     "tags": {"prod": "film"}},
    {"id": 2, "name": "shot020_comp", "user": "bob", "pool": "gpu", "status": 4, "creation_time": 200,
     "tags": {"prod": "ad"}},
    {"id": 3, "name": "shot030_light", "user": "ana", "pool": "gpu", "status": 3, "creation_time": 300,
     "tags": {}},
]


@pytest.mark.parametrize(("args", "ids"), [
    ({}, [1, 2, 3]),
    ({"user": "ana"}, [1, 3]),
    ({"user": ["ana", "bob"], "pool": "gpu"}, [2, 3]),
    ({"status": "running,error"}, [1, 2]),
    ({"status": [3]}, [3]),
    ({"name": "light$"}, [1, 3]),
    ({"name": ["^shot01", "comp"]}, [1, 2]),
    ({"tags": {"prod": "film"}}, [1]),
    ({"tags": {"prod": ["film", "ad"]}}, [1, 2]),
    ({"since": 200}, [2, 3]),
    ({"id": [3, 1]}, [1, 3]),
])
def test_graph_filters_and_across_keys_or_within(args: dict[str, object], ids: list[int]) -> None:
    assert [g["id"] for g in filter_graphs(GRAPHS, args)] == ids


def test_bad_filters_say_what_is_wrong() -> None:
    with pytest.raises(ValueError, match="unknown status 'fine'; known: BLOCKED"):
        filter_graphs(GRAPHS, {"status": "fine"})
    with pytest.raises(ValueError, match="not a valid regular expression"):
        filter_graphs(GRAPHS, {"name": "(unclosed"})
