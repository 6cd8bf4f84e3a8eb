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
