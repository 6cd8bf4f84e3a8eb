"""Formatting helpers of the operating commands: times, ETA, counts, --since parsing."""

from __future__ import annotations

import time

import pytest

from puli_mesh.cli import views


def test_timing_extrapolates_the_eta_from_completion() -> None:
    job = {"start_time": 1000.0, "end_time": None, "completion": 0.25, "status_name": "RUNNING"}
    _started, elapsed, eta = views.timing(job, now=1060.0)
    assert (elapsed, eta) == ("1m00s", "3m00s")
    assert views.timing({**job, "completion": 0.0}, now=1060.0)[2] == "?"
    assert views.timing({**job, "end_time": 1100.0, "status_name": "DONE"}, now=5000.0)[1:] == ("1m40s", "-")
    assert views.timing({"start_time": None}, now=1.0) == ("-", "-", "-")


def test_counts_put_the_urgent_first() -> None:
    assert views.counts({"DONE": 5, "ERROR": 1, "RUNNING": 2}) == "2 run 1 err 5 done"
    assert views.counts({}) == "-"


def test_since_takes_durations_epochs_and_dates() -> None:
    assert views.parse_since("2h", now=10_000.0) == 10_000.0 - 7200
    assert views.parse_since("30m", now=10_000.0) == 10_000.0 - 1800
    assert views.parse_since("1700000000") == 1_700_000_000.0
    assert views.parse_since("2024-05-01 12:00") == time.mktime(time.strptime("2024-05-01 12:00", "%Y-%m-%d %H:%M"))
    with pytest.raises(ValueError, match="give a duration"):
        views.parse_since("yesterday-ish")


def test_bar_is_plain_text_of_the_given_width() -> None:
    assert views.bar(0.5, 10).plain == "█████░░░░░  50%"
    assert views.bar(2.0, 4, percent=False).plain == "████"
