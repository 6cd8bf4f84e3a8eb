"""Option values turned into Farm arguments: durations, dates, tags, filters, `set` assignments."""

from __future__ import annotations

import time

import pytest

from puli_mesh.cli import arguments
from puli_mesh.errors import ConfigError


def test_since_takes_durations_epochs_and_dates() -> None:
    assert arguments.parse_since("2h", now=10_000.0) == 10_000.0 - 7200
    assert arguments.parse_since("30m", now=10_000.0) == 10_000.0 - 1800
    assert arguments.parse_since("1.5d", now=200_000.0) == 200_000.0 - 1.5 * 86400
    assert arguments.parse_since(" 45s ", now=100.0) == 55.0
    assert arguments.parse_since("1700000000") == 1_700_000_000.0
    assert arguments.parse_since("2024-05-01 12:00") == time.mktime(time.strptime("2024-05-01 12:00", "%Y-%m-%d %H:%M"))
    assert arguments.parse_since("2024-05-01") == time.mktime(time.strptime("2024-05-01", "%Y-%m-%d"))
    for bad in ("yesterday-ish", "2x", "h", ""):
        with pytest.raises(ConfigError, match="give a duration"):
            arguments.parse_since(bad, now=1.0)


def test_tags_are_key_value_pairs() -> None:
    assert arguments.parse_tags(["prod=film", "seq=", "a=b=c"]) == {"prod": "film", "seq": "", "a": "b=c"}
    assert arguments.parse_tags(None) == {}
    for bad in ("prod", "=film"):
        with pytest.raises(ConfigError, match="write KEY=VALUE"):
            arguments.parse_tags([bad])


def test_job_filters_leave_out_what_was_not_given() -> None:
    assert arguments.job_filters(None, None, None, None, None, None) == {
        "user": None, "status": None, "name": None, "tags": None, "pool": None, "since": None}
    filters = arguments.job_filters(["ana"], ["error", "Running"], ["^shot"], ["prod=film"], ["gpu"], "1h",
                                    now=7200.0)
    assert filters == {"user": ["ana"], "status": ["ERROR", "RUNNING"], "name": ["^shot"],
                       "tags": {"prod": "film"}, "pool": ["gpu"], "since": 3600.0}
    assert arguments.has_filter(filters)
    assert not arguments.has_filter(arguments.job_filters([], [], [], [], [], None))


def test_set_assignments_split_into_values_and_tags() -> None:
    values, tags = arguments.parse_assignments(["priority=10", "maxRN=4", "poolName=gpu", "tag.prod=film",
                                                "tag.old="])
    assert values == {"priority": 10, "maxRN": 4, "pool": "gpu"}
    assert tags == {"prod": "film", "old": None}  # an empty value removes the tag
    assert arguments.parse_assignments(["dispatchKey=-3", "pool=farm"]) == ({"dispatchKey": -3, "pool": "farm"}, {})
    assert arguments.parse_assignments(["strategy=PriorityStrategy"]) == ({"strategy": "PriorityStrategy"}, {})


@pytest.mark.parametrize(("item", "message"), [
    ("priority", "write KEY=VALUE"),
    ("maxRN=four", "whole number"),
    (f"priority={2**63}", "from -9223372036854775808 to 9223372036854775807"),
    (f"maxRN={-2**63 - 1}", "from -9223372036854775808 to 9223372036854775807"),
    ("priority=1000000000000000000000000", "whole number from"),
    ("colour=blue", "cannot be set"),
])
def test_set_assignments_refuse_what_cannot_be_set(item: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        arguments.parse_assignments(["priority=1", item])


def test_run_time_edits_are_told_apart_from_the_other_assignments() -> None:
    items = ["priority=1", "tag.a=b", "timer=none", "maxAttempt=3", "ramUse=4000", "name=N", "user=bob",
             "env.SHOT=010", "arg.start=5", "description=d"]
    assert [i for i in items if arguments.is_runtime_edit(i)] == items[2:]


def test_run_time_edits_parse_timers_numbers_and_merges() -> None:
    edits = arguments.parse_runtime_edits(["timer=2026-05-01T20:00", "maxAttempt=3", "ramUse=4000", "name=N",
                                           "user=bob", "env.SHOT=010", "env.OLD=", "arg.start=5",
                                           "arg.cmd=echo hi", "arg.gone=", "description=d"])
    assert edits.values == {"timer": time.mktime((2026, 5, 1, 20, 0, 0, 0, 0, -1)), "maxAttempt": 3,
                            "ramUse": 4000, "name": "N", "user": "bob"}
    assert edits.environment == {"SHOT": "010", "OLD": None}
    assert edits.arguments == {"start": 5, "cmd": "echo hi", "gone": None}  # JSON when it reads as JSON
    assert edits.description == "d"
    assert arguments.parse_timer("none") is None and arguments.parse_timer("1700000000") == 1.7e9
    assert arguments.parse_timer("2026-05-01 20:00") == edits.values["timer"]


@pytest.mark.parametrize(("item", "message"), [
    ("timer=tomorrow", "epoch seconds, a date"),
    ("maxAttempt=many", "whole number"),
    (f"ramUse={2**63}", "whole number from"),
    ("env.=x", "name the variable"),
    ("arg.", "write KEY=VALUE"),
])
def test_run_time_edits_refuse_what_cannot_be_parsed(item: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        arguments.parse_runtime_edits([item])


@pytest.mark.parametrize(("typed", "seconds"), [
    ("3h30m", 12600.0), ("100m", 6000.0), ("1d2h", 93600.0), ("45s", 45.0), ("90", 90.0), (" 1.5h ", 5400.0),
])
def test_a_time_delay_is_puliexecs_hours_and_minutes(typed: str, seconds: float) -> None:
    assert arguments.parse_delay(typed) == seconds


@pytest.mark.parametrize("typed", ["", "h", "3x", "3h30", "-5", "nan", "..5m", "soon"])
def test_a_time_delay_that_is_not_one_says_how_to_write_it(typed: str) -> None:
    with pytest.raises(ConfigError, match="--time-delay .*: write a delay such as 3h30m"):
        arguments.parse_delay(typed)


def test_time_ranges_name_their_option_and_leave_out_what_was_not_given() -> None:
    assert arguments.time_ranges({"started_after": "1h", "ended_before": None}, now=7200.0) == {
        "started_after": 3600.0}
    with pytest.raises(ConfigError, match="--ended-before 'later'"):
        arguments.time_ranges({"ended_before": "later"})


@pytest.mark.parametrize(("typed", "seconds"), [("600", 600.0), ("1.5", 1.5), ("10m", 600.0), ("1h30m", 5400.0),
                                                ("0", 0.0), ("none", None), ("", None)])
def test_an_idle_timeout_is_seconds_a_duration_or_none(typed: str, seconds: float | None) -> None:
    assert arguments.is_runtime_edit(f"idleTimeout={typed}")
    assert arguments.parse_runtime_edits([f"idleTimeout={typed}"]).values == {"idleTimeout": seconds}


@pytest.mark.parametrize("typed", ["soon", "-5", "5x", "nan"])
def test_an_idle_timeout_that_is_not_one_says_how_to_write_it(typed: str) -> None:
    with pytest.raises(ConfigError, match="idleTimeout=.*give seconds"):
        arguments.parse_runtime_edits([f"idleTimeout={typed}"])


@pytest.mark.parametrize(("typed", "flag"), [("true", True), ("False", False), ("TRUE", True)])
def test_kill_on_ram_overuse_is_a_runtime_flag(typed: str, flag: bool) -> None:
    assert arguments.is_runtime_edit(f"killOnRamOveruse={typed}")
    assert arguments.parse_runtime_edits([f"killOnRamOveruse={typed}"]).values == {"killOnRamOveruse": flag}


@pytest.mark.parametrize("typed", ["", "yes", "1"])
def test_kill_on_ram_overuse_is_true_or_false(typed: str) -> None:
    with pytest.raises(ConfigError, match="killOnRamOveruse must be true or false"):
        arguments.parse_runtime_edits([f"killOnRamOveruse={typed}"])
