"""What the leader knows of its workers: the links, which are due a heartbeat, which nodes are lost.

Two sources, two truths (Paranoid Pirate for the first):

* **Heartbeats** tell which workers can be *reached*: a link is alive while it was heard
  from within ``interval * liveness``. Workers heartbeat, only on silent links (a worker that
  said nothing for an interval sends a HEARTBEAT); the leader answers one only if it said
  nothing on that link for half an interval. The leader never walks its links to beat them.
  The interval grows with the farm (:func:`scale_heartbeat_interval`): heartbeats cost the leader
  a message each, and at 2,000 nodes a fixed 0.5 s interval was 8,000 messages a second
  and a quarter of a core on an idle farm.
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

from puli_mesh.limits import heartbeat_interval_within


@dataclass(slots=True)
class WorkerLink:
    """What the coordinator knows of one connected worker."""

    name: str
    identity: bytes
    endpoint: str
    last_heard: float
    last_sent: float = 0.0
    resources: dict[str, Any] | None = None
    welcome_index: int = 0
    """The journal index its WELCOME waits for: until it is durable, a HELLO said again on this
    link is the same HELLO (a worker waiting for its WELCOME) and is not run again."""

    def alive(self, now: float, interval: float, liveness: int) -> bool:
        """Heard from within ``liveness`` heartbeat intervals."""
        return now - self.last_heard <= interval * liveness


HEARTBEATS_PER_S = 250.0
"""The heartbeats a second a leader lets its workers send it (each may be answered): with more
links than this per configured interval, the interval grows to keep to it (Nomad's servers
scale their nodes' heartbeat TTL the same way, 50 a second by default). At 500 a second (1,000
messages with the answers, and a loop turn for most) an idle 2,000-node farm cost its leader
5 % of a core; ZooKeeper, not heartbeats, tells whether a node is alive."""


def scale_heartbeat_interval(configured: float, links: int, per_second: float = HEARTBEATS_PER_S) -> float:
    """The heartbeat interval for a leader with ``links`` workers: the configured one, or longer
    so that the workers' heartbeats stay within ``per_second``; at most ``MAX_HEARTBEAT_INTERVAL_S``."""
    return heartbeat_interval_within(configured, links / per_second)


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
