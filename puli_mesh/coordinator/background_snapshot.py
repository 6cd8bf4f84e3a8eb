"""Snapshots that do not stall the leader's loop: a forked child is the frozen state.

A snapshot must be the exact state after record ``index``, so the state must not move
while it is read, and reading it (``snapshot.dump``, a walk over every command) held
the loop 3 s at a million commands (``bench/snapshot_stall.py``; packing it took another
second, on a thread). ``start`` forks on the loop, between two records, as Redis's BGSAVE does: the
child is a copy-on-write image of the process at that instant; it dumps and packs the
state, streams the bytes through a pipe and leaves with ``os._exit``, while the loop goes
on at once. ``SnapshotThread`` reads the bytes, reaps the child and hands them to the
journal. The loop pays for the fork itself, copying the page tables: 15-17 ms for
the 490 MB of a million commands, 54 ms at 2 GB, on the 2-core VM. The machine pays, while
the child lives (4.5 s at a million commands), for the pages copied as either process
writes them: the child's reads write reference counts, so its own pages grow to about
the leader's heap plus the dumped state (780 MB at a million commands).

Guarantees:

* The child touches no lock, socket, ZooKeeper or ZeroMQ object: it resets the signals
  the agent handles, closes every descriptor but its pipe's (the child of a killed leader
  must hold neither its port nor its ZooKeeper connection), disables the garbage
  collector (a collection would write to, and so copy, every page of the heap), logs
  nothing and ends with ``os._exit`` whatever happens.
* A failed dump, a child that dies, or fewer bytes than the child announced is a
  ``SnapshotError`` on the thread, kept in ``SnapshotThread.failure`` for the loop to count:
  never a truncated snapshot written.
* Where ``os.fork`` is missing, the state is dumped and packed on the loop, as before.

Not here: when to snapshot (``durability.SnapshotSchedule``), where it goes and when the
pointer may move (``journal.JournalWriter.write_snapshot``).
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import signal
import struct
import threading
from collections.abc import Callable
from typing import NoReturn

from puli_mesh.coordinator.core import SchedulingCore
from puli_mesh.coordinator.journal import pack
from puli_mesh.errors import SnapshotError

log = logging.getLogger(__name__)

_HEADER = struct.Struct("!cQ")
"""What the child sends before its payload: ``OK`` or ``FAILED``, and the payload's length."""
_OK, _FAILED = b"K", b"E"
_CHUNK = 1 << 20


class PendingSnapshot:
    """A snapshot being taken: ``packed()`` waits for its bytes (on a thread, never the loop)."""

    __slots__ = ("_blob", "_fd", "_pid")

    def __init__(self, *, pid: int = 0, fd: int = -1, blob: bytes | None = None) -> None:
        self._pid, self._fd, self._blob = pid, fd, blob

    def packed(self) -> bytes:
        """The state, packed as the journal stores it; ``SnapshotError`` if the child failed.

        Called once: it reads the pipe to its end and reaps the child."""
        if self._blob is not None:
            return self._blob
        chunks: list[bytes] = []
        try:
            while chunk := os.read(self._fd, _CHUNK):
                chunks.append(chunk)
        finally:
            os.close(self._fd)
            status = self._reap()
        data = b"".join(chunks)
        del chunks
        if len(data) < _HEADER.size:
            raise SnapshotError(f"the snapshot process sent nothing ({status})")
        kind, length = _HEADER.unpack_from(data)
        payload = memoryview(data)[_HEADER.size:]
        if len(payload) != length:
            raise SnapshotError(f"the snapshot process sent {len(payload)} of {length} bytes ({status})")
        if kind != _OK:
            raise SnapshotError(f"the snapshot could not be taken: {bytes(payload).decode(errors='replace')}")
        return bytes(payload)

    def _reap(self) -> str:
        """Wait for the child; how it ended, with the memory it reached, for messages and the log."""
        try:
            _pid, status, usage = os.wait4(self._pid, 0)
        except ChildProcessError:  # reaped by someone else: the bytes alone tell if it succeeded
            return "exit status unknown"
        ended = f"exit code {os.waitstatus_to_exitcode(status)}"
        # ru_maxrss counts the pages still shared with the loop's process too.
        log.debug("snapshot process %d: %s, %.1fs CPU, peak resident %d MB", self._pid, ended,
                  usage.ru_utime + usage.ru_stime, usage.ru_maxrss // 1024)
        return ended


def start(core: SchedulingCore) -> PendingSnapshot:
    """Take a snapshot of ``core`` as it is now; call it on the loop, between two records."""
    if not hasattr(os, "fork"):
        return PendingSnapshot(blob=pack(core.snapshot()))
    read_fd, write_fd = os.pipe()
    try:
        pid = os.fork()
    except OSError:
        os.close(read_fd)
        os.close(write_fd)
        raise
    if pid == 0:
        _child(core, write_fd)
    os.close(write_fd)
    return PendingSnapshot(pid=pid, fd=read_fd)


def _child(core: SchedulingCore, fd: int) -> NoReturn:
    """The forked child: dump and pack ``core``, send it on ``fd``, leave. Never returns."""
    code = 1
    try:
        gc.disable()
        with contextlib.suppress(ValueError):  # only the main thread may; the loop's thread is
            signal.set_wakeup_fd(-1)
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, signal.SIG_DFL)
        os.closerange(3, fd)
        os.closerange(fd + 1, max(os.sysconf("SC_OPEN_MAX"), fd + 1))
        try:
            kind, payload = _OK, pack(core.snapshot())
        except Exception as exc:  # sent to the parent, which counts it and logs it
            kind, payload = _FAILED, f"{type(exc).__name__}: {exc}".encode()
        _write_all(fd, _HEADER.pack(kind, len(payload)))
        _write_all(fd, payload)
        code = 0
    finally:
        os._exit(code)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


class SnapshotThread(threading.Thread):
    """Waits for a snapshot's bytes and hands them to ``write`` (which stores them).

    ``failure`` is the ``SnapshotError`` of a snapshot that could not be taken, for the loop
    to count once the thread has ended."""

    def __init__(self, pending: PendingSnapshot, write: Callable[[bytes], None]) -> None:
        super().__init__(name="snapshot", daemon=True)
        self.pending = pending
        self.write = write
        self.failure: SnapshotError | None = None

    def run(self) -> None:
        try:
            blob = self.pending.packed()
        except SnapshotError as exc:
            self.failure = exc
            return
        self.write(blob)
