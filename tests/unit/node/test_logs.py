"""Serving logs: a request reads at most one bounded chunk, and a known command is found by its path."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from puli_mesh.node import logs
from puli_mesh.protocol import LogsMessage, ResultMessage, decode


def settings(tmp_path: Path) -> Any:
    return SimpleNamespace(log_dir=str(tmp_path), cluster="c", name="rn1")


def test_a_request_reads_at_most_one_chunk_whatever_limit_it_asks(tmp_path: Path) -> None:
    (tmp_path / "c" / "4").mkdir(parents=True)
    (tmp_path / "c" / "4" / "9.log").write_bytes(b"x" * (logs.MAX_CHUNK + 10))
    reply = decode(logs.serve(settings(tmp_path), LogsMessage("r", 9, 0, 10**12)))
    assert isinstance(reply, ResultMessage)
    assert len(reply.data["data"]) == logs.MAX_CHUNK and reply.data["next_offset"] == logs.MAX_CHUNK


def test_a_command_whose_task_is_known_is_found_without_a_scan(tmp_path: Path, monkeypatch: Any) -> None:
    (tmp_path / "c" / "4").mkdir(parents=True)
    (tmp_path / "c" / "4" / "9.log").write_bytes(b"hello")

    def no_scan(*_: Any) -> Any:
        raise AssertionError("scanned every task's directory")

    monkeypatch.setattr(Path, "glob", no_scan)
    assert logs.find_log(settings(tmp_path), 9, task_id=4) == tmp_path / "c" / "4" / "9.log"
    monkeypatch.undo()
    assert logs.find_log(settings(tmp_path), 9) == tmp_path / "c" / "4" / "9.log"  # an earlier life's: scanned
    assert logs.find_log(settings(tmp_path), 9, task_id=5) == tmp_path / "c" / "4" / "9.log"
