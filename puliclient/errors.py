"""Every exception of ``puliclient``, in one hierarchy.

Graph building and submission errors derive from :class:`GraphError` or
:class:`Error`; the errors a runner raises on a render node derive from
:class:`CommandError`, which the command watcher maps to a command status
(see :mod:`puliclient.commandwatcher`). This module only defines classes: it
does not decide what any of them means for a status.
"""

from __future__ import annotations


class Error(Exception):
    """Base class of every puliclient error."""


class GraphError(Error):
    """A graph, a node or a representation is malformed; the message names the node."""


class ConnectionError(GraphError):  # noqa: A001 - Puli's public name
    """An edge given to ``addEdges``/``addChain``/``dependsOn`` is malformed."""


class DependencyCycleError(GraphError):
    """The dependencies of a graph form a cycle; the message shows the cycle."""


class TaskAlreadyDecomposedError(GraphError):
    """A command was added by hand to a task its decomposer already decomposed."""


class UnknownStatusError(Error, ValueError):
    """A value names no status (neither a known number nor a known name)."""


class GraphExecError(Error):
    """Local execution (``Graph.execute``) could not run the graph."""


class GraphExecInterrupt(GraphExecError):
    """Local execution was interrupted (Ctrl-C); what was running has been killed."""


class GraphSubmissionError(Error):
    """The graph could not be submitted to the mesh."""


class JobTypeImportError(Error):
    """A runner, decomposer or expander named by dotted path could not be loaded."""


class CommandError(Error):
    """A runner failed: the command ends in ERROR with this message."""


class CommandDone(Error):  # noqa: N818 - Puli's public name
    """Raised by a runner to end its command early, as DONE."""


class ValidationError(CommandError):
    """A runner argument is missing or cannot be converted to its parameter type."""


class RangeError(ValidationError):
    """A runner argument is outside the parameter's ``min``/``max``."""


class RunnerTimeoutError(CommandError):
    """A runner went past its timeout: the command ends in TIMEOUT.

    Puli called this ``jobs.TimeoutError``; that alias is kept in
    :mod:`puliclient.jobs` (it is not the builtin ``TimeoutError``).
    """


__all__ = [
    "CommandDone",
    "CommandError",
    "ConnectionError",
    "DependencyCycleError",
    "Error",
    "GraphError",
    "GraphExecError",
    "GraphExecInterrupt",
    "GraphSubmissionError",
    "JobTypeImportError",
    "RangeError",
    "RunnerTimeoutError",
    "TaskAlreadyDecomposedError",
    "UnknownStatusError",
    "ValidationError",
]
