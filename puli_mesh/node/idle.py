"""Hung frames: the idle clock of one running command, and which limit it runs against.

A command is idle while it writes nothing (stdout and stderr, both appended to its log) and
reports no progress (a runner's completion, message or stats; a shell frame ending). A task's
``idleTimeout`` (seconds) ends it as TIMEOUT once it has been idle that long; an agent's
``idle_timeout`` setting is the farm's default for tasks that give none.

Which value wins (:func:`idle_limit`): the task's when it gives one (``0`` turns the clock off for
that task, whatever the farm's default), else the agent's (``0``: off).

Guarantees: pure (no clock, no I/O: the executions pass ``now`` and the log's size), O(1) per
look; an execution with no limit has no clock at all, so it pays nothing.
Not here: reading the log's size or killing anything (``execution``, ``shell_execution``).
"""

from __future__ import annotations

from dataclasses import dataclass

LOOK_EVERY_S = 1.0
"""The longest wait between two looks at a command's log size (shorter for a limit under 4 s)."""


def idle_limit(task_value: float | None, default: float) -> float | None:
    """The idle limit in seconds a command runs against, or None for none: the task's
    ``idleTimeout`` when it gives one (0: off), else the agent's ``default`` (0: off)."""
    value = default if task_value is None else task_value
    return float(value) if value > 0 else None


def idle_message(limit: float) -> str:
    """What a command ended for being idle says (its TIMEOUT message)."""
    return f"no output nor progress for {limit:g} s (idleTimeout): killed as hung"


@dataclass(slots=True)
class IdleClock:
    """When a command last showed life: output (its log grew) or progress."""

    limit: float
    """Seconds of idleness that end the command."""
    last_activity: float
    """The monotonic time of the last output or progress seen (the start, at first)."""
    output_size: int = -1
    """The log's size when last looked at (-1: not looked at yet)."""
    next_look: float = 0.0
    """When the log's size is worth looking at again (:meth:`look_due`)."""

    def look_due(self, now: float) -> bool:
        """Whether to look at the log's size now: a few times per limit, at most once a second
        (a stat per loop turn and command would be waste; the kill comes that much late at most)."""
        return now >= self.next_look

    def saw_output(self, size: int, now: float) -> None:
        """The log is ``size`` bytes at ``now``: if it changed, the command wrote something."""
        if size != self.output_size:
            if self.output_size >= 0:  # the first look only takes the header's size
                self.last_activity = now
            self.output_size = size
        self.next_look = now + min(LOOK_EVERY_S, self.limit / 4)

    def saw_progress(self, now: float) -> None:
        """The command reported progress at ``now``."""
        self.last_activity = now

    def expired(self, now: float) -> bool:
        """Whether the command has been idle for its whole limit at ``now``."""
        return now - self.last_activity >= self.limit
