"""Counting and logging the faults the agent survives."""

from __future__ import annotations

import logging

import pytest

from puli_mesh.faults import Faults, guarded


def test_a_fault_is_logged_in_full_the_1st_2nd_4th_8th_time() -> None:
    faults = Faults()
    logged = [n for n in range(1, 17) if faults.note("snapshot")]
    assert logged == [1, 2, 4, 8, 16]
    assert faults.counts == {"snapshot": 16} and faults.total == 16


def test_guarded_work_that_fails_is_counted_and_the_caller_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    faults = Faults()
    done: list[int] = []

    def fails() -> None:
        raise KeyError("a bug")

    with caplog.at_level(logging.ERROR, logger="puli_mesh.faults"):
        results = [guarded(faults, "timers", fails) for _ in range(5)]
    assert results == [False] * 5
    assert guarded(faults, "worker", done.append, 7) is True and done == [7]
    assert faults.counts == {"timers": 5}
    assert [r.message for r in caplog.records] == [
        "timers failed (1 time(s) so far); the agent goes on",
        "timers failed (2 time(s) so far); the agent goes on",
        "timers failed (4 time(s) so far); the agent goes on",
    ]
    assert all(r.exc_info is not None for r in caplog.records)  # with the traceback
