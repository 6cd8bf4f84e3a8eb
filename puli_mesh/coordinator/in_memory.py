"""An in-memory journal and router: the service shell without ZooKeeper or sockets.

Stand-ins with the interfaces the service uses (``ports.Journal``, ``ports.Router``),
for unit tests of the shell and for anyone driving a coordinator by hand::

    router, journal = InMemoryRouter(), InMemoryJournal()
    service = CoordinatorService(router, SchedulingCore(), 1, journal=journal, post=..., ...)
    ...                                   # feed it messages
    journal.complete(1)                   # batch 1 is durable: the service is told via post
    router.take()                         # [(identity, Message), ...] sent so far

:class:`InMemoryJournal` keeps each write pending until the test says how it ended
(:meth:`~InMemoryJournal.complete`), so ordering, failures and fencing are in the
test's hands; the ``done`` callback runs on the caller's thread.

Not here: fencing by epoch, parts, compression (``journal`` on a real ZooKeeper).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgpack

from puli_mesh.coordinator.journal import unpack
from puli_mesh.protocol import Message, decode


@dataclass(slots=True)
class InMemoryRouter:
    """Records what is sent, decoded; refuses nothing."""

    sent: list[tuple[bytes, Message]] = field(default_factory=list)

    def send_multipart(self, msg_parts: Sequence[bytes], flags: int = 0, /) -> None:
        identity, data = msg_parts
        self.sent.append((identity, decode(data)))

    def take(self) -> list[tuple[bytes, Message]]:
        """What was sent since the last call, in order."""
        out, self.sent = self.sent, []
        return out


@dataclass(slots=True)
class WrittenBatch:
    number: int
    first: int
    records: list[Any]
    done: Callable[[Exception | None], None]


@dataclass(slots=True)
class InMemoryJournal:
    """Batches written and pending, records made durable, snapshots taken."""

    pending: list[WrittenBatch] = field(default_factory=list)
    """Writes started, not yet completed, in the order they were started."""
    durable: dict[int, Any] = field(default_factory=dict)
    """Record index -> record, for every completed write."""
    writes: int = 0
    snapshots: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    refuse_writes: Exception | None = None
    """Raised by the next ``write_batch_async`` calls, as kazoo does when not connected."""

    def write_batch_async(self, batch_no: int, first: int, records: list[Any],
                          done: Callable[[Exception | None], None]) -> int:
        if self.refuse_writes is not None:
            raise self.refuse_writes
        # Packed as the journal packs a batch (its map, its list of records): a record it could
        # not pack fails here too, as it would against ZooKeeper.
        size = len(msgpack.packb({"records": records}, use_bin_type=True))
        self.writes += 1
        self.pending.append(WrittenBatch(batch_no, first, list(records), done))
        return size

    def complete(self, number: int | None = None, exc: Exception | None = None) -> None:
        """End the oldest pending write (or batch ``number``'s): durable, or failed with ``exc``."""
        index = 0 if number is None else next(i for i, b in enumerate(self.pending) if b.number == number)
        batch = self.pending.pop(index)
        if exc is None:
            for offset, record in enumerate(batch.records):
                self.durable.setdefault(batch.first + offset, record)
        batch.done(exc)

    def write_snapshot(self, blob: bytes, index: int, durable_through: Callable[[], int]) -> bool:
        self.snapshots.append((index, unpack(blob)))
        return True
