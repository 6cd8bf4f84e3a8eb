"""RAM over-use: a running command's resident memory against what its task booked (``ramUse``).

A task's ``ramUse`` (MB) is what the leader books on a node for each of its commands; a command
that uses more than that eats what the leader thinks is free and may make the node swap. The
executions sample the resident memory of the command's whole process tree (the sum of its
processes' RSS, ``process_tree.ProcessTree.resident_mb``) at most every ``LOOK_EVERY_S`` and
tell :class:`RamWatch` what they saw; it says what to do: report it (once per attempt: the
command's message says "used 5.2 GB, booked 4 GB"), and, when the task asks for it
(``killOnRamOveruse``), kill it (the command ends ERROR with that message, an attempt spent).
The peak of an over-using command goes into its stats (``PEAK_RSS_STAT``).

Guarantees: pure (no clock, no I/O: the executions pass ``now`` and the reading); a command
whose task booked no RAM (``ramUse`` 0) gets no watch at all, so it pays nothing
(:func:`ram_watch_for`). Not here: reading memory (``process_tree``), killing (the executions).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

LOOK_EVERY_S = 2.0
"""The longest wait between two readings of a command's memory: reading every process's RSS is
a few /proc reads per process, not worth doing each loop turn; an over-use lasts longer."""
PEAK_RSS_STAT = "peak_rss_mb"
"""The key of a command's stats holding the most resident memory (MB) seen for it."""


class RamVerdict(enum.Enum):
    """What one reading of a command's memory calls for."""

    NOTHING = "nothing"
    REPORT = "report"  # first over-use of this attempt: say so in its message
    KILL = "kill"  # over its booking and its task asks for the kill


def size_text(mb: float) -> str:
    """``mb`` as people read it: ``5.2 GB`` from 1024 MB up, else ``300 MB``."""
    return f"{round(mb / 1024, 1):g} GB" if mb >= 1024 else f"{mb:.0f} MB"


def overuse_message(peak_mb: float, booked_mb: int) -> str:
    """What a command using more RAM than it booked says (its message; its ERROR's when killed)."""
    return f"used {size_text(peak_mb)}, booked {size_text(booked_mb)} (ramUse)"


@dataclass(slots=True)
class RamWatch:
    """The memory of one running command against its booking."""

    booked_mb: int
    """The task's ``ramUse`` (> 0)."""
    kill: bool = False
    """Whether an over-use ends the command (``killOnRamOveruse``)."""
    peak_mb: float = 0.0
    """The most resident memory seen so far (MB)."""
    reported: bool = False
    """Whether this attempt's over-use was reported already (reported once)."""
    next_look: float = 0.0
    """When the memory is worth reading again (:meth:`look_due`)."""

    def started(self, now: float) -> None:
        """The command started at ``now``: first look one interval later (a frame shorter than
        that is never read: most frames are, and reading a tree costs more than running them)."""
        self.next_look = now + LOOK_EVERY_S

    def look_due(self, now: float) -> bool:
        """Whether to read the command's memory now (at most every ``LOOK_EVERY_S``)."""
        return now >= self.next_look

    def saw(self, resident_mb: float, now: float) -> RamVerdict:
        """The command's tree holds ``resident_mb`` at ``now``: what that calls for."""
        self.next_look = now + LOOK_EVERY_S
        if resident_mb > self.peak_mb:
            self.peak_mb = resident_mb
        if resident_mb <= self.booked_mb:
            return RamVerdict.NOTHING
        if self.kill:
            self.reported = True
            return RamVerdict.KILL
        if self.reported:
            return RamVerdict.NOTHING
        self.reported = True
        return RamVerdict.REPORT

    @property
    def message(self) -> str:
        """The over-use as the command's message says it (its peak against its booking)."""
        return overuse_message(self.peak_mb, self.booked_mb)

    def end_message(self, message: str) -> str:
        """A command's final ``message`` with its over-use said after it, when it was reported
        (the progress message saying so is replaced by the final one); a kill's says it already."""
        if not self.reported or self.kill:
            return message
        return f"{message}; {self.message}" if message else self.message


def ram_watch_for(ram_mb: int, kill: bool | None) -> RamWatch | None:
    """The watch of a command that booked ``ram_mb`` (its task's ``ramUse``), or None when it
    booked none: such a command is never looked at."""
    return RamWatch(ram_mb, bool(kill)) if ram_mb > 0 else None
