"""``Task``: a leaf of the graph whose decomposer turns its arguments into commands, and
``Command``: one process to run on one render node, as the decomposer produced it.

A command is a description and its own arguments; the runner, the environment
and the inherited arguments come from its task and the task's ancestors. A
Task holds its Commands and each Command refers to its Task, so both live here.

Decomposition runs once: ``decompose()`` a second time does nothing, so
preparing a representation twice never duplicates commands. Commands may be
added by hand before decomposition (or on a task whose ``decomposer`` is
None); adding one by hand after the decomposer ran raises
``TaskAlreadyDecomposedError``. Changing ``decomposer`` drops the commands and
allows a new decomposition (Puli's behaviour).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

from puliclient.errors import GraphError, TaskAlreadyDecomposedError
from puliclient.jobs import loadTaskDecomposer
from puliclient.jobs.decomposers import TaskDecomposer
from puliclient.node import EMPTY, Node

DEFAULT_RUNNER = "puliclient.jobs.DefaultCommandRunner"
DEFAULT_DECOMPOSER = "puliclient.jobs.DefaultTaskDecomposer"


class Command:
    """``Command(description, task, arguments={}, runnerPackages=None, watcherPackages=None)``."""

    def __init__(
        self,
        description: str,
        task: Task,
        arguments: Mapping[str, Any] | None = EMPTY,
        runnerPackages: str | None = None,
        watcherPackages: str | None = None,
    ) -> None:
        self.description = description
        self.task = task
        self.arguments: dict[str, Any] = dict(arguments or {})
        self.runnerPackages = runnerPackages
        self.watcherPackages = watcherPackages

    def __repr__(self) -> str:
        return f"Command({self.description!r})"


def _default_runner_packages() -> str:
    return os.environ.get("REZ_USED_RESOLVE", "")


def _default_watcher_packages() -> str:
    packages = os.environ.get("REZ_USED_RESOLVE", "").split()
    return " ".join(p for p in packages if p.startswith("pulicontrib"))


class Task(Node):
    """A node holding commands. Parameters and defaults are Puli's (API reference 3.4), plus
    ``idleTimeout`` (Puli Mesh's: hung frames) and ``killOnRamOveruse`` (Puli Mesh's: a command
    whose processes hold more RAM than ``ramUse`` is killed, ERROR; without it, only reported).

    ``runnerPackages``/``watcherPackages`` default, as in Puli, to the rez
    resolve of the submitting shell; they are carried, not used.
    """

    def __init__(
        self,
        name: str,
        arguments: Mapping[str, Any] | None,
        runner: str = DEFAULT_RUNNER,
        decomposer: str | None = DEFAULT_DECOMPOSER,
        runnerPackages: str | None = None,
        watcherPackages: str | None = None,
        dependencies: Mapping[Node, Iterable[int]] | None = EMPTY,
        maxRN: int = 0,
        priority: int = 0,
        dispatchKey: int = 0,
        environment: Mapping[str, str] | None = EMPTY,
        validator: str = "0",
        minNbCores: int = 1,
        maxNbCores: int = 0,
        ramUse: int = 0,
        requirements: Mapping[str, Any] | None = EMPTY,
        lic: str = "",
        tags: Mapping[str, Any] | None = EMPTY,
        timer: float | None = None,
        maxAttempt: int = 1,
        idleTimeout: float | None = None,
        gpus: int = 0,
        killOnRamOveruse: bool = False,
    ) -> None:
        super().__init__(name, arguments, environment, tags, timer, priority, dispatchKey)
        if not isinstance(runner, str) or not runner:
            raise GraphError(f"task '{name}': runner must be a dotted path, not {runner!r}")
        self.runner = runner
        self.runnerPackages = (
            runnerPackages if runnerPackages is not None else _default_runner_packages()
        )
        self.watcherPackages = (
            watcherPackages if watcherPackages is not None else _default_watcher_packages()
        )
        self.maxRN = maxRN
        self.validator = validator
        self.minNbCores = minNbCores
        self.maxNbCores = maxNbCores
        self.ramUse = ramUse
        self.requirements = dict(requirements or {})
        self.lic = lic
        self.maxAttempt = maxAttempt
        self.idleTimeout = idleTimeout
        """Seconds without output nor progress after which a command is killed as hung (TIMEOUT,
        an attempt spent); 0: never; None: the farm's default (the agents' ``idle_timeout``)."""
        self.gpus = gpus  # GPUs each command books on its node (not Puli's: its graphs have none)
        self.killOnRamOveruse = killOnRamOveruse
        """Kill (ERROR, an attempt spent) a command using more RAM than ``ramUse``; False: say so only."""
        self.commands: list[Command] = []
        self.decomposed = False
        self._decomposer: str | None = None
        self._decomposer_class: type[TaskDecomposer] | None = None
        self.decomposer = decomposer
        for node, statuses in (dependencies or {}).items():
            self.dependsOn(node, statuses)

    @property
    def decomposer(self) -> str | None:
        """Dotted path of the decomposer class; None when commands are added by hand."""
        return self._decomposer

    @decomposer.setter
    def decomposer(self, value: str | None) -> None:
        self._decomposer_class = loadTaskDecomposer(value) if value else None
        self._decomposer = value or None
        self.commands = []
        self.decomposed = False

    @property
    def canBeDecomposed(self) -> bool:
        return self._decomposer_class is not None

    def decompose(self) -> Task:
        """Run the decomposer once (later calls do nothing); returns the task."""
        if not self.decomposed and self._decomposer_class is not None:
            self._decomposer_class(self)
            self.decomposed = True
        return self

    def addCommand(
        self,
        name: str,
        arguments: Mapping[str, Any],
        runnerPackages: str | None = None,
        watcherPackages: str | None = None,
    ) -> Command:
        """Add a command by hand; ``TaskAlreadyDecomposedError`` once the decomposer ran."""
        if self.decomposed:
            raise TaskAlreadyDecomposedError(
                f"task '{self.name}' was already decomposed by {self._decomposer}; add commands "
                "before decomposing, or build the task with decomposer=None"
            )
        return self.append_command(name, arguments, runnerPackages, watcherPackages)

    def append_command(
        self,
        name: str,
        arguments: Mapping[str, Any],
        runnerPackages: str | None,
        watcherPackages: str | None,
    ) -> Command:
        """Add a command whatever the decomposition state: the decomposer's own door."""
        command = Command(name, self, arguments, runnerPackages, watcherPackages)
        self.commands.append(command)
        return command
