"""Puli's ``octopus.core.enums.rendernode``: render-node statuses (``RN_STATUS_NAMES`` spelled
as Puli did: ``'Unknown'``, ``'Idle'``...)."""

from puliclient.status import RN_STATUS_NAMES, RenderNodeStatus

RN_UNKNOWN = RenderNodeStatus.UNKNOWN
RN_BOOTING = RenderNodeStatus.BOOTING
RN_PAUSED = RenderNodeStatus.PAUSED
RN_IDLE = RenderNodeStatus.IDLE
RN_ASSIGNED = RenderNodeStatus.ASSIGNED
RN_WORKING = RenderNodeStatus.WORKING
RN_FINISHING = RenderNodeStatus.FINISHING

__all__ = ["RN_UNKNOWN", "RN_BOOTING", "RN_PAUSED", "RN_IDLE", "RN_ASSIGNED", "RN_WORKING", "RN_FINISHING",
           "RN_STATUS_NAMES"]
