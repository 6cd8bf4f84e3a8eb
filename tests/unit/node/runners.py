"""Runners the node tests run through the watcher, by dotted path (``tests.unit.node.runners.X``);
the spec's environment gives the watcher this checkout's ``PYTHONPATH`` (``REPOSITORY_PATH``)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from puliclient.jobs import CommandRunner

REPOSITORY_PATH = str(Path(__file__).resolve().parents[3])


class SilentProgressRunner(CommandRunner):
    """Prints nothing; reports its completion every 0.4 s for 2.4 s."""

    def execute(self, arguments: dict[str, Any], updateCompletion: Any, updateMessage: Any) -> None:
        for step in range(1, 7):
            time.sleep(0.4)
            updateCompletion(step / 6)
