"""The SUBMIT request ids the core remembers (``submitted``): bounded by count and by age."""

from __future__ import annotations

import pytest

from puli_mesh.coordinator import submitted as submitted_mod
from puli_mesh.coordinator.submitted import KEPT_SUBMITS_S, SubmittedGraphs


def test_a_request_id_gives_the_graph_and_its_node_ids() -> None:
    table = SubmittedGraphs()
    table.remember("r1", 5, 3, 10.0)
    known = table.get("r1")
    assert known is not None and (known.graph_id, known.node_ids) == (5, [6, 7, 8])
    assert table.get("r2") is None


def test_the_oldest_go_first_past_the_count(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(submitted_mod, "KEPT_SUBMITS", 3)
    table = SubmittedGraphs()
    for i in range(5):
        table.remember(f"r{i}", i * 10, 1, float(i))
    assert list(table.by_rid) == ["r2", "r3", "r4"]


def test_entries_older_than_a_day_before_the_newest_submit_go() -> None:
    table = SubmittedGraphs()
    table.remember("old", 1, 1, 0.0)
    table.remember("recent", 3, 1, 10.0)
    table.remember("now", 5, 1, KEPT_SUBMITS_S + 5.0)
    assert list(table.by_rid) == ["recent", "now"]


def test_the_table_survives_its_plain_data_form() -> None:
    table = SubmittedGraphs()
    table.remember("r1", 5, 3, 10.0)
    table.remember("r2", 9, 1, 11.0)
    again = SubmittedGraphs()
    again.load(table.dump())
    assert again.by_rid == table.by_rid and list(again.by_rid) == ["r1", "r2"]
