"""The one status table: numbers and names come from the enums, and so does every helper."""

from __future__ import annotations

import pytest

from puliclient.errors import Error, UnknownStatusError
from puliclient.status import (
    CMD_STATUS_NAME,
    COMMAND_STATUS_COUNT,
    NODE_STATUS_COUNT,
    NODE_STATUS_NAMES,
    RN_STATUS_NAMES,
    CommandStatus,
    NodeStatus,
    is_status,
    known_statuses,
    parse_status,
)


def test_counts_and_names_follow_the_enums():
    assert COMMAND_STATUS_COUNT == 9 and NODE_STATUS_COUNT == 7
    assert CMD_STATUS_NAME[CommandStatus.TIMEOUT] == "TIMEOUT"
    assert NODE_STATUS_NAMES[NodeStatus.PAUSED] == "PAUSED"
    assert len(CMD_STATUS_NAME) == COMMAND_STATUS_COUNT
    assert RN_STATUS_NAMES == ("Unknown", "Booting", "Paused", "Idle", "Assigned", "Working", "Finishing")


@pytest.mark.parametrize("value, kind, expected", [
    (4, NodeStatus, NodeStatus.ERROR),
    ("4", NodeStatus, NodeStatus.ERROR),
    (" error ", NodeStatus, NodeStatus.ERROR),
    ("ERROR", CommandStatus, CommandStatus.ERROR),
    ("timeout", CommandStatus, CommandStatus.TIMEOUT),
    (CommandStatus.DONE, CommandStatus, CommandStatus.DONE),
])
def test_parse_status_takes_numbers_and_names(value, kind, expected):
    assert parse_status(value, kind) is expected


@pytest.mark.parametrize("value, kind", [
    ("fine", NodeStatus), (7, NodeStatus), ("7", NodeStatus), (-1, CommandStatus),
    ("TIMEOUT", NodeStatus), (True, NodeStatus), (None, CommandStatus),
])
def test_parse_status_refuses_what_names_no_status(value, kind):
    with pytest.raises(UnknownStatusError, match="unknown status .*; known: BLOCKED, READY"):
        parse_status(value, kind)


def test_unknown_status_is_a_puliclient_error_and_a_value_error():
    assert issubclass(UnknownStatusError, Error) and issubclass(UnknownStatusError, ValueError)


def test_is_status_refuses_bools_and_numbers_out_of_the_table():
    assert is_status(6, NodeStatus) and not is_status(7, NodeStatus)
    assert is_status(8, CommandStatus) and not is_status(9, CommandStatus)
    assert not is_status(True, NodeStatus) and not is_status("1", NodeStatus)


def test_known_statuses_lists_every_status_with_its_number():
    assert known_statuses(NodeStatus) == (
        "BLOCKED=0, READY=1, RUNNING=2, DONE=3, ERROR=4, CANCELED=5, PAUSED=6")


def test_puli_command_status_tuple_and_predicates() -> None:
    from puliclient.status import CMD_STATUS, isDoneStatus, isErrorStatus, isFinalStatus, isRunningStatus

    assert CMD_STATUS == tuple(CommandStatus) and len(CMD_STATUS) == COMMAND_STATUS_COUNT
    assert [CMD_STATUS_NAME[s] for s in CMD_STATUS] == [s.name for s in CommandStatus]
    assert [s for s in CommandStatus if isDoneStatus(s)] == [CommandStatus.DONE]
    # Puli counted CANCELED as an error, and not TIMEOUT: scripts that filter on it rely on that.
    assert {s for s in CommandStatus if isErrorStatus(s)} == {CommandStatus.ERROR, CommandStatus.CANCELED}
    assert {s for s in CommandStatus if isFinalStatus(s)} == {
        CommandStatus.DONE, CommandStatus.ERROR, CommandStatus.CANCELED, CommandStatus.TIMEOUT}
    assert {s for s in CommandStatus if isRunningStatus(s)} == {
        CommandStatus.ASSIGNED, CommandStatus.RUNNING, CommandStatus.FINISHING}
