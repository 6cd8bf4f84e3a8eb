"""The examples run locally and end DONE; without --local they reach the submission door."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


@pytest.mark.parametrize("name", ["simple_command", "frame_range", "custom_runner", "callables"])
def test_example_runs_locally(name: str) -> None:
    result = subprocess.run([sys.executable, str(EXAMPLES / f"{name}.py"), "--local"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "ended with status DONE" in result.stdout


def test_example_submission_reports_the_missing_mesh() -> None:
    env = {**os.environ, "PULIHOST": "127.0.0.1", "PULIPORT": "1"}
    result = subprocess.run([sys.executable, str(EXAMPLES / "simple_command.py")],
                            capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 1
    assert "no mesh reachable at 127.0.0.1:1" in result.stderr
