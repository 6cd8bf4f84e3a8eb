"""Formatting helpers of the operating commands: times, ETA, counts, bars, table fitting."""

from __future__ import annotations

from rich.table import Table

from puli_mesh.cli import views
from puliclient.status import CommandStatus, NodeStatus


def test_timing_extrapolates_the_eta_from_completion() -> None:
    job = {"start_time": 1000.0, "end_time": None, "completion": 0.25, "status": NodeStatus.RUNNING,
           "status_name": "RUNNING"}
    _started, elapsed, eta = views.timing(job, now=1060.0)
    assert (elapsed, eta) == ("1m00s", "3m00s")
    assert views.timing({**job, "completion": 0.0}, now=1060.0)[2] == "?"
    assert views.timing({**job, "end_time": 1100.0, "status_name": "DONE"}, now=5000.0)[1:] == ("1m40s", "-")
    assert views.timing({"start_time": None}, now=1.0) == ("-", "-", "-")


def test_a_final_job_without_an_end_time_has_no_eta() -> None:
    # A job canceled before any command ended has no end time: no ETA either.
    for status in (NodeStatus.DONE, NodeStatus.ERROR, NodeStatus.CANCELED):
        job = {"start_time": 1000.0, "end_time": None, "completion": 0.5, "status": int(status)}
        assert views.timing(job, now=1060.0)[2] == "-"
    assert views.timing({"start_time": 1000.0, "completion": 0.5, "status": int(NodeStatus.PAUSED)},
                        now=1060.0)[2] == "1m00s"


def test_counts_put_the_urgent_first() -> None:
    assert views.counts({"DONE": 5, "ERROR": 1, "RUNNING": 2}) == "2 run 1 err 5 done"
    assert views.counts({}) == "-"


def test_every_status_name_has_a_style() -> None:
    names = {s.name for s in CommandStatus} | {s.name for s in NodeStatus}
    assert names <= set(views.STATUS_STYLE)
    assert views.status_text("ERROR").style == "bold red"
    assert views.status_text("draining").style == "blue"
    assert views.status_text("nonsense").plain == "nonsense"


def test_durations_and_clock() -> None:
    assert [views.duration(s) for s in (None, -1, 59, 61, 3 * 3600 + 120, 2 * 86400 + 3600)] == [
        "-", "-", "59s", "1m01s", "3h02m", "2d01h"]
    assert views.clock(None) == "-"
    assert views.clock(1000.0, now=1000.0).count(":") == 2  # today: the time only


def test_bar_is_plain_text_of_the_given_width() -> None:
    assert views.bar(0.5, 10).plain == "█████░░░░░  50%"
    assert views.bar(2.0, 4, percent=False).plain == "████"


def test_fit_keeps_ids_whole_and_lets_free_text_shrink() -> None:
    table = Table("id", "name")
    table.add_row("123456", "a very long job name")
    views.fit(table)
    id_column, name_column = table.columns
    assert id_column.min_width == 6 and name_column.min_width == len("name") + 2
    assert all(c.no_wrap and c.overflow == "ellipsis" for c in table.columns)
