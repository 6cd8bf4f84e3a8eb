"""Every exception of ``puliclient``, in one hierarchy.

Graph building and submission errors derive from :class:`GraphError` or
:class:`Error`; the errors a runner raises on a render node derive from
:class:`CommandError`, which the command watcher maps to a command status
(see :mod:`puliclient.commandwatcher`). The errors of a running farm
(:class:`puliclient.farm.Farm`) derive from :class:`FarmError`, one class per
error code the mesh answers with, or are a :class:`FarmUnreachableError`.

This module only defines classes (and which class stands for which of the
mesh's error codes): it does not decide what any of them means for a status or
for an exit code.
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


class JobTypeImportError(Error, ImportError):
    """A runner, decomposer or expander named by dotted path could not be loaded.

    Also an ``ImportError``, as in Puli: scripts wrap a runner load in ``except ImportError``."""


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


class FarmError(Error):
    """The mesh refused a request of :class:`puliclient.farm.Farm`.

    Each subclass stands for one of the mesh's stable error codes, so callers tell
    errors apart by class; ``code`` keeps the word itself (scripts test it). A code
    this client does not know gives a plain ``FarmError`` carrying that code.
    """

    code = "error"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code

    @staticmethod
    def from_code(code: str, message: str) -> FarmError:
        """The error the mesh meant by ``code``."""
        return FARM_ERROR_CLASSES.get(code, FarmError)(message, code)


class FarmInvalidRequestError(FarmError):
    """The request is malformed: bad arguments, an invalid graph, an edit naming no job."""

    code = "invalid"


class FarmNotFoundError(FarmError):
    """No graph, task, command, render node, pool or licence has this id or name (yet)."""

    code = "not_found"


class FarmIllegalEditError(FarmError):
    """The edit makes no sense in the current status (resume what is not paused...)."""

    code = "illegal"


class FarmRefusedError(FarmError):
    """The scheduling core refused the request for another reason."""

    code = "refused"


class FarmNoLeaderError(FarmError):
    """No coordinator is elected yet; the same request may succeed in a moment."""

    code = "no_leader"


class FarmBusyError(FarmError):
    """Too many of this client's requests already wait for the journal (or the journal is
    behind): nothing was done; the same request may succeed once they are answered."""

    code = "busy"


class FarmForbiddenError(FarmError):
    """Your key may not make this request: the message names the role it needs (``user`` for
    your own jobs, ``operator`` for anyone's, ``admin`` for the cluster), or your key is
    unknown or revoked. Ask an admin."""

    code = "forbidden"


class FarmProtocolError(FarmError):
    """A message between this client and the mesh could not be decoded."""

    code = "protocol"


class FarmInternalError(FarmError):
    """The agent failed while handling the request (a bug; its log says more)."""

    code = "internal"


FARM_ERROR_CLASSES: dict[str, type[FarmError]] = {
    **{cls.code: cls for cls in (FarmInvalidRequestError, FarmNotFoundError, FarmIllegalEditError,
                                 FarmRefusedError, FarmNoLeaderError, FarmBusyError, FarmForbiddenError,
                                 FarmProtocolError, FarmInternalError)},
    # Answers to a worker's messages, never to a request; a client that meets one anyway
    # sees what it means to it (the error keeps the code itself).
    "not_leader": FarmNoLeaderError,
    "hello_first": FarmProtocolError,
    "not_member": FarmProtocolError,
    "linked": FarmProtocolError,
}
"""The class of every code of ``puli_mesh.protocol.ErrorCode``, keyed by its value (the wire's
word): puliclient does not import the mesh's protocol to be used; a test checks they agree."""


class FarmUnreachableError(Error):
    """No agent of the mesh (or no ZooKeeper) answered: nothing was done.

    Not a :class:`FarmError`: the mesh did not refuse anything, it was not there.
    """


__all__ = [
    "CommandDone",
    "CommandError",
    "ConnectionError",
    "DependencyCycleError",
    "Error",
    "FARM_ERROR_CLASSES",
    "FarmError",
    "FarmIllegalEditError",
    "FarmInternalError",
    "FarmInvalidRequestError",
    "FarmNoLeaderError",
    "FarmNotFoundError",
    "FarmProtocolError",
    "FarmRefusedError",
    "FarmUnreachableError",
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
