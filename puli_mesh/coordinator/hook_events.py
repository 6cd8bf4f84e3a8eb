"""The hook events' outbox: what happened that a hook may ask for, kept in the core's state.

The core notes an event where the change happens (``lifecycle``: a job entering DONE, ERROR or
CANCELED, a command failing with no attempt left, a node quarantined; ``render_node_events``: a
node lost; ``preemption``: a command preempted for a share account). The change comes from a
journalled record, so the event is journalled with it: a successor that replays the journal (or
restores a snapshot, which holds the outbox) has the same events under the same sequence numbers.
That is what makes delivery at least once across a failover: the leader's delivery
(``hook_delivery``) keeps, per hook, the sequence number it delivered up to in ZooKeeper, and a
successor delivers every event after it again.

Guarantees: pure and deterministic (time is an argument); bounded (``hooks.OUTBOX_MAX_EVENTS``,
and events past ``hooks.GIVE_UP_S`` go when a new one comes); sequence numbers grow by one per
event over the cluster's life (kept by snapshots).

:class:`EventGate` holds what a record made until the record is durable (the service asks it).

Not here: which hook wants an event (``puli_mesh.hooks``), delivering (``hook_delivery``).
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import astuple, dataclass
from typing import Any

from puli_mesh.hooks import GIVE_UP_S, OUTBOX_MAX_EVENTS

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class HookEvent:
    """One event: its sequence number, kind (``hooks.EVENT_KINDS``), wall-clock time, and what it is about."""

    seq: int
    kind: str
    time: float
    job_id: int | None = None
    job_name: str | None = None
    user: str | None = None
    pool: str | None = None
    status: str | None = None
    command_id: int | None = None
    attempt: int | None = None
    message: str | None = None
    node: str | None = None

    def document(self, cluster: str) -> dict[str, Any]:
        """The JSON document a hook receives; ``id`` is unique in the cluster (receivers
        de-duplicate on it: a delivery may come twice)."""
        job = None if self.job_id is None else {"id": self.job_id, "name": self.job_name, "user": self.user,
                                                "pool": self.pool, "status": self.status}
        command = None if self.command_id is None else {"id": self.command_id, "attempt": self.attempt,
                                                        "message": self.message}
        return {"id": f"{cluster}:{self.seq}", "seq": self.seq, "kind": self.kind, "time": self.time,
                "cluster": cluster, "job": job, "command": command, "node": self.node}


class EventOutbox:
    """The events not yet past the give-up horizon, oldest first."""

    __slots__ = ("events", "next_seq")

    def __init__(self) -> None:
        self.events: deque[HookEvent] = deque()
        self.next_seq = 1

    @property
    def last_seq(self) -> int:
        return self.next_seq - 1

    def add(self, kind: str, now: float, **about: Any) -> HookEvent:
        """Note an event of ``kind`` at ``now``; older events past the horizon or the bound go."""
        events = self.events
        while events and (now - events[0].time > GIVE_UP_S or len(events) >= OUTBOX_MAX_EVENTS):
            gone = events.popleft()
            if len(events) + 1 >= OUTBOX_MAX_EVENTS:
                log.warning("hook event %d (%s) dropped from the outbox: %d events kept at most",
                            gone.seq, gone.kind, OUTBOX_MAX_EVENTS)
        event = HookEvent(self.next_seq, kind, now, **about)
        self.next_seq += 1
        events.append(event)
        return event

    def after(self, seq: int) -> list[HookEvent]:
        """The events kept with a sequence number above ``seq``, in order (from the newest end:
        the service asks for the few a record just made)."""
        out = []
        for event in reversed(self.events):
            if event.seq <= seq:
                break
            out.append(event)
        out.reverse()
        return out

    def snapshot(self) -> dict[str, Any]:
        return {"next_seq": self.next_seq, "events": [list(astuple(e)) for e in self.events]}

    @classmethod
    def restore(cls, data: dict[str, Any] | None) -> EventOutbox:
        """From :meth:`snapshot`'s data (None: a snapshot older than hooks, an empty outbox)."""
        outbox = cls()
        if data:
            outbox.next_seq = int(data["next_seq"])
            outbox.events.extend(HookEvent(*fields) for fields in data["events"])
        return outbox


class EventGate:
    """Events whose record is not yet durable, held by the record's journal index: a hook hears
    of a change only once a successor would know of it too."""

    __slots__ = ("held", "next_seq")

    def __init__(self, next_seq: int) -> None:
        self.next_seq = next_seq
        """The outbox's next sequence number when last looked at: events below it are held or handed over."""
        self.held: deque[tuple[int, list[HookEvent]]] = deque()

    def note(self, outbox: EventOutbox, index: int) -> None:
        """The outbox's events since the last call were made by records up to ``index``."""
        events = outbox.after(self.next_seq - 1)
        self.next_seq = outbox.next_seq
        if events:
            self.held.append((index, events))

    def durable(self, durable_index: int) -> list[HookEvent]:
        """The held events whose record is durable now (records up to ``durable_index``), in order."""
        out: list[HookEvent] = []
        held = self.held
        while held and held[0][0] <= durable_index:
            out += held.popleft()[1]
        return out
