"""Runners, callables, expanders and decomposers the client tests load by dotted path (``clienthelpers.X``).

This directory is on sys.path during the tests (pytest's rootdir-relative
import), and local execution passes sys.path on to its watcher subprocesses.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from puliclient.errors import CommandDone, CommandError, RunnerTimeoutError
from puliclient.jobs import (
    CommandRunner,
    IntegerParameter,
    StringParameter,
    TaskDecomposer,
    TaskExpander,
)


class OldStyleRunner(CommandRunner):
    """Puli's first runners: ``execute(self, arguments)`` and ``self.log``."""

    path = StringParameter(mandatory=True)

    def execute(self, arguments: dict[str, Any]) -> None:
        self.log.info("old style runner writing %s", arguments["path"])
        Path(arguments["path"]).write_text("old")


class ReportingRunner(CommandRunner):
    """Reports completion, message and stats."""

    def execute(self, arguments, updateCompletion, updateMessage, updateStats=None):  # type: ignore[no-untyped-def]
        updateCompletion(0.5)
        updateMessage("half way")
        if updateStats is not None:
            updateStats({"frames": 2})
        updateCompletion(1.0)


class NoStatsRunner(CommandRunner):
    """Its signature has no updateStats: the watcher must not pass one."""

    def execute(self, arguments, updateCompletion, updateMessage):  # type: ignore[no-untyped-def]
        updateMessage("no stats")


class OutcomeRunner(CommandRunner):
    """Ends the way ``outcome`` says."""

    outcome = StringParameter(mandatory=True)
    count = IntegerParameter(default=1, min=0, max=10)

    def execute(self, arguments, updateCompletion, updateMessage):  # type: ignore[no-untyped-def]
        outcome = arguments["outcome"]
        updateCompletion(0.25)
        if outcome == "done":
            return
        if outcome == "commanddone":
            raise CommandDone("finished early")
        if outcome == "error":
            raise CommandError("it went wrong")
        if outcome == "timeout":
            raise RunnerTimeoutError("too slow")
        if outcome == "crash":
            raise ZeroDivisionError("boom")
        if outcome == "interrupt":
            raise KeyboardInterrupt
        if outcome == "exit1":
            raise SystemExit(1)
        if outcome == "env":
            updateMessage(os.environ.get("PULI_TEST_VAR", "<unset>"))
            return
        raise AssertionError(outcome)


class NotARunner:
    """Not a CommandRunner subclass."""


def add(a: int, b: int, out: str = "") -> int:
    if out:
        Path(out).write_text(str(a + b))
    return a + b


def fail(message: str) -> None:
    raise ValueError(message)


class Writer:
    """Instantiated with no argument by CallableRunner."""

    def write(self, path: str, text: str) -> None:
        Path(path).write_text(text)


class TwoTasksExpander(TaskExpander):
    """Adds two tasks to the group it expands."""

    def __init__(self, taskGroup: Any) -> None:
        super().__init__(taskGroup)
        for i in (1, 2):
            taskGroup.addNewTask(f"expanded{i}", {"cmd": f"echo {i}"})


class EmptyDecomposer(TaskDecomposer):
    """Adds no command at all."""


class InheritedArgumentDecomposer(TaskDecomposer):
    """One command named after the ``shot`` argument, which the task may inherit."""

    def __init__(self, task: Any) -> None:
        super().__init__(task)
        self.addCommand(f"{task.name}_{task.arguments['shot']}", {"cmd": "true"})


class ReleasingRunner(CommandRunner):
    """Gives its licence back early (Puli's ``updateLicense``), then waits for ``gate`` if given."""

    licence = StringParameter(mandatory=True)
    gate = StringParameter(default="")

    def execute(self, arguments, updateCompletion, updateMessage, updateLicense=None):  # type: ignore[no-untyped-def]
        assert updateLicense is not None
        refused = updateLicense({"action": "reserve", "licenseName": arguments["licence"]})
        released = updateLicense({"action": "release", "licenseName": arguments["licence"]})
        updateMessage(f"reserve {refused}, release {released}")
        gate = arguments["gate"]
        while gate and not os.path.exists(gate):
            time.sleep(0.02)  # the test opens the gate; bounded by its deadline


class WatcherReadingRunner(CommandRunner):
    """Reads ``self.associatedWatcher`` mid-run, as Puli runners did, and reports what it saw."""

    frames = IntegerParameter(default=3)

    def execute(self, arguments, updateCompletion, updateMessage, updateStats):  # type: ignore[no-untyped-def]
        watcher = self.associatedWatcher
        updateCompletion(0.5)
        updateStats({"id": watcher.id, "arguments": dict(watcher.arguments),
                     "completion_seen": watcher.completion, "same_start": watcher.startDate == self.startDate,
                     "packages": watcher.runnerPackages, "final_yet": watcher.finalState})
