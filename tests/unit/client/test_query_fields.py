"""puliclient.query_fields: pul_query/pul_rn's fields, sorting and +N/-N bounds, on plain rows."""

from __future__ import annotations

import pytest

from puliclient.query_fields import (
    JOB_ALIASES,
    JOB_FIELDS,
    NODE_ALIASES,
    NODE_FIELDS,
    NumberBound,
    field_name,
    field_value,
    sorted_rows,
)


def test_a_field_is_named_by_the_mesh_puli_or_a_tag() -> None:
    assert field_name("start_time", JOB_FIELDS, JOB_ALIASES) == "start_time"
    assert field_name("creationTime", JOB_FIELDS, JOB_ALIASES) == "creation_time"
    assert field_name("prod", JOB_FIELDS, JOB_ALIASES, tags=True) == "tags:prod"
    assert field_name("tags:shot", JOB_FIELDS, JOB_ALIASES, tags=True) == "tags:shot"
    assert field_name("speed", NODE_FIELDS, NODE_ALIASES) == "performance"
    assert field_name("ramSize", NODE_FIELDS, NODE_ALIASES) == "ram_mb"


@pytest.mark.parametrize("typed", ["colour", "tags:", "Name"])
def test_an_unknown_field_is_refused_with_the_known_ones(typed: str) -> None:
    with pytest.raises(ValueError, match=rf"unknown field '{typed}'; known: id, name, .*creationTime"):
        field_name(typed, JOB_FIELDS, JOB_ALIASES, tags=True)
    with pytest.raises(ValueError, match="known: name, state, .*ramSize"):
        field_name("tags:prod", NODE_FIELDS, NODE_ALIASES)  # nodes have no tags


def test_rows_sort_by_a_field_with_missing_values_last_either_way() -> None:
    rows = [{"id": 1, "start_time": 30.0, "tags": {"prod": "b"}}, {"id": 2, "start_time": None, "tags": {}},
            {"id": 3, "start_time": 10.0, "tags": {"prod": "a"}}]
    assert [r["id"] for r in sorted_rows(rows, "start_time")] == [3, 1, 2]
    assert [r["id"] for r in sorted_rows(rows, "start_time", reverse=True)] == [1, 3, 2]
    assert [r["id"] for r in sorted_rows(rows, "tags:prod")] == [3, 1, 2]
    assert field_value(rows[1], "tags:prod") is None
    mixed = [{"v": "x"}, {"v": 2}, {"v": [1]}, {"v": 1}]
    assert [r["v"] for r in sorted_rows(mixed, "v")] == [1, 2, "x", [1]]  # never compares text to numbers


@pytest.mark.parametrize(("typed", "admitted"), [
    ("+2", [3]), ("-2", [1]), ("2", [2]), (2, [2]), (" +1.5 ", [2, 3]),
])
def test_a_number_bound_is_above_below_or_equal(typed: str | int, admitted: list[int]) -> None:
    bound = NumberBound.parse(typed, "speed")
    assert [n for n in (1, 2, 3) if bound.admits(n)] == admitted
    assert not bound.admits(None)


@pytest.mark.parametrize("typed", ["fast", "+", "", "+nan", "-inf", True])
def test_a_bound_that_is_not_a_number_says_how_to_write_one(typed: object) -> None:
    with pytest.raises(ValueError, match="speed: "):
        NumberBound.parse(typed, "speed")  # type: ignore[arg-type]
