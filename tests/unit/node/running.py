"""Helpers for the execution tests: specs, a tiny agent loop, process checks, factories that clean up.

Nothing here mocks a process or sleeps to synchronise: ``drive`` selects on the
execution's ``report_fd`` (a pipe for the watcher, a pidfd for native frames)
and calls ``read_reports``/``check`` until a condition holds or a deadline passes.
"""

from __future__ import annotations

import select
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil

from puli_mesh.node.execution import CommandExecution, ExecutionEvent
from puli_mesh.node.shell_execution import ShellFramesExecution
from puli_mesh.protocol import CommandSpec

DEFAULT_RUNNER = "puliclient.jobs.DefaultCommandRunner"

ASSIGN_FIELDS: dict[str, Any] = {
    "epoch": 4,
    "command_id": 42,
    "attempt": 1,
    "runner": DEFAULT_RUNNER,
    "arguments": {"cmd": "true"},
    "environment": {"PULI_TEST_VAR": "from-the-spec"},
    "timeout": None,
    "licences": ["nuke"],
    "cores": 2,
    "ram_mb": 1024,
    "task_id": 7,
    "task_name": "render_7",
    "graph_id": 3,
    "user": "jdoe",
    "name": "render_7_1_3",
    "after": 0,
}

Execution = CommandExecution | ShellFramesExecution
Factory = Callable[..., Any]


def make_spec(**overrides: Any) -> CommandSpec:
    return CommandSpec.from_map({**ASSIGN_FIELDS, **overrides})


def drive(ex: Execution, until: Callable[[], bool], timeout: float = 20.0) -> list[ExecutionEvent]:
    """Run the loop the agent runs (poll the report fd, read, check) until ``until()``."""
    events: list[ExecutionEvent] = []
    deadline = time.monotonic() + timeout
    while not until():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s; events so far: {events}")
        fd = ex.report_fd
        select.select([fd] if fd >= 0 else [], [], [], 0.05)
        events += ex.read_reports()
        events += ex.check(time.monotonic())
    return events


def run(ex: Execution, timeout: float = 20.0) -> list[ExecutionEvent]:
    ex.start()
    return drive(ex, lambda: ex.finished, timeout)


def gone(proc: psutil.Process) -> bool:
    """True once a process is dead (a zombie waiting for init to reap it counts as dead)."""
    try:
        return not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def pid_gone(pid: int) -> bool:
    try:
        return gone(psutil.Process(pid))
    except psutil.NoSuchProcess:
        return True


def tree_of(ex: Execution) -> list[psutil.Process]:
    assert ex.pid is not None
    root = psutil.Process(ex.pid)
    return [root, *root.children(recursive=True)]


@contextmanager
def execution_factory(cls: type[Execution], tmp_path: Path) -> Iterator[Factory]:
    """Makes ``cls`` executions logging under tmp_path; kills whatever still runs at the end."""
    made: list[Execution] = []

    def factory(spec: CommandSpec | None = None, **kwargs: Any) -> Execution:
        kwargs.setdefault("log_dir", tmp_path / "logs")
        kwargs.setdefault("node_name", "rn1")
        ex = cls(spec or make_spec(), **kwargs)
        made.append(ex)
        return ex

    try:
        yield factory
    finally:
        for ex in made:
            if ex.pid is not None and not ex.finished:
                ex.kill(reason="test teardown", grace=0)
                drive(ex, lambda ex=ex: ex.finished, timeout=10)
