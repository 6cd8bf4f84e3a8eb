"""Status numbers, kept exactly as Puli numbered them.

This is the one place where status values are spelled out: the client, the
scheduling core, the protocol and the CLI all import them from here, so a
script's ``statusList=[3]`` still means DONE everywhere. Everything else a
caller needs (how many statuses there are, the name of a number, a status
from a name or a number typed by a user, whether a value is a status) is
derived from the enums below; nobody writes a status number, a list of names
or a bound like ``0 <= s <= 8`` by hand.

Careful: node and command numbering differ (``NodeStatus.DONE == 3`` but
``CommandStatus.DONE == 5``). Dependencies use node statuses.
"""

from __future__ import annotations

from enum import IntEnum
from typing import TypeVar

from puliclient.errors import UnknownStatusError


class NodeStatus(IntEnum):
    """Status of a graph, a task group or a task."""

    BLOCKED = 0
    READY = 1
    RUNNING = 2
    DONE = 3
    ERROR = 4
    CANCELED = 5
    PAUSED = 6


class CommandStatus(IntEnum):
    """Status of one command (one process run on one render node)."""

    BLOCKED = 0
    READY = 1
    ASSIGNED = 2
    RUNNING = 3
    FINISHING = 4
    DONE = 5
    TIMEOUT = 6
    ERROR = 7
    CANCELED = 8


class RenderNodeStatus(IntEnum):
    """Status of a render node as the coordinator sees it."""

    UNKNOWN = 0
    BOOTING = 1
    PAUSED = 2
    IDLE = 3
    ASSIGNED = 4
    WORKING = 5
    FINISHING = 6


# Puli's module-level constants (``from puliclient import DONE``): node statuses.
BLOCKED = NodeStatus.BLOCKED
READY = NodeStatus.READY
RUNNING = NodeStatus.RUNNING
DONE = NodeStatus.DONE
ERROR = NodeStatus.ERROR
CANCELED = NodeStatus.CANCELED
PAUSED = NodeStatus.PAUSED

# Puli's CMD_* and NODE_* names, for scripts that used them.
CMD_BLOCKED = CommandStatus.BLOCKED
CMD_READY = CommandStatus.READY
CMD_ASSIGNED = CommandStatus.ASSIGNED
CMD_RUNNING = CommandStatus.RUNNING
CMD_FINISHING = CommandStatus.FINISHING
CMD_DONE = CommandStatus.DONE
CMD_TIMEOUT = CommandStatus.TIMEOUT
CMD_ERROR = CommandStatus.ERROR
CMD_CANCELED = CommandStatus.CANCELED

NODE_BLOCKED = NodeStatus.BLOCKED
NODE_READY = NodeStatus.READY
NODE_RUNNING = NodeStatus.RUNNING
NODE_DONE = NodeStatus.DONE
NODE_ERROR = NodeStatus.ERROR
NODE_CANCELED = NodeStatus.CANCELED
NODE_PAUSED = NodeStatus.PAUSED

CMD_STATUS = tuple(CommandStatus)  # Puli's tuple of every command status, in number order
CMD_STATUS_NAME = tuple(s.name for s in CommandStatus)
NODE_STATUS_NAMES = tuple(s.name for s in NodeStatus)
RN_STATUS_NAMES = tuple(s.name.capitalize() for s in RenderNodeStatus)  # Puli spelled them so

FINAL_COMMAND_STATUSES = frozenset(
    {CommandStatus.DONE, CommandStatus.ERROR, CommandStatus.CANCELED, CommandStatus.TIMEOUT}
)
RUNNING_COMMAND_STATUSES = frozenset(
    {CommandStatus.ASSIGNED, CommandStatus.RUNNING, CommandStatus.FINISHING}
)
# Puli's isErrorStatus counted CANCELED as an error and TIMEOUT not: kept so for old scripts.
ERROR_COMMAND_STATUSES = frozenset({CommandStatus.ERROR, CommandStatus.CANCELED})
FINAL_NODE_STATUSES = frozenset({NodeStatus.DONE, NodeStatus.ERROR, NodeStatus.CANCELED})


# How many statuses of each kind: the length of a per-status counter list.
COMMAND_STATUS_COUNT = len(CommandStatus)
NODE_STATUS_COUNT = len(NodeStatus)

AnyStatus = TypeVar("AnyStatus", NodeStatus, CommandStatus, RenderNodeStatus)

_NUMBERS: dict[type[IntEnum], frozenset[int]] = {
    kind: frozenset(int(s) for s in kind) for kind in (NodeStatus, CommandStatus, RenderNodeStatus)
}


def is_status(value: object, kind: type[IntEnum]) -> bool:
    """True for an int (not a bool) that numbers a status of ``kind``."""
    return type(value) is not bool and isinstance(value, int) and value in _NUMBERS[kind]


def known_statuses(kind: type[IntEnum]) -> str:
    """``"BLOCKED=0, READY=1, ..."``: the statuses of ``kind``, for error messages."""
    return ", ".join(f"{s.name}={int(s)}" for s in kind)


def parse_status(value: object, kind: type[AnyStatus]) -> AnyStatus:
    """The status of ``kind`` that ``value`` names: a number (``4``, ``"4"``) or a name in any
    case (``"error"``). Raises ``UnknownStatusError`` (a ``ValueError``) naming the known ones."""
    if is_status(value, kind):
        return kind(value)
    key = str(value).strip().upper()
    if key.isdigit() and int(key) in _NUMBERS[kind]:
        return kind(int(key))
    if key in kind.__members__:
        return kind[key]
    raise UnknownStatusError(
        f"unknown status {value!r}; known: {', '.join(kind.__members__)}"
    )


def isDoneStatus(status: int) -> bool:
    """True for the command status DONE (Puli's name)."""
    return status == CommandStatus.DONE


def isErrorStatus(status: int) -> bool:
    """True for a command that ended in ERROR or CANCELED (not TIMEOUT), as Puli counted it."""
    return status in ERROR_COMMAND_STATUSES


def isFinalStatus(status: int) -> bool:
    """True for a command status after which the command does not run any more."""
    return status in FINAL_COMMAND_STATUSES


def isRunningStatus(status: int) -> bool:
    """True for a command status that occupies a render node."""
    return status in RUNNING_COMMAND_STATUSES


def isFinalNodeStatus(status: int) -> bool:
    """True for a node status that will not change without an edit."""
    return status in FINAL_NODE_STATUSES
