"""The idle clock of a running command (``node.idle``): pure, time passed in."""

from __future__ import annotations

import pytest

from puli_mesh.node.idle import LOOK_EVERY_S, IdleClock, idle_limit, idle_message


def test_the_tasks_value_wins_zero_turns_it_off_none_takes_the_agents_default() -> None:
    assert idle_limit(600, 30.0) == 600.0
    assert idle_limit(0, 30.0) is None  # the task opts out of the farm's default
    assert idle_limit(None, 30.0) == 30.0
    assert idle_limit(None, 0.0) is None  # no default: off
    assert idle_limit(-5, 30.0) is None  # a bad value from the wire never arms it


def test_the_clock_expires_after_its_limit_of_silence() -> None:
    clock = IdleClock(2.0, last_activity=10.0)
    clock.saw_output(100, 10.0)  # the header
    assert not clock.expired(11.9)
    assert clock.expired(12.0)


def test_output_resets_the_clock_the_first_look_does_not() -> None:
    clock = IdleClock(2.0, last_activity=10.0)
    clock.saw_output(100, 11.5)  # first look: only the size it starts from
    assert clock.expired(12.0)
    clock.saw_output(180, 11.8)  # it wrote something
    assert not clock.expired(13.7)
    clock.saw_output(180, 13.0)  # nothing new
    assert clock.expired(13.8)


def test_progress_resets_the_clock() -> None:
    clock = IdleClock(2.0, last_activity=10.0)
    clock.saw_output(100, 10.0)
    clock.saw_progress(11.5)
    assert not clock.expired(13.4)
    assert clock.expired(13.5)


@pytest.mark.parametrize(("limit", "every"), [(2.0, 0.5), (600.0, LOOK_EVERY_S)])
def test_the_log_is_looked_at_a_few_times_per_limit_at_most_once_a_second(limit: float, every: float) -> None:
    clock = IdleClock(limit, last_activity=0.0)
    assert clock.look_due(0.0)
    clock.saw_output(10, 0.0)
    assert not clock.look_due(every - 0.01)
    assert clock.look_due(every)


def test_the_message_says_why() -> None:
    assert idle_message(2.0) == "no output nor progress for 2 s (idleTimeout): killed as hung"
