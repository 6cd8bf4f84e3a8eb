"""puliclient: describe render work as a graph of tasks, run it here or submit it to the mesh.

Puli's public API, kept name for name::

    from puliclient import Graph, DONE, ERROR

    graph = Graph("my_render")
    render = graph.addNewTask("render", {"cmd": "echo frame %%MI_FRAME%%",
                                         "start": 1, "end": 10, "packetSize": 5})
    notify = graph.addNewTask("notify", {"cmd": "echo done"})
    notify.dependsOn(render, [DONE, ERROR])
    graph.execute()      # here, in dependency order; or graph.submit()

Nothing here talks to ZooKeeper; sending a graph goes through
:mod:`puliclient.submission`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from puliclient.errors import (
    CommandDone,
    CommandError,
    ConnectionError,
    DependencyCycleError,
    Error,
    GraphError,
    GraphExecError,
    GraphExecInterrupt,
    GraphSubmissionError,
    JobTypeImportError,
    RangeError,
    RunnerTimeoutError,
    TaskAlreadyDecomposedError,
    ValidationError,
)
from puliclient.status import (
    BLOCKED,
    CANCELED,
    CMD_ASSIGNED,
    CMD_BLOCKED,
    CMD_CANCELED,
    CMD_DONE,
    CMD_ERROR,
    CMD_FINISHING,
    CMD_READY,
    CMD_RUNNING,
    CMD_STATUS,
    CMD_STATUS_NAME,
    CMD_TIMEOUT,
    DONE,
    ERROR,
    NODE_BLOCKED,
    NODE_CANCELED,
    NODE_DONE,
    NODE_ERROR,
    NODE_PAUSED,
    NODE_READY,
    NODE_RUNNING,
    PAUSED,
    READY,
    RUNNING,
    CommandStatus,
    NodeStatus,
    isDoneStatus,
    isErrorStatus,
    isFinalStatus,
    isRunningStatus,
)

if TYPE_CHECKING:
    from puliclient.graph import Graph
    from puliclient.hierarchical import HierarchicalDict
    from puliclient.jobs import RunnerToolkit
    from puliclient.runner import CallableRunner
    from puliclient.task import Command, Task
    from puliclient.taskgroup import TaskGroup

__version__ = (0, 3, 0)

# The model is imported on first use: a render node starts
# ``python -m puliclient.commandwatcher`` per command, which needs none of it
# (that import alone cost ~15 ms per command).
_LAZY = {
    "Command": "puliclient.task",
    "Graph": "puliclient.graph",
    "HierarchicalDict": "puliclient.hierarchical",
    "CallableRunner": "puliclient.runner",
    "RunnerToolkit": "puliclient.jobs",
    "Task": "puliclient.task",
    "TaskGroup": "puliclient.taskgroup",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'puliclient' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value

__all__ = [
    "BLOCKED", "CANCELED", "CMD_ASSIGNED", "CMD_BLOCKED", "CMD_CANCELED", "CMD_DONE",
    "CMD_ERROR", "CMD_FINISHING", "CMD_READY", "CMD_RUNNING", "CMD_STATUS", "CMD_STATUS_NAME",
    "CMD_TIMEOUT", "DONE", "ERROR",
    "NODE_BLOCKED", "NODE_CANCELED", "NODE_DONE", "NODE_ERROR", "NODE_PAUSED", "NODE_READY",
    "NODE_RUNNING", "PAUSED", "READY", "RUNNING",
    "CallableRunner", "Command", "CommandDone", "CommandError", "CommandStatus",
    "ConnectionError", "DependencyCycleError", "Error", "Graph", "GraphError", "GraphExecError",
    "GraphExecInterrupt", "GraphSubmissionError", "HierarchicalDict", "JobTypeImportError",
    "NodeStatus", "RangeError", "RunnerTimeoutError", "RunnerToolkit", "Task", "TaskAlreadyDecomposedError",
    "TaskGroup", "ValidationError",
    "isDoneStatus", "isErrorStatus", "isFinalStatus", "isRunningStatus",
]
