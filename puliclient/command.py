"""``Command``: one process to run on one render node, as a decomposer produced it.

A command is a description and its own arguments; the runner, the environment
and the inherited arguments come from its task and the task's ancestors.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from puliclient.node import EMPTY

if TYPE_CHECKING:
    from puliclient.task import Task


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
