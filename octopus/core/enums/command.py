"""Puli's ``octopus.core.enums.command``: command statuses and their helpers."""

from puliclient.status import (
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
    isFinalStatus,
    isRunningStatus,
)

__all__ = ["CMD_BLOCKED", "CMD_READY", "CMD_ASSIGNED", "CMD_RUNNING", "CMD_FINISHING", "CMD_DONE",
           "CMD_TIMEOUT", "CMD_ERROR", "CMD_CANCELED", "CMD_STATUS", "CMD_STATUS_NAME",
           "isFinalStatus", "isRunningStatus"]
