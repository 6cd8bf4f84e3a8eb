"""A node's resources, and when its free RAM is news to the leader."""

from __future__ import annotations

from pathlib import Path

import pytest

from puli_mesh.node.resources import FREE_RAM_STEP_MB, TEST_FREE_RAM_FILE, FreeRamReport, read_free_ram_mb


def test_free_ram_is_news_when_it_moved_a_step_from_what_the_leader_was_told() -> None:
    report = FreeRamReport()
    assert report.news(5000) == 5000  # nothing told yet
    assert report.news(5000 + FREE_RAM_STEP_MB - 1) is None
    assert report.news(5000 - FREE_RAM_STEP_MB) == 5000 - FREE_RAM_STEP_MB
    report.told(100)  # a HELLO said it
    assert report.news(100 + FREE_RAM_STEP_MB // 2) is None


def test_tests_may_set_the_free_ram_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    forced = tmp_path / "free"
    forced.write_text("1234\n")
    monkeypatch.setenv(TEST_FREE_RAM_FILE, str(forced))
    assert read_free_ram_mb() == 1234
    forced.write_text("lots")
    assert read_free_ram_mb(2048 * 1024 * 1024) == 2048  # unreadable: the system's
