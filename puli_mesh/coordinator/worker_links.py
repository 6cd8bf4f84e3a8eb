"""What the leader knows of its workers: the links, which are due a heartbeat, which nodes are lost.

Two sources, two truths (Paranoid Pirate for the first):

* **Heartbeats** tell which workers can be *reached*: a link is alive while it was heard
  from within ``interval * liveness``; the leader sends a HEARTBEAT on a link it has sent
  nothing on for ``interval``.
* **ZooKeeper membership** tells which nodes are *alive*: a node gone from ZooKeeper is
  lost once ``lost_grace`` has passed without it coming back (:class:`LostNodes`); its
  commands are then re-queued.

Pure: time is an argument (monotonic seconds).
Not here: sending (the service shell), what losing a node does (the core's ``node_left``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class WorkerLink:
    """What the coordinator knows of one connected worker."""

    name: str
    identity: bytes
    endpoint: str
    last_heard: float
    last_sent: float = 0.0
    resources: dict[str, Any] | None = None

    def alive(self, now: float, interval: float, liveness: int) -> bool:
        """Heard from within ``liveness`` heartbeat intervals."""
        return now - self.last_heard <= interval * liveness


def heartbeats_due(links: Iterable[WorkerLink], now: float, interval: float) -> list[WorkerLink]:
    """The links nothing was sent on for ``interval``: they get a HEARTBEAT."""
    return [link for link in links if now - link.last_sent >= interval]


@dataclass(slots=True)
class LostNodes:
    """Nodes gone from ZooKeeper, each with the time it will be lost unless it comes back."""

    grace: float
    members: set[str] | None = None
    """ZooKeeper's members as last seen (None: not seen yet)."""
    deadlines: dict[str, float] = field(default_factory=dict)

    def observe(self, present: set[str], online: Iterable[str], now: float) -> None:
        """ZooKeeper's members are now ``present``; ``online`` are the nodes the core has
        online. A node known (online, or a member before) and missing now is lost after the
        grace; one that is back is not."""
        known = set(online)
        if self.members is not None:
            known |= self.members
        for gone in sorted(known - present):
            self.deadlines.setdefault(gone, now + self.grace)
        for back in present & set(self.deadlines):
            del self.deadlines[back]
        self.members = set(present)

    def returned(self, name: str) -> None:
        """The node said HELLO again: it is not lost."""
        self.deadlines.pop(name, None)

    def expired(self, now: float) -> list[str]:
        """The nodes whose grace has passed, in name order; they are forgotten here."""
        out = [name for name, deadline in sorted(self.deadlines.items()) if now >= deadline]
        for name in out:
            del self.deadlines[name]
        return out
