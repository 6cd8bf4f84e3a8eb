"""Execution factories for the node tests: ``execution`` for either implementation, one per kind."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from puli_mesh.node.execution import CommandExecution
from puli_mesh.node.shell_execution import ShellFramesExecution
from tests.unit.node.running import Factory, execution_factory


@pytest.fixture(params=[CommandExecution, ShellFramesExecution], ids=["watcher", "native"])
def execution(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Factory]:
    """Both implementations, for behaviour a DefaultCommandRunner command must have either way."""
    with execution_factory(request.param, tmp_path) as factory:
        yield factory


@pytest.fixture
def watcher_execution(tmp_path: Path) -> Iterator[Factory]:
    with execution_factory(CommandExecution, tmp_path) as factory:
        yield factory


@pytest.fixture
def native_execution(tmp_path: Path) -> Iterator[Factory]:
    with execution_factory(ShellFramesExecution, tmp_path) as factory:
        yield factory
