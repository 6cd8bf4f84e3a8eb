"""A node's resources, and when its free RAM is news to the leader."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from puli_mesh.node import resources
from puli_mesh.node.resources import (
    FREE_RAM_STEP_MB,
    LOAD_STEP,
    TEST_FREE_RAM_FILE,
    FigureReport,
    detect_gpus,
    node_gpus,
    parse_gpu_query,
    read_free_ram_mb,
)


def test_free_ram_is_news_when_it_moved_a_step_from_what_the_leader_was_told() -> None:
    report = FigureReport(FREE_RAM_STEP_MB)
    assert report.news(5000) == 5000  # nothing told yet
    assert report.news(5000 + FREE_RAM_STEP_MB - 1) is None
    assert report.news(5000 - FREE_RAM_STEP_MB) == 5000 - FREE_RAM_STEP_MB
    report.told(100)  # a HELLO said it
    assert report.news(100 + FREE_RAM_STEP_MB // 2) is None


def test_the_load_is_news_when_it_moved_its_own_step() -> None:
    report = FigureReport(LOAD_STEP)
    report.told(2.0)
    assert report.news(2.0 + LOAD_STEP / 2) is None
    assert report.news(2.0 - LOAD_STEP) == 2.0 - LOAD_STEP
    assert report.news(1.6) is None  # within a step of what was sent last


def test_tests_may_set_the_free_ram_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    forced = tmp_path / "free"
    forced.write_text("1234\n")
    monkeypatch.setenv(TEST_FREE_RAM_FILE, str(forced))
    assert read_free_ram_mb() == 1234
    forced.write_text("lots")
    assert read_free_ram_mb(2048 * 1024 * 1024) == 2048  # unreadable: the system's


def test_gpus_are_the_indexes_nvidia_smi_lists_and_configured_ones_win(monkeypatch: pytest.MonkeyPatch) -> None:
    output = "0, NVIDIA RTX A6000, 49140 MiB\n1, NVIDIA RTX A6000, 49140 MiB\n\nNo devices were found\n"
    assert parse_gpu_query(output) == ["0", "1"]
    monkeypatch.setattr(resources.shutil, "which", lambda _name: None)
    assert detect_gpus() == [] and node_gpus(None) == []  # no nvidia-smi: no GPUs
    assert node_gpus(["GPU-a"]) == ["GPU-a"]

    def smi(args: list[str], **_kw: object) -> subprocess.CompletedProcess[str]:
        assert args[1:] == list(resources.GPU_QUERY)
        return subprocess.CompletedProcess(args, 0, output, "")

    monkeypatch.setattr(resources.shutil, "which", lambda _name: "/usr/bin/nvidia-smi")
    monkeypatch.setattr(resources.subprocess, "run", smi)
    assert node_gpus(None) == ["0", "1"]
    assert node_gpus([]) == [], "configured to none: detection is not asked"

    def broken(args: list[str], **_kw: object) -> subprocess.CompletedProcess[str]:
        raise subprocess.TimeoutExpired(args, 10.0)

    monkeypatch.setattr(resources.subprocess, "run", broken)
    assert detect_gpus() == []
