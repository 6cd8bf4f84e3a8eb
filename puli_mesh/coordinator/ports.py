"""What the coordinator service needs of the outside: a socket to send on and a journal.

Typing protocols only, so the service runs the same over the real ones (a zmq ROUTER socket,
``journal.JournalWriter``) and over the in-memory stand-ins of the unit tests
(``in_memory.InMemoryRouter``, ``in_memory.InMemoryJournal``).

Not here: any behaviour.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol


class Router(Protocol):
    """Where the service sends: a zmq ROUTER socket, or ``in_memory.InMemoryRouter``."""

    def send_multipart(self, msg_parts: Sequence[bytes], flags: int = ..., /) -> Any: ...


class Journal(Protocol):
    """Where batches and snapshots go: ``journal.JournalWriter``, or ``in_memory.InMemoryJournal``."""

    def write_batch_async(self, batch_no: int, first: int, records: list[Any],
                          done: Callable[[Exception | None], None]) -> int:
        """Start writing; ``done(exc or None)`` later, on any thread. Returns the bytes written."""
        ...

    def write_snapshot(self, blob: bytes, index: int, durable_through: Callable[[], int]) -> bool:
        """Write a snapshot of the state after record ``index``, packed (blocking, on a worker thread)."""
        ...
