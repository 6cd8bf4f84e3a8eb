"""The one module of limits: its values hold together, and its helpers are exact."""

from __future__ import annotations

import msgpack
import pytest

from puli_mesh import limits
from puli_mesh.limits import (
    DEFAULT_GRAPH_LIMITS,
    DROPPED_STATS_KEY,
    MAX_NESTING,
    GraphLimits,
    bounded_report,
    count_items,
    cut_text,
    frame_count,
)


def nested(depth: int) -> object:
    value: object = 0
    for _ in range(depth):
        value = [value]
    return value


def test_a_message_at_the_nesting_limit_packs_again_inside_the_journals_wrapping() -> None:
    # A batch map, its records list and a record list wrap what a message carried.
    batch = {"records": [["submit", nested(MAX_NESTING), 0.0]]}
    assert msgpack.unpackb(msgpack.packb(batch)) == batch
    # What the limit guards against: msgpack decodes 1024 levels and packs no more, so a message
    # decoded at 1024 could not be journalled once wrapped in a batch.
    msgpack.unpackb(msgpack.packb(nested(1023)))
    with pytest.raises(ValueError):
        msgpack.packb({"records": [nested(1023)]})


def test_the_wire_constants() -> None:
    assert limits.MAX_MESSAGE_BYTES == 16 * 1024 * 1024
    assert (limits.INT64_MIN, limits.INT64_MAX) == (-(2**63), 2**63 - 1)
    msgpack.packb([limits.INT64_MIN, limits.INT64_MAX])


def test_graph_limits_defaults_are_positive_and_checked() -> None:
    assert DEFAULT_GRAPH_LIMITS == GraphLimits() and GraphLimits().check() == []
    assert GraphLimits().depth == 64
    assert GraphLimits(depth=0, nodes=True).check() == [  # type: ignore[arg-type]
        "depth must be a positive whole number, got 0", "nodes must be a positive whole number, got True"]
    with pytest.raises(AttributeError):
        GraphLimits().depth = 3  # type: ignore[misc]


def test_frame_count_never_lists_the_frames() -> None:
    assert frame_count(1, 10, 1) == 10
    assert frame_count(1, 11, 5) == 3
    assert frame_count(5, 1, 1) == 0
    assert frame_count(1, 10**12, 1) == 10**12  # instantly
    assert frame_count(1, 10, 0) == 0


def test_cut_text_keeps_short_texts_and_marks_what_it_cut() -> None:
    assert cut_text("short", 10) == "short"
    cut = cut_text("x" * 10_000, 100)
    assert len(cut) == 100 and cut.startswith("xxx") and "10000 characters, the limit is 100" in cut


def test_a_report_above_the_limits_is_cut_and_marked_never_refused() -> None:
    small = GraphLimits(message_length=100, stats_items=5)
    assert bounded_report("ok", {"a": 1}, small) == ("ok", {"a": 1})
    assert bounded_report(None, None, small) == (None, None)
    message, stats = bounded_report("E" * 1000, {"a": [1, 2, 3], "b": {"c": 1}}, small)
    assert message is not None and len(message) == 100 and "1000 characters" in message
    assert stats == {DROPPED_STATS_KEY: "more than 5 items, the limit (graph_stats_items)"}


def test_count_items_stops_past_its_cap() -> None:
    assert count_items({"a": [1, 2], "b": {}}, 100) == 4
    assert count_items([list(range(1000))] * 1000, 10) <= 1001 + 10  # stops: not a million


def test_a_reported_load_is_bounded_rounded_and_a_negative_one_refused() -> None:
    assert limits.reported_load_within(3.14159) == 3.14
    assert limits.reported_load_within(0.0) == 0.0
    assert limits.reported_load_within(1e300) == limits.MAX_REPORTED_LOAD
    assert limits.reported_load_within(float("inf")) == limits.MAX_REPORTED_LOAD
    assert limits.reported_load_within(-0.5) is None
    assert limits.reported_load_within(float("nan")) is None
