"""Faults the agent survives: a bug while doing one thing fails that thing, never the agent.

An agent runs render nodes' commands and, while it leads, the whole farm: an exception that
escaped its loop would kill what it runs and, for a leader, stop dispatch for a session
timeout (and the same input could kill every successor). So each unit of work the loop does
on its own (a periodic step of the coordinator, a worker's tick, a report from a command) runs
through :func:`guarded`: an exception is logged and counted under the unit's name, and the
loop goes on. Message handling is guarded the same way where it is dispatched.

The count is shown (``puli-mesh status``: ``faults`` for the leader's coordinator, a ``faults``
total per node), so a fault that repeats is visible rather than silent. The log is bounded: the
full traceback is written the 1st, 2nd, 4th, 8th... time a unit fails, so a fault on every
loop turn cannot flood the disk.

Not here: what to do about a fault (nothing is retried here), faults of the ZooKeeper session
(the agent's role machine).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Faults:
    """How many times each named unit of work failed."""

    counts: dict[str, int] = field(default_factory=dict)

    def note(self, what: str) -> bool:
        """Count one failure of ``what``; True when it is worth a full log entry (1st, 2nd,
        4th, 8th... failure)."""
        count = self.counts.get(what, 0) + 1
        self.counts[what] = count
        return count & (count - 1) == 0

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def guarded(faults: Faults, what: str, work: Callable[..., Any], *args: Any) -> bool:
    """Run ``work(*args)``; on an exception, count it under ``what``, log it (bounded), return
    False. Returns True when the work ended normally."""
    try:
        work(*args)
    except Exception:  # a bug must not take the agent, and what it runs, down
        if faults.note(what):
            log.exception("%s failed (%d time(s) so far); the agent goes on", what, faults.counts[what])
        return False
    return True
