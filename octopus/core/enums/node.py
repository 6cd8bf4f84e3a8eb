"""Puli's ``octopus.core.enums.node``: node (job, group, task) statuses."""

from puliclient.status import (
    NODE_BLOCKED,
    NODE_CANCELED,
    NODE_DONE,
    NODE_ERROR,
    NODE_PAUSED,
    NODE_READY,
    NODE_RUNNING,
    NODE_STATUS_NAMES,
    isFinalNodeStatus,
)

__all__ = ["NODE_BLOCKED", "NODE_READY", "NODE_RUNNING", "NODE_DONE", "NODE_ERROR", "NODE_CANCELED",
           "NODE_PAUSED", "NODE_STATUS_NAMES", "isFinalNodeStatus"]
