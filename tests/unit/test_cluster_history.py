"""What a history znode may hold: anything else than a list of samples is skipped, never a
failed takeover."""

from __future__ import annotations

import pytest

from puli_mesh.cluster_history import parse_hour
from puli_mesh.zkpaths import ClusterPaths


@pytest.mark.parametrize("data", [None, b"", b"\xff\xfe", b"{not json", b'{"start": 1}', b"[1, 2]",
                                  b'[{"start": "soon"}]', b'[{"start": true}]', b'[{"end": 5}]'])
def test_an_unreadable_hour_gives_no_samples(data: bytes | None) -> None:
    assert parse_hour(data) == []


def test_samples_are_read_back_and_strangers_among_them_skipped() -> None:
    assert parse_hour(b'[{"start": 60.0, "done": 2}, 7, {"start": 120}]') == [{"start": 60.0, "done": 2},
                                                                              {"start": 120}]


def test_hours_sort_by_name_in_time_order() -> None:
    paths = ClusterPaths("c")
    assert paths.history_hour(9) < paths.history_hour(10) < paths.history_hour(493_000)
