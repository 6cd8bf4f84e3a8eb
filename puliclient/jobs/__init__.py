"""Jobs: runners, their parameters, decomposers, expanders, the toolkit and the loaders.

The dotted paths users put in their graphs (``puliclient.jobs.DefaultCommandRunner``,
``puliclient.jobs.DefaultTaskDecomposer``) resolve here. ``TimeoutError`` is
Puli's name for :class:`~puliclient.errors.RunnerTimeoutError` (not the builtin).
"""

from __future__ import annotations

from puliclient.errors import (
    CommandDone,
    CommandError,
    JobTypeImportError,
    RangeError,
    RunnerTimeoutError,
    ValidationError,
)
from puliclient.jobs.decomposers import DefaultTaskDecomposer, TaskDecomposer, TaskExpander
from puliclient.jobs.loading import load_class
from puliclient.jobs.parameters import (
    BooleanParameter,
    CommandRunnerParameter,
    FloatParameter,
    IntegerParameter,
    StringListParameter,
    StringParameter,
)
from puliclient.jobs.runners import CommandRunner, DefaultCommandRunner
from puliclient.jobs.toolkit import RunnerToolkit

TimeoutError = RunnerTimeoutError  # noqa: A001 - Puli's name, kept for old runners


def loadCommandRunner(name: str) -> type[CommandRunner]:
    """The ``CommandRunner`` subclass at dotted path ``name`` (``JobTypeImportError`` if not)."""
    return load_class(name, CommandRunner, "runner")


def loadTaskDecomposer(name: str) -> type[TaskDecomposer]:
    """The ``TaskDecomposer`` subclass at dotted path ``name``."""
    return load_class(name, TaskDecomposer, "decomposer")


def loadTaskExpander(name: str) -> type[TaskExpander]:
    """The ``TaskExpander`` subclass at dotted path ``name``."""
    return load_class(name, TaskExpander, "expander")


__all__ = [
    "BooleanParameter",
    "CommandDone",
    "CommandError",
    "CommandRunner",
    "CommandRunnerParameter",
    "DefaultCommandRunner",
    "DefaultTaskDecomposer",
    "FloatParameter",
    "IntegerParameter",
    "JobTypeImportError",
    "RangeError",
    "RunnerTimeoutError",
    "RunnerToolkit",
    "StringListParameter",
    "StringParameter",
    "TaskDecomposer",
    "TaskExpander",
    "TimeoutError",
    "ValidationError",
    "loadCommandRunner",
    "loadTaskDecomposer",
    "loadTaskExpander",
]
