"""The one error hierarchy of ``puli_mesh``.

Every error says what was wrong and, where it can, what to do about it.
"""

from __future__ import annotations


class PuliMeshError(Exception):
    """Base of every error raised by puli_mesh."""


class ConfigError(PuliMeshError):
    """The settings (file, environment or flags) are invalid."""


class ProtocolError(PuliMeshError):
    """A message could not be decoded or failed validation."""


class CoreError(PuliMeshError):
    """The scheduling core refused an event or an edit."""


class InvalidGraphError(CoreError):
    """A submitted graph representation is malformed."""


class UnknownIdError(CoreError):
    """No graph, task group, task, command or render node has this id or name."""


class IllegalTransitionError(CoreError):
    """The requested edit is not allowed in the current status."""


class UnknownLicenceError(CoreError):
    """A task names a licence the cluster does not define."""


class UnknownPoolError(CoreError):
    """A graph names a pool the cluster does not define."""


class ZooKeeperError(PuliMeshError):
    """ZooKeeper could not be reached or refused an operation."""


class NotLeaderError(PuliMeshError):
    """This agent does not lead; the request must go to the leader."""


class FencedError(PuliMeshError):
    """A newer coordinator epoch exists: this coordinator must step down."""


class MeshUnreachableError(PuliMeshError):
    """A client found no agent (or no ZooKeeper) answering: nothing was done."""


class MeshRequestError(PuliMeshError):
    """An agent answered a client's request with an ERROR; ``code`` is its stable word,
    one of ``puli_mesh.protocol.ErrorCode`` (where each is described)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class JournalFormatError(PuliMeshError):
    """The journal in ZooKeeper was written in a format this version does not read."""


class JournalDamagedError(PuliMeshError):
    """The journal in ZooKeeper lacks something (a snapshot part, a batch between two stored ones):
    taking over from it would rebuild a wrong farm, so no agent leads until an operator restores
    or resets it."""


class AccessError(PuliMeshError):
    """A requester's role does not allow the request; ``needed`` is the role that would
    (a ``puli_mesh.access.Role``; None when no role may make it)."""

    def __init__(self, message: str, needed: str | None = None) -> None:
        super().__init__(message)
        self.needed = needed


class KeyMaterialError(ConfigError):
    """A key file or a key registry record is missing, unreadable, too open or malformed."""


class JobUserError(PuliMeshError):
    """A command cannot run as its job's user on this node (``run_as_job_user``): the user is
    empty, unknown here, or root. The command ends in ERROR; the agent never runs it as itself."""


class UnknownKeyError(PuliMeshError):
    """No key of the cluster's registry has this name."""


class UnknownHookError(PuliMeshError):
    """No event hook of the cluster has this name."""


class UnknownShareError(PuliMeshError):
    """The pool has no share account of this name."""


class SettingsRefusedError(PuliMeshError):
    """A change of the cluster's settings that its current state does not allow (a key name
    in use, revoking the last admin key)."""


class SnapshotError(PuliMeshError):
    """A snapshot of the core could not be taken (its dump failed, or the process taking it
    died); nothing was written, and the next one is taken on schedule."""


class TokenError(AccessError):
    """A web token is malformed, expired, made for another cluster, altered, or names a key
    that is not (or no longer) registered: its bearer is refused."""
